//! In-process test seam (feature `testing`): load guests and run a filter chain on batches
//! without the daemon, so the host's fault handling is tested against hostile guests the
//! way wasmtime's own `test-programs` are, by their outcome rather than by parsing logs;
//! and failpoints that make the host itself fail where a test needs it to.
//!
//! Test builds only: nothing here is compiled into a release binary unless the feature is
//! turned on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ack::Ack;
use crate::batch::{Batch, BatchBuilder};
use crate::config::BatchConfig;
use crate::config::{LimitsConfig, OnError};
use crate::dead_letter::DeadLetters;
use crate::metrics::{Counters, Snapshot};
use crate::reload::Slot;
use crate::wasm::chain::Stage;
use crate::wasm::{FilterChain, PluginSpec, WasmError, WasmFilter};

/// The test guest `name` as `scripts/build-guests` builds it (`tests/guests/`, `examples/`).
pub fn guest(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root
        .join("target/guests/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-guests first",
        path.display()
    );
    path
}

/// A batch of `lines` from source `test`, offsets 0, 1, 2...
pub fn batch_of<S: AsRef<str>>(lines: &[S]) -> Batch {
    let bytes = lines.iter().map(|l| l.as_ref().len()).sum();
    let mut b = BatchBuilder::with_capacity(lines.len(), bytes);
    let src = b.source("test");
    for (i, line) in lines.iter().enumerate() {
        b.push(line.as_ref(), src, i as u64, 0);
    }
    b.finish(Ack::none())
}

/// The messages of `batch`, in order.
pub fn messages(batch: &Batch) -> Vec<String> {
    batch.iter().map(|e| e.message().to_owned()).collect()
}

/// One filter of a [`Rig`]: the guest, its `config:` as JSON and its `limits:` as YAML.
pub struct FilterSpec<'a> {
    /// The guest file.
    pub wasm: PathBuf,
    /// Its config, as JSON.
    pub config: &'a str,
    /// Its limits, as YAML (`{}` for the defaults).
    pub limits: &'a str,
}

/// A filter chain running in this process, with its dead letters in a temp directory.
pub struct Rig {
    chain: FilterChain,
    counters: Vec<Arc<Counters>>,
    dead: PathBuf,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// A chain of `filters` under `on_error`, in a pipeline cutting batches at `batch`.
    pub fn new(
        filters: &[FilterSpec<'_>],
        on_error: OnError,
        batch: BatchConfig,
    ) -> Result<Rig, WasmError> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut stages = Vec::new();
        let mut counters = Vec::new();
        for f in filters {
            let limits: LimitsConfig = serde_yaml::from_str(f.limits)
                .map_err(|e| WasmError::Limits(format!("limits: {e}")))?;
            let spec = PluginSpec {
                path: f.wasm.clone(),
                embedded: None,
                config_json: f.config.to_owned(),
                limits,
                allow_hosts: Arc::new([]),
            };
            let filter = WasmFilter::load(spec, &dir.path().join("cache"))?;
            let c = Arc::new(Counters::default());
            stages.push(Stage::new(&Slot::new(filter), c.clone()));
            counters.push(c);
        }
        let dead = dir.path().join("dead_letter.ndjson");
        let chain = FilterChain::new(
            "test".into(),
            stages,
            on_error,
            batch,
            Arc::new(DeadLetters::new(dead.clone(), u64::MAX)),
            crate::tap::Tap::new(counters.len()),
        );
        Ok(Rig {
            chain,
            counters,
            dead,
            _dir: dir,
        })
    }

    /// Runs `batch` through the chain.
    pub fn run(&mut self, batch: Batch) -> Batch {
        self.chain.run(batch)
    }

    /// The dead letters written so far, parsed.
    pub fn dead_letters(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.dead)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a dead letter is JSON"))
            .collect()
    }

    /// The counters of filter `i`.
    pub fn counters(&self, i: usize) -> Snapshot {
        self.counters[i].snapshot()
    }
}

/// Times the failpoint `chain` still fires: read from `LOGCATCH_TEST_CHAIN_PANICS` the
/// first time it is hit.
static CHAIN_PANICS: AtomicU64 = AtomicU64::new(u64::MAX);

/// Failpoint `chain`, hit by the filter chain once per batch: panics (a stand-in for a bug
/// in the host) as many times as `LOGCATCH_TEST_CHAIN_PANICS` says, then never again.
pub fn chain_failpoint() {
    let left = CHAIN_PANICS.load(Ordering::Relaxed);
    let left = if left == u64::MAX {
        let n = std::env::var("LOGCATCH_TEST_CHAIN_PANICS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        CHAIN_PANICS.store(n, Ordering::Relaxed);
        n
    } else {
        left
    };
    if left > 0 {
        CHAIN_PANICS.store(left - 1, Ordering::Relaxed);
        panic!(
            "failpoint `chain`: a host bug, injected ({} more to come)",
            left - 1
        );
    }
}
