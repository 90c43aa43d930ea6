//! Column-wise batches of events: the unit every stage works on.
//!
//! A [`Batch`] stores its events as a struct of arrays, the same shape as the WASM wire
//! (`wit/`): one byte `arena` holds every string's bytes and each per-event field is a plain
//! array. Sources fill a batch through a [`BatchBuilder`] (a chunk read from a file *is* the
//! arena; lines become offsets into it), and native code reads one through [`Batch::iter`].
//! Nothing outside this module indexes the columns by hand.

use crate::ack::Ack;

/// The kind tag of an attribute value, as stored in the `attr_kind` column.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    /// UTF-8 text stored in the arena.
    Text = 0,
    /// A signed 64-bit integer.
    Int = 1,
    /// A 64-bit float.
    Float = 2,
    /// A boolean.
    Bool = 3,
}

/// A typed attribute value borrowed from a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrValue<'a> {
    /// Text.
    Text(&'a str),
    /// Signed integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
}

/// A batch of events stored column-wise, with the acknowledgement handle of what it covers.
///
/// Invariant (kept by [`BatchBuilder`], the only way to make one): every message and text
/// attribute span in the arena is valid UTF-8.
#[derive(Debug, Default)]
pub struct Batch {
    arena: Vec<u8>,
    msg_off: Vec<u32>,
    msg_len: Vec<u32>,
    timestamp_ns: Vec<u64>,
    source_id: Vec<u32>,
    sources: Vec<String>,
    offset: Vec<u64>,
    attr_end: Vec<u32>,
    attr_key_id: Vec<u32>,
    attr_keys: Vec<String>,
    attr_kind: Vec<u8>,
    attr_val: Vec<u64>,
    /// What this batch covers in its sources; acknowledged once every sink has it.
    pub ack: Ack,
}

impl Batch {
    /// Number of events in the batch.
    pub fn len(&self) -> usize {
        self.msg_off.len()
    }

    /// True when the batch holds no events (it may still carry positions to acknowledge).
    pub fn is_empty(&self) -> bool {
        self.msg_off.is_empty()
    }

    /// Total bytes of message text, for byte counters.
    pub fn message_bytes(&self) -> u64 {
        self.msg_len.iter().map(|&l| l as u64).sum()
    }

    /// One event by index.
    pub fn get(&self, index: usize) -> EventRef<'_> {
        assert!(index < self.len(), "event index out of range");
        EventRef { batch: self, index }
    }

    /// Iterates over the events in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = EventRef<'_>> + '_ {
        (0..self.len()).map(move |index| EventRef { batch: self, index })
    }

    fn text(&self, off: u32, len: u32) -> &str {
        let bytes = &self.arena[off as usize..off as usize + len as usize];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: the builder only records spans it has checked (or was given) as UTF-8, and
        // spans end on line boundaries or char boundaries, never inside a code point.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

/// One event of a batch, read through typed accessors.
#[derive(Clone, Copy)]
pub struct EventRef<'a> {
    batch: &'a Batch,
    index: usize,
}

impl<'a> EventRef<'a> {
    /// The log line, without its newline.
    pub fn message(&self) -> &'a str {
        let b = self.batch;
        b.text(b.msg_off[self.index], b.msg_len[self.index])
    }

    /// Ingest time, nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> u64 {
        self.batch.timestamp_ns[self.index]
    }

    /// Where the event came from (a file path, `stdin`, `demo`).
    pub fn source(&self) -> &'a str {
        &self.batch.sources[self.batch.source_id[self.index] as usize]
    }

    /// Byte offset of the line in its source: with the source, the event's stable id.
    pub fn offset(&self) -> u64 {
        self.batch.offset[self.index]
    }

    /// The value of attribute `key`, if the event has it.
    pub fn attr(&self, key: &str) -> Option<AttrValue<'a>> {
        self.attrs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Every attribute of the event, in the order they were added.
    pub fn attrs(&self) -> impl Iterator<Item = (&'a str, AttrValue<'a>)> + 'a {
        let b = self.batch;
        let start = if self.index == 0 {
            0
        } else {
            b.attr_end[self.index - 1] as usize
        };
        let end = b.attr_end[self.index] as usize;
        (start..end).map(move |i| {
            let key = b.attr_keys[b.attr_key_id[i] as usize].as_str();
            let raw = b.attr_val[i];
            let value = match b.attr_kind[i] {
                0 => AttrValue::Text(b.text((raw >> 32) as u32, raw as u32)),
                1 => AttrValue::Int(raw as i64),
                2 => AttrValue::Float(f64::from_bits(raw)),
                _ => AttrValue::Bool(raw != 0),
            };
            (key, value)
        })
    }
}

