//! The `http` sink: POSTs each batch to an HTTP(S) endpoint as NDJSON, a JSON array or an
//! Elasticsearch `_bulk` body, optionally gzipped, in requests of at most `max_body_bytes`.
//!
//! A batch is acknowledged only after each of its events was taken by the server, or refused
//! for good and written to the pipeline's dead-letter file. Connection errors, timeouts, 408,
//! 429 and 5xx, and 401, 403, 404, 407 and 421 (credentials or routing, logged as errors), are
//! retried inside `write` with capped, jittered exponential backoff (honouring
//! `Retry-After`), so the pipeline is held meanwhile (backpressure, the sink `blocked`) and
//! nothing is dropped; `on_status` changes what a status does. Only what an answer needs is
//! read (a `_bulk` answer up to `max_response_bytes`). Redirects go to the same origin only
//! unless configured, never from https to http. At
//! shutdown an undelivered batch is simply not acknowledged, and is read again at the next
//! start. A `_bulk` answer is read item by item (a 200 may hold failed items): only the failed
//! items are sent again, and the ones refused for good are dead-lettered with their reason.
//! Header values are never logged.

mod body;
mod bulk;
pub(crate) mod config;
mod endpoints;
mod retry;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use logcatch_core::batch::Batch;
use logcatch_core::health::ComponentState;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Sink, SinkContext, SinkWriter};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, HeaderValue, RETRY_AFTER};

pub(crate) use body::BulkLayout;
pub use config::{BodyFormat, Compression, HttpSinkConfig};
pub(crate) use config::{Redirects, Settings, StatusAction, parse_headers, parse_url};

use body::{Encoded, compress};
use bulk::Outcome;
use endpoints::Endpoints;
use retry::{Backoff, Class, LogLimit, classify, parse_retry_after};

/// How much of a refusing server's answer goes into the log and the dead-letter reason.
const BODY_EXCERPT: usize = 512;
/// At most one retry warning, and one warning about refused `_bulk` items, per this long
/// (per sink); the others are counted.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// Redirects followed (307/308 only: they keep the method and the body).
const MAX_REDIRECTS: usize = 5;
/// Bytes read of an answer whose body only explains it (not a `_bulk` answer to read).
const ANSWER_READ: usize = 4096;
/// How long an endpoint that did not answer is skipped while others are in service.
const ENDPOINT_PAUSE: Duration = Duration::from_secs(5);
/// Said of an answer about credentials or routing, which the sink holds and retries.
const HOLD_HINT: &str = " (credentials or routing: a configuration or server state, not the data)";

/// The events of one request: indices into the batch, ascending.
type Part = Vec<usize>;
/// Events refused for good: index into the batch, and the reason for the dead-letter file.
type RefusedEvents = Vec<(usize, String)>;

struct HttpSink {
    settings: Arc<Settings>,
}

/// Builds an `http` sink from its options.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Sink>, OptionsError> {
    let config: HttpSinkConfig = options.parse()?;
    Ok(Arc::new(HttpSink {
        settings: Arc::new(config.check()?),
    }))
}

