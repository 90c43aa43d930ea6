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
//!
//! The acks are collected without async-nats' JetStream publish path: every message carries a
//! reply subject of this writer's own, `{inbox}.{round}`, and one wildcard subscription
//! receives what JetStream answers there. `jetstream::Context::publish` costs a oneshot
//! channel, a map entry, a boxed future and a semaphore permit per message (about 40% of the
//! writer's CPU, on a machine whose other core runs the server), and its bookkeeping can
//! stall publishing after a server restart (async-nats 0.51.0):
//! - the ack of a request lost with the connection never comes and its entry stays in the
//!   client's request map (nats-io/nats.rs#1617): its future ends only by its timeout, which
//!   starts when it is first polled, not when it was sent;
//! - an ack future dropped before it resolved hands its `max_ack_inflight` permit to the
//!   context's acker task, which holds it for `ack_timeout` (30 s by default, not the context's
//!   `timeout`), and `publish` waits for a permit with no time limit;
//! - so the old writer's way out of a slow round (give up after 3 x timeout, dropping the ack
//!   futures of the messages lost with the old connection) left their permits held for 30 s:
//!   the next rounds' publishes waited for permits, timed out ("the connection is not ready",
//!   although it was), gave up again and dropped more futures, until a fifth failed round
//!   reconnected with a fresh context.
//!
//! Here nothing outlives a round (a late ack of an earlier round is ignored), no wait is
//! unbounded (see `publish`), and the only thing async-nats holds during a reconnect is its
//! command queue, which takes nothing while it reconnects: a publish that finds it full ends
//! the round instead of waiting. The per-round limit and the reconnect after 5 rounds are
//! gone; the client reconnects by itself and a write keeps retrying with backoff.

mod config;
pub(crate) mod connect;
pub(crate) use config::is_stream_name;
pub(crate) mod subject;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::client::PublishErrorKind;
use async_nats::jetstream;
use async_nats::{HeaderMap, StatusCode, Subject, Subscriber};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use logcatch_core::batch::Batch;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Sink, SinkContext, SinkWriter};
use serde::Deserialize;

pub use config::NatsSinkConfig;

use super::event_id::event_id;
use config::Settings;
use logcatch_core::backoff::Backoff;
use logcatch_core::encode::{Format, encode};

