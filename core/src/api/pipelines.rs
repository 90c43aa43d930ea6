//! The document `GET /pipelines` answers: the daemon's config, reload history and every
//! pipeline with its state, last error, checkpoint lag and per-component counters.
//!
//! Built from one read of [`Status`] per request; the counters are read from their atomics
//! here, so the hot path pays nothing for the API.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::Role;
use crate::metrics::{COUNTERS, Snapshot};
use crate::status::{
    Changes, ComponentStatus, PipelineStatus, ReloadOutcome, ReloadRecord, State, Status,
};

/// The whole `GET /pipelines` document.
#[derive(Debug, Clone, Serialize)]
pub struct PipelinesDoc {
    /// The config file, or `null` for the embedded config.
    pub config: Option<String>,
    /// When the daemon started (RFC 3339).
    pub started_at: String,
    /// Reloads applied and refused since the start.
    pub reloads: ReloadCounts,
    /// Plugin files swapped in, and swaps that failed, since the start.
    pub plugin_swaps: SwapCounts,
    /// The last reload attempt, if any.
    pub last_reload: Option<LastReload>,
    /// Every pipeline, by name.
    pub pipelines: BTreeMap<String, PipelineDoc>,
    /// The config store, when `remote:` names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteDoc>,
}

/// The config store as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteDoc {
    /// `etcd`.
    pub kind: &'static str,
    /// Its endpoints.
    pub endpoints: Vec<String>,
    /// This agent's prefix.
    pub prefix: String,
    /// `connected` (read and watched), or `unavailable` (retried with backoff; what runs
    /// stays).
    pub state: &'static str,
    /// Why it was last unavailable.
    pub last_error: Option<String>,
    /// The newest revision read.
    pub revision_seen: i64,
    /// The revision whose pipelines run.
    pub revision_applied: i64,
    /// The remote pipelines running are the copy kept under `data_dir` (the store did not
    /// answer at start).
    pub from_cache: bool,
    /// Keys whose value was refused, with the located errors.
    pub refused: BTreeMap<String, String>,
}

/// Reload attempts by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReloadCounts {
    /// A new config took effect.
    pub applied: u64,
    /// The new config was invalid; the running one stayed.
    pub refused: u64,
}

/// Plugin hot swaps by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SwapCounts {
    /// The new plugin runs.
    pub applied: u64,
    /// The new plugin failed to compile or `init`; the old one kept running.
    pub failed: u64,
}

/// One reload attempt as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastReload {
    /// When it was attempted (RFC 3339).
    pub at: String,
    /// What asked for it: `file`, `SIGHUP` or `api`.
    pub trigger: &'static str,
    /// Whether the new config took effect.
    pub ok: bool,
    /// Why it was refused (`null` when applied).
    pub error: Option<String>,
    /// Pipelines started (empty when refused).
    pub added: Vec<String>,
    /// Pipelines restarted with a new definition.
    pub changed: Vec<String>,
    /// Pipelines stopped.
    pub removed: Vec<String>,
    /// Pipelines not touched.
    pub unchanged: Vec<String>,
}

