//! Runs the pipelines of a config and keeps them in step with it.
//!
//! At start every pipeline is started. Then the daemon waits for:
//! - a reload (the config file changed on disk, SIGHUP, or `POST /reload`): the new config is
//!   loaded and fully validated (plugins compiled) before anything changes; if it is invalid
//!   nothing changes and the error is reported. Otherwise pipelines are diffed by name
//!   ([`crate::reload`]): removed ones are drained and stopped, changed ones drained, stopped
//!   and started again from their checkpoints, added ones started, and unchanged ones are not
//!   touched at all;
//! - a plugin file that changed (a filter's or a sink's): it is compiled and started off the
//!   hot path and handed to the pipelines that use it, which swap it in at their next batch
//!   boundary without being rebuilt; a file that fails leaves the old plugin running;
//! - SIGTERM/SIGINT: sources stop, in-flight batches drain to the sinks (bounded by
//!   `shutdown_timeout`), checkpoints are written. A second signal stops at once, after
//!   writing what was acknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, watch as state_watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiError, ReloadRequest};
use crate::checkpoint::{CheckpointError, Ledger};
use crate::config::ConfigErrors;
use crate::data_dir::{self, DataDirError};
use crate::pipeline::{self, RunEnv, RunningPipeline};
use crate::registry::{PipelinePlan, Plan};
use crate::reload::{self, Identity};
use crate::status::{Changes, PipelineState, PipelineStatus, ReloadOutcome, ReloadRecord, Status};
use crate::wasm::world::World;
use crate::wasm::{FilterWorld, SinkWorld, Slot, WasmError};
use crate::watch::{Watcher, resolved};

/// Loads and plans the config again, for a reload.
pub type Loader = Arc<dyn Fn() -> Result<Plan, ConfigErrors> + Send + Sync>;

/// How `run` behaves.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Read every source to its current end, deliver, checkpoint and return (no reloads).
    pub once: bool,
    /// The config file: watched, and named in the API (none for the embedded config).
    pub config_path: Option<PathBuf>,
    /// How to load the config again; without it, reloads are refused.
    pub loader: Option<Loader>,
    /// Do not take `data_dir`'s lock: for runs that keep no checkpoints there (`logcatch
    /// filter` over stdin), which may run side by side.
    pub shared_data_dir: bool,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `data_dir` cannot be created or written, or another logcatch holds it.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// A checkpoint file cannot be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Signal handlers cannot be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The admin API cannot listen.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// With `--once`, a pipeline gave up; its undelivered lines stay unacknowledged.
    #[error(
        "pipeline {pipeline} failed: {why}; its undelivered lines will be read again at the next start"
    )]
    PipelineFailed {
        /// The pipeline.
        pipeline: String,
        /// Why it gave up.
        why: String,
    },
}

/// How long file events are collected before acting on them: editors write a file in
/// several steps, and a copied plugin arrives in many writes.
const DEBOUNCE: Duration = Duration::from_millis(200);

struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

/// What a signal asks for.
enum SignalAsk {
    Stop(&'static str),
    Reload,
}

impl Signals {
    fn install() -> Result<Self, RunError> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(RunError::Signals)?,
            int: signal(SignalKind::interrupt()).map_err(RunError::Signals)?,
            hup: signal(SignalKind::hangup()).map_err(RunError::Signals)?,
        })
    }

    async fn next(&mut self) -> SignalAsk {
        tokio::select! {
            _ = self.term.recv() => SignalAsk::Stop("SIGTERM"),
            _ = self.int.recv() => SignalAsk::Stop("SIGINT"),
            _ = self.hup.recv() => SignalAsk::Reload,
        }
    }

    /// The next stop signal (SIGHUP is ignored while stopping).
    async fn next_stop(&mut self) -> &'static str {
        loop {
            if let SignalAsk::Stop(name) = self.next().await {
                return name;
            }
        }
    }
}

