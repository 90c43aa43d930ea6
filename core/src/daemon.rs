//! Runs a plan: starts every pipeline, and on SIGTERM/SIGINT stops the sources, lets the
//! in-flight batches drain to the sinks (bounded by `shutdown_timeout`) and writes the
//! checkpoints. A second signal stops at once, after writing what was acknowledged.

use std::sync::Arc;

use futures::future::join_all;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{CheckpointError, Ledger};
use crate::pipeline::{self, RunEnv};
use crate::registry::Plan;

/// How `run` behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Read every source to its current end, deliver, checkpoint and return.
    pub once: bool,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `data_dir` cannot be created or written.
    #[error("data_dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A checkpoint file cannot be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Signal handlers cannot be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn install() -> Result<Self, RunError> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(RunError::Signals)?,
            int: signal(SignalKind::interrupt()).map_err(RunError::Signals)?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// The checks `run` makes before starting anything: `data_dir` can be created and every
/// checkpoint file is readable. `validate` runs them too.
pub fn preflight(plan: &Plan) -> Result<(), RunError> {
    std::fs::create_dir_all(&plan.data_dir).map_err(|source| RunError::DataDir {
        path: plan.data_dir.clone(),
        source,
    })?;
    for p in &plan.pipelines {
        for i in 0..p.sources.len() {
            Ledger::open(pipeline::ledger_path(&plan.data_dir, &p.name, i))?;
        }
    }
    Ok(())
}

/// Runs every pipeline of `plan` until they all end (`--once`, finite sources) or a signal
/// asks to stop.
pub async fn run(plan: Plan, opts: RunOptions) -> Result<(), RunError> {
    std::fs::create_dir_all(&plan.data_dir).map_err(|source| RunError::DataDir {
        path: plan.data_dir.clone(),
        source,
    })?;
    let mut signals = Signals::install()?;
    let env = RunEnv {
        data_dir: plan.data_dir.clone(),
        checkpoint: plan.checkpoint.clone(),
        once: opts.once,
    };
    let shutdown = CancellationToken::new();
    let mut running = Vec::new();
    let mut ledgers: Vec<(String, Vec<Arc<Ledger>>)> = Vec::new();
    for p in plan.pipelines {
        let (name, sources, sinks) = (p.name.clone(), p.sources.len(), p.sinks.len());
        let r = pipeline::start(p, &env, shutdown.clone())?;
        tracing::info!(pipeline = %name, sources, sinks, "pipeline started");
        ledgers.push((name, r.ledgers.clone()));
        running.push(r.join());
    }
    let all = join_all(running);
    tokio::pin!(all);
    tokio::select! {
        _ = &mut all => {
            tracing::info!("all sources ended; every batch delivered and checkpointed");
            return Ok(());
        }
        sig = signals.next() => {
            tracing::info!(signal = sig, timeout_ms = plan.shutdown_timeout.as_millis() as u64, "stopping: draining in-flight batches");
            shutdown.cancel();
        }
    }
    tokio::select! {
        _ = &mut all => {
            tracing::info!("stopped cleanly; checkpoints written");
            return Ok(());
        }
        _ = tokio::time::sleep(plan.shutdown_timeout) => {
            tracing::warn!("drain timed out; undelivered batches will be read again at the next start");
        }
        sig = signals.next() => {
            tracing::warn!(signal = sig, "second signal: stopping now; undelivered batches will be read again at the next start");
        }
    }
    for (name, l) in &ledgers {
        pipeline::flush_all(name, l);
    }
    Ok(())
}
