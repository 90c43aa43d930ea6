//! A pipeline's filters, run in order once per batch, with the fault policy: a batch that
//! fails (trap, limit, the plugin's own error, an invalid or oversized verdict) is retried
//! once on a fresh instance; if it fails again, [`isolate`] searches it, within a time
//! budget, for the events that fail alone. Those follow `on_error`; every other event
//! continues, in order. Each stage follows its plugin's [`Slot`], switching to a swapped-in
//! version at a batch boundary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::isolate::{Bound, Failure, Output, isolate};
use super::plugin::{CallError, Instance, Plugin};
use super::wire::Verdict;
use super::world::FilterWorld;
use crate::ComponentId;
use crate::ack::Ack;
use crate::batch::Batch;
use crate::config::BatchConfig;
use crate::config::OnError;
use crate::dead_letter::DeadLetters;
use crate::log_limit::LogLimit;
use crate::metrics::Counters;
use crate::reload::swap::{Follower, Slot};
use crate::tap::Tap;

/// A loaded filter plugin.
pub type WasmFilter = Plugin<FilterWorld>;

/// The search for the events a batch fails on may take this many times the filter's
/// `limits.timeout` (on top of the two whole-batch calls before it). One bad event among
/// 1024 costs about 10 failed calls.
pub const ISOLATION_TIMEOUTS: u32 = 16;

/// How often a repeating fault of one filter is logged (the first time always).
const WARN_EVERY: Duration = Duration::from_secs(10);

impl Plugin<FilterWorld> {
    /// Runs `process` on `batch` in `instance`, within the limits.
    pub fn process(
        &self,
        instance: &mut Instance<FilterWorld>,
        batch: &Batch,
    ) -> Result<Verdict, CallError> {
        self.call(instance, |e, store| {
            e.logcatch_plugin_filter()
                .call_process(store, batch.columns())
        })
    }
}

/// One filter of the chain: the version of its plugin it runs, and its live instance.
pub struct Stage {
    plugin: Follower<FilterWorld>,
    /// Its counters (`filters[i]`).
    pub counters: Arc<Counters>,
    instance: Option<Instance<FilterWorld>>,
    /// Rate limit of the warnings about failing batches.
    warnings: LogLimit,
    /// Rate limit of the errors about events that fail alone.
    failures: LogLimit,
}

/// What one stage made of a batch.
struct Applied {
    out: Batch,
    /// Events that failed even alone (in `out` too under `pass`).
    failed: usize,
    /// Why the first of them failed.
    reason: Option<String>,
    /// The failed events and their reasons, to dead-letter (with `dead_letter` only).
    dead: Option<(Batch, Vec<String>)>,
}

impl Stage {
    /// A stage running the plugin in `slot`.
    pub fn new(slot: &Arc<Slot<FilterWorld>>, counters: Arc<Counters>) -> Self {
        Stage {
            plugin: slot.follow(),
            counters,
            instance: None,
            warnings: LogLimit::with_burst(2, WARN_EVERY),
            failures: LogLimit::new(WARN_EVERY),
        }
    }

    /// The plugin version this stage runs.
    pub fn plugin(&self) -> &Arc<WasmFilter> {
        self.plugin.plugin()
    }

    /// Calls the filter on `batch`, starting an instance if there is none, and checks its
    /// verdict against `bound` (the input batch's); any failure drops the instance, so the next call gets a
    /// fresh one.
    fn call(&mut self, batch: &Batch, bound: &dyn Fn() -> Bound) -> Result<Output, Failure> {
        let plugin = self.plugin.plugin().clone();
        let instance = match &mut self.instance {
            Some(i) => i,
            None => match plugin.instantiate() {
                Ok(i) => self.instance.insert(i),
                Err(e) => {
                    let why = e.to_string();
                    self.counters.error(&why);
                    return Err(Failure::Start(why));
                }
            },
        };
        let started = Instant::now();
        let result = plugin.process(instance, batch);
        Counters::add(&self.counters.call_ns, started.elapsed().as_nanos() as u64);
        let checked = match result {
            Ok(verdict) => check(verdict, batch.len(), bound),
            Err(e) => {
                if matches!(e, CallError::Trap(_)) {
                    Counters::add(&self.counters.traps, 1);
                }
                Err(e.to_string())
            }
        };
        checked.map_err(|why| {
            self.counters.error(&why);
            self.instance = None;
            Failure::Batch(why)
        })
    }

