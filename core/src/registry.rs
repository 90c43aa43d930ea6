//! Maps a YAML `type:` to the plugin that builds it, and turns a loaded config into a plan of
//! ready-to-run pipelines. Core knows plugins only through this table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    ApiConfig, BatchConfig, CheckpointConfig, ComponentConfig, ConfigError, ConfigErrors, Loaded,
    OnError, PipelineConfig, SinkConfig, WasmSinkOptions,
};
use crate::plugin::{Options, OptionsError, Sink, Source};
use crate::reload::swap::Slot;
use crate::wasm::allow::AllowedHost;
use crate::wasm::locate::{Located, PluginPath};
use crate::wasm::{
    FilterWorld, PluginSpec, SinkWorld, WasmError, WasmFilter, WasmSink, WasmSinkPlugin,
};
use crate::{ComponentId, Role};

/// Builds a plugin of kind `T` from its options.
pub type Factory<T> = fn(&Options<'_>) -> Result<Arc<T>, OptionsError>;
/// Builds a source from its options.
pub type SourceFactory = Factory<dyn Source>;
/// Builds a sink from its options.
pub type SinkFactory = Factory<dyn Sink>;

/// The known source and sink types.
#[derive(Default, Clone)]
pub struct Registry {
    sources: BTreeMap<&'static str, SourceFactory>,
    sinks: BTreeMap<&'static str, SinkFactory>,
    plugins: PluginPath,
}

/// A component ready to run, with the names logs use for it.
pub struct Component<T: ?Sized> {
    /// Its place in the pipeline, e.g. `sources[0]`.
    pub id: ComponentId,
    /// Its `type:`.
    pub kind: String,
    /// The built plugin.
    pub plugin: Arc<T>,
}

/// A source ready to run, and the key its checkpoints are kept under
/// ([`ComponentConfig::checkpoint_key`]).
pub struct SourcePlan {
    /// The source.
    pub component: Component<dyn Source>,
    /// Its checkpoint key.
    pub checkpoint: String,
}

/// A WebAssembly sink of a pipeline, kept by the daemon to swap new versions of its file in.
#[derive(Clone)]
pub struct WasmSinkPlan {
    /// Its place in the pipeline, e.g. `sinks[1]`.
    pub id: ComponentId,
    /// The version its writers run.
    pub slot: Arc<Slot<SinkWorld>>,
}

/// One pipeline, built and checked.
pub struct PipelinePlan {
    /// Its name in the config.
    pub name: String,
    /// Sources, in config order.
    pub sources: Vec<SourcePlan>,
    /// Filters, in order: each one's plugin (loaded and `init`-checked), in the slot new
    /// versions are swapped into.
    pub filters: Vec<Arc<Slot<FilterWorld>>>,
    /// Policy for events a filter fails on.
    pub on_error: OnError,
    /// Sinks, in config order.
    pub sinks: Vec<Component<dyn Sink>>,
    /// The WebAssembly sinks among them, in order (for their content hashes and swaps).
    pub wasm_sinks: Vec<WasmSinkPlan>,
    /// Batch cutting.
    pub batch: BatchConfig,
    /// The pipeline as written (with `${VAR}` expanded): with the plugins' content hashes,
    /// its identity across reloads.
    pub definition: PipelineConfig,
}

/// Everything `run` needs, produced only from a fully valid config.
pub struct Plan {
    /// Checkpoints and other state.
    pub data_dir: PathBuf,
    /// Checkpoint settings.
    pub checkpoint: CheckpointConfig,
    /// Dead-letter file settings.
    pub dead_letter: crate::config::DeadLetterConfig,
    /// Drain budget at SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// Where compiled plugins are cached.
    pub cache_dir: PathBuf,
    /// The admin API, if configured.
    pub api: Option<ApiConfig>,
    /// The central config store, if configured.
    pub remote: Option<crate::config::RemoteConfig>,
    /// Pipelines by name order.
    pub pipelines: Vec<PipelinePlan>,
}

impl Registry {
    /// Registers a source type.
    pub fn source(&mut self, kind: &'static str, factory: SourceFactory) -> &mut Self {
        self.sources.insert(kind, factory);
        self
    }

    /// Registers a sink type.
    pub fn sink(&mut self, kind: &'static str, factory: SinkFactory) -> &mut Self {
        self.sinks.insert(kind, factory);
        self
    }

    /// Sets where bare `wasm:` names are looked up (by default, only in the config's
    /// directory).
    pub fn plugin_path(&mut self, plugins: PluginPath) -> &mut Self {
        self.plugins = plugins;
        self
    }

    /// Builds every component of `loaded`, collecting every error (not just the first).
    ///
    /// Plugins are compiled (or taken from the compile cache under `data_dir`) and
    /// initialised with their config here, so a bad plugin is refused before anything runs.
    pub fn plan(&self, loaded: &Loaded) -> Result<Plan, ConfigErrors> {
        let c = &loaded.config;
        let data_dir = loaded.data_dir();
        let cache = match &c.cache_dir {
            Some(dir) if dir.is_absolute() => dir.clone(),
            Some(dir) => loaded.base_dir.join(dir),
            None => data_dir.join("cache"),
        };
        let mut errors = Vec::new();
        let mut pipelines = Vec::new();
        for (name, p) in &loaded.config.pipelines {
            let sources = p
                .sources
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let id = ComponentId::source(i);
                    let component = build_one(loaded, name, id, c, &self.sources, &mut errors)?;
                    Some(SourcePlan {
                        component,
                        checkpoint: c.checkpoint_key(),
                    })
                })
                .collect();
            let filters = self.load_filters(loaded, name, &p.filters, &cache, &mut errors);
            let (sinks, wasm_sinks) = self.build_sinks(loaded, name, &p.sinks, &cache, &mut errors);
            pipelines.push(PipelinePlan {
                name: name.clone(),
                sources,
                filters,
                on_error: p.on_error,
                sinks,
                wasm_sinks,
                batch: p.batch,
                definition: p.clone(),
            });
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e: &ConfigError| (e.line, e.column));
            return Err(ConfigErrors(errors));
        }
        Ok(Plan {
            data_dir,
            checkpoint: c.checkpoint.clone(),
            dead_letter: c.dead_letter,
            shutdown_timeout: c.shutdown_timeout,
            cache_dir: cache,
            api: c.api.clone(),
            remote: c.remote.clone(),
            pipelines,
        })
    }
}