#[async_trait]
impl Sink for HttpSink {
    async fn open(&self, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError> {
        let client = client(&self.settings)?;
        Ok(writer(self.settings.clone(), client, ctx))
    }
}

/// The HTTP client for `settings`: its time limits, and redirects only as they allow.
pub(crate) fn client(settings: &Settings) -> Result<reqwest::Client, PluginError> {
    let policy = settings.redirects;
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        let keeps_body = matches!(attempt.status().as_u16(), 307 | 308);
        let from = attempt
            .previous()
            .last()
            .expect("a redirect follows a request");
        let allowed = redirect_allowed(policy, from, attempt.url());
        if keeps_body && allowed && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .user_agent(concat!("logcatch/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.timeout)
        .timeout(settings.timeout)
        .redirect(redirects)
        .build()
        .map_err(|e| PluginError::new(format!("cannot set up the HTTP client: {e}")))
}

/// The writer that delivers batches as `settings` say, through `client`: the `http` sink's,
/// and the `elasticsearch` sink's once it checked the cluster.
pub(crate) fn writer(
    settings: Arc<Settings>,
    client: reqwest::Client,
    ctx: &SinkContext,
) -> Box<dyn SinkWriter> {
    Box::new(HttpWriter {
        endpoints: Endpoints::new(settings.endpoints.len()),
        backoff: Backoff::jittered(settings.initial_backoff, settings.max_backoff),
        settings,
        client,
        ctx: ctx.clone(),
        warnings: LogLimit::new(WARN_EVERY),
        refusals: LogLimit::new(WARN_EVERY),
        rejections: LogLimit::new(WARN_EVERY),
        warned: false,
        body: Vec::new(),
    })
}

struct HttpWriter {
    settings: Arc<Settings>,
    client: reqwest::Client,
    ctx: SinkContext,
    /// Which endpoint the next request goes to.
    endpoints: Endpoints,
    backoff: Backoff,
    warnings: LogLimit,
    /// Limits the warnings about `_bulk` items refused for good.
    refusals: LogLimit,
    /// Limits the errors about requests refused for good.
    rejections: LogLimit,
    /// A retry warning went out since the last delivery (so the recovery is logged too).
    warned: bool,
    /// Reused for each uncompressed body.
    body: Vec<u8>,
}

/// Why a body was not delivered (and retrying it as it is cannot help).
enum Refused {
    /// 413: the body is too large for the server.
    TooLarge(String),
    /// Any other refusal.
    Rejected(String),
}

/// How one request went.
enum Attempt {
    /// 2xx (for `_bulk`: with every item delivered).
    Delivered,
    /// A 2xx answer to a `_bulk` request with failed items.
    Bulk(Outcome),
    /// Worth sending again, after the server's `Retry-After` if it gave one; `hold`: for
    /// an answer about credentials or routing (logged as an error); `unreachable`: the
    /// endpoint did not answer, or answered as a gateway to nothing (502, 503, 504), and
    /// another one may take it at once.
    Retry {
        why: String,
        retry_after: Option<Duration>,
        hold: bool,
        unreachable: bool,
    },
    /// 413: the body is too large for the server.
    TooLarge { why: String },
    /// Refused for good.
    Rejected { why: String },
}

#[async_trait]
impl SinkWriter for HttpWriter {
    async fn write(&mut self, batch: &Batch) -> Result<(), PluginError> {
        let encoded = Encoded::new(batch, &self.ctx.pipeline, self.settings.bulk.as_ref());
        let s = self.settings.clone();
        let chunks = encoded.chunks(s.format, s.max_body_bytes);
        // A stack: the next part is last.
        let mut todo: Vec<Part> = chunks.into_iter().rev().map(Iterator::collect).collect();
        let mut refused = RefusedEvents::new();
        while let Some(mut part) = todo.pop() {
            match self.deliver(&encoded, &mut part, &mut refused).await {
                Ok(()) => {}
                Err(Refused::TooLarge(why)) if part.len() > 1 => {
                    tracing::warn!(pipeline = %self.ctx.pipeline, component = %self.ctx.component, events = part.len(), "{why}; sending it in two halves");
                    let back = part.split_off(part.len() / 2);
                    todo.push(back);
                    todo.push(part);
                }
                Err(Refused::TooLarge(why) | Refused::Rejected(why)) => {
                    self.refuse(&part, why, &mut refused);
                }
            }
        }
        self.dead_letter(batch, refused).await
    }
}

impl HttpWriter {
    /// Sends the events of `part` until the server has taken each of them, or refused the
    /// whole request for good (`Err`; `part` then holds the events it refused). `_bulk` items
    /// refused for good go to `refused` and leave `part`; failed attempts and failed items
    /// are counted, logged (rate-limited) and sent again after a backoff.
    async fn deliver(
        &mut self,
        encoded: &Encoded,
        part: &mut Part,
        refused: &mut RefusedEvents,
    ) -> Result<(), Refused> {
        let mut wire = None;
        loop {
            let body = wire.get_or_insert_with(|| self.wire(encoded, part)).clone();
            let at = self.endpoints.pick(Instant::now());
            let url = self.settings.endpoints[at].clone();
            let attempt = self.attempt(url, body, part.len()).await;
            let now = Instant::now();
            match &attempt {
                Attempt::Retry {
                    why,
                    unreachable: true,
                    ..
                } if self.settings.endpoints.len() > 1 => {
                    self.endpoints.failed(at, now, ENDPOINT_PAUSE);
                    if self.endpoints.other_up(at, now) {
                        self.ctx.counters.error(why);
                        tracing::debug!(pipeline = %self.ctx.pipeline, component = %self.ctx.component, endpoint = at, "{why}; sending to the next endpoint");
                        continue;
                    }
                }
                _ => self.endpoints.answered(at),
            }
            let (why, retry_after) = match attempt {
                Attempt::Delivered => {
                    self.recovered();
                    return Ok(());
                }
                Attempt::Bulk(outcome) => match self.settle_items(part, outcome, refused) {
                    None => {
                        self.recovered();
                        return Ok(());
                    }
                    Some(why) => {
                        wire = None; // `part` changed
                        (why, None)
                    }
                },
                Attempt::Retry {
                    why,
                    retry_after,
                    hold,
                    ..
                } => (
                    if hold {
                        format!("{why}{HOLD_HINT}")
                    } else {
                        why
                    },
                    retry_after,
                ),
                Attempt::TooLarge { why } => {
                    self.backoff.reset();
                    return Err(Refused::TooLarge(why));
                }
                Attempt::Rejected { why } => {
                    self.backoff.reset();
                    return Err(Refused::Rejected(why));
                }
            };
            self.wait(&why, part.len(), retry_after).await;
        }
    }

    /// The body of `part` as it goes on the wire.
    fn wire(&mut self, encoded: &Encoded, part: &[usize]) -> bytes::Bytes {
        let s = &self.settings;
        encoded.body(part.iter().copied(), s.format, &mut self.body);
        bytes::Bytes::from(compress(&self.body, s.compression))
    }

    /// Counts a failed attempt, shows the sink `blocked`, logs it (at most one line per
    /// `WARN_EVERY`; an error for credentials or routing) and sleeps for the backoff, or for
    /// the server's `Retry-After` when it gave one.
    async fn wait(&mut self, why: &str, events: usize, retry_after: Option<Duration>) {
        self.ctx.counters.error(why);
        self.ctx.counters.state.set(ComponentState::Blocked);
        let delay = match retry_after {
            Some(asked) => self
                .backoff
                .retry_after(asked, self.settings.retry_after_max),
            None => self.backoff.step(),
        };
        if let Some(suppressed) = self.warnings.allow(Instant::now()) {
            self.warned = true;
            let (c, attempt) = (&self.ctx, self.backoff.failures());
            let retry_in_ms = delay.as_millis() as u64;
            if why.ends_with(HOLD_HINT) {
                tracing::error!(
                    pipeline = %c.pipeline, component = %c.component, events, attempt, retry_in_ms,
                    similar_errors_suppressed = suppressed, "{why}; the batch is kept and retried"
                );
            } else {
                tracing::warn!(
                    pipeline = %c.pipeline, component = %c.component, events, attempt, retry_in_ms,
                    similar_warnings_suppressed = suppressed, "{why}; the batch is kept and retried"
                );
            }
        }
        tokio::time::sleep(delay).await;
    }

    /// After a delivery: logs the recovery when a retry warning went out, resets the backoff,
    /// shows the sink running again.
    fn recovered(&mut self) {
        if std::mem::take(&mut self.warned) {
            tracing::info!(pipeline = %self.ctx.pipeline, component = %self.ctx.component, failed_attempts = self.backoff.failures(), "delivered again after retrying");
        }
        self.backoff.reset();
        if self.ctx.counters.state.get() == ComponentState::Blocked {
            self.ctx.counters.state.set(ComponentState::Running);
        }
    }

    /// Applies a `_bulk` answer's failed items to `part`: the ones refused for good move to
    /// `refused` (with a rate-limited warning), the ones worth retrying stay in `part`, alone.
    /// `Some(why)` when some are to be sent again.
    fn settle_items(
        &mut self,
        part: &mut Part,
        outcome: Outcome,
        refused: &mut RefusedEvents,
    ) -> Option<String> {
        let c = self.ctx.clone();
        let sent = part.len();
        if outcome.duplicates > 0 {
            tracing::debug!(pipeline = %c.pipeline, component = %c.component, events = outcome.duplicates, "_bulk items answered 409 to `create`: the documents are already there (sent before), so delivered");
        }
        if let Some((_, first)) = outcome.rejected.first() {
            let n = outcome.rejected.len();
            if outcome.retry.is_empty() {
                // Otherwise `wait` counts this answer.
                c.counters.error(&format!("_bulk item refused: {first}"));
            }
            if let Some(suppressed) = self.refusals.allow(Instant::now()) {
                tracing::warn!(pipeline = %c.pipeline, component = %c.component, events = n, similar_warnings_suppressed = suppressed, "the server refused {n} of {sent} events of a _bulk request (first: {first}); they go to the dead-letter file");
            }
            refused.extend(outcome.rejected.iter().map(|(at, why)| {
                (
                    part[*at],
                    format!("{}: _bulk item refused: {why}", c.component),
                )
            }));
        }
        let (_, first) = outcome.retry.first()?;
        let why = format!(
            "{} of {sent} _bulk items failed (first: {first})",
            outcome.retry.len()
        );
        *part = outcome.retry.iter().map(|&(at, _)| part[at]).collect();
        Some(why)
    }

    /// One POST of `actions` events to `url`.
    async fn attempt(&self, url: reqwest::Url, wire: bytes::Bytes, actions: usize) -> Attempt {
        let s = &self.settings;
        let mut request = self.client.post(url).headers(s.headers.clone()).body(wire);
        if s.compression == Compression::Gzip {
            request = request.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    why: describe(&e, s.timeout),
                    retry_after: None,
                    hold: false,
                    unreachable: true,
                };
            }
        };
        let status = response.status();
        let class = classify(status, &s.on_status);
        let gateway = matches!(status.as_u16(), 502..=504);
        let bulk = s.format == BodyFormat::EsBulk;
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        // Read what the answer needs, never more (a 3 GB error page took the daemon to
        // 5.9 GB): a `_bulk` answer to its cap (its items say which failed), any other only
        // its start, which explains a refusal.
        let needs_all = bulk && class == Class::Delivered;
        let cap = if needs_all {
            s.max_response_bytes
        } else {
            ANSWER_READ
        };
        let (text, whole) = match read_capped(response, cap).await {
            Ok(read) => read,
            Err(e) if class == Class::Delivered && !bulk => {
                // The server said 2xx; only its body was cut short.
                tracing::debug!(pipeline = %self.ctx.pipeline, component = %self.ctx.component, "reading a 2xx answer failed: {}", describe(&e, s.timeout));
                return Attempt::Delivered;
            }
            Err(e) => {
                return Attempt::Retry {
                    why: format!("HTTP {status}, then {}", describe(&e, s.timeout)),
                    retry_after,
                    hold: class == Class::Hold,
                    unreachable: true,
                };
            }
        };
        let why = || format!("HTTP {status}{}", excerpt(&text));
        match class {
            Class::Delivered if bulk && !whole => match bulk::errors_flag(&text) {
                Some(false) => Attempt::Delivered,
                _ => Attempt::Retry {
                    why: format!(
                        "HTTP {status}, with a _bulk answer over max_response_bytes ({} bytes): its failed items cannot be told; raise max_response_bytes",
                        s.max_response_bytes
                    ),
                    retry_after: None,
                    hold: true,
                    unreachable: false,
                },
            },
            Class::Delivered if bulk => bulk_answer(status, &text, actions, &s.on_status),
            Class::Delivered => Attempt::Delivered,
            Class::Retry | Class::Hold => Attempt::Retry {
                why: why(),
                retry_after,
                hold: class == Class::Hold,
                unreachable: gateway,
            },
            Class::TooLarge => Attempt::TooLarge { why: why() },
            Class::Rejected => Attempt::Rejected { why: why() },
        }
    }

    /// A request refused for good: counted, logged (rate-limited), and its events marked for
    /// the dead-letter file.
    fn refuse(&mut self, part: &[usize], why: String, refused: &mut RefusedEvents) {
        let c = &self.ctx;
        c.counters.error(&why);
        if let Some(suppressed) = self.rejections.allow(Instant::now()) {
            tracing::error!(pipeline = %c.pipeline, component = %c.component, events = part.len(), similar_errors_suppressed = suppressed, "the server refused the data: {why}; the events go to the dead-letter file");
        }
        let reason = format!("{}: {why}", c.component);
        refused.extend(part.iter().map(|&i| (i, reason.clone())));
    }

    /// Writes the refused events to the dead-letter file in batch order, with their reasons,
    /// and counts them.
    async fn dead_letter(
        &self,
        batch: &Batch,
        mut refused: RefusedEvents,
    ) -> Result<(), PluginError> {
        if refused.is_empty() {
            return Ok(());
        }
        refused.sort_unstable_by_key(|&(i, _)| i);
        let c = &self.ctx;
        let events = batch.select(refused.iter().map(|&(i, _)| i));
        let reasons: Vec<String> = refused.into_iter().map(|(_, why)| why).collect();
        c.dead_letter("http", events, reasons).await
    }
}

/// What a 2xx answer to a `_bulk` request says. One that cannot be read is retried whole:
/// which of its items got in is unknown.
fn bulk_answer(
    status: StatusCode,
    text: &[u8],
    actions: usize,
    on_status: &std::collections::BTreeMap<u16, config::StatusAction>,
) -> Attempt {
    match bulk::read(text, actions, on_status) {
        Ok(outcome) if outcome == Outcome::default() => Attempt::Delivered,
        Ok(outcome) => Attempt::Bulk(outcome),
        Err(why) => Attempt::Retry {
            why: format!("HTTP {status}, but {why}{}", excerpt(text)),
            retry_after: None,
            hold: false,
            unreachable: false,
        },
    }
}

/// Whether a redirect from `from` to `to` may be followed under `policy`: the configured
/// headers (credentials, often) and the events go with it.
fn redirect_allowed(policy: Redirects, from: &reqwest::Url, to: &reqwest::Url) -> bool {
    match policy {
        Redirects::None => false,
        Redirects::SameOrigin => to.origin() == from.origin(),
        // Never from https to http: the body and headers would go in clear.
        Redirects::AnyHost => !(from.scheme() == "https" && to.scheme() != "https"),
    }
}

/// Reads at most `cap` bytes of `response`'s body; true if that was all of it.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut text = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - text.len();
        if chunk.len() > room {
            text.extend_from_slice(&chunk[..room]);
            return Ok((text, false));
        }
        text.extend_from_slice(&chunk);
    }
    Ok((text, true))
}

