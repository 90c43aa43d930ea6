//! WebAssembly filter plugins: the wasmtime host.
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

pub mod cache;
pub mod chain;
pub mod engine;
pub mod filter;
pub mod host;

/// Bindings generated from `wit/logcatch.wit`, world `filter-plugin` (documented there).
#[allow(missing_docs)]
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "filter-plugin",
    });
}

/// The types that cross the WebAssembly boundary, as generated from `wit/`.
pub mod wire {
    pub use super::bindings::logcatch::plugin::types::{EventBatch, Level, Verdict};
}

/// The WIT package version this host speaks; components built for another are refused.
pub const CONTRACT: &str = "logcatch:plugin/filter@0.1.0";

pub use chain::{FilterChain, OnError};
pub use filter::{Limits, WasmError, WasmFilter};
