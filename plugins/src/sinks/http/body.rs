//! Request bodies: a batch encoded once as JSON lines (the `file` sink's `format: json`),
//! cut into requests of at most `max_body_bytes`, laid out as NDJSON, a JSON array or an
//! Elasticsearch `_bulk` body, and optionally gzipped.

use std::io::Write;
use std::ops::Range;

use logcatch_core::batch::Batch;

use super::config::{BodyFormat, Compression};
use crate::sinks::event_id::push_event_id;
use crate::sinks::template::Template;
use logcatch_core::encode::{Format, encode, event_json};
use logcatch_core::timestamp;

/// Every event's `_bulk` action line, as `layout` says, and where each ends. The index name
/// is rendered once per day (or hour) when it depends only on the event's time.
fn action_lines(batch: &Batch, pipeline: &str, layout: &BulkLayout) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::with_capacity(batch.len() * 80);
    let mut ends = Vec::with_capacity(batch.len());
    let op: &[u8] = if layout.index_op {
        b"{\"index\":{"
    } else {
        b"{\"create\":{"
    };
    // The last index name and the time span it holds for, when it depends only on time.
    let span = layout
        .index
        .as_ref()
        .filter(|t| !t.per_event())
        .map(|t| t.time_span_ns().unwrap_or(u64::MAX));
    let mut cached: Option<u64> = None;
    let mut name = String::new();
    for event in batch.iter() {
        out.extend_from_slice(op);
        if let Some(template) = &layout.index {
            let key = span.map(|span| event.timestamp_ns() / span);
            if key.is_none() || key != cached {
                name.clear();
                template.render_into(&mut name, pipeline, &event, index_value);
                cached = key;
            }
            out.extend_from_slice(b"\"_index\":\"");
            out.extend_from_slice(name.as_bytes());
            out.push(b'"');
        }
        if layout.ids {
            if layout.index.is_some() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"_id\":\"");
            push_event_id(&event, &mut out);
            out.push(b'"');
        }
        out.extend_from_slice(b"}}\n");
        ends.push(out.len());
    }
    (out, ends)
}

/// Appends an event's value to an index name: lowercased, and every character an index
/// name may not hold (`\\ / * ? " < > | , #`, `:`, whitespace, control characters) as `_`,
/// so a value can never break the name or the JSON around it.
pub fn index_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':' => out.push('_'),
            c if c.is_whitespace() || c.is_control() => out.push('_'),
            c => out.extend(c.to_lowercase()),
        }
    }
}

/// How each document of a `_bulk` body is named and what it carries: the `http` sink's
/// `format: es_bulk` (a bare `create`, an `_id` with `generate_id`) or the `elasticsearch`
/// sink's (an `_index` per event, `index` or `create`, `@timestamp`).
#[derive(Debug, Clone, Default)]
pub struct BulkLayout {
    /// `index` instead of `create` (which data streams need, and which answers 409 for a
    /// document already there).
    pub index_op: bool,
    /// Each document's `_index`, rendered from the event (already checked to render only
    /// valid index names).
    pub index: Option<Template>,
    /// Each document's `_id` is the event's stable id.
    pub ids: bool,
    /// Each document carries `@timestamp` (the event's timestamp).
    pub timestamp_field: bool,
}

/// One batch as JSON, one line per event.
#[derive(Debug, Default)]
pub struct Encoded {
    /// The events, each a JSON object ending in `\n` (JSON escapes newlines in strings).
    lines: Vec<u8>,
    /// Where each event's line ends (after its `\n`).
    ends: Vec<usize>,
    /// For `_bulk`: every event's action line (ending in `\n`), in order.
    actions: Vec<u8>,
    /// Where each event's action line ends.
    action_ends: Vec<usize>,
}

impl Encoded {
    /// Encodes every event of `batch` (of pipeline `pipeline`), and its `_bulk` action line
    /// as `layout` says when `bulk`.
    pub fn new(batch: &Batch, pipeline: &str, bulk: Option<&BulkLayout>) -> Self {
        let mut lines = Vec::with_capacity(batch.message_bytes() as usize + 128 * batch.len());
        match bulk {
            Some(layout) if layout.timestamp_field => {
                let mut stamp = Vec::with_capacity(timestamp::LEN);
                for event in batch.iter() {
                    stamp.clear();
                    timestamp::push_rfc3339_micros(&mut stamp, event.timestamp_ns());
                    let stamp = std::str::from_utf8(&stamp).expect("RFC 3339 is ASCII");
                    event_json(&mut lines, &event, &[("@timestamp", stamp)]);
                    lines.push(b'\n');
                }
            }
            _ => encode(batch, Format::Json, &mut lines),
        }
        let ends = memchr::memchr_iter(b'\n', &lines).map(|i| i + 1).collect();
        let (actions, action_ends) = match bulk {
            Some(layout) => action_lines(batch, pipeline, layout),
            None => (Vec::new(), Vec::new()),
        };
        Encoded {
            lines,
            ends,
            actions,
            action_ends,
        }
    }