impl Registry {
    /// Builds a pipeline's sinks in order: built-in ones by their `type:`, WebAssembly ones
    /// (`wasm:`) loaded and initialised like filters. Returns the WebAssembly ones again,
    /// with their ids.
    fn build_sinks(
        &self,
        loaded: &Loaded,
        pipeline: &str,
        sinks: &[SinkConfig],
        cache_dir: &std::path::Path,
        errors: &mut Vec<ConfigError>,
    ) -> (Vec<Component<dyn Sink>>, Vec<WasmSinkPlan>) {
        let (mut built, mut wasm) = (Vec::new(), Vec::new());
        for (i, c) in sinks.iter().enumerate() {
            let id = ComponentId::sink(i);
            let sink = match (&c.kind, &c.wasm) {
                (Some(kind), None) => {
                    let native = ComponentConfig {
                        kind: kind.clone(),
                        id: None,
                        options: c.options.clone(),
                    };
                    build_one(loaded, pipeline, id, &native, &self.sinks, errors)
                }
                (None, Some(path)) => {
                    let at = format!("pipelines.{pipeline}.{id}");
                    let found = self.locate(loaded, &at, path, errors);
                    let wasm_sink = found.and_then(|found| {
                        load_wasm_sink(loaded, pipeline, &at, found, &c.options, cache_dir, errors)
                    });
                    wasm_sink.map(|slot| {
                        let kind = format!("wasm:{}", slot.current().name);
                        wasm.push(WasmSinkPlan {
                            id,
                            slot: slot.clone(),
                        });
                        Component {
                            id,
                            kind,
                            plugin: Arc::new(WasmSinkPlugin::new(slot)) as Arc<dyn Sink>,
                        }
                    })
                }
                // Refused by config validation.
                _ => None,
            };
            built.extend(sink);
        }
        (built, wasm)
    }

