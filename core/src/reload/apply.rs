//! Applying a config: the [`Topology`] of running pipelines, which starts a plan's pipelines,
//! takes a new one (diffed by [`super::diff`]) and drains what it removes or changes off the
//! daemon's loop, so that signals, API requests and other reloads are served meanwhile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch as state_watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::diff::{self, Identity};
use super::swap::Slot;
use crate::ComponentId;
use crate::checkpoint::{CheckpointError, Ledger};
use crate::config::PipelineConfig;
use crate::pipeline::{self, RunEnv, RunningPipeline};
use crate::registry::{PipelinePlan, Plan};
use crate::status::{Changes, PipelineState, PipelineStatus, ReloadOutcome, ReloadRecord, Status};
use crate::wasm::{FilterWorld, SinkWorld};

/// A pipeline incarnation's end: its name, generation, and why it gave up if it did.
pub(crate) type Ended = (String, u64, Result<(), String>);

/// One running incarnation of a pipeline.
pub(crate) struct Running {
    /// Its definition as written; with its plugins' current hashes, its identity.
    definition: PipelineConfig,
    /// Stops this pipeline only (a child of the daemon's token).
    stop: CancellationToken,
    /// Becomes true when its task has ended.
    pub(crate) done: state_watch::Receiver<bool>,
    abort: tokio::task::AbortHandle,
    pub(crate) ledgers: Vec<Arc<Ledger>>,
    /// Its filters' plugins, in order, in the slots new versions are swapped into.
    pub(crate) filters: Vec<Arc<Slot<FilterWorld>>>,
    /// Its WebAssembly sinks (id, slot), in order.
    pub(crate) sinks: Vec<(ComponentId, Arc<Slot<SinkWorld>>)>,
    /// Distinguishes incarnations of one name in [`Ended`] messages.
    pub(crate) generation: u64,
}

impl Running {
    /// What identifies it now: its definition and the plugins it runs (a swapped-in
    /// version included), so a reload compares against what actually runs.
    fn identity(&self) -> Identity {
        Identity::of(
            &self.definition,
            &self.filters,
            self.sinks.iter().map(|(_, s)| s),
        )
    }

    /// The files of its plugins: its filters', then its WebAssembly sinks' (built-in ones
    /// have none).
    pub(crate) fn plugin_paths(&self) -> Vec<PathBuf> {
        let filters = self
            .filters
            .iter()
            .map(|f| f.current().file().map(Path::to_owned));
        let sinks = self
            .sinks
            .iter()
            .map(|(_, s)| s.current().file().map(Path::to_owned));
        filters.chain(sinks).flatten().collect()
    }
}

/// A pipeline draining after a reload removed or changed it.
pub(crate) struct Draining {
    pub(crate) running: Running,
    /// When it is cut short.
    pub(crate) deadline: Instant,
    /// What starts in its place once it is done (a changed pipeline).
    next: Option<PipelinePlan>,
}

/// The running pipelines, the ones draining and the ones that could not start; every
/// change to them goes through here.
pub(crate) struct Topology {
    pub(crate) env: RunEnv,
    /// The running plan's settings (its pipelines taken out).
    pub(crate) settings: Plan,
    pub(crate) status: Arc<Status>,
    /// The daemon's token; each pipeline stops on a child of it.
    pub(crate) shutdown: CancellationToken,
    pub(crate) running: BTreeMap<String, Running>,
    ended_tx: mpsc::UnboundedSender<Ended>,
    generation: u64,
    /// Pipelines that could not start, and why.
    pub(crate) failed: BTreeMap<String, String>,
    /// Pipelines a reload stopped, draining while the daemon goes on; a changed one's new
    /// definition starts once the old one is done.
    pub(crate) draining: BTreeMap<String, Draining>,
}

impl Topology {
    /// An empty topology for `settings` (a plan with its pipelines taken out); pipeline
    /// ends are reported on `ended_tx`.
    pub(crate) fn new(
        settings: Plan,
        once: bool,
        status: Arc<Status>,
        shutdown: CancellationToken,
        ended_tx: mpsc::UnboundedSender<Ended>,
    ) -> Self {
        Topology {
            env: RunEnv {
                data_dir: settings.data_dir.clone(),
                checkpoint: settings.checkpoint.clone(),
                dead_letter_max: settings.dead_letter.max_bytes,
                once,
            },
            settings,
            status,
            shutdown,
            running: BTreeMap::new(),
            ended_tx,
            generation: 0,
            failed: BTreeMap::new(),
            draining: BTreeMap::new(),
        }
    }

