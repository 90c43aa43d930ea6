//! An event's stable id, for destinations that drop what they already have: the `nats`
//! sink's `Nats-Msg-Id` and the `http` sink's `_bulk` document ids (`generate_id`).

use logcatch_core::batch::EventRef;

/// Length of an [`event_id`], in bytes (ASCII).
pub const LEN: usize = 22;

/// A 128-bit hash of the event's source, offset and message, in base64url: the same line
/// read again (a retry, a re-read after a crash) gets the same id, and a rotated file's new
/// line at an old offset does not. 22 characters: NATS scans and keeps every message's id
/// for its duplicate window, so a short id is measurably cheaper for it than hex.
pub fn event_id(event: &EventRef<'_>) -> String {
    let mut out = Vec::with_capacity(LEN);
    push_event_id(event, &mut out);
    String::from_utf8(out).expect("base64url is ASCII")
}

/// Appends [`event_id`] to `out`, allocating nothing (for bodies that carry an id per event).
pub fn push_event_id(event: &EventRef<'_>, out: &mut Vec<u8>) {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&xxhash_rust::xxh3::xxh3_64(event.source().as_bytes()).to_le_bytes());
    h.update(&event.offset().to_le_bytes());
    h.update(event.message().as_bytes());
    push_base64url(&h.digest128().to_le_bytes(), out);
}

/// Appends `bytes` in base64url without padding.
fn push_base64url(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(DIGITS[(n >> (18 - 6 * i) & 63) as usize]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcatch_core::ack::Ack;
    use logcatch_core::batch::BatchBuilder;

    #[test]
    fn ids_follow_source_offset_and_text() {
        let mut b = BatchBuilder::with_capacity(4, 64);
        let a = b.source("/var/log/a.log");
        let other = b.source("/var/log/b.log");
        b.push("x", a, 0, 1);
        b.push("x", a, 0, 2);
        b.push("y", a, 0, 1);
        b.push("x", other, 0, 1);
        let batch = b.finish(Ack::none());
        let ids: Vec<String> = batch.iter().map(|e| event_id(&e)).collect();
        assert_eq!(ids[0], ids[1], "the ingest time is not part of the id");
        assert_ne!(ids[0], ids[2]);
        assert_ne!(ids[0], ids[3]);
        assert!(ids[0].len() == LEN, "{}", ids[0]);
        assert!(
            ids[0]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        let b64 = |bytes: &[u8]| {
            let mut out = Vec::new();
            push_base64url(bytes, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(b64(b"\xfb\xff"), "-_8");
        assert_eq!(b64(b"Man"), "TWFu");
    }
}
