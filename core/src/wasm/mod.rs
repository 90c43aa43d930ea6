//! WebAssembly filter and sink plugins: the wasmtime host, one for both kinds.
//!
//! - `engine`: one `Engine` per process (component model, on-demand instances, epoch
//!   interruption; a second, fuel-metering engine only if a plugin asks for fuel), and the
//!   ticker thread that drives time limits.
//! - `cache`: compiled components on disk under `data_dir`, keyed by the file's hash and the
//!   engine's compatibility hash, so a restart does not recompile.
//! - `world`: the two kinds of plugin (`filter-plugin`, `sink-plugin`): what each exports
//!   and may import.
//! - `plugin`: the one loader (compile, check the contract, link, instantiate with
//!   `limits`, map call outcomes), for both kinds.
//! - `host`: what a plugin's store holds: WASI with no ambient authority, the memory
//!   limiter, the call's deadline, and the `host.log` import; with `clock` (waits end at
//!   the deadline) and `guest_log` (what a plugin logs, rate-limited).
//! - `chain`: a pipeline's filters in order (each following its plugin's
//!   [`crate::reload::swap::Slot`] for hot-swapped versions), with the fault policy (retry on a fresh
//!   instance, then `isolate`: bounded outputs and the search for poison events).
//! - `sink`: a sink plugin: one instance per writer, called off the reactor; a failed
//!   write is retried by the pipeline, never dropped.
//! - `locate`: finds the component a `wasm:` names (a path, or a bare name on the plugin
//!   search path, or one built into the binary).
//! - `allow`: wasi:http for sinks, only to the hosts a pipeline grants (`allow_hosts`).

pub(crate) mod allow;
pub(crate) mod cache;
pub(crate) mod chain;
pub(crate) mod clock;
pub(crate) mod engine;
pub(crate) mod guest_log;
pub(crate) mod host;
pub(crate) mod isolate;
pub mod locate;
pub(crate) mod plugin;
pub(crate) mod sink;
pub(crate) mod world;

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

/// The WIT package and version of the plugin contract (`wit/`), both interfaces.
pub const CONTRACT_PACKAGE: &str = "logcatch:plugin@0.1.0";

/// The WIT package version this host speaks; components built for another are refused.
pub const CONTRACT: &str = "logcatch:plugin/filter@0.1.0";

/// The sink interface of the same contract version.
pub const SINK_CONTRACT: &str = "logcatch:plugin/sink@0.1.0";

pub use chain::{FilterChain, ISOLATION_TIMEOUTS, WasmFilter};
pub use plugin::{PluginSpec, WasmError};
pub use sink::{WasmSink, WasmSinkPlugin};
pub use world::{FilterWorld, SinkWorld};
