//! Counters per pipeline component: what went in, out, was split, replaced or retried.
//! Lock-free, updated once per batch; read for the logs and by the admin API.
//!
//! The counters are declared once, in `counters!`: each with its help text, the roles
//! that count it and how `/metrics` exports it. [`COUNTERS`] lists them, and `/pipelines`
//! and `/metrics` walk that list, so a new counter reaches both with one edit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Role;

/// Which components a counter applies to (the API shows it only for those).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every component.
    All,
    /// Sources.
    Sources,
    /// Filters.
    Filters,
    /// Filters and sinks.
    FiltersAndSinks,
    /// Plugins: filters and WebAssembly sinks (`kind` starting with `wasm:`).
    Plugins,
}

impl Scope {
    /// Whether a component of `role` and `kind` counts it.
    pub fn applies(self, role: Role, kind: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Sources => role == Role::Source,
            Scope::Filters => role == Role::Filter,
            Scope::FiltersAndSinks => role != Role::Source,
            Scope::Plugins => {
                role == Role::Filter || (role == Role::Sink && kind.starts_with("wasm:"))
            }
        }
    }
}

/// How `/metrics` exports a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// Through the flow families (`logcatch_events_in`, `_out`, `_dropped` and the same for
    /// bytes), which map it by role.
    Flow,
    /// As its own counter family of this name (without `_total`).
    Count(&'static str),
    /// Nanoseconds, as a counter family of seconds of this name.
    Seconds(&'static str),
}

/// One counter as the exporters see it.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    /// Its field name: the key in `/pipelines` and in the stop log line.
    pub key: &'static str,
    /// What it counts.
    pub help: &'static str,
    /// Which components count it.
    pub scope: Scope,
    /// How `/metrics` exports it.
    pub export: Export,
    /// Its value in a snapshot.
    pub get: fn(&Snapshot) -> u64,
}

/// Declares the counters: the atomic [`Counters`], the plain [`Snapshot`] and the
/// [`COUNTERS`] list, from one entry each.
macro_rules! counters {
    ($( #[doc = $doc:literal] $name:ident: $scope:expr, $export:expr; )*) => {
        /// Counters of one component (a source, a filter or a sink).
        #[derive(Debug, Default)]
        pub struct Counters {
            $( #[doc = $doc] pub $name: AtomicU64, )*
            /// Time from a batch's cut at its source to its delivery (sinks).
            pub latency: Histogram,
            /// The component's last error and when it happened (written only on errors).
            pub last_error: std::sync::Mutex<Option<(std::time::SystemTime, String)>>,
            /// Its state: running, blocked, restarting or failed.
            pub state: crate::health::StateCell,
            /// What it is connected to, as the server said (`Elasticsearch 8.15.0`), once known.
            pub server: std::sync::Mutex<Option<String>>,
        }

        /// A plain copy of [`Counters`] at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Snapshot {
            $( #[doc = $doc] pub $name: u64, )*
        }

        impl Counters {
            /// Reads every counter.
            pub fn snapshot(&self) -> Snapshot {
                Snapshot { $( $name: self.$name.load(Ordering::Relaxed), )* }
            }
        }

        /// Every counter, in declaration order.
        pub const COUNTERS: &[Counter] = &[
            $( Counter {
                key: stringify!($name),
                help: $doc.trim_ascii(),
                scope: $scope,
                export: $export,
                get: |s| s.$name,
            }, )*
        ];
    };
}

counters! {
    /// Events emitted (sources, filters) or delivered (sinks).
    events: Scope::All, Export::Flow;
    /// Message bytes emitted or delivered.
    bytes: Scope::All, Export::Flow;
    /// Batches emitted or delivered.
    batches: Scope::All, Export::Count("logcatch_batches");
    /// Failed attempts (each retried).
    errors: Scope::All, Export::Count("logcatch_component_errors");
    /// Restarts after a panic or an error.
    restarts: Scope::All, Export::Count("logcatch_component_restarts");
    /// Lines longer than the limit, split into several events.
    lines_split: Scope::Sources, Export::Count("logcatch_lines_split");
    /// Lines whose invalid UTF-8 was replaced with U+FFFD.
    invalid_utf8: Scope::Sources, Export::Count("logcatch_invalid_utf8");
    /// Files that went away (deleted or rotated out) and were read to their end.
    files_closed: Scope::Sources, Export::Count("logcatch_files_closed");
    /// Events of more than one line, joined by a `multiline` rule.
    multiline_events: Scope::Sources, Export::Count("logcatch_multiline_events");
    /// Rotated copies (copytruncate) read from where the truncated file had been read to.
    copies_read: Scope::Sources, Export::Count("logcatch_copies_read");
    /// Bytes known to have been in a file and found in no copy after its rotation (written between logrotate's copy and its truncate, or a copy gone before it was read).
    lost_in_rotation: Scope::Sources, Export::Count("logcatch_lost_in_rotation_bytes");
    /// Events received (filters).
    events_in: Scope::Filters, Export::Flow;
    /// Message bytes received (filters).
    bytes_in: Scope::Filters, Export::Flow;
    /// Events a filter dropped (its choice, or a failure under `on_error: drop`).
    dropped: Scope::Filters, Export::Flow;
    /// Message bytes a filter dropped.
    bytes_dropped: Scope::Filters, Export::Flow;
    /// Events written to the dead-letter file.
    dead_lettered: Scope::FiltersAndSinks, Export::Count("logcatch_dead_lettered");
    /// Plugin calls that trapped or hit a limit.
    traps: Scope::Plugins, Export::Count("logcatch_plugin_traps");
    /// Nanoseconds spent in plugin calls.
    call_ns: Scope::Plugins, Export::Seconds("logcatch_plugin_call_seconds");
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

    /// Records what the component is connected to, for the API.
    pub fn set_server(&self, what: String) {
        *self.server.lock().unwrap_or_else(|p| p.into_inner()) = Some(what);
    }

    /// What the component is connected to, if it knows.
    pub fn server(&self) -> Option<String> {
        self.server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_listed_once_with_its_help() {
        let keys: Vec<_> = COUNTERS.iter().map(|c| c.key).collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");
        assert!(
            COUNTERS
                .iter()
                .all(|c| !c.help.is_empty() && !c.help.starts_with(' '))
        );
        let c = Counters::default();
        Counters::add(&c.files_closed, 3);
        let files_closed = COUNTERS.iter().find(|c| c.key == "files_closed").unwrap();
        assert_eq!((files_closed.get)(&c.snapshot()), 3);
    }

    #[test]
    fn plugin_counters_apply_to_filters_and_wasm_sinks_only() {
        assert!(Scope::Plugins.applies(Role::Filter, "drop_debug"));
        assert!(Scope::Plugins.applies(Role::Sink, "wasm:my_sink"));
        assert!(!Scope::Plugins.applies(Role::Sink, "http"));
        assert!(!Scope::Plugins.applies(Role::Source, "file"));
        assert!(Scope::Sources.applies(Role::Source, "file"));
        assert!(!Scope::FiltersAndSinks.applies(Role::Source, "file"));
    }

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
