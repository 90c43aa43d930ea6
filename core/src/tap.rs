//! The tap: a sample of the events flowing at one point of a running pipeline, for the
//! console (`GET /tap`, `logcatch tap`, the status page).
//!
//! A pipeline has one [`Tap`] with a point after its sources (`source`), one around each
//! filter (`filters[N]`: its input, each event with its verdict) and one before its sinks
//! (`sinks`: every sink gets the same batch). The stage that owns a point offers it each
//! batch; nobody watching costs one relaxed atomic load per batch and point. A watcher
//! gets at most [`PER_BATCH`] events of each batch, copied out, through a channel of
//! [`QUEUED_CHUNKS`] chunks; what does not fit (a full channel, a big batch) is counted as
//! skipped and reported with the next chunk, never waited for nor even looked at: a watcher
//! that is behind costs a batch one atomic add, and memory is bounded whatever the rate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::mpsc;

use crate::batch::{AttrValue, Batch, EventRef};

/// Most events one watcher takes from one batch (the rest of the batch is skipped).
pub const PER_BATCH: usize = 64;

/// Chunks (one per batch) that may wait for a watcher that reads slowly.
pub const QUEUED_CHUNKS: usize = 16;

/// The longest message or attribute text a tapped event carries (longer ones are cut).
pub const MAX_TEXT: usize = 16 * 1024;

/// Which events a watcher wants: all of these must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    /// The message contains this text.
    pub contains: Option<String>,
    /// Attribute `key` equals `value` (compared as text: `n=3`, `ok=true`).
    pub equals: Vec<(String, String)>,
}

impl Condition {
    /// Whether `event` matches.
    pub fn matches(&self, event: &EventRef<'_>) -> bool {
        if let Some(text) = &self.contains
            && memchr::memmem::find(event.message().as_bytes(), text.as_bytes()).is_none()
        {
            return false;
        }
        self.equals
            .iter()
            .all(|(key, want)| event.attr(key).is_some_and(|value| value_is(value, want)))
    }
}

/// Whether `value`, written as text, is `want`.
fn value_is(value: AttrValue<'_>, want: &str) -> bool {
    match value {
        AttrValue::Text(t) => t == want,
        AttrValue::Int(i) => want.parse::<i64>() == Ok(i),
        AttrValue::Float(f) => want.parse::<f64>() == Ok(f),
        AttrValue::Bool(b) => want.parse::<bool>() == Ok(b),
    }
}

/// An attribute value copied out of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// Signed integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
}

/// One event as a watcher sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TapEvent {
    /// The log line (cut at [`MAX_TEXT`] bytes).
    pub message: String,
    /// Where it came from (a file path, `demo`).
    pub source: String,
    /// Its byte offset in the source.
    pub offset: u64,
    /// Ingest time, nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// Its attributes, in order.
    pub attributes: Vec<(String, Value)>,
    /// At a filter: what the filter did with it.
    pub verdict: Option<Verdict>,
}

/// What a filter did with one event of its input.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Passed on unchanged.
    Kept,
    /// Not passed on (dropped, or dead-lettered).
    Dropped,
    /// Passed on changed: the message and attributes it left with.
    Changed {
        /// The message after the filter.
        message: String,
        /// The attributes after the filter.
        attributes: Vec<(String, Value)>,
    },
}

/// What a watcher receives for one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    /// Events that went by unshown before these, the watcher being behind or the batch's
    /// share taken (with a condition, not all of them matched it: they were not looked at).
    pub skipped: u64,
    /// The events shown.
    pub events: Vec<TapEvent>,
}

/// One watcher of one point.
#[derive(Debug)]
struct Subscriber {
    condition: Condition,
    tx: mpsc::Sender<Chunk>,
    /// Matching events skipped since the last chunk that got through (shared with the
    /// [`Watch`], which reports them itself once it has caught up).
    skipped: Arc<AtomicU64>,
}

impl Subscriber {
    /// Sends `chunk` (with what was skipped before it), or counts its events and `extra`
    /// as skipped if the watcher is behind.
    fn deliver(&self, mut chunk: Chunk, extra: u64) {
        let before = self.skipped.swap(0, Ordering::Relaxed);
        chunk.skipped = before;
        let shown = chunk.events.len() as u64;
        if let Err(e) = self.tx.try_send(chunk) {
            let lost = match e {
                mpsc::error::TrySendError::Full(c) | mpsc::error::TrySendError::Closed(c) => c,
            };
            self.skipped
                .fetch_add(lost.skipped + shown + extra, Ordering::Relaxed);
        } else {
            self.skipped.fetch_add(extra, Ordering::Relaxed);
        }
    }

