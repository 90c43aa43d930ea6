//! The `blackhole` sink: acknowledges and counts everything, writes nothing. For benchmarks
//! and for measuring a pipeline without its destination.

use std::sync::Arc;

use async_trait::async_trait;
use logcatch_core::batch::Batch;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Sink, SinkContext, SinkWriter};
use serde::Deserialize;

/// `type: blackhole` options (none).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeConfig {}

struct Blackhole;

/// Builds a `blackhole` sink.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Sink>, OptionsError> {
    let _: BlackholeConfig = options.parse()?;
    Ok(Arc::new(Blackhole))
}

#[async_trait]
impl Sink for Blackhole {
    async fn open(&self, _ctx: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError> {
        Ok(Box::new(Blackhole))
    }
}

#[async_trait]
impl SinkWriter for Blackhole {
    async fn write(&mut self, _batch: &Batch) -> Result<(), PluginError> {
        // The pipeline counts delivered events and bytes for every sink.
        Ok(())
    }
}
