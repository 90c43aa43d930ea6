//! A pipeline's filters, run in order once per batch, with the fault policy: a batch that
//! fails (trap, limit, or the plugin's own error) is retried once on a fresh instance; if it
//! fails again it is split in halves, recursively, until the events that fail alone are
//! found. Those go to the `on_error` policy; every other event continues.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;

use super::filter::{CallError, Instance, WasmFilter};
use super::wire::Verdict;
use crate::ack::Ack;
use crate::batch::Batch;
use crate::dead_letter::DeadLetters;
use crate::metrics::Counters;

/// What happens to events a filter fails on, even alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Written with the reason to `data_dir/dead_letter/<pipeline>.ndjson` (counted).
    #[default]
    DeadLetter,
    /// Delivered unfiltered.
    Pass,
    /// Dropped (counted).
    Drop,
}

/// One filter of the chain and its live instance.
pub struct Stage {
    /// The plugin.
    pub filter: Arc<WasmFilter>,
    /// Its counters (`filters[i]`).
    pub counters: Arc<Counters>,
    instance: Option<Instance>,
}

impl Stage {
    /// A stage, optionally with an instance already started (by validation).
    pub fn new(
        filter: Arc<WasmFilter>,
        instance: Option<Instance>,
        counters: Arc<Counters>,
    ) -> Self {
        Stage {
            filter,
            counters,
            instance,
        }
    }

    /// Calls the filter on `batch`, starting an instance if there is none; any failure drops
    /// the instance, so the next call gets a fresh one.
    fn call(&mut self, batch: &Batch) -> Result<Output, String> {
        let instance = match &mut self.instance {
            Some(i) => i,
            None => self
                .instance
                .insert(self.filter.instantiate().map_err(|e| e.to_string())?),
        };
        let started = Instant::now();
        let result = self.filter.process(instance, batch.columns());
        Counters::add(&self.counters.call_ns, started.elapsed().as_nanos() as u64);
        let verdict = match result {
            Ok(v) => v,
            Err(e) => {
                self.counters.error(&e.to_string());
                if matches!(e, CallError::Trap(_)) {
                    Counters::add(&self.counters.traps, 1);
                }
                self.instance = None;
                return Err(e.to_string());
            }
        };
        let checked = match verdict {
            Verdict::KeepAll => Ok(Output::KeepAll),
            Verdict::Keep(idx) => {
                let ascending = idx.windows(2).all(|w| w[0] < w[1]);
                if ascending && idx.last().is_none_or(|&l| (l as usize) < batch.len()) {
                    Ok(Output::Keep(idx))
                } else {
                    Err(
                        "invalid verdict: keep indices must be ascending and within the batch"
                            .to_owned(),
                    )
                }
            }
            Verdict::Replace(cols) => Batch::from_columns(cols, Ack::none())
                .map(|b| Output::Replace(Box::new(b)))
                .map_err(|e| e.to_string()),
        };
        if let Err(why) = &checked {
            self.counters.error(why);
            self.instance = None;
        }
        checked
    }

    /// Runs the stage on `batch`: the filtered batch (same ack), and the events that failed
    /// even alone, with the reasons. With `pass`, those events also stay in the output, in
    /// their place.
    fn apply(&mut self, pipeline: &str, mut batch: Batch, pass: bool) -> (Batch, Option<Poison>) {
        let first = match self.call(&batch) {
            Ok(out) => return (out.apply_to(batch), None),
            Err(e) => e,
        };
        let name = self.filter.name.clone();
        tracing::warn!(
            pipeline,
            plugin = &*name,
            events = batch.len(),
            "{first}; retrying the batch on a fresh instance"
        );
        let second = match self.call(&batch) {
            Ok(out) => return (out.apply_to(batch), None),
            Err(e) => e,
        };
        tracing::warn!(
            pipeline,
            plugin = &*name,
            events = batch.len(),
            "{second}; failed twice, isolating the events it fails on"
        );
        let mut kept = Batch::default();
        let mut poison = Vec::new();
        self.isolate(&batch, 0..batch.len(), second, pass, &mut kept, &mut poison);
        let events = batch.select(poison.iter().map(|(i, _)| *i));
        let reasons = poison.into_iter().map(|(_, r)| r).collect();
        batch.replace_events(kept);
        (batch, Some(Poison { events, reasons }))
    }

