//! The `kafka` sink: every event of a batch becomes one message (the event JSON, or its
//! text), produced by an idempotent librdkafka producer with `acks=all`, to the topic its
//! template names, with the event's stable id in the `logcatch-id` header (the same id as
//! `Nats-Msg-Id` and es `_id`), so a consumer can drop what at-least-once delivers twice.
//!
//! Up to `in_flight_batches` batches are produced before the first is confirmed (the pipeline's
//! sink window), so the brokers' round trip is paid once for many batches. A batch is
//! acknowledged only when the brokers confirmed every message of it. Messages never time out
//! inside librdkafka (`message.timeout.ms: 0`): while the brokers are down the sink waits,
//! holding the pipeline (`blocked`), with memory bounded by librdkafka's queue and the
//! window. A message the brokers refuse for good (too large, unknown topic, not authorized)
//! goes to the dead-letter file with their reason; any other failure is produced again after
//! a backoff. A fatal producer error fails the sink: the pipeline reopens it (a new producer)
//! and sends every unconfirmed batch again.

pub mod config;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use logcatch_core::backoff::Backoff;
use logcatch_core::batch::Batch;
use logcatch_core::encode::{self, Format};
use logcatch_core::health::ComponentState;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Sink, SinkContext, SinkWriter};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use super::event_id::push_event_id;
use crate::kafka;
use config::{KafkaSinkConfig, Settings, clean_topic};

/// The header that carries each message's event id.
pub const ID_HEADER: &str = "logcatch-id";
/// The first retry waits this long; each further one doubles, up to `retry_max_backoff`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// A wait for confirmations this long shows the sink `blocked` and is logged.
const SLOW: Duration = Duration::from_secs(5);
/// At most one "still waiting" warning per this long.
const WARN_EVERY: Duration = Duration::from_secs(10);

struct KafkaSink {
    settings: Arc<Settings>,
}

/// Builds a `kafka` sink from its options.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Sink>, OptionsError> {
    let config: KafkaSinkConfig = options.parse()?;
    Ok(Arc::new(KafkaSink {
        settings: Arc::new(config.check(options)?),
    }))
}

#[async_trait]
impl Sink for KafkaSink {
    async fn open(&self, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError> {
        let s = &self.settings;
        let config = s.client.config(
            &[
                ("client.id", "logcatch"),
                ("linger.ms", "5"),
                // The window's batches are in librdkafka's queue; this bounds it.
                ("queue.buffering.max.kbytes", "65536"),
            ],
            &[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("compression.type", s.compression.name()),
                ("message.timeout.ms", "0"),
            ],
        );
        let delivery = Delivery {
            client: kafka::Context::new(ctx.pipeline.clone(), ctx.component),
            slots: (0..s.in_flight_batches).map(|_| Slot::default()).collect(),
            wake: tokio::sync::Notify::new(),
        };
        let producer: ThreadedProducer<Delivery> = config
            .create_with_context(delivery)
            .map_err(|e| PluginError::new(format!("cannot create the Kafka producer: {e}")))?;
        let topic = s.topic.fixed(&ctx.pipeline, clean_topic);
        Ok(Box::new(KafkaWriter {
            settings: self.settings.clone(),
            producer,
            ctx: ctx.clone(),
            fixed_topic: topic,
            topic: String::new(),
            key: String::new(),
            value: Vec::new(),
            id: Vec::with_capacity(super::event_id::LEN),
            last_warning: None,
            flights: VecDeque::new(),
            next_slot: 0,
        }))
    }
}

/// What the producer's delivery reports say, per batch in flight.
struct Delivery {
    client: kafka::Context,
    /// One per batch in flight (`in_flight_batches`), reused in turn.
    slots: Vec<Slot>,
    /// Woken when a slot has every report it expects, so the writer wakes once a batch.
    wake: tokio::sync::Notify,
}

/// The reports about one batch's messages.
#[derive(Default)]
struct Slot {
    /// Messages with a report (delivered or failed) since the slot was taken.
    answered: AtomicUsize,
    /// Messages produced into the slot, once its batch is produced (`usize::MAX` until
    /// then): the report that reaches it wakes the writer.
    target: AtomicUsize,
    /// (event index, error) of the messages that failed.
    failed: Mutex<Vec<(usize, KafkaError)>>,
}

/// A message's delivery opaque: its slot in the high bits, its event index in the low 32
/// (a batch holds fewer than 2^32 events).
fn opaque(slot: usize, index: usize) -> usize {
    (slot << 32) | index
}

impl rdkafka::client::ClientContext for Delivery {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.client.log(level, fac, message)
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.client.error(error, reason)
    }
}

