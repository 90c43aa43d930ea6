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
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ComponentId;
use crate::backoff::Backoff;
use crate::batch::Batch;
use crate::checkpoint::{CheckpointError, Ledger};
use crate::config::CheckpointConfig;
use crate::dead_letter::DeadLetters;
use crate::health::ComponentState;
use crate::metrics::Counters;
use crate::plugin::{Sink, SinkContext, SinkWriter, Source, SourceContext};
use crate::registry::{Component, PipelinePlan};
use crate::status::{ComponentStatus, PluginSlot};
use crate::supervisor::{self, Outcome, Restarts};
use crate::tap::Tap;
use crate::wasm::FilterChain;
use crate::wasm::chain::Stage;

/// With `--once`, how many times a failed chain restarts before the run gives up (a daemon
/// keeps retrying, marked failed).
const ONCE_RESTARTS: u32 = 3;

/// Batches that may wait between two stages.
const CHANNEL_BATCHES: usize = 4;

/// Where and how a pipeline keeps its state.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// Root of checkpoints.
    pub data_dir: PathBuf,
    /// Checkpoint settings.
    pub checkpoint: CheckpointConfig,
    /// Largest a pipeline's dead-letter file may grow.
    pub dead_letter_max: u64,
    /// `--once`: sources stop at their current end.
    pub once: bool,
}

/// A started pipeline: the daemon waits for its `task`.
pub struct RunningPipeline {
    /// Ledgers of its sources, flushed once more by the daemon if the drain times out.
    pub ledgers: Vec<Arc<Ledger>>,
    /// Its components (id, kind, live counters), in order: sources, filters, sinks.
    pub components: Vec<ComponentStatus>,
    /// Its tap: the console's view of the events at each point.
    pub tap: Arc<Tap>,
    /// The running task: ends when every source has ended and every sink has drained, with
    /// why the pipeline gave up if it did (`--once` only: a daemon keeps retrying).
    pub task: tokio::task::JoinHandle<Result<(), String>>,
}

/// The ledger file of the source of `pipeline` whose checkpoint key is `key`.
pub fn ledger_path(data_dir: &std::path::Path, pipeline: &str, key: &str) -> PathBuf {
    data_dir
        .join("checkpoints")
        .join(pipeline)
        .join(format!("source-{key}.json"))
}

/// Opens the ledger of source `index` (checkpoint key `key`) of `pipeline`. Checkpoints were
/// once named by position (`source-<index>.json`): such a file, if it is there and the
/// source has none under its key yet, becomes the source's (the config is the one it was
/// written with, at the first start after the upgrade).
pub fn open_ledger(
    data_dir: &std::path::Path,
    pipeline: &str,
    index: usize,
    key: &str,
) -> Result<Ledger, CheckpointError> {
    let path = ledger_path(data_dir, pipeline, key);
    let positional = data_dir
        .join("checkpoints")
        .join(pipeline)
        .join(format!("source-{index}.json"));
    if !path.exists() && positional.exists() && positional != path {
        match std::fs::rename(&positional, &path) {
            Ok(()) => tracing::info!(
                pipeline, from = %positional.display(), to = %path.display(),
                "checkpoint moved from its position to its source's key"
            ),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: positional,
                    source,
                });
            }
        }
    }
    Ledger::open(path)
}

/// A source of the pipeline, with what each of its incarnations needs.
struct SourceSlot {
    component: Component<dyn Source>,
    counters: Arc<Counters>,
    ledger: Arc<Ledger>,
}

