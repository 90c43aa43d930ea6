//! A sink plugin (`sinks: [{ wasm: PATH }]`): compiled and linked once per plugin version
//! (`InstancePre`, on the shared engine, through the compile cache), with one instance kept
//! across batches and called on a blocking thread, never on the reactor.
//!
//! Faults follow the sink contract of the pipeline: a write that fails (the plugin's `Err`,
//! a trap, a limit hit) is an error for the pipeline, which keeps the batch, backs off and
//! retries it with a reopened writer, that is a fresh instance (`init` again), holding its
//! sources meanwhile. Nothing is acknowledged until `write` returns `Ok`, nothing dropped.
//!
//! A new version of the plugin file is swapped in like a filter's, at a batch boundary: the
//! daemon loads it off the reactor and hands it to [`WasmSinkPlugin::swap`]; each writer
//! switches to it before its next `write`, and writers opened later start on it. The
//! pipeline is not rebuilt, its sources keep running.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use wasmtime::component::Linker;
use wasmtime::{Engine, Store};

use super::SINK_CONTRACT;
use super::allow::{AllowedHost, HttpGrant};
use super::filter::{
    CallError, Limits, WasmError, arm, call_outcome, compile, describe, init_outcome,
    missing_export, new_store, one_line,
};
use super::host::HostState;
use super::sink_bindings::{SinkPlugin, SinkPluginPre};
use super::wire::EventBatch;
use crate::batch::Batch;
use crate::config::units;
use crate::metrics::Counters;
use crate::plugin::{PluginError, Sink, SinkContext, SinkWriter};

/// Resource limits of one sink instance (`limits:` in YAML). As a filter's, but a call
/// includes the plugin's network round trips, so the time limit defaults to 30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkLimits {
    /// Most linear memory the instance may grow to.
    #[serde(default = "default_memory", deserialize_with = "units::bytes")]
    pub memory: u64,
    /// Longest wall time one `write` may take; also each HTTP request's connect and read
    /// timeout.
    #[serde(default = "default_timeout", deserialize_with = "units::duration")]
    pub timeout: Duration,
    /// Optional fuel per call; costs speed, so off by default.
    #[serde(default)]
    pub fuel: Option<u64>,
}

fn default_memory() -> u64 {
    Limits::default().memory
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Default for SinkLimits {
    fn default() -> Self {
        SinkLimits {
            memory: default_memory(),
            timeout: default_timeout(),
            fuel: None,
        }
    }
}

impl From<SinkLimits> for Limits {
    fn from(l: SinkLimits) -> Limits {
        Limits {
            memory: l.memory,
            timeout: l.timeout,
            fuel: l.fuel,
        }
    }
}

/// A loaded sink plugin, ready to instantiate.
pub struct WasmSink {
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
    allow_hosts: Arc<[AllowedHost]>,
    config_json: String,
    engine: &'static Engine,
    pre: SinkPluginPre<HostState>,
}

/// A live instance of a sink, kept across batches.
pub struct SinkInstance {
    store: Store<HostState>,
    plugin: SinkPlugin,
}

impl WasmSink {
    /// Reads, compiles (or loads from the cache in `cache_dir`), links and checks the plugin
    /// at `path`, then starts one instance and calls `init(config_json)` on it, so a bad
    /// plugin or config is refused before anything runs. Returns that first instance too.
    /// Its outgoing HTTP may reach `allow_hosts` only.
    pub fn load(
        path: &Path,
        config_json: String,
        limits: Limits,
        allow_hosts: Arc<[AllowedHost]>,
        cache_dir: &Path,
    ) -> Result<(WasmSink, SinkInstance), WasmError> {
        let (bytes, engine, component, cached) = compile(path, &limits, cache_dir)?;
        let pre = link(engine, &component).map_err(|message| WasmError::WrongWorld {
            path: path.to_owned(),
            kind: "sink",
            message,
        })?;
        let sink = WasmSink {
            name: super::filter::plugin_name(path),
            path: path.to_owned(),
            hash: xxhash_rust::xxh3::xxh3_64(&bytes),
            cached,
            limits,
            allow_hosts,
            config_json,
            engine,
            pre,
        };
        let first = sink.instantiate()?;
        Ok((sink, first))
    }

    /// This plugin's file loaded again, with the same config, limits and grant.
    pub fn reload(&self, cache_dir: &Path) -> Result<(WasmSink, SinkInstance), WasmError> {
        WasmSink::load(
            &self.path,
            self.config_json.clone(),
            self.limits,
            self.allow_hosts.clone(),
            cache_dir,
        )
    }

    /// A fresh instance with `init` already called.
    pub fn instantiate(&self) -> Result<SinkInstance, WasmError> {
        let err = |message: String| WasmError::Init {
            path: self.path.clone(),
            message,
        };
        let grant = HttpGrant::new(
            self.name.clone(),
            self.allow_hosts.clone(),
            self.limits.timeout,
        );
        let state = HostState::new(self.name.clone(), self.limits.memory).with_http(grant);
        let mut store = new_store(self.engine, state, &self.limits);
        let plugin = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| err(describe(&e, &self.limits)))?;
        arm(&mut store, &self.limits);
        let init = plugin
            .logcatch_plugin_sink()
            .call_init(&mut store, &self.config_json);
        init_outcome(init, &self.limits, &self.path)?;
        Ok(SinkInstance { store, plugin })
    }

    /// Runs `write` on `batch` in `instance`, within the limits. Blocking: call it off the
    /// reactor.
    pub fn write(&self, instance: &mut SinkInstance, batch: &EventBatch) -> Result<(), CallError> {
        arm(&mut instance.store, &self.limits);
        let result = instance
            .plugin
            .logcatch_plugin_sink()
            .call_write(&mut instance.store, batch);
        call_outcome(result, &self.limits)
    }
}