/// What `validate` checks beyond the config: `data_dir` can be created and written (a probe
/// file is written, fsynced and renamed there), and every checkpoint file is readable (at
/// `run`, one that is not stops only its pipeline).
pub fn preflight(plan: &Plan) -> Result<(), RunError> {
    data_dir::probe(&plan.data_dir)?;
    for p in &plan.pipelines {
        for s in &p.sources {
            Ledger::open(pipeline::ledger_path(
                &plan.data_dir,
                &p.name,
                &s.checkpoint,
            ))?;
        }
    }
    Ok(())
}

/// One running incarnation of a pipeline.
struct Running {
    identity: Identity,
    /// Stops this pipeline only (a child of the daemon's token).
    stop: CancellationToken,
    /// Becomes true when its task has ended.
    done: state_watch::Receiver<bool>,
    abort: tokio::task::AbortHandle,
    ledgers: Vec<Arc<Ledger>>,
    /// Its filters' plugins, in order, in the slots new versions are swapped into.
    filters: Vec<Arc<Slot<FilterWorld>>>,
    /// Its WebAssembly sinks (id, slot), in order.
    sinks: Vec<(String, Arc<Slot<SinkWorld>>)>,
    /// Distinguishes incarnations of one name in `ended` messages.
    generation: u64,
}

/// A pipeline incarnation's end: its name, generation, and why it gave up if it did.
type Ended = (String, u64, Result<(), String>);

/// The daemon's state between events.
struct Daemon {
    env: RunEnv,
    settings: Plan,
    shutdown_timeout: Duration,
    status: Arc<Status>,
    shutdown: CancellationToken,
    running: BTreeMap<String, Running>,
    ended_tx: mpsc::UnboundedSender<Ended>,
    generation: u64,
    /// Pipelines that could not start, and why.
    failed: BTreeMap<String, String>,
    /// Pipelines a reload stopped, draining while the daemon goes on; a changed one's new
    /// definition starts once the old one is done.
    draining: BTreeMap<String, Draining>,
}

/// A pipeline draining after a reload removed or changed it.
struct Draining {
    running: Running,
    /// When it is cut short.
    deadline: Instant,
    /// What starts in its place once it is done (a changed pipeline).
    next: Option<PipelinePlan>,
}