impl ProducerContext for Delivery {
    /// The message's slot and event index ([`opaque`]).
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let slot = &self.slots[opaque >> 32];
        if let Err((e, _)) = result {
            slot.failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((opaque & 0xffff_ffff, e.clone()));
        }
        // SeqCst pairs with [`KafkaWriter::expect`]: either this sees the target, or the
        // writer sees this report before it waits.
        let answered = slot.answered.fetch_add(1, Ordering::SeqCst) + 1;
        if answered >= slot.target.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }
}

struct KafkaWriter {
    settings: Arc<Settings>,
    producer: ThreadedProducer<Delivery>,
    ctx: SinkContext,
    /// The topic of every event, when the template does not depend on the event.
    fixed_topic: Option<String>,
    /// Reused for each event's topic, key, value and id.
    topic: String,
    key: String,
    value: Vec<u8>,
    id: Vec<u8>,
    last_warning: Option<Instant>,
    /// The batches produced and not confirmed, oldest first.
    flights: VecDeque<Flight>,
    /// The slot the next batch takes.
    next_slot: usize,
}

/// A batch produced and not confirmed yet.
struct Flight {
    batch: Arc<Batch>,
    /// Its slot in [`Delivery::slots`].
    slot: usize,
    /// Messages produced into the slot (each gets a report).
    produced: usize,
    /// What `send` already knew (messages librdkafka would not queue).
    round: Round,
}

/// Whether `e` means the brokers will never take this message (dead-letter it) rather than
/// not now (produce it again).
fn refused_for_good(e: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        e.rdkafka_error_code(),
        Some(
            MessageSizeTooLarge
                | InvalidMessageSize
                | InvalidMessage
                | InvalidRecord
                | InvalidTopic
                | UnknownTopic
                | UnknownTopicOrPartition
                | UnknownPartition
                | TopicAuthorizationFailed
                | PolicyViolation
        )
    )
}

/// What one round of producing came to for its messages.
#[derive(Default)]
struct Round {
    /// To produce again: (event index, why).
    retry: Vec<(usize, String)>,
    /// Refused for good: (event index, why).
    refused: Vec<(usize, String)>,
}

#[async_trait]
impl SinkWriter for KafkaWriter {
    async fn write(&mut self, batch: &Batch) -> Result<(), PluginError> {
        // One batch on its own (the pipeline uses `send` and `confirm`).
        let (slot, produced, round) = self.start(batch).await?;
        self.settle(batch, slot, produced, round).await
    }

    fn window(&self) -> usize {
        self.settings.in_flight_batches
    }

    async fn send(&mut self, batch: &Arc<Batch>) -> Result<(), PluginError> {
        let (slot, produced, round) = self.start(batch).await?;
        self.flights.push_back(Flight {
            batch: batch.clone(),
            slot,
            produced,
            round,
        });
        Ok(())
    }

    async fn ready(&mut self) {
        let Some(f) = self.flights.front() else {
            return;
        };
        let delivery = self.producer.context();
        let slot = &delivery.slots[f.slot];
        // A report between the check and the wait leaves a permit: none is missed.
        while slot.answered.load(Ordering::SeqCst) < f.produced {
            delivery.wake.notified().await;
        }
    }

    async fn confirm(&mut self) -> Result<(), PluginError> {
        let Some(f) = self.flights.pop_front() else {
            return Ok(());
        };
        self.settle(&f.batch, f.slot, f.produced, f.round).await
    }

