//! Reading a batch: [`Batch`], [`Event`] and [`AttrValue`] over the columnar wire.

use crate::bindings::logcatch::plugin::types::EventBatch;

/// Wire tag of a text attribute (`attr-kind`).
pub(crate) const KIND_TEXT: u8 = 0;
/// Wire tag of an integer attribute.
pub(crate) const KIND_INT: u8 = 1;
/// Wire tag of a float attribute.
pub(crate) const KIND_FLOAT: u8 = 2;
/// Wire tag of a boolean attribute.
pub(crate) const KIND_BOOL: u8 = 3;

/// A typed attribute value, borrowed from a batch (or handed to a [`BatchBuilder`](crate::BatchBuilder)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrValue<'a> {
    /// UTF-8 text.
    Text(&'a str),
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl<'a> AttrValue<'a> {
    /// The text, if this is a text value.
    pub fn as_text(&self) -> Option<&'a str> {
        match *self {
            AttrValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer value.
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            AttrValue::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The float, if this is a float value.
    pub fn as_float(&self) -> Option<f64> {
        match *self {
            AttrValue::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            AttrValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The wire encoding: (`attr-kind`, `attr-val`), with text at `text_off` in the arena.
    pub(crate) fn encode(&self, text_off: u64) -> (u8, u64) {
        match *self {
            AttrValue::Text(s) => (KIND_TEXT, (text_off << 32) | s.len() as u64),
            AttrValue::Int(i) => (KIND_INT, i as u64),
            AttrValue::Float(f) => (KIND_FLOAT, f.to_bits()),
            AttrValue::Bool(b) => (KIND_BOOL, b as u64),
        }
    }
}

impl<'a> From<&'a str> for AttrValue<'a> {
    fn from(s: &'a str) -> Self {
        AttrValue::Text(s)
    }
}

impl<'a> From<&'a String> for AttrValue<'a> {
    fn from(s: &'a String) -> Self {
        AttrValue::Text(s)
    }
}

impl From<i64> for AttrValue<'_> {
    fn from(i: i64) -> Self {
        AttrValue::Int(i)
    }
}

impl From<i32> for AttrValue<'_> {
    fn from(i: i32) -> Self {
        AttrValue::Int(i.into())
    }
}

impl From<u32> for AttrValue<'_> {
    fn from(i: u32) -> Self {
        AttrValue::Int(i.into())
    }
}

impl From<f64> for AttrValue<'_> {
    fn from(f: f64) -> Self {
        AttrValue::Float(f)
    }
}

impl From<bool> for AttrValue<'_> {
    fn from(b: bool) -> Self {
        AttrValue::Bool(b)
    }
}

/// An attribute key looked up once per batch with [`Batch::attr_key`], for fast per-event
/// reads with [`Event::attr_by`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrKey(u32);

/// The batch of events logcatch hands to [`Filter::process`](crate::Filter::process).
///
/// Read it with [`iter`](Batch::iter) (or `for event in &batch`); every event is an
/// [`Event`] with typed accessors. Build your own (in tests) with
/// [`Batch::from_messages`] or [`BatchBuilder::build`](crate::BatchBuilder::build).
#[derive(Debug, Clone)]
pub struct Batch {
    /// The arena, checked as UTF-8 once per batch.
    text: String,
    /// The other columns (`cols.arena` is empty: its bytes are in `text`).
    cols: EventBatch,
}

impl Batch {
    /// Number of events in the batch.
    pub fn len(&self) -> usize {
        self.cols.msg_off.len()
    }

    /// True when the batch has no events.
    pub fn is_empty(&self) -> bool {
        self.cols.msg_off.is_empty()
    }