/// Runs every pipeline of `plan` until they all end (`--once`, finite sources) or a signal
/// asks to stop, applying reloads and plugin swaps meanwhile.
pub async fn run(plan: Plan, opts: RunOptions) -> Result<(), RunError> {
    // Held until this returns (or the process dies: the kernel releases it).
    let _lock = if opts.shared_data_dir {
        data_dir::probe(&plan.data_dir)?;
        None
    } else {
        Some(data_dir::lock(&plan.data_dir)?)
    };
    let mut signals = Signals::install()?;
    let status = Status::new(opts.config_path.clone());
    let shutdown = CancellationToken::new();
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    if let Some(api) = &plan.api {
        let listener = api::bind(&api.listen).await?;
        let token = api.token.clone();
        let (status, stop) = (status.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = api::serve(listener, status, reload_tx, token, stop).await {
                tracing::error!("admin API stopped: {e}");
            }
        });
    } else {
        drop(reload_tx);
    }

    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
    let (settings, pipelines) = split(plan);
    let mut d = Daemon {
        env: RunEnv {
            data_dir: settings.data_dir.clone(),
            checkpoint: settings.checkpoint.clone(),
            dead_letter_max: settings.dead_letter.max_bytes,
            once: opts.once,
        },
        shutdown_timeout: settings.shutdown_timeout,
        settings,
        status,
        shutdown,
        running: BTreeMap::new(),
        ended_tx,
        generation: 0,
        failed: BTreeMap::new(),
        draining: BTreeMap::new(),
    };
    for p in pipelines {
        let name = p.name.clone();
        if d.start(p, false) {
            tracing::info!(pipeline = %name, "pipeline added");
        }
    }
    if opts.once && d.running.is_empty() {
        return d.finish_once().await;
    }

    // File watches: the config file, and every plugin of a running pipeline.
    let config_file = opts.config_path.as_deref().and_then(resolved);
    let mut watcher = None;
    let mut watch_rx = None;
    if !opts.once {
        match Watcher::new() {
            Ok((w, rx)) => {
                watcher = Some(w);
                watch_rx = Some(rx);
            }
            Err(e) => {
                tracing::warn!("cannot watch files ({e}); reload with SIGHUP or POST /reload")
            }
        }
    }
    d.rewatch(watcher.as_mut(), config_file.as_deref());

    let mut pending_config = false;
    let mut pending_plugins: BTreeSet<PathBuf> = BTreeSet::new();
    let mut deadline: Option<Instant> = None;
    let first_stop = loop {
        tokio::select! {
            ask = signals.next() => match ask {
                SignalAsk::Stop(name) => break name,
                SignalAsk::Reload => {
                    d.reload("SIGHUP", opts.loader.as_ref()).await;
                    d.rewatch(watcher.as_mut(), config_file.as_deref());
                }
            },
            Some(req) = reload_rx.recv() => {
                let outcome = d.reload("api", opts.loader.as_ref()).await;
                d.rewatch(watcher.as_mut(), config_file.as_deref());
                let _ = req.reply.send(outcome);
            }
            Some(path) = recv_opt(&mut watch_rx) => {
                if Some(&path) == config_file.as_ref() {
                    pending_config = true;
                } else if d.uses_plugin(&path) {
                    pending_plugins.insert(path);
                } else {
                    continue;
                }
                deadline = Some(Instant::now() + DEBOUNCE);
            }
            _ = sleep_until_opt(deadline) => {
                deadline = None;
                if std::mem::take(&mut pending_config) {
                    d.reload("file", opts.loader.as_ref()).await;
                    d.rewatch(watcher.as_mut(), config_file.as_deref());
                }
                for path in std::mem::take(&mut pending_plugins) {
                    d.swap_plugin(&path).await;
                }
            }
            name = next_drained(&d.draining) => d.drained(&name),
            Some((name, generation, outcome)) = ended_rx.recv() => {
                if d.running.get(&name).is_some_and(|r| r.generation == generation) {
                    d.running.remove(&name);
                    d.status.write().pipelines.remove(&name);
                    if let Err(why) = outcome {
                        d.shutdown.cancel();
                        d.stop_all("a failed pipeline", &mut signals).await?;
                        return Err(RunError::PipelineFailed { pipeline: name, why });
                    }
                    tracing::info!(pipeline = %name, "pipeline ended: its sources are done and every batch is delivered");
                }
                if d.running.is_empty() && d.draining.is_empty() {
                    return d.finish_once().await;
                }
            }
        }
    };
    d.stop_all(first_stop, &mut signals).await
}

