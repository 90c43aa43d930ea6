//! A sink plugin (`sinks: [{ wasm: PATH }]`), loaded by the one plugin loader, with one
//! instance per writer kept across batches and called on a blocking thread, never on the
//! reactor.
//!
//! Faults follow the sink contract of the pipeline: a write that fails (the plugin's `Err`,
//! a trap, a limit hit) is an error for the pipeline, which keeps the batch, backs off and
//! retries it with a reopened writer, that is a fresh instance (`init` again), holding its
//! sources meanwhile. Nothing is acknowledged until `write` returns `Ok`, nothing dropped.
//!
//! A new version of the plugin file is swapped in as a filter's is ([`crate::reload::swap`]): each
//! writer switches before its next `write`; the pipeline is not rebuilt, its sources keep
//! running.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::plugin::{CallError, Instance, Plugin};
use super::world::SinkWorld;
use crate::batch::Batch;
use crate::metrics::Counters;
use crate::plugin::{PluginError, Sink, SinkContext, SinkWriter};
use crate::reload::swap::{Follower, Slot};

/// A loaded sink plugin.
pub type WasmSink = Plugin<SinkWorld>;

impl Plugin<SinkWorld> {
    /// Runs `write` on `batch` in `instance`, within the limits. Blocking: call it off the
    /// reactor.
    pub fn write(
        &self,
        instance: &mut Instance<SinkWorld>,
        batch: &super::wire::EventBatch,
    ) -> Result<(), CallError> {
        self.call(instance, |e, store| {
            e.logcatch_plugin_sink().call_write(store, batch)
        })
    }
}

/// A sink plugin as the pipeline runs it: each `open` makes a writer with an instance of
/// its own, following the plugin's [`Slot`] for swapped-in versions.
pub struct WasmSinkPlugin {
    slot: Arc<Slot<SinkWorld>>,
}

impl WasmSinkPlugin {
    /// The sink running the plugin in `slot`.
    pub fn new(slot: Arc<Slot<SinkWorld>>) -> Self {
        WasmSinkPlugin { slot }
    }
}

/// Starts an instance of `sink` (`init` included) on a blocking thread.
async fn instantiate(sink: Arc<WasmSink>) -> Result<Instance<SinkWorld>, PluginError> {
    tokio::task::spawn_blocking(move || sink.instantiate())
        .await
        .map_err(|e| PluginError::new(format!("starting the plugin panicked: {e}")))?
        .map_err(|e| PluginError::new(e.to_string()))
}

#[async_trait]
impl Sink for WasmSinkPlugin {
    async fn open(&self, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError> {
        let plugin = self.slot.follow();
        let instance = instantiate(plugin.plugin().clone()).await?;
        Ok(Box::new(Writer {
            plugin,
            instance: Some(instance),
            ctx: ctx.clone(),
        }))
    }
}

/// An open sink: its version of the plugin and its instance, moved to a blocking thread
/// for each call.
struct Writer {
    plugin: Follower<SinkWorld>,
    instance: Option<Instance<SinkWorld>>,
    ctx: SinkContext,
}

#[async_trait]
impl SinkWriter for Writer {
    async fn write(&mut self, batch: &Batch) -> Result<(), PluginError> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.plugin.catch_up() {
            self.instance = None;
            let p = self.plugin.plugin();
            tracing::info!(
                pipeline = %self.ctx.pipeline, component = %self.ctx.component, plugin = %p.name,
                path = %p.path.display(), hash = format_args!("{:016x}", p.hash),
                "plugin swapped in at a batch boundary"
            );
        }
        let sink = self.plugin.plugin().clone();
        let mut instance = match self.instance.take() {
            Some(i) => i,
            None => instantiate(sink.clone()).await?,
        };
        // The call needs the batch on its thread: one copy per column, as the crossing into
        // WebAssembly makes anyway.
        let columns = batch.columns().clone();
        let started = Instant::now();
        let call = sink.clone();
        let (instance, result) = tokio::task::spawn_blocking(move || {
            let result = call.write(&mut instance, &columns);
            (instance, result)
        })
        .await
        .map_err(|e| PluginError::new(format!("the sink call panicked: {e}")))?;
        let counters = &self.ctx.counters;
        Counters::add(&counters.call_ns, started.elapsed().as_nanos() as u64);
        match result {
            Ok(()) => {
                self.instance = Some(instance);
                Ok(())
            }
            Err(e @ CallError::Trap(_)) => {
                Counters::add(&counters.traps, 1);
                Err(PluginError::new(format!(
                    "{}: {e}; the instance is replaced",
                    sink.name
                )))
            }
            Err(e @ CallError::Refused(_)) => {
                self.instance = Some(instance);
                Err(PluginError::new(format!("{}: {e}", sink.name)))
            }
        }
    }
}