/// Links WASI (sandboxed), wasi:http (hooked by the grant) and the host import, and checks
/// the component exports this logcatch's sink contract.
fn link(
    engine: &Engine,
    component: &wasmtime::component::Component,
) -> Result<SinkPluginPre<HostState>, String> {
    if let Some(why) = missing_export(engine, component, SINK_CONTRACT) {
        return Err(why);
    }
    let mut linker: Linker<HostState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| one_line(&e))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker).map_err(|e| one_line(&e))?;
    SinkPlugin::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
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
    SinkPluginPre::new(pre).map_err(|e| one_line(&e))
}

/// A sink plugin as the pipeline runs it: each `open` makes a writer with an instance of
/// its own (the one validation started, the first time). A new version handed over by
/// [`WasmSinkPlugin::swap`] replaces the running one at a batch boundary: every writer
/// switches before its next `write`, and every writer opened later starts on it.
pub struct WasmSinkPlugin {
    versions: Arc<Versions>,
}

/// The version of a sink that writers use, shared by the plugin and its writers.
struct Versions {
    current: Mutex<Current>,
    /// `current.generation`, readable without the lock: a writer's one check per batch.
    generation: AtomicU64,
    /// The newest generation logged as swapped in (each swap is logged once).
    announced: AtomicU64,
}

/// The newest version of a sink, and the instance started with it that no writer took yet.
struct Current {
    sink: Arc<WasmSink>,
    generation: u64,
    fresh: Option<SinkInstance>,
}

/// The version a writer takes: the plugin, an instance if one is ready, and its generation.
type Version = (Arc<WasmSink>, Option<SinkInstance>, u64);

impl Versions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        // Holders only replace whole fields, so a panicked holder leaves a usable value.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current version, taking its ready instance if no writer took it yet.
    fn take(&self) -> Version {
        let mut c = self.lock();
        (c.sink.clone(), c.fresh.take(), c.generation)
    }

    /// Whether `generation` is older than the current version.
    fn outdated(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Acquire) != generation
    }

    /// Logs, once per swap, that `sink` (generation `generation`) took over sink
    /// `ctx.component` at a batch boundary.
    fn announce(&self, ctx: &SinkContext, sink: &WasmSink, generation: u64) {
        if generation > 0 && self.announced.fetch_max(generation, Ordering::AcqRel) < generation {
            tracing::info!(
                pipeline = %ctx.pipeline, component = %ctx.component, plugin = %sink.name,
                path = %sink.path.display(), hash = format_args!("{:016x}", sink.hash),
                "plugin swapped in at a batch boundary"
            );
        }
    }
}

