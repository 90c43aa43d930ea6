//! Request bodies: a batch encoded once as JSON lines (the `file` sink's `format: json`),
//! cut into requests of at most `max_body_bytes`, laid out as NDJSON, a JSON array or an
//! Elasticsearch `_bulk` body, and optionally gzipped.

use std::io::Write;
use std::ops::Range;

use logcatch_core::batch::Batch;

use super::config::{BodyFormat, Compression};
use crate::sinks::event_id::{self, push_event_id};
use logcatch_core::encode::{Format, encode};

/// The action line before each event in a `_bulk` body (`create` also works on data streams).
const BULK_ACTION: &[u8] = b"{\"create\":{}}\n";
/// The same with a document id: this, the id, then [`BULK_ID_END`].
const BULK_ID_START: &[u8] = b"{\"create\":{\"_id\":\"";
const BULK_ID_END: &[u8] = b"\"}}\n";

/// One batch as JSON, one line per event.
#[derive(Debug, Default)]
pub struct Encoded {
    /// The events, each a JSON object ending in `\n` (JSON escapes newlines in strings).
    lines: Vec<u8>,
    /// Where each event's line ends (after its `\n`).
    ends: Vec<usize>,
    /// With `generate_id`: every event's id, [`event_id::LEN`] bytes each, in order.
    ids: Option<Vec<u8>>,
}

impl Encoded {
    /// Encodes every event of `batch`, and its id when `ids` (`_bulk` document ids).
    pub fn new(batch: &Batch, ids: bool) -> Self {
        let mut lines = Vec::with_capacity(batch.message_bytes() as usize + 128 * batch.len());
        encode(batch, Format::Json, &mut lines);
        let ends = memchr::memchr_iter(b'\n', &lines).map(|i| i + 1).collect();
        let ids = ids.then(|| {
            let mut all = Vec::with_capacity(batch.len() * event_id::LEN);
            for event in batch.iter() {
                push_event_id(&event, &mut all);
            }
            all
        });
        Encoded { lines, ends, ids }
    }

    /// Event `i`'s `_bulk` action line.
    fn action(&self, i: usize, out: &mut Vec<u8>) {
        match &self.ids {
            None => out.extend_from_slice(BULK_ACTION),
            Some(ids) => {
                out.extend_from_slice(BULK_ID_START);
                out.extend_from_slice(&ids[i * event_id::LEN..(i + 1) * event_id::LEN]);
                out.extend_from_slice(BULK_ID_END);
            }
        }
    }

    /// Length of every `_bulk` action line of this batch.
    fn action_len(&self) -> usize {
        match self.ids {
            None => BULK_ACTION.len(),
            Some(_) => BULK_ID_START.len() + event_id::LEN + BULK_ID_END.len(),
        }
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
            BodyFormat::EsBulk => (0, 1 + self.action_len()),
            BodyFormat::JsonArray => (1, 1), // `[` once, then `,` or `]` after each
        };
        let mut chunks = Vec::new();
        let (mut start, mut size) = (0, fixed);
        for i in 0..self.len() {
            let cost = self.line(i).len() + per_event;
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
                    self.action(i, out);
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

    fn messages(v: &serde_json::Value) -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn every_format_carries_every_event_once() {
        let e = Encoded::new(&batch(3), false);
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
        let e = Encoded::new(&batch(5), false);
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
        let e = Encoded::new(&batch(3), true);
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
        Encoded::new(&batch(3), true).body([0, 2], BodyFormat::EsBulk, &mut again);
        assert_eq!(again, out, "the same events, the same ids");
    }

    #[test]
    fn chunks_fit_the_limit_and_cover_every_event_in_order() {
        for e in [
            Encoded::new(&batch(50), false),
            Encoded::new(&batch(50), true),
        ] {
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
        let e = Encoded::new(&batch(50), false);
        assert_eq!(e.chunks(BodyFormat::Ndjson, 1).len(), 50);
        assert!(
            Encoded::new(&Batch::default(), false)
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
