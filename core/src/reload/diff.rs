//! The reload diff: which pipelines a new config adds, changes, removes or leaves alone, and
//! which top-level settings cannot change without a restart.
//!
//! A pipeline's identity is its definition as written (after `${VAR}` expansion) plus the
//! content hashes of its plugin files, so replacing only a `.wasm` and sending SIGHUP is seen
//! as a change, and touching a file without changing it is not.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::swap::Slot;
use crate::config::PipelineConfig;
use crate::registry::Plan;
use crate::status::Changes;
use crate::wasm::{FilterWorld, SinkWorld};

/// What identifies a running pipeline across reloads.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Its definition in the config.
    pub definition: PipelineConfig,
    /// Content hashes of the plugins it runs: its filters', then its WebAssembly sinks'.
    pub plugins: Vec<u64>,
}

impl Identity {
    /// The identity of a pipeline defined as `definition` that runs the current versions
    /// of `filters` and `sinks`.
    pub fn of<'a>(
        definition: &PipelineConfig,
        filters: &[Arc<Slot<FilterWorld>>],
        sinks: impl Iterator<Item = &'a Arc<Slot<SinkWorld>>>,
    ) -> Self {
        let filters = filters.iter().map(|f| f.current().hash);
        Identity {
            definition: definition.clone(),
            plugins: filters.chain(sinks.map(|s| s.current().hash)).collect(),
        }
    }
}

/// The identity of every pipeline of `plan`.
pub fn identities(plan: &Plan) -> BTreeMap<String, Identity> {
    plan.pipelines
        .iter()
        .map(|p| {
            let sinks = p.wasm_sinks.iter().map(|s| &s.slot);
            let id = Identity::of(&p.definition, &p.filters, sinks);
            (p.name.clone(), id)
        })
        .collect()
}

/// Pipelines of `next` by what happens to them, compared with `running` (names sorted).
pub fn diff(running: &BTreeMap<String, Identity>, next: &BTreeMap<String, Identity>) -> Changes {
    let mut changes = Changes::default();
    for (name, id) in next {
        match running.get(name) {
            None => changes.added.push(name.clone()),
            Some(old) if old == id => changes.unchanged.push(name.clone()),
            Some(_) => changes.changed.push(name.clone()),
        }
    }
    changes.removed = running
        .keys()
        .filter(|name| !next.contains_key(*name))
        .cloned()
        .collect();
    changes
}

/// The settings outside `pipelines` that only a restart can change, as one message naming
/// them, or `None` when the new plan keeps them. (`cache_dir` and `shutdown_timeout` apply
/// live: the next plugin load and the next shutdown use the new values.)
pub fn fixed_settings_changed(running: &Plan, next: &Plan) -> Option<String> {
    let mut changed = Vec::new();
    if running.data_dir != next.data_dir {
        changed.push("data_dir (checkpoints and dead letters would move)");
    }
    if running.checkpoint != next.checkpoint {
        changed.push("checkpoint (every pipeline's checkpoint writer uses it)");
    }
    if running.dead_letter != next.dead_letter {
        changed.push("dead_letter (every pipeline's dead-letter file uses it)");
    }
    if running.api != next.api {
        changed.push("api (the API would have to move while it answers)");
    }
    if running.remote != next.remote {
        changed.push("remote (the config store is followed from the start)");
    }
    (!changed.is_empty()).then(|| {
        format!(
            "{} cannot change while running; restart logcatch to apply {}",
            changed.join(", "),
            if changed.len() == 1 { "it" } else { "them" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    fn ids(yaml: &str) -> BTreeMap<String, Identity> {
        let loaded = load_str(yaml, "t.yaml".into(), ".".into()).expect("valid config");
        loaded
            .config
            .pipelines
            .iter()
            .map(|(n, p)| {
                let id = Identity {
                    definition: p.clone(),
                    plugins: Vec::new(),
                };
                (n.clone(), id)
            })
            .collect()
    }

    const BASE: &str = "\
pipelines:
  a: { sources: [{ type: demo }], sinks: [{ type: stdout }] }
  b: { sources: [{ type: demo }], sinks: [{ type: stdout }] }
  c: { sources: [{ type: demo }], sinks: [{ type: stdout }] }
";

    #[test]
    fn pipelines_are_added_changed_removed_or_left_alone() {
        let next = "\
pipelines:
  a: { sources: [{ type: demo }], sinks: [{ type: stdout }] }
  b: { sources: [{ type: demo, rate: 5 }], sinks: [{ type: stdout }] }
  d: { sources: [{ type: demo }], sinks: [{ type: stdout }] }
";
        let c = diff(&ids(BASE), &ids(next));
        assert_eq!(c.unchanged, ["a"]);
        assert_eq!(c.changed, ["b"]);
        assert_eq!(c.added, ["d"]);
        assert_eq!(c.removed, ["c"]);
    }

    #[test]
    fn formatting_and_order_are_not_changes() {
        let reformatted = "\
# a comment
pipelines:
  c:
    sources:
      - type: demo
    sinks:
      - type: stdout
  b: { sinks: [{ type: stdout }], sources: [{ type: demo }] }
  a: { sources: [{ type: demo }], sinks: [{ type: stdout }] }
";
        let c = diff(&ids(BASE), &ids(reformatted));
        assert_eq!(c.unchanged, ["a", "b", "c"]);
        assert!(c.added.is_empty() && c.changed.is_empty() && c.removed.is_empty());
    }

    #[test]
    fn a_new_plugin_file_is_a_change() {
        let old = ids(BASE);
        let mut next = old.clone();
        next.get_mut("a").unwrap().plugins = vec![42];
        assert_eq!(diff(&old, &next).changed, ["a"]);
    }
}