    /// Runs the stage on `batch`: the filtered batch (same ack) and what failed.
    fn apply(
        &mut self,
        pipeline: &str,
        batch: Batch,
        on_error: OnError,
        limits: &BatchConfig,
    ) -> Applied {
        // Computed once, and only when needed: for a replaced batch or a search.
        let cell = std::cell::OnceCell::new();
        let bound = || *cell.get_or_init(|| Bound::for_input(&batch, limits));
        let mut error = None;
        for attempt in [
            "retrying the batch on a fresh instance",
            "failed twice, isolating the events it fails on",
        ] {
            match self.call(&batch, &bound) {
                Ok(out) => {
                    return Applied {
                        out: out.apply_to(batch),
                        failed: 0,
                        reason: None,
                        dead: None,
                    };
                }
                Err(Failure::Start(why)) => {
                    return self.all_failed(batch, why, on_error);
                }
                Err(Failure::Batch(why)) => {
                    if let Some(held) = self.warnings.allow(Instant::now()) {
                        tracing::warn!(
                            pipeline, plugin = %self.plugin().name, events = batch.len(),
                            similar_warnings_held_back = held,
                            "{why}; {attempt}"
                        );
                    }
                    error = Some(why);
                }
            }
        }
        let error = error.expect("two failed attempts");
        let budget = self.plugin().limits.timeout * ISOLATION_TIMEOUTS;
        let pass = on_error == OnError::Pass;
        let whole = bound();
        let iso = isolate(&batch, error, pass, budget, &whole, |part| {
            self.call(part, &|| whole)
        });
        let reason = iso.failed.first().map(|(_, r)| r.clone());
        let dead = (on_error == OnError::DeadLetter && !iso.failed.is_empty()).then(|| {
            let events = batch.select(iso.failed.iter().map(|(i, _)| *i));
            (events, iso.failed.iter().map(|(_, r)| r.clone()).collect())
        });
        let failed = iso.failed.len();
        let mut batch = batch;
        batch.replace_events(iso.out);
        Applied {
            out: batch,
            failed,
            reason,
            dead,
        }
    }

    /// Every event of `batch` fails with `why` (no instance could start).
    fn all_failed(&mut self, mut batch: Batch, why: String, on_error: OnError) -> Applied {
        let n = batch.len();
        let dead = (on_error == OnError::DeadLetter).then(|| {
            let events = batch.select(0..n);
            (events, vec![why.clone(); n])
        });
        if on_error != OnError::Pass {
            batch.replace_events(Batch::default());
        }
        Applied {
            out: batch,
            failed: n,
            reason: Some(why),
            dead,
        }
    }
}

/// Checks a verdict for a batch of `n` events against `bound`.
fn check(verdict: Verdict, n: usize, bound: &dyn Fn() -> Bound) -> Result<Output, String> {
    match verdict {
        Verdict::KeepAll => Ok(Output::KeepAll),
        Verdict::Keep(idx) => {
            let ascending = idx.windows(2).all(|w| w[0] < w[1]);
            if ascending && idx.last().is_none_or(|&l| (l as usize) < n) {
                Ok(Output::Keep(idx))
            } else {
                Err("invalid verdict: keep indices must be ascending and within the batch".into())
            }
        }
        Verdict::Replace(cols) => {
            let bound = bound();
            bound.check_shape(cols.msg_off.len(), cols.attr_key_id.len(), cols.arena.len())?;
            let new = Batch::from_columns(cols, Ack::none()).map_err(|e| e.to_string())?;
            bound.check_text(new.text_bytes())?;
            Ok(Output::Replace(Box::new(new)))
        }
    }
}

impl Output {
    fn apply_to(self, mut batch: Batch) -> Batch {
        match self {
            Output::KeepAll => {}
            Output::Keep(idx) => batch.retain(&idx),
            Output::Replace(new) => batch.replace_events(*new),
        }
        batch
    }
}