    /// The events, in order.
    pub fn iter(&self) -> Events<'_> {
        Events {
            batch: self,
            range: 0..self.len(),
        }
    }

    /// The event at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<Event<'_>> {
        (index < self.len()).then_some(Event { batch: self, index })
    }

    /// Looks up an attribute key once for the whole batch: `None` when no event has it.
    ///
    /// With many events, `event.attr_by(key)` is faster than `event.attr("name")`, which
    /// compares key strings for every attribute of every event.
    pub fn attr_key(&self, name: &str) -> Option<AttrKey> {
        self.cols
            .attr_keys
            .iter()
            .position(|k| k == name)
            .map(|i| AttrKey(i as u32))
    }

    /// A batch of `messages` from source `test`, with byte offsets as if they were
    /// consecutive lines of one file and timestamps `0, 1, 2, ...`: for unit tests.
    pub fn from_messages<S: AsRef<str>>(messages: impl IntoIterator<Item = S>) -> Batch {
        let mut b = crate::BatchBuilder::new();
        let mut offset = 0u64;
        for (i, m) in messages.into_iter().enumerate() {
            let m = m.as_ref();
            b.push(m, "test", offset, i as u64);
            offset += m.len() as u64 + 1;
        }
        b.build()
    }

    /// Takes a batch from the wire, checking its shape so that no accessor can fail later.
    #[doc(hidden)]
    pub fn from_wire(mut cols: EventBatch) -> Result<Batch, String> {
        let arena = std::mem::take(&mut cols.arena);
        let (text, ascii) = arena_text(arena);
        if !(ascii && well_formed_ascii(text.len(), &cols)) {
            check_shape(&text, ascii, &cols)
                .map_err(|e| format!("logcatch sent a malformed batch: {e}"))?;
        }
        Ok(Batch { text, cols })
    }

    /// Assembles a batch from columns the SDK built itself (the builder's output).
    pub(crate) fn from_parts(text: String, cols: EventBatch) -> Batch {
        debug_assert_eq!(check_shape(&text, false, &cols), Ok(()));
        Batch { text, cols }
    }

    /// The arena text (for copying spans out in tests of the builder).
    #[cfg(test)]
    pub(crate) fn arena_len(&self) -> usize {
        self.text.len()
    }

    /// Checks the batch's own shape, for tests.
    #[cfg(test)]
    pub(crate) fn check(&self) -> Result<(), String> {
        check_shape(&self.text, false, &self.cols)
    }

    /// The columns other than the arena, for the builder's tests.
    #[cfg(test)]
    pub(crate) fn columns(&self) -> &EventBatch {
        &self.cols
    }

    fn span(&self, off: u64, len: u64) -> &str {
        // SAFETY: every span is in bounds and on char boundaries: `from_wire` checks the
        // host's batches with `check_shape`, and the builder makes only such spans (which
        // `from_parts` asserts in debug builds). Unchecked: this is every event's message
        // read, and the checks cost a fifth of a simple filter's time.
        unsafe { self.text.get_unchecked(off as usize..(off + len) as usize) }
    }

    fn attr_range(&self, index: usize) -> std::ops::Range<usize> {
        let start = match index {
            0 => 0,
            i => self.cols.attr_end[i - 1] as usize,
        };
        start..self.cols.attr_end[index] as usize
    }

    fn attr_value(&self, a: usize) -> AttrValue<'_> {
        let raw = self.cols.attr_val[a];
        match self.cols.attr_kind[a] {
            KIND_TEXT => AttrValue::Text(self.span(raw >> 32, raw & 0xFFFF_FFFF)),
            KIND_INT => AttrValue::Int(raw as i64),
            KIND_FLOAT => AttrValue::Float(f64::from_bits(raw)),
            _ => AttrValue::Bool(raw != 0),
        }
    }
}

impl<'a> IntoIterator for &'a Batch {
    type Item = Event<'a>;
    type IntoIter = Events<'a>;

    fn into_iter(self) -> Events<'a> {
        self.iter()
    }
}

/// Iterator over the events of a [`Batch`], in order.
#[derive(Debug, Clone)]
pub struct Events<'a> {
    batch: &'a Batch,
    range: std::ops::Range<usize>,
}

impl<'a> Iterator for Events<'a> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        self.range.next().map(|index| Event {
            batch: self.batch,
            index,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl DoubleEndedIterator for Events<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.range.next_back().map(|index| Event {
            batch: self.batch,
            index,
        })
    }
}

impl ExactSizeIterator for Events<'_> {}

/// One event (log line) of a [`Batch`]: cheap to copy, read through typed accessors.
#[derive(Clone, Copy)]
pub struct Event<'a> {
    batch: &'a Batch,
    index: usize,
}

