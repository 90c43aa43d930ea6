//! The YAML configuration: its model, `${VAR}` expansion, and loading with errors that name
//! the file, line, column and field path.
//!
//! Loading is two steps. [`load_file`] (or [`load_str`]) parses and checks the shape every config shares (top level,
//! pipelines, batches); [`crate::registry::Registry::plan`] then hands each component's options
//! to the plugin that owns its `type:`, so a plugin's field errors are located the same way.

mod compose;
mod error;
mod expand;
pub mod limits;
mod locate;
mod model;
mod remote;
mod secret;
pub mod units;

pub use compose::{Document, compose};
pub(crate) use error::field_path as field_path_of;
pub use error::{ConfigError, ConfigErrors};
pub use limits::{Limits, LimitsConfig};
pub use locate::Locator;
pub use model::{
    ApiConfig, BatchConfig, CheckpointConfig, ComponentConfig, Config, DeadLetterConfig,
    FilterConfig, OnError, PipelineConfig, SinkConfig, WasmSinkOptions, is_valid_name,
};
pub use remote::{EtcdConfig, EtcdTls, RemoteConfig, is_valid_host};
pub use secret::Secret;

use std::path::{Path, PathBuf};

/// A parsed config and what is needed to report later errors against its text.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The typed config.
    pub config: Config,
    /// Where the config came from (a path, or a name like `<embedded default>`).
    pub origin: String,
    /// Directory that relative paths in the config are resolved against.
    pub base_dir: PathBuf,
    /// Maps field paths to their line and column in the (expanded) text.
    pub locator: Locator,
    /// Pipelines written elsewhere than `origin` (a config store's keys), by name: errors
    /// about them are located in their own text.
    pub documents: std::collections::BTreeMap<String, Document>,
}

impl Loaded {
    /// An error about `path` (e.g. `pipelines.web.sinks[0].path`), located in the config text.
    /// `data_dir`, relative paths resolved against the config file's directory.
    pub fn data_dir(&self) -> PathBuf {
        if self.config.data_dir.is_absolute() {
            self.config.data_dir.clone()
        } else {
            self.base_dir.join(&self.config.data_dir)
        }
    }

    /// A pipeline written in another document is located there, by its path inside it.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> ConfigError {
        if let Some((doc, inner)) = self.document_of(path) {
            return doc.error_at(inner, message);
        }
        error::located(&self.origin, &self.locator, path, message.into())
    }

    /// The document a field path (`pipelines.NAME...`) is in, if not the main one, and the
    /// path inside it.
    fn document_of<'p>(&self, path: &'p str) -> Option<(&Document, &'p str)> {
        let rest = path.strip_prefix("pipelines.")?;
        let (name, inner) = match rest.find(['.', '[']) {
            Some(cut) => (&rest[..cut], rest[cut..].trim_start_matches('.')),
            None => (rest, ""),
        };
        Some((self.documents.get(name)?, inner))
    }
}

/// Reads and parses the config file at `path`; relative paths in it resolve against its
/// directory.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigErrors> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::one(ConfigError {
            origin: origin.clone(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("cannot read config file: {e}"),
        })
    })?;
    let base_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    // Absolute, so that paths in the config mean the same at a reload whatever the
    // process's working directory and however the file was named on the command line.
    let base_dir = std::path::absolute(&base_dir).unwrap_or(base_dir);
    load_str(&text, origin, base_dir)
}

