//! Turns a message from a bus (a JetStream or Kafka message) into an event: logcatch's own
//! event JSON (what the `nats` and `kafka` sinks publish) is restored as it was, with its
//! message, time, source, offset and attributes; any other payload becomes the message of an
//! event whose source names where it came from (the subject, the topic).

use std::borrow::Cow;
use std::time::{Instant, SystemTime};

use logcatch_core::batch::{AttrValue, BatchBuilder};
use logcatch_core::metrics::Counters;
use serde::Deserialize;

/// The event JSON of the `file` sink's `format: json` and of the `nats` sink.
/// Strings borrow from the payload unless they hold escapes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventJson<'a> {
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    offset: u64,
    attributes: serde_json::Map<String, serde_json::Value>,
}

/// Adds the event held by `payload` to `b`; true if it was logcatch's event JSON, restored.
/// `origin` and `position` (a subject and stream sequence, a topic and offset) name a
/// payload that is not; `now_ns` is its time.
pub fn push(
    b: &mut BatchBuilder,
    payload: &[u8],
    origin: &str,
    position: u64,
    now_ns: u64,
    counters: &Counters,
) -> bool {
    if payload.starts_with(b"{\"message\":")
        && let Ok(e) = serde_json::from_slice::<EventJson>(payload)
    {
        let ts = humantime::parse_rfc3339(&e.timestamp)
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(now_ns, |d| d.as_nanos() as u64);
        let src = b.source(&e.source);
        b.push(&e.message, src, e.offset, ts);
        for (key, value) in &e.attributes {
            let text;
            let value = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::Bool(v) => AttrValue::Bool(*v),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => AttrValue::Int(i),
                    None => AttrValue::Float(n.as_f64().unwrap_or(f64::NAN)),
                },
                serde_json::Value::String(s) => AttrValue::Text(s),
                other => {
                    text = other.to_string();
                    AttrValue::Text(&text)
                }
            };
            b.attr(key, value);
        }
        return true;
    }
    let message = String::from_utf8_lossy(payload);
    if let std::borrow::Cow::Owned(_) = message {
        Counters::add(&counters.invalid_utf8, 1);
    }
    let message = message.strip_suffix('\n').unwrap_or(&message);
    let src = b.source(origin);
    b.push(message, src, position, now_ns);
    false
}

/// Sleeps until `deadline` (a batch's linger); pending forever without one.
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Now, in nanoseconds since the Unix epoch: the time of a payload that carries none.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcatch_core::ack::Ack;
    use logcatch_core::encode::{Format, encode};

    #[test]
    fn logcatch_json_round_trips_and_other_payloads_are_messages() {
        let mut b = BatchBuilder::with_capacity(2, 64);
        let src = b.source("/var/log/a.log");
        b.push("hello \"world\"", src, 42, 1_700_000_000_123_456_000);
        b.attr("level", AttrValue::Text("warn"));
        b.attr("status", AttrValue::Int(503));
        b.attr("ratio", AttrValue::Float(0.5));
        b.attr("ok", AttrValue::Bool(true));
        let original = b.finish(Ack::none());
        let mut json = Vec::new();
        encode(&original, Format::Json, &mut json);

        let counters = Counters::default();
        let mut b = BatchBuilder::with_capacity(3, 64);
        push(&mut b, &json, "logs.x", 7, 99, &counters);
        push(&mut b, b"plain line\n", "logs.plain", 8, 99, &counters);
        push(
            &mut b,
            b"{\"message\":\"x\",\"other\":1}",
            "logs.j",
            9,
            99,
            &counters,
        );
        push(&mut b, b"bad \xff", "logs.bin", 10, 99, &counters);
        let batch = b.finish(Ack::none());

        let e = batch.get(0);
        assert_eq!(e.message(), "hello \"world\"");
        assert_eq!(e.source(), "/var/log/a.log");
        assert_eq!(e.offset(), 42);
        assert_eq!(e.timestamp_ns(), 1_700_000_000_123_456_000);
        assert_eq!(e.attr("level"), Some(AttrValue::Text("warn")));
        assert_eq!(e.attr("status"), Some(AttrValue::Int(503)));
        assert_eq!(e.attr("ratio"), Some(AttrValue::Float(0.5)));
        assert_eq!(e.attr("ok"), Some(AttrValue::Bool(true)));

        let p = batch.get(1);
        assert_eq!(
            (p.message(), p.source(), p.offset(), p.timestamp_ns()),
            ("plain line", "logs.plain", 8, 99)
        );
        assert_eq!(batch.get(2).message(), "{\"message\":\"x\",\"other\":1}");
        assert_eq!(batch.get(3).message(), "bad \u{fffd}");
        assert_eq!(counters.snapshot().invalid_utf8, 1);
    }
}
