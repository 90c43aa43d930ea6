//! One running pipeline: its sources, the stage between them and the sinks (where the filter
//! chain goes), its sinks, and the checkpoint writer, wired by bounded channels.
//!
//! ```text
//! sources ─(batches, bounded)→ route ─(Arc<Batch>, bounded, one per sink)→ sinks
//!     ↑                                                                      │
//!     └────────────── ledger ← ack (after the last sink has the batch) ──────┘
//! ```
//! A slow sink fills its channel, which stalls `route`, which stalls the sources: the files
//! on disk are the buffer, memory stays bounded.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::batch::Batch;
use crate::checkpoint::{CheckpointError, Ledger};
use crate::config::CheckpointConfig;
use crate::dead_letter::DeadLetters;
use crate::metrics::Counters;
use crate::plugin::{Sink, SinkContext, SinkWriter, SourceContext};
use crate::registry::{Component, PipelinePlan};
use crate::status::ComponentStatus;
use crate::supervisor::{self, Backoff, Outcome};
use crate::wasm::FilterChain;
use crate::wasm::chain::{Stage, Swap};

/// Batches that may wait between two stages.
const CHANNEL_BATCHES: usize = 4;

/// Where and how a pipeline keeps its state.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// Root of checkpoints.
    pub data_dir: PathBuf,
    /// Checkpoint settings.
    pub checkpoint: CheckpointConfig,
    /// `--once`: sources stop at their current end.
    pub once: bool,
}

/// A started pipeline: wait for it with [`RunningPipeline::join`].
pub struct RunningPipeline {
    /// Its name.
    pub name: String,
    /// Ledgers of its sources, flushed once more by the daemon if the drain times out.
    pub ledgers: Vec<Arc<Ledger>>,
    /// Its components (id, kind, live counters), in order: sources, filters, sinks.
    pub components: Vec<ComponentStatus>,
    /// Where new versions of its filter plugins go (applied at the next batch boundary).
    pub swaps: std::sync::mpsc::Sender<Swap>,
    /// The running task: ends when every source has ended and every sink has drained.
    pub task: tokio::task::JoinHandle<()>,
}

impl RunningPipeline {
    /// Waits until every source has ended and every sink has drained.
    pub async fn join(self) {
        if let Err(e) = self.task.await {
            tracing::error!(pipeline = %self.name, "pipeline task ended abnormally: {e}");
        }
    }
}

/// The ledger file of source `index` of `pipeline`.
pub fn ledger_path(data_dir: &std::path::Path, pipeline: &str, index: usize) -> PathBuf {
    data_dir
        .join("checkpoints")
        .join(pipeline)
        .join(format!("source-{index}.json"))
}