/// Builds a batch column by column; the only way to make a [`Batch`].
#[derive(Debug, Default)]
pub struct BatchBuilder {
    batch: Batch,
    /// The arena while building: all of it is text, so every span on char boundaries is UTF-8.
    arena: String,
}

impl BatchBuilder {
    /// An empty builder sized for about `events` events of `bytes` message bytes.
    pub fn with_capacity(events: usize, bytes: usize) -> Self {
        let mut b = Batch {
            msg_off: Vec::with_capacity(events),
            msg_len: Vec::with_capacity(events),
            timestamp_ns: Vec::with_capacity(events),
            source_id: Vec::with_capacity(events),
            offset: Vec::with_capacity(events),
            attr_end: Vec::with_capacity(events),
            ..Batch::default()
        };
        b.sources.reserve(1);
        BatchBuilder {
            batch: b,
            arena: String::with_capacity(bytes),
        }
    }

    /// A builder whose arena is `arena`, text already checked as UTF-8 by the caller: lines
    /// inside it are then added with [`push_span`](Self::push_span), without copying.
    pub fn from_text_arena(arena: String, events: usize) -> Self {
        let mut b = Self::with_capacity(events, 0);
        b.arena = arena;
        b
    }

    /// Number of events added so far.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// True when no event was added yet.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Bytes in the arena so far.
    pub fn arena_len(&self) -> usize {
        self.arena.len()
    }

    /// Adds `name` to the batch's source dictionary (once) and returns its id.
    pub fn source(&mut self, name: &str) -> u32 {
        let sources = &mut self.batch.sources;
        if let Some(i) = sources.iter().position(|s| s == name) {
            return i as u32;
        }
        sources.push(name.to_owned());
        (sources.len() - 1) as u32
    }

    /// Adds an event whose message is the arena bytes `off..off+len`.
    ///
    /// Panics if the span is out of the arena or not on char boundaries.
    pub fn push_span(&mut self, off: usize, len: usize, source_id: u32, offset: u64, ts_ns: u64) {
        assert!(
            self.arena.is_char_boundary(off) && self.arena.is_char_boundary(off + len),
            "span out of arena or not on char boundaries"
        );
        let b = &mut self.batch;
        b.msg_off.push(off as u32);
        b.msg_len.push(len as u32);
        self.push_event_fields(source_id, offset, ts_ns);
    }

    /// Adds an event, copying `message` into the arena.
    pub fn push(&mut self, message: &str, source_id: u32, offset: u64, ts_ns: u64) {
        let b = &mut self.batch;
        b.msg_off.push(self.arena.len() as u32);
        b.msg_len.push(message.len() as u32);
        self.arena.push_str(message);
        self.push_event_fields(source_id, offset, ts_ns);
    }

    /// Adds an event whose message is written by `write` straight into the arena (no
    /// intermediate string), e.g. with `write!`.
    pub fn push_with(
        &mut self,
        source_id: u32,
        offset: u64,
        ts_ns: u64,
        write: impl FnOnce(&mut String),
    ) {
        let start = self.arena.len();
        write(&mut self.arena);
        let b = &mut self.batch;
        b.msg_off.push(start as u32);
        b.msg_len.push((self.arena.len() - start) as u32);
        self.push_event_fields(source_id, offset, ts_ns);
    }

