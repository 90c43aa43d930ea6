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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiError, ReloadRequest};
use crate::checkpoint::{CheckpointError, Ledger};
use crate::data_dir::{self, DataDirError};
use crate::pipeline;
use crate::registry::Plan;
use crate::reload::apply::{Draining, Running, Topology, split};
use crate::reload::{self, Loader};
use crate::status::{ReloadOutcome, Status};
use crate::watch::{Watcher, resolved};

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

    let mut pending_config = false;
    let mut pending_plugins: BTreeSet<PathBuf> = BTreeSet::new();
    let mut deadline: Option<Instant> = None;
    let first_stop = loop {
        tokio::select! {
            ask = signals.next() => match ask {
                SignalAsk::Stop(name) => break name,
                SignalAsk::Reload => {
                    reload(&mut d, "SIGHUP", opts.loader.as_ref()).await;
                    rewatch(&d, watcher.as_mut(), config_file.as_deref());
                }
            },
            Some(req) = reload_rx.recv() => {
                let outcome = reload(&mut d, "api", opts.loader.as_ref()).await;
                rewatch(&d, watcher.as_mut(), config_file.as_deref());
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
                    reload(&mut d, "file", opts.loader.as_ref()).await;
                    rewatch(&d, watcher.as_mut(), config_file.as_deref());
                }
                for path in std::mem::take(&mut pending_plugins) {
                    d.swap_file(&path).await;
                }
            }
            name = next_drained(&d.draining) => d.drained(&name),
            Some((name, generation, outcome)) = ended_rx.recv() => {
                if d.ended(&name, generation) {
                    if let Err(why) = outcome {
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
    stop_all(d, first_stop, &mut signals).await
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

/// Loads the config file again (with `loader`) and offers it to the topology.
async fn reload(d: &mut Topology, trigger: &'static str, loader: Option<&Loader>) -> ReloadOutcome {
    tracing::info!(trigger, "reloading the config");
    let candidate = match loader {
        None => Err(
            "this logcatch runs the embedded config: there is no file to reload; start it with -c FILE".into(),
        ),
        Some(load) => reload::check(load).await,
    };
    d.offer(trigger, candidate)
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
