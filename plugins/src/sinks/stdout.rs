//! The `stdout` sink: events on standard output, as text or JSON lines.

use std::sync::Arc;

use async_trait::async_trait;
use logcatch_core::batch::Batch;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Sink, SinkContext, SinkWriter};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use logcatch_core::encode::{CHUNK, Format, encode_from};

/// `type: stdout` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    /// `text` or `json`.
    #[serde(default)]
    pub format: Format,
}

struct StdoutSink {
    format: Format,
}

/// Builds a `stdout` sink from its options.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Sink>, OptionsError> {
    let config: StdoutConfig = options.parse()?;
    Ok(Arc::new(StdoutSink {
        format: config.format,
    }))
}

#[async_trait]
impl Sink for StdoutSink {
    async fn open(&self, _ctx: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError> {
        Ok(Box::new(StdoutWriter {
            format: self.format,
            out: tokio::io::stdout(),
            buf: Vec::new(),
        }))
    }
}

struct StdoutWriter {
    format: Format,
    out: tokio::io::Stdout,
    buf: Vec<u8>,
}

#[async_trait]
impl SinkWriter for StdoutWriter {
    async fn write(&mut self, batch: &Batch) -> Result<(), PluginError> {
        let mut next = 0;
        while next < batch.len() {
            self.buf.clear();
            next = encode_from(batch, next, self.format, &mut self.buf, CHUNK);
            self.out.write_all(&self.buf).await?;
        }
        self.out.flush().await?;
        Ok(())
    }
}
