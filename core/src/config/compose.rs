//! Pipelines written in documents of their own (a config store's keys) joined to the config
//! file's, so that one plan, one validation and one diff cover both.
//!
//! Each document holds what `pipelines.NAME` holds in the file. It is parsed on its own, with
//! `${VAR}` expanded and duplicate keys refused like the file, and every later error about it
//! (from validation, from a plugin) is located in its own text: `ORIGIN:line:col: field`.

use super::error::from_serde;
use super::model::{self, PipelineConfig};
use super::{ConfigError, ConfigErrors, Loaded, Locator, is_valid_name, prepare};

/// Where a pipeline written in its own document came from, to locate errors in its text.
#[derive(Debug, Clone)]
pub struct Document {
    /// Its name in errors, e.g. `etcd:/logcatch/web/pipelines/api`.
    pub origin: String,
    /// Maps field paths inside the document (`sinks[0].path`) to lines and columns.
    pub locator: Locator,
}

impl Document {
    /// An error about `path` inside this document.
    pub(super) fn error_at(&self, path: &str, message: impl Into<String>) -> ConfigError {
        super::error::located(&self.origin, &self.locator, path, message.into())
    }
}

/// `local` with the pipelines of `documents` (name, origin, YAML text) added; every error of
/// every document, located in its own text. A name defined in the file too is an error that
/// names both places.
pub fn compose<'a>(
    mut local: Loaded,
    documents: impl IntoIterator<Item = (&'a str, String, &'a str)>,
) -> Result<Loaded, ConfigErrors> {
    let mut errors = Vec::new();
    for (name, origin, text) in documents {
        let at_top = |message: String| ConfigError {
            origin: origin.clone(),
            line: 0,
            column: 0,
            path: String::new(),
            message,
        };
        if !is_valid_name(name) {
            errors.push(at_top(format!(
                "the pipeline name `{name}` (the key's last part) may only use letters, digits, `-` and `_` (at most 64)"
            )));
            continue;
        }
        if local.config.pipelines.contains_key(name) {
            let place = local.error_at(&format!("pipelines.{name}"), "");
            errors.push(at_top(format!(
                "pipeline `{name}` is also defined at {}:{}:{}; a name may be defined in one place only",
                place.origin, place.line, place.column
            )));
            continue;
        }
        let (expanded, locator) = match prepare(text, &origin) {
            Ok(prepared) => prepared,
            Err(e) => {
                errors.extend(e.0);
                continue;
            }
        };
        let de = serde_yaml::Deserializer::from_str(&expanded);
        match serde_path_to_error::deserialize::<_, PipelineConfig>(de) {
            Ok(p) => {
                local.config.pipelines.insert(name.to_owned(), p);
                local
                    .documents
                    .insert(name.to_owned(), Document { origin, locator });
            }
            Err(e) => errors.push(from_serde(&origin, &locator, e)),
        }
    }
    errors.extend(model::validate(&local));
    if errors.is_empty() {
        Ok(local)
    } else {
        Err(ConfigErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    const LOCAL: &str = "\
data_dir: /tmp/x
pipelines:
  web:
    sources: [{type: demo}]
    sinks: [{type: stdout}]
";

    fn local() -> Loaded {
        load_str(LOCAL, "agent.yaml".into(), ".".into()).unwrap()
    }

    fn compose_one(name: &str, text: &str) -> Result<Loaded, String> {
        compose(local(), [(name, format!("etcd:/p/pipelines/{name}"), text)])
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_document_adds_its_pipeline() {
        let l = compose_one("api", "sources: [{type: demo}]\nsinks: [{type: stdout}]\n").unwrap();
        assert_eq!(
            l.config.pipelines.keys().collect::<Vec<_>>(),
            ["api", "web"]
        );
    }

    #[test]
    fn an_unknown_field_is_located_in_the_document() {
        let err = compose_one(
            "api",
            "sources: [{type: demo}]\nsinks:\n  - type: stdout\nbatch:\n  max_evnts: 3\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with("etcd:/p/pipelines/api:5:3: batch.max_evnts: unknown field"),
            "{err}"
        );
    }

    #[test]
    fn a_later_check_is_located_in_the_document_too() {
        let err = compose_one("api", "sources: [{type: demo}]\nsinks:\n  - {}\n").unwrap_err();
        assert!(
            err.starts_with("etcd:/p/pipelines/api:3:5: sinks[0]: missing field `type`"),
            "{err}"
        );
        // Through the composed config, as a plugin's error would be.
        let l = compose_one("api", "sources: [{type: demo}]\nsinks:\n  - type: stdout\n").unwrap();
        let e = l.error_at("pipelines.api.sinks[0].type", "no");
        assert_eq!(
            e.to_string(),
            "etcd:/p/pipelines/api:3:5: sinks[0].type: no"
        );
        let e = l.error_at("pipelines.web.sinks", "no");
        assert_eq!(e.to_string(), "agent.yaml:5:5: pipelines.web.sinks: no");
    }

    #[test]
    fn a_name_in_both_places_names_both() {
        let err =
            compose_one("web", "sources: [{type: demo}]\nsinks: [{type: stdout}]\n").unwrap_err();
        assert_eq!(
            err,
            "etcd:/p/pipelines/web: pipeline `web` is also defined at agent.yaml:3:3; a name may be defined in one place only"
        );
    }

    #[test]
    fn bad_yaml_and_bad_names_are_refused() {
        let err = compose_one("api", "sources: [\n").unwrap_err();
        assert!(err.starts_with("etcd:/p/pipelines/api:"), "{err}");
        let err = compose_one("a/b", "sources: []\n").unwrap_err();
        assert!(err.contains("the pipeline name `a/b`"), "{err}");
        let err = compose_one("api", "sources: [{type: demo}]\nsources: []\n").unwrap_err();
        assert!(err.contains("given twice"), "{err}");
    }
}
