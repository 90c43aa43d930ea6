//! Cuts a byte stream into line events: reads chunks into an arena, finds newlines with
//! memchr, splits lines longer than the limit, joins multiline events ([`Multiline`]),
//! repairs invalid UTF-8, and hands out batches whose arena is the chunk itself. Shared by
//! the `file` and `stdin` sources.
//!
//! An event's offset is the stream offset of its first line, and the buffer's
//! [`LineBuffer::consumed_offset`] (where a restart resumes) never passes the start of an
//! event that is still open, waiting for more of its lines.

use std::io::Read;

use logcatch_core::ack::Ack;
use logcatch_core::batch::{Batch, BatchBuilder};
use logcatch_core::metrics::Counters;

use super::multiline::Multiline;

/// Bytes asked of the OS per read: about one batch of typical lines (1024 × ~100 bytes), so
/// little is left over to carry into the next batch's arena.
const READ: usize = 128 << 10;

/// Where a [`LineBuffer`] was before a read.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    arena: usize,
    spans: usize,
    consumed: usize,
    scanned: usize,
    in_long_line: bool,
    open: Option<Open>,
}

/// A multiline event whose lines are still coming, in arena offsets.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Its first byte.
    start: usize,
    /// Just past its last line's text (before that line's newline).
    end: usize,
    /// Just past its last line's newline: where the next event starts.
    next: usize,
    /// Lines in it so far.
    lines: u32,
}

/// The lines read from one stream and not yet sent.
#[derive(Debug)]
pub struct LineBuffer {
    /// `[lines found | bytes not yet cut into lines]`.
    arena: Vec<u8>,
    /// Stream offset of `arena[0]`.
    base: u64,
    /// Bytes of `arena` in events ready to send (up to the open event, if any).
    consumed: usize,
    /// Bytes of `arena` already cut into lines: `consumed`, plus the open event's lines.
    scanned: usize,
    /// Line spans (start, len) in `arena`.
    spans: Vec<(u32, u32)>,
    /// The line being read is longer than the limit and already partly emitted.
    in_long_line: bool,
    max_events: usize,
    max_line_bytes: usize,
    max_bytes: usize,
    /// How lines join into events, if they do.
    multiline: Option<Multiline>,
    /// The multiline event whose lines are still coming.
    open: Option<Open>,
    /// Events of more than one line closed since the last batch (counted per batch).
    joined: u64,
}

impl LineBuffer {
    /// An empty buffer whose next byte is at stream offset `base`.
    pub fn new(base: u64, max_events: usize, max_bytes: usize, max_line_bytes: usize) -> Self {
        LineBuffer {
            arena: Vec::new(),
            base,
            consumed: 0,
            scanned: 0,
            spans: Vec::with_capacity(max_events.min(4096)),
            in_long_line: false,
            max_events,
            max_line_bytes: max_line_bytes.max(1),
            max_bytes,
            multiline: None,
            open: None,
            joined: 0,
        }
    }

    /// Joins lines into events by `multiline`.
    pub fn with_multiline(mut self, multiline: Option<Multiline>) -> Self {
        self.multiline = multiline;
        self
    }

    /// Whether a multiline event is waiting for more of its lines.
    pub fn has_open(&self) -> bool {
        self.open.is_some()
    }

    /// Ends the open multiline event (no more of its lines came in time): it is ready to
    /// send. True if there was one.
    pub fn close_open(&mut self) -> bool {
        let Some(open) = self.open.take() else {
            return false;
        };
        self.spans
            .push((open.start as u32, (open.end - open.start) as u32));
        self.consumed = open.next;
        self.joined += (open.lines > 1) as u64;
        true
    }

    /// Forgets everything and starts again at stream offset `base` (after a truncation).
    pub fn reset(&mut self, base: u64) {
        self.arena.clear();
        self.spans.clear();
        self.consumed = 0;
        self.scanned = 0;
        self.base = base;
        self.in_long_line = false;
        self.open = None;
    }

    /// Stream offset just past the last event ready to send (the start of an open multiline
    /// event): where a restart resumes.
    pub fn consumed_offset(&self) -> u64 {
        self.base + self.consumed as u64
    }

    /// Stream offset just past the last byte read.
    pub fn read_offset(&self) -> u64 {
        self.base + self.arena.len() as u64
    }