/// One pipeline as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineDoc {
    /// `running`, `blocked`, `restarting`, `failed` (its least healthy component's) or
    /// `stopping`.
    pub state: &'static str,
    /// When this incarnation started (RFC 3339).
    pub started_at: String,
    /// The last reload or plugin swap that touched it (RFC 3339), if any.
    pub last_reload: Option<String>,
    /// Restarts of all its components.
    pub restarts: u64,
    /// The last error reported for it, if any.
    pub last_error: Option<String>,
    /// The longest time acknowledged progress of one of its sources has waited to be written.
    pub checkpoint_lag_seconds: f64,
    /// Its components in order: sources, filters, sinks.
    pub components: Vec<ComponentDoc>,
    /// The config store key it came from (absent for the file's pipelines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// One component's counters, mapped to what went in, out and was dropped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentDoc {
    /// Its id in the pipeline (`sources[0]`, `filters[1]`, `sinks[0]`).
    pub id: String,
    /// `source`, `filter` or `sink`.
    pub role: &'static str,
    /// Its type (`file`, `stdout`, ...) or, for a filter, the plugin's name.
    pub kind: String,
    /// `running`, `blocked`, `restarting` or `failed`.
    pub state: &'static str,
    /// What it is connected to, as the server said (`Elasticsearch 8.15.0`), once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Events received (a source's and a sink's equal what they emit or deliver).
    pub events_in: u64,
    /// Events emitted (sources, filters) or delivered (sinks).
    pub events_out: u64,
    /// Events a filter dropped (0 for sources and sinks).
    pub events_dropped: u64,
    /// Message bytes received.
    pub bytes_in: u64,
    /// Message bytes emitted or delivered.
    pub bytes_out: u64,
    /// Message bytes a filter dropped.
    pub bytes_dropped: u64,
    /// Events written to the dead-letter file.
    pub dead_lettered: u64,
    /// Failed attempts (each retried).
    pub errors: u64,
    /// Restarts after a panic or an error.
    pub restarts: u64,
    /// Plugin calls that trapped or hit a limit.
    pub traps: u64,
    /// Time spent in plugin calls, in seconds.
    pub call_seconds: f64,
    /// Every counter that applies to its role, by name ([`crate::metrics::COUNTERS`]).
    pub counters: BTreeMap<&'static str, u64>,
    /// The WASM plugin it runs now (filters and WASM sinks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginDoc>,
}

/// A WASM plugin as the API shows it: which file, and which version of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginDoc {
    /// The `.wasm` file.
    pub path: String,
    /// The hash of its content (16 hex digits): changes with every swap.
    pub hash: String,
}

impl PipelinesDoc {
    /// Reads `status` once (holding its lock only while copying) into the document.
    pub fn read(status: &Status) -> PipelinesDoc {
        let state = status.read();
        PipelinesDoc::from_state(status, &state)
    }

    /// The document from the daemon-wide counters of `status` and the locked `state`.
    fn from_state(status: &Status, state: &State) -> PipelinesDoc {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        PipelinesDoc {
            config: state.config_path.as_ref().map(|p| p.display().to_string()),
            started_at: rfc3339(status.started_at),
            reloads: ReloadCounts {
                applied: load(&status.reloads_applied),
                refused: load(&status.reloads_refused),
            },
            plugin_swaps: SwapCounts {
                applied: load(&status.swaps_applied),
                failed: load(&status.swaps_failed),
            },
            last_reload: state.last_reload.as_ref().map(LastReload::from_record),
            pipelines: state
                .pipelines
                .iter()
                .map(|(name, p)| {
                    let mut doc = PipelineDoc::from_status(p);
                    doc.origin = state
                        .remote
                        .as_ref()
                        .filter(|r| r.names.contains(name))
                        .map(|r| format!("etcd:{}pipelines/{name}", r.prefix));
                    (name.clone(), doc)
                })
                .collect(),
            remote: state.remote.as_ref().map(|r| RemoteDoc {
                kind: r.kind,
                endpoints: r.endpoints.clone(),
                prefix: r.prefix.clone(),
                state: if r.connected {
                    "connected"
                } else {
                    "unavailable"
                },
                last_error: r.last_error.clone(),
                revision_seen: r.revision_seen,
                revision_applied: r.revision_applied,
                from_cache: r.from_cache,
                refused: r.refused.clone(),
            }),
        }
    }
}

impl LastReload {
    /// The API's view of one reload record.
    pub fn from_record(record: &ReloadRecord) -> LastReload {
        let (ok, error, changes) = match &record.outcome {
            ReloadOutcome::Applied(changes) => (true, None, changes.clone()),
            ReloadOutcome::Refused(msg) => (false, Some(msg.clone()), Changes::default()),
        };
        LastReload {
            at: rfc3339(record.at),
            trigger: record.trigger,
            ok,
            error,
            added: changes.added,
            changed: changes.changed,
            removed: changes.removed,
            unchanged: changes.unchanged,
        }
    }
}

