//! The one loader of plugins, filters and sinks alike: read the file, compile it (or take it
//! from the compile cache), check it exports the contract of its world at this version, link
//! it once (`InstancePre`), then make instances with their limits and map every call's
//! outcome (value, the plugin's own error, trap or limit hit) the same way.
//!
//! Loading starts one instance and calls `init` on it, so a plugin that cannot start is
//! refused before anything runs; that instance is then dropped, so validating a config (at a
//! reload, every pipeline of it) never holds a second set of instances beside the running
//! ones. Users make their own instance when they start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::Component;
use wasmtime::{Engine, Store, Trap};

use super::allow::{AllowedHost, HttpGrant};
use super::guest_log::GuestLog;
use super::host::HostState;
use super::world::{self, World};
use super::{cache, engine};
use crate::config::{Limits, LimitsConfig};

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
    /// A bare name found nowhere on the plugin search path ([`super::locate`]).
    #[error("cannot read plugin {name}: {why}")]
    NotFound {
        /// The name as written.
        name: PathBuf,
        /// Where it was looked for.
        why: String,
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

/// What a plugin is loaded from: its file and what the pipeline's YAML says of it.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The component file (absolute, or relative to the working directory), or for a
    /// built-in plugin the name errors give it ([`super::locate::Located`]).
    pub path: PathBuf,
    /// The bytes of a built-in plugin, read instead of `path`.
    pub embedded: Option<&'static [u8]>,
    /// The YAML `config:` block as JSON, for `init`.
    pub config_json: String,
    /// `limits:` as written.
    pub limits: LimitsConfig,
    /// The hosts its outgoing HTTP may reach (sinks only; empty grants nothing).
    pub allow_hosts: Arc<[AllowedHost]>,
}

/// A loaded plugin of world `W` (a filter or a sink), ready to instantiate.
pub struct Plugin<W: World> {
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
    spec: PluginSpec,
    log: Arc<GuestLog>,
    engine: &'static Engine,
    pre: W::Pre,
}

/// A live instance of a plugin, kept across calls until it faults or its plugin is swapped.
pub struct Instance<W: World> {
    store: Store<HostState>,
    exports: W::Exports,
}

impl<W: World> Plugin<W> {
    /// Reads, compiles (or loads from the cache in `cache_dir`), links and checks the plugin
    /// of `spec`, then starts one instance and calls `init` on it, so a bad plugin or config
    /// is refused before anything runs.
    pub fn load(spec: PluginSpec, cache_dir: &Path) -> Result<Plugin<W>, WasmError> {
        let limits = spec
            .limits
            .resolve(W::DEFAULT_TIMEOUT)
            .map_err(WasmError::Limits)?;
        let path = spec.path.clone();
        let bytes = match spec.embedded {
            Some(bytes) => std::borrow::Cow::Borrowed(bytes),
            None => {
                std::borrow::Cow::Owned(std::fs::read(&path).map_err(|source| WasmError::Read {
                    path: path.clone(),
                    source,
                })?)
            }
        };
        let engine = engine::engine(limits.fuel.is_some());
        let (component, cached) =
            cache::load(cache_dir, engine, &bytes).map_err(|e| WasmError::Compile {
                path: path.clone(),
                message: one_line(&e),
            })?;
        let pre = link::<W>(engine, &component).map_err(|message| WasmError::WrongWorld {
            path: path.clone(),
            kind: W::KIND,
            message,
        })?;
        let name = plugin_name(&path);
        let plugin = Plugin {
            log: Arc::new(GuestLog::new(name.clone())),
            name,
            path,
            hash: xxhash_rust::xxh3::xxh3_64(&bytes),
            cached,
            limits,
            spec,
            engine,
            pre,
        };
        drop(plugin.instantiate()?);
        Ok(plugin)
    }

    /// Its file, watched for new versions; none for a plugin built into the binary.
    pub fn file(&self) -> Option<&Path> {
        self.spec.embedded.is_none().then_some(self.path.as_path())
    }

    /// This plugin's file loaded again with the same spec: the new version of a plugin
    /// swapped while running. Blocking (it compiles); errors leave `self` usable.
    pub fn reload(&self, cache_dir: &Path) -> Result<Plugin<W>, WasmError> {
        Plugin::load(self.spec.clone(), cache_dir)
    }