    /// The events of `batch` this watcher takes (at most [`PER_BATCH`] that match), and
    /// how many went by unshown: all of them when its queue is full (nothing is looked at
    /// then), else those after the last one taken, unexamined.
    fn select(&self, batch: &Batch) -> (Vec<usize>, u64) {
        if self.tx.capacity() == 0 {
            return (Vec::new(), batch.len() as u64);
        }
        let mut taken = Vec::new();
        for (i, event) in batch.iter().enumerate() {
            if self.condition.matches(&event) {
                taken.push(i);
                if taken.len() == PER_BATCH {
                    return (taken, (batch.len() - i - 1) as u64);
                }
            }
        }
        (taken, 0)
    }
}

/// One point of a pipeline.
#[derive(Debug, Default)]
struct Point {
    /// Watchers now: the only thing the hot path reads when it is 0.
    watchers: AtomicUsize,
    subscribers: Mutex<Vec<(u64, Arc<Subscriber>)>>,
}

impl Point {
    /// The watchers, if there are any (one lock per batch, only while watched).
    fn watching(&self) -> Option<Vec<Arc<Subscriber>>> {
        if self.watchers.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        Some(subs.iter().map(|(_, s)| s.clone()).collect())
    }
}

/// The taps of one pipeline: `source`, one per filter, `sinks`.
#[derive(Debug)]
pub struct Tap {
    points: Vec<Point>,
    next_id: AtomicU64,
}

/// Events of a filter's input taken before the filter ran, waiting for its output.
#[derive(Debug)]
pub struct Captured {
    taken: Vec<(Arc<Subscriber>, Vec<TapEvent>, u64)>,
}

/// A point's name was not one of the pipeline's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no point `{given}`; points: {}", .points.join(", "))]
pub struct UnknownPoint {
    /// What was asked for.
    pub given: String,
    /// The pipeline's points.
    pub points: Vec<String>,
}

impl Tap {
    /// The taps of a pipeline with `filters` filters, nobody watching.
    pub fn new(filters: usize) -> Arc<Tap> {
        Arc::new(Tap {
            points: (0..filters + 2).map(|_| Point::default()).collect(),
            next_id: AtomicU64::new(0),
        })
    }

    /// The points' names, in order: `source`, `filters[0]`, ..., `sinks`.
    pub fn points(&self) -> Vec<String> {
        let filters = self.points.len() - 2;
        std::iter::once("source".to_string())
            .chain((0..filters).map(|i| format!("filters[{i}]")))
            .chain(std::iter::once("sinks".to_string()))
            .collect()
    }