/// Opens the pipeline's checkpoints and starts all its tasks.
pub fn start(
    plan: PipelinePlan,
    env: &RunEnv,
    shutdown: CancellationToken,
) -> Result<RunningPipeline, CheckpointError> {
    let name: Arc<str> = plan.name.as_str().into();
    let ledgers = (0..plan.sources.len())
        .map(|i| Ledger::open(ledger_path(&env.data_dir, &name, i)).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let mut counters = Vec::new();
    let mut tasks = JoinSet::new();

    let (tx, rx) = mpsc::channel::<Batch>(CHANNEL_BATCHES);
    for (source, ledger) in plan.sources.into_iter().zip(&ledgers) {
        let c = Arc::new(Counters::default());
        counters.push(ComponentStatus {
            id: source.id.clone(),
            kind: source.kind.clone(),
            counters: c.clone(),
        });
        let ctx = SourceContext::new(
            name.clone(),
            source.id.as_str().into(),
            shutdown.clone(),
            env.once,
            plan.batch,
            c.clone(),
            env.checkpoint.expire_after,
            ledger.clone(),
            tx.clone(),
        );
        let (pipeline, shutdown) = (name.clone(), shutdown.clone());
        tasks.spawn(async move {
            tracing::debug!(pipeline = %pipeline, component = %source.id, kind = %source.kind, "source starting");
            supervisor::supervise(&pipeline, &source.id, &c, &shutdown, || source.plugin.run(ctx.clone())).await;
        });
    }
    drop(tx);

    let stages = plan
        .filters
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let c = Arc::new(Counters::default());
            counters.push(ComponentStatus {
                id: format!("filters[{i}]"),
                kind: f.filter.name.to_string(),
                counters: c.clone(),
            });
            Stage::new(f.filter, f.instance, c)
        })
        .collect();
    let dead_letter = env
        .data_dir
        .join("dead_letter")
        .join(format!("{name}.ndjson"));
    let (swaps, swap_rx) = std::sync::mpsc::channel();
    let sink_dead_letters = Arc::new(DeadLetters::new(dead_letter.clone()));
    let chain =
        FilterChain::new(name.clone(), stages, plan.on_error, dead_letter).with_swaps(swap_rx);

    let mut sink_inputs = Vec::new();
    for sink in plan.sinks {
        let c = Arc::new(Counters::default());
        counters.push(ComponentStatus {
            id: sink.id.clone(),
            kind: sink.kind.clone(),
            counters: c.clone(),
        });
        let (stx, srx) = mpsc::channel::<Arc<Batch>>(CHANNEL_BATCHES);
        sink_inputs.push(stx);
        let ctx = SinkContext {
            pipeline: name.clone(),
            component: sink.id.as_str().into(),
            counters: c,
            dead_letters: sink_dead_letters.clone(),
        };
        tasks.spawn(deliver(sink, srx, ctx));
    }

    let flusher_stop = CancellationToken::new();
    tasks.spawn(flush_periodically(
        name.clone(),
        ledgers.clone(),
        env.checkpoint.interval,
        flusher_stop.clone(),
    ));

    let task_ledgers = ledgers.clone();
    let task_counters = counters.clone();
    let task_name = name.clone();
    let task = tokio::spawn(async move {
        route(&task_name, rx, chain, sink_inputs).await;
        // Sources and router are done; wait for sinks to drain, then the flusher.
        let mut flusher_stopped = false;
        while tasks.len() > 1 || !flusher_stopped {
            if tasks.len() == 1 && !flusher_stopped {
                flusher_stop.cancel();
                flusher_stopped = true;
            }
            if let Some(Err(e)) = tasks.join_next().await {
                tracing::error!(pipeline = %task_name, "pipeline task ended abnormally: {e}");
            }
        }
        flush_all(&task_name, &task_ledgers);
        for component in &task_counters {
            let (component, s) = (&component.id, component.counters.snapshot());
            tracing::info!(
                pipeline = %task_name, component = %component, events = s.events, bytes = s.bytes,
                batches = s.batches, errors = s.errors, restarts = s.restarts, lines_split = s.lines_split,
                invalid_utf8 = s.invalid_utf8, files_closed = s.files_closed, events_in = s.events_in,
                dropped = s.dropped, dead_lettered = s.dead_lettered, traps = s.traps, call_ms = s.call_ns / 1_000_000,
                "component stopped"
            );
        }
    });
    Ok(RunningPipeline {
        name: name.to_string(),
        ledgers,
        components: counters,
        swaps,
        task,
    })
}

/// The stage between sources and sinks: runs the filter chain on each batch, then fans the
/// batch out to every sink. One chain per pipeline keeps batches in order, which in-order
/// acknowledgement relies on. A chain is CPU work, so it runs on a thread of its own for
/// the pipeline's whole life, kept out of the reactor: one wake-up per batch in and one out,
/// where a blocking task per batch cost two more (measured: about 10% of a 1M-line run).
async fn route(
    pipeline: &str,
    rx: mpsc::Receiver<Batch>,
    chain: FilterChain,
    sinks: Vec<mpsc::Sender<Arc<Batch>>>,
) {
    if chain.is_empty() {
        return forward(rx, sinks).await;
    }
    let name = pipeline.to_owned();
    if let Err(e) = tokio::task::spawn_blocking(move || filter_thread(rx, chain, sinks)).await {
        // A bug in the host, not a plugin fault (those are contained in the chain): stop
        // routing; undelivered lines are read again after a restart.
        tracing::error!(pipeline = %name, "filter chain failed: {e}; this pipeline stops delivering");
    }
}