impl<'a> Event<'a> {
    /// The log line, without its newline.
    pub fn message(&self) -> &'a str {
        let c = &self.batch.cols;
        self.batch
            .span(c.msg_off[self.index].into(), c.msg_len[self.index].into())
    }

    /// Where the event came from: a file path, `stdin`, ...
    pub fn source(&self) -> &'a str {
        let c = &self.batch.cols;
        &c.sources[c.source_id[self.index] as usize]
    }

    /// Byte offset of the line in its source; with the source, the event's stable id.
    pub fn offset(&self) -> u64 {
        self.batch.cols.offset[self.index]
    }

    /// Ingest time, in nanoseconds since the Unix epoch.
    pub fn timestamp_ns(&self) -> u64 {
        self.batch.cols.timestamp_ns[self.index]
    }

    /// The value of attribute `key` (the first one, should the wire repeat a key).
    pub fn attr(&self, key: &str) -> Option<AttrValue<'a>> {
        self.attrs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The value of the attribute `key` (from [`Batch::attr_key`]): `attr` without string
    /// comparisons.
    pub fn attr_by(&self, key: AttrKey) -> Option<AttrValue<'a>> {
        let b = self.batch;
        b.attr_range(self.index)
            .find(|&a| b.cols.attr_key_id[a] == key.0)
            .map(|a| b.attr_value(a))
    }

    /// Every attribute of the event, as `(key, value)`, in the order they were added.
    pub fn attrs(&self) -> impl ExactSizeIterator<Item = (&'a str, AttrValue<'a>)> + 'a {
        let b = self.batch;
        b.attr_range(self.index).map(move |a| {
            (
                b.cols.attr_keys[b.cols.attr_key_id[a] as usize].as_str(),
                b.attr_value(a),
            )
        })
    }

    /// The event's position in its batch (what `Verdict::Keep` lists).
    pub fn index(&self) -> usize {
        self.index
    }
}

impl std::fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("index", &self.index)
            .field("message", &self.message())
            .field("source", &self.source())
            .field("offset", &self.offset())
            .field("timestamp_ns", &self.timestamp_ns())
            .field("attrs", &self.attrs().collect::<Vec<_>>())
            .finish()
    }
}

/// The arena as text, and whether it is all ASCII. logcatch's own arenas are all UTF-8 (log
/// lines are made valid at the source) and mostly ASCII, which [`is_ascii`] confirms several
/// times faster than a full UTF-8 validation, and which makes every offset a char boundary.
fn arena_text(mut arena: Vec<u8>) -> (String, bool) {
    let ascii = is_ascii(&arena);
    if !ascii {
        // Only the strings are UTF-8 (the host checks every span); bytes between them may
        // be anything a non-SDK plugin left there. Those become `?`, which no span covers.
        let mut pos = 0;
        while let Err(e) = std::str::from_utf8(&arena[pos..]) {
            let start = pos + e.valid_up_to();
            let len = e.error_len().unwrap_or(arena.len() - start);
            arena[start..start + len].fill(b'?');
            pos = start + len;
        }
    }
    // SAFETY: ASCII, or made valid UTF-8 above.
    (unsafe { String::from_utf8_unchecked(arena) }, ascii)
}

