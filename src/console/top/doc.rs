//! The part of the agent's `GET /pipelines` document that `logcatch top` shows, as it comes
//! over the wire (defined by `logcatch_core::api::pipelines::PipelinesDoc`). Every field has
//! a default, so an agent that adds or omits a field still shows.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole document.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Doc {
    /// Reloads applied and refused since the agent started.
    pub reloads: ReloadCounts,
    /// The last reload attempt, if any.
    pub last_reload: Option<LastReload>,
    /// Every pipeline, by name.
    pub pipelines: BTreeMap<String, Pipeline>,
}

/// Reload attempts by outcome.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub struct ReloadCounts {
    /// A new config took effect.
    pub applied: u64,
    /// The new config was invalid; the running one stayed.
    pub refused: u64,
}

/// One reload attempt.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LastReload {
    /// When (RFC 3339).
    pub at: String,
    /// What asked for it: `file`, `SIGHUP` or `api`.
    pub trigger: String,
    /// Whether the new config took effect.
    pub ok: bool,
    /// Why it was refused.
    pub error: Option<String>,
    /// Pipelines started.
    pub added: Vec<String>,
    /// Pipelines restarted with a new definition.
    pub changed: Vec<String>,
    /// Pipelines stopped.
    pub removed: Vec<String>,
}

/// One pipeline.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Pipeline {
    /// `running`, `blocked`, `restarting`, `failed` or `stopping`.
    pub state: String,
    /// When this incarnation started (RFC 3339).
    pub started_at: String,
    /// The last reload or plugin swap that touched it (RFC 3339).
    pub last_reload: Option<String>,
    /// Restarts of all its components.
    pub restarts: u64,
    /// The last error reported for it.
    pub last_error: Option<String>,
    /// The longest time acknowledged progress of one of its sources has waited to be written.
    pub checkpoint_lag_seconds: f64,
    /// Its components in order: sources, filters, sinks.
    pub components: Vec<Component>,
    /// The config store key it came from (absent for the file's pipelines).
    pub origin: Option<String>,
}

/// One component's counters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Component {
    /// Its id in the pipeline (`sources[0]`, `filters[1]`, `sinks[0]`).
    pub id: String,
    /// `source`, `filter` or `sink`.
    pub role: String,
    /// Its type or, for a filter, the plugin's name.
    pub kind: String,
    /// `running`, `blocked`, `restarting` or `failed`.
    pub state: String,
    /// Events received.
    pub events_in: u64,
    /// Events emitted (sources, filters) or delivered (sinks).
    pub events_out: u64,
    /// Events a filter dropped.
    pub events_dropped: u64,
    /// Events written to the dead-letter file.
    pub dead_lettered: u64,
    /// Failed attempts (each retried).
    pub errors: u64,
    /// Restarts after a panic or an error.
    pub restarts: u64,
    /// Time spent in plugin calls, in seconds.
    pub call_seconds: f64,
    /// The WASM plugin it runs now.
    pub plugin: Option<Plugin>,
}

/// A WASM plugin: which file, and which version of it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Plugin {
    /// The `.wasm` file.
    pub path: String,
    /// The hash of its content (16 hex digits).
    pub hash: String,
}

impl Pipeline {
    /// Events that entered the pipeline: what its sources emitted.
    pub fn events_in(&self) -> u64 {
        self.sum(|c| (c.role == "source").then_some(c.events_out))
    }

    /// Events delivered, summed over its sinks (each sink gets every event, so with two
    /// sinks this is twice what went in).
    pub fn events_out(&self) -> u64 {
        self.sum(|c| (c.role == "sink").then_some(c.events_out))
    }

    /// Events its filters dropped.
    pub fn dropped(&self) -> u64 {
        self.sum(|c| Some(c.events_dropped))
    }

    /// Events its components dead-lettered.
    pub fn dead_lettered(&self) -> u64 {
        self.sum(|c| Some(c.dead_lettered))
    }

    /// Failed attempts of its components.
    pub fn errors(&self) -> u64 {
        self.sum(|c| Some(c.errors))
    }

    /// The component with id `id`.
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    fn sum(&self, of: impl Fn(&Component) -> Option<u64>) -> u64 {
        self.components
            .iter()
            .filter_map(of)
            .fold(0, u64::saturating_add)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_the_agents_document_and_sums_by_role() {
        let doc: Doc = serde_json::from_value(json!({
            "config": "/etc/logcatch.yaml",
            "reloads": {"applied": 2, "refused": 1},
            "last_reload": {"at": "2026-01-01T00:00:00.000Z", "trigger": "api", "ok": false,
                            "error": "bad", "added": [], "changed": [], "removed": [],
                            "unchanged": ["a"]},
            "pipelines": {"a": {
                "state": "running", "started_at": "2026-01-01T00:00:00.000Z",
                "last_reload": null, "restarts": 1, "last_error": null,
                "checkpoint_lag_seconds": 0.5,
                "components": [
                    {"id": "sources[0]", "role": "source", "kind": "demo", "state": "running",
                     "events_in": 10, "events_out": 10, "errors": 1, "counters": {}},
                    {"id": "filters[0]", "role": "filter", "kind": "drop", "state": "running",
                     "events_in": 10, "events_out": 7, "events_dropped": 3, "dead_lettered": 1,
                     "call_seconds": 0.25, "plugin": {"path": "d.wasm", "hash": "00ff"}},
                    {"id": "sinks[0]", "role": "sink", "kind": "blackhole", "state": "blocked",
                     "events_in": 6, "events_out": 6, "errors": 2},
                    {"id": "sinks[1]", "role": "sink", "kind": "stdout", "state": "running",
                     "events_in": 7, "events_out": 7}
                ]
            }}
        }))
        .unwrap();
        assert_eq!(doc.reloads.applied, 2);
        assert_eq!(
            doc.last_reload.as_ref().unwrap().error.as_deref(),
            Some("bad")
        );
        let a = &doc.pipelines["a"];
        assert_eq!(a.events_in(), 10);
        assert_eq!(a.events_out(), 13);
        assert_eq!(a.dropped(), 3);
        assert_eq!(a.dead_lettered(), 1);
        assert_eq!(a.errors(), 3);
        assert_eq!(
            a.component("filters[0]")
                .unwrap()
                .plugin
                .as_ref()
                .unwrap()
                .hash,
            "00ff"
        );
        assert!(a.component("filters[9]").is_none());
    }

    #[test]
    fn missing_fields_take_defaults() {
        let doc: Doc = serde_json::from_value(json!({"pipelines": {"p": {}}})).unwrap();
        assert!(doc.last_reload.is_none());
        assert_eq!(doc.pipelines["p"].events_in(), 0);
    }
}
