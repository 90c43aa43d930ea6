//! The `nats` source: reads a JetStream stream through a durable pull consumer, one event per
//! message, so the same binary runs on the consuming side of a `nats` sink.
//!
//! Each message is acknowledged to JetStream only after every sink of the pipeline has
//! acknowledged the batch holding it (the batch's ack calls back into this source instead of
//! committing file checkpoints). A message not acknowledged — the process died, a sink is
//! still retrying — is delivered again by JetStream after the consumer's `ack_wait`: at least
//! once, never lost.

mod config;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::Subject;
use async_nats::jetstream::{self, consumer::pull};
use async_trait::async_trait;
use futures::StreamExt;
use logcatch_core::ComponentId;
use logcatch_core::ack::Ack;
use logcatch_core::backoff::Backoff;
use logcatch_core::batch::BatchBuilder;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Source, SourceContext};
use tokio::sync::mpsc;

pub use config::NatsSourceConfig;

use crate::sources::event;
use config::Settings;

/// The payload of a positive acknowledgement.
const ACK: &[u8] = b"+ACK";
/// Batches (`batch.max_events`) asked for in one pull request unless `pull_batch` says.
const PULL_BATCHES: usize = 4;
/// How long one pull request waits on the server for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
/// A request still open this long after its expiry was lost with its connection.
const PULL_GRACE: Duration = Duration::from_secs(2);
/// The first wait after a failure; each further one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two attempts to reach the stream.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A configured `nats` source.
pub struct NatsSource {
    settings: Arc<Settings>,
}

/// Builds a `nats` source from its options.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Source>, OptionsError> {
    let config: NatsSourceConfig = options.parse()?;
    Ok(Arc::new(NatsSource {
        settings: Arc::new(config.check(options)?),
    }))
}

#[async_trait]
impl Source for NatsSource {
    async fn run(&self, ctx: SourceContext) -> Result<(), PluginError> {
        let Some(consumer) = self.consumer(&ctx).await? else {
            return Ok(()); // shut down while connecting
        };
        let (client, consumer) = consumer;
        if ctx.once && consumer.cached_info().num_pending == 0 {
            return Ok(());
        }
        let acks = spawn_acker(client, ctx.pipeline.clone(), ctx.component);
        let max_events = ctx.batch.max_events.max(1);
        // A pull request is one round trip during which the server delivers nothing more to
        // this consumer: asking for a few batches at a time keeps the server busy (measured:
        // about 10% faster than one batch per request). Messages are delivered as they come;
        // a request only waits on the server for those not there yet.
        let pull = self
            .settings
            .pull_batch
            .unwrap_or(max_events.saturating_mul(PULL_BATCHES));
        let mut pending = Pending::new(max_events);
        // One pull request at a time, each for up to `pull` messages within PULL_EXPIRES: a
        // request lost with a connection is simply replaced by the next one.
        let mut request: Option<(pull::Batch, Instant)> = None;
        let mut backoff = Backoff::jittered(FIRST_BACKOFF, MAX_BACKOFF);
        loop {
            let (messages, stale_at) = match &mut request {
                Some((messages, stale_at)) => (messages, *stale_at),
                None => {
                    let asked = consumer
                        .batch()
                        .max_messages(pull)
                        .expires(PULL_EXPIRES)
                        .messages()
                        .await;
                    match asked {
                        Ok(messages) => {
                            backoff.reset();
                            let stale_at = Instant::now() + PULL_EXPIRES + PULL_GRACE;
                            let r = request.insert((messages, stale_at));
                            (&mut r.0, r.1)
                        }
                        Err(e) => {
                            let delay = backoff.step();
                            self.warn(&ctx, &format!("pull request failed: {e}"), delay);
                            tokio::select! {
                                _ = tokio::time::sleep(delay) => {}
                                _ = ctx.shutdown.cancelled() => {
                                    pending.send(&ctx, &acks).await?;
                                    return Ok(());
                                }
                            }
                            continue;
                        }
                    }
                }
            };
            let linger = pending.deadline(ctx.batch.linger);
            let next = tokio::select! {
                m = messages.next() => m,
                _ = event::sleep_until(linger) => {
                    pending.send(&ctx, &acks).await?;
                    continue;
                }
                _ = event::sleep_until(Some(stale_at)) => {
                    // The request outlived its expiry: its connection was lost.
                    request = None;
                    continue;
                }
                _ = ctx.shutdown.cancelled() => {
                    pending.send(&ctx, &acks).await?;
                    return Ok(());
                }
            };
            let message = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::debug!(pipeline = %ctx.pipeline, component = %ctx.component, "pull request ended: {e}");
                    request = None;
                    continue;
                }
                None => {
                    request = None;
                    continue;
                }
            };
            let (sequence, last) = match message.info() {
                Ok(info) => (info.stream_sequence, info.pending == 0),
                Err(_) => (0, false),
            };
            pending.add(&message.message, sequence, &ctx);
            if pending.is_full(ctx.batch.max_bytes) {
                pending.send(&ctx, &acks).await?;
            }
            if ctx.once && last {
                pending.send(&ctx, &acks).await?;
                return Ok(());
            }
        }
    }
}

