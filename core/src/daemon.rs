//! Runs the pipelines of a config and keeps them in step with it.
//!
//! At start every pipeline is started. Then the daemon waits for:
//! - a reload (the config file changed on disk, SIGHUP, or `POST /reload`): the new config is
//!   loaded and fully validated (plugins compiled) before anything changes; if it is invalid
//!   nothing changes and the error is reported. Otherwise it is applied by
//!   [`crate::reload`]: removed pipelines are drained and stopped, changed ones drained,
//!   stopped and started again from their checkpoints, added ones started, and unchanged
//!   ones are not touched at all; drains run beside this loop;
//! - a plugin file that changed (a filter's or a sink's): it is compiled and started off the
//!   hot path and handed to the pipelines that use it, which swap it in at their next batch
//!   boundary without being rebuilt; a file that fails leaves the old plugin running;
//! - SIGTERM/SIGINT: sources stop, in-flight batches drain to the sinks (bounded by
//!   `shutdown_timeout`), checkpoints are written. A second signal stops at once, after
//!   writing what was acknowledged.
//!
//! Under systemd (`Type=notify`) the service manager is told each step
//! ([`crate::service_notify`]): ready once the pipelines started, reloading while a config
//! change is applied, stopping while it drains.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;
use tokio::signal::unix::{Signal, SignalKind, signal};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiError, ReloadRequest};
use crate::checkpoint::{CheckpointError, Ledger};
use crate::config::{ConfigErrors, EtcdConfig, Loaded};
use crate::data_dir::{self, DataDirError};
use crate::pipeline;
use crate::registry::Plan;
use crate::registry::Registry;
use crate::reload::Loader;
use crate::reload::apply::{Draining, Running, Topology, split};
use crate::reload::inputs::{Inputs, RemoteInputs};
use crate::remote::{self, Snapshot, cache, report};
use crate::service_notify::ServiceNotify;
use crate::status::{RemoteLink, Status};
use crate::watch::{Watcher, resolved};

