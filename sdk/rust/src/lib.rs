//! # logcatch-plugin: write logcatch filters in Rust
//!
//! A logcatch filter is a WebAssembly component that logcatch calls once per **batch** of
//! log events. It keeps the batch, keeps some of its events, or replaces it with new ones.
//! On the wire a batch is column-wise (one text arena plus arrays of numbers, see
//! `wit/logcatch.wit`); this crate turns it into typed events, so a filter never touches an
//! offset:
//!
//! - [`Batch`]: the events of one call; [`Batch::iter`] yields [`Event`]s with
//!   [`message`](Event::message), [`source`](Event::source), [`offset`](Event::offset),
//!   [`timestamp_ns`](Event::timestamp_ns), [`attr`](Event::attr) and
//!   [`attrs`](Event::attrs); attributes are [`AttrValue`]s (text, int, float, bool).
//! - [`Verdict`]: [`KeepAll`](Verdict::KeepAll), [`Verdict::keep_where`] (drop events),
//!   [`Verdict::replace`] (transform them).
//! - [`BatchBuilder`]: the new batch of a transform: copy events with
//!   [`push_event`](BatchBuilder::push_event), change their message, set attributes.
//! - [`Filter`] and [`export_filter!`]: your type, and the macro that makes it the
//!   component's `filter` export.
//! - [`log`] writes to logcatch's log; [`config`] parses the plugin's JSON config.
//! - Sinks (feature `sink`): `Sink` and `export_sink!` make a component that delivers
//!   batches out of logcatch; feature `http` adds `http::post`, outgoing HTTP to the hosts
//!   the pipeline grants (see `examples/rust-http-bulk-sink`).
//!
//! ## A complete filter
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "drop-health-checks"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! logcatch-plugin = { path = "../logcatch/sdk/rust" }
//! serde = { version = "1", features = ["derive"] }
//!
//! [profile.release]
//! opt-level = 3
//! lto = true
//! codegen-units = 1
//! strip = true
//! panic = "abort"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```
//! use logcatch_plugin::{AttrValue, Batch, Filter, Level, Verdict};
//!
//! /// Drops requests to health-check paths, and counts them.
//! struct DropHealthChecks {
//!     paths: Vec<String>,
//!     dropped: u64,
//! }
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     #[serde(default = "default_paths")]
//!     paths: Vec<String>,
//! }
//!
//! fn default_paths() -> Vec<String> {
//!     vec!["/healthz".into(), "/ready".into()]
//! }
//!
//! impl Filter for DropHealthChecks {
//!     fn init(config: &str) -> Result<Self, String> {
//!         let config: Config = logcatch_plugin::config(config)?;
//!         if config.paths.is_empty() {
//!             return Err("paths: give at least one path".into());
//!         }
//!         logcatch_plugin::log(Level::Info, &format!("dropping {:?}", config.paths));
//!         Ok(DropHealthChecks { paths: config.paths, dropped: 0 })
//!     }
//!
//!     fn process(&mut self, batch: &Batch) -> Result<Verdict, String> {
//!         let verdict = Verdict::keep_where(batch, |event| {
//!             // A parser earlier in the chain may have set `path`; else look at the line.
//!             let health = match event.attr("path") {
//!                 Some(AttrValue::Text(path)) => self.paths.iter().any(|p| p == path),
//!                 _ => self.paths.iter().any(|p| event.message().contains(p.as_str())),
//!             };
//!             !health
//!         });
//!         if let Verdict::Keep(kept) = &verdict {
//!             self.dropped += (batch.len() - kept.len()) as u64;
//!         }
//!         Ok(verdict)
//!     }
//! }
//!
//! logcatch_plugin::export_filter!(DropHealthChecks);
//!
//! // Unit tests run natively with `cargo test`:
//! # fn main() {
//! let mut filter = DropHealthChecks::init("{}").unwrap();
//! let batch = Batch::from_messages(["GET /healthz 200", "GET /cart 200"]);
//! let verdict = filter.process(&batch).unwrap();
//! assert_eq!(verdict, Verdict::Keep(vec![1]));
//! let out = verdict.apply(&batch);
//! assert_eq!(out.iter().map(|e| e.message()).collect::<Vec<_>>(), ["GET /cart 200"]);
//! # }
//! ```
//!
//! A transform builds a new batch. Copied events keep their source and offset, which is
//! how logcatch acknowledges and deduplicates them:
//!
//! ```
//! use logcatch_plugin::{Batch, BatchBuilder, Verdict};
//!
//! fn tag_errors(batch: &Batch) -> Verdict {
//!     let mut out = BatchBuilder::sized_for(batch);
//!     for event in batch {
//!         out.push_event(&event);
//!         if event.message().contains("ERROR") {
//!             out.attr("alert", true).attr("team", "oncall");
//!         }
//!     }
//!     Verdict::replace(out)
//! }
//! # let input = Batch::from_messages(["ok", "ERROR no"]);
//! # let out = tag_errors(&input).apply(&input);
//! # assert_eq!(out.get(1).unwrap().attr("alert"), Some(logcatch_plugin::AttrValue::Bool(true)));
//! ```
//!
//! ## Build
//!
//! ```sh
//! rustup target add wasm32-wasip2          # once
//! RUSTFLAGS="-C target-feature=+simd128" cargo build --release --target wasm32-wasip2
//! # → target/wasm32-wasip2/release/drop_health_checks.wasm, a component
//! ```
//!
//! The Rust toolchain links `wasm32-wasip2` cdylibs into components itself: no
//! `cargo-component`, no `wasm-tools`. `+simd128` roughly doubles the speed of byte
//! searches (memchr, regex) and every engine logcatch uses supports it. Try the result:
//!
//! ```sh
//! printf 'GET /healthz 200\nGET /cart 200\n' | logcatch filter target/wasm32-wasip2/release/drop_health_checks.wasm --config '{"paths": ["/healthz"]}'
//! ```
//!
//! and use it in a pipeline (paths are relative to the config file):
//!
//! ```yaml
//! filters:
//!   - wasm: plugins/drop_health_checks.wasm
//!     config: { paths: [/healthz, /ready] }
//!     limits: { memory: 64MiB, timeout: 1s }
//! ```
//!
//! ## What logcatch guarantees, and expects
//!
//! - **`init` once per instance**, before any batch, with the pipeline's `config:` block
//!   as JSON (`{}` when there is none). An error refuses the plugin with your message
//!   (`logcatch validate` shows it). One instance serves many batches, so state kept in
//!   your type lives on; but logcatch may create a fresh instance at any time (after a
//!   fault, on a `.wasm` swap) and calls `init` again with the same config, so keep
//!   `init` deterministic and never rely on one instance seeing every event.
//! - **`process` once per batch**, never concurrently on one instance. A batch holds up to
//!   the pipeline's `batch.max_events` events (1024 by default), in source order, possibly
//!   from several sources. Messages are valid UTF-8 without their newline.
//! - **Errors and traps fail the batch, not logcatch.** An `Err` from `process`, a panic
//!   (with `panic = "abort"` it is a trap) or a limit hit fails that batch only: logcatch
//!   retries it on a fresh instance, then splits it to find the events that fail and
//!   dead-letters them (or passes or drops them, per the pipeline's `on_error`).
//! - **Limits per instance** (`limits:` in YAML): linear memory (default 128 MiB), wall
//!   time per call (default 1 s), optional fuel (off by default: it slows plugins).
//! - **No ambient authority**: no files, no environment, no network. Standard output and
//!   error are captured into logcatch's log; prefer [`log`].
//! - **Verdicts**: `Keep` indices must be ascending and in range; a replaced batch is
//!   checked (UTF-8, spans, dictionaries) before logcatch accepts it. `BatchBuilder` always
//!   produces a valid one.
//! - **Contract version**: this SDK speaks `logcatch:plugin@0.1.0`; logcatch refuses a
//!   component built against another version with a message saying so.
//!
//! ## Speed
//!
//! The call into WebAssembly is paid once per batch, so per-event code is what matters:
//! prefer [`Verdict::keep_where`] (nothing crosses back but indices) over rebuilding a
//! batch; in a transform, [`BatchBuilder::push_event`] events you leave unchanged, or
//! return [`Verdict::KeepAll`] if none changed; look a hot attribute key up once per batch
//! with [`Batch::attr_key`] and read it with [`Event::attr_by`]; avoid allocating per
//! event (reuse buffers kept in your filter).
//!
//! ## Testing
//!
//! Everything except the export runs natively, so `cargo test` (on your machine's target)
//! tests a filter's logic: make input with [`Batch::from_messages`] or a [`BatchBuilder`]
//! ([`build`](BatchBuilder::build) turns it into a `Batch`), call your filter's
//! `init`/`process`, and read the outcome with [`Verdict::apply`]. [`log`] prints to
//! stderr there. Then try the built `.wasm` with `logcatch filter`.