impl NatsSource {
    /// Connects and finds (or creates) the durable consumer, retrying with backoff until it
    /// works or the pipeline shuts down (`None`).
    async fn consumer(
        &self,
        ctx: &SourceContext,
    ) -> Result<Option<(async_nats::Client, jetstream::consumer::PullConsumer)>, PluginError> {
        let mut backoff = Backoff::jittered(FIRST_BACKOFF, MAX_BACKOFF);
        loop {
            let why = match self.try_consumer(ctx).await {
                Ok(found) => return Ok(Some(found)),
                Err(Fatal(why)) => return Err(PluginError::new(why)),
                Err(Retry(why)) => why,
            };
            let delay = backoff.step();
            self.warn(ctx, &why, delay);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = ctx.shutdown.cancelled() => return Ok(None),
            }
        }
    }

    /// Counts and logs a failure that is retried after `delay`.
    fn warn(&self, ctx: &SourceContext, why: &str, delay: Duration) {
        ctx.counters.error(why);
        tracing::warn!(pipeline = %ctx.pipeline, component = %ctx.component, consumer = %self.settings.consumer, retry_in_ms = delay.as_millis() as u64, "{why}");
    }

    async fn try_consumer(
        &self,
        ctx: &SourceContext,
    ) -> Result<(async_nats::Client, jetstream::consumer::PullConsumer), Failure> {
        let s = &self.settings;
        let client = s
            .connect
            .connect(&ctx.pipeline, ctx.component)
            .await
            .map_err(|e| Retry(e.to_string()))?;
        let js = jetstream::new(client.clone());
        let stream = js
            .get_stream(&s.stream)
            .await
            .map_err(|e| Retry(format!("cannot find stream {}: {e}", s.stream)))?;
        let config = pull::Config {
            durable_name: Some(s.consumer.clone()),
            filter_subject: s.filter_subject.clone().unwrap_or_default(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: s.ack_wait,
            max_ack_pending: s.max_ack_pending,
            deliver_policy: s.deliver,
            ..Default::default()
        };
        let mut consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(&s.consumer, config)
            .await
            .map_err(|e| {
                Retry(format!(
                    "cannot find or create consumer {} on stream {}: {e}",
                    s.consumer, s.stream
                ))
            })?;
        let info = consumer
            .info()
            .await
            .map_err(|e| Retry(format!("cannot read consumer {}: {e}", s.consumer)))?;
        let have = &info.config.filter_subject;
        let want = s.filter_subject.as_deref().unwrap_or("");
        if have != want {
            return Err(Fatal(format!(
                "consumer {} on stream {} exists with filter_subject `{have}`, not `{want}`: use another consumer name, or delete it (nats consumer rm)",
                s.consumer, s.stream
            )));
        }
        if info.config.ack_policy != jetstream::consumer::AckPolicy::Explicit {
            return Err(Fatal(format!(
                "consumer {} exists with an ack policy other than explicit: use another consumer name",
                s.consumer
            )));
        }
        tracing::info!(pipeline = %ctx.pipeline, component = %ctx.component, stream = %s.stream, consumer = %s.consumer, pending = info.num_pending, ack_pending = info.num_ack_pending, "consuming");
        Ok((client, consumer))
    }
}

