//! Writing a batch: [`BatchBuilder`], for filters that transform events.

use std::collections::HashMap;

use crate::batch::{AttrValue, Batch, Event};
use crate::bindings::logcatch::plugin::types::EventBatch;

/// Builds the new batch of a transform, event by event; hand it to
/// [`Verdict::replace`](crate::Verdict::replace).
///
/// Events are added with [`push`](Self::push) (a new event) or
/// [`push_event`](Self::push_event) and its variants (a copy of an input event, which keeps
/// its source and offset, so logcatch can still acknowledge and deduplicate it);
/// [`attr`](Self::attr) then sets attributes on the event added last. Sources and
/// attribute keys are deduplicated into the batch's dictionaries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchBuilder {
    arena: String,
    msg_off: Vec<u32>,
    msg_len: Vec<u32>,
    timestamp_ns: Vec<u64>,
    source_id: Vec<u32>,
    offset: Vec<u64>,
    attr_end: Vec<u32>,
    attr_key_id: Vec<u32>,
    attr_kind: Vec<u8>,
    attr_val: Vec<u64>,
    sources: Dict,
    keys: Dict,
}

/// Appends an event's message straight into the batch (see
/// [`BatchBuilder::push_event_with`]); it implements [`std::fmt::Write`].
#[derive(Debug)]
pub struct MessageWriter<'a> {
    arena: &'a mut String,
}

impl MessageWriter<'_> {
    /// Appends text to the message.
    pub fn push_str(&mut self, s: &str) {
        self.arena.push_str(s);
    }

    /// Appends one character to the message.
    pub fn push(&mut self, c: char) {
        self.arena.push(c);
    }
}

impl std::fmt::Write for MessageWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.arena.push_str(s);
        Ok(())
    }
}

