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

/// The columns of a batch, exactly as they cross into WebAssembly (`event-batch` in `wit/`).
pub type Columns = crate::wasm::wire::EventBatch;

/// A batch of events stored column-wise, with the acknowledgement handle of what it covers.
///
/// Invariant (kept by [`BatchBuilder`] and [`Batch::from_columns`], the only ways to make
/// one): every message and text attribute span in the arena is in bounds and valid UTF-8,
/// and every per-event column has one entry per event.
#[derive(Debug)]
pub struct Batch {
    cols: Columns,
    /// What this batch covers in its sources; acknowledged once every sink has it.
    pub ack: Ack,
    /// When the batch was started (its first line read): delivery latency counts from here.
    pub created: std::time::Instant,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            cols: empty_columns(),
            ack: Ack::none(),
            created: std::time::Instant::now(),
        }
    }
}

fn empty_columns() -> Columns {
    Columns {
        arena: Vec::new(),
        msg_off: Vec::new(),
        msg_len: Vec::new(),
        timestamp_ns: Vec::new(),
        source_id: Vec::new(),
        sources: Vec::new(),
        offset: Vec::new(),
        attr_end: Vec::new(),
        attr_key_id: Vec::new(),
        attr_keys: Vec::new(),
        attr_kind: Vec::new(),
        attr_val: Vec::new(),
    }
}

impl Batch {
    /// Number of events in the batch.
    pub fn len(&self) -> usize {
        self.cols.msg_off.len()
    }

    /// True when the batch holds no events (it may still carry positions to acknowledge).
    pub fn is_empty(&self) -> bool {
        self.cols.msg_off.is_empty()
    }

    /// Number of attributes over all events.
    pub fn attr_count(&self) -> usize {
        self.cols.attr_key_id.len()
    }

    /// Total bytes of message text, for byte counters.
    pub fn message_bytes(&self) -> u64 {
        self.cols.msg_len.iter().map(|&l| l as u64).sum()
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

    /// The columns, to hand to a WebAssembly plugin (one copy per column).
    pub fn columns(&self) -> &Columns {
        &self.cols
    }

    fn text(&self, off: u32, len: u32) -> &str {
        let bytes = &self.cols.arena[off as usize..off as usize + len as usize];
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
        let b = &self.batch.cols;
        self.batch
            .text(b.msg_off[self.index], b.msg_len[self.index])
    }

    /// Ingest time, nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> u64 {
        self.batch.cols.timestamp_ns[self.index]
    }