impl WasmSinkPlugin {
    /// Wraps a loaded sink and (optionally) the instance validation started.
    pub fn new(sink: WasmSink, first: Option<SinkInstance>) -> Self {
        WasmSinkPlugin {
            versions: Arc::new(Versions {
                current: Mutex::new(Current {
                    sink: Arc::new(sink),
                    generation: 0,
                    fresh: first,
                }),
                generation: AtomicU64::new(0),
                announced: AtomicU64::new(0),
            }),
        }
    }

    /// The loaded plugin: the newest version handed over.
    pub fn sink(&self) -> Arc<WasmSink> {
        self.versions.lock().sink.clone()
    }

    /// Makes `sink` the version every writer uses from its next batch on (a `write` in
    /// progress finishes on the old one), with `instance`, already through `init`, for the
    /// first writer to switch: a plugin swapped while running, without rebuilding the
    /// pipeline.
    pub fn swap(&self, sink: WasmSink, instance: SinkInstance) {
        let mut c = self.versions.lock();
        c.sink = Arc::new(sink);
        c.fresh = Some(instance);
        c.generation += 1;
        self.versions
            .generation
            .store(c.generation, Ordering::Release);
    }
}

/// Starts an instance of `sink` (`init` included) on a blocking thread.
async fn instantiate(sink: Arc<WasmSink>) -> Result<SinkInstance, PluginError> {
    tokio::task::spawn_blocking(move || sink.instantiate())
        .await
        .map_err(|e| PluginError::new(format!("starting the plugin panicked: {e}")))?
        .map_err(|e| PluginError::new(e.to_string()))
}

#[async_trait]
impl Sink for WasmSinkPlugin {
    async fn open(&self, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError> {
        let (sink, fresh, generation) = self.versions.take();
        self.versions.announce(ctx, &sink, generation);
        let instance = match fresh {
            Some(i) => i,
            None => instantiate(sink.clone()).await?,
        };
        Ok(Box::new(Writer {
            versions: self.versions.clone(),
            generation,
            sink,
            instance: Some(instance),
            ctx: ctx.clone(),
        }))
    }
}

/// An open sink: its version of the plugin and its instance, moved to a blocking thread
/// for each call.
struct Writer {
    versions: Arc<Versions>,
    generation: u64,
    sink: Arc<WasmSink>,
    instance: Option<SinkInstance>,
    ctx: SinkContext,
}

impl Writer {
    /// Switches to the newest version if a swap happened since the last batch: called
    /// before each `write`, a batch boundary. Costs one atomic load when there was none.
    fn follow_swaps(&mut self) {
        if !self.versions.outdated(self.generation) {
            return;
        }
        let (sink, fresh, generation) = self.versions.take();
        self.versions.announce(&self.ctx, &sink, generation);
        self.sink = sink;
        self.instance = fresh;
        self.generation = generation;
    }
}

#[async_trait]
impl SinkWriter for Writer {
    async fn write(&mut self, batch: &Batch) -> Result<(), PluginError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.follow_swaps();
        let mut instance = match self.instance.take() {
            Some(i) => i,
            None => instantiate(self.sink.clone()).await?,
        };
        // The call needs the batch on its thread: one copy per column, as the crossing into
        // WebAssembly makes anyway.
        let (sink, columns) = (self.sink.clone(), batch.columns().clone());
        let started = Instant::now();
        let (instance, result) = tokio::task::spawn_blocking(move || {
            let result = sink.write(&mut instance, &columns);
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
                    self.sink.name
                )))
            }
            Err(e @ CallError::Refused(_)) => {
                self.instance = Some(instance);
                Err(PluginError::new(format!("{}: {e}", self.sink.name)))
            }
        }
    }
}