    /// Event `i`'s `_bulk` action line.
    fn action(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.action_ends[i - 1] };
        &self.actions[start..self.action_ends[i]]
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Event `i`'s JSON, without its newline.
    fn line(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.lines[start..self.ends[i] - 1]
    }

    /// Cuts the events into consecutive ranges whose bodies in `format` fit in `max` bytes
    /// (an event too big alone gets a range of its own).
    pub fn chunks(&self, format: BodyFormat, max: usize) -> Vec<Range<usize>> {
        let (fixed, per_event) = match format {
            BodyFormat::Ndjson => (0, 1),
            BodyFormat::EsBulk => (0, 1),
            BodyFormat::JsonArray => (1, 1), // `[` once, then `,` or `]` after each
        };
        let mut chunks = Vec::new();
        let (mut start, mut size) = (0, fixed);
        for i in 0..self.len() {
            let action = if format == BodyFormat::EsBulk {
                self.action(i).len()
            } else {
                0
            };
            let cost = self.line(i).len() + per_event + action;
            if i > start && size + cost > max {
                chunks.push(start..i);
                (start, size) = (i, fixed);
            }
            size += cost;
        }
        if start < self.len() {
            chunks.push(start..self.len());
        }
        chunks
    }

    /// Writes the body of `events` (indices, in order) in `format` to `out` (cleared first):
    /// a whole chunk, or the items of a `_bulk` request that are sent again.
    pub fn body(
        &self,
        events: impl IntoIterator<Item = usize>,
        format: BodyFormat,
        out: &mut Vec<u8>,
    ) {
        out.clear();
        match format {
            BodyFormat::Ndjson => {
                for i in events {
                    out.extend_from_slice(self.line(i));
                    out.push(b'\n');
                }
            }
            BodyFormat::EsBulk => {
                for i in events {
                    out.extend_from_slice(self.action(i));
                    out.extend_from_slice(self.line(i));
                    out.push(b'\n');
                }
            }
            BodyFormat::JsonArray => {
                out.push(b'[');
                for (n, i) in events.into_iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(self.line(i));
                }
                out.push(b']');
            }
        }
    }
}