    /// The index of the point `name` names: `source`/`sources`, `filters[N]`/`filter:N`,
    /// `sinks`/`sink`/`sinks[N]`/`sink:N` (every sink gets the same events).
    pub fn point(&self, name: &str) -> Result<usize, UnknownPoint> {
        let filters = self.points.len() - 2;
        let unknown = || UnknownPoint {
            given: name.to_string(),
            points: self.points(),
        };
        let numbered = |prefix: &str, colon: &str| {
            name.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(']'))
                .or_else(|| name.strip_prefix(colon))
                .map(|n| n.parse::<usize>())
        };
        match name {
            "source" | "sources" => Ok(0),
            "sinks" | "sink" => Ok(filters + 1),
            _ => {
                if let Some(n) = numbered("filters[", "filter:") {
                    return match n {
                        Ok(n) if n < filters => Ok(n + 1),
                        _ => Err(unknown()),
                    };
                }
                match numbered("sinks[", "sink:") {
                    Some(Ok(_)) => Ok(filters + 1),
                    _ => Err(unknown()),
                }
            }
        }
    }

    /// Starts watching point `index` (from [`point`](Self::point)) for events matching
    /// `condition`; watching ends when the [`Watch`] is dropped, or when the pipeline
    /// stops (the watch's channel then ends).
    pub fn watch(self: &Arc<Tap>, index: usize, condition: Condition) -> Watch {
        let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let point = &self.points[index];
        let subscriber = Arc::new(Subscriber {
            condition,
            tx,
            skipped: Arc::new(AtomicU64::new(0)),
        });
        let skipped = subscriber.skipped.clone();
        let mut subs = point.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subs.push((id, subscriber));
        point.watchers.store(subs.len(), Ordering::Relaxed);
        drop(subs);
        Watch {
            rx,
            tap: Arc::downgrade(self),
            index,
            id,
            skipped,
        }
    }

    /// Offers `batch` at the point after the sources.
    pub fn after_sources(&self, batch: &Batch) {
        self.offer(0, batch);
    }

    /// Offers `batch` at the point before the sinks.
    pub fn before_sinks(&self, batch: &Batch) {
        self.offer(self.points.len() - 1, batch);
    }

    /// Offers `batch` at point `index`: each watcher's matching events are copied out.
    fn offer(&self, index: usize, batch: &Batch) {
        let Some(subs) = self.points[index].watching() else {
            return;
        };
        for sub in subs {
            let (taken, more) = sub.select(batch);
            if taken.is_empty() {
                sub.skipped.fetch_add(more, Ordering::Relaxed);
                continue;
            }
            let events = taken.iter().map(|&i| copy(&batch.get(i))).collect();
            sub.deliver(Chunk { skipped: 0, events }, more);
        }
    }

    /// Takes what the watchers of filter `filter`'s point want from its input `batch`,
    /// before the filter runs (`None` when nobody watches: the usual case).
    pub fn before_filter(&self, filter: usize, batch: &Batch) -> Option<Captured> {
        let subs = self.points[filter + 1].watching()?;
        let taken = subs
            .into_iter()
            .filter_map(|sub| {
                let (taken, more) = sub.select(batch);
                if taken.is_empty() {
                    sub.skipped.fetch_add(more, Ordering::Relaxed);
                    return None;
                }
                let events = taken.iter().map(|&i| copy(&batch.get(i))).collect();
                Some((sub, events, more))
            })
            .collect();
        Some(Captured { taken })
    }

    /// Gives each event taken by [`before_filter`](Self::before_filter) its verdict, from
    /// the filter's `output` (an event is matched to its output by source and offset),
    /// and hands them to their watchers.
    pub fn after_filter(&self, captured: Captured, output: &Batch) {
        if captured.taken.is_empty() {
            return;
        }
        let mut by_origin: HashMap<(&str, u64), usize> = HashMap::with_capacity(output.len());
        for (i, event) in output.iter().enumerate() {
            by_origin
                .entry((event.source(), event.offset()))
                .or_insert(i);
        }
        for (sub, mut events, more) in captured.taken {
            for event in &mut events {
                let verdict = match by_origin.get(&(event.source.as_str(), event.offset)) {
                    None => Verdict::Dropped,
                    Some(&i) => {
                        let after = copy(&output.get(i));
                        if after.message == event.message && after.attributes == event.attributes {
                            Verdict::Kept
                        } else {
                            Verdict::Changed {
                                message: after.message,
                                attributes: after.attributes,
                            }
                        }
                    }
                };
                event.verdict = Some(verdict);
            }
            sub.deliver(Chunk { skipped: 0, events }, more);
        }
    }
}

/// `event` copied out of its batch, texts cut at [`MAX_TEXT`].
fn copy(event: &EventRef<'_>) -> TapEvent {
    TapEvent {
        message: cut(event.message()),
        source: event.source().to_string(),
        offset: event.offset(),
        timestamp_ns: event.timestamp_ns(),
        attributes: event
            .attrs()
            .map(|(k, v)| {
                let v = match v {
                    AttrValue::Text(t) => Value::Text(cut(t)),
                    AttrValue::Int(i) => Value::Int(i),
                    AttrValue::Float(f) => Value::Float(f),
                    AttrValue::Bool(b) => Value::Bool(b),
                };
                (cut(k), v)
            })
            .collect(),
        verdict: None,
    }
}

/// `text`, cut at [`MAX_TEXT`] bytes (on a character boundary).
fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_string();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// A watcher's end of a tap: chunks arrive on [`next`](Self::next) until the pipeline stops.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::Receiver<Chunk>,
    tap: Weak<Tap>,
    index: usize,
    id: u64,
    /// Its subscriber's count of events skipped since the last chunk that got through.
    skipped: Arc<AtomicU64>,
}

