//! The `nats` sink: publishes each event, as the `file` sink's JSON line, to NATS JetStream on
//! a subject made from a template (`logs.{pipeline}.{attributes.level}`).
//!
//! A batch's messages are published pipelined (up to `max_in_flight` awaiting their JetStream
//! acks) and the batch is acknowledged only once JetStream has acked every one of them. Failed
//! messages are published again after a backoff, inside `write`, so the pipeline is held
//! (backpressure), never dropped; each carries a `Nats-Msg-Id` made from its source, offset
//! and message, so JetStream drops a re-published copy inside the stream's duplicate window.
//! A message larger than the server's `max_payload` can never be published and goes to the
//! pipeline's dead-letter file.

mod config;
pub(crate) mod connect;
pub(crate) use config::is_stream_name;
pub(crate) mod subject;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishErrorKind};
use async_trait::async_trait;
use bytes::Bytes;
use logcatch_core::batch::{Batch, EventRef};
use logcatch_core::metrics::Counters;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Sink, SinkContext, SinkWriter};

pub use config::NatsSinkConfig;

use super::encode::{Format, encode};
use config::Settings;

/// At most one retry warning per this long (per sink); the others are counted.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// Failed rounds in one `write` after which the writer gives up its connection.
const REOPEN_AFTER: u32 = 5;
/// The first retry waits this long; each further one doubles, up to `retry_max_backoff`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

struct NatsSink {
    settings: Arc<Settings>,
}

/// Builds a `nats` sink from its options.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Sink>, OptionsError> {
    let config: NatsSinkConfig = options.parse()?;
    Ok(Arc::new(NatsSink {
        settings: Arc::new(config.check(options)?),
    }))
}

#[async_trait]
impl Sink for NatsSink {
    async fn open(&self, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError> {
        let s = &self.settings;
        let client = s.connect.connect(&ctx.pipeline, &ctx.component).await?;
        let js = jetstream::ContextBuilder::new()
            .timeout(s.timeout)
            .max_ack_inflight(s.max_in_flight)
            .build(client.clone());
        if let Some(stream) = &s.stream {
            let subjects = s
                .stream_subjects
                .clone()
                .unwrap_or_else(|| vec![s.subject.wildcard(&ctx.pipeline)]);
            let config = jetstream::stream::Config {
                name: stream.clone(),
                subjects: subjects.clone(),
                storage: jetstream::stream::StorageType::File,
                ..Default::default()
            };
            js.get_or_create_stream(config).await.map_err(|e| {
                PluginError::new(format!("cannot find or create stream {stream}: {e}"))
            })?;
            tracing::debug!(pipeline = %ctx.pipeline, component = %ctx.component, stream = %stream, subjects = ?subjects, "stream ready");
        }
        Ok(Box::new(NatsWriter {
            settings: self.settings.clone(),
            client,
            js,
            ctx: ctx.clone(),
            json: Vec::new(),
            last_warning: None,
            suppressed: 0,
        }))
    }
}

struct NatsWriter {
    settings: Arc<Settings>,
    client: async_nats::Client,
    js: jetstream::Context,
    ctx: SinkContext,
    /// Reused for each batch's JSON lines.
    json: Vec<u8>,
    last_warning: Option<Instant>,
    suppressed: u64,
}

/// One event ready to publish.
#[derive(Clone)]
struct Outgoing {
    index: usize,
    subject: String,
    payload: Bytes,
    id: String,
}

/// How one round of publishing ended for the messages that were not acked.
#[derive(Default)]
struct Round {
    /// To publish again: (message, why).
    retry: Vec<(Outgoing, String)>,
    /// Too large for the server, ever.
    refused: Vec<(Outgoing, String)>,
    /// Acked as duplicates by JetStream (published before, e.g. by an earlier attempt).
    duplicates: u64,
}

#[async_trait]
impl SinkWriter for NatsWriter {
    async fn write(&mut self, batch: &Batch) -> Result<(), PluginError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut todo = self.outgoing(batch);
        let (mut failures, mut duplicates) = (0u32, 0u64);
        loop {
            // A round that outlives every per-message limit is stuck in the client (seen while
            // it reconnects): all of it is published again (duplicates are dropped by id).
            let limit = self.settings.timeout * 3;
            let round = match tokio::time::timeout(limit, self.publish(todo.clone())).await {
                Ok(round) => round,
                Err(_) => Round {
                    retry: todo
                        .into_iter()
                        .map(|m| {
                            (
                                m,
                                "publishing stalled while the client reconnects".to_owned(),
                            )
                        })
                        .collect(),
                    ..Round::default()
                },
            };
            duplicates += round.duplicates;
            if !round.refused.is_empty() {
                self.dead_letter(batch, &round.refused).await?;
            }
            if round.retry.is_empty() {
                break;
            }
            failures += 1;
            if failures >= REOPEN_AFTER {
                // A fresh connection (the core reopens the writer after its own backoff);
                // what JetStream already has is dropped as duplicates when sent again.
                return Err(PluginError::new(format!(
                    "{} messages not acked after {failures} rounds: {}",
                    round.retry.len(),
                    round.retry[0].1
                )));
            }
            let delay = FIRST_BACKOFF
                .saturating_mul(1 << failures.min(16))
                .min(self.settings.retry_max_backoff);
            let why = round.retry[0].1.clone();
            self.ctx.counters.error(&why);
            self.warn(round.retry.len(), failures, delay, &why);
            tokio::time::sleep(delay).await;
            todo = round.retry.into_iter().map(|(m, _)| m).collect();
        }
        if failures > 0 {
            tracing::info!(pipeline = %self.ctx.pipeline, component = %self.ctx.component, failed_rounds = failures, duplicates, "published again after retrying");
        } else if duplicates > 0 {
            tracing::debug!(pipeline = %self.ctx.pipeline, component = %self.ctx.component, duplicates, "JetStream dropped messages it already had");
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), PluginError> {
        self.client
            .flush()
            .await
            .map_err(|e| PluginError::new(format!("flushing the NATS connection failed: {e}")))
    }
}

impl NatsWriter {
    /// Every event of `batch` as a message: subject, JSON payload and message id.
    fn outgoing(&mut self, batch: &Batch) -> Vec<Outgoing> {
        self.json.clear();
        encode(batch, Format::Json, &mut self.json);
        let json = Bytes::copy_from_slice(&self.json);
        let mut start = 0;
        let mut out = Vec::with_capacity(batch.len());
        for (index, (event, end)) in batch
            .iter()
            .zip(memchr::memchr_iter(b'\n', &self.json))
            .enumerate()
        {
            out.push(Outgoing {
                index,
                subject: self.settings.subject.render(&self.ctx.pipeline, &event),
                payload: json.slice(start..end),
                id: message_id(&event),
            });
            start = end + 1;
        }
        out
    }