/// At most one retry warning per this long (per sink); the others are counted.
const WARN_EVERY: Duration = Duration::from_secs(10);
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
        let client = s.connect.connect(&ctx.pipeline, ctx.component).await?;
        if let Some(stream) = &s.stream {
            let js = jetstream::ContextBuilder::new()
                .timeout(s.timeout)
                .build(client.clone());
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
        // The client subscribes again by itself after a reconnect.
        let inbox = client.new_inbox();
        let acks = client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(|e| PluginError::new(format!("cannot subscribe to the ack inbox: {e}")))?;
        Ok(Box::new(NatsWriter {
            settings: self.settings.clone(),
            client,
            acks,
            inbox,
            round: 0,
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
    /// Where JetStream's acks arrive: `{inbox}.{round}`.
    acks: Subscriber,
    inbox: String,
    /// Numbers the publishing rounds, so a late ack of an earlier round is not taken for one
    /// of this round.
    round: u64,
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
    subject: Subject,
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

/// The acks of one round, counted.
#[derive(Default)]
struct Acks {
    /// Every answer taken, positive or not: what leaves the in-flight window.
    answers: usize,
    /// Where each positive ack (new or duplicate) says its message is: `(hash of the stream
    /// name, sequence)`. Counted distinct, so that a message the server got twice (were
    /// one ever sent again across a reconnect) cannot stand in for one it lost.
    stored: Vec<(u64, u64)>,
    duplicates: u64,
    /// The first negative answer's reason.
    failure: Option<String>,
}

impl Acks {
    /// Counts `reply` if it is an answer for this round (`subject`); late answers of an
    /// earlier round are ignored.
    fn take(&mut self, subject: &Subject, reply: &async_nats::Message) -> bool {
        if reply.subject != *subject {
            return false;
        }
        self.answers += 1;
        match answer(reply) {
            Ok(ack) => {
                self.stored.push(ack.place);
                self.duplicates += u64::from(ack.duplicate);
            }
            Err(why) => {
                self.failure.get_or_insert(why);
            }
        }
        true
    }

    /// How many distinct messages JetStream said it has.
    fn distinct_stored(&mut self) -> usize {
        self.stored.sort_unstable();
        self.stored.dedup();
        self.stored.len()
    }
}

/// A positive JetStream publish ack.
struct Stored {
    /// `(hash of the stream name, sequence)`: the same for a message and its duplicates.
    place: (u64, u64),
    duplicate: bool,
}

/// A JetStream publish ack, or its error.
#[derive(Deserialize)]
struct PubAck<'a> {
    #[serde(borrow, default)]
    stream: std::borrow::Cow<'a, str>,
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    duplicate: bool,
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: u16,
    #[serde(default)]
    description: String,
}

#[async_trait]
impl SinkWriter for NatsWriter {
    async fn write(&mut self, batch: &Batch) -> Result<(), PluginError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut todo = self.outgoing(batch);
        let (mut failures, mut duplicates) = (0u32, 0u64);
        let mut backoff = Backoff::jittered(FIRST_BACKOFF, self.settings.retry_max_backoff);
        loop {
            let round = self.publish(&todo).await?;
            duplicates += round.duplicates;
            if !round.refused.is_empty() {
                self.dead_letter(batch, &round.refused).await?;
            }
            if round.retry.is_empty() {
                break;
            }
            failures += 1;
            let delay = backoff.step();
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
                subject: Subject::from(self.settings.subject.render(&self.ctx.pipeline, &event)),
                payload: json.slice(start..end),
                id: event_id(&event),
            });
            start = end + 1;
        }
        out
    }

    /// Publishes `todo` pipelined (at most `max_in_flight` awaiting their acks), then waits
    /// for the acks still missing; returns what is to be published again. Fails only when
    /// the connection is closed for good.
    ///
    /// Every message of a round asks for its ack on the same subject, `{inbox}.{round}`:
    /// the server routes one subject from its cache instead of looking up a new one per
    /// message (measured: about 10% of the server's CPU, which is what limits this sink). A
    /// JetStream ack does not name the message it acks, so the round is counted: when every
    /// message sent got a positive ack, all are stored; otherwise every message of the round
    /// is published again and JetStream drops the ones it has by their `Nats-Msg-Id`.
    ///
    /// Every wait is bounded by `timeout` since the last progress (a message handed to the
    /// client, an ack received), so a round never outlives the client's trouble by more than
    /// that: while the client reconnects it takes no commands, and a publish that finds its
    /// queue full ends the round (the rest is published again after the backoff) instead of
    /// waiting `timeout` per message.
    async fn publish(&mut self, todo: &[Outgoing]) -> Result<Round, PluginError> {
        self.round += 1;
        let reply = Subject::from(format!("{}.{}", self.inbox, self.round));
        let timeout = self.settings.timeout;
        let max_in_flight = self.settings.max_in_flight;
        let mut round = Round::default();
        let mut acks = Acks::default();
        let mut sent = 0usize;
        let mut unsent: Option<(usize, String)> = None;
        let mut deadline = tokio::time::Instant::now() + timeout;
        for (i, m) in todo.iter().enumerate() {
            // Acks already here are taken without waiting; at `max_in_flight` unanswered
            // messages, wait for some (the subscription's channel holds 64k).
            while let Some(Some(ack)) = self.acks.next().now_or_never() {
                if acks.take(&reply, &ack) {
                    deadline = tokio::time::Instant::now() + timeout;
                }
            }
            let room = |a: &Acks| sent.saturating_sub(a.answers) < max_in_flight;
            if !self
                .take_acks(&reply, &mut acks, &mut deadline, room)
                .await?
            {
                unsent = Some((i, "no JetStream ack in time".to_owned()));
                break;
            }
            let mut headers = HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, m.id.as_str());
            let publish = self.client.publish_with_reply_and_headers(
                m.subject.clone(),
                reply.clone(),
                headers,
                m.payload.clone(),
            );
            match tokio::time::timeout_at(deadline, publish).await {
                Ok(Ok(())) => {
                    sent += 1;
                    deadline = tokio::time::Instant::now() + timeout;
                }
                Ok(Err(e)) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    round.refused.push((m.clone(), e.to_string()))
                }
                Ok(Err(e)) => {
                    unsent = Some((i, format!("publish failed: {e}")));
                    break;
                }
                Err(_) => {
                    unsent = Some((
                        i,
                        "publish timed out: the client is not connected".to_owned(),
                    ));
                    break;
                }
            }
        }
        let all_answered = |a: &Acks| a.answers >= sent;
        self.take_acks(&reply, &mut acks, &mut deadline, all_answered)
            .await?;
        round.duplicates = acks.duplicates;
        let refused = |m: &Outgoing| round.refused.iter().any(|(r, _)| r.index == m.index);
        // Messages with one id (the same event twice in a batch: a relay reading a stream
        // that holds a duplicate) are stored once, their second ack a duplicate of the
        // first: what must be stored is each distinct id sent, not each message.
        let end = unsent.as_ref().map_or(todo.len(), |(from, _)| *from);
        let ids_sent = todo[..end]
            .iter()
            .filter(|m| !refused(m))
            .map(|m| m.id.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len();
        let retry: Vec<(Outgoing, String)> = if acks.distinct_stored() >= ids_sent {
            // Everything sent is stored: only what was not sent goes again.
            match &unsent {
                Some((from, why)) => todo[*from..]
                    .iter()
                    .filter(|m| !refused(m))
                    .map(|m| (m.clone(), why.clone()))
                    .collect(),
                None => Vec::new(),
            }
        } else {
            let why = acks
                .failure
                .clone()
                .unwrap_or_else(|| "no JetStream ack in time".to_owned());
            todo.iter()
                .filter(|m| !refused(m))
                .map(|m| (m.clone(), why.clone()))
                .collect()
        };
        round.retry = retry;
        Ok(round)
    }

    /// Takes the acks of round `reply` until `enough` holds (true) or `timeout` passes
    /// without one (false); each ack of the round moves `deadline` on.
    async fn take_acks(
        &mut self,
        reply: &Subject,
        acks: &mut Acks,
        deadline: &mut tokio::time::Instant,
        enough: impl Fn(&Acks) -> bool,
    ) -> Result<bool, PluginError> {
        while !enough(acks) {
            match tokio::time::timeout_at(*deadline, self.acks.next()).await {
                Ok(Some(ack)) => {
                    if acks.take(reply, &ack) {
                        *deadline = tokio::time::Instant::now() + self.settings.timeout;
                    }
                }
                Ok(None) => return Err(closed()),
                Err(_) => return Ok(false),
            }
        }
        Ok(true)
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
        c.dead_letter("nats", events, reasons).await
    }
}