    /// How long a drain may take.
    pub(crate) fn shutdown_timeout(&self) -> Duration {
        self.settings.shutdown_timeout
    }

    /// Takes a config offered for a reload, whichever source produced it (the config file
    /// through its watcher, SIGHUP or `POST /reload`; a central store): applies it if it
    /// keeps the settings only a restart can change. The outcome is logged, recorded for
    /// the API and returned.
    pub(crate) fn offer(
        &mut self,
        trigger: &'static str,
        candidate: Result<Plan, String>,
    ) -> ReloadOutcome {
        let outcome = match candidate {
            Ok(plan) => match diff::fixed_settings_changed(&self.settings, &plan) {
                Some(why) => ReloadOutcome::Refused(why),
                None => ReloadOutcome::Applied(self.apply(plan)),
            },
            Err(why) => ReloadOutcome::Refused(why),
        };
        match &outcome {
            ReloadOutcome::Applied(_) => Status::count(&self.status.reloads_applied),
            ReloadOutcome::Refused(why) => {
                Status::count(&self.status.reloads_refused);
                // One log line, however many errors (`validate` lists them one per line).
                let why = why.lines().collect::<Vec<_>>().join("; ");
                tracing::error!(trigger, "reload refused; the running config stays: {why}");
            }
        }
        self.status.write().last_reload = Some(ReloadRecord {
            at: SystemTime::now(),
            trigger,
            outcome: outcome.clone(),
        });
        outcome
    }

    /// Applies a valid new plan: stops what went, restarts what changed, starts what is new.
    fn apply(&mut self, plan: Plan) -> Changes {
        let next = diff::identities(&plan);
        let running: BTreeMap<String, Identity> = self
            .running
            .iter()
            .map(|(n, r)| (n.clone(), r.identity()))
            .collect();
        let changes = diff::diff(&running, &next);
        let (settings, pipelines) = split(plan);
        self.settings.cache_dir = settings.cache_dir;
        self.settings.shutdown_timeout = settings.shutdown_timeout;
        for name in &changes.removed {
            self.begin_stop(name, None);
        }
        // A pipeline still draining from an earlier reload that this config drops.
        for (name, d) in &mut self.draining {
            if !pipelines.iter().any(|p| &p.name == name) {
                d.next = None;
            }
        }
        for p in pipelines {
            let name = p.name.clone();
            if changes.unchanged.contains(&name) {
                continue;
            }
            if changes.changed.contains(&name) {
                self.begin_stop(&name, Some(p));
            } else if let Some(d) = self.draining.get_mut(&name) {
                // Still draining from an earlier reload: it starts once that one is done.
                d.next = Some(p);
            } else {
                self.start(p, true);
            }
        }
        for (what, names) in [
            ("pipeline added", &changes.added),
            ("pipeline changed", &changes.changed),
            ("pipeline removed", &changes.removed),
            ("pipeline unchanged", &changes.unchanged),
        ] {
            for name in names {
                tracing::info!(pipeline = %name, "{what}");
            }
        }
        changes
    }

    /// Starts one pipeline (`by_reload`: a reload added or changed it); true if it runs. One
    /// whose checkpoints cannot be read does not: it is shown `failed` with the reason, and
    /// the others run.
    pub(crate) fn start(&mut self, p: PipelinePlan, by_reload: bool) -> bool {
        let name = p.name.clone();
        match self.try_start(p, by_reload) {
            Ok(()) => {
                self.failed.remove(&name);
                true
            }
            Err(e) => {
                let why = format!("cannot start: {e}");
                tracing::error!(pipeline = %name, "{why}; the other pipelines run");
                let now = SystemTime::now();
                self.status.write().pipelines.insert(
                    name.clone(),
                    PipelineStatus {
                        state: PipelineState::Failed,
                        started_at: now,
                        last_reload: by_reload.then_some(now),
                        last_error: Some(why.clone()),
                        components: Vec::new(),
                        ledgers: Vec::new(),
                        tap: None,
                    },
                );
                self.failed.insert(name, why);
                false
            }
        }
    }