    /// Where the event came from (a file path, `stdin`, `demo`).
    pub fn source(&self) -> &'a str {
        let b = &self.batch.cols;
        &b.sources[b.source_id[self.index] as usize]
    }

    /// Byte offset of the line in its source: with the source, the event's stable id.
    pub fn offset(&self) -> u64 {
        self.batch.cols.offset[self.index]
    }

    /// The value of attribute `key`, if the event has it.
    pub fn attr(&self, key: &str) -> Option<AttrValue<'a>> {
        self.attrs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Every attribute of the event, in the order they were added.
    pub fn attrs(&self) -> impl Iterator<Item = (&'a str, AttrValue<'a>)> + 'a {
        let batch = self.batch;
        let b = &batch.cols;
        let (start, end) = attr_range(b, self.index);
        (start..end).map(move |i| {
            let key = b.attr_keys[b.attr_key_id[i] as usize].as_str();
            let raw = b.attr_val[i];
            let value = match b.attr_kind[i] {
                0 => AttrValue::Text(batch.text((raw >> 32) as u32, raw as u32)),
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
        let mut b = Batch::default();
        let c = &mut b.cols;
        c.msg_off.reserve(events);
        c.msg_len.reserve(events);
        c.timestamp_ns.reserve(events);
        c.source_id.reserve(events);
        c.offset.reserve(events);
        c.attr_end.reserve(events);
        c.sources.reserve(1);
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
        let sources = &mut self.batch.cols.sources;
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
        let b = &mut self.batch.cols;
        b.msg_off.push(off as u32);
        b.msg_len.push(len as u32);
        self.push_event_fields(source_id, offset, ts_ns);
    }

    /// Adds an event, copying `message` into the arena.
    pub fn push(&mut self, message: &str, source_id: u32, offset: u64, ts_ns: u64) {
        let b = &mut self.batch.cols;
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
        let b = &mut self.batch.cols;
        b.msg_off.push(start as u32);
        b.msg_len.push((self.arena.len() - start) as u32);
        self.push_event_fields(source_id, offset, ts_ns);
    }

    fn push_event_fields(&mut self, source_id: u32, offset: u64, ts_ns: u64) {
        let b = &mut self.batch.cols;
        debug_assert!((source_id as usize) < b.sources.len());
        b.timestamp_ns.push(ts_ns);
        b.source_id.push(source_id);
        b.offset.push(offset);
        b.attr_end.push(b.attr_key_id.len() as u32);
    }

    fn key_id(&mut self, key: &str) -> u32 {
        let keys = &mut self.batch.cols.attr_keys;
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
        let b = &mut self.batch.cols;
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
        self.batch.cols.arena = self.arena.into_bytes();
        self.batch.ack = ack;
        self.batch
    }
}

/// Attribute index range of event `i`.
fn attr_range(c: &Columns, i: usize) -> (usize, usize) {
    let start = if i == 0 {
        0
    } else {
        c.attr_end[i - 1] as usize
    };
    (start, c.attr_end[i] as usize)
}

/// Why columns from outside (a WebAssembly plugin) are not a valid batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid batch: {0}")]
pub struct InvalidBatch(pub String);

impl Batch {
    /// Checks columns from an untrusted producer (a plugin's transform) and wraps them:
    /// consistent lengths, dictionary ids and spans in bounds, UTF-8 text on char boundaries.
    pub fn from_columns(cols: Columns, ack: Ack) -> Result<Batch, InvalidBatch> {
        let bad = |m: String| Err(InvalidBatch(m));
        let n = cols.msg_off.len();
        for (name, len) in [
            ("msg-len", cols.msg_len.len()),
            ("timestamp-ns", cols.timestamp_ns.len()),
            ("source-id", cols.source_id.len()),
            ("offset", cols.offset.len()),
            ("attr-end", cols.attr_end.len()),
        ] {
            if len != n {
                return bad(format!("{name} has {len} entries for {n} events"));
            }
        }
        let attrs = cols.attr_key_id.len();
        if cols.attr_kind.len() != attrs || cols.attr_val.len() != attrs {
            return bad("attribute columns differ in length".into());
        }
        // Only the strings must be UTF-8 (a guest may leave other bytes in the arena): when
        // the whole arena is text, char boundaries suffice; otherwise each span is checked.
        let arena = &cols.arena;
        let whole = std::str::from_utf8(arena).ok();
        let span_ok = |off: u64, len: u64| {
            if off + len > arena.len() as u64 {
                return false;
            }
            let (start, end) = (off as usize, (off + len) as usize);
            match whole {
                Some(text) => text.is_char_boundary(start) && text.is_char_boundary(end),
                None => std::str::from_utf8(&arena[start..end]).is_ok(),
            }
        };
        let mut prev_end = 0;
        for i in 0..n {
            if !span_ok(cols.msg_off[i] as u64, cols.msg_len[i] as u64) {
                return bad(format!(
                    "event {i}: message span out of the arena or not UTF-8"
                ));
            }
            if cols.source_id[i] as usize >= cols.sources.len() {
                return bad(format!(
                    "event {i}: source id {} out of range",
                    cols.source_id[i]
                ));
            }
            let end = cols.attr_end[i];
            if end < prev_end || end as usize > attrs {
                return bad(format!("event {i}: attr-end {end} out of order or range"));
            }
            prev_end = end;
        }
        if prev_end as usize != attrs {
            return bad(format!("{attrs} attributes but attr-end covers {prev_end}"));
        }
        for a in 0..attrs {
            if cols.attr_key_id[a] as usize >= cols.attr_keys.len() {
                return bad(format!("attribute {a}: key id out of range"));
            }
            match cols.attr_kind[a] {
                0 if !span_ok(cols.attr_val[a] >> 32, cols.attr_val[a] & 0xFFFF_FFFF) => {
                    return bad(format!(
                        "attribute {a}: text span out of the arena or not UTF-8"
                    ));
                }
                3 if cols.attr_val[a] > 1 => {
                    return bad(format!(
                        "attribute {a}: bool value {} is neither 0 nor 1",
                        cols.attr_val[a]
                    ));
                }
                0..=3 => {}
                k => return bad(format!("attribute {a}: unknown kind {k}")),
            }
        }
        Ok(Batch {
            cols,
            ack,
            created: std::time::Instant::now(),
        })
    }

    /// A new batch (without ack) holding the events at `indices`, in that order, with only
    /// their text copied: what a search for poison events hands a plugin, and what a sink
    /// dead-letters.
    pub fn select(&self, indices: impl IntoIterator<Item = usize>) -> Batch {
        let mut out = Batch::default();
        out.append_events(self, indices)
            .expect("a subset of a valid batch fits in one");
        out
    }

    /// Appends the events of `other` at `indices` (in that order) to this batch, copying
    /// only their message and text attribute bytes (never the rest of `other`'s arena) and
    /// merging the dictionaries. Refused, with this batch unchanged, if the arena would
    /// outgrow the 4 GiB that `u32` offsets address.
    pub fn append_events(
        &mut self,
        other: &Batch,
        indices: impl IntoIterator<Item = usize>,
    ) -> Result<(), InvalidBatch> {
        let indices: Vec<usize> = indices.into_iter().collect();
        let src = &other.cols;
        let mut needed = self.cols.arena.len() as u64;
        for &i in &indices {
            needed += src.msg_len[i] as u64;
            let (start, end) = attr_range(src, i);
            for a in start..end {
                if src.attr_kind[a] == AttrKind::Text as u8 {
                    needed += src.attr_val[a] & 0xFFFF_FFFF;
                }
            }
        }
        if needed > u32::MAX as u64 {
            return Err(InvalidBatch(format!(
                "{needed} bytes of text do not fit in one batch (at most 4 GiB)"
            )));
        }
        let oc = &mut self.cols;
        oc.arena
            .reserve((needed as usize).saturating_sub(oc.arena.len()));
        // Dictionary ids of `other` mapped to this batch's, resolved on first use through
        // an index of this batch's entries (a plugin's dictionaries may be long).
        let mut source_map: Vec<Option<u32>> = vec![None; src.sources.len()];
        let mut key_map: Vec<Option<u32>> = vec![None; src.attr_keys.len()];
        let mut sources = Interner::of(&oc.sources);
        let mut keys = Interner::of(&oc.attr_keys);
        for i in indices {
            let (off, len) = (src.msg_off[i] as usize, src.msg_len[i] as usize);
            oc.msg_off.push(oc.arena.len() as u32);
            oc.msg_len.push(len as u32);
            oc.arena.extend_from_slice(&src.arena[off..off + len]);
            oc.timestamp_ns.push(src.timestamp_ns[i]);
            let sid = src.source_id[i] as usize;
            let id = *source_map[sid]
                .get_or_insert_with(|| sources.intern(&mut oc.sources, &src.sources[sid]));
            oc.source_id.push(id);
            oc.offset.push(src.offset[i]);
            let (start, end) = attr_range(src, i);
            for a in start..end {
                let kid = src.attr_key_id[a] as usize;
                let key = *key_map[kid]
                    .get_or_insert_with(|| keys.intern(&mut oc.attr_keys, &src.attr_keys[kid]));
                oc.attr_key_id.push(key);
                oc.attr_kind.push(src.attr_kind[a]);
                let v = src.attr_val[a];
                oc.attr_val
                    .push(if src.attr_kind[a] == AttrKind::Text as u8 {
                        let (off, len) = ((v >> 32) as usize, (v & 0xFFFF_FFFF) as usize);
                        let at = oc.arena.len() as u64;
                        oc.arena.extend_from_slice(&src.arena[off..off + len]);
                        (at << 32) | len as u64
                    } else {
                        v
                    });
            }
            oc.attr_end.push(oc.attr_key_id.len() as u32);
        }
        Ok(())
    }

    /// Bytes of text the events reference: their messages and text attributes, counted
    /// once per reference (a plugin may point many events at the same bytes). What sinks
    /// encode, so what a bound on a plugin's output must count.
    pub fn text_bytes(&self) -> u64 {
        let c = &self.cols;
        let messages: u64 = c.msg_len.iter().map(|&l| l as u64).sum();
        let attrs: u64 = c
            .attr_kind
            .iter()
            .zip(&c.attr_val)
            .filter(|(k, _)| **k == AttrKind::Text as u8)
            .map(|(_, v)| v & 0xFFFF_FFFF)
            .sum();
        messages + attrs
    }

    /// Keeps only the events at `indices` (ascending, in range), keeping the ack: the path of
    /// every dropping filter, so it compacts the per-event columns in place and leaves the
    /// arena alone (dropped messages' bytes stay there, unreferenced, until the batch goes).
    pub fn retain(&mut self, indices: &[u32]) {
        if indices.len() == self.len() {
            return;
        }
        let c = &mut self.cols;
        let mut attrs = 0;
        for (w, &i) in indices.iter().enumerate() {
            let i = i as usize;
            // Ascending indices: w <= i, so entry i (and i - 1, read by attr_range) is
            // still the original when it is read.
            let (start, end) = attr_range(c, i);
            c.msg_off[w] = c.msg_off[i];
            c.msg_len[w] = c.msg_len[i];
            c.timestamp_ns[w] = c.timestamp_ns[i];
            c.source_id[w] = c.source_id[i];
            c.offset[w] = c.offset[i];
            if start != attrs {
                c.attr_key_id.copy_within(start..end, attrs);
                c.attr_kind.copy_within(start..end, attrs);
                c.attr_val.copy_within(start..end, attrs);
            }
            attrs += end - start;
            c.attr_end[w] = attrs as u32;
        }
        let n = indices.len();
        for col in [
            &mut c.msg_off,
            &mut c.msg_len,
            &mut c.source_id,
            &mut c.attr_end,
        ] {
            col.truncate(n);
        }
        c.timestamp_ns.truncate(n);
        c.offset.truncate(n);
        c.attr_key_id.truncate(attrs);
        c.attr_kind.truncate(attrs);
        c.attr_val.truncate(attrs);
    }

    /// Replaces the events with `other`'s, keeping this batch's ack.
    pub fn replace_events(&mut self, other: Batch) {
        self.cols = other.cols;
    }
}

/// Ids of a dictionary's entries by value, so merging a long dictionary stays linear.
struct Interner {
    ids: std::collections::HashMap<String, u32>,
}

impl Interner {
    fn of(dict: &[String]) -> Self {
        let mut ids = std::collections::HashMap::with_capacity(dict.len());
        for (i, s) in dict.iter().enumerate() {
            ids.entry(s.clone()).or_insert(i as u32);
        }
        Interner { ids }
    }

    /// The id of `s` in `dict`, adding it if it is new.
    fn intern(&mut self, dict: &mut Vec<String>, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        dict.push(s.to_owned());
        let id = (dict.len() - 1) as u32;
        self.ids.insert(s.to_owned(), id);
        id
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

    fn sample() -> Batch {
        let mut b = BatchBuilder::with_capacity(3, 64);
        let a = b.source("a");
        b.push("one", a, 0, 1);
        b.attr("k", AttrValue::Text("v1"));
        let c = b.source("c");
        b.push("two", c, 4, 2);
        b.push("thrée", a, 8, 3);
        b.attr("n", AttrValue::Int(7));
        b.attr("k", AttrValue::Text("v3"));
        b.finish(Ack::none())
    }

    /// (message, source, attributes as (key, debug value)) of each event.
    type View = Vec<(String, String, Vec<(String, String)>)>;

    fn view(b: &Batch) -> View {
        b.iter()
            .map(|e| {
                let attrs = e
                    .attrs()
                    .map(|(k, v)| (k.to_owned(), format!("{v:?}")))
                    .collect();
                (e.message().to_owned(), e.source().to_owned(), attrs)
            })
            .collect()
    }

    #[test]
    fn select_and_append_keep_events_whole() {
        let b = sample();
        let picked = b.select([2, 0]);
        let v = view(&picked);
        assert_eq!(v[0].0, "thrée");
        assert_eq!(
            v[0].2,
            [
                ("n".into(), "Int(7)".into()),
                ("k".into(), "Text(\"v3\")".into())
            ]
        );
        assert_eq!(v[1].0, "one");
        let mut twice = b.select(0..3);
        twice.append_events(&b, [1]).unwrap();
        assert_eq!(view(&twice)[3], view(&b)[1]);
        assert_eq!(twice.columns().sources, ["a", "c"], "dictionaries merged");
        let mut r = sample();
        r.retain(&[1]);
        assert_eq!(view(&r), vec![view(&b)[1].clone()]);
    }

    #[test]
    fn retain_in_place_matches_select_for_every_subset() {
        let b = sample();
        for mask in 0u32..(1 << b.len()) {
            let kept: Vec<u32> = (0..b.len() as u32)
                .filter(|i| mask & (1 << i) != 0)
                .collect();
            let mut r = sample();
            r.retain(&kept);
            let picked = b.select(kept.iter().map(|&i| i as usize));
            assert_eq!(view(&r), view(&picked), "{kept:?}");
            assert_eq!(r.columns().offset, picked.columns().offset);
            assert_eq!(r.columns().timestamp_ns, picked.columns().timestamp_ns);
            assert_eq!(r.len(), kept.len());
            let attrs = r.columns().attr_end.last().copied().unwrap_or(0) as usize;
            assert_eq!(r.columns().attr_val.len(), attrs, "{kept:?}");
        }
    }

    #[test]
    fn foreign_columns_are_checked() {
        let good = sample();
        assert!(Batch::from_columns(good.columns().clone(), Ack::none()).is_ok());
        let mut c = good.columns().clone();
        c.msg_len[0] = 999;
        assert!(
            Batch::from_columns(c, Ack::none())
                .unwrap_err()
                .0
                .contains("event 0: message span")
        );
        let mut c = good.columns().clone();
        c.msg_off[2] += 4; // inside the two-byte é
        c.msg_len[2] = 1;
        assert!(Batch::from_columns(c, Ack::none()).is_err());
        let mut c = good.columns().clone();
        c.source_id[1] = 5;
        assert!(
            Batch::from_columns(c, Ack::none())
                .unwrap_err()
                .0
                .contains("source id")
        );
        let mut c = good.columns().clone();
        c.attr_end.pop();
        assert!(Batch::from_columns(c, Ack::none()).is_err());
        let mut c = good.columns().clone();
        c.arena.push(0xff); // bytes outside every string may be anything
        assert!(Batch::from_columns(c, Ack::none()).is_ok());
        let mut c = good.columns().clone();
        c.arena[0] = 0xff; // inside the first message
        let err = Batch::from_columns(c, Ack::none()).unwrap_err().0;
        assert!(err.contains("event 0: message span"), "{err}");
    }

    #[test]
    fn a_bool_attribute_is_zero_or_one() {
        let mut b = BatchBuilder::with_capacity(1, 8);
        let src = b.source("s");
        b.push("m", src, 0, 0);
        b.attr("ok", AttrValue::Bool(true));
        let good = b.finish(Ack::none());
        let mut c = good.columns().clone();
        c.attr_val[0] = 7;
        let err = Batch::from_columns(c, Ack::none()).unwrap_err().0;
        assert!(err.contains("bool value 7"), "{err}");
    }

    #[test]
    fn appending_text_beyond_4_gib_is_refused_before_anything_is_copied() {
        // 5000 events aliasing one 1 MiB span: 5 GB of text from a 1 MiB arena.
        let mut b = BatchBuilder::with_capacity(1, 1 << 20);
        let src = b.source("s");
        b.push(&"y".repeat(1 << 20), src, 0, 0);
        let one = b.finish(Ack::none());
        let mut c = one.columns().clone();
        for col in [
            &mut c.msg_off,
            &mut c.msg_len,
            &mut c.source_id,
            &mut c.attr_end,
        ] {
            let v = col[0];
            col.resize(5000, v);
        }
        c.timestamp_ns.resize(5000, 0);
        c.offset.resize(5000, 0);
        let aliased = Batch::from_columns(c, Ack::none()).unwrap();
        assert_eq!(aliased.text_bytes(), 5000 << 20);
        let mut out = Batch::default();
        let err = out.append_events(&aliased, 0..5000).unwrap_err().0;
        assert!(err.contains("do not fit"), "{err}");
        assert!(out.is_empty() && out.columns().arena.is_empty());
        out.append_events(&aliased, 0..3).unwrap();
        assert_eq!(
            out.columns().arena.len(),
            3 << 20,
            "aliases are copied apart"
        );
    }

    #[test]
    fn text_attributes_get_offsets_in_the_new_arena() {
        // An attribute far into a large arena lands at a small offset of the compact copy:
        // the offset is re-encoded, never added to (which could wrap).
        let b = sample();
        let picked = b.select([2]);
        let (raw, kind) = (picked.columns().attr_val[1], picked.columns().attr_kind[1]);
        assert_eq!(kind, AttrKind::Text as u8);
        assert_eq!(raw >> 32, "thrée".len() as u64, "right after the message");
        assert_eq!(picked.get(0).attr("k"), Some(AttrValue::Text("v3")));
    }
}
