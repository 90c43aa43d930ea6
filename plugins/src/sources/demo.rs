//! The `demo` source: realistic, mixed-level log lines at a set rate, for the default config,
//! trying pipelines, and benchmarks. It checkpoints its sequence number like a file offset,
//! and can inject a panic (`panic_every`) to show and test supervision.

use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use logcatch_core::batch::BatchBuilder;
use logcatch_core::checkpoint::Mark;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Source, SourceContext};
use serde::Deserialize;

/// The checkpoint stream of the demo sequence.
const STREAM: &str = "demo";

/// `type: demo` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Lines per second; 0 means as fast as the pipeline takes them.
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Stop after this many lines (sequence numbers 0..count); unbounded when absent.
    #[serde(default)]
    pub count: Option<u64>,
    /// Fault injection: panic after every N lines sent by one run of the source, to see it
    /// restarted from its checkpoint.
    #[serde(default)]
    pub panic_every: Option<u64>,
}

fn default_rate() -> f64 {
    10.0
}

/// A configured demo source.
pub struct DemoSource {
    config: DemoConfig,
}

/// Builds a `demo` source from its options.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Source>, OptionsError> {
    let config: DemoConfig = options.parse()?;
    if !(config.rate >= 0.0 && config.rate.is_finite()) {
        return Err(OptionsError::new(
            "rate",
            "must be a number of lines per second, 0 or more",
        ));
    }
    if config.panic_every == Some(0) {
        return Err(OptionsError::new("panic_every", "must be at least 1"));
    }
    Ok(Arc::new(DemoSource { config }))
}

#[async_trait]
impl Source for DemoSource {
    async fn run(&self, ctx: SourceContext) -> Result<(), PluginError> {
        let c = &self.config;
        let mut seq = ctx.resume_marks().get(STREAM).map_or(0, |m| m.offset);
        let (start, start_seq) = (Instant::now(), seq);
        let mut sent_this_run = 0u64;
        loop {
            let remaining = c.count.map_or(u64::MAX, |n| n.saturating_sub(seq));
            if remaining == 0 || ctx.shutdown.is_cancelled() {
                return Ok(());
            }
            let due = if c.rate == 0.0 {
                u64::MAX
            } else {
                ((start.elapsed().as_secs_f64() * c.rate) as u64).saturating_sub(seq - start_seq)
            };
            let n = due.min(remaining).min(ctx.batch.max_events as u64);
            if n == 0 {
                let wait = Duration::from_secs_f64((1.0 / c.rate).min(1.0)).max(ctx.batch.linger);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = ctx.shutdown.cancelled() => return Ok(()),
                }
                continue;
            }
            let now = SystemTime::now();
            let ts_ns = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let stamp = humantime::format_rfc3339_millis(now);
            let mut b = BatchBuilder::with_capacity(n as usize, n as usize * 120);
            let src = b.source(STREAM);
            for s in seq..seq + n {
                b.push_with(src, s, ts_ns, |line| write_line(line, s, &stamp));
            }
            seq += n;
            let mark = Mark {
                offset: seq,
                fingerprint: None,
                tail: None,
                path: None,
                updated: 0,
            };
            let batch = b.finish(ctx.ack(vec![(STREAM.to_owned(), mark)]));
            if ctx.send(batch).await.is_err() {
                return Ok(());
            }
            sent_this_run += n;
            if let Some(every) = c.panic_every
                && sent_this_run >= every
            {
                panic!(
                    "demo source: injected fault after {sent_this_run} lines (panic_every: {every})"
                );
            }
        }
    }
}

/// Writes demo line `seq`: level and content vary deterministically with the sequence.
fn write_line(out: &mut String, seq: u64, stamp: &impl std::fmt::Display) {
    let h = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    let (level, service) = match h % 100 {
        0..=29 => ("DEBUG", "cache"),
        30..=79 => ("INFO", "checkout-api"),
        80..=91 => ("WARN", "payments"),
        _ => ("ERROR", "payments"),
    };
    let user = h % 9973;
    let ms = h % 480 + 2;
    let _ = match level {
        "DEBUG" => write!(
            out,
            "{stamp} DEBUG {service} lookup key=user:{user} hit={} took_us={ms}",
            !h.is_multiple_of(3)
        ),
        "INFO" => write!(
            out,
            "{stamp} INFO {service} request completed method={} path=/api/orders/{user} status=200 duration_ms={ms}",
            if h.is_multiple_of(4) { "POST" } else { "GET" }
        ),
        "WARN" => write!(
            out,
            "{stamp} WARN {service} slow upstream host=10.0.{}.{} duration_ms={}",
            h % 8,
            h % 250,
            ms * 10
        ),
        _ => write!(
            out,
            "{stamp} ERROR {service} charge failed order={user} reason=card_declined retry=false"
        ),
    };
    let _ = write!(out, " seq={seq}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_varied_and_numbered() {
        let mut levels = std::collections::BTreeSet::new();
        for seq in 0..200 {
            let mut s = String::new();
            write_line(&mut s, seq, &"2026-01-01T00:00:00.000Z");
            assert!(s.ends_with(&format!(" seq={seq}")), "{s}");
            levels.insert(s.split(' ').nth(1).unwrap().to_owned());
        }
        assert_eq!(
            levels.into_iter().collect::<Vec<_>>(),
            ["DEBUG", "ERROR", "INFO", "WARN"]
        );
    }
}
