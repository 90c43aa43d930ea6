//! The `stdin` source: one event per line of standard input, so `cmd | logcatch run -c x.yaml`
//! works. Standard input cannot be replayed, so it has no checkpoint; it ends at end of input.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use logcatch_core::ack::Ack;
use logcatch_core::config::units;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Source, SourceContext};
use serde::Deserialize;

use super::lines::LineBuffer;
use super::multiline::Multiline;

/// `type: stdin` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {
    /// Longer lines are split into pieces of this size (and counted).
    #[serde(default = "default_max_line_bytes", deserialize_with = "units::bytes")]
    pub max_line_bytes: u64,
    /// Lines joined into one event (stack traces), by a `start` or `continue` regex.
    #[serde(default)]
    pub multiline: Option<Multiline>,
}

fn default_max_line_bytes() -> u64 {
    1 << 20
}

/// A configured stdin source.
pub struct StdinSource {
    config: StdinConfig,
}

/// Builds a `stdin` source from its options.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Source>, OptionsError> {
    let config: StdinConfig = options.parse()?;
    if config.max_line_bytes == 0 {
        return Err(OptionsError::new("max_line_bytes", "must be at least 1"));
    }
    if let Some(m) = &config.multiline {
        m.validate()?;
    }
    Ok(Arc::new(StdinSource { config }))
}

#[async_trait]
impl Source for StdinSource {
    async fn run(&self, ctx: SourceContext) -> Result<(), PluginError> {
        // A read of stdin cannot be interrupted, so it happens on a thread of its own that
        // hands chunks over; at shutdown this task stops waiting for it.
        let (tx, mut chunks) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(2);
        std::thread::spawn(move || read_chunks(tx));
        let c = &ctx.counters;
        let mut lines = LineBuffer::new(
            0,
            ctx.batch.max_events,
            ctx.batch.max_bytes as usize,
            self.config.max_line_bytes as usize,
        )
        .with_multiline(self.config.multiline.clone());
        // An open multiline event is sent when no line came for its timeout.
        let timeout = self.config.multiline.as_ref().map(|m| m.timeout);
        loop {
            let quiet = async {
                match timeout.filter(|_| lines.has_open()) {
                    Some(t) => tokio::time::sleep(t).await,
                    None => std::future::pending().await,
                }
            };
            let chunk = tokio::select! {
                chunk = chunks.recv() => chunk,
                _ = quiet => {
                    lines.close_open();
                    send(&ctx, &mut lines).await?;
                    continue;
                }
                _ = ctx.shutdown.cancelled() => return Ok(()),
            };
            match chunk {
                Some(Ok(bytes)) => {
                    let mut rest = &bytes[..];
                    while !rest.is_empty() {
                        lines.fill(&mut rest, u64::MAX, c)?;
                        while lines.is_full() {
                            send(&ctx, &mut lines).await?;
                        }
                    }
                    // What one read returned is a natural batch: the writer wrote it together.
                    send(&ctx, &mut lines).await?;
                }
                Some(Err(e)) => return Err(PluginError::new(format!("reading stdin: {e}"))),
                None => {
                    // End of input: a last line without a newline still counts as a line, and
                    // an open multiline event is complete.
                    lines.finish_partial();
                    send(&ctx, &mut lines).await?;
                    return Ok(());
                }
            }
        }
    }
}

async fn send(ctx: &SourceContext, lines: &mut LineBuffer) -> Result<(), PluginError> {
    while lines.pending() > 0 {
        let ts = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let batch = lines.take_batch("stdin", ts.as_nanos() as u64, &ctx.counters, |_| {
            Ack::none()
        });
        ctx.send(batch)
            .await
            .map_err(|e| PluginError::new(e.to_string()))?;
    }
    Ok(())
}

/// Reads stdin in chunks until its end or until nobody listens.
fn read_chunks(tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>) {
    let mut input = std::io::stdin().lock();
    loop {
        let mut buf = vec![0u8; 256 << 10];
        let chunk = match input.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                Ok(buf)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        if tx.blocking_send(chunk).is_err() || failed {
            return;
        }
    }
}