    /// The last `n` bytes read (all of them if the stream so far is shorter), if the buffer
    /// still holds them.
    pub fn last_read(&self, n: usize) -> Option<&[u8]> {
        if self.arena.len() >= n {
            Some(&self.arena[self.arena.len() - n..])
        } else if self.base == 0 {
            Some(&self.arena)
        } else {
            None
        }
    }

    /// The last `n` bytes of the events ready to send (all of them if the stream so far is
    /// shorter), if the buffer still holds them.
    pub fn before_consumed(&self, n: usize) -> Option<&[u8]> {
        if self.consumed >= n {
            Some(&self.arena[self.consumed - n..self.consumed])
        } else if self.base == 0 {
            Some(&self.arena[..self.consumed])
        } else {
            None
        }
    }

    /// Lines waiting to be sent.
    pub fn pending(&self) -> usize {
        self.spans.len()
    }

    /// The state before a read, for [`LineBuffer::undo`].
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            arena: self.arena.len(),
            spans: self.spans.len(),
            consumed: self.consumed,
            scanned: self.scanned,
            in_long_line: self.in_long_line,
            open: self.open,
        }
    }

    /// Forgets what was read since `snapshot` (taken since the last `take_batch` or
    /// `reset`): it turned out not to be the stream we were reading.
    pub fn undo(&mut self, snapshot: Snapshot) {
        self.arena.truncate(snapshot.arena);
        self.spans.truncate(snapshot.spans);
        self.consumed = snapshot.consumed;
        self.scanned = snapshot.scanned;
        self.in_long_line = snapshot.in_long_line;
        self.open = snapshot.open;
    }

    /// Cuts the bytes read but not yet in a line (a last line without its newline) into a
    /// line of their own, and ends the open multiline event, for a stream that will not grow
    /// again. True if there was such a last line.
    pub fn finish_partial(&mut self) -> bool {
        let partial = self.scanned < self.arena.len();
        if partial {
            let start = self.scanned;
            self.scanned = self.arena.len();
            if self.in_long_line {
                // Longer than the limit: `cut` already emitted its pieces up to here.
                self.piece(start, self.arena.len() - start);
            } else {
                self.line(start, self.arena.len() - start);
            }
            self.in_long_line = false;
        }
        self.close_open();
        partial
    }

    /// Forgets the bytes read but not yet in a line (the end of a copy cut mid-line, whose
    /// rest was never written to it) and ends the open multiline event. Returns the bytes
    /// forgotten.
    pub fn discard_partial(&mut self) -> usize {
        let partial = self.arena.len() - self.scanned;
        self.arena.truncate(self.scanned);
        self.in_long_line = false;
        self.close_open();
        partial
    }

    /// The batch is full: send it before reading more.
    pub fn is_full(&self) -> bool {
        self.spans.len() >= self.max_events || self.consumed >= self.max_bytes
    }

    /// Reads once from `reader` (at most `limit` bytes) and cuts what it can into lines.
    /// Returns the bytes read (0 at end of stream).
    pub fn fill(
        &mut self,
        reader: impl Read,
        limit: u64,
        counters: &Counters,
    ) -> std::io::Result<usize> {
        let want = READ as u64;
        let before = self.arena.len();
        reader.take(want.min(limit)).read_to_end(&mut self.arena)?;
        let n = self.arena.len() - before;
        self.cut(counters);
        Ok(n)
    }

    /// Cuts complete lines (and over-long pieces) out of the unread part of the arena,
    /// stopping when the batch is full.
    fn cut(&mut self, counters: &Counters) {
        while !self.is_full() {
            let rest = &self.arena[self.scanned..];
            let newline = memchr::memchr(b'\n', &rest[..rest.len().min(self.max_line_bytes + 1)]);
            match newline {
                Some(len) if len <= self.max_line_bytes => {
                    let start = self.scanned;
                    self.scanned += len + 1;
                    self.in_long_line = false;
                    self.line(start, len);
                }
                _ if rest.len() > self.max_line_bytes => {
                    // Longer than the limit: emit a piece now, cut on a char boundary.
                    let mut len = self.max_line_bytes;
                    let mut back = 0;
                    while back < 3 && len > 1 && (rest[len] & 0xC0) == 0x80 {
                        len -= 1;
                        back += 1;
                    }
                    if !self.in_long_line {
                        Counters::add(&counters.lines_split, 1);
                        self.in_long_line = true;
                    }
                    let start = self.scanned;
                    self.scanned += len;
                    self.piece(start, len);
                }
                _ => break, // a partial line: wait for its newline
            }
        }
    }

    /// A line was cut at `start..start + len` (`scanned` is past it and its newline): it
    /// joins the open event, or ends it and starts the next (or is an event by itself).
    #[inline]
    fn line(&mut self, start: usize, len: usize) {
        let Some(rule) = &self.multiline else {
            self.spans.push((start as u32, len as u32));
            self.consumed = self.scanned;
            return;
        };
        let end = start + len;
        if let Some(open) = &mut self.open
            && rule.joins(&self.arena[start..end], open.lines, end - open.start)
        {
            open.end = end;
            open.next = self.scanned;
            open.lines += 1;
            return;
        }
        self.close_open();
        self.open = Some(Open {
            start,
            end,
            next: self.scanned,
            lines: 1,
        });
    }

    /// A piece of a line longer than the limit: an event of its own, never joined.
    fn piece(&mut self, start: usize, len: usize) {
        self.close_open();
        self.spans.push((start as u32, len as u32));
        self.consumed = self.scanned;
    }

    /// Takes the pending lines as a batch from `source`, keeping any partial line for later.
    /// `ack(end)` builds the acknowledgement for a batch ending at stream offset `end`.
    pub fn take_batch(
        &mut self,
        source: &str,
        ts_ns: u64,
        counters: &Counters,
        ack: impl FnOnce(u64) -> Ack,
    ) -> Batch {
        // The bytes past the batch (a partial line, or lines beyond a full batch) move to a
        // fresh arena sized for the next read: one copy of the leftover, no reallocation.
        let mut rest = Vec::with_capacity(self.arena.len() - self.consumed + READ);
        rest.extend_from_slice(&self.arena[self.consumed..]);
        let mut arena = std::mem::replace(&mut self.arena, rest);
        let spans = std::mem::take(&mut self.spans);
        self.spans.reserve(self.max_events.min(4096));
        let base = self.base;
        let end = self.consumed_offset();
        self.base = end;
        let shift = self.consumed;
        self.consumed = 0;
        self.scanned -= shift;
        if let Some(open) = &mut self.open {
            open.start -= shift;
            open.end -= shift;
            open.next -= shift;
        }
        Counters::add(&counters.multiline_events, std::mem::take(&mut self.joined));
        // Cut any bytes already read past the batch (the batch was full).
        self.cut(counters);

        arena.truncate(spans.last().map(|&(o, l)| (o + l) as usize).unwrap_or(0));
        let mut b = match String::from_utf8(arena) {
            Ok(text) => {
                let mut b = BatchBuilder::from_text_arena(text, spans.len());
                let src = b.source(source);
                for &(off, len) in &spans {
                    b.push_span(off as usize, len as usize, src, base + off as u64, ts_ns);
                }
                b
            }
            Err(e) => repair(&e.into_bytes(), &spans, source, base, ts_ns, counters),
        };
        if b.is_empty() {
            // Only reached for an empty batch: keep a source entry for readers.
            b.source(source);
        }
        b.finish(ack(end))
    }
}