    /// Finds the plugin `wasm:` names (field `at.wasm`), or records why it cannot be found.
    fn locate(
        &self,
        loaded: &Loaded,
        at: &str,
        wasm: &Path,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Located> {
        match self.plugins.locate(&loaded.base_dir, wasm) {
            Ok(found) => Some(found),
            Err(why) => {
                let e = WasmError::NotFound {
                    name: wasm.to_owned(),
                    why,
                };
                errors.push(loaded.error_at(&format!("{at}.wasm"), e.to_string()));
                None
            }
        }
    }

    /// Loads a pipeline's filters in order (checking each starts), recording why any cannot.
    fn load_filters(
        &self,
        loaded: &Loaded,
        pipeline: &str,
        filters: &[crate::config::FilterConfig],
        cache_dir: &Path,
        errors: &mut Vec<ConfigError>,
    ) -> Vec<Arc<Slot<FilterWorld>>> {
        let mut plans = Vec::new();
        for (i, f) in filters.iter().enumerate() {
            let at = format!("pipelines.{pipeline}.filters[{i}]");
            let Some(config_json) = config_json(loaded, &at, f.config.as_ref(), errors) else {
                continue;
            };
            let Some(found) = self.locate(loaded, &at, &f.wasm, errors) else {
                continue;
            };
            let spec = PluginSpec {
                path: found.path,
                embedded: found.embedded,
                config_json,
                limits: f.limits,
                allow_hosts: Arc::new([]),
            };
            match WasmFilter::load(spec, cache_dir) {
                Ok(filter) => {
                    tracing::debug!(pipeline = %pipeline, plugin = %filter.name, cached = filter.cached, "filter loaded");
                    plans.push(Slot::new(filter));
                }
                Err(e) => {
                    let field = format!("{at}.{}", wasm_error_field(&e));
                    errors.push(loaded.error_at(&field, e.to_string()));
                }
            }
        }
        plans
    }
}

/// Loads the WebAssembly sink `found` with its options (checking it starts), or records why
/// it cannot be used.
fn load_wasm_sink(
    loaded: &Loaded,
    pipeline: &str,
    at: &str,
    found: Located,
    options: &serde_yaml::Mapping,
    cache_dir: &std::path::Path,
    errors: &mut Vec<ConfigError>,
) -> Option<Arc<Slot<SinkWorld>>> {
    let opts = Options {
        map: options,
        base_dir: &loaded.base_dir,
        pipeline,
    };
    let o: WasmSinkOptions = match opts.parse() {
        Ok(o) => o,
        Err(e) => {
            errors.push(loaded.error_at(&format!("{at}.{}", e.field), e.message));
            return None;
        }
    };
    let mut hosts = Vec::new();
    for (j, entry) in o.allow_hosts.iter().enumerate() {
        match AllowedHost::parse(entry) {
            Ok(h) => hosts.push(h),
            Err(why) => errors.push(loaded.error_at(&format!("{at}.allow_hosts[{j}]"), why)),
        }
    }
    if hosts.len() < o.allow_hosts.len() {
        return None;
    }
    let config_json = config_json(loaded, at, o.config.as_ref(), errors)?;
    let spec = PluginSpec {
        path: found.path,
        embedded: found.embedded,
        config_json,
        limits: o.limits,
        allow_hosts: hosts.into(),
    };
    match WasmSink::load(spec, cache_dir) {
        Ok(sink) => {
            tracing::debug!(pipeline = %pipeline, plugin = %sink.name, cached = sink.cached, "sink plugin loaded");
            Some(Slot::new(sink))
        }
        Err(e) => {
            errors.push(loaded.error_at(&format!("{at}.{}", wasm_error_field(&e)), e.to_string()));
            None
        }
    }
}

/// The field a plugin load error is about.
fn wasm_error_field(e: &crate::wasm::WasmError) -> &'static str {
    match e {
        crate::wasm::WasmError::Limits(_) => "limits",
        crate::wasm::WasmError::Init { .. } => "config",
        _ => "wasm",
    }
}

/// A plugin's `config:` block as JSON (`{}` when absent), or records why it cannot be.
fn config_json(
    loaded: &Loaded,
    at: &str,
    config: Option<&serde_yaml::Value>,
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    match config {
        None => Some("{}".to_owned()),
        Some(v) => match serde_json::to_string(v) {
            Ok(json) => Some(json),
            Err(e) => {
                errors.push(loaded.error_at(
                    &format!("{at}.config"),
                    format!("cannot be passed as JSON: {e}"),
                ));
                None
            }
        },
    }
}

/// Builds component `id` (`sources[0]`) from its `type:` and options.
fn build_one<T: ?Sized>(
    loaded: &Loaded,
    pipeline: &str,
    id: ComponentId,
    c: &ComponentConfig,
    factories: &BTreeMap<&'static str, Factory<T>>,
    errors: &mut Vec<ConfigError>,
) -> Option<Component<T>> {
    let at = format!("pipelines.{pipeline}.{id}");
    let Some(factory) = factories.get(c.kind.as_str()) else {
        let known: Vec<_> = factories.keys().copied().collect();
        errors.push(loaded.error_at(
            &format!("{at}.type"),
            format!(
                "unknown {} type `{}`, expected one of {}{}",
                id.role.as_str(),
                c.kind,
                known.join(", "),
                if id.role == Role::Sink {
                    " (or `wasm:` for a WebAssembly sink)"
                } else {
                    ""
                }
            ),
        ));
        return None;
    };
    let options = Options {
        map: &c.options,
        base_dir: &loaded.base_dir,
        pipeline,
    };
    match factory(&options) {
        Ok(plugin) => Some(Component {
            id,
            kind: c.kind.clone(),
            plugin,
        }),
        Err(e) => {
            let path = if e.field.is_empty() {
                at
            } else {
                format!("{at}.{}", e.field)
            };
            errors.push(loaded.error_at(&path, e.message));
            None
        }
    }
}