#![warn(missing_docs)]
// `logcatch plugin new` vendors these sources into filter projects with a Cargo.toml that
// declares only the `json` feature; the `sink` and `http` gates stay off there, silently.
#![allow(unexpected_cfgs)]

extern crate self as logcatch_plugin;

mod batch;
mod builder;
mod host;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "sink")]
mod sink;
#[cfg(test)]
mod tests;
mod verdict;

pub use batch::{AttrKey, AttrValue, Batch, Event, Events};
pub use builder::{BatchBuilder, MessageWriter};
#[cfg(feature = "json")]
pub use host::config;
pub use host::{Level, log};
#[cfg(feature = "sink")]
pub use sink::Sink;
pub use verdict::Verdict;

/// The raw bindings that `wit-bindgen` generates for the `filter-plugin` world of
/// `wit/logcatch.wit`: the wire types, for the rare plugin that needs them.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "filter-plugin",
        pub_export_macro: true,
        default_bindings_module: "logcatch_plugin::bindings",
        runtime_path: "logcatch_plugin::__private::wit_bindgen::rt",
    });
}

/// The raw bindings of the `sink-plugin` world (`wit/sink.wit`), sharing the wire types
/// with [`bindings`] (feature `sink`).
#[cfg(feature = "sink")]
#[allow(missing_docs)]
pub mod sink_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "sink-plugin",
        pub_export_macro: true,
        default_bindings_module: "logcatch_plugin::sink_bindings",
        runtime_path: "logcatch_plugin::__private::wit_bindgen::rt",
        with: {
            "logcatch:plugin/types@0.1.0": crate::bindings::logcatch::plugin::types,
            "logcatch:plugin/host@0.1.0": crate::bindings::logcatch::plugin::host,
        },
    });
}