    fn try_start(&mut self, p: PipelinePlan, by_reload: bool) -> Result<(), CheckpointError> {
        let name = p.name.clone();
        let definition = p.definition.clone();
        let filters = p.filters.clone();
        let wasm_sinks = p
            .wasm_sinks
            .iter()
            .map(|s| (s.id, s.slot.clone()))
            .collect();
        let (sources, sinks) = (p.sources.len(), p.sinks.len());
        let stop = self.shutdown.child_token();
        let RunningPipeline {
            ledgers,
            components,
            tap,
            task,
        } = pipeline::start(p, &self.env, stop.clone())?;
        self.generation += 1;
        let generation = self.generation;
        let (done_tx, done) = state_watch::channel(false);
        let abort = task.abort_handle();
        let (ended, task_name) = (self.ended_tx.clone(), name.clone());
        tokio::spawn(async move {
            let outcome = match task.await {
                Ok(outcome) => outcome,
                Err(e) if e.is_cancelled() => Ok(()),
                Err(e) => {
                    tracing::error!(pipeline = %task_name, "pipeline task ended abnormally: {e}");
                    Err(format!("its task ended abnormally: {e}"))
                }
            };
            let _ = done_tx.send(true);
            let _ = ended.send((task_name, generation, outcome));
        });
        let now = SystemTime::now();
        self.status.write().pipelines.insert(
            name.clone(),
            PipelineStatus {
                state: PipelineState::Running,
                started_at: now,
                last_reload: by_reload.then_some(now),
                last_error: None,
                components,
                ledgers: ledgers.clone(),
                tap: Some(tap),
            },
        );
        tracing::debug!(pipeline = %name, sources, sinks, "pipeline started");
        self.running.insert(
            name,
            Running {
                definition,
                stop,
                done,
                abort,
                ledgers,
                filters,
                sinks: wasm_sinks,
                generation,
            },
        );
        Ok(())
    }

    /// Starts draining one pipeline, off the daemon's loop: its sources stop, in-flight
    /// batches reach the sinks (bounded by `shutdown_timeout`), and [`Topology::drained`]
    /// writes its checkpoints and starts `next` in its place, if any.
    fn begin_stop(&mut self, name: &str, next: Option<PipelinePlan>) {
        let Some(r) = self.running.remove(name) else {
            return;
        };
        if let Some(p) = self.status.write().pipelines.get_mut(name) {
            p.state = PipelineState::Stopping;
        }
        r.stop.cancel();
        self.draining.insert(
            name.to_owned(),
            Draining {
                running: r,
                deadline: Instant::now() + self.shutdown_timeout(),
                next,
            },
        );
    }

    /// A draining pipeline is done (or its time is up): cut it short if need be, write its
    /// checkpoints (they stay on disk) and start what replaces it.
    pub(crate) fn drained(&mut self, name: &str) {
        let Some(d) = self.draining.remove(name) else {
            return;
        };
        if !*d.running.done.borrow() {
            tracing::warn!(
                pipeline = %name,
                timeout_ms = self.shutdown_timeout().as_millis() as u64,
                "drain timed out; undelivered batches will be read again when it starts"
            );
            d.running.abort.abort();
        }
        // A failure is logged; the pipeline's next start reads from the last good checkpoint.
        let _ = pipeline::flush_all(name, &d.running.ledgers);
        self.status.write().pipelines.remove(name);
        tracing::info!(pipeline = %name, "pipeline stopped");
        if let Some(p) = d.next
            && self.start(p, true)
        {
            tracing::info!(
                pipeline = %name,
                "pipeline started again with its new definition"
            );
        }
    }

    /// The pipeline incarnation `generation` of `name` ended: forgotten if it is the
    /// running one (true), ignored if a reload already replaced it (false).
    pub(crate) fn ended(&mut self, name: &str, generation: u64) -> bool {
        if self
            .running
            .get(name)
            .is_none_or(|r| r.generation != generation)
        {
            return false;
        }
        self.running.remove(name);
        self.status.write().pipelines.remove(name);
        true
    }

    /// Stopping: the pipelines a reload was draining join the running ones (what was to
    /// replace them does not start); every pipeline's `done` receiver, to wait on.
    pub(crate) fn stop_everything(&mut self) -> Vec<state_watch::Receiver<bool>> {
        self.shutdown.cancel();
        for (name, d) in std::mem::take(&mut self.draining) {
            self.running.insert(name, d.running);
        }
        self.running.values().map(|r| r.done.clone()).collect()
    }

    /// Writes every pipeline's checkpoints once more and forgets them; the first failure.
    pub(crate) fn flush_everything(&mut self) -> Result<(), CheckpointError> {
        let mut failed = None;
        for (name, r) in std::mem::take(&mut self.running) {
            if let Err(e) = pipeline::flush_all(&name, &r.ledgers) {
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

/// A plan's settings (with no pipelines) and its pipelines.
pub(crate) fn split(mut plan: Plan) -> (Plan, Vec<PipelinePlan>) {
    let pipelines = std::mem::take(&mut plan.pipelines);
    (plan, pipelines)
}