/// Opens the pipeline's checkpoints and starts all its tasks.
pub fn start(
    plan: PipelinePlan,
    env: &RunEnv,
    shutdown: CancellationToken,
) -> Result<RunningPipeline, CheckpointError> {
    let name: Arc<str> = plan.name.as_str().into();
    let ledgers = plan
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| open_ledger(&env.data_dir, &name, i, &s.checkpoint).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let mut counters = Vec::new();

    let mut sources = Vec::new();
    for (source, ledger) in plan.sources.into_iter().zip(&ledgers) {
        let source = source.component;
        let c = Arc::new(Counters::default());
        counters.push(ComponentStatus {
            id: source.id,
            kind: source.kind.clone(),
            counters: c.clone(),
            plugin: None,
        });
        sources.push(SourceSlot {
            component: source,
            counters: c,
            ledger: ledger.clone(),
        });
    }

    let stages = plan
        .filters
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            let c = Arc::new(Counters::default());
            counters.push(ComponentStatus {
                id: ComponentId::filter(i),
                kind: slot.current().name.to_string(),
                counters: c.clone(),
                plugin: Some(PluginSlot::Filter(slot.clone())),
            });
            Stage::new(slot, c)
        })
        .collect();
    let dead_letters = Arc::new(DeadLetters::new(
        env.data_dir
            .join("dead_letter")
            .join(format!("{name}.ndjson")),
        env.dead_letter_max,
    ));
    let tap = Tap::new(plan.filters.len());
    let chain = FilterChain::new(
        name.clone(),
        stages,
        plan.on_error,
        plan.batch,
        dead_letters.clone(),
        tap.clone(),
    );

    let mut tasks = JoinSet::new();
    let mut sink_inputs = Vec::new();
    for sink in plan.sinks {
        let c = Arc::new(Counters::default());
        let plugin = plan
            .wasm_sinks
            .iter()
            .find(|w| w.id == sink.id)
            .map(|w| PluginSlot::Sink(w.slot.clone()));
        counters.push(ComponentStatus {
            id: sink.id,
            kind: sink.kind.clone(),
            counters: c.clone(),
            plugin,
        });
        let (stx, srx) = mpsc::channel::<Arc<Batch>>(CHANNEL_BATCHES);
        sink_inputs.push(stx);
        let ctx = SinkContext {
            pipeline: name.clone(),
            component: sink.id,
            counters: c,
            dead_letters: dead_letters.clone(),
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
    let run = Run {
        name: name.clone(),
        sources,
        batch: plan.batch,
        env: env.clone(),
        tap: tap.clone(),
        shutdown,
    };
    let task = tokio::spawn(async move {
        let outcome = run.feed(chain, &sink_inputs).await;
        drop(sink_inputs);
        // Sources and router are done; wait for sinks to drain, then the flusher.
        let task_name = &run.name;
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
        let flushed = flush_all(task_name, &task_ledgers);
        for component in &task_counters {
            let (component, s) = (&component.id, component.counters.snapshot());
            tracing::info!(
                pipeline = %task_name, component = %component, events = s.events, bytes = s.bytes,
                batches = s.batches, errors = s.errors, restarts = s.restarts, lines_split = s.lines_split,
                invalid_utf8 = s.invalid_utf8, files_closed = s.files_closed, multiline_events = s.multiline_events,
                copies_read = s.copies_read, lost_in_rotation = s.lost_in_rotation, events_in = s.events_in,
                dropped = s.dropped, dead_lettered = s.dead_lettered, traps = s.traps, call_ms = s.call_ns / 1_000_000,
                "component stopped"
            );
        }
        outcome.and(flushed.map_err(|e| format!("its checkpoints could not be written: {e}")))
    });
    Ok(RunningPipeline {
        ledgers,
        components: counters,
        tap,
        task,
    })
}

/// The part of a pipeline that restarts as one when its filter chain fails: its sources and
/// the route from them to the sinks. The sinks stay.
struct Run {
    name: Arc<str>,
    sources: Vec<SourceSlot>,
    batch: crate::config::BatchConfig,
    env: RunEnv,
    tap: Arc<Tap>,
    shutdown: CancellationToken,
}

impl Run {
    /// Runs the sources into the chain and on to `sinks` until the sources end. The chain
    /// contains every plugin fault; if it still fails (a bug in the host), the batch it held
    /// is not acknowledged, nothing after it is delivered, and this part restarts: the
    /// sinks finish what they got, the sources start again from their checkpoints (so the
    /// batch is read again) and the chain on fresh instances, with backoff; the failed
    /// filter shows `restarting`, or `failed` when it happens too often. With `--once` the run
    /// gives up after [`ONCE_RESTARTS`]: the error is returned and the lines stay
    /// unacknowledged.
    async fn feed(
        &self,
        mut chain: FilterChain,
        sinks: &[mpsc::Sender<Arc<Batch>>],
    ) -> Result<(), String> {
        let mut restarts = Restarts::new();
        let mut failures = 0;
        loop {
            let incarnation = self.shutdown.child_token();
            let began = Instant::now();
            let (tx, rx) = mpsc::channel::<Batch>(CHANNEL_BATCHES);
            let mut sources = JoinSet::new();
            for s in &self.sources {
                self.spawn_source(&mut sources, s, &incarnation, tx.clone());
            }
            drop(tx);
            let routed = route(&self.name, rx, chain, sinks, &self.tap, &incarnation).await;
            chain = routed.chain;
            let Some(why) = routed.fault else {
                while sources.join_next().await.is_some() {}
                return Ok(());
            };
            // The route stopped the sources, then dropped its input: they end.
            while sources.join_next().await.is_some() {}
            if let Some(last) = routed.last {
                self.wait_delivered(last).await;
            }
            let (stage, counters) = chain.interrupted();
            let counters = counters.clone();
            chain.reset();
            let component = ComponentId::filter(stage);
            let why =
                format!("the filter chain failed (a bug in logcatch, not in the plugin): {why}");
            let delay = restarts.failed(&self.name, component, &counters, began, &why);
            failures += 1;
            if self.env.once && failures >= ONCE_RESTARTS {
                return Err(format!(
                    "{component}: {why}; gave up after {failures} attempts"
                ));
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shutdown.cancelled() => return Ok(()),
            }
            counters.state.set(ComponentState::Running);
        }
    }

    /// Starts one incarnation of source `s`, supervised, sending into `tx` until `stop`.
    fn spawn_source(
        &self,
        tasks: &mut JoinSet<()>,
        s: &SourceSlot,
        stop: &CancellationToken,
        tx: mpsc::Sender<Batch>,
    ) {
        let ctx = SourceContext::new(
            self.name.clone(),
            s.component.id,
            stop.clone(),
            self.env.once,
            self.batch,
            s.counters.clone(),
            self.env.checkpoint.expire_after,
            s.ledger.clone(),
            tx,
        );
        let (pipeline, stop) = (self.name.clone(), stop.clone());
        let (id, kind) = (s.component.id, s.component.kind.clone());
        let (plugin, counters) = (s.component.plugin.clone(), s.counters.clone());
        tasks.spawn(async move {
            tracing::debug!(pipeline = %pipeline, component = %id, kind = %kind, "source starting");
            supervisor::supervise(&pipeline, id, &counters, &stop, || plugin.run(ctx.clone()))
                .await;
        });
    }

    /// Waits until every sink has let go of `last` (the last batch routed before a fault),
    /// so the checkpoints the restarted sources resume from include everything delivered.
    async fn wait_delivered(&self, last: Arc<Batch>) {
        while Arc::strong_count(&last) > 1 && !self.shutdown.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What the route gives back when it ends.
struct Routed {
    chain: FilterChain,
    /// Why the chain failed, if it did (its batch was not delivered).
    fault: Option<String>,
    /// The last batch handed to the sinks.
    last: Option<Arc<Batch>>,
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
    sinks: &[mpsc::Sender<Arc<Batch>>],
    tap: &Arc<Tap>,
    sources: &CancellationToken,
) -> Routed {
    if chain.is_empty() {
        let last = forward(rx, sinks, tap).await;
        return Routed {
            chain,
            fault: None,
            last,
        };
    }
    let (sinks, sources, tap) = (sinks.to_vec(), sources.clone(), tap.clone());
    tokio::task::spawn_blocking(move || filter_thread(rx, chain, &sinks, &tap, &sources))
        .await
        .unwrap_or_else(|e| {
            // filter_thread catches every panic of the chain; this is the thread itself.
            panic!("pipeline {pipeline}: the filter thread failed: {e}")
        })
}

/// The route of a pipeline without filters: batches go straight to the sinks.
async fn forward(
    mut rx: mpsc::Receiver<Batch>,
    sinks: &[mpsc::Sender<Arc<Batch>>],
    tap: &Tap,
) -> Option<Arc<Batch>> {
    let mut last = None;
    while let Some(batch) = rx.recv().await {
        tap.after_sources(&batch);
        tap.before_sinks(&batch);
        let batch = fan_out(batch, sinks.len());
        for sink in sinks {
            // A sink task only ends when its input closes, so this cannot fail while we hold it.
            let _ = sink.send(batch.clone()).await;
        }
        last = Some(batch);
    }
    last
}

/// A batch ready to go to `sinks` sinks: its ack waits for each of them.
fn fan_out(batch: Batch, sinks: usize) -> Arc<Batch> {
    batch.ack.set_holders(sinks);
    Arc::new(batch)
}

/// The route of a pipeline with filters, on its blocking thread. A panic in the chain ends
/// it, leaving that batch undelivered and unacknowledged, and stops the `sources` (before
/// their output closes, so they take it for a stop, not a failure).
fn filter_thread(
    mut rx: mpsc::Receiver<Batch>,
    mut chain: FilterChain,
    sinks: &[mpsc::Sender<Arc<Batch>>],
    tap: &Tap,
    sources: &CancellationToken,
) -> Routed {
    let mut last = None;
    while let Some(batch) = rx.blocking_recv() {
        tap.after_sources(&batch);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chain.run(batch)));
        let batch = match ran {
            Ok(batch) => {
                tap.before_sinks(&batch);
                fan_out(batch, sinks.len())
            }
            Err(payload) => {
                sources.cancel();
                return Routed {
                    chain,
                    fault: Some(supervisor::panic_message(&payload)),
                    last,
                };
            }
        };
        for sink in sinks {
            let _ = sink.blocking_send(batch.clone());
        }
        last = Some(batch);
    }
    Routed {
        chain,
        fault: None,
        last,
    }
}

/// Runs one sink: hands each batch to its writer (up to the writer's window of them in
/// flight) and acknowledges each, oldest first, once the writer confirms it. After an error
/// or a panic the writer is reopened (with backoff, `blocked` meanwhile) and every
/// unconfirmed batch is sent again, in order. Never drops a batch.
async fn deliver(sink: Component<dyn Sink>, mut rx: mpsc::Receiver<Arc<Batch>>, ctx: SinkContext) {
    let (pipeline, counters) = (&ctx.pipeline, &ctx.counters);
    let mut writer: Option<Box<dyn SinkWriter>> = None;
    let mut backoff = Backoff::new();
    let id = sink.id;
    // Received and not acknowledged, oldest first; the first `sent` are with the writer.
    let mut unconfirmed: std::collections::VecDeque<Arc<Batch>> = Default::default();
    let mut sent = 0;
    let mut input_open = true;
    /// What the loop does next.
    enum Step {
        Received(Option<Arc<Batch>>),
        Settled(Outcome),
    }
    loop {
        if writer.is_none() && unconfirmed.is_empty() {
            // A writer is opened only for something to write.
            match rx.recv().await {
                Some(batch) => unconfirmed.push_back(batch),
                None => break,
            }
        }
        let w = match &mut writer {
            Some(w) => w,
            None => match open(&sink, &ctx).await {
                Ok(w) => {
                    sent = 0;
                    writer.insert(w)
                }
                Err(why) => {
                    counters.state.set(ComponentState::Blocked);
                    counters.error(&format!("cannot open sink: {why}"));
                    let delay = backoff.step();
                    tracing::warn!(pipeline = %pipeline, component = %id, retry_in_ms = delay.as_millis() as u64, "cannot open sink: {why}");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            },
        };
        let step = if sent < unconfirmed.len() {
            // Received, or sent to a writer that failed since: hand it over.
            match supervisor::catch(w.send(&unconfirmed[sent])).await {
                Outcome::Done => {
                    sent += 1;
                    continue;
                }
                failed => Step::Settled(failed),
            }
        } else if unconfirmed.is_empty() {
            if !input_open {
                break;
            }
            Step::Received(rx.recv().await)
        } else if input_open && unconfirmed.len() < w.window().max(1) {
            // A batch waiting is sent first: it keeps the destination busy meanwhile.
            tokio::select! {
                biased;
                batch = rx.recv() => Step::Received(batch),
                () = w.ready() => Step::Settled(supervisor::catch(w.confirm()).await),
            }
        } else {
            Step::Settled(supervisor::catch(w.confirm()).await)
        };
        let why = match step {
            Step::Received(None) => {
                input_open = false;
                continue;
            }
            Step::Received(Some(batch)) => {
                unconfirmed.push_back(batch);
                continue;
            }
            Step::Settled(Outcome::Done) => {
                let batch = unconfirmed
                    .pop_front()
                    .expect("confirmed a batch that was sent");
                sent -= 1;
                batch.ack.done();
                if counters.state.get() != ComponentState::Running {
                    counters.state.set(ComponentState::Running);
                }
                counters.batch(batch.len(), batch.message_bytes());
                counters.latency.observe(batch.created.elapsed());
                backoff.reset();
                continue;
            }
            Step::Settled(Outcome::Failed(e)) => format!("write failed: {e}"),
            Step::Settled(Outcome::Panicked(msg)) => {
                Counters::add(&counters.restarts, 1);
                format!("panicked: {msg}")
            }
        };
        counters.error(&why);
        counters.state.set(ComponentState::Blocked);
        writer = None;
        let delay = backoff.step();
        let events: usize = unconfirmed.iter().map(|b| b.len()).sum();
        tracing::warn!(pipeline = %pipeline, component = %id, events, retry_in_ms = delay.as_millis() as u64, "{why}; the batch is kept and retried");
        tokio::time::sleep(delay).await;
    }
    if let Some(mut w) = writer {
        let why = match supervisor::catch(w.close()).await {
            Outcome::Done => return,
            Outcome::Failed(e) => e.to_string(),
            Outcome::Panicked(msg) => format!("panicked: {msg}"),
        };
        tracing::warn!(pipeline = %pipeline, component = %id, "closing sink failed: {why}");
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

/// How long commits gather before they are appended to the journal: one write per source
/// for every batch acknowledged meanwhile.
const JOURNAL_COALESCE: Duration = Duration::from_millis(5);

/// Keeps the ledgers on disk until `stop`: each commit is appended to its journal within
/// [`JOURNAL_COALESCE`] (what a `kill -9` can lose), and a snapshot is written every
/// `interval` (what a power loss can lose). Failures (a full disk) are logged, rate-limited,
/// and tried again: the only cost of a late checkpoint is duplicates.
async fn flush_periodically(
    pipeline: Arc<str>,
    ledgers: Vec<Arc<Ledger>>,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let warnings = Arc::new(std::sync::Mutex::new(crate::log_limit::LogLimit::new(
        Duration::from_secs(10),
    )));
    loop {
        let committed =
            futures::future::select_all(ledgers.iter().map(|l| Box::pin(l.committed())));
        let snapshot = tokio::select! {
            _ = tick.tick() => true,
            _ = committed => {
                tokio::time::sleep(JOURNAL_COALESCE).await;
                false
            }
            _ = stop.cancelled() => return,
        };
        let (p, l, w) = (pipeline.clone(), ledgers.clone(), warnings.clone());
        let _ = tokio::task::spawn_blocking(move || {
            for ledger in &l {
                let written = if snapshot {
                    ledger.flush()
                } else {
                    ledger.write_journal()
                };
                if let Err(e) = written {
                    let allowed = w.lock().unwrap_or_else(|p| p.into_inner()).allow(std::time::Instant::now());
                    if let Some(held) = allowed {
                        tracing::warn!(pipeline = %p, similar_warnings_held_back = held, "cannot write checkpoint: {e}");
                    }
                }
            }
        })
        .await;
    }
}

/// Writes a snapshot of every changed ledger: at a pipeline's end and at shutdown. Errors are
/// logged and returned (the first): with `--once`, a checkpoint that could not be written
/// makes the run fail, since the next one would read everything again.
pub fn flush_all(pipeline: &str, ledgers: &[Arc<Ledger>]) -> Result<(), CheckpointError> {
    let mut first = None;
    for l in ledgers {
        if let Err(e) = l.flush() {
            tracing::error!(pipeline = %pipeline, "cannot write checkpoint: {e}");
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::Ack;
    use crate::batch::BatchBuilder;
    use crate::plugin::PluginError;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// What the fake sink saw, in order: `send N`, `confirm N`, `open`.
    type Log = Arc<Mutex<Vec<String>>>;

    /// A sink that confirms later, keeps up to 3 batches in flight, and fails the first
    /// confirm of batch 2 once.
    struct Windowed {
        log: Log,
        failed: Arc<std::sync::atomic::AtomicBool>,
    }

    struct WindowedWriter {
        log: Log,
        failed: Arc<std::sync::atomic::AtomicBool>,
        flights: std::collections::VecDeque<String>,
    }

    #[async_trait]
    impl Sink for Windowed {
        async fn open(&self, _: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError> {
            self.log.lock().unwrap().push("open".into());
            Ok(Box::new(WindowedWriter {
                log: self.log.clone(),
                failed: self.failed.clone(),
                flights: Default::default(),
            }))
        }
    }

    #[async_trait]
    impl SinkWriter for WindowedWriter {
        async fn write(&mut self, _: &Batch) -> Result<(), PluginError> {
            unreachable!("the pipeline sends and confirms")
        }
        fn window(&self) -> usize {
            3
        }
        async fn send(&mut self, batch: &Arc<Batch>) -> Result<(), PluginError> {
            let name = batch.get(0).message().to_owned();
            self.log.lock().unwrap().push(format!("send {name}"));
            self.flights.push_back(name);
            Ok(())
        }
        async fn confirm(&mut self) -> Result<(), PluginError> {
            let name = self.flights.pop_front().expect("confirm follows a send");
            if name == "2" && !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err(PluginError::new("lost the connection"));
            }
            self.log.lock().unwrap().push(format!("confirm {name}"));
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_of_batches_is_acked_in_order_and_resent_after_a_failure() {
        let log: Log = Default::default();
        let acked: Log = Default::default();
        let sink = Component {
            id: ComponentId::sink(0),
            kind: "windowed".into(),
            plugin: Arc::new(Windowed {
                log: log.clone(),
                failed: Default::default(),
            }) as Arc<dyn Sink>,
        };
        let dir = tempfile::tempdir().unwrap();
        let ctx = SinkContext {
            pipeline: "p".into(),
            component: ComponentId::sink(0),
            counters: Arc::new(Counters::default()),
            dead_letters: Arc::new(DeadLetters::new(dir.path().join("dead"), 1 << 20)),
        };
        let (tx, rx) = mpsc::channel(16);
        for i in 0..5 {
            let mut b = BatchBuilder::with_capacity(1, 8);
            let src = b.source("s");
            b.push(&i.to_string(), src, 0, 0);
            let acked = acked.clone();
            tx.send(Arc::new(b.finish(Ack::callback(move || {
                acked.lock().unwrap().push(i.to_string())
            }))))
            .await
            .unwrap();
        }
        drop(tx);
        deliver(sink, rx, ctx.clone()).await;
        assert_eq!(*acked.lock().unwrap(), ["0", "1", "2", "3", "4"]);
        let log = log.lock().unwrap().join(", ");
        assert_eq!(
            log,
            "open, send 0, send 1, send 2, confirm 0, send 3, confirm 1, send 4, \
             open, send 2, send 3, send 4, confirm 2, confirm 3, confirm 4",
            "waiting batches fill the window of three; after the failure every unconfirmed \
             batch goes again, in order, to a new writer"
        );
        assert_eq!(ctx.counters.snapshot().errors, 1);
        assert_eq!(ctx.counters.snapshot().batches, 5);
    }
}
