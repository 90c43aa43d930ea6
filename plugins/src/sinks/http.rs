//! The `http` sink: POSTs each batch to an HTTP(S) endpoint as NDJSON, a JSON array or an
//! Elasticsearch `_bulk` body, optionally gzipped, in requests of at most `max_body_bytes`.
//!
//! A batch is acknowledged only after every one of its requests got a 2xx, or was refused for
//! good and written to the pipeline's dead-letter file. Connection errors, timeouts, 408, 429
//! and 5xx are retried inside `write` with capped, jittered exponential backoff (honouring
//! `Retry-After`), so the pipeline is held meanwhile (backpressure) and nothing is dropped; at
//! shutdown an undelivered batch is simply not acknowledged, and is read again at the next
//! start. Header values are never logged.

mod body;
mod config;
mod retry;

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use logcatch_core::batch::Batch;
use logcatch_core::metrics::Counters;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Sink, SinkContext, SinkWriter};
use reqwest::header::{CONTENT_ENCODING, HeaderValue, RETRY_AFTER};

pub use config::{BodyFormat, Compression, HttpSinkConfig};

use body::{Encoded, compress};
use config::Settings;
use retry::{Backoff, Class, LogLimit, classify, parse_retry_after};

/// How much of a refusing server's answer goes into the log and the dead-letter reason.
const BODY_EXCERPT: usize = 512;
/// At most one retry warning per this long (per sink); the others are counted.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// Redirects followed (307/308 only: they keep the method and the body).
const MAX_REDIRECTS: usize = 5;

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
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let keeps_body = matches!(attempt.status().as_u16(), 307 | 308);
            if keeps_body && attempt.previous().len() <= MAX_REDIRECTS {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(concat!("logcatch/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.settings.timeout)
            .timeout(self.settings.timeout)
            .redirect(redirects)
            .build()
            .map_err(|e| PluginError::new(format!("cannot set up the HTTP client: {e}")))?;
        let s = &self.settings;
        Ok(Box::new(HttpWriter {
            backoff: Backoff::new(s.initial_backoff, s.max_backoff, s.retry_after_max),
            settings: self.settings.clone(),
            client,
            ctx: ctx.clone(),
            warnings: LogLimit::new(WARN_EVERY),
            warned: false,
            body: Vec::new(),
        }))
    }
}

struct HttpWriter {
    settings: Arc<Settings>,
    client: reqwest::Client,
    ctx: SinkContext,
    backoff: Backoff,
    warnings: LogLimit,
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
    /// 2xx.
    Delivered,
    /// Worth sending again, after the server's `Retry-After` if it gave one.
    Retry {
        why: String,
        retry_after: Option<Duration>,
    },
    /// 413: the body is too large for the server.
    TooLarge { why: String },
    /// Refused for good.
    Rejected { why: String },
}

#[async_trait]
impl SinkWriter for HttpWriter {
    async fn write(&mut self, batch: &Batch) -> Result<(), PluginError> {
        let encoded = Encoded::new(batch);
        let s = self.settings.clone();
        let mut todo = encoded.chunks(s.format, s.max_body_bytes);
        todo.reverse(); // a stack: the next part is last
        while let Some(range) = todo.pop() {
            encoded.body(range.clone(), s.format, &mut self.body);
            let wire = bytes::Bytes::from(compress(&self.body, s.compression));
            match self.deliver(wire, range.len()).await {
                Ok(()) => {}
                Err(Refused::TooLarge(why)) if range.len() > 1 => {
                    let mid = range.start + range.len() / 2;
                    tracing::warn!(pipeline = %self.ctx.pipeline, component = %self.ctx.component, events = range.len(), "{why}; sending it in two halves");
                    todo.push(mid..range.end);
                    todo.push(range.start..mid);
                }
                Err(Refused::TooLarge(why) | Refused::Rejected(why)) => {
                    self.dead_letter(batch, range, why).await?;
                }
            }
        }
        Ok(())
    }
}

impl HttpWriter {
    /// Sends one body until the server takes it or refuses it for good; retryable failures
    /// are counted, logged (rate-limited) and retried after a backoff.
    async fn deliver(&mut self, wire: bytes::Bytes, events: usize) -> Result<(), Refused> {
        loop {
            let refused = match self.attempt(wire.clone()).await {
                Attempt::Delivered => {
                    if std::mem::take(&mut self.warned) {
                        tracing::info!(pipeline = %self.ctx.pipeline, component = %self.ctx.component, failed_attempts = self.backoff.failures(), "delivered again after retrying");
                    }
                    self.backoff.reset();
                    return Ok(());
                }
                Attempt::Retry { why, retry_after } => {
                    self.ctx.counters.error(&why);
                    let delay = match retry_after {
                        Some(asked) => self.backoff.retry_after(asked),
                        None => self.backoff.next(),
                    };
                    if let Some(suppressed) = self.warnings.allow(Instant::now()) {
                        self.warned = true;
                        tracing::warn!(
                            pipeline = %self.ctx.pipeline, component = %self.ctx.component, events,
                            attempt = self.backoff.failures(), retry_in_ms = delay.as_millis() as u64,
                            similar_warnings_suppressed = suppressed,
                            "{why}; the batch is kept and retried"
                        );
                    }
                    tokio::time::sleep(delay).await;
                    continue;
                }
                Attempt::TooLarge { why } => Refused::TooLarge(why),
                Attempt::Rejected { why } => Refused::Rejected(why),
            };
            self.backoff.reset();
            return Err(refused);
        }
    }

    /// One POST.
    async fn attempt(&self, wire: bytes::Bytes) -> Attempt {
        let s = &self.settings;
        let mut request = self
            .client
            .post(s.url.clone())
            .headers(s.headers.clone())
            .body(wire);
        if s.compression == Compression::Gzip {
            request = request.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    why: describe(&e, s.timeout),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let class = classify(status);
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        // Read the answer whole: the connection can then be reused, and its text explains
        // a refusal.
        let text = match response.bytes().await {
            Ok(b) => b,
            Err(e) if class == Class::Delivered => {
                // The server said 2xx; only its body was cut short.
                tracing::debug!(pipeline = %self.ctx.pipeline, component = %self.ctx.component, "reading a 2xx answer failed: {}", describe(&e, s.timeout));
                return Attempt::Delivered;
            }
            Err(e) => {
                return Attempt::Retry {
                    why: format!("HTTP {status}, then {}", describe(&e, s.timeout)),
                    retry_after,
                };
            }
        };
        let why = || format!("HTTP {status}{}", excerpt(&text));
        match class {
            Class::Delivered => Attempt::Delivered,
            Class::Retry => Attempt::Retry {
                why: why(),
                retry_after,
            },
            Class::TooLarge => Attempt::TooLarge { why: why() },
            Class::Rejected => Attempt::Rejected { why: why() },
        }
    }

    /// Writes the events of `range` to the dead-letter file with `why`, counts and logs them.
    async fn dead_letter(
        &self,
        batch: &Batch,
        range: Range<usize>,
        why: String,
    ) -> Result<(), PluginError> {
        let n = range.len();
        let c = &self.ctx;
        self.ctx.counters.error(&why);
        tracing::error!(pipeline = %c.pipeline, component = %c.component, events = n, "the server refused the data: {why}; the events go to the dead-letter file");
        let events = batch.select(range);
        let reasons = vec![format!("{}: {why}", c.component); n];
        let (dead, pipeline) = (c.dead_letters.clone(), c.pipeline.clone());
        tokio::task::spawn_blocking(move || dead.write(&pipeline, "http", &events, &reasons))
            .await
            .map_err(|e| PluginError::new(format!("writing dead letters failed: {e}")))?;
        Counters::add(&c.counters.dead_lettered, n as u64);
        Ok(())
    }
}

/// A request error as one line, without the URL (it may carry credentials) and with its
/// causes (`error sending request` alone says nothing).
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
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
fn excerpt(body: &[u8]) -> String {
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
    use super::excerpt;

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