impl PipelineDoc {
    /// The API's view of one pipeline (reads its counters and ledgers now).
    pub fn from_status(p: &PipelineStatus) -> PipelineDoc {
        PipelineDoc {
            state: p.shown_state(),
            started_at: rfc3339(p.started_at),
            last_reload: p.last_reload.map(rfc3339),
            restarts: p.restarts(),
            last_error: p.latest_error(),
            checkpoint_lag_seconds: max_lag(p).as_secs_f64(),
            components: p.components.iter().map(ComponentDoc::from_status).collect(),
            origin: None,
        }
    }
}

impl ComponentDoc {
    /// Reads one component's counters now and maps them by its role.
    pub fn from_status(c: &ComponentStatus) -> ComponentDoc {
        ComponentDoc::new(c, &c.counters.snapshot())
    }

    /// Maps a snapshot by role: a source's and a sink's `events`/`bytes` are both what went
    /// in and what came out (they drop nothing); a filter counts its input separately.
    pub fn new(c: &ComponentStatus, s: &Snapshot) -> ComponentDoc {
        let (c_role, c_kind) = (c.id.role, c.kind.as_str());
        let role = c_role.as_str();
        let (events_in, bytes_in, events_dropped, bytes_dropped) = match c_role {
            Role::Filter => (s.events_in, s.bytes_in, s.dropped, s.bytes_dropped),
            _ => (s.events, s.bytes, 0, 0),
        };
        ComponentDoc {
            id: c.id.to_string(),
            role,
            kind: c.kind.clone(),
            state: c.counters.state.get().as_str(),
            server: c.counters.server(),
            events_in,
            events_out: s.events,
            events_dropped,
            bytes_in,
            bytes_out: s.bytes,
            bytes_dropped,
            dead_lettered: s.dead_lettered,
            errors: s.errors,
            restarts: s.restarts,
            traps: s.traps,
            call_seconds: Duration::from_nanos(s.call_ns).as_secs_f64(),
            counters: COUNTERS
                .iter()
                .filter(|c| c.scope.applies(c_role, c_kind))
                .map(|c| (c.key, (c.get)(s)))
                .collect(),
            plugin: c.plugin.as_ref().map(|slot| {
                let (path, hash) = slot.current();
                PluginDoc {
                    path: path.display().to_string(),
                    hash: format!("{hash:016x}"),
                }
            }),
        }
    }
}

/// The longest checkpoint lag over a pipeline's ledgers (zero without any).
pub fn max_lag(p: &PipelineStatus) -> Duration {
    p.ledgers
        .iter()
        .map(|l| l.lag())
        .max()
        .unwrap_or(Duration::ZERO)
}