/// The slow path for a chunk with invalid UTF-8: copies each line, replacing bad bytes with
/// U+FFFD, and counts the lines repaired.
fn repair(
    arena: &[u8],
    spans: &[(u32, u32)],
    source: &str,
    base: u64,
    ts_ns: u64,
    counters: &Counters,
) -> BatchBuilder {
    let mut b = BatchBuilder::with_capacity(spans.len(), arena.len() + 64);
    let src = b.source(source);
    let mut repaired = 0;
    for &(off, len) in spans {
        let line = String::from_utf8_lossy(&arena[off as usize..(off + len) as usize]);
        repaired += matches!(line, std::borrow::Cow::Owned(_)) as u64;
        b.push(&line, src, base + off as u64, ts_ns);
    }
    Counters::add(&counters.invalid_utf8, repaired);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(batch: &Batch) -> Vec<(String, u64)> {
        batch
            .iter()
            .map(|e| (e.message().to_owned(), e.offset()))
            .collect()
    }

    fn take(buf: &mut LineBuffer, c: &Counters) -> Batch {
        buf.take_batch("s", 0, c, |_| Ack::none())
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let c = Counters::default();
        let mut buf = LineBuffer::new(0, 1024, 1 << 20, 1 << 20);
        buf.fill(&b"one\ntwo\nthr"[..], u64::MAX, &c).unwrap();
        assert_eq!(buf.consumed_offset(), 8);
        let b = take(&mut buf, &c);
        assert_eq!(lines(&b), [("one".into(), 0), ("two".into(), 4)]);
        buf.fill(&b"ee\n"[..], u64::MAX, &c).unwrap();
        assert_eq!(lines(&take(&mut buf, &c)), [("three".into(), 8)]);
        assert_eq!(buf.consumed_offset(), 14);
    }

    #[test]
    fn a_last_line_without_newline_can_be_finished() {
        let c = Counters::default();
        let mut buf = LineBuffer::new(0, 1024, 1 << 20, 1 << 20);
        buf.fill(&b"one\ntwo"[..], u64::MAX, &c).unwrap();
        assert!(buf.finish_partial());
        assert!(!buf.finish_partial());
        assert_eq!(buf.consumed_offset(), 7);
        assert_eq!(
            lines(&take(&mut buf, &c)),
            [("one".into(), 0), ("two".into(), 4)]
        );
    }

    #[test]
    fn undo_forgets_the_last_read() {
        let c = Counters::default();
        let mut buf = LineBuffer::new(0, 1024, 1 << 20, 1 << 20);
        buf.fill(&b"one\ntw"[..], u64::MAX, &c).unwrap();
        let before = buf.snapshot();
        buf.fill(&b"XX\nthree\nfo"[..], u64::MAX, &c).unwrap();
        buf.undo(before);
        assert_eq!(buf.read_offset(), 6);
        buf.fill(&b"o\n"[..], u64::MAX, &c).unwrap();
        assert_eq!(
            lines(&take(&mut buf, &c)),
            [("one".into(), 0), ("two".into(), 4)]
        );
    }

    #[test]
    fn batches_are_cut_at_max_events() {
        let c = Counters::default();
        let mut buf = LineBuffer::new(100, 2, 1 << 20, 1 << 20);
        buf.fill(&b"a\nb\nc\nd\ne"[..], u64::MAX, &c).unwrap();
        assert!(buf.is_full());
        assert_eq!(
            lines(&take(&mut buf, &c)),
            [("a".into(), 100), ("b".into(), 102)]
        );
        assert_eq!(
            lines(&take(&mut buf, &c)),
            [("c".into(), 104), ("d".into(), 106)]
        );
        assert_eq!(buf.pending(), 0);
        assert_eq!(buf.consumed_offset(), 108);
    }

    #[test]
    fn long_lines_are_split_on_char_boundaries_and_counted() {
        let c = Counters::default();
        let mut buf = LineBuffer::new(0, 1024, 1 << 20, 4);
        buf.fill("abcdéfghij\nok\n".as_bytes(), u64::MAX, &c)
            .unwrap();
        let got: Vec<_> = lines(&take(&mut buf, &c))
            .into_iter()
            .map(|l| l.0)
            .collect();
        assert_eq!(got, ["abcd", "éfg", "hij", "ok"]);
        assert_eq!(c.snapshot().lines_split, 1);
    }

    fn java() -> Option<Multiline> {
        let m: Multiline = serde_yaml::from_str(r#"{ continue: '^\s' }"#).unwrap();
        m.validate().unwrap();
        Some(m)
    }

    #[test]
    fn continuation_lines_join_their_event_and_offsets_are_its_first_line() {
        let c = Counters::default();
        let mut buf = LineBuffer::new(10, 1024, 1 << 20, 1 << 20).with_multiline(java());
        buf.fill(&b"a\nE boom\n\tat x\n\tat y\nb\n"[..], u64::MAX, &c)
            .unwrap();
        // `b` may still get continuation lines: it is open, and a restart resumes at it.
        assert!(buf.has_open());
        assert_eq!(buf.consumed_offset(), 10 + 21);
        assert_eq!(
            lines(&take(&mut buf, &c)),
            [("a".into(), 10), ("E boom\n\tat x\n\tat y".into(), 12)]
        );
        assert_eq!(c.snapshot().multiline_events, 1);
        // Its continuation arrives in the next read, after the batch was taken.
        buf.fill(&b" more\nc\n"[..], u64::MAX, &c).unwrap();
        assert!(buf.close_open());
        assert_eq!(
            lines(&take(&mut buf, &c)),
            [("b\n more".into(), 31), ("c".into(), 39)]
        );
        assert_eq!(buf.consumed_offset(), 41);
        assert_eq!(c.snapshot().multiline_events, 2);
    }

    #[test]
    fn a_start_rule_and_the_bounds_of_an_event() {
        let c = Counters::default();
        let m: Multiline =
            serde_yaml::from_str(r#"{ start: '^\d', max_lines: 3, max_bytes: 12 }"#).unwrap();
        let mut buf = LineBuffer::new(0, 1024, 1 << 20, 1 << 20).with_multiline(Some(m));
        buf.fill(&b"1 a\nx\ny\nz\n2 b\nlonger line\n3\n"[..], u64::MAX, &c)
            .unwrap();
        buf.finish_partial();
        let got: Vec<String> = lines(&take(&mut buf, &c))
            .into_iter()
            .map(|l| l.0)
            .collect();
        assert_eq!(got, ["1 a\nx\ny", "z", "2 b", "longer line", "3"]);
    }

    #[test]
    fn an_open_event_survives_full_batches_and_undo() {
        let c = Counters::default();
        let mut buf = LineBuffer::new(0, 2, 1 << 20, 1 << 20).with_multiline(java());
        buf.fill(&b"a\nb\nc\n d\ne\n"[..], u64::MAX, &c).unwrap();
        assert_eq!(
            lines(&take(&mut buf, &c)),
            [("a".into(), 0), ("b".into(), 2)]
        );
        let before = buf.snapshot();
        buf.fill(&b" f\ng"[..], u64::MAX, &c).unwrap();
        buf.undo(before);
        buf.fill(&b"g\n"[..], u64::MAX, &c).unwrap();
        assert_eq!(
            lines(&take(&mut buf, &c)),
            [("c\n d".into(), 4), ("e".into(), 9)]
        );
        assert_eq!(buf.consumed_offset(), 11, "`g` is open");
        assert_eq!(buf.discard_partial(), 0);
        assert_eq!(lines(&take(&mut buf, &c)), [("g".into(), 11)]);
    }

    #[test]
    fn the_bytes_before_an_offset_are_the_ones_read() {
        let c = Counters::default();
        let mut buf = LineBuffer::new(0, 1024, 1 << 20, 1 << 20);
        buf.fill(&b"ab\ncd\nef"[..], u64::MAX, &c).unwrap();
        assert_eq!(buf.before_consumed(64), Some(&b"ab\ncd\n"[..]), "from 0");
        assert_eq!(buf.before_consumed(3), Some(&b"cd\n"[..]));
        assert_eq!(buf.last_read(4), Some(&b"d\nef"[..]));
        take(&mut buf, &c);
        assert_eq!(buf.before_consumed(3), None, "sent: no longer held");
        assert_eq!(buf.before_consumed(0), Some(&b""[..]));
        buf.fill(&b"gh\n"[..], u64::MAX, &c).unwrap();
        assert_eq!(buf.before_consumed(3), Some(&b"gh\n"[..]));
    }

    #[test]
    fn the_end_of_a_copy_cut_mid_line_is_discarded() {
        let c = Counters::default();
        let mut buf = LineBuffer::new(0, 1024, 1 << 20, 1 << 20).with_multiline(java());
        buf.fill(&b"E\n x\nline 12"[..], u64::MAX, &c).unwrap();
        assert_eq!(buf.discard_partial(), 7);
        assert_eq!(lines(&take(&mut buf, &c)), [("E\n x".into(), 0)]);
        assert_eq!(buf.read_offset(), 5);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_counted() {
        let c = Counters::default();
        let mut buf = LineBuffer::new(0, 1024, 1 << 20, 1 << 20);
        buf.fill(&b"good\nb\xffad\n"[..], u64::MAX, &c).unwrap();
        let got: Vec<_> = lines(&take(&mut buf, &c))
            .into_iter()
            .map(|l| l.0)
            .collect();
        assert_eq!(got, ["good", "b\u{fffd}ad"]);
        assert_eq!(c.snapshot().invalid_utf8, 1);
    }
}