fn closed() -> PluginError {
    PluginError::new("the NATS connection is closed")
}

/// What a reply on the ack inbox says: where the message is stored, or why it is not.
fn answer(reply: &async_nats::Message) -> Result<Stored, String> {
    if reply.status == Some(StatusCode::NO_RESPONDERS) {
        return Err("no JetStream stream takes this subject".to_owned());
    }
    match serde_json::from_slice::<PubAck>(&reply.payload) {
        Ok(PubAck { error: Some(e), .. }) => {
            Err(format!("JetStream error {}: {}", e.code, e.description))
        }
        Ok(PubAck {
            stream,
            seq,
            duplicate,
            error: None,
        }) if seq > 0 => Ok(Stored {
            place: (xxhash_rust::xxh3::xxh3_64(stream.as_bytes()), seq),
            duplicate,
        }),
        Ok(_) => Err("a JetStream ack without a sequence".to_owned()),
        Err(e) => Err(format!("unexpected reply from JetStream: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(payload: &'static [u8], status: Option<StatusCode>) -> async_nats::Message {
        async_nats::Message {
            subject: Subject::from("_INBOX.x.1"),
            reply: None,
            payload: Bytes::from_static(payload),
            headers: None,
            status,
            description: None,
            length: payload.len(),
        }
    }

    #[test]
    fn jetstream_answers_are_counted_per_round() {
        let round = Subject::from("_INBOX.x.1");
        let mut acks = Acks::default();
        assert!(acks.take(&round, &reply(br#"{"stream":"S","seq":1}"#, None)));
        assert!(acks.take(
            &round,
            &reply(br#"{"stream":"S","seq":2,"duplicate":true}"#, None)
        ));
        assert!(acks.take(
            &round,
            &reply(
                br#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}"#,
                None
            )
        ));
        assert!(acks.take(&round, &reply(b"", Some(StatusCode::NO_RESPONDERS))));
        let mut late = reply(br#"{"stream":"S","seq":9}"#, None);
        late.subject = Subject::from("_INBOX.x.0");
        assert!(
            !acks.take(&round, &late),
            "an earlier round's ack is not counted"
        );
        assert_eq!((acks.answers, acks.duplicates), (4, 1));
        assert_eq!(acks.distinct_stored(), 2);
        assert_eq!(
            acks.failure.as_deref(),
            Some("JetStream error 503: maximum messages exceeded")
        );
    }

    #[test]
    fn one_message_stored_twice_counts_once() {
        let round = Subject::from("_INBOX.x.1");
        let mut acks = Acks::default();
        acks.take(&round, &reply(br#"{"stream":"S","seq":7}"#, None));
        acks.take(
            &round,
            &reply(br#"{"stream":"S","seq":7,"duplicate":true}"#, None),
        );
        acks.take(&round, &reply(br#"{"stream":"T","seq":7}"#, None));
        assert_eq!(acks.answers, 3);
        assert_eq!(acks.distinct_stored(), 2, "S:7 twice is one message");
        let mut bad = Acks::default();
        bad.take(&round, &reply(br#"{"stream":"S"}"#, None));
        assert_eq!(bad.distinct_stored(), 0);
        assert!(bad.failure.unwrap().contains("without a sequence"));
    }
}
