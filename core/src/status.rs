//! What the admin API shows: each pipeline's state and counters, and the outcome of the last
//! reload. The daemon writes it (at start, on reload, on a plugin swap); the API reads it.
//! Counters are shared `Arc`s read at scrape time, so the hot path never touches this lock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use crate::ComponentId;
use crate::checkpoint::Ledger;
use crate::health::ComponentState;
use crate::metrics::Counters;
use crate::reload::swap::Slot;
use crate::tap::Tap;
use crate::wasm::world::{FilterWorld, SinkWorld};

/// The daemon's shared status: one per process.
#[derive(Debug)]
pub struct Status {
    inner: RwLock<State>,
    /// When the daemon started.
    pub started_at: SystemTime,
    /// Reloads applied (a new config took effect).
    pub reloads_applied: AtomicU64,
    /// Reloads refused (the new config was invalid; the running one stayed).
    pub reloads_refused: AtomicU64,
    /// Plugin files swapped in while running.
    pub swaps_applied: AtomicU64,
    /// Plugin files that changed but failed to compile or `init` (the old one kept running).
    pub swaps_failed: AtomicU64,
}

/// Everything behind the lock.
#[derive(Debug, Default)]
pub struct State {
    /// The config file (none for the embedded config).
    pub config_path: Option<PathBuf>,
    /// The last reload attempt, if any.
    pub last_reload: Option<ReloadRecord>,
    /// Every running pipeline, by name.
    pub pipelines: BTreeMap<String, PipelineStatus>,
    /// The config store, when `remote:` names one.
    pub remote: Option<RemoteLink>,
}

/// The config store (`remote:`): whether it answers and what of it runs.
#[derive(Debug, Clone, Default)]
pub struct RemoteLink {
    /// `etcd`.
    pub kind: &'static str,
    /// Its endpoints.
    pub endpoints: Vec<String>,
    /// This agent's prefix in it.
    pub prefix: String,
    /// Whether it is being followed now (read, and watched since).
    pub connected: bool,
    /// Why it was last unavailable, if it was.
    pub last_error: Option<String>,
    /// The newest revision read from it.
    pub revision_seen: i64,
    /// The revision whose pipelines run (some keys may be refused: `refused`).
    pub revision_applied: i64,
    /// The remote pipelines running came from the copy kept under `data_dir`, because the
    /// store could not be reached at start; cleared once it is.
    pub from_cache: bool,
    /// Keys whose value was refused, with the located errors; each one's last good
    /// version (if any) runs instead.
    pub refused: BTreeMap<String, String>,
    /// The running pipelines that came from the store.
    pub names: std::collections::BTreeSet<String>,
}

/// One reload attempt.
#[derive(Debug, Clone)]
pub struct ReloadRecord {
    /// When it was attempted.
    pub at: SystemTime,
    /// What asked for it: `file`, `SIGHUP` or `api`.
    pub trigger: &'static str,
    /// What came of it.
    pub outcome: ReloadOutcome,
}

/// The result of a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new config runs; pipelines by what happened to them.
    Applied(Changes),
    /// The new config was invalid (the message names file, line, column and field); the
    /// running config stays.
    Refused(String),
}

/// Pipeline names by what a reload did to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Started.
    pub added: Vec<String>,
    /// Drained, stopped and started again from their checkpoints.
    pub changed: Vec<String>,
    /// Drained and stopped (their checkpoints are kept).
    pub removed: Vec<String>,
    /// Not touched.
    pub unchanged: Vec<String>,
}

/// A pipeline's lifecycle state (how healthy it is comes from its components:
/// [`PipelineStatus::shown_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineState {
    /// Running.
    Running,
    /// Draining before a stop (removed or changed by a reload, or shutting down).
    Stopping,
    /// Could not start (its checkpoint is unreadable): `last_error` says why; a reload tries
    /// again. The other pipelines run.
    Failed,
}

impl PipelineState {
    /// The state's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            PipelineState::Running => "running",
            PipelineState::Stopping => "stopping",
            PipelineState::Failed => "failed",
        }
    }
}

