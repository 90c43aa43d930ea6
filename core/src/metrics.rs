//! Counters per pipeline component: what went in, out, was split, replaced or retried.
//! Lock-free, updated once per batch; read for the logs and by the admin API (`/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    /// Message bytes a filter dropped.
    pub bytes_dropped: AtomicU64,
    /// Time from a batch's cut at its source to its delivery (sinks).
    pub latency: Histogram,
    /// The component's last error and when it happened (written only on errors).
    pub last_error: std::sync::Mutex<Option<(std::time::SystemTime, String)>>,
    /// Its state: running, blocked, restarting or failed.
    pub state: crate::health::StateCell,
}

/// Upper bounds of the [`Histogram`] buckets, in seconds: 1 ms to 10 s (batches linger a few
/// milliseconds; seconds mean a sink is struggling).
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A lock-free histogram of durations over [`LATENCY_BUCKETS`], observed once per batch.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    counts: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of the observations, in nanoseconds.
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Cumulative counts per bound of [`LATENCY_BUCKETS`] (`le`), the total count, and the
    /// sum in seconds: what the Prometheus format wants.
    pub fn cumulative(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let mut acc = 0;
        let mut buckets = Vec::with_capacity(LATENCY_BUCKETS.len());
        for (i, &bound) in LATENCY_BUCKETS.iter().enumerate() {
            acc += self.counts[i].load(Ordering::Relaxed);
            buckets.push((bound, acc));
        }
        let total = acc + self.counts[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (buckets, total, sum)
    }
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
    /// See [`Counters::bytes_dropped`].
    pub bytes_dropped: u64,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a failed attempt and remembers why, for the API's `last_error`.
    pub fn error(&self, why: &str) {
        Self::add(&self.errors, 1);
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some((std::time::SystemTime::now(), why.to_owned()));
    }

    /// The last error, if any, and when it happened.
    pub fn last_error(&self) -> Option<(std::time::SystemTime, String)> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
            bytes_dropped: r(&self.bytes_dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_with_an_overflow_bucket() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let (buckets, count, sum) = h.cumulative();
        assert_eq!(count, 3);
        assert_eq!(buckets[0], (0.001, 1));
        assert_eq!(buckets[2], (0.005, 2));
        assert_eq!(buckets.last().unwrap(), &(10.0, 2));
        assert!((sum - 60.0035).abs() < 1e-6);
    }
}
