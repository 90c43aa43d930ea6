//! The `kafka` source: a member of a consumer group reading `topics`. Each message becomes an
//! event: logcatch's own event JSON (what the `kafka` sink produces) is restored whole;
//! any other value is the message, with `kafka.topic`, `kafka.partition`, `kafka.offset` and
//! `kafka.key` attributes.
//!
//! At-least-once, never auto-commit: a batch's offsets are stored only once every sink of the
//! pipeline acknowledged it, and committed after (asynchronously, coalesced; synchronously
//! when the group takes partitions away and when the source ends). A crash therefore reads
//! again at most what was in flight; a clean stop, nothing. librdkafka's prefetch is bounded
//! (`queued.max.messages.kbytes`, 16 MiB by default).

pub mod config;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use logcatch_core::ack::Ack;
use logcatch_core::batch::{AttrValue, BatchBuilder};
use logcatch_core::plugin::{Options, OptionsError, PluginError, Source, SourceContext};
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use tokio::sync::mpsc;

use crate::kafka;
use crate::sources::event;
use config::{KafkaSourceConfig, Settings, StartAt};

/// A batch's offsets: (topic index, partition, offset of its last message).
type Offsets = Vec<(usize, i32, i64)>;

struct KafkaSource {
    settings: Arc<Settings>,
}

/// Builds a `kafka` source from its options.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Source>, OptionsError> {
    let config: KafkaSourceConfig = options.parse()?;
    Ok(Arc::new(KafkaSource {
        settings: Arc::new(config.check(options)?),
    }))
}

/// The consumer's context: librdkafka's logs, and a commit of what is acknowledged before
/// the group takes partitions away.
struct Group {
    client: kafka::Context,
}

impl rdkafka::client::ClientContext for Group {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.client.log(level, fac, message)
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.client.error(error, reason)
    }
}

impl Group {
    /// `topic[partition]` of each element of `list`, for logs.
    fn names(list: &rdkafka::TopicPartitionList) -> String {
        let names: Vec<String> = list
            .elements()
            .iter()
            .map(|e| format!("{}[{}]", e.topic(), e.partition()))
            .collect();
        names.join(",")
    }
}

impl ConsumerContext for Group {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let (p, c) = (self.client.pipeline(), self.client.component());
        match rebalance {
            Rebalance::Assign(list) => {
                tracing::info!(pipeline = %p, component = %c, partitions = %Self::names(list), "Kafka group assigned partitions")
            }
            Rebalance::Revoke(list) => {
                tracing::info!(pipeline = %p, component = %c, partitions = %Self::names(list), "Kafka group took partitions back")
            }
            Rebalance::Error(e) => {
                tracing::warn!(pipeline = %p, component = %c, "Kafka group rebalance failed: {e}")
            }
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance
            && partitions.count() > 0
        {
            // What is acknowledged is committed before another member takes it over; what
            // is in flight is read again there (the in-flight window).
            if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync)
                && !matches!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::NoOffset))
            {
                tracing::warn!("cannot commit offsets before a rebalance: {e}");
            }
        }
    }
}

type GroupConsumer = StreamConsumer<Group>;

#[async_trait]
impl Source for KafkaSource {
    async fn run(&self, ctx: SourceContext) -> Result<(), PluginError> {
        let s = &self.settings;
        let reset = match s.start_at {
            StartAt::Earliest => "earliest",
            StartAt::Latest => "latest",
        };
        let config = s.client.config(
            &[
                ("client.id", "logcatch"),
                ("queued.max.messages.kbytes", "16384"),
            ],
            &[
                ("group.id", s.group.as_str()),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", reset),
                (
                    "enable.partition.eof",
                    if ctx.once { "true" } else { "false" },
                ),
            ],
        );
        let group = Group {
            client: kafka::Context::new(ctx.pipeline.clone(), ctx.component),
        };
        let consumer: Arc<GroupConsumer> = Arc::new(
            config
                .create_with_context(group)
                .map_err(|e| PluginError::new(format!("cannot create the Kafka consumer: {e}")))?,
        );
        let topics: Vec<&str> = s.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| PluginError::new(format!("cannot subscribe to {topics:?}: {e}")))?;
        let acks = spawn_acker(consumer.clone(), s.clone());
        let mut pending = Pending::new(ctx.batch.max_events);
        let mut at_end: Vec<(usize, i32)> = Vec::new();
        let mut last_error: Option<Instant> = None;
        loop {
            let linger = pending.deadline(ctx.batch.linger);
            let next = tokio::select! {
                m = consumer.recv() => m,
                _ = event::sleep_until(linger) => {
                    pending.send(&ctx, &acks).await?;
                    continue;
                }
                _ = ctx.shutdown.cancelled() => {
                    pending.send(&ctx, &acks).await?;
                    return Ok(());
                }
            };
            match next {
                Ok(m) => {
                    let Some(topic) = s.topics.iter().position(|t| t == m.topic()) else {
                        continue;
                    };
                    at_end.retain(|p| *p != (topic, m.partition()));
                    pending.add(&m, topic, &ctx);
                    if pending.is_full(ctx.batch.max_bytes) {
                        pending.send(&ctx, &acks).await?;
                    }
                }
                Err(KafkaError::PartitionEOF(partition)) => {
                    if !ctx.once {
                        continue;
                    }
                    // `--once`: done when every assigned partition is at its end.
                    let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
                    for e in consumer.assignment().iter().flat_map(|a| a.elements()) {
                        if e.partition() == partition
                            && let Some(t) = s.topics.iter().position(|t| t == e.topic())
                            && !at_end.contains(&(t, partition))
                        {
                            at_end.push((t, partition));
                        }
                    }
                    if assigned > 0 && at_end.len() >= assigned {
                        pending.send(&ctx, &acks).await?;
                        return Ok(());
                    }
                }
                Err(e) => {
                    ctx.counters.error(&e.to_string());
                    let now = Instant::now();
                    if last_error.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10)) {
                        last_error = Some(now);
                        tracing::warn!(pipeline = %ctx.pipeline, component = %ctx.component, brokers = %s.client.brokers_for_logs(), "Kafka consumer: {e}; it goes on");
                    }
                }
            }
        }
    }
}

