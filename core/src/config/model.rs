//! The typed config, as written in YAML, and the checks serde cannot express.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::limits::LimitsConfig;
use super::{ConfigError, Loaded, units};

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where checkpoints (and later dead letters and the compile cache) live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Where compiled plugins are cached (default `data_dir/cache`); several logcatch
    /// instances may share one.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// How often acknowledged positions are written to disk.
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    /// The dead-letter files' settings.
    #[serde(default)]
    pub dead_letter: DeadLetterConfig,
    /// How long SIGTERM/SIGINT waits for in-flight batches to reach the sinks.
    #[serde(
        default = "default_shutdown_timeout",
        deserialize_with = "units::duration"
    )]
    pub shutdown_timeout: Duration,
    /// The admin HTTP API (`/health`, `/pipelines`, `/metrics`, `POST /reload`); off when
    /// absent.
    #[serde(default)]
    pub api: Option<ApiConfig>,
    /// A central config store whose keys add pipelines to these; off when absent.
    #[serde(default)]
    pub remote: Option<super::RemoteConfig>,
    /// Named, independent pipelines (with `remote:`, the store may hold all of them).
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineConfig>,
}

/// The admin API's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address and port to listen on (loopback by default: the API can reload the config).
    #[serde(default = "default_api_listen")]
    pub listen: String,
    /// A bearer token every request but `GET /health` must carry
    /// (`Authorization: Bearer <token>`); required to listen beyond loopback.
    #[serde(default)]
    pub token: Option<super::Secret>,
}

fn default_api_listen() -> String {
    "127.0.0.1:9420".to_owned()
}

/// Checkpoint settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Longest time between two writes of a changed checkpoint (the crash-duplicate window).
    #[serde(
        default = "default_checkpoint_interval",
        deserialize_with = "units::duration"
    )]
    pub interval: Duration,
    /// Checkpoints of streams not seen for this long are forgotten.
    #[serde(default = "default_expire_after", deserialize_with = "units::duration")]
    pub expire_after: Duration,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            interval: default_checkpoint_interval(),
            expire_after: default_expire_after(),
        }
    }
}

/// The dead-letter files (`data_dir/dead_letter/<pipeline>.ndjson`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// Largest a pipeline's dead-letter file may grow: past it the pipeline is held
    /// (`blocked`, logged as an error) until the file is moved away or emptied.
    #[serde(default = "default_dead_letter_max", deserialize_with = "units::bytes")]
    pub max_bytes: u64,
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            max_bytes: default_dead_letter_max(),
        }
    }
}

fn default_dead_letter_max() -> u64 {
    1 << 30
}

/// What happens to events a filter fails on, even alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Written with the reason to `data_dir/dead_letter/<pipeline>.ndjson` (counted).
    #[default]
    DeadLetter,
    /// Delivered unfiltered.
    Pass,
    /// Dropped (counted).
    Drop,
}

/// One pipeline: sources → filters → sinks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Where lines come from.
    pub sources: Vec<ComponentConfig>,
    /// WebAssembly filters, run in order on every batch.
    #[serde(default)]
    pub filters: Vec<FilterConfig>,
    /// What happens to events a filter fails on even alone.
    #[serde(default)]
    pub on_error: OnError,
    /// Where lines go; a batch is acknowledged once every sink has it.
    pub sinks: Vec<SinkConfig>,
    /// How sources cut batches.
    #[serde(default)]
    pub batch: BatchConfig,
}

/// When a source cuts a batch: whichever limit comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Most events in one batch.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// Most message bytes in one batch.
    #[serde(default = "default_max_bytes", deserialize_with = "units::bytes")]
    pub max_bytes: u64,
    /// Longest a started batch waits for more lines before it is sent.
    #[serde(default = "default_linger", deserialize_with = "units::duration")]
    pub linger: Duration,
    /// How much a filter may make of one batch: at most this many times `max_events` events
    /// and `max_bytes` bytes of text (or what it was given, if that is more); a filter that
    /// returns more has failed on the batch.
    #[serde(default = "default_max_growth")]
    pub max_growth: u32,
}