/// One pipeline as the API shows it.
#[derive(Debug, Clone)]
pub struct PipelineStatus {
    /// Running, stopping, or failed to start.
    pub state: PipelineState,
    /// When this incarnation started (a changed pipeline gets a new one).
    pub started_at: SystemTime,
    /// The last reload or plugin swap that touched this pipeline, if any.
    pub last_reload: Option<SystemTime>,
    /// The last error reported for it (a failed plugin swap, a component that keeps failing).
    pub last_error: Option<String>,
    /// Its components in order: sources, filters, sinks.
    pub components: Vec<ComponentStatus>,
    /// Its sources' checkpoint ledgers (for the checkpoint lag).
    pub ledgers: Vec<Arc<Ledger>>,
    /// Its tap (the console's view of its events); a new one with each incarnation.
    pub tap: Option<Arc<Tap>>,
}

/// One component of a pipeline.
#[derive(Debug, Clone)]
pub struct ComponentStatus {
    /// Its place in the pipeline: `sources[0]`, `filters[1]`, `sinks[0]`.
    pub id: ComponentId,
    /// Its type (`file`, `stdout`, ...) or, for a filter, the plugin's name.
    pub kind: String,
    /// Its live counters.
    pub counters: Arc<Counters>,
    /// The WASM plugin it runs (filters and WASM sinks): the version in its slot now.
    pub plugin: Option<PluginSlot>,
}

/// The slot of a component's WASM plugin, read when the API shows it (a swap changes it).
#[derive(Clone)]
pub enum PluginSlot {
    /// A filter's.
    Filter(Arc<Slot<FilterWorld>>),
    /// A WASM sink's.
    Sink(Arc<Slot<SinkWorld>>),
}

impl std::fmt::Debug for PluginSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (path, hash) = self.current();
        write!(f, "{} ({hash:016x})", path.display())
    }
}

impl PluginSlot {
    /// The file and content hash of the version running now.
    pub fn current(&self) -> (PathBuf, u64) {
        match self {
            PluginSlot::Filter(s) => {
                let p = s.current();
                (p.path.clone(), p.hash)
            }
            PluginSlot::Sink(s) => {
                let p = s.current();
                (p.path.clone(), p.hash)
            }
        }
    }
}

impl PipelineStatus {
    /// The state to show: `stopping` while it drains, otherwise that of its least healthy
    /// component (`running`, `blocked`, `restarting` or `failed`): a pipeline that does not
    /// deliver is never shown as running.
    pub fn shown_state(&self) -> &'static str {
        match self.state {
            PipelineState::Stopping | PipelineState::Failed => self.state.as_str(),
            PipelineState::Running => self
                .components
                .iter()
                .map(|c| c.counters.state.get())
                .max()
                .unwrap_or(ComponentState::Running)
                .as_str(),
        }
    }

    /// The newest error of the pipeline (a failed plugin swap) or of any of its components.
    pub fn latest_error(&self) -> Option<String> {
        let own = self
            .last_error
            .clone()
            .map(|e| (self.last_reload.unwrap_or(self.started_at), e));
        self.components
            .iter()
            .filter_map(|c| c.counters.last_error())
            .chain(own)
            .max_by_key(|(at, _)| *at)
            .map(|(_, e)| e)
    }

    /// Restarts of all its components since this incarnation started.
    pub fn restarts(&self) -> u64 {
        self.components
            .iter()
            .map(|c| c.counters.restarts.load(Ordering::Relaxed))
            .sum()
    }
}

impl Status {
    /// A status with no pipelines yet.
    pub fn new(config_path: Option<PathBuf>) -> Arc<Status> {
        Arc::new(Status {
            inner: RwLock::new(State {
                config_path,
                ..State::default()
            }),
            started_at: SystemTime::now(),
            reloads_applied: AtomicU64::new(0),
            reloads_refused: AtomicU64::new(0),
            swaps_applied: AtomicU64::new(0),
            swaps_failed: AtomicU64::new(0),
        })
    }

    /// Reads the state (the API, once per request).
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        // Writers only replace whole values, so a panicked writer leaves a usable state.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the state (the daemon, on start, reload and swap).
    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one event of `counter` (`reloads_applied`, ...).
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
