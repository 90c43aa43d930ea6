//! A filter plugin: compiled and linked once per plugin version (`InstancePre`), with
//! instances that live across batches and are re-created only after a fault.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

use super::bindings::{FilterPlugin, FilterPluginPre};
use super::host::HostState;
use super::wire::{EventBatch, Verdict};
use super::{CONTRACT, cache, engine};
use crate::config::units;

/// Resource limits of one plugin instance (`limits:` in YAML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Most linear memory the instance may grow to.
    #[serde(default = "default_memory", deserialize_with = "units::bytes")]
    pub memory: u64,
    /// Longest wall time one call (one batch) may take.
    #[serde(default = "default_timeout", deserialize_with = "units::duration")]
    pub timeout: Duration,
    /// Optional fuel (instructions, roughly) per call; costs speed, so off by default.
    #[serde(default)]
    pub fuel: Option<u64>,
}

fn default_memory() -> u64 {
    128 << 20
}
fn default_timeout() -> Duration {
    Duration::from_secs(1)
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: default_memory(),
            timeout: default_timeout(),
            fuel: None,
        }
    }
}

/// Why a plugin cannot be loaded; each names the plugin file.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// The file cannot be read.
    #[error("cannot read plugin {path}: {source}")]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a WebAssembly component, or does not compile.
    #[error("{path} is not a usable WebAssembly component: {message}")]
    Compile {
        /// The plugin file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// The component does not fit the world it is used as (`filter-plugin` or `sink-plugin`).
    #[error("{path} is not a logcatch {kind}: {message}")]
    WrongWorld {
        /// The plugin file.
        path: PathBuf,
        /// What it was to be: `filter` or `sink`.
        kind: &'static str,
        /// The cause.
        message: String,
    },
    /// Instantiation or `init` failed.
    #[error("plugin {path} refused to start: {message}")]
    Init {
        /// The plugin file.
        path: PathBuf,
        /// The cause (the plugin's own `init` error, or a trap).
        message: String,
    },
    /// A limit is out of range.
    #[error("{0}")]
    Limits(String),
}

/// A loaded filter plugin, ready to instantiate.
pub struct WasmFilter {
    /// Name for logs and metrics: the file name without `.wasm`.
    pub name: Arc<str>,
    /// The plugin file.
    pub path: PathBuf,
    /// Hash of the file's bytes (its identity across reloads).
    pub hash: u64,
    /// Whether the compiled code came from the on-disk cache.
    pub cached: bool,
    /// The limits of each instance.
    pub limits: Limits,
    config_json: String,
    engine: &'static Engine,
    pre: FilterPluginPre<HostState>,
}

/// A live instance of a filter, kept across batches.
pub struct Instance {
    store: Store<HostState>,
    plugin: FilterPlugin,
}

/// How one call went wrong.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The guest trapped or hit a limit: the instance is unusable.
    Trap(String),
    /// The guest returned an error for this batch.
    Refused(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Trap(m) => write!(f, "trap: {m}"),
            CallError::Refused(m) => write!(f, "plugin error: {m}"),
        }
    }
}

impl WasmFilter {
    /// Reads, compiles (or loads from the cache in `cache_dir`), links and checks the plugin
    /// at `path`, then starts one instance and calls `init(config_json)` on it, so a bad
    /// plugin or config is refused before anything runs. Returns that first instance too.
    pub fn load(
        path: &Path,
        config_json: String,
        limits: Limits,
        cache_dir: &Path,
    ) -> Result<(WasmFilter, Instance), WasmError> {
        let (bytes, engine, component, cached) = compile(path, &limits, cache_dir)?;
        let pre = link(engine, &component).map_err(|message| WasmError::WrongWorld {
            path: path.to_owned(),
            kind: "filter",
            message,
        })?;
        let filter = WasmFilter {
            name: plugin_name(path),
            path: path.to_owned(),
            hash: xxhash_rust::xxh3::xxh3_64(&bytes),
            cached,
            limits,
            config_json,
            engine,
            pre,
        };
        let first = filter.instantiate()?;
        Ok((filter, first))
    }

    /// This plugin's file loaded again, with the same config and limits: the new version of a
    /// plugin swapped while running. Compiles off the hot path; errors leave `self` usable.
    pub fn reload(&self, cache_dir: &Path) -> Result<(WasmFilter, Instance), WasmError> {
        WasmFilter::load(&self.path, self.config_json.clone(), self.limits, cache_dir)
    }

    /// A fresh instance with `init` already called.
    pub fn instantiate(&self) -> Result<Instance, WasmError> {
        let err = |message: String| WasmError::Init {
            path: self.path.clone(),
            message,
        };
        let state = HostState::new(self.name.clone(), self.limits.memory);
        let mut store = new_store(self.engine, state, &self.limits);
        let plugin = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| err(describe(&e, &self.limits)))?;
        arm(&mut store, &self.limits);
        let init = plugin
            .logcatch_plugin_filter()
            .call_init(&mut store, &self.config_json);
        init_outcome(init, &self.limits, &self.path)?;
        Ok(Instance { store, plugin })
    }

    /// Runs `process` on `batch` in `instance`, within the limits.
    pub fn process(
        &self,
        instance: &mut Instance,
        batch: &EventBatch,
    ) -> Result<Verdict, CallError> {
        arm(&mut instance.store, &self.limits);
        let result = instance
            .plugin
            .logcatch_plugin_filter()
            .call_process(&mut instance.store, batch);
        call_outcome(result, &self.limits)
    }
}