/// How `run` behaves.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Read every source to its current end, deliver, checkpoint and return (no reloads).
    pub once: bool,
    /// The config file: watched, and named in the API (none for the embedded config).
    pub config_path: Option<PathBuf>,
    /// How to read the config file again; without it, reloads are refused.
    pub loader: Option<Loader>,
    /// Plans configs: the known source and sink types.
    pub registry: Registry,
    /// Do not take `data_dir`'s lock: for runs that keep no checkpoints there (`logcatch
    /// filter` over stdin), which may run side by side.
    pub shared_data_dir: bool,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The config (the file's, or a plugin it names) is invalid.
    #[error("{0}")]
    Config(ConfigErrors),
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

/// Runs every pipeline of the config `local` (with those of the config store it names)
/// until they all end (`--once`, finite sources) or a signal asks to stop, applying reloads
/// and plugin swaps meanwhile.
pub async fn run(local: Loaded, opts: RunOptions) -> Result<(), RunError> {
    let status = Status::new(opts.config_path.clone());
    let shutdown = CancellationToken::new();
    let mut inputs = Inputs {
        registry: opts.registry.clone(),
        local,
        loader: opts.loader.clone(),
        remote: None,
    };
    // The config store is read before anything starts, so its pipelines start with the
    // file's; if it does not answer in time, the copy kept under data_dir runs.
    let follower = match inputs.local.config.remote.clone() {
        Some(remote) => Some(start_remote(&mut inputs, remote.etcd, &status, &shutdown).await),
        None => None,
    };
    let (snapshot_rx, first_docs, first_revision) = match follower {
        Some((rx, docs, revision)) => (Some(rx), Some(docs), revision),
        None => (None, None, 0),
    };
    let composed = inputs
        .plan(inputs.local.clone(), first_docs)
        .await
        .map_err(RunError::Config)?;
    for (name, why) in &composed.refused {
        let why = why.lines().collect::<Vec<_>>().join("; ");
        tracing::error!(pipeline = %name, "remote pipeline refused: {why}");
    }
    if let Some(link) = status.write().remote.as_mut() {
        link.revision_applied = first_revision;
        let prefix = inputs
            .remote
            .as_ref()
            .map(|r| r.etcd.pipelines_prefix())
            .unwrap_or_default();
        link.refused = composed
            .refused
            .iter()
            .map(|(name, why)| (format!("{prefix}{name}"), why.clone()))
            .collect();
    }
    let plan = composed.plan;
    // Held until this returns (or the process dies: the kernel releases it).
    let _lock = if opts.shared_data_dir {
        data_dir::probe(&plan.data_dir)?;
        None
    } else {
        Some(data_dir::lock(&plan.data_dir)?)
    };
    if inputs.remote.is_some() {
        inputs.set_running(&status, composed.used, first_revision);
    }
    let mut signals = Signals::install()?;
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
    let reporter = match (&inputs.remote, opts.once) {
        (Some(remote), false) => {
            let host = remote.etcd.host.clone().unwrap_or_else(report::host_name);
            Some(tokio::spawn(report::keep_reporting(
                remote.etcd.clone(),
                inputs.local.base_dir.clone(),
                host,
                status.clone(),
                shutdown.clone(),
            )))
        }
        _ => None,
    };
    let mut snapshot_rx = snapshot_rx.filter(|_| !opts.once);

    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
    let (settings, pipelines) = split(plan);
    let mut d = Topology::new(settings, opts.once, status, shutdown, ended_tx);
    for p in pipelines {
        let name = p.name.clone();
        if d.start(p, false) {
            tracing::info!(pipeline = %name, "pipeline added");
        }
    }
    if opts.once && d.running.is_empty() {
        return finish_once(d);
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
    rewatch(&d, watcher.as_mut(), config_file.as_deref());
    let manager = ServiceNotify::from_env();
    manager.ready(d.running.len());

    let mut pending_config = false;
    let mut pending_plugins: BTreeSet<PathBuf> = BTreeSet::new();
    let mut deadline: Option<Instant> = None;
    let first_stop = loop {
        tokio::select! {
            ask = signals.next() => match ask {
                SignalAsk::Stop(name) => break name,
                SignalAsk::Reload => {
                    manager.reloading();
                    inputs.reload_file(&mut d, "SIGHUP").await;
                    rewatch(&d, watcher.as_mut(), config_file.as_deref());
                    manager.ready(d.running.len());
                }
            },
            Some(req) = reload_rx.recv() => {
                manager.reloading();
                let outcome = inputs.reload_file(&mut d, "api").await;
                rewatch(&d, watcher.as_mut(), config_file.as_deref());
                manager.ready(d.running.len());
                let _ = req.reply.send(outcome);
            }
            Some(snapshot) = next_snapshot(&mut snapshot_rx) => {
                manager.reloading();
                inputs.reload_remote(&mut d, snapshot).await;
                rewatch(&d, watcher.as_mut(), config_file.as_deref());
                manager.ready(d.running.len());
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
                    manager.reloading();
                    inputs.reload_file(&mut d, "file").await;
                    rewatch(&d, watcher.as_mut(), config_file.as_deref());
                    manager.ready(d.running.len());
                }
                for path in std::mem::take(&mut pending_plugins) {
                    d.swap_file(&path).await;
                }
            }
            name = next_drained(&d.draining) => d.drained(&name),
            Some((name, generation, outcome)) = ended_rx.recv() => {
                if d.ended(&name, generation) {
                    if let Err(why) = outcome {
                        manager.stopping();
                        stop_all(d, "a failed pipeline", &mut signals).await?;
                        return Err(RunError::PipelineFailed { pipeline: name, why });
                    }
                    tracing::info!(pipeline = %name, "pipeline ended: its sources are done and every batch is delivered");
                }
                if d.running.is_empty() && d.draining.is_empty() {
                    return finish_once(d);
                }
            }
        }
    };
    manager.stopping();
    let stopped = stop_all(d, first_stop, &mut signals).await;
    if let Some(reporter) = reporter {
        // It revokes its lease: the status key goes at once, not after its time to live.
        let _ = tokio::time::timeout(Duration::from_secs(2), reporter).await;
    }
    stopped
}

/// How long the first read of the config store may take before the kept copy is used.
fn first_read_budget(etcd: &EtcdConfig) -> Duration {
    etcd.timeout + Duration::from_secs(1)
}

/// What a config store gives to start with: its follower, the documents and their revision.
type FirstRead = (
    watch::Receiver<Option<Snapshot>>,
    std::collections::BTreeMap<String, String>,
    i64,
);

/// Starts following the config store and waits (bounded) for its first version; the
/// documents to start with come from it, or else from the copy kept under `data_dir`, or
/// else there are none yet (they are applied once the store answers).
async fn start_remote(
    inputs: &mut Inputs,
    etcd: EtcdConfig,
    status: &Arc<Status>,
    shutdown: &CancellationToken,
) -> FirstRead {
    status.write().remote = Some(RemoteLink {
        kind: "etcd",
        endpoints: etcd.endpoints.clone(),
        prefix: etcd.prefix.clone(),
        ..RemoteLink::default()
    });
    let (tx, mut rx) = watch::channel(None);
    tokio::spawn(remote::etcd::follow(
        etcd.clone(),
        inputs.local.base_dir.clone(),
        tx,
        status.clone(),
        shutdown.clone(),
    ));
    inputs.remote = Some(RemoteInputs {
        etcd: etcd.clone(),
        running: Default::default(),
    });
    let first = tokio::time::timeout(first_read_budget(&etcd), rx.wait_for(Option::is_some))
        .await
        .ok()
        .and_then(|r| r.ok().map(|s| s.clone()));
    if let Some(snapshot) = first {
        let snapshot = snapshot.unwrap_or_default();
        rx.mark_unchanged();
        tracing::info!(
            revision = snapshot.revision,
            pipelines = snapshot.pipelines.len(),
            "read the config store"
        );
        return (rx, snapshot.pipelines, snapshot.revision);
    }
    let data_dir = inputs.local.data_dir();
    match cache::load(&data_dir, &etcd) {
        Ok(kept) => {
            tracing::warn!(
                revision = kept.revision,
                pipelines = kept.pipelines.len(),
                file = %cache::path(&data_dir).display(),
                "the config store did not answer at start: running the last good remote config kept under data_dir; it is followed once it answers"
            );
            if let Some(link) = status.write().remote.as_mut() {
                link.from_cache = true;
            }
            (rx, kept.pipelines, kept.revision)
        }
        Err(why) => {
            tracing::warn!(
                "the config store did not answer at start and no remote config is kept ({why}): starting with the file's pipelines; the store's are applied once it answers"
            );
            (rx, Default::default(), 0)
        }
    }
}

/// The next version of the config store's documents; pending forever without a store (or
/// once its follower is gone).
async fn next_snapshot(rx: &mut Option<watch::Receiver<Option<Snapshot>>>) -> Option<Snapshot> {
    let Some(r) = rx else {
        return std::future::pending().await;
    };
    if r.changed().await.is_err() {
        *rx = None;
        return std::future::pending().await;
    }
    r.borrow_and_update().clone()
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

/// `--once` with nothing left running: done, or the first pipeline that could not start,
/// as the run's error.
fn finish_once(d: Topology) -> Result<(), RunError> {
    d.shutdown.cancel();
    match d.failed.into_iter().next() {
        Some((pipeline, why)) => Err(RunError::PipelineFailed { pipeline, why }),
        None => {
            tracing::info!("all sources ended; every batch delivered and checkpointed");
            Ok(())
        }
    }
}

/// Watches the config file's and the plugins' (filters' and sinks') directories.
fn rewatch(d: &Topology, watcher: Option<&mut Watcher>, config: Option<&Path>) {
    let Some(w) = watcher else { return };
    let plugins: Vec<PathBuf> = d.running.values().flat_map(Running::plugin_paths).collect();
    w.watch_dirs_of(
        config
            .into_iter()
            .chain(plugins.iter().map(PathBuf::as_path)),
    );
}

/// SIGTERM/SIGINT: every pipeline drains at once, bounded by `shutdown_timeout`; a second
/// signal stops at once. Checkpoints are written either way.
async fn stop_all(
    mut d: Topology,
    signal: &'static str,
    signals: &mut Signals,
) -> Result<(), RunError> {
    let timeout = d.shutdown_timeout();
    tracing::info!(
        signal,
        timeout_ms = timeout.as_millis() as u64,
        "stopping: draining in-flight batches"
    );
    let mut all_done = d.stop_everything();
    let wait_all = async {
        for done in &mut all_done {
            let _ = done.wait_for(|done| *done).await;
        }
    };
    let drained = tokio::select! {
        _ = wait_all => true,
        _ = tokio::time::sleep(timeout) => {
            tracing::warn!("drain timed out; undelivered batches will be read again at the next start");
            false
        }
        sig = signals.next_stop() => {
            tracing::warn!(signal = sig, "second signal: stopping now; undelivered batches will be read again at the next start");
            false
        }
    };
    d.flush_everything()?;
    if drained {
        tracing::info!("stopped cleanly; checkpoints written");
    }
    Ok(())
}