    async fn close(&mut self) -> Result<(), PluginError> {
        // The pipeline confirmed every batch it sent: nothing is left in flight.
        Ok(())
    }
}

impl KafkaWriter {
    /// Produces every event of `batch` into the next slot: the slot, the messages queued,
    /// and what is already known about the others.
    async fn start(&mut self, batch: &Batch) -> Result<(usize, usize, Round), PluginError> {
        let slot = self.take_slot();
        let todo: Vec<usize> = (0..batch.len()).collect();
        let (produced, round) = self.produce(batch, &todo, slot).await?;
        self.expect(slot, produced);
        Ok((slot, produced, round))
    }

    /// Takes the next delivery slot for a batch (its previous batch is settled: the
    /// pipeline never has more than the window in flight) and clears it.
    fn take_slot(&mut self) -> usize {
        let delivery = self.producer.context();
        let slot = self.next_slot;
        self.next_slot = (slot + 1) % delivery.slots.len();
        delivery.slots[slot]
            .target
            .store(usize::MAX, Ordering::SeqCst);
        delivery.slots[slot].answered.store(0, Ordering::SeqCst);
        delivery.slots[slot]
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        slot
    }

    /// Produces the events `todo` of `batch` into `slot`, without waiting for the brokers.
    /// Returns how many messages were queued (each will get a report) and what is already
    /// known about the others.
    async fn produce(
        &mut self,
        batch: &Batch,
        todo: &[usize],
        slot: usize,
    ) -> Result<(usize, Round), PluginError> {
        let mut round = Round::default();
        let mut sent = 0usize;
        for &i in todo {
            let event = batch.get(i);
            self.value.clear();
            match self.settings.format {
                Format::Json => encode::event_json(&mut self.value, &event, &[]),
                Format::Text => self.value.extend_from_slice(event.message().as_bytes()),
            }
            self.id.clear();
            push_event_id(&event, &mut self.id);
            let topic = match &self.fixed_topic {
                Some(t) => t.as_str(),
                None => {
                    self.topic.clear();
                    self.settings.topic.render_into(
                        &mut self.topic,
                        &self.ctx.pipeline,
                        &event,
                        clean_topic,
                    );
                    self.topic.as_str()
                }
            };
            if let Some(k) = &self.settings.key {
                self.key.clear();
                k.render_into(&mut self.key, &self.ctx.pipeline, &event, |v, out| {
                    out.push_str(v)
                });
            }
            let headers = OwnedHeaders::new_with_capacity(1).insert(Header {
                key: ID_HEADER,
                value: Some(self.id.as_slice()),
            });
            let mut record = BaseRecord::with_opaque_to(topic, opaque(slot, i))
                .payload(self.value.as_slice())
                .headers(headers);
            if self.settings.key.is_some() {
                record = record.key(self.key.as_bytes());
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => {
                        sent += 1;
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // librdkafka's queue is full: wait for a batch to be confirmed.
                        record = back;
                        let wake = self.producer.context().wake.notified();
                        let _ = tokio::time::timeout(Duration::from_millis(50), wake).await;
                    }
                    Err((e, _)) if refused_for_good(&e) => {
                        round.refused.push((i, e.to_string()));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::Fatal), _)) => {
                        return Err(self.fatal());
                    }
                    Err((e, _)) => {
                        round.retry.push((i, e.to_string()));
                        break;
                    }
                }
            }
        }
        Ok((sent, round))
    }

    /// Waits until the brokers answered every message of `batch` produced into `slot`
    /// (`produced` of them), dead-letters what they refused for good and produces again what
    /// failed otherwise (after a backoff), until nothing is left to retry.
    async fn settle(
        &mut self,
        batch: &Batch,
        slot: usize,
        mut produced: usize,
        mut round: Round,
    ) -> Result<(), PluginError> {
        let mut backoff = Backoff::jittered(FIRST_BACKOFF, self.settings.retry_max_backoff);
        loop {
            self.wait_for(slot, produced).await;
            let failed = std::mem::take(
                &mut *self.producer.context().slots[slot]
                    .failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()),
            );
            for (i, e) in failed {
                if matches!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::Fatal)) {
                    return Err(self.fatal());
                }
                if refused_for_good(&e) {
                    round.refused.push((i, e.to_string()));
                } else {
                    round.retry.push((i, e.to_string()));
                }
            }
            if !round.refused.is_empty() {
                round.refused.sort_unstable_by_key(|&(i, _)| i);
                self.dead_letter(batch, &round.refused).await?;
            }
            if round.retry.is_empty() {
                return Ok(());
            }
            let delay = backoff.step();
            let why = &round.retry[0].1;
            self.ctx.counters.error(why);
            self.ctx.counters.state.set(ComponentState::Blocked);
            self.warn(
                &format!(
                    "Kafka did not take {} messages: {why}; they are kept and produced again",
                    round.retry.len()
                ),
                delay,
            );
            tokio::time::sleep(delay).await;
            let mut todo: Vec<usize> = round.retry.iter().map(|&(i, _)| i).collect();
            todo.sort_unstable();
            let (more, next) = self.produce(batch, &todo, slot).await?;
            produced += more;
            self.expect(slot, produced);
            round = next;
        }
    }

    /// Tells the delivery callback that `slot` will have `produced` reports, so the last
    /// one wakes the writer.
    fn expect(&self, slot: usize, produced: usize) {
        let slot = &self.producer.context().slots[slot];
        slot.target.store(produced, Ordering::SeqCst);
    }

    /// Waits until `slot` has `target` reports; a wait over [`SLOW`] shows the sink
    /// `blocked` and is logged.
    async fn wait_for(&mut self, slot: usize, target: usize) {
        let started = Instant::now();
        loop {
            let answered = self.producer.context().slots[slot]
                .answered
                .load(Ordering::SeqCst);
            if answered >= target {
                return;
            }
            let wake = self.producer.context().wake.notified();
            let _ = tokio::time::timeout(Duration::from_secs(1), wake).await;
            if started.elapsed() >= SLOW {
                self.ctx.counters.state.set(ComponentState::Blocked);
                let waiting = target.saturating_sub(answered);
                self.warn(
                    &format!(
                        "Kafka has not confirmed {waiting} messages yet (brokers {}); the batch is held",
                        self.settings.client.brokers_for_logs()
                    ),
                    SLOW,
                );
            }
        }
    }

    /// The producer hit a fatal error (idempotence broken): this writer is done.
    fn fatal(&self) -> PluginError {
        let why = match self.producer.client().fatal_error() {
            Some((_, reason)) => format!("the Kafka producer failed for good: {reason}"),
            None => "the Kafka producer failed for good".to_owned(),
        };
        PluginError::new(why)
    }

    /// Writes the refused events to the dead-letter file, counts and logs them.
    async fn dead_letter(
        &self,
        batch: &Batch,
        refused: &[(usize, String)],
    ) -> Result<(), PluginError> {
        let c = &self.ctx;
        let why = &refused[0].1;
        c.counters.error(why);
        tracing::error!(pipeline = %c.pipeline, component = %c.component, events = refused.len(), "Kafka refuses these messages: {why}; the events go to the dead-letter file");
        let events = batch.select(refused.iter().map(|(i, _)| *i));
        let reasons = refused
            .iter()
            .map(|(_, why)| format!("{}: {why}", c.component))
            .collect();
        c.dead_letter("kafka", events, reasons).await
    }

    /// Logs a retry, at most once per [`WARN_EVERY`].
    fn warn(&mut self, why: &str, delay: Duration) {
        let now = Instant::now();
        if self
            .last_warning
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            return;
        }
        self.last_warning = Some(now);
        tracing::warn!(pipeline = %self.ctx.pipeline, component = %self.ctx.component, retry_in_ms = delay.as_millis() as u64, "{why}");
    }
}

impl Drop for KafkaWriter {
    fn drop(&mut self) {
        // Nothing of an acknowledged batch is left in librdkafka's queue; what a cut-short
        // write left there is produced again by the next writer, so it is purged, not waited
        // for.
        self.producer
            .purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
        let _ = self.producer.flush(Duration::from_millis(100));
    }
}