/// The filters of one pipeline, in order.
pub struct FilterChain {
    pipeline: Arc<str>,
    stages: Vec<Stage>,
    on_error: OnError,
    limits: BatchConfig,
    dead_letters: Arc<DeadLetters>,
    /// The pipeline's tap: each stage offers its input and output.
    tap: Arc<Tap>,
    /// The stage a batch is in (for a panic's report), if any.
    running: Option<usize>,
}

impl FilterChain {
    /// A chain of `stages` in a pipeline cutting batches at `limits`; failed events follow
    /// `on_error`, dead letters go to `dead_letters`; each stage is tapped at `tap`.
    pub fn new(
        pipeline: Arc<str>,
        stages: Vec<Stage>,
        on_error: OnError,
        limits: BatchConfig,
        dead_letters: Arc<DeadLetters>,
        tap: Arc<Tap>,
    ) -> Self {
        FilterChain {
            pipeline,
            stages,
            on_error,
            limits,
            dead_letters,
            tap,
            running: None,
        }
    }

    /// True when there is no filter.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// The stage a batch was in when the last [`run`](Self::run) was cut short (a host
    /// panic; the first stage if it was between stages), with its counters. Call only on a
    /// chain with filters.
    pub fn interrupted(&self) -> (usize, &Arc<Counters>) {
        let i = self.running.unwrap_or(0);
        (i, &self.stages[i].counters)
    }

    /// Drops every instance (after a panic cut a run short, none can be trusted), so each
    /// stage starts a fresh one at its next call.
    pub fn reset(&mut self) {
        for stage in &mut self.stages {
            stage.instance = None;
        }
        self.running = None;
    }

    /// Switches every stage whose plugin was swapped to the new version: a batch boundary.
    fn catch_up(&mut self) {
        for (i, stage) in self.stages.iter_mut().enumerate() {
            if stage.plugin.catch_up() {
                stage.instance = None;
                let plugin = stage.plugin.plugin();
                tracing::info!(
                    pipeline = %self.pipeline, component = %ComponentId::filter(i),
                    plugin = %plugin.name, path = %plugin.path.display(),
                    hash = format_args!("{:016x}", plugin.hash),
                    "plugin swapped in at a batch boundary"
                );
            }
        }
    }

    /// Runs `batch` through every filter in order. Blocking CPU work: call it off the
    /// async reactor.
    pub fn run(&mut self, mut batch: Batch) -> Batch {
        self.catch_up();
        #[cfg(feature = "testing")]
        crate::testing::chain_failpoint();
        for (i, stage) in self.stages.iter_mut().enumerate() {
            if batch.is_empty() {
                break;
            }
            self.running = Some(i);
            let (n_in, bytes_in) = (batch.len(), batch.message_bytes());
            Counters::add(&stage.counters.events_in, n_in as u64);
            Counters::add(&stage.counters.bytes_in, bytes_in);
            let tapped = self.tap.before_filter(i, &batch);
            let applied = stage.apply(&self.pipeline, batch, self.on_error, &self.limits);
            if let Some(tapped) = tapped {
                self.tap.after_filter(tapped, &applied.out);
            }
            let mut dead = 0;
            if let Some(reason) = &applied.reason
                && let Some(held) = stage.failures.allow(Instant::now())
            {
                let plugin = &*stage.plugin().name;
                tracing::error!(
                    pipeline = %self.pipeline, plugin, events = applied.failed,
                    policy = ?self.on_error, similar_errors_held_back = held,
                    "events failed the filter even alone: {reason}"
                );
            }
            if let Some((events, reasons)) = &applied.dead {
                self.dead_letters.write(
                    &self.pipeline,
                    &stage.plugin().name,
                    events,
                    reasons,
                    &stage.counters.state,
                );
                Counters::add(&stage.counters.dead_lettered, events.len() as u64);
                dead = events.len();
            }
            batch = applied.out;
            let bytes_out = batch.message_bytes();
            stage.counters.batch(batch.len(), bytes_out);
            Counters::add(
                &stage.counters.dropped,
                (n_in as u64).saturating_sub((batch.len() + dead) as u64),
            );
            // A transform may grow messages: only what shrank counts as dropped.
            Counters::add(
                &stage.counters.bytes_dropped,
                bytes_in.saturating_sub(bytes_out),
            );
        }
        self.running = None;
        batch
    }
}