/// Largest `batch.max_bytes`: a batch's arena is addressed by `u32` offsets, and a filter's
/// output and the line being cut must fit beside it.
pub const MAX_BATCH_BYTES: u64 = 1 << 30;

/// Largest `batch.max_events` (sources size their columns for a full batch).
pub const MAX_BATCH_EVENTS: usize = 1 << 20;

/// Largest `batch.max_growth`.
pub const MAX_GROWTH: u32 = 64;

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: default_max_events(),
            max_bytes: default_max_bytes(),
            linger: default_linger(),
            max_growth: default_max_growth(),
        }
    }
}

/// A WebAssembly filter in a pipeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// The component file, relative to the config file.
    pub wasm: PathBuf,
    /// Passed to the plugin's `init` as JSON.
    #[serde(default)]
    pub config: Option<serde_yaml::Value>,
    /// Memory, time and fuel limits of each instance.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// A source or sink: its `type:` and the options its plugin reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ComponentConfig {
    /// The plugin, e.g. `file`, `stdout`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A source's name for its checkpoints, kept across edits of its definition (without
    /// one, the definition itself names them).
    #[serde(default)]
    pub id: Option<String>,
    /// Every other field, checked by the plugin.
    #[serde(flatten)]
    pub options: serde_yaml::Mapping,
}

impl ComponentConfig {
    /// The key a source's checkpoints are kept under: its `id`, or a hash of its definition
    /// (type and options, whatever their order), so inserting, removing or reordering
    /// sources in a pipeline leaves every other source's checkpoints where they were.
    pub fn checkpoint_key(&self) -> String {
        if let Some(id) = &self.id {
            return id.clone();
        }
        // Through JSON: its maps are ordered by key, so the text does not depend on how
        // the YAML was written.
        let value =
            serde_json::to_value((&self.kind, &self.options)).unwrap_or(serde_json::Value::Null);
        let text = serde_json::to_string(&value).unwrap_or_default();
        format!("def-{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }
}

/// A sink: a built-in plugin (`type:` and its options) or a WebAssembly component
/// (`wasm:`, with `config`, `limits` and `allow_hosts`, checked when the pipeline is built).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SinkConfig {
    /// The built-in plugin, e.g. `file`, `http`; absent for a WebAssembly sink.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The WebAssembly sink component, relative to the config file.
    #[serde(default)]
    pub wasm: Option<PathBuf>,
    /// Every other field, checked by the plugin (or, with `wasm:`, by the WebAssembly host).
    #[serde(flatten)]
    pub options: serde_yaml::Mapping,
}

/// The options of a WebAssembly sink, beside `wasm:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmSinkOptions {
    /// Passed to the plugin's `init` as JSON.
    #[serde(default)]
    pub config: Option<serde_yaml::Value>,
    /// Memory, time and fuel limits of each instance.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The hosts (`host` for ports 80/443, or `host:port`) its outgoing HTTP may reach;
    /// none by default.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}
fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_expire_after() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}
fn default_max_events() -> usize {
    1024
}
fn default_max_bytes() -> u64 {
    1 << 20
}
fn default_linger() -> Duration {
    Duration::from_millis(5)
}
fn default_max_growth() -> u32 {
    4
}