    fn push_event_fields(&mut self, source_id: u32, offset: u64, ts_ns: u64) {
        let b = &mut self.batch;
        debug_assert!((source_id as usize) < b.sources.len());
        b.timestamp_ns.push(ts_ns);
        b.source_id.push(source_id);
        b.offset.push(offset);
        b.attr_end.push(b.attr_key_id.len() as u32);
    }

    fn key_id(&mut self, key: &str) -> u32 {
        let keys = &mut self.batch.attr_keys;
        if let Some(i) = keys.iter().position(|k| k == key) {
            return i as u32;
        }
        keys.push(key.to_owned());
        (keys.len() - 1) as u32
    }

    /// Adds an attribute to the last event added.
    pub fn attr(&mut self, key: &str, value: AttrValue<'_>) {
        assert!(!self.batch.is_empty(), "attr() before any event");
        let key_id = self.key_id(key);
        let b = &mut self.batch;
        let (kind, raw) = match value {
            AttrValue::Text(s) => {
                let off = self.arena.len() as u64;
                self.arena.push_str(s);
                (AttrKind::Text, (off << 32) | s.len() as u64)
            }
            AttrValue::Int(i) => (AttrKind::Int, i as u64),
            AttrValue::Float(f) => (AttrKind::Float, f.to_bits()),
            AttrValue::Bool(v) => (AttrKind::Bool, v as u64),
        };
        b.attr_key_id.push(key_id);
        b.attr_kind.push(kind as u8);
        b.attr_val.push(raw);
        *b.attr_end.last_mut().expect("checked non-empty") += 1;
    }

    /// Finishes the batch, attaching what it covers.
    pub fn finish(mut self, ack: Ack) -> Batch {
        self.batch.arena = self.arena.into_bytes();
        self.batch.ack = ack;
        self.batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_copies_and_attributes_read_back() {
        let mut b = BatchBuilder::from_text_arena("alpha\nbeta\n".to_owned(), 4);
        let src = b.source("/var/log/a.log");
        b.push_span(0, 5, src, 0, 7);
        b.attr("level", AttrValue::Text("info"));
        b.attr("status", AttrValue::Int(-3));
        b.push_span(6, 4, src, 6, 8);
        let other = b.source("demo");
        b.push("gamma", other, 99, 9);
        b.attr("ok", AttrValue::Bool(true));
        b.attr("ratio", AttrValue::Float(0.5));
        let batch = b.finish(Ack::none());

        let got: Vec<_> = batch
            .iter()
            .map(|e| (e.message(), e.source(), e.offset()))
            .collect();
        assert_eq!(
            got,
            [
                ("alpha", "/var/log/a.log", 0),
                ("beta", "/var/log/a.log", 6),
                ("gamma", "demo", 99)
            ]
        );
        assert_eq!(batch.get(0).attr("level"), Some(AttrValue::Text("info")));
        assert_eq!(batch.get(0).attr("status"), Some(AttrValue::Int(-3)));
        assert_eq!(batch.get(1).attrs().count(), 0);
        assert_eq!(batch.get(2).attr("ok"), Some(AttrValue::Bool(true)));
        assert_eq!(batch.get(2).attr("ratio"), Some(AttrValue::Float(0.5)));
        assert_eq!(batch.get(2).timestamp_ns(), 9);
        assert_eq!(batch.message_bytes(), 14);
    }

    #[test]
    fn push_with_writes_in_place() {
        let mut b = BatchBuilder::with_capacity(2, 64);
        let src = b.source("demo");
        b.push_with(src, 1, 0, |s| s.push_str("x=1"));
        b.push_with(src, 2, 0, |s| {
            use std::fmt::Write;
            write!(s, "y={}", 22).unwrap()
        });
        let batch = b.finish(Ack::none());
        let msgs: Vec<_> = batch.iter().map(|e| e.message()).collect();
        assert_eq!(msgs, ["x=1", "y=22"]);
    }
}