/// `t` as RFC 3339 with milliseconds, in UTC.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    use serde_json::{Value, json};

    use super::*;
    use crate::ComponentId;
    use crate::checkpoint::{Ledger, Mark};
    use crate::metrics::Counters;
    use crate::status::{PipelineState, Status};

    /// A component with the given id and kind and fresh counters.
    fn component(id: ComponentId, kind: &str) -> ComponentStatus {
        ComponentStatus {
            id,
            kind: kind.into(),
            counters: Arc::new(Counters::default()),
            plugin: None,
        }
    }

    /// A status with one pipeline `app` (a file source, a `drop_debug` filter, a stdout
    /// sink) with known counters, a refused reload and one ledger with uncommitted progress.
    /// The temp dir holds the ledger's (never written) file.
    pub(crate) fn sample_status() -> (Arc<Status>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let status = Status::new(Some(PathBuf::from("/etc/logcatch/logcatch.yaml")));
        let set = |c: &std::sync::atomic::AtomicU64, v| c.store(v, Ordering::Relaxed);

        let source = component(ComponentId::source(0), "file");
        set(&source.counters.events, 100);
        set(&source.counters.bytes, 5000);
        set(&source.counters.restarts, 2);
        set(&source.counters.batches, 4);
        set(&source.counters.files_closed, 7);

        let filter = component(ComponentId::filter(0), "drop_debug");
        set(&filter.counters.events_in, 100);
        set(&filter.counters.bytes_in, 5000);
        set(&filter.counters.events, 60);
        set(&filter.counters.bytes, 3000);
        set(&filter.counters.dropped, 40);
        set(&filter.counters.bytes_dropped, 2000);
        set(&filter.counters.traps, 3);
        set(&filter.counters.dead_lettered, 1);
        set(&filter.counters.call_ns, 1_500_000_000);

        let sink = component(ComponentId::sink(0), "stdout");
        set(&sink.counters.events, 59);
        set(&sink.counters.bytes, 2950);
        set(&sink.counters.errors, 4);
        sink.counters.latency.observe(Duration::from_micros(500));
        sink.counters.latency.observe(Duration::from_millis(3));
        sink.counters.latency.observe(Duration::from_secs(60));

        let ledger = Ledger::open(dir.path().join("source-0.json")).unwrap();
        let mark = Mark {
            offset: 10,
            fingerprint: None,
            tail: None,
            path: None,
            updated: 0,
        };
        ledger.commit(&[("a.log".into(), mark)]);

        let mut state = status.write();
        state.pipelines.insert(
            "app".into(),
            PipelineStatus {
                state: PipelineState::Running,
                started_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
                last_reload: None,
                last_error: Some("filters[0]: plugin swap failed: boom".into()),
                components: vec![source, filter, sink],
                ledgers: vec![Arc::new(ledger)],
                tap: Some(crate::tap::Tap::new(1)),
            },
        );
        state.last_reload = Some(ReloadRecord {
            at: UNIX_EPOCH + Duration::from_secs(1_700_000_100),
            trigger: "SIGHUP",
            outcome: ReloadOutcome::Refused("logcatch.yaml:3:5: pipelines.app: bad".into()),
        });
        drop(state);
        Status::count(&status.reloads_refused);
        Status::count(&status.swaps_failed);
        (status, dir)
    }

    #[test]
    fn document_maps_every_field() {
        let (status, _dir) = sample_status();
        let doc = serde_json::to_value(PipelinesDoc::read(&status)).unwrap();

        assert_eq!(doc["config"], "/etc/logcatch/logcatch.yaml");
        assert!(doc["started_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(doc["reloads"], json!({"applied": 0, "refused": 1}));
        assert_eq!(doc["plugin_swaps"], json!({"applied": 0, "failed": 1}));
        assert_eq!(
            doc["last_reload"],
            json!({
                "at": "2023-11-14T22:15:00.000Z", "trigger": "SIGHUP", "ok": false,
                "error": "logcatch.yaml:3:5: pipelines.app: bad",
                "added": [], "changed": [], "removed": [], "unchanged": []
            })
        );

        let app = &doc["pipelines"]["app"];
        assert_eq!(app["state"], "running");
        assert_eq!(app["started_at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(app["last_reload"], Value::Null);
        assert_eq!(app["restarts"], 2);
        assert_eq!(app["last_error"], "filters[0]: plugin swap failed: boom");
        assert!(app["checkpoint_lag_seconds"].as_f64().unwrap() >= 0.0);

        let components = app["components"].as_array().unwrap();
        assert_eq!(components.len(), 3);
        assert_eq!(
            components[0],
            json!({
                "id": "sources[0]", "role": "source", "kind": "file", "state": "running",
                "events_in": 100, "events_out": 100, "events_dropped": 0,
                "bytes_in": 5000, "bytes_out": 5000, "bytes_dropped": 0,
                "dead_lettered": 0, "errors": 0, "restarts": 2, "traps": 0, "call_seconds": 0.0,
                "counters": {
                    "events": 100, "bytes": 5000, "batches": 4, "errors": 0, "restarts": 2,
                    "lines_split": 0, "invalid_utf8": 0, "files_closed": 7,
                    "multiline_events": 0, "copies_read": 0, "lost_in_rotation": 0
                }
            })
        );
        assert_eq!(
            components[1],
            json!({
                "id": "filters[0]", "role": "filter", "kind": "drop_debug", "state": "running",
                "events_in": 100, "events_out": 60, "events_dropped": 40,
                "bytes_in": 5000, "bytes_out": 3000, "bytes_dropped": 2000,
                "dead_lettered": 1, "errors": 0, "restarts": 0, "traps": 3, "call_seconds": 1.5,
                "counters": {
                    "events": 60, "bytes": 3000, "batches": 0, "errors": 0, "restarts": 0,
                    "events_in": 100, "bytes_in": 5000, "dropped": 40, "bytes_dropped": 2000,
                    "dead_lettered": 1, "traps": 3, "call_ns": 1_500_000_000u64
                }
            })
        );
        assert_eq!(
            components[2],
            json!({
                "id": "sinks[0]", "role": "sink", "kind": "stdout", "state": "running",
                "events_in": 59, "events_out": 59, "events_dropped": 0,
                "bytes_in": 2950, "bytes_out": 2950, "bytes_dropped": 0,
                "dead_lettered": 0, "errors": 4, "restarts": 0, "traps": 0, "call_seconds": 0.0,
                "counters": {
                    "events": 59, "bytes": 2950, "batches": 0, "errors": 4, "restarts": 0,
                    "dead_lettered": 0
                }
            })
        );
    }

    #[test]
    fn a_pipeline_shows_the_state_of_its_least_healthy_component() {
        use crate::health::ComponentState;
        let (status, _dir) = sample_status();
        let state_of = || {
            let doc = serde_json::to_value(PipelinesDoc::read(&status)).unwrap();
            let app = doc["pipelines"]["app"].clone();
            let components: Vec<Value> = app["components"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["state"].clone())
                .collect();
            (app["state"].clone(), components)
        };
        let components = status.read().pipelines["app"].components.clone();
        components[2].counters.state.set(ComponentState::Blocked);
        assert_eq!(
            state_of(),
            (
                json!("blocked"),
                vec![json!("running"), json!("running"), json!("blocked")]
            )
        );
        components[1].counters.state.set(ComponentState::Restarting);
        assert_eq!(state_of().0, "restarting");
        components[1].counters.state.set(ComponentState::Failed);
        assert_eq!(state_of().0, "failed");
        status.write().pipelines.get_mut("app").unwrap().state = PipelineState::Stopping;
        assert_eq!(state_of().0, "stopping");
    }

    #[test]
    fn applied_reload_lists_changes_and_no_error() {
        let record = ReloadRecord {
            at: UNIX_EPOCH,
            trigger: "api",
            outcome: ReloadOutcome::Applied(Changes {
                added: vec!["new".into()],
                changed: vec!["app".into()],
                removed: vec![],
                unchanged: vec!["other".into()],
            }),
        };
        let v = serde_json::to_value(LastReload::from_record(&record)).unwrap();
        assert_eq!(
            v,
            json!({
                "at": "1970-01-01T00:00:00.000Z", "trigger": "api", "ok": true, "error": null,
                "added": ["new"], "changed": ["app"], "removed": [], "unchanged": ["other"]
            })
        );
    }

    #[test]
    fn empty_status_has_null_config_and_reload() {
        let status = Status::new(None);
        let v = serde_json::to_value(PipelinesDoc::read(&status)).unwrap();
        assert_eq!(v["config"], Value::Null);
        assert_eq!(v["last_reload"], Value::Null);
        assert_eq!(v["pipelines"], json!({}));
    }
}
