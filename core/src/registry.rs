//! Maps a YAML `type:` to the plugin that builds it, and turns a loaded config into a plan of
//! ready-to-run pipelines. Core knows plugins only through this table.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    ApiConfig, BatchConfig, CheckpointConfig, ComponentConfig, ConfigError, ConfigErrors, Loaded,
    PipelineConfig,
};
use crate::plugin::{Options, OptionsError, Sink, Source};
use crate::wasm::filter::Instance;
use crate::wasm::{OnError, WasmFilter};

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
}

/// A component ready to run, with the names logs use for it.
pub struct Component<T: ?Sized> {
    /// Position in the pipeline, e.g. `sources[0]`.
    pub id: String,
    /// Its `type:`.
    pub kind: String,
    /// The built plugin.
    pub plugin: Arc<T>,
}

/// A filter, loaded and initialised once (the instance is reused by the pipeline).
pub struct FilterPlan {
    /// The plugin.
    pub filter: Arc<WasmFilter>,
    /// The instance validation started.
    pub instance: Option<Instance>,
}

/// One pipeline, built and checked.
pub struct PipelinePlan {
    /// Its name in the config.
    pub name: String,
    /// Sources, in config order.
    pub sources: Vec<Component<dyn Source>>,
    /// Filters, in order.
    pub filters: Vec<FilterPlan>,
    /// Policy for events a filter fails on.
    pub on_error: OnError,
    /// Sinks, in config order.
    pub sinks: Vec<Component<dyn Sink>>,
    /// Batch cutting.
    pub batch: BatchConfig,
    /// The pipeline as written (with `${VAR}` expanded): with the plugins' content hashes,
    /// its identity across reloads.
    pub definition: PipelineConfig,
}

impl PipelinePlan {
    /// Content hashes of its filter plugins, in order.
    pub fn plugin_hashes(&self) -> Vec<u64> {
        self.filters.iter().map(|f| f.filter.hash).collect()
    }
}

/// Everything `run` needs, produced only from a fully valid config.
pub struct Plan {
    /// Checkpoints and other state.
    pub data_dir: PathBuf,
    /// Checkpoint settings.
    pub checkpoint: CheckpointConfig,
    /// Drain budget at SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// Where compiled plugins are cached.
    pub cache_dir: PathBuf,
    /// The admin API, if configured.
    pub api: Option<ApiConfig>,
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

    /// Builds every component of `loaded`, collecting every error (not just the first).
    ///
    /// Plugins are compiled (or taken from the compile cache under `data_dir`) and
    /// initialised with their config here, so a bad plugin is refused before anything runs.
    pub fn plan(&self, loaded: &Loaded) -> Result<Plan, ConfigErrors> {
        let c = &loaded.config;
        let data_dir = if c.data_dir.is_absolute() {
            c.data_dir.clone()
        } else {
            loaded.base_dir.join(&c.data_dir)
        };
        let cache = match &c.cache_dir {
            Some(dir) if dir.is_absolute() => dir.clone(),
            Some(dir) => loaded.base_dir.join(dir),
            None => data_dir.join("cache"),
        };
        let mut errors = Vec::new();
        let mut pipelines = Vec::new();
        for (name, p) in &loaded.config.pipelines {
            let sources = build_all(
                loaded,
                name,
                "sources",
                &p.sources,
                &self.sources,
                &mut errors,
            );
            let filters = load_filters(loaded, name, &p.filters, &cache, &mut errors);
            let sinks = build_all(loaded, name, "sinks", &p.sinks, &self.sinks, &mut errors);
            pipelines.push(PipelinePlan {
                name: name.clone(),
                sources,
                filters,
                on_error: p.on_error,
                sinks,
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
            shutdown_timeout: c.shutdown_timeout,
            cache_dir: cache,
            api: c.api.clone(),
            pipelines,
        })
    }
}

fn load_filters(
    loaded: &Loaded,
    pipeline: &str,
    filters: &[crate::config::FilterConfig],
    cache_dir: &std::path::Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<FilterPlan> {
    let mut plans = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let at = format!("pipelines.{pipeline}.filters[{i}]");
        let config_json = match &f.config {
            None => "{}".to_owned(),
            Some(v) => match serde_json::to_string(v) {
                Ok(json) => json,
                Err(e) => {
                    errors.push(loaded.error_at(
                        &format!("{at}.config"),
                        format!("cannot be passed as JSON: {e}"),
                    ));
                    continue;
                }
            },
        };
        let path = if f.wasm.is_absolute() {
            f.wasm.clone()
        } else {
            loaded.base_dir.join(&f.wasm)
        };
        match WasmFilter::load(&path, config_json, f.limits, cache_dir) {
            Ok((filter, instance)) => {
                tracing::debug!(pipeline, plugin = %filter.name, cached = filter.cached, "filter loaded");
                plans.push(FilterPlan {
                    filter: Arc::new(filter),
                    instance: Some(instance),
                });
            }
            Err(e) => {
                let field = match e {
                    crate::wasm::WasmError::Limits(_) => "limits",
                    crate::wasm::WasmError::Init { .. } => "config",
                    _ => "wasm",
                };
                errors.push(loaded.error_at(&format!("{at}.{field}"), e.to_string()));
            }
        }
    }
    plans
}

fn build_all<T: ?Sized>(
    loaded: &Loaded,
    pipeline: &str,
    section: &str,
    components: &[ComponentConfig],
    factories: &BTreeMap<&'static str, Factory<T>>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Component<T>> {
    let mut built = Vec::new();
    for (i, c) in components.iter().enumerate() {
        let id = format!("{section}[{i}]");
        let at = format!("pipelines.{pipeline}.{id}");
        let Some(factory) = factories.get(c.kind.as_str()) else {
            let known: Vec<_> = factories.keys().copied().collect();
            errors.push(loaded.error_at(
                &format!("{at}.type"),
                format!(
                    "unknown {} type `{}`, expected one of {}",
                    &section[..section.len() - 1],
                    c.kind,
                    known.join(", ")
                ),
            ));
            continue;
        };
        let options = Options {
            map: &c.options,
            base_dir: &loaded.base_dir,
            pipeline,
        };
        match factory(&options) {
            Ok(plugin) => built.push(Component {
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
            }
        }
    }
    built
}
