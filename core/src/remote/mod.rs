//! Central config: pipelines kept in a config store (etcd), joined to the config file's.
//!
//! A config source hands the daemon [`Snapshot`]s: every pipeline document it holds and the
//! revision they are as of. The file is one source (read again on a reload); etcd is
//! another ([`etcd::follow`] reads the prefix, then watches it). Another store (an HTTP
//! endpoint, OpAMP) would be one more task sending snapshots into the same channel: the rest
//! (compose, validate, diff, apply) does not change.
//!
//! Each snapshot is composed with the file's config ([`crate::config::compose`]) and planned
//! like any reload. A key whose value is refused (bad YAML, an unknown field, a plugin that
//! does not load) does not hold the others back: its last good version (if there is one)
//! stays in the plan and the refusal is shown with the key and the line and column inside
//! its value ([`plan_with`]). What runs is kept under `data_dir` ([`cache`]) so an agent
//! started while the store is down runs it, and each agent writes its status back
//! ([`report`]).

pub mod cache;
pub mod etcd;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{ConfigError, ConfigErrors, Loaded, compose};
use crate::registry::{Plan, Registry};

/// Every pipeline document of a store, as of one revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The store's revision these documents are as of.
    pub revision: i64,
    /// Each pipeline's YAML text, by name.
    pub pipelines: BTreeMap<String, String>,
}

/// A plan of the file's config and a snapshot's documents.
pub struct Composed {
    /// What runs.
    pub plan: Plan,
    /// The documents in it (a refused key's last good version, or none).
    pub used: BTreeMap<String, String>,
    /// Refused keys' names, with their located errors (one per line).
    pub refused: BTreeMap<String, String>,
}

/// Plans `local` with the documents `docs`; `origin` names a document in errors
/// (`{origin}{name}`). A document that is refused is replaced by its version in `fallback`
/// (what runs now) or left out, and planning is tried again; errors in `local` itself
/// refuse the whole.
pub fn plan_with(
    registry: &Registry,
    local: &Loaded,
    origin: &str,
    docs: &BTreeMap<String, String>,
    fallback: &BTreeMap<String, String>,
) -> Result<Composed, ConfigErrors> {
    let mut used = docs.clone();
    let mut refused: BTreeMap<String, String> = BTreeMap::new();
    let mut fell_back: BTreeSet<String> = BTreeSet::new();
    // Each round refuses at least one document (falls back once, then leaves it out).
    for _ in 0..=2 * docs.len().max(fallback.len()) + 1 {
        let composed = compose(
            Loaded::clone(local),
            used.iter()
                .map(|(name, text)| (name.as_str(), format!("{origin}{name}"), text.as_str())),
        );
        let errors = match composed.and_then(|loaded| registry.plan(&loaded)) {
            Ok(plan) => {
                return Ok(Composed {
                    plan,
                    used,
                    refused,
                });
            }
            Err(e) => e,
        };
        let by_doc = by_document(&errors.0, origin, &used);
        if by_doc.len() < errors.0.len() || by_doc.is_empty() {
            // An error of the file's own (or one no document owns): nothing to fall back to.
            return Err(errors);
        }
        let mut texts: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (name, e) in &by_doc {
            texts.entry(name).or_default().push(e.to_string());
        }
        for (name, lines) in texts {
            refused
                .entry(name.to_owned())
                .or_insert_with(|| lines.join("\n"));
            let old = fallback
                .get(name)
                .filter(|_| fell_back.insert(name.to_owned()));
            match old {
                Some(old) if Some(old) != used.get(name) => {
                    used.insert(name.to_owned(), old.clone());
                }
                _ => {
                    used.remove(name);
                }
            }
        }
    }
    unreachable!("every round takes out a document")
}

/// The errors that belong to one of `docs`, with its name.
fn by_document<'e>(
    errors: &'e [ConfigError],
    origin: &str,
    docs: &BTreeMap<String, String>,
) -> Vec<(String, &'e ConfigError)> {
    errors
        .iter()
        .filter_map(|e| {
            let name = e.origin.strip_prefix(origin)?;
            docs.contains_key(name).then(|| (name.to_owned(), e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use crate::plugin::{
        Options, OptionsError, PluginError, Sink, SinkContext, SinkWriter, Source, SourceContext,
    };
    use std::sync::Arc;

    /// Plans are built, never run, here.
    struct Idle;

    #[async_trait::async_trait]
    impl Source for Idle {
        async fn run(&self, _: SourceContext) -> Result<(), PluginError> {
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl Sink for Idle {
        async fn open(&self, _: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError> {
            Err(PluginError::new("not run in these tests"))
        }
    }

    fn registry() -> Registry {
        fn source(_: &Options<'_>) -> Result<Arc<dyn Source>, OptionsError> {
            Ok(Arc::new(Idle))
        }
        fn sink(o: &Options<'_>) -> Result<Arc<dyn Sink>, OptionsError> {
            if o.map.contains_key("broken") {
                return Err(OptionsError::new("broken", "this sink does not start"));
            }
            Ok(Arc::new(Idle))
        }
        let mut r = Registry::default();
        r.source("demo", source).sink("void", sink);
        r
    }

    fn local() -> Loaded {
        let text = "data_dir: /tmp/x\nremote: {etcd: {endpoints: [\"http://127.0.0.1:1\"], prefix: /p/}}\npipelines:\n  web:\n    sources: [{type: demo}]\n    sinks: [{type: void}]\n";
        load_str(text, "agent.yaml".into(), ".".into()).unwrap()
    }

    const GOOD: &str = "sources: [{type: demo}]\nsinks: [{type: void}]\n";
    const BROKEN: &str = "sources: [{type: demo}]\nsinks:\n  - type: void\n    broken: yes\n";

    fn docs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn names(c: &Composed) -> Vec<&str> {
        c.plan.pipelines.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn good_documents_join_the_file() {
        let c = plan_with(
            &registry(),
            &local(),
            "etcd:/p/pipelines/",
            &docs(&[("api", GOOD)]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(names(&c), ["api", "web"]);
        assert!(c.refused.is_empty());
    }

    #[test]
    fn a_refused_key_keeps_its_last_good_version_and_the_others_go_on() {
        let now = docs(&[("api", GOOD), ("db", GOOD)]);
        let next = docs(&[("api", BROKEN), ("db", GOOD), ("new", GOOD)]);
        let c = plan_with(&registry(), &local(), "etcd:/p/pipelines/", &next, &now).unwrap();
        assert_eq!(names(&c), ["api", "db", "new", "web"]);
        assert_eq!(c.used["api"], GOOD);
        let why = &c.refused["api"];
        assert!(
            why.starts_with("etcd:/p/pipelines/api:4:5: sinks[0].broken: this sink does not start"),
            "{why}"
        );
    }

    #[test]
    fn a_refused_key_with_no_good_version_is_left_out() {
        let next = docs(&[("api", "sources: [\n"), ("db", GOOD)]);
        let c = plan_with(
            &registry(),
            &local(),
            "etcd:/p/pipelines/",
            &next,
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(names(&c), ["db", "web"]);
        assert!(c.refused.contains_key("api"));
        assert!(!c.used.contains_key("api"));
    }

    #[test]
    fn a_name_clash_with_the_file_refuses_the_key_only() {
        let c = plan_with(
            &registry(),
            &local(),
            "etcd:/p/pipelines/",
            &docs(&[("web", GOOD)]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(names(&c), ["web"]);
        assert!(
            c.refused["web"].contains("also defined at agent.yaml:4:3"),
            "{:?}",
            c.refused
        );
    }
}