/// The route of a pipeline without filters: batches go straight to the sinks.
async fn forward(mut rx: mpsc::Receiver<Batch>, sinks: Vec<mpsc::Sender<Arc<Batch>>>) {
    while let Some(batch) = rx.recv().await {
        batch.ack.set_holders(sinks.len());
        let batch = Arc::new(batch);
        for sink in &sinks {
            // A sink task only ends when its input closes, so this cannot fail while we hold it.
            let _ = sink.send(batch.clone()).await;
        }
    }
}

/// The route of a pipeline with filters, on its blocking thread.
fn filter_thread(
    mut rx: mpsc::Receiver<Batch>,
    mut chain: FilterChain,
    sinks: Vec<mpsc::Sender<Arc<Batch>>>,
) {
    while let Some(batch) = rx.blocking_recv() {
        let batch = chain.run(batch);
        batch.ack.set_holders(sinks.len());
        let batch = Arc::new(batch);
        for sink in &sinks {
            let _ = sink.blocking_send(batch.clone());
        }
    }
}

/// Runs one sink: writes each batch until it succeeds (reopening and backing off after
/// errors and panics), then acknowledges it. Never drops a batch.
async fn deliver(sink: Component<dyn Sink>, mut rx: mpsc::Receiver<Arc<Batch>>, ctx: SinkContext) {
    let (pipeline, counters) = (&ctx.pipeline, &ctx.counters);
    let mut writer: Option<Box<dyn SinkWriter>> = None;
    let mut backoff = Backoff::new();
    let id = sink.id.as_str();
    while let Some(batch) = rx.recv().await {
        loop {
            let w = match &mut writer {
                Some(w) => w,
                None => match open(&sink, &ctx).await {
                    Ok(w) => writer.insert(w),
                    Err(why) => {
                        counters.error(&format!("cannot open sink: {why}"));
                        let delay = backoff.step();
                        tracing::warn!(pipeline = %pipeline, component = id, retry_in_ms = delay.as_millis() as u64, "cannot open sink: {why}");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                },
            };
            let why = match supervisor::catch(w.write(&batch)).await {
                Outcome::Done => {
                    batch.ack.done();
                    counters.batch(batch.len(), batch.message_bytes());
                    counters.latency.observe(batch.created.elapsed());
                    backoff.reset();
                    break;
                }
                Outcome::Failed(e) => format!("write failed: {e}"),
                Outcome::Panicked(msg) => {
                    Counters::add(&counters.restarts, 1);
                    format!("panicked: {msg}")
                }
            };
            counters.error(&why);
            writer = None;
            let delay = backoff.step();
            tracing::warn!(pipeline = %pipeline, component = id, events = batch.len(), retry_in_ms = delay.as_millis() as u64, "{why}; the batch is kept and retried");
            tokio::time::sleep(delay).await;
        }
    }
    if let Some(mut w) = writer {
        let why = match supervisor::catch(w.close()).await {
            Outcome::Done => return,
            Outcome::Failed(e) => e.to_string(),
            Outcome::Panicked(msg) => format!("panicked: {msg}"),
        };
        tracing::warn!(pipeline = %pipeline, component = id, "closing sink failed: {why}");
    }
}

async fn open(
    sink: &Component<dyn Sink>,
    ctx: &SinkContext,
) -> Result<Box<dyn SinkWriter>, String> {
    let mut result = None;
    let outcome = supervisor::catch(async {
        result = Some(sink.plugin.open(ctx).await?);
        Ok(())
    })
    .await;
    match outcome {
        Outcome::Done => Ok(result.expect("set on success")),
        Outcome::Failed(e) => Err(e.to_string()),
        Outcome::Panicked(msg) => Err(format!("panicked: {msg}")),
    }
}

/// Writes changed ledgers every `interval` until `stop`.
async fn flush_periodically(
    pipeline: Arc<str>,
    ledgers: Vec<Arc<Ledger>>,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let (p, l) = (pipeline.clone(), ledgers.clone());
        let _ = tokio::task::spawn_blocking(move || flush_all(&p, &l)).await;
    }
}

/// Writes every changed ledger, logging (not failing on) errors such as a full disk: the
/// next flush tries again, and the only cost of a late checkpoint is duplicates.
pub fn flush_all(pipeline: &str, ledgers: &[Arc<Ledger>]) {
    for l in ledgers {
        if let Err(e) = l.flush() {
            tracing::warn!(pipeline, "cannot write checkpoint: {e}");
        }
    }
}