/// A store for one plugin instance: its memory limiter, traps at the epoch deadline, and
/// the budget of its first call (instantiation).
pub(super) fn new_store(engine: &Engine, state: HostState, limits: &Limits) -> Store<HostState> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    store.epoch_deadline_trap();
    arm(&mut store, limits);
    store
}

/// Sets the time (and fuel) budget for the next call.
pub(super) fn arm(store: &mut Store<HostState>, limits: &Limits) {
    store.set_epoch_deadline(engine::ticks(limits.timeout));
    if let Some(fuel) = limits.fuel {
        store
            .set_fuel(fuel)
            .expect("fuel is enabled on the fuel engine");
    }
}

/// An `init` call's result as a load error of the plugin at `path`: refused or trapped.
pub(super) fn init_outcome(
    result: wasmtime::Result<Result<(), String>>,
    limits: &Limits,
    path: &Path,
) -> Result<(), WasmError> {
    let message = match call_outcome(result, limits) {
        Ok(()) => return Ok(()),
        Err(CallError::Refused(m)) => format!("init: {m}"),
        Err(CallError::Trap(m)) => format!("init trapped: {m}"),
    };
    Err(WasmError::Init {
        path: path.to_owned(),
        message,
    })
}

/// A guest call's result as the host sees it: the guest's value, its refusal, or a trap
/// (a limit hit included) described in the terms of `limits`.
pub(super) fn call_outcome<T>(
    result: wasmtime::Result<Result<T, String>>,
    limits: &Limits,
) -> Result<T, CallError> {
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(m)) => Err(CallError::Refused(m)),
        Err(e) => Err(CallError::Trap(describe(&e, limits))),
    }
}

/// Checks `limits`, reads the plugin at `path` and compiles it (or loads it from the cache
/// in `cache_dir`) on the engine the limits call for.
pub(super) fn compile(
    path: &Path,
    limits: &Limits,
    cache_dir: &Path,
) -> Result<(Vec<u8>, &'static Engine, Component, bool), WasmError> {
    if limits.memory > engine::MAX_MEMORY || limits.memory < (1 << 16) {
        return Err(WasmError::Limits(format!(
            "limits.memory must be between 64KiB and {}GiB",
            engine::MAX_MEMORY >> 30
        )));
    }
    if limits.timeout.is_zero() {
        return Err(WasmError::Limits(
            "limits.timeout must be more than zero".into(),
        ));
    }
    let bytes = std::fs::read(path).map_err(|source| WasmError::Read {
        path: path.to_owned(),
        source,
    })?;
    let engine = engine::engine(limits.fuel.is_some());
    let (component, cached) =
        cache::load(cache_dir, engine, &bytes).map_err(|e| WasmError::Compile {
            path: path.to_owned(),
            message: one_line(&e),
        })?;
    Ok((bytes, engine, component, cached))
}

/// A plugin's name for logs and metrics: its file name without `.wasm`.
pub(super) fn plugin_name(path: &Path) -> Arc<str> {
    path.file_stem()
        .map_or("plugin".into(), |s| s.to_string_lossy())
        .into()
}

/// Why `component` does not export `contract` (`logcatch:plugin/<iface>@<version>`), or
/// `None` when it does.
pub(super) fn missing_export(
    engine: &Engine,
    component: &Component,
    contract: &str,
) -> Option<String> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(n, _)| n.to_owned())
        .collect();
    if exports.iter().any(|e| e == contract) {
        return None;
    }
    let unversioned = contract.split('@').next().unwrap_or(contract);
    Some(
        match exports
            .iter()
            .find(|e| e.starts_with(&format!("{unversioned}@")))
        {
            Some(other) => format!(
                "it exports `{other}`, built against another contract version; this logcatch speaks `{contract}`: rebuild it with the current SDK"
            ),
            None => format!(
                "it does not export `{contract}` (exports: {})",
                if exports.is_empty() {
                    "none".into()
                } else {
                    exports.join(", ")
                }
            ),
        },
    )
}

/// Links WASI (sandboxed) and the host import, and checks the component exports this
/// logcatch's filter contract.
fn link(engine: &Engine, component: &Component) -> Result<FilterPluginPre<HostState>, String> {
    if let Some(why) = missing_export(engine, component, CONTRACT) {
        return Err(why);
    }
    let mut linker: Linker<HostState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| one_line(&e))?;
    FilterPlugin::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
        &mut linker,
        |s| s,
    )
    .map_err(|e| one_line(&e))?;
    let pre = linker.instantiate_pre(component).map_err(|e| {
        format!(
            "it needs something logcatch does not grant: {}",
            one_line(&e)
        )
    })?;
    FilterPluginPre::new(pre).map_err(|e| one_line(&e))
}

/// A trap or error in one line, naming time and fuel limits plainly.
pub(super) fn describe(e: &wasmtime::Error, limits: &Limits) -> String {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!("timed out (limits.timeout {:?})", limits.timeout),
        Some(Trap::OutOfFuel) => {
            format!("ran out of fuel (limits.fuel {})", limits.fuel.unwrap_or(0))
        }
        _ => {
            let root = e.root_cause().to_string();
            if root.contains("growing memory") || root.contains("memory") && root.contains("limit")
            {
                format!(
                    "memory limit exceeded (limits.memory {} bytes): {root}",
                    limits.memory
                )
            } else {
                root
            }
        }
    }
}

/// An error and its causes on one line.
pub(super) fn one_line(e: &wasmtime::Error) -> String {
    format!("{e:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
