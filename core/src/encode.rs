//! The one event encoder: a batch as bytes for line-oriented sinks, `text` (the message) or
//! `json` (one object per line), and the same JSON object for a dead letter with its
//! reason. Writes into a reused buffer: no allocation per event.

use std::io::Write;

use serde::Deserialize;

use crate::batch::{AttrValue, Batch, EventRef};
use crate::timestamp;

/// How a sink writes events.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The message, one per line.
    #[default]
    Text,
    /// `{"message","timestamp","source","offset","attributes"}`, one object per line.
    Json,
}

/// Bytes a line-oriented sink encodes before it writes them out: its buffer stays this
/// size (plus one line), whatever a batch holds.
pub const CHUNK: usize = 256 << 10;

/// Appends every event of `batch` to `out` in `format`, one line each.
pub fn encode(batch: &Batch, format: Format, out: &mut Vec<u8>) {
    encode_from(batch, 0, format, out, usize::MAX);
}

/// Appends the events of `batch` from index `start` to `out` in `format`, one line each,
/// stopping after the line that takes `out` to `limit` bytes or more. Returns the index of
/// the first event not encoded (`batch.len()` when done): a sink writes a batch in chunks.
pub fn encode_from(
    batch: &Batch,
    start: usize,
    format: Format,
    out: &mut Vec<u8>,
    limit: usize,
) -> usize {
    let mut next = start;
    let events = batch.iter().skip(start);
    match format {
        Format::Text => {
            for e in events {
                out.extend_from_slice(e.message().as_bytes());
                out.push(b'\n');
                next += 1;
                if out.len() >= limit {
                    break;
                }
            }
        }
        Format::Json => {
            for e in events {
                event_json(out, &e, &[]);
                out.push(b'\n');
                next += 1;
                if out.len() >= limit {
                    break;
                }
            }
        }
    }
    next
}

/// Appends one event as a JSON object (`message` first, so a reader can tell it from any
/// other JSON), followed by the string fields `extra` (a dead letter's pipeline, plugin and
/// reason).
pub fn event_json(out: &mut Vec<u8>, e: &EventRef<'_>, extra: &[(&str, &str)]) {
    out.extend_from_slice(b"{\"message\":");
    json_str(out, e.message());
    out.extend_from_slice(b",\"timestamp\":\"");
    timestamp::push_rfc3339_micros(out, e.timestamp_ns());
    out.extend_from_slice(b"\",\"source\":");
    json_str(out, e.source());
    out.extend_from_slice(b",\"offset\":");
    out.extend_from_slice(itoa::Buffer::new().format(e.offset()).as_bytes());
    out.extend_from_slice(b",\"attributes\":{");
    for (i, (k, v)) in e.attrs().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, k);
        out.push(b':');
        match v {
            AttrValue::Text(s) => json_str(out, s),
            AttrValue::Int(i) => write_display(out, i),
            AttrValue::Float(f) if f.is_finite() => write_display(out, f),
            AttrValue::Float(_) => out.extend_from_slice(b"null"),
            AttrValue::Bool(b) => write_display(out, b),
        }
    }
    out.push(b'}');
    for (k, v) in extra {
        out.push(b',');
        json_str(out, k);
        out.push(b':');
        json_str(out, v);
    }
    out.push(b'}');
}

fn write_display(out: &mut Vec<u8>, v: impl std::fmt::Display) {
    write!(out, "{v}").expect("writing to a Vec cannot fail");
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::Ack;
    use crate::batch::BatchBuilder;

    #[test]
    fn json_lines_parse_back() {
        let mut b = BatchBuilder::with_capacity(2, 64);
        let src = b.source("/var/log/a \"b\".log");
        b.push("say \"hi\"\tnow", src, 42, 1_700_000_000_123_456_000);
        b.attr("status", AttrValue::Int(200));
        b.attr("level", AttrValue::Text("info"));
        b.attr("ok", AttrValue::Bool(false));
        b.push("plain", src, 60, 0);
        let batch = b.finish(Ack::none());
        let mut out = Vec::new();
        encode(&batch, Format::Json, &mut out);
        let lines: Vec<serde_json::Value> = out
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0]["message"], "say \"hi\"\tnow");
        assert_eq!(lines[0]["timestamp"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(lines[0]["source"], "/var/log/a \"b\".log");
        assert_eq!(lines[0]["offset"], 42);
        assert_eq!(
            lines[0]["attributes"],
            serde_json::json!({"status": 200, "level": "info", "ok": false})
        );
        assert_eq!(lines[1]["attributes"], serde_json::json!({}));

        let mut dead = Vec::new();
        event_json(&mut dead, &batch.get(0), &[("reason", "it \"trapped\"")]);
        let dead: serde_json::Value = serde_json::from_slice(&dead).unwrap();
        assert_eq!(dead["reason"], "it \"trapped\"");
        assert_eq!(dead["message"], lines[0]["message"]);
        assert_eq!(dead["attributes"], lines[0]["attributes"]);

        let mut text = Vec::new();
        encode(&batch, Format::Text, &mut text);
        assert_eq!(text, b"say \"hi\"\tnow\nplain\n");
    }

    #[test]
    fn chunks_stop_after_the_line_that_reaches_the_limit() {
        let mut b = BatchBuilder::with_capacity(5, 64);
        let src = b.source("s");
        for m in ["aaaa", "bb", "cccccc", "d", "e"] {
            b.push(m, src, 0, 0);
        }
        let batch = b.finish(Ack::none());
        for format in [Format::Text, Format::Json] {
            let mut whole = Vec::new();
            encode(&batch, format, &mut whole);
            let (mut joined, mut next, mut chunks) = (Vec::new(), 0, 0);
            while next < batch.len() {
                let mut buf = Vec::new();
                next = encode_from(&batch, next, format, &mut buf, 6);
                assert!(buf.len() < 6 + 200, "one line past the limit at most");
                joined.extend_from_slice(&buf);
                chunks += 1;
            }
            assert_eq!(joined, whole);
            assert!(chunks >= 3, "{format:?}: {chunks} chunks");
        }
    }
}
