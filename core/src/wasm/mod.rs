//! WebAssembly filter and sink plugins: the wasmtime host.
//!
//! - [`engine`]: one `Engine` per process (component model, pooling allocator, epoch
//!   interruption; a second, fuel-metering engine only if a plugin asks for fuel), and the
//!   ticker thread that drives time limits.
//! - [`cache`]: compiled components on disk under `data_dir`, keyed by the file's hash and the
//!   engine's compatibility hash, so a restart does not recompile.
//! - [`host`]: what a plugin's store holds: WASI with no ambient authority, the memory
//!   limiter, and the `host.log` import; guest stdout/stderr go to `tracing`.
//! - [`filter`]: a loaded plugin (compiled once, `InstancePre`) and its live instances.
//! - [`chain`]: a pipeline's filters in order, with the fault policy (retry on a fresh
//!   instance, split to isolate poison events, dead letters).
//! - [`sink`]: a sink plugin (`sinks: [{ wasm: ... }]`): one instance kept across batches,
//!   called off the reactor; a failed write is retried by the pipeline, never dropped.
//! - [`allow`]: wasi:http for sinks, only to the hosts a pipeline grants (`allow_hosts`).

pub mod allow;
pub mod cache;
pub mod chain;
pub mod engine;
pub mod filter;
pub mod host;
pub mod sink;

/// Bindings generated from `wit/logcatch.wit`, world `filter-plugin` (documented there).
#[allow(missing_docs)]
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "filter-plugin",
    });
}

/// Bindings of world `sink-plugin` (`wit/sink.wit`), sharing the types and the host import
/// with [`bindings`].
#[allow(missing_docs)]
pub(crate) mod sink_bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "sink-plugin",
        with: {
            "logcatch:plugin/types": super::bindings::logcatch::plugin::types,
            "logcatch:plugin/host": super::bindings::logcatch::plugin::host,
        },
    });
}

/// The types that cross the WebAssembly boundary, as generated from `wit/`.
pub mod wire {
    pub use super::bindings::logcatch::plugin::types::{EventBatch, Level, Verdict};
}

/// The WIT package version this host speaks; components built for another are refused.
pub const CONTRACT: &str = "logcatch:plugin/filter@0.1.0";

/// The sink interface of the same contract version.
pub const SINK_CONTRACT: &str = "logcatch:plugin/sink@0.1.0";

pub use chain::{FilterChain, OnError};
pub use filter::{Limits, WasmError, WasmFilter};
pub use sink::{SinkLimits, WasmSink, WasmSinkPlugin};
