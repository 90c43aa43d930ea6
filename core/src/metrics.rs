//! Counters per pipeline component: what went in, out, was split, replaced or retried.
//! Lock-free, updated once per batch; read for logs now and for `/metrics` later.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one component (a source or a sink).
#[derive(Debug, Default)]
pub struct Counters {
    /// Events emitted (sources) or delivered (sinks).
    pub events: AtomicU64,
    /// Message bytes emitted or delivered.
    pub bytes: AtomicU64,
    /// Batches emitted or delivered.
    pub batches: AtomicU64,
    /// Failed attempts (each retried).
    pub errors: AtomicU64,
    /// Restarts after a panic or an error.
    pub restarts: AtomicU64,
    /// Lines longer than the limit, split into several events.
    pub lines_split: AtomicU64,
    /// Lines whose invalid UTF-8 was replaced with U+FFFD.
    pub invalid_utf8: AtomicU64,
    /// Files that went away (deleted or rotated out) and were read to their end.
    pub files_closed: AtomicU64,
    /// Events received (filters).
    pub events_in: AtomicU64,
    /// Message bytes received (filters).
    pub bytes_in: AtomicU64,
    /// Events a filter dropped (its choice, or a failure under `on_error: drop`).
    pub dropped: AtomicU64,
    /// Events written to the dead-letter file.
    pub dead_lettered: AtomicU64,
    /// Calls that trapped or hit a limit.
    pub traps: AtomicU64,
    /// Nanoseconds spent in plugin calls.
    pub call_ns: AtomicU64,
}

/// A plain copy of [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// See [`Counters::events`].
    pub events: u64,
    /// See [`Counters::bytes`].
    pub bytes: u64,
    /// See [`Counters::batches`].
    pub batches: u64,
    /// See [`Counters::errors`].
    pub errors: u64,
    /// See [`Counters::restarts`].
    pub restarts: u64,
    /// See [`Counters::lines_split`].
    pub lines_split: u64,
    /// See [`Counters::invalid_utf8`].
    pub invalid_utf8: u64,
    /// See [`Counters::files_closed`].
    pub files_closed: u64,
    /// See [`Counters::events_in`].
    pub events_in: u64,
    /// See [`Counters::bytes_in`].
    pub bytes_in: u64,
    /// See [`Counters::dropped`].
    pub dropped: u64,
    /// See [`Counters::dead_lettered`].
    pub dead_lettered: u64,
    /// See [`Counters::traps`].
    pub traps: u64,
    /// See [`Counters::call_ns`].
    pub call_ns: u64,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one batch of `events` events and `bytes` bytes.
    pub fn batch(&self, events: usize, bytes: u64) {
        Self::add(&self.batches, 1);
        Self::add(&self.events, events as u64);
        Self::add(&self.bytes, bytes);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> Snapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            events: r(&self.events),
            bytes: r(&self.bytes),
            batches: r(&self.batches),
            errors: r(&self.errors),
            restarts: r(&self.restarts),
            lines_split: r(&self.lines_split),
            invalid_utf8: r(&self.invalid_utf8),
            files_closed: r(&self.files_closed),
            events_in: r(&self.events_in),
            bytes_in: r(&self.bytes_in),
            dropped: r(&self.dropped),
            dead_lettered: r(&self.dead_lettered),
            traps: r(&self.traps),
            call_ns: r(&self.call_ns),
        }
    }
}