/// Parses config `text`, reporting errors against `origin`.
pub fn load_str(text: &str, origin: String, base_dir: PathBuf) -> Result<Loaded, ConfigErrors> {
    let (expanded, locator) = prepare(text, &origin)?;
    let de = serde_yaml::Deserializer::from_str(&expanded);
    let config: Config = match serde_path_to_error::deserialize(de) {
        Ok(c) => c,
        Err(e) => return Err(ConfigErrors::one(error::from_serde(&origin, &locator, e))),
    };
    let loaded = Loaded {
        config,
        origin,
        base_dir,
        locator,
        documents: Default::default(),
    };
    let errors = model::validate(&loaded);
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// A document's text with `${VAR}` expanded, and its locator; a key given twice is an error.
fn prepare(text: &str, origin: &str) -> Result<(String, Locator), ConfigErrors> {
    let expanded = expand::expand_env(text, &|name| std::env::var(name).ok())
        .map_err(|e| ConfigErrors::one(e.into_config_error(origin)))?;
    let locator = Locator::new(&expanded);
    let duplicates: Vec<ConfigError> = locator
        .duplicates()
        .iter()
        .map(|d| ConfigError {
            origin: origin.to_owned(),
            line: d.again.0,
            column: d.again.1,
            path: d.path.clone(),
            message: format!(
                "given twice (first at line {}, column {}); YAML would keep only the last silently",
                d.first.0, d.first.1
            ),
        })
        .collect();
    if !duplicates.is_empty() {
        return Err(ConfigErrors(duplicates));
    }
    Ok((expanded, locator))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Loaded, String> {
        load_str(text, "t.yaml".into(), ".".into()).map_err(|e| e.to_string())
    }

    const GOOD: &str = "\
data_dir: /tmp/x
pipelines:
  web:
    sources:
      - type: file
        include: [\"/var/log/*.log\"]
    sinks:
      - { type: stdout }
";

    #[test]
    fn parses_a_good_config() {
        let l = load(GOOD).unwrap();
        let web = &l.config.pipelines["web"];
        assert_eq!(web.sources[0].kind, "file");
        assert!(web.sources[0].options.contains_key("include"));
        assert_eq!(web.batch.max_events, 1024);
    }

    #[test]
    fn unknown_top_level_field_is_located() {
        let err = load("data_dri: x\npipelines: {}\n").unwrap_err();
        assert!(
            err.starts_with("t.yaml:1:1: data_dri: unknown field `data_dri`"),
            "{err}"
        );
    }

    #[test]
    fn misspelled_pipeline_field_names_its_path() {
        let text = GOOD.replace("    sinks:", "    sinsk:");
        let err = load(&text).unwrap_err();
        assert!(
            err.starts_with("t.yaml:7:5: pipelines.web.sinsk: unknown field `sinsk`"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_is_located_at_the_field() {
        let text = format!("{GOOD}    batch:\n      max_events: lots\n");
        let err = load(&text).unwrap_err();
        assert!(
            err.starts_with("t.yaml:10:7: pipelines.web.batch.max_events: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn invalid_yaml_is_located() {
        let err = load("pipelines:\n  web:\n    sinks: \"open\n").unwrap_err();
        assert_eq!(
            err,
            "t.yaml:4:1: pipelines.web.sinks: found unexpected end of stream at line 4 column 1, \
             while scanning a quoted scalar at line 3 column 12"
        );
    }

    #[test]
    fn pipeline_without_sinks_is_refused() {
        let err =
            load("pipelines:\n  web:\n    sources: [{type: demo}]\n    sinks: []\n").unwrap_err();
        assert!(
            err.contains("t.yaml:4:5: pipelines.web.sinks: a pipeline needs at least one sink"),
            "{err}"
        );
    }

    #[test]
    fn env_vars_expand_with_defaults() {
        // SAFETY: single-threaded test-only use of a variable nobody else reads.
        unsafe { std::env::set_var("LOGCATCH_TEST_DIR", "/srv/d") };
        let l = load(&format!(
            "data_dir: ${{LOGCATCH_TEST_DIR}}/${{LOGCATCH_TEST_UNSET:-x}}\n{}",
            &GOOD[17..]
        ));
        assert_eq!(l.unwrap().config.data_dir, PathBuf::from("/srv/d/x"));
        let err = load("data_dir: ${LOGCATCH_TEST_UNSET}\n").unwrap_err();
        assert!(
            err.starts_with("t.yaml:1:11: environment variable `LOGCATCH_TEST_UNSET`"),
            "{err}"
        );
    }
}