/// Receives from an optional channel; pending forever without one.
async fn recv_opt<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The name of the first draining pipeline that is done or out of time; pending forever
/// while none drains.
async fn next_drained(draining: &BTreeMap<String, Draining>) -> String {
    if draining.is_empty() {
        return std::future::pending().await;
    }
    let waits = draining.iter().map(|(name, d)| {
        let (mut done, deadline, name) = (d.running.done.clone(), d.deadline, name.clone());
        Box::pin(async move {
            tokio::select! {
                _ = done.wait_for(|d| *d) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
            name
        })
    });
    futures::future::select_all(waits).await.0
}

/// Sleeps until `deadline`; pending forever without one.
async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Running {
    /// The files of its plugins: its filters', then its WebAssembly sinks'.
    fn plugin_paths(&self) -> Vec<PathBuf> {
        let filters = self.filters.iter().map(|f| f.current().path.clone());
        filters
            .chain(self.sinks.iter().map(|(_, s)| s.current().path.clone()))
            .collect()
    }
}

/// What loading a changed plugin file again came to.
enum Reloaded<T> {
    /// The file has the bytes of the running version (a touch, or an event for a write
    /// that changed nothing).
    Same,
    /// It does not compile, link or `init`: why.
    Failed(String),
    /// The new version, and its first instance.
    New(T),
}

/// Loads the plugin at `path` again with `load`, on a blocking thread (compiling is CPU
/// work, off the reactor), unless the file still has the bytes of hash `running`.
async fn reload_changed<T: Send + 'static>(
    path: &Path,
    running: u64,
    load: impl FnOnce() -> Result<T, WasmError> + Send + 'static,
) -> Reloaded<T> {
    let path = path.to_owned();
    let loaded = tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&path).ok()?;
        (xxhash_rust::xxh3::xxh3_64(&bytes) != running).then(load)
    })
    .await;
    match loaded {
        Ok(None) => Reloaded::Same,
        Ok(Some(Ok(new))) => Reloaded::New(new),
        Ok(Some(Err(e))) => Reloaded::Failed(e.to_string()),
        Err(e) => Reloaded::Failed(format!("loading it panicked: {e}")),
    }
}

/// The plan's settings (with no pipelines) and its pipelines.
fn split(mut plan: Plan) -> (Plan, Vec<PipelinePlan>) {
    let pipelines = std::mem::take(&mut plan.pipelines);
    (plan, pipelines)
}

