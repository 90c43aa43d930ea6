//! What a source or sink plugin implements, and the context the pipeline gives it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ComponentId;
use crate::ack::Ack;
use crate::batch::Batch;
use crate::checkpoint::{Ledger, Mark};
use crate::config::BatchConfig;
use crate::dead_letter::DeadLetters;
use crate::metrics::Counters;

/// A failure inside a plugin: retried (sinks) or restarted (sources) by the pipeline.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PluginError(pub String);

impl PluginError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        PluginError(message.into())
    }
}

impl From<std::io::Error> for PluginError {
    fn from(e: std::io::Error) -> Self {
        PluginError(e.to_string())
    }
}

/// A configured source. `run` is called again, from the last checkpoint, after a panic.
#[async_trait]
pub trait Source: Send + Sync + 'static {
    /// Reads and sends batches until the source ends (`Ok`) or `ctx.shutdown` fires.
    async fn run(&self, ctx: SourceContext) -> Result<(), PluginError>;
}

/// A configured sink; `open` makes a fresh writer at start and after a failure or a panic.
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Opens the destination; `ctx` names the sink and gives its counters and the
    /// pipeline's dead-letter file.
    async fn open(&self, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError>;
}

/// What a sink gets from its pipeline: for sinks that retry or give up on events inside
/// `write` (and must count that), rather than returning an error to the pipeline.
#[derive(Clone)]
pub struct SinkContext {
    /// Pipeline name, for logs.
    pub pipeline: Arc<str>,
    /// Which sink it is (`sinks[0]`), for logs.
    pub component: ComponentId,
    /// This sink's counters (failed attempts, dead letters).
    pub counters: Arc<Counters>,
    /// The pipeline's dead-letter file, for events the destination refuses for good.
    pub dead_letters: Arc<DeadLetters>,
}

impl SinkContext {
    /// Writes `events` that `plugin` (this sink) cannot deliver for good to the pipeline's
    /// dead-letter file, with `reasons[i]` for event `i`, off the reactor, and counts them;
    /// holds the pipeline (`blocked`) while the file cannot be written.
    pub async fn dead_letter(
        &self,
        plugin: &'static str,
        events: Batch,
        reasons: Vec<String>,
    ) -> Result<(), PluginError> {
        let n = events.len() as u64;
        let (dead, pipeline, counters) = (
            self.dead_letters.clone(),
            self.pipeline.clone(),
            self.counters.clone(),
        );
        tokio::task::spawn_blocking(move || {
            dead.write(&pipeline, plugin, &events, &reasons, &counters.state)
        })
        .await
        .map_err(|e| PluginError::new(format!("writing dead letters failed: {e}")))?;
        Counters::add(&self.counters.dead_lettered, n);
        Ok(())
    }
}