impl BatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `events` events and `bytes` bytes of text.
    pub fn with_capacity(events: usize, bytes: usize) -> Self {
        BatchBuilder {
            arena: String::with_capacity(bytes),
            msg_off: Vec::with_capacity(events),
            msg_len: Vec::with_capacity(events),
            timestamp_ns: Vec::with_capacity(events),
            source_id: Vec::with_capacity(events),
            offset: Vec::with_capacity(events),
            attr_end: Vec::with_capacity(events),
            ..Self::default()
        }
    }

    /// An empty builder with room for a batch like `batch` (same event count, arena a bit
    /// larger): the usual start of a transform.
    pub fn sized_for(batch: &Batch) -> Self {
        let bytes: usize = batch.iter().map(|e| e.message().len()).sum();
        Self::with_capacity(batch.len(), bytes + bytes / 4)
    }

    /// Number of events added so far.
    pub fn len(&self) -> usize {
        self.msg_off.len()
    }

    /// True when no event was added yet.
    pub fn is_empty(&self) -> bool {
        self.msg_off.is_empty()
    }

    /// Adds a new event: `message` from `source`, at byte `offset` in it, ingested at
    /// `timestamp_ns` (nanoseconds since the Unix epoch).
    pub fn push(
        &mut self,
        message: &str,
        source: &str,
        offset: u64,
        timestamp_ns: u64,
    ) -> &mut Self {
        let off = self.append_text(message);
        let source = self.sources.intern(source);
        self.push_fields(off, message.len(), source, offset, timestamp_ns)
    }

    /// Adds a copy of `event`: message, source, offset, timestamp and every attribute.
    pub fn push_event(&mut self, event: &Event<'_>) -> &mut Self {
        self.push_event_with_message(event, event.message())
    }

    /// Adds a copy of `event` (source, offset, timestamp, attributes) with a new message.
    pub fn push_event_with_message(&mut self, event: &Event<'_>, message: &str) -> &mut Self {
        let off = self.append_text(message);
        self.push_copy(event, off, message.len())
    }

    /// Adds a copy of `event` whose new message `write` appends to a [`MessageWriter`]
    /// (with `push_str` or `write!`), without an intermediate `String`.
    pub fn push_event_with(
        &mut self,
        event: &Event<'_>,
        write: impl FnOnce(&mut MessageWriter<'_>),
    ) -> &mut Self {
        let start = self.arena.len();
        write(&mut MessageWriter {
            arena: &mut self.arena,
        });
        let len = self.arena.len() - start;
        self.push_copy(event, to_u32(start), len)
    }

    /// Replaces the message of the event added last.
    ///
    /// # Panics
    /// If no event was added yet.
    pub fn set_message(&mut self, message: &str) -> &mut Self {
        assert!(
            !self.is_empty(),
            "BatchBuilder::set_message before any event"
        );
        let off = self.append_text(message);
        *self.msg_off.last_mut().expect("checked") = off;
        *self.msg_len.last_mut().expect("checked") = to_u32(message.len());
        self
    }

    /// Sets attribute `key` of the event added last, replacing its value if it has one.
    /// `value` is an [`AttrValue`] or anything that converts to one (`&str`, `i64`, `f64`,
    /// `bool`, ...).
    ///
    /// # Panics
    /// If no event was added yet.
    pub fn attr<'v>(&mut self, key: &str, value: impl Into<AttrValue<'v>>) -> &mut Self {
        assert!(!self.is_empty(), "BatchBuilder::attr before any event");
        let value = value.into();
        let key_id = self.keys.intern(key);
        let text_off = match value {
            AttrValue::Text(s) => self.append_text(s).into(),
            _ => 0,
        };
        let (kind, raw) = value.encode(text_off);
        let first = match self.attr_end.len() {
            1 => 0,
            n => self.attr_end[n - 2] as usize,
        };
        match self.attr_key_id[first..].iter().position(|&k| k == key_id) {
            Some(i) => {
                self.attr_kind[first + i] = kind;
                self.attr_val[first + i] = raw;
            }
            None => {
                self.attr_key_id.push(key_id);
                self.attr_kind.push(kind);
                self.attr_val.push(raw);
                *self.attr_end.last_mut().expect("checked") += 1;
            }
        }
        self
    }

    /// Finishes the builder as a [`Batch`] to read back: for tests, or to chain steps.
    pub fn build(self) -> Batch {
        let (text, cols) = self.into_parts();
        Batch::from_parts(text, cols)
    }

    /// Finishes the builder as the wire record logcatch receives.
    pub(crate) fn into_wire(self) -> EventBatch {
        let (text, mut cols) = self.into_parts();
        cols.arena = text.into_bytes();
        cols
    }

    fn into_parts(self) -> (String, EventBatch) {
        let cols = EventBatch {
            arena: Vec::new(),
            msg_off: self.msg_off,
            msg_len: self.msg_len,
            timestamp_ns: self.timestamp_ns,
            source_id: self.source_id,
            sources: self.sources.names,
            offset: self.offset,
            attr_end: self.attr_end,
            attr_key_id: self.attr_key_id,
            attr_keys: self.keys.names,
            attr_kind: self.attr_kind,
            attr_val: self.attr_val,
        };
        (self.arena, cols)
    }

    /// Appends `s` to the arena and returns where it starts.
    fn append_text(&mut self, s: &str) -> u32 {
        let off = to_u32(self.arena.len());
        self.arena.push_str(s);
        // The end must be addressable too (`offset + length` on the wire).
        let _end = to_u32(self.arena.len());
        off
    }

    fn push_copy(&mut self, event: &Event<'_>, off: u32, len: usize) -> &mut Self {
        let source = self.sources.intern(event.source());
        self.push_fields(off, len, source, event.offset(), event.timestamp_ns());
        for (key, value) in event.attrs() {
            let key_id = self.keys.intern(key);
            let text_off = match value {
                AttrValue::Text(s) => self.append_text(s).into(),
                _ => 0,
            };
            let (kind, raw) = value.encode(text_off);
            self.attr_key_id.push(key_id);
            self.attr_kind.push(kind);
            self.attr_val.push(raw);
        }
        *self.attr_end.last_mut().expect("just pushed") = to_u32(self.attr_key_id.len());
        self
    }

    fn push_fields(
        &mut self,
        off: u32,
        len: usize,
        source: u32,
        offset: u64,
        ts: u64,
    ) -> &mut Self {
        self.msg_off.push(off);
        self.msg_len.push(to_u32(len));
        self.source_id.push(source);
        self.offset.push(offset);
        self.timestamp_ns.push(ts);
        self.attr_end.push(to_u32(self.attr_key_id.len()));
        self
    }
}

/// A wire offset or length: the contract caps the arena at 4 GiB (far above any memory
/// limit a plugin runs with).
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("a batch's text exceeds 4 GiB")
}

/// A per-batch dictionary (sources, attribute keys): strings stored once, looked up by a
/// short linear scan (batches have few distinct names), with a hash index past 16 names.
#[derive(Debug, Clone, Default, PartialEq)]
struct Dict {
    names: Vec<String>,
    index: HashMap<String, u32>,
    last: u32,
}

impl Dict {
    const SCAN: usize = 16;

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(last) = self.names.get(self.last as usize)
            && last == name
        {
            return self.last;
        }
        let found = if self.names.len() <= Self::SCAN {
            self.names.iter().position(|n| n == name).map(|i| i as u32)
        } else {
            self.index.get(name).copied()
        };
        let id = found.unwrap_or_else(|| {
            let id = to_u32(self.names.len());
            self.names.push(name.to_owned());
            if self.names.len() > Self::SCAN {
                if self.index.is_empty() {
                    self.index = self.names.iter().cloned().zip(0..).collect();
                } else {
                    self.index.insert(name.to_owned(), id);
                }
            }
            id
        });
        self.last = id;
        id
    }
}
