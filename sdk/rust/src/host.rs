//! What the host offers a plugin: its log, and the plugin's config.

use crate::bindings::logcatch::plugin::types::Level as WireLevel;

/// Severity of a message a plugin writes to logcatch's log with [`log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Level> for WireLevel {
    fn from(l: Level) -> WireLevel {
        match l {
            Level::Trace => WireLevel::Trace,
            Level::Debug => WireLevel::Debug,
            Level::Info => WireLevel::Info,
            Level::Warn => WireLevel::Warn,
            Level::Error => WireLevel::Error,
        }
    }
}

/// Writes `message` to logcatch's log at `level`, tagged with the plugin's name.
///
/// Use it for rare events (a config note at `init`, a surprising input), not per event:
/// each call crosses into the host. Outside WebAssembly (in `cargo test`), it prints to
/// stderr instead.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::logcatch::plugin::host::log(level.into(), message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[plugin {level}] {message}");
}

/// Parses the plugin's config (the `config:` block of the pipeline, which logcatch passes
/// to `init` as JSON) into `T`.
///
/// An empty or `null` config reads as `{}`, so a `T` whose fields all have
/// `#[serde(default)]` works without any `config:`. The error names the problem and where
/// it is, ready to return from [`Filter::init`](crate::Filter::init).
#[cfg(feature = "json")]
pub fn config<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
    let trimmed = json.trim();
    let json = if trimmed.is_empty() || trimmed == "null" {
        "{}"
    } else {
        json
    };
    serde_json::from_str(json).map_err(|e| format!("invalid config: {e}"))
}