/// Pipeline names become file names under `data_dir`: letters, digits, `-` and `_` only.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The checks that serde's shape cannot express.
pub(super) fn validate(loaded: &Loaded) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let config = &loaded.config;
    if config.pipelines.is_empty() && config.remote.is_none() {
        errors.push(loaded.error_at("pipelines", "no pipelines defined: nothing to run"));
    }
    if let Some(remote) = &config.remote {
        for (field, why) in remote.etcd.problems() {
            errors.push(loaded.error_at(&format!("remote.etcd.{field}"), why));
        }
    }
    if config.checkpoint.interval.is_zero() {
        errors.push(loaded.error_at("checkpoint.interval", "must be more than zero"));
    }
    if let Some(api) = &config.api {
        match api.listen.parse::<std::net::SocketAddr>() {
            Err(_) => errors.push(loaded.error_at(
                "api.listen",
                format!(
                    "`{}` is not an address and port such as 127.0.0.1:9420",
                    api.listen
                ),
            )),
            Ok(addr) if !addr.ip().is_loopback() && api.token.is_none() => {
                errors.push(loaded.error_at(
                    "api.listen",
                    format!(
                        "`{}` is reachable beyond this host, and the API can reload the config: set api.token (e.g. \"${{LOGCATCH_API_TOKEN}}\") or listen on 127.0.0.1",
                        api.listen
                    ),
                ))
            }
            Ok(_) => {}
        }
        if api.token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            errors.push(loaded.error_at(
                "api.token",
                "must be at least 16 characters (its value is not shown)",
            ));
        }
    }
    for (name, p) in &config.pipelines {
        let at = format!("pipelines.{name}");
        if !is_valid_name(name) {
            errors.push(loaded.error_at(
                &at,
                format!(
                    "pipeline name `{name}` may only use letters, digits, `-` and `_` (at most 64)"
                ),
            ));
        }
        if p.sources.is_empty() {
            errors.push(loaded.error_at(
                &format!("{at}.sources"),
                "a pipeline needs at least one source",
            ));
        }
        let mut keys: BTreeMap<String, usize> = BTreeMap::new();
        for (i, source) in p.sources.iter().enumerate() {
            if let Some(id) = &source.id
                && !is_valid_name(id)
            {
                errors.push(loaded.error_at(
                    &format!("{at}.sources[{i}].id"),
                    format!("`{id}` may only use letters, digits, `-` and `_` (at most 64)"),
                ));
            }
            if let Some(first) = keys.insert(source.checkpoint_key(), i) {
                let why = match &source.id {
                    Some(id) => format!("id `{id}` is also sources[{first}]'s"),
                    None => format!(
                        "the same source as sources[{first}]: their checkpoints would mix; give each an `id:`"
                    ),
                };
                errors.push(loaded.error_at(&format!("{at}.sources[{i}]"), why));
            }
        }
        if p.sinks.is_empty() {
            errors.push(
                loaded.error_at(&format!("{at}.sinks"), "a pipeline needs at least one sink"),
            );
        }
        for (i, sink) in p.sinks.iter().enumerate() {
            let why = match (&sink.kind, &sink.wasm) {
                (Some(_), Some(_)) => {
                    "give either `type:` (a built-in sink) or `wasm:` (a WebAssembly sink), not both"
                }
                (None, None) => {
                    "missing field `type` (a built-in sink) or `wasm` (a WebAssembly sink)"
                }
                _ => continue,
            };
            errors.push(loaded.error_at(&format!("{at}.sinks[{i}]"), why));
        }
        if p.batch.max_events == 0 || p.batch.max_events > MAX_BATCH_EVENTS {
            errors.push(loaded.error_at(
                &format!("{at}.batch.max_events"),
                format!("must be between 1 and {MAX_BATCH_EVENTS}"),
            ));
        }
        if p.batch.max_bytes == 0 || p.batch.max_bytes > MAX_BATCH_BYTES {
            errors.push(loaded.error_at(
                &format!("{at}.batch.max_bytes"),
                "must be between 1 byte and 1GiB",
            ));
        }
        if !(1..=MAX_GROWTH).contains(&p.batch.max_growth) {
            errors.push(loaded.error_at(
                &format!("{at}.batch.max_growth"),
                format!("must be between 1 and {MAX_GROWTH}"),
            ));
        }
    }
    errors
}