impl Daemon {
    /// Starts one pipeline (`by_reload`: a reload added or changed it).
    /// Starts one pipeline (`by_reload`: a reload added or changed it); true if it runs. One
    /// whose checkpoints cannot be read does not: it is shown `failed` with the reason, and
    /// the others run.
    fn start(&mut self, p: PipelinePlan, by_reload: bool) -> bool {
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
                    },
                );
                self.failed.insert(name, why);
                false
            }
        }
    }

    /// `--once` with nothing left running: done, or the first pipeline that could not
    /// start, as the run's error.
    async fn finish_once(self) -> Result<(), RunError> {
        self.shutdown.cancel();
        match self.failed.into_iter().next() {
            Some((pipeline, why)) => Err(RunError::PipelineFailed { pipeline, why }),
            None => {
                tracing::info!("all sources ended; every batch delivered and checkpointed");
                Ok(())
            }
        }
    }

    fn try_start(&mut self, p: PipelinePlan, by_reload: bool) -> Result<(), CheckpointError> {
        let name = p.name.clone();
        let identity = Identity {
            definition: p.definition.clone(),
            plugins: p.plugin_hashes(),
        };
        let filters = p.filters.clone();
        let wasm_sinks = p
            .wasm_sinks
            .iter()
            .map(|s| (s.id.clone(), s.slot.clone()))
            .collect();
        let (sources, sinks) = (p.sources.len(), p.sinks.len());
        let stop = self.shutdown.child_token();
        let RunningPipeline {
            ledgers,
            components,
            task,
            ..
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
            },
        );
        tracing::debug!(pipeline = %name, sources, sinks, "pipeline started");
        self.running.insert(
            name,
            Running {
                identity,
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
    /// batches reach the sinks (bounded by `shutdown_timeout`), and [`Daemon::drained`]
    /// writes its checkpoints and starts `next` in its place, if any. Signals, API requests
    /// and other reloads are served meanwhile.
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
                deadline: Instant::now() + self.shutdown_timeout,
                next,
            },
        );
    }

    /// A draining pipeline is done (or its time is up): cut it short if need be, write its
    /// checkpoints (they stay on disk) and start what replaces it.
    fn drained(&mut self, name: &str) {
        let Some(d) = self.draining.remove(name) else {
            return;
        };
        if !*d.running.done.borrow() {
            tracing::warn!(
                pipeline = name,
                timeout_ms = self.shutdown_timeout.as_millis() as u64,
                "drain timed out; undelivered batches will be read again when it starts"
            );
            d.running.abort.abort();
        }
        // A failure is logged; the pipeline's next start reads from the last good checkpoint.
        let _ = pipeline::flush_all(name, &d.running.ledgers);
        self.status.write().pipelines.remove(name);
        tracing::info!(pipeline = name, "pipeline stopped");
        if let Some(p) = d.next
            && self.start(p, true)
        {
            tracing::info!(
                pipeline = name,
                "pipeline started again with its new definition"
            );
        }
    }

    /// Loads the config again and applies it; the outcome is logged, recorded for the API
    /// and returned.
    async fn reload(&mut self, trigger: &'static str, loader: Option<&Loader>) -> ReloadOutcome {
        tracing::info!(trigger, "reloading the config");
        let outcome = match loader {
            None => ReloadOutcome::Refused(
                "this logcatch runs the embedded config: there is no file to reload; start it with -c FILE".into(),
            ),
            Some(load) => {
                let load = load.clone();
                // Compiling plugins and reading checkpoints is blocking work: off the reactor.
                let checked = tokio::task::spawn_blocking(move || {
                    let plan = load().map_err(|e| e.to_string())?;
                    // An unreadable checkpoint stops only its pipeline, at its start.
                    data_dir::probe(&plan.data_dir).map_err(|e| e.to_string())?;
                    Ok::<_, String>(plan)
                });
                match checked.await {
                    Ok(Ok(plan)) => match reload::fixed_settings_changed(&self.settings, &plan) {
                        Some(why) => ReloadOutcome::Refused(why),
                        None => ReloadOutcome::Applied(self.apply(plan)),
                    },
                    Ok(Err(why)) => ReloadOutcome::Refused(why),
                    Err(e) => ReloadOutcome::Refused(format!("loading the config panicked: {e}")),
                }
            }
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
        let next = reload::identities(&plan);
        let running: BTreeMap<String, Identity> = self
            .running
            .iter()
            .map(|(n, r)| (n.clone(), r.identity.clone()))
            .collect();
        let changes = reload::diff(&running, &next);
        let (settings, pipelines) = split(plan);
        self.shutdown_timeout = settings.shutdown_timeout;
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

    /// Whether a running pipeline uses the plugin file `path` (resolved), as a filter or
    /// a sink.
    fn uses_plugin(&self, path: &Path) -> bool {
        self.running
            .values()
            .flat_map(Running::plugin_paths)
            .any(|p| resolved(&p).as_deref() == Some(path))
    }

    /// Watches the config file's and the plugins' (filters' and sinks') directories.
    fn rewatch(&self, watcher: Option<&mut Watcher>, config: Option<&Path>) {
        let Some(w) = watcher else { return };
        let plugins: Vec<PathBuf> = self
            .running
            .values()
            .flat_map(Running::plugin_paths)
            .collect();
        w.watch_dirs_of(
            config
                .into_iter()
                .chain(plugins.iter().map(PathBuf::as_path)),
        );
    }

    /// A plugin file changed: loads it again for every filter and sink that uses it (off
    /// the hot path) and hands each new version to its slot, from which its pipeline takes
    /// it at its next batch boundary; on failure the old one stays.
    async fn swap_plugin(&mut self, path: &Path) {
        let mut filters = Vec::new();
        let mut sinks = Vec::new();
        for (name, r) in &self.running {
            for (i, slot) in r.filters.iter().enumerate() {
                filters.push((name.clone(), format!("filters[{i}]"), i, slot.clone()));
            }
            for (k, (id, slot)) in r.sinks.iter().enumerate() {
                sinks.push((name.clone(), id.clone(), r.filters.len() + k, slot.clone()));
            }
        }
        for (name, component, index, slot) in filters {
            self.swap_in(path, &name, &component, index, &slot).await;
        }
        for (name, component, index, slot) in sinks {
            self.swap_in(path, &name, &component, index, &slot).await;
        }
    }

    /// Swaps the new version of the plugin at `path` into `slot` (component `component` of
    /// pipeline `name`, plugin number `index` of its identity), if `slot` runs that file.
    async fn swap_in<W: World>(
        &mut self,
        path: &Path,
        name: &str,
        component: &str,
        index: usize,
        slot: &Arc<Slot<W>>,
    ) {
        let old = slot.current();
        if resolved(&old.path).as_deref() != Some(path) {
            return;
        }
        let cache = self.settings.cache_dir.clone();
        let current = old.clone();
        let new = match reload_changed(&old.path, old.hash, move || current.reload(&cache)).await {
            Reloaded::Same => return,
            Reloaded::Failed(why) => return self.swap_failed(name, component, &old.path, &why),
            Reloaded::New(new) => new,
        };
        let Some(r) = self.running.get_mut(name) else {
            return;
        };
        let (hash, cached) = (new.hash, new.cached);
        slot.swap(new);
        r.identity.plugins[index] = hash;
        self.swap_handed_over(name, component, &old.path, cached);
    }

    /// A new version of `component` of pipeline `name` is handed over: counted, recorded for
    /// the API and logged.
    fn swap_handed_over(&self, name: &str, component: &str, path: &Path, cached: bool) {
        Status::count(&self.status.swaps_applied);
        if let Some(p) = self.status.write().pipelines.get_mut(name) {
            p.last_reload = Some(SystemTime::now());
        }
        tracing::info!(pipeline = %name, component = %component, path = %path.display(), cached, "plugin changed on disk; new version compiled, swapping at the next batch");
    }

    /// A new version of `component` of pipeline `name` could not be loaded: counted,
    /// recorded as the pipeline's last error and logged; the running version stays.
    fn swap_failed(&self, name: &str, component: &str, path: &Path, cause: &str) {
        Status::count(&self.status.swaps_failed);
        let why = format!("plugin swap failed, the running version stays: {cause}");
        tracing::error!(pipeline = %name, component = %component, path = %path.display(), "{why}");
        if let Some(p) = self.status.write().pipelines.get_mut(name) {
            p.last_error = Some(why);
        }
    }

    /// SIGTERM/SIGINT: every pipeline drains at once, bounded by `shutdown_timeout`; a
    /// second signal stops at once. Checkpoints are written either way.
    async fn stop_all(
        mut self,
        signal: &'static str,
        signals: &mut Signals,
    ) -> Result<(), RunError> {
        tracing::info!(
            signal,
            timeout_ms = self.shutdown_timeout.as_millis() as u64,
            "stopping: draining in-flight batches"
        );
        self.shutdown.cancel();
        // Pipelines a reload was draining stop with the rest; what was to replace them does not
        // start.
        for (name, d) in std::mem::take(&mut self.draining) {
            self.running.insert(name, d.running);
        }
        let mut all_done: Vec<_> = self.running.values().map(|r| r.done.clone()).collect();
        let wait_all = async {
            for d in &mut all_done {
                let _ = d.wait_for(|done| *done).await;
            }
        };
        let drained = tokio::select! {
            _ = wait_all => true,
            _ = tokio::time::sleep(self.shutdown_timeout) => {
                tracing::warn!("drain timed out; undelivered batches will be read again at the next start");
                false
            }
            sig = signals.next_stop() => {
                tracing::warn!(signal = sig, "second signal: stopping now; undelivered batches will be read again at the next start");
                false
            }
        };
        let mut failed = None;
        for (name, r) in std::mem::take(&mut self.running) {
            if let Err(e) = pipeline::flush_all(&name, &r.ledgers) {
                failed.get_or_insert(e);
            }
        }
        if let Some(e) = failed {
            return Err(RunError::Checkpoint(e));
        }
        if drained {
            tracing::info!("stopped cleanly; checkpoints written");
        }
        Ok(())
    }
}