/// A filter plugin: build it from its config, then decide each batch.
///
/// Make it the component's export with [`export_filter!`].
pub trait Filter: Sized {
    /// Builds the filter from the pipeline's `config:` block, as JSON (`{}` when absent);
    /// an error refuses the plugin with that message.
    fn init(config: &str) -> Result<Self, String>;

    /// Decides one batch. An error fails this batch only: logcatch retries it, then
    /// dead-letters the events that keep failing.
    fn process(&mut self, batch: &Batch) -> Result<Verdict, String>;
}

/// Makes a [`Filter`] type the component's `logcatch:plugin/filter` export.
///
/// Use it once, at the top level of a `cdylib` crate: `logcatch_plugin::export_filter!(MyFilter);`.
/// `init` builds the one instance of `MyFilter` that later `process` calls use; `process`
/// before `init` returns an error.
#[macro_export]
macro_rules! export_filter {
    ($ty:ty) => {
        const _: () = {
            ::std::thread_local! {
                static __LOGCATCH_FILTER: ::core::cell::RefCell<::core::option::Option<$ty>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            struct __LogcatchFilterExport;

            impl $crate::bindings::exports::logcatch::plugin::filter::Guest for __LogcatchFilterExport {
                fn init(config: ::std::string::String) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::init::<$ty>(&__LOGCATCH_FILTER, &config)
                }

                fn process(
                    batch: $crate::bindings::logcatch::plugin::types::EventBatch,
                ) -> ::core::result::Result<
                    $crate::bindings::logcatch::plugin::types::Verdict,
                    ::std::string::String,
                > {
                    $crate::__private::process::<$ty>(&__LOGCATCH_FILTER, batch)
                }
            }

            $crate::bindings::export!(__LogcatchFilterExport with_types_in $crate::bindings);
        };
    };
}

/// Support for [`export_filter!`] and `export_sink!`; not a public API.
#[doc(hidden)]
pub mod __private {
    use std::cell::RefCell;
    use std::thread::LocalKey;

    use crate::bindings::logcatch::plugin::types::{EventBatch, Verdict as WireVerdict};
    use crate::{Batch, Filter};

    pub use wit_bindgen;

    /// The instance slot [`export_filter!`] keeps.
    pub type Slot<F> = LocalKey<RefCell<Option<F>>>;

    /// `init`: builds the instance (dropping any earlier one first).
    pub fn init<F: Filter>(slot: &'static Slot<F>, config: &str) -> Result<(), String> {
        slot.with(|s| *s.borrow_mut() = None);
        let filter = F::init(config)?;
        slot.with(|s| *s.borrow_mut() = Some(filter));
        Ok(())
    }

    /// `process`: reads the batch, runs the instance, encodes its verdict.
    pub fn process<F: Filter>(
        slot: &'static Slot<F>,
        batch: EventBatch,
    ) -> Result<WireVerdict, String> {
        let batch = Batch::from_wire(batch)?;
        slot.with(|s| {
            let mut s = s.borrow_mut();
            let filter = s
                .as_mut()
                .ok_or_else(|| "process called before init".to_owned())?;
            filter.process(&batch).map(|v| v.into_wire())
        })
    }

    /// `init` of a sink: builds the instance (dropping any earlier one first).
    #[cfg(feature = "sink")]
    pub fn sink_init<S: crate::Sink>(slot: &'static Slot<S>, config: &str) -> Result<(), String> {
        slot.with(|s| *s.borrow_mut() = None);
        let sink = S::init(config)?;
        slot.with(|s| *s.borrow_mut() = Some(sink));
        Ok(())
    }

    /// `write` of a sink: reads the batch and hands it to the instance.
    #[cfg(feature = "sink")]
    pub fn sink_write<S: crate::Sink>(
        slot: &'static Slot<S>,
        batch: EventBatch,
    ) -> Result<(), String> {
        let batch = Batch::from_wire(batch)?;
        slot.with(|s| {
            let mut s = s.borrow_mut();
            let sink = s
                .as_mut()
                .ok_or_else(|| "write called before init".to_owned())?;
            sink.write(&batch)
        })
    }
}