/// A request error as one line, without the URL (it may carry credentials) and with its
/// causes (`error sending request` alone says nothing).
pub(crate) fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {}", humantime::format_duration(timeout));
    }
    let mut out = String::new();
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        let text = text.split(" for url (").next().unwrap_or(&text);
        if !out.contains(text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(text);
        }
        cause = c.source();
    }
    out
}

/// `: <the first bytes of the answer>` on one line, or nothing for an empty answer.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(BODY_EXCERPT)];
    let text = String::from_utf8_lossy(cut);
    let text: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.is_empty() {
        String::new()
    } else if body.len() > BODY_EXCERPT {
        format!(": {text}...")
    } else {
        format!(": {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::{Redirects, excerpt, redirect_allowed};

    #[test]
    fn redirects_stay_on_their_origin_and_never_lose_tls() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        let from = u("https://es.example:9200/_bulk");
        let cases = [
            ("https://es.example:9200/other", true, true),
            ("https://es.example:9201/_bulk", false, true),
            ("https://evil.example/_bulk", false, true),
            ("http://es.example:9200/_bulk", false, false),
        ];
        for (to, same_origin, any_host) in cases {
            assert_eq!(
                redirect_allowed(Redirects::SameOrigin, &from, &u(to)),
                same_origin,
                "{to}"
            );
            assert_eq!(
                redirect_allowed(Redirects::AnyHost, &from, &u(to)),
                any_host,
                "{to}"
            );
            assert!(!redirect_allowed(Redirects::None, &from, &u(to)), "{to}");
        }
        assert!(redirect_allowed(
            Redirects::AnyHost,
            &u("http://a/"),
            &u("https://b/")
        ));
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt(b""), "");
        assert_eq!(
            excerpt(b" {\"error\":\n\"bad\"} "),
            ": {\"error\": \"bad\"}"
        );
        let long = excerpt(&[b'x'; 2000]);
        assert_eq!(long.len(), 2 + 512 + 3);
        assert!(long.ends_with("..."));
    }
}