/// Why reaching the consumer failed.
enum Failure {
    /// Worth trying again (the server is down, the stream not created yet).
    Retry(String),
    /// A configuration conflict that retrying cannot fix.
    Fatal(String),
}
use Failure::{Fatal, Retry};

/// Starts the task that acknowledges messages to JetStream once their batch is delivered.
/// It outlives the source (batches are acknowledged after the source has stopped) and ends
/// when the last batch holding its sender is released.
fn spawn_acker(
    client: async_nats::Client,
    pipeline: Arc<str>,
    component: ComponentId,
) -> mpsc::UnboundedSender<Vec<Subject>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Subject>>();
    tokio::spawn(async move {
        while let Some(replies) = rx.recv().await {
            let mut failed = 0u64;
            for reply in replies {
                if client
                    .publish(reply, bytes::Bytes::from_static(ACK))
                    .await
                    .is_err()
                {
                    failed += 1;
                }
            }
            if rx.is_empty() && client.flush().await.is_err() {
                failed += 1;
            }
            if failed > 0 {
                tracing::warn!(pipeline = %pipeline, component = %component, failed, "acknowledging messages failed; JetStream delivers them again after ack_wait");
            }
        }
        let _ = client.flush().await;
    });
    tx
}

/// The batch being assembled and the reply subjects of its messages.
struct Pending {
    builder: BatchBuilder,
    replies: Vec<Subject>,
    started: Option<Instant>,
    max_events: usize,
}

impl Pending {
    fn new(max_events: usize) -> Self {
        Pending {
            builder: BatchBuilder::with_capacity(max_events, 0),
            replies: Vec::new(),
            started: None,
            max_events,
        }
    }

    /// When the batch must go even if not full.
    fn deadline(&self, linger: Duration) -> Option<Instant> {
        self.started.map(|t| t + linger)
    }

    fn add(&mut self, message: &async_nats::Message, sequence: u64, ctx: &SourceContext) {
        self.started.get_or_insert_with(Instant::now);
        event::push(
            &mut self.builder,
            &message.payload,
            message.subject.as_str(),
            sequence,
            event::now_ns(),
            &ctx.counters,
        );
        if let Some(reply) = &message.reply {
            self.replies.push(reply.clone());
        }
    }

    fn is_full(&self, max_bytes: u64) -> bool {
        self.builder.len() >= self.max_events || self.builder.arena_len() as u64 >= max_bytes
    }

    /// Sends the batch (if any) with an ack that acknowledges its messages to JetStream.
    async fn send(
        &mut self,
        ctx: &SourceContext,
        acks: &mpsc::UnboundedSender<Vec<Subject>>,
    ) -> Result<(), PluginError> {
        self.started = None;
        if self.builder.is_empty() {
            return Ok(());
        }
        let builder = std::mem::replace(
            &mut self.builder,
            BatchBuilder::with_capacity(self.max_events, 0),
        );
        let replies = std::mem::take(&mut self.replies);
        let acks = acks.clone();
        let batch = builder.finish(Ack::callback(move || {
            // The acker ends only after every sender is gone, so this cannot fail.
            let _ = acks.send(replies);
        }));
        ctx.send(batch)
            .await
            .map_err(|e| PluginError::new(e.to_string()))
    }
}