    /// A fresh instance with `init` already called.
    pub fn instantiate(&self) -> Result<Instance<W>, WasmError> {
        let err = |message: String| WasmError::Init {
            path: self.path.clone(),
            message,
        };
        let mut state = HostState::new(self.log.clone(), self.limits.memory);
        if !self.spec.allow_hosts.is_empty() {
            state = state.with_http(HttpGrant::new(
                self.name.clone(),
                self.spec.allow_hosts.clone(),
            ));
        }
        let mut store = Store::new(self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        self.arm(&mut store);
        let exports = W::instantiate(&self.pre, &mut store).map_err(|e| err(self.describe(&e)))?;
        self.arm(&mut store);
        let init = W::init(&exports, &mut store, &self.spec.config_json);
        let message = match self.outcome(&store, init) {
            Ok(()) => return Ok(Instance { store, exports }),
            Err(CallError::Refused(m)) => format!("init: {m}"),
            Err(CallError::Trap(m)) => format!("init trapped: {m}"),
        };
        Err(err(message))
    }

    /// Runs `call` on `instance` within the limits: the guest's value, its refusal, or a
    /// trap (a limit hit included) described in the terms of the limits. After a trap the
    /// instance must not be used again.
    pub fn call<R>(
        &self,
        instance: &mut Instance<W>,
        call: impl FnOnce(&W::Exports, &mut Store<HostState>) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<R, CallError> {
        self.arm(&mut instance.store);
        let result = call(&instance.exports, &mut instance.store);
        self.outcome(&instance.store, result)
    }

    /// Sets the time (and fuel) budget of the next call, and its deadline for blocking waits.
    fn arm(&self, store: &mut Store<HostState>) {
        store.set_epoch_deadline(engine::ticks(self.limits.timeout));
        // The epoch trap fires within one tick after the timeout: waits end there too, so a
        // guest woken by its deadline runs past it and traps, rather than sleeping again.
        store
            .data_mut()
            .set_deadline(Instant::now() + self.limits.timeout + engine::TICK);
        if let Some(fuel) = self.limits.fuel {
            store
                .set_fuel(fuel)
                .expect("fuel is enabled on the fuel engine");
        }
    }

    /// A guest call's result as the host sees it: a call whose clock wait was ended by its
    /// deadline timed out, even if it returned before the epoch trap could fire.
    fn outcome<T>(
        &self,
        store: &Store<HostState>,
        result: wasmtime::Result<Result<T, String>>,
    ) -> Result<T, CallError> {
        if result.is_ok() && store.data().wait_was_cut() {
            return Err(CallError::Trap(self.timed_out()));
        }
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(m)) => Err(CallError::Refused(m)),
            Err(e) => Err(CallError::Trap(self.describe(&e))),
        }
    }

    /// What a call that ran out of time is told.
    fn timed_out(&self) -> String {
        format!("timed out (limits.timeout {:?})", self.limits.timeout)
    }

    /// A trap or error in one line, naming time, fuel and memory limits plainly.
    fn describe(&self, e: &wasmtime::Error) -> String {
        let limits = &self.limits;
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => self.timed_out(),
            Some(Trap::OutOfFuel) => {
                format!("ran out of fuel (limits.fuel {})", limits.fuel.unwrap_or(0))
            }
            _ => {
                let root = e.root_cause().to_string();
                if root.contains("growing memory")
                    || root.contains("memory") && root.contains("limit")
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
}

/// Links the sandboxed WASI and what world `W` grants, and checks the component exports
/// `W`'s contract at this version.
fn link<W: World>(engine: &Engine, component: &Component) -> Result<W::Pre, String> {
    if let Some(why) = missing_export(engine, component, W::CONTRACT) {
        return Err(why);
    }
    let linker = world::linker::<W>(engine).map_err(|e| one_line(&e))?;
    let pre = linker.instantiate_pre(component).map_err(|e| {
        format!(
            "it needs something logcatch does not grant: {}",
            one_line(&e)
        )
    })?;
    W::pre(pre).map_err(|e| one_line(&e))
}

/// A plugin's name for logs and metrics: its file name without `.wasm`.
fn plugin_name(path: &Path) -> Arc<str> {
    path.file_stem()
        .map_or("plugin".into(), |s| s.to_string_lossy())
        .into()
}

/// Why `component` does not export `contract` (`logcatch:plugin/<iface>@<version>`), or
/// `None` when it does.
fn missing_export(engine: &Engine, component: &Component, contract: &str) -> Option<String> {
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

/// An error and its causes on one line.
fn one_line(e: &wasmtime::Error) -> String {
    format!("{e:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