/// Starts the task that stores and commits a batch's offsets once it is delivered. It
/// outlives the source (batches are acknowledged after the source has stopped) and ends
/// with a synchronous commit when the last batch holding its sender is released; the
/// consumer leaves its group then.
fn spawn_acker(consumer: Arc<GroupConsumer>, s: Arc<Settings>) -> mpsc::UnboundedSender<Offsets> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Offsets>();
    tokio::spawn(async move {
        let mut stored: Vec<(usize, i32, i64)> = Vec::new();
        let mut unstored = 0u64;
        while let Some(offsets) = rx.recv().await {
            // The committed offset is the next one to read. (`rd_kafka_offset_store`, behind
            // `Consumer::store_offset`, adds 1 itself; a list stores what it is given, so
            // the meaning is written here once.)
            let mut list = TopicPartitionList::new();
            for (topic, partition, offset) in offsets {
                let next = offset + 1;
                match stored
                    .iter_mut()
                    .find(|(t, p, _)| *t == topic && *p == partition)
                {
                    Some(seen) if seen.2 >= next => continue,
                    Some(seen) => seen.2 = next,
                    None => stored.push((topic, partition, next)),
                }
                let _ = list.add_partition_offset(
                    &s.topics[topic],
                    partition,
                    rdkafka::Offset::Offset(next),
                );
            }
            // Fails for a partition no longer assigned: its new owner reads it again.
            if list.count() > 0 && consumer.store_offsets(&list).is_err() {
                unstored += 1;
            }
            if rx.is_empty() {
                let _ = consumer.commit_consumer_state(CommitMode::Async);
            }
        }
        let c = consumer.clone();
        let _ =
            tokio::task::spawn_blocking(move || c.commit_consumer_state(CommitMode::Sync)).await;
        if unstored > 0 {
            tracing::debug!(
                unstored,
                "offsets of partitions given up before their batches were delivered"
            );
        }
    });
    tx
}

/// The batch being assembled and the offsets it covers.
struct Pending {
    builder: BatchBuilder,
    offsets: Offsets,
    started: Option<Instant>,
    max_events: usize,
}

impl Pending {
    fn new(max_events: usize) -> Self {
        Pending {
            builder: BatchBuilder::with_capacity(max_events, 0),
            offsets: Vec::new(),
            started: None,
            max_events,
        }
    }

    /// When the batch must go even if not full.
    fn deadline(&self, linger: Duration) -> Option<Instant> {
        self.started.map(|t| t + linger)
    }

    fn add(&mut self, m: &BorrowedMessage<'_>, topic: usize, ctx: &SourceContext) {
        self.started.get_or_insert_with(Instant::now);
        let (partition, offset) = (m.partition(), m.offset());
        let restored = event::push(
            &mut self.builder,
            m.payload().unwrap_or_default(),
            m.topic(),
            offset.max(0) as u64,
            event::now_ns(),
            &ctx.counters,
        );
        if !restored {
            self.builder.attr("kafka.topic", AttrValue::Text(m.topic()));
            self.builder
                .attr("kafka.partition", AttrValue::Int(i64::from(partition)));
            self.builder.attr("kafka.offset", AttrValue::Int(offset));
            if let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) {
                self.builder.attr("kafka.key", AttrValue::Text(key));
            }
        }
        match self
            .offsets
            .iter_mut()
            .find(|(t, p, _)| *t == topic && *p == partition)
        {
            Some(seen) => seen.2 = seen.2.max(offset),
            None => self.offsets.push((topic, partition, offset)),
        }
    }

    fn is_full(&self, max_bytes: u64) -> bool {
        self.builder.len() >= self.max_events || self.builder.arena_len() as u64 >= max_bytes
    }

    /// Sends the batch (if any) with an ack that stores its offsets once it is delivered.
    async fn send(
        &mut self,
        ctx: &SourceContext,
        acks: &mpsc::UnboundedSender<Offsets>,
    ) -> Result<(), PluginError> {
        self.started = None;
        if self.builder.is_empty() {
            return Ok(());
        }
        let builder = std::mem::replace(
            &mut self.builder,
            BatchBuilder::with_capacity(self.max_events, 0),
        );
        let offsets = std::mem::take(&mut self.offsets);
        let acks = acks.clone();
        let batch = builder.finish(Ack::callback(move || {
            // The acker ends only after every sender is gone, so this cannot fail.
            let _ = acks.send(offsets);
        }));
        ctx.send(batch)
            .await
            .map_err(|e| PluginError::new(e.to_string()))
    }
}