impl Watch {
    /// The next chunk, or `None` once the pipeline has stopped. A watcher that has read
    /// every queued chunk is told at once what it skipped meanwhile (a chunk of no events),
    /// not only with the next chunk, which may never come.
    pub async fn next(&mut self) -> Option<Chunk> {
        match self.rx.try_recv() {
            Ok(chunk) => return Some(chunk),
            Err(mpsc::error::TryRecvError::Empty) => {}
            Err(mpsc::error::TryRecvError::Disconnected) => return self.skipped_since(),
        }
        if let Some(chunk) = self.skipped_since() {
            return Some(chunk);
        }
        match self.rx.recv().await {
            Some(chunk) => Some(chunk),
            None => self.skipped_since(),
        }
    }

    /// What was skipped since the last chunk, as a chunk of its own, if anything.
    fn skipped_since(&self) -> Option<Chunk> {
        let skipped = self.skipped.swap(0, Ordering::Relaxed);
        (skipped > 0).then(|| Chunk {
            skipped,
            events: Vec::new(),
        })
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let Some(tap) = self.tap.upgrade() else {
            return;
        };
        let point = &tap.points[self.index];
        let mut subs = point.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|(id, _)| *id != self.id);
        point.watchers.store(subs.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::Ack;
    use crate::batch::BatchBuilder;

    /// A batch of `lines`, offsets 0, 1, ... from source `f`, each with `level` taken from
    /// its first word.
    fn batch(lines: &[&str]) -> Batch {
        let mut b = BatchBuilder::with_capacity(lines.len(), 256);
        let src = b.source("f");
        for (i, line) in lines.iter().enumerate() {
            b.push(line, src, i as u64, 7);
            b.attr("level", AttrValue::Text(line.split(' ').next().unwrap()));
        }
        b.finish(Ack::none())
    }

    #[test]
    fn names_its_points_and_reads_every_spelling() {
        let tap = Tap::new(2);
        assert_eq!(
            tap.points(),
            ["source", "filters[0]", "filters[1]", "sinks"]
        );
        for (name, index) in [
            ("source", 0),
            ("sources", 0),
            ("filters[0]", 1),
            ("filter:1", 2),
            ("sinks", 3),
            ("sink:0", 3),
            ("sinks[4]", 3),
        ] {
            assert_eq!(tap.point(name), Ok(index), "{name}");
        }
        let err = tap.point("filters[2]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no point `filters[2]`; points: source, filters[0], filters[1], sinks"
        );
        assert!(tap.point("filter:x").is_err());
        assert!(tap.point("middle").is_err());
    }

    #[tokio::test]
    async fn nobody_watching_takes_nothing_and_a_dropped_watch_stops_taking() {
        let tap = Tap::new(0);
        tap.after_sources(&batch(&["INFO a"]));
        let mut watch = tap.watch(0, Condition::default());
        tap.after_sources(&batch(&["INFO b"]));
        let chunk = watch.next().await.unwrap();
        assert_eq!(chunk.events[0].message, "INFO b");
        assert_eq!(chunk.events[0].source, "f");
        assert_eq!(chunk.events[0].timestamp_ns, 7);
        assert_eq!(
            chunk.events[0].attributes,
            [("level".to_string(), Value::Text("INFO".into()))]
        );
        drop(watch);
        assert_eq!(tap.points[0].watchers.load(Ordering::Relaxed), 0);
        assert!(tap.points[0].watching().is_none());
    }

    #[tokio::test]
    async fn a_condition_picks_events_by_attribute_and_text() {
        let tap = Tap::new(0);
        let mut errors = tap.watch(
            1,
            Condition {
                contains: Some("disk".into()),
                equals: vec![("level".into(), "ERROR".into())],
            },
        );
        tap.before_sinks(&batch(&["ERROR disk full", "ERROR net", "INFO disk ok"]));
        let chunk = errors.next().await.unwrap();
        let messages: Vec<_> = chunk.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["ERROR disk full"]);
        let n = Condition {
            contains: None,
            equals: vec![("n".into(), "3".into())],
        };
        let mut b = BatchBuilder::with_capacity(1, 8);
        let src = b.source("f");
        b.push("x", src, 0, 0);
        b.attr("n", AttrValue::Int(3));
        let b = b.finish(Ack::none());
        assert!(n.matches(&b.get(0)));
    }