    /// Splits `range` of `batch` until the events that fail alone are found; `pass` keeps
    /// them in the output unfiltered.
    fn isolate(
        &mut self,
        batch: &Batch,
        range: Range<usize>,
        err: String,
        pass: bool,
        kept: &mut Batch,
        poison: &mut Vec<(usize, String)>,
    ) {
        if range.len() <= 1 {
            if pass {
                kept.append_events(batch, range.clone());
            }
            poison.extend(range.map(|i| (i, err.clone())));
            return;
        }
        let mid = range.start + range.len() / 2;
        for half in [range.start..mid, mid..range.end] {
            let sub = batch.select(half.clone());
            match self.call(&sub) {
                Ok(out) => out.append_to(&sub, kept),
                Err(e) => self.isolate(batch, half, e, pass, kept, poison),
            }
        }
    }
}

/// Events a filter failed on even alone, and why.
struct Poison {
    events: Batch,
    reasons: Vec<String>,
}

/// A checked verdict.
enum Output {
    KeepAll,
    Keep(Vec<u32>),
    Replace(Box<Batch>),
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

    fn append_to(self, input: &Batch, out: &mut Batch) {
        match self {
            Output::KeepAll => out.append_events(input, 0..input.len()),
            Output::Keep(idx) => out.append_events(input, idx.iter().map(|&i| i as usize)),
            Output::Replace(new) => out.append_events(&new, 0..new.len()),
        }
    }
}

/// A new version of one filter's plugin, compiled and started off the hot path, to be put in
/// place at the next batch boundary.
pub struct Swap {
    /// Which filter of the chain (`filters[stage]`).
    pub stage: usize,
    /// The new plugin.
    pub filter: Arc<WasmFilter>,
    /// Its first instance (already through `init`).
    pub instance: Instance,
}

/// The filters of one pipeline, in order.
pub struct FilterChain {
    pipeline: Arc<str>,
    stages: Vec<Stage>,
    on_error: OnError,
    dead_letters: DeadLetters,
    swaps: Option<std::sync::mpsc::Receiver<Swap>>,
}

impl FilterChain {
    /// A chain of `stages`; failed events follow `on_error`, dead letters go to `dead_letter`.
    pub fn new(
        pipeline: Arc<str>,
        stages: Vec<Stage>,
        on_error: OnError,
        dead_letter: PathBuf,
    ) -> Self {
        FilterChain {
            pipeline,
            stages,
            on_error,
            dead_letters: DeadLetters::new(dead_letter),
            swaps: None,
        }
    }

    /// Takes plugin swaps from `swaps`, each applied before the next batch.
    pub fn with_swaps(mut self, swaps: std::sync::mpsc::Receiver<Swap>) -> Self {
        self.swaps = Some(swaps);
        self
    }

    /// Puts in place the swaps that arrived since the last batch (a batch boundary: no call
    /// is running). Checking costs one atomic load when there is none.
    fn apply_swaps(&mut self) {
        let Some(rx) = &self.swaps else { return };
        while let Ok(swap) = rx.try_recv() {
            let Some(stage) = self.stages.get_mut(swap.stage) else {
                continue;
            };
            tracing::info!(
                pipeline = %self.pipeline, component = %format!("filters[{}]", swap.stage),
                from = %stage.filter.name, path = %swap.filter.path.display(),
                "plugin swapped in at a batch boundary"
            );
            stage.filter = swap.filter;
            stage.instance = Some(swap.instance);
        }
    }

    /// True when there is no filter.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs `batch` through every filter in order. Blocking CPU work: call it off the
    /// async reactor.
    pub fn run(&mut self, mut batch: Batch) -> Batch {
        self.apply_swaps();
        for stage in &mut self.stages {
            if batch.is_empty() {
                break;
            }
            let (n_in, bytes_in) = (batch.len(), batch.message_bytes());
            Counters::add(&stage.counters.events_in, n_in as u64);
            Counters::add(&stage.counters.bytes_in, bytes_in);
            let pass = self.on_error == OnError::Pass;
            let (out, poison) = stage.apply(&self.pipeline, batch, pass);
            let mut dead = 0;
            if let Some(p) = poison {
                let n = p.events.len();
                let plugin = &*stage.filter.name;
                tracing::error!(pipeline = %self.pipeline, plugin, events = n, policy = ?self.on_error, "events failed the filter even alone: {}", p.reasons[0]);
                match self.on_error {
                    OnError::DeadLetter => {
                        self.dead_letters
                            .write(&self.pipeline, plugin, &p.events, &p.reasons);
                        Counters::add(&stage.counters.dead_lettered, n as u64);
                        dead = n;
                    }
                    OnError::Pass | OnError::Drop => {}
                }
            }
            batch = out;
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
        batch
    }
}
