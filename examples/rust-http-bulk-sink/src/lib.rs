//! A logcatch sink that posts each batch to an Elasticsearch / OpenSearch `_bulk` endpoint:
//! NDJSON, an action line `{"create":{}}` then the event's document, per event. A 2xx
//! answer acknowledges the batch; anything else is an error, so logcatch keeps the batch
//! and retries it with backoff.

use std::collections::BTreeMap;

use logcatch_plugin::{AttrValue, Batch, Event, Level, Sink};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The sink's `config:` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The `_bulk` endpoint, e.g. `http://127.0.0.1:9200/logs/_bulk`.
    url: String,
    /// Extra request headers, e.g. `authorization`.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Largest request body; a bigger batch is sent in several requests.
    #[serde(default = "default_max_request_bytes")]
    max_request_bytes: usize,
}

fn default_max_request_bytes() -> usize {
    5 << 20
}

/// The action line before each document.
const ACTION: &[u8] = b"{\"create\":{}}\n";

/// Posts batches to a `_bulk` endpoint.
#[derive(Debug)]
pub struct BulkSink {
    url: String,
    headers: Vec<(String, String)>,
    max_request_bytes: usize,
}

impl Sink for BulkSink {
    fn init(config: &str) -> Result<Self, String> {
        let c: Config = logcatch_plugin::config(config)?;
        logcatch_plugin::http::parse_url(&c.url).map_err(|e| format!("url: {e}"))?;
        if c.max_request_bytes < 1024 {
            return Err("max_request_bytes: at least 1024".into());
        }
        let mut headers: Vec<(String, String)> = c.headers.into_iter().collect();
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("content-type".into(), "application/x-ndjson".into()));
        }
        logcatch_plugin::log(Level::Info, &format!("posting batches to {}", c.url));
        Ok(BulkSink {
            url: c.url,
            headers,
            max_request_bytes: c.max_request_bytes,
        })
    }

    fn write(&mut self, batch: &Batch) -> Result<(), String> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for body in bulk_bodies(batch, self.max_request_bytes) {
            let response = logcatch_plugin::http::post(&self.url, &headers, &body)?;
            if !response.is_success() {
                let text = response.text();
                let snippet: String = text.chars().take(200).collect();
                return Err(format!(
                    "{} answered {}: {snippet}",
                    self.url, response.status
                ));
            }
        }
        Ok(())
    }
}

/// The request bodies for `batch`: every event as an action line and its document, cut
/// before a body would pass `max_bytes` (a single larger event gets a body of its own).
pub fn bulk_bodies(batch: &Batch, max_bytes: usize) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    let mut body = Vec::new();
    let mut doc = Vec::new();
    for event in batch {
        doc.clear();
        doc.extend_from_slice(ACTION);
        serde_json::to_writer(&mut doc, &document(&event)).expect("a JSON value serializes");
        doc.push(b'\n');
        if !body.is_empty() && body.len() + doc.len() > max_bytes {
            bodies.push(std::mem::take(&mut body));
        }
        body.extend_from_slice(&doc);
    }
    if !body.is_empty() {
        bodies.push(body);
    }
    bodies
}

/// An event's document: `@timestamp` (ingest time, RFC 3339 in milliseconds), `message`,
/// `source`, `offset`, then its attributes (a key clashing with those four is left out).
pub fn document(event: &Event<'_>) -> Value {
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), rfc3339_ms(event.timestamp_ns()).into());
    doc.insert("message".into(), event.message().into());
    doc.insert("source".into(), event.source().into());
    doc.insert("offset".into(), event.offset().into());
    for (key, value) in event.attrs() {
        if doc.contains_key(key) {
            continue;
        }
        let value = match value {
            AttrValue::Text(t) => t.into(),
            AttrValue::Int(i) => i.into(),
            AttrValue::Float(f) => {
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
            AttrValue::Bool(b) => b.into(),
        };
        doc.insert(key.into(), value);
    }
    Value::Object(doc)
}

/// Nanoseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_ms(ns: u64) -> String {
    let ms = ns / 1_000_000;
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms_of_day % 1000
    )
}

logcatch_plugin::export_sink!(BulkSink);

#[cfg(test)]
mod tests {
    use super::*;
    use logcatch_plugin::BatchBuilder;

    #[test]
    fn timestamps_are_rfc3339_in_milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_ms(951_782_400_123_456_789),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            rfc3339_ms(1_795_000_000_999_000_000),
            "2026-11-18T11:06:40.999Z"
        );
    }

    #[test]
    fn each_event_is_an_action_line_and_its_document() {
        let mut b = BatchBuilder::new();
        b.push("GET / \"quoted\"", "/var/log/a.log", 10, 0);
        b.attr("status", 200i64)
            .attr("slow", false)
            .attr("message", "clash");
        b.push("second", "/var/log/a.log", 40, 1_000_000);
        let batch = b.build();
        let bodies = bulk_bodies(&batch, 1 << 20);
        assert_eq!(bodies.len(), 1);
        let text = String::from_utf8(bodies[0].clone()).unwrap();
        assert_eq!(
            text,
            "{\"create\":{}}\n\
             {\"@timestamp\":\"1970-01-01T00:00:00.000Z\",\"message\":\"GET / \\\"quoted\\\"\",\"source\":\"/var/log/a.log\",\"offset\":10,\"status\":200,\"slow\":false}\n\
             {\"create\":{}}\n\
             {\"@timestamp\":\"1970-01-01T00:00:00.001Z\",\"message\":\"second\",\"source\":\"/var/log/a.log\",\"offset\":40}\n"
        );
    }

    #[test]
    fn big_batches_are_cut_into_several_requests() {
        let batch = Batch::from_messages((0..100).map(|i| format!("line {i:03}")));
        let bodies = bulk_bodies(&batch, 1024);
        assert!(bodies.len() > 1);
        assert!(bodies.iter().all(|b| b.len() <= 1024 && b.ends_with(b"\n")));
        let lines: usize = bodies
            .iter()
            .map(|b| b.split(|&c| c == b'\n').count() - 1)
            .sum();
        assert_eq!(lines, 200);
    }

    #[test]
    fn config_is_checked() {
        assert!(BulkSink::init("{}").unwrap_err().contains("url"));
        assert!(
            BulkSink::init(r#"{"url": "es:9200/_bulk"}"#)
                .unwrap_err()
                .contains("url")
        );
        let s = BulkSink::init(
            r#"{"url": "http://127.0.0.1:9/_bulk", "headers": {"authorization": "ApiKey x"}}"#,
        )
        .unwrap();
        assert!(
            s.headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == "application/x-ndjson")
        );
        assert!(s.headers.iter().any(|(k, _)| k == "authorization"));
    }
}