/// `body` as it goes on the wire: as is, or gzipped (level 1: logs compress well even so, and
/// it keeps the CPU spent on the I/O threads small).
pub fn compress(body: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => body.to_vec(),
        Compression::Gzip => {
            let out = Vec::with_capacity(body.len() / 4 + 64);
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            gz.write_all(body).expect("writing to a Vec cannot fail");
            gz.finish().expect("writing to a Vec cannot fail")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::event_id::event_id;
    use logcatch_core::ack::Ack;
    use logcatch_core::batch::BatchBuilder;
    use std::io::Read;

    fn batch(n: usize) -> Batch {
        let mut b = BatchBuilder::with_capacity(n, 16 * n);
        let src = b.source("/var/log/app.log");
        for i in 0..n {
            b.push(&format!("line\n{i}"), src, i as u64 * 10, 0);
        }
        b.finish(Ack::none())
    }

    fn enc(n: usize, ids: bool) -> Encoded {
        let layout = BulkLayout {
            ids,
            ..BulkLayout::default()
        };
        Encoded::new(&batch(n), "p", Some(&layout))
    }

    fn messages(v: &serde_json::Value) -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn every_format_carries_every_event_once() {
        let e = enc(3, false);
        assert_eq!(e.len(), 3);
        let want = vec!["line\n0", "line\n1", "line\n2"];
        let mut out = Vec::new();

        e.body(0..3, BodyFormat::JsonArray, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(messages(&v), want);

        e.body(1..3, BodyFormat::Ndjson, &mut out);
        let lines: Vec<serde_json::Value> = out
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(messages(&serde_json::Value::Array(lines)), &want[1..]);
        assert_eq!(out.last(), Some(&b'\n'));

        e.body(0..2, BodyFormat::EsBulk, &mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "{\"create\":{}}");
        assert_eq!(lines[2], "{\"create\":{}}");
        let doc: serde_json::Value = serde_json::from_str(lines[3]).unwrap();
        assert_eq!(doc["message"], "line\n1");
        assert_eq!(doc["offset"], 10);
    }

    #[test]
    fn a_body_can_hold_any_events_of_the_batch() {
        // The failed items of a `_bulk` answer are sent again on their own.
        let e = enc(5, false);
        let mut out = Vec::new();
        e.body([1, 4], BodyFormat::EsBulk, &mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        let docs: Vec<serde_json::Value> = text
            .lines()
            .skip(1)
            .step_by(2)
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            messages(&serde_json::Value::Array(docs)),
            ["line\n1", "line\n4"]
        );
        assert_eq!(text.matches("{\"create\":{}}\n").count(), 2);
        e.body([0, 3], BodyFormat::Ndjson, &mut out);
        assert_eq!(out.iter().filter(|&&c| c == b'\n').count(), 2);
    }

    #[test]
    fn generated_ids_are_the_events_own_and_stable() {
        let e = enc(3, true);
        let mut out = Vec::new();
        e.body([0, 2], BodyFormat::EsBulk, &mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let b = batch(3);
        let events: Vec<_> = b.iter().collect();
        for (line, i) in [(lines[0], 0), (lines[2], 2)] {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(action["create"]["_id"], event_id(&events[i]), "{line}");
        }
        assert_ne!(lines[0], lines[2]);
        let mut again = Vec::new();
        enc(3, true).body([0, 2], BodyFormat::EsBulk, &mut again);
        assert_eq!(again, out, "the same events, the same ids");
    }

    #[test]
    fn elasticsearch_actions_name_each_events_own_daily_index() {
        let mut b = BatchBuilder::with_capacity(3, 64);
        let src = b.source("/var/log/a.log");
        b.push("a", src, 0, 1_700_000_000_000_000_000); // 2023-11-14
        b.attr("team", logcatch_core::batch::AttrValue::Text("Web Ops/EU"));
        b.push("b", src, 1, 1_700_000_000_000_000_000 + 86_400_000_000_000);
        b.push("c", src, 2, 1_700_000_000_000_000_000 + 86_400_000_000_000);
        let batch = b.finish(Ack::none());
        let layout = BulkLayout {
            index_op: false,
            index: Some(
                Template::parse_dated("logs-{pipeline}-{attributes.team}-%Y.%m.%d").unwrap(),
            ),
            ids: true,
            timestamp_field: true,
        };
        let e = Encoded::new(&batch, "App", Some(&layout));
        let mut out = Vec::new();
        e.body(0..3, BodyFormat::EsBulk, &mut out);
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let events: Vec<_> = batch.iter().collect();
        assert_eq!(
            lines[0]["create"]["_index"],
            "logs-app-web_ops_eu-2023.11.14"
        );
        assert_eq!(lines[0]["create"]["_id"], event_id(&events[0]));
        assert_eq!(lines[2]["create"]["_index"], "logs-app--2023.11.15");
        assert_eq!(lines[4]["create"]["_index"], "logs-app--2023.11.15");
        assert_eq!(lines[1]["@timestamp"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(lines[1]["@timestamp"], lines[1]["timestamp"]);
        assert_eq!(lines[3]["message"], "b");
        // Time alone names the index: rendered once per day, still right across days.
        let daily = BulkLayout {
            index_op: true,
            index: Some(Template::parse_dated("x-%Y.%m.%d").unwrap()),
            ids: false,
            timestamp_field: false,
        };
        let mut out = Vec::new();
        Encoded::new(&batch, "p", Some(&daily)).body(0..3, BodyFormat::EsBulk, &mut out);
        let text = String::from_utf8(out).unwrap();
        let actions: Vec<&str> = text.lines().step_by(2).collect();
        assert_eq!(
            actions,
            [
                r#"{"index":{"_index":"x-2023.11.14"}}"#,
                r#"{"index":{"_index":"x-2023.11.15"}}"#,
                r#"{"index":{"_index":"x-2023.11.15"}}"#
            ]
        );
        assert!(!text.contains("@timestamp"));
    }

    #[test]
    fn chunks_fit_the_limit_and_cover_every_event_in_order() {
        for e in [enc(50, false), enc(50, true)] {
            chunks_fit(&e);
        }
    }

    fn chunks_fit(e: &Encoded) {
        for format in [
            BodyFormat::Ndjson,
            BodyFormat::JsonArray,
            BodyFormat::EsBulk,
        ] {
            let max = 400;
            let chunks = e.chunks(format, max);
            assert!(chunks.len() > 1, "{format:?}: {chunks:?}");
            let mut next = 0;
            let mut out = Vec::new();
            for c in &chunks {
                assert_eq!(c.start, next);
                assert!(!c.is_empty());
                next = c.end;
                e.body(c.clone(), format, &mut out);
                assert!(out.len() <= max, "{format:?} {c:?}: {} bytes", out.len());
            }
            assert_eq!(next, 50);
            assert_eq!(e.chunks(format, usize::MAX), vec![0..50]);
        }
    }

    #[test]
    fn an_event_bigger_than_the_limit_goes_alone() {
        let e = enc(50, false);
        assert_eq!(e.chunks(BodyFormat::Ndjson, 1).len(), 50);
        assert!(
            Encoded::new(&Batch::default(), "p", None)
                .chunks(BodyFormat::Ndjson, 10)
                .is_empty()
        );
    }

    #[test]
    fn gzip_round_trips() {
        let body = b"{\"message\":\"x\"}\n".repeat(100);
        let gz = compress(&body, Compression::Gzip);
        assert!(gz.len() < body.len());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, body);
        assert_eq!(compress(&body, Compression::None), body);
    }
}