    /// Publishes `todo` pipelined, then awaits every ack.
    async fn publish(&self, todo: Vec<Outgoing>) -> Round {
        let mut round = Round::default();
        let mut pending = Vec::with_capacity(todo.len());
        for m in todo {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, m.id.as_str());
            // Bounded even where the client itself might wait (a send queue full while it
            // reconnects).
            let sent = tokio::time::timeout(
                self.settings.timeout,
                self.js
                    .publish_with_headers(m.subject.clone(), headers, m.payload.clone()),
            )
            .await;
            let Ok(sent) = sent else {
                round.retry.push((
                    m,
                    "publish timed out: the connection is not ready".to_owned(),
                ));
                continue;
            };
            match sent {
                Ok(ack) => pending.push((m, ack)),
                Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    round.refused.push((m, e.to_string()))
                }
                Err(e) => round.retry.push((m, format!("publish failed: {e}"))),
            }
        }
        // Awaited together: each ack's time limit runs from now, not after the ones before it.
        let acked = futures::future::join_all(
            pending
                .into_iter()
                .map(|(m, ack)| async move { (m, ack.await) }),
        )
        .await;
        for (m, ack) in acked {
            match ack {
                Ok(ack) if ack.duplicate => round.duplicates += 1,
                Ok(_) => {}
                Err(e) => round.retry.push((m, format!("no JetStream ack: {e}"))),
            }
        }
        round
    }

    /// Logs a retry, at most once per [`WARN_EVERY`].
    fn warn(&mut self, messages: usize, attempt: u32, delay: Duration, why: &str) {
        let now = Instant::now();
        if self
            .last_warning
            .is_some_and(|last| now.duration_since(last) < WARN_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        self.last_warning = Some(now);
        let suppressed = std::mem::take(&mut self.suppressed);
        tracing::warn!(
            pipeline = %self.ctx.pipeline, component = %self.ctx.component, messages, attempt,
            retry_in_ms = delay.as_millis() as u64, similar_warnings_suppressed = suppressed,
            server = %self.settings.connect.url_for_logs(),
            "{why}; the messages are kept and published again"
        );
    }

    /// Writes the refused events to the dead-letter file, counts and logs them.
    async fn dead_letter(
        &self,
        batch: &Batch,
        refused: &[(Outgoing, String)],
    ) -> Result<(), PluginError> {
        let c = &self.ctx;
        let n = refused.len();
        let why = &refused[0].1;
        c.counters.error(why);
        tracing::error!(pipeline = %c.pipeline, component = %c.component, events = n, "NATS cannot take these messages: {why}; the events go to the dead-letter file");
        let events = batch.select(refused.iter().map(|(m, _)| m.index));
        let reasons = refused
            .iter()
            .map(|(_, why)| format!("{}: {why}", c.component))
            .collect::<Vec<_>>();
        let (dead, pipeline) = (c.dead_letters.clone(), c.pipeline.clone());
        tokio::task::spawn_blocking(move || dead.write(&pipeline, "nats", &events, &reasons))
            .await
            .map_err(|e| PluginError::new(format!("writing dead letters failed: {e}")))?;
        Counters::add(&c.counters.dead_lettered, n as u64);
        Ok(())
    }
}

/// The `Nats-Msg-Id` of an event: hashes of its source and message around its offset, so the
/// same line read again (a retry, a re-read after a crash) gets the same id, and a rotated
/// file's new line at an old offset does not.
pub fn message_id(event: &EventRef<'_>) -> String {
    let source = xxhash_rust::xxh3::xxh3_64(event.source().as_bytes());
    let message = xxhash_rust::xxh3::xxh3_64(event.message().as_bytes());
    format!("{source:016x}-{}-{message:016x}", event.offset())
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcatch_core::ack::Ack;
    use logcatch_core::batch::BatchBuilder;

    #[test]
    fn message_ids_follow_source_offset_and_text() {
        let mut b = BatchBuilder::with_capacity(4, 64);
        let a = b.source("/var/log/a.log");
        let other = b.source("/var/log/b.log");
        b.push("x", a, 0, 1);
        b.push("x", a, 0, 2);
        b.push("y", a, 0, 1);
        b.push("x", other, 0, 1);
        let batch = b.finish(Ack::none());
        let ids: Vec<String> = batch.iter().map(|e| message_id(&e)).collect();
        assert_eq!(ids[0], ids[1], "the ingest time is not part of the id");
        assert_ne!(ids[0], ids[2]);
        assert_ne!(ids[0], ids[3]);
        assert!(ids[0].is_ascii() && ids[0].len() < 64);
    }
}
