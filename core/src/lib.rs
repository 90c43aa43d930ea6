//! logcatch's engine: column-wise event batches, the YAML config, pipelines with bounded
//! channels, supervision with restarts, acknowledgements and checkpoints, and the
//! WebAssembly host that runs filter plugins.
//!
//! Plugins (sources and sinks) live in `logcatch-plugins` and reach the engine only through
//! the [`plugin`] traits and the [`registry`].

#![warn(missing_docs)]

pub mod ack;
pub(crate) mod api;
pub mod backoff;
pub mod batch;
pub mod checkpoint;
pub(crate) mod component_id;
pub mod config;
pub mod daemon;
pub(crate) mod data_dir;
pub(crate) mod dead_letter;
pub mod encode;
pub mod fd_limit;
pub mod health;
pub mod log_limit;
pub mod metrics;
pub(crate) mod pipeline;
pub mod plugin;
pub mod registry;
pub mod reload;
pub mod remote;
pub mod service_notify;
pub(crate) mod status;
pub(crate) mod supervisor;
pub mod tap;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timestamp;
pub mod wasm;
pub(crate) mod watch;

pub use batch::{AttrValue, Batch, BatchBuilder, EventRef};
pub use component_id::{ComponentId, Role};