    #[tokio::test]
    async fn a_slow_watcher_skips_and_is_told_how_many() {
        let tap = Tap::new(0);
        let mut watch = tap.watch(0, Condition::default());
        let lines: Vec<String> = (0..PER_BATCH + 10).map(|i| format!("INFO {i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let big = batch(&refs);
        // One chunk more than the channel holds: the last is skipped whole.
        for _ in 0..QUEUED_CHUNKS + 1 {
            tap.after_sources(&big);
        }
        let (mut shown, mut skipped) = (0, 0);
        for _ in 0..QUEUED_CHUNKS {
            let chunk = watch.next().await.unwrap();
            assert_eq!(chunk.events.len(), PER_BATCH);
            shown += chunk.events.len() as u64;
            skipped += chunk.skipped;
        }
        tap.after_sources(&batch(&["INFO last"]));
        let last = watch.next().await.unwrap();
        assert_eq!(last.events[0].message, "INFO last");
        skipped += last.skipped;
        assert_eq!(
            skipped,
            (QUEUED_CHUNKS as u64) * 10 + (PER_BATCH as u64 + 10),
            "10 of each batch, and the whole last one"
        );
        let offered = (QUEUED_CHUNKS as u64 + 1) * (PER_BATCH as u64 + 10);
        assert_eq!(shown + skipped, offered, "every event shown or counted");
    }

    #[tokio::test]
    async fn a_watcher_that_caught_up_is_told_what_it_skipped_without_waiting() {
        let tap = Tap::new(0);
        let mut watch = tap.watch(0, Condition::default());
        let lines: Vec<String> = (0..PER_BATCH + 5).map(|i| format!("INFO {i}")).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        for _ in 0..QUEUED_CHUNKS + 2 {
            tap.after_sources(&batch(&refs));
        }
        let mut skipped = 0;
        for _ in 0..QUEUED_CHUNKS {
            skipped += watch.next().await.unwrap().skipped;
        }
        // Nothing more comes through, but what went by is said at once.
        let told = tokio::time::timeout(std::time::Duration::from_secs(1), watch.next())
            .await
            .expect("not waiting for a next chunk")
            .unwrap();
        assert!(told.events.is_empty());
        skipped += told.skipped;
        assert_eq!(
            skipped,
            QUEUED_CHUNKS as u64 * 5 + 2 * (PER_BATCH as u64 + 5),
            "5 of each batch that got through, and the two skipped whole"
        );
        drop(tap);
        assert_eq!(watch.next().await, None, "nothing left to say");
    }

    #[tokio::test]
    async fn a_filter_point_shows_each_input_event_with_its_verdict() {
        let tap = Tap::new(1);
        let mut watch = tap.watch(tap.point("filters[0]").unwrap(), Condition::default());
        let input = batch(&["DEBUG a", "INFO b", "WARN 10.0.0.1"]);
        let captured = tap.before_filter(0, &input).unwrap();
        // The filter dropped the DEBUG line and masked the address.
        let mut b = BatchBuilder::with_capacity(2, 64);
        let src = b.source("f");
        b.push("INFO b", src, 1, 7);
        b.attr("level", AttrValue::Text("INFO"));
        b.push("WARN [REDACTED]", src, 2, 7);
        b.attr("level", AttrValue::Text("WARN"));
        tap.after_filter(captured, &b.finish(Ack::none()));
        let chunk = watch.next().await.unwrap();
        let verdicts: Vec<_> = chunk.events.iter().map(|e| e.verdict.clone()).collect();
        assert_eq!(
            verdicts,
            [
                Some(Verdict::Dropped),
                Some(Verdict::Kept),
                Some(Verdict::Changed {
                    message: "WARN [REDACTED]".into(),
                    attributes: vec![("level".into(), Value::Text("WARN".into()))],
                }),
            ]
        );
        assert!(tap.before_filter(0, &input).is_some());
        drop(watch);
        assert!(tap.before_filter(0, &input).is_none());
    }

    #[tokio::test]
    async fn the_watch_ends_when_the_pipeline_lets_go_of_its_tap() {
        let tap = Tap::new(0);
        let mut watch = tap.watch(0, Condition::default());
        drop(tap);
        assert_eq!(watch.next().await, None);
    }

    #[test]
    fn long_texts_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_TEXT);
        let cut = cut(&long);
        assert!(cut.len() <= MAX_TEXT && cut.len() >= MAX_TEXT - 1);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