/// An open sink destination.
#[async_trait]
///
/// The pipeline hands batches over with [`send`](SinkWriter::send) and acknowledges each,
/// oldest first, after [`confirm`](SinkWriter::confirm) says it is delivered. A sink that
/// delivers synchronously implements `write` only: `send` writes, `confirm` has nothing to
/// wait for. One whose destination confirms later (Kafka) keeps up to
/// [`window`](SinkWriter::window) batches in flight, so the round trip is paid once for many
/// batches instead of once for each.
pub trait SinkWriter: Send {
    /// Delivers a batch; `Ok` means it is written and flushed, so its positions may be
    /// checkpointed. An error is retried with backoff (with a reopened writer).
    async fn write(&mut self, batch: &Batch) -> Result<(), PluginError>;
    /// Most batches handed over and not confirmed yet (1: each is delivered before the
    /// next is sent). Memory held is up to this many batches.
    fn window(&self) -> usize {
        1
    }
    /// Hands `batch` over. Returns once it is taken (queued or delivered), not necessarily
    /// delivered. An error reopens the writer and sends every unconfirmed batch again.
    async fn send(&mut self, batch: &Arc<Batch>) -> Result<(), PluginError> {
        self.write(batch).await
    }
    /// Waits, without changing anything (so it may be cancelled), until the oldest batch
    /// sent and not confirmed has its answer, and [`confirm`](SinkWriter::confirm) will not
    /// wait for the destination.
    async fn ready(&mut self) {}
    /// Settles the oldest batch sent and not confirmed: waits for its delivery (retrying
    /// what the destination failed, dead-lettering what it refused for good). `Ok` means it
    /// may be acknowledged. Runs to its end (never cancelled).
    async fn confirm(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
    /// Flushes and releases the destination at shutdown.
    async fn close(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
}

/// The sending side of a pipeline was closed: the pipeline is stopping.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the pipeline is shutting down")]
pub struct Closed;

/// What a running source gets from its pipeline.
#[derive(Clone)]
pub struct SourceContext {
    /// Pipeline name, for logs.
    pub pipeline: Arc<str>,
    /// Which source it is (`sources[0]`), for logs.
    pub component: ComponentId,
    /// Fires when the source must stop (send what it holds, then return).
    pub shutdown: CancellationToken,
    /// `--once`: read to the current end, then return `Ok`.
    pub once: bool,
    /// When to cut a batch.
    pub batch: BatchConfig,
    /// This source's counters.
    pub counters: Arc<Counters>,
    /// Forget streams not seen for this long.
    pub expire_after: Duration,
    ledger: Arc<Ledger>,
    out: mpsc::Sender<Batch>,
}

impl SourceContext {
    /// Assembles a context (the pipeline does this).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        pipeline: Arc<str>,
        component: ComponentId,
        shutdown: CancellationToken,
        once: bool,
        batch: BatchConfig,
        counters: Arc<Counters>,
        expire_after: Duration,
        ledger: Arc<Ledger>,
        out: mpsc::Sender<Batch>,
    ) -> Self {
        SourceContext {
            pipeline,
            component,
            shutdown,
            once,
            batch,
            counters,
            expire_after,
            ledger,
            out,
        }
    }

    /// The last acknowledged mark of every stream: where to resume.
    pub fn resume_marks(&self) -> std::collections::BTreeMap<String, Mark> {
        self.ledger.marks()
    }

    /// The ledger of this source (to expire streams that are gone).
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// An ack that commits `marks` once every sink has the batch.
    pub fn ack(&self, marks: Vec<(String, Mark)>) -> Ack {
        Ack::new(self.ledger.clone(), marks)
    }

    /// Sends a batch downstream, waiting while the pipeline is full (backpressure).
    pub async fn send(&self, batch: Batch) -> Result<(), Closed> {
        self.counters.batch(batch.len(), batch.message_bytes());
        self.out.send(batch).await.map_err(|_| Closed)
    }

    /// [`send`](Self::send) for sources that run on a blocking thread.
    pub fn blocking_send(&self, batch: Batch) -> Result<(), Closed> {
        self.counters.batch(batch.len(), batch.message_bytes());
        self.out.blocking_send(batch).map_err(|_| Closed)
    }
}

/// A component's YAML options and what is needed to interpret them.
pub struct Options<'a> {
    /// The fields beside `type:`.
    pub map: &'a serde_yaml::Mapping,
    /// Directory relative paths resolve against (the config file's).
    pub base_dir: &'a Path,
    /// The pipeline the component belongs to.
    pub pipeline: &'a str,
}

/// A problem with a component's options: the field (relative to the component) and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{field}: {message}")]
pub struct OptionsError {
    /// Field path inside the component, e.g. `include[0]`; empty for the component itself.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl OptionsError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        OptionsError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl Options<'_> {
    /// Deserializes the options into the plugin's typed config (unknown fields refused by
    /// `#[serde(deny_unknown_fields)]` on `T`).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, OptionsError> {
        let value = serde_yaml::Value::Mapping(self.map.clone());
        serde_path_to_error::deserialize(value).map_err(|e| {
            let message = e.inner().to_string();
            let field = crate::config::field_path_of(&e.path().to_string(), &message);
            OptionsError { field, message }
        })
    }

    /// Resolves a path from the config against the config file's directory.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base_dir.join(path)
        }
    }
}