/// True when every byte is ASCII: ORs 16 bytes at a time with WebAssembly SIMD (8 without),
/// and checks every 256 bytes (measured in wasmtime: ~2 ns per 100-byte event).
fn is_ascii(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(256);
    for block in &mut blocks {
        if !block_is_ascii(block.try_into().expect("256 bytes")) {
            return false;
        }
    }
    blocks.remainder().iter().all(u8::is_ascii)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
fn block_is_ascii(block: &[u8; 256]) -> bool {
    use core::arch::wasm32::*;
    let mut acc = u8x16_splat(0);
    for chunk in block.chunks_exact(16) {
        // SAFETY: `chunk` is 16 readable bytes; v128_load has no alignment requirement.
        acc = v128_or(acc, unsafe { v128_load(chunk.as_ptr().cast()) });
    }
    u8x16_bitmask(acc) == 0
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline]
fn block_is_ascii(block: &[u8; 256]) -> bool {
    let mut acc = 0u64;
    for w in block.chunks_exact(8) {
        acc |= u64::from_le_bytes(w.try_into().expect("8 bytes"));
    }
    acc & 0x8080_8080_8080_8080 == 0
}

/// [`check_shape`] for an ASCII arena (where every offset is a char boundary), as one
/// branch-free pass over each column that says only whether all is well: the common case,
/// at about 1 ns per event instead of 6. `check_shape` then finds the fault, if any.
fn well_formed_ascii(arena: usize, c: &EventBatch) -> bool {
    let n = c.msg_off.len();
    let attrs = c.attr_key_id.len();
    if [
        c.msg_len.len(),
        c.timestamp_ns.len(),
        c.source_id.len(),
        c.offset.len(),
        c.attr_end.len(),
    ]
    .iter()
    .any(|&len| len != n)
        || c.attr_kind.len() != attrs
        || c.attr_val.len() != attrs
    {
        return false;
    }
    let (arena, sources, keys) = (
        arena as u64,
        c.sources.len() as u32,
        c.attr_keys.len() as u32,
    );
    let mut bad = false;
    for (&off, &len) in c.msg_off.iter().zip(&c.msg_len) {
        bad |= u64::from(off) + u64::from(len) > arena;
    }
    for &id in &c.source_id {
        bad |= id >= sources;
    }
    let mut prev = 0;
    for &end in &c.attr_end {
        bad |= end < prev;
        prev = end;
    }
    bad |= prev as usize != attrs;
    for ((&key, &kind), &val) in c.attr_key_id.iter().zip(&c.attr_kind).zip(&c.attr_val) {
        bad |= key >= keys || kind > KIND_BOOL;
        bad |= kind == KIND_TEXT && (val >> 32) + (val & 0xFFFF_FFFF) > arena;
    }
    !bad
}

/// Checks everything the accessors rely on: column lengths, dictionary ids, attribute
/// ranges, kinds, and text spans in bounds and on char boundaries (every offset is one when
/// the arena is `ascii`).
fn check_shape(text: &str, ascii: bool, c: &EventBatch) -> Result<(), String> {
    let n = c.msg_off.len();
    for (name, len) in [
        ("msg-len", c.msg_len.len()),
        ("timestamp-ns", c.timestamp_ns.len()),
        ("source-id", c.source_id.len()),
        ("offset", c.offset.len()),
        ("attr-end", c.attr_end.len()),
    ] {
        if len != n {
            return Err(format!("{name} has {len} entries for {n} events"));
        }
    }
    let attrs = c.attr_key_id.len();
    if c.attr_kind.len() != attrs || c.attr_val.len() != attrs {
        return Err("attribute columns differ in length".into());
    }
    let span_ok = |off: u64, len: u64| {
        off + len <= text.len() as u64
            && (ascii
                || text.is_char_boundary(off as usize)
                    && text.is_char_boundary((off + len) as usize))
    };
    let mut prev_end = 0;
    for i in 0..n {
        if !span_ok(c.msg_off[i].into(), c.msg_len[i].into()) {
            return Err(format!(
                "event {i}: message span out of the arena or inside a character"
            ));
        }
        if c.source_id[i] as usize >= c.sources.len() {
            return Err(format!(
                "event {i}: source id {} out of range",
                c.source_id[i]
            ));
        }
        let end = c.attr_end[i];
        if end < prev_end || end as usize > attrs {
            return Err(format!("event {i}: attr-end {end} out of order or range"));
        }
        prev_end = end;
    }
    if prev_end as usize != attrs {
        return Err(format!("{attrs} attributes but attr-end covers {prev_end}"));
    }
    for a in 0..attrs {
        if c.attr_key_id[a] as usize >= c.attr_keys.len() {
            return Err(format!("attribute {a}: key id out of range"));
        }
        match c.attr_kind[a] {
            KIND_TEXT if !span_ok(c.attr_val[a] >> 32, c.attr_val[a] & 0xFFFF_FFFF) => {
                return Err(format!(
                    "attribute {a}: text span out of the arena or inside a character"
                ));
            }
            KIND_TEXT..=KIND_BOOL => {}
            k => return Err(format!("attribute {a}: unknown kind {k}")),
        }
    }
    Ok(())
}
