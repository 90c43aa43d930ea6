//! Each agent's status, written back to the store: `{prefix}status/{host}` holds a JSON
//! document of what it runs, on a lease that this agent keeps alive, so the key disappears
//! when the agent dies and `etcdctl get --prefix {prefix}status/` lists the live fleet.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::PutOptions;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::etcd::{EtcdError, Store};
use crate::backoff::Backoff;
use crate::config::EtcdConfig;
use crate::status::Status;

/// What one agent writes about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentReport {
    /// The name it reports under.
    pub host: String,
    /// logcatch's version.
    pub version: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// The store revision whose pipelines it runs.
    pub revision: i64,
    /// It runs the copy kept under `data_dir` (the store was unreachable at its start).
    pub from_cache: bool,
    /// Every pipeline it runs, by name.
    pub pipelines: BTreeMap<String, PipelineReport>,
    /// Keys it refused, with the located errors.
    pub refused: BTreeMap<String, String>,
}

/// One pipeline in an [`AgentReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineReport {
    /// `etcd` or `file`.
    pub origin: String,
    /// As in `/pipelines`: `running`, `blocked`, `restarting`, `failed`, `stopping`.
    pub state: String,
    /// Its newest error, if any.
    pub last_error: Option<String>,
    /// Restarts of its components since it started.
    pub restarts: u64,
}

/// The report of this agent as `status` has it now.
pub fn report_of(status: &Status, host: &str) -> AgentReport {
    let state = status.read();
    let remote = state.remote.clone().unwrap_or_default();
    AgentReport {
        host: host.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: crate::api::pipelines::rfc3339(status.started_at),
        revision: remote.revision_applied,
        from_cache: remote.from_cache,
        pipelines: state
            .pipelines
            .iter()
            .map(|(name, p)| {
                let origin = if remote.names.contains(name) {
                    "etcd"
                } else {
                    "file"
                };
                let report = PipelineReport {
                    origin: origin.to_owned(),
                    state: p.shown_state().to_owned(),
                    last_error: p.latest_error(),
                    restarts: p.restarts(),
                };
                (name.clone(), report)
            })
            .collect(),
        refused: remote.refused,
    }
}

/// This host's name, as the kernel has it (the default of `remote.etcd.host`).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name = if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    if crate::config::is_valid_host(&name) {
        name
    } else {
        "unknown-host".to_owned()
    }
}

/// How often the report is compared with what was last written (and written if changed).
const EVERY: Duration = Duration::from_secs(1);

/// Keeps `{prefix}status/{host}` up to date on a lease until `stop`, then revokes the lease
/// so the key goes at once. While the store is away it tries again with backoff (the
/// follower logs that the store is unavailable).
pub async fn keep_reporting(
    etcd: EtcdConfig,
    base_dir: PathBuf,
    host: String,
    status: Arc<Status>,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::jittered(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        match session(&etcd, &base_dir, &host, &status, &stop, &mut backoff).await {
            Ok(()) => return,
            Err(e) => tracing::debug!("status report: {e}"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff.step()) => {}
        }
    }
}

async fn session(
    etcd: &EtcdConfig,
    base_dir: &std::path::Path,
    host: &str,
    status: &Status,
    stop: &CancellationToken,
    backoff: &mut Backoff,
) -> Result<(), EtcdError> {
    let mut store = Store::connect(etcd, base_dir).await?;
    let timeout = etcd.timeout;
    let ttl = etcd.lease_ttl.as_secs().max(2) as i64;
    let within = |what: &'static str| EtcdError::Etcd {
        endpoints: etcd.endpoints.join(","),
        message: format!("{what}: no answer within {timeout:?}"),
    };
    let lease = store.bounded(|c| c.lease_grant(ttl, None)).await?.id();
    let (mut keeper, mut answers) = store.bounded(|c| c.lease_keep_alive(lease)).await?;
    *backoff = Backoff::jittered(Duration::from_secs(1), Duration::from_secs(30));
    let key = format!("{}{host}", etcd.status_prefix());
    let keep_every = Duration::from_secs((ttl as u64 / 3).max(1));
    let mut next_keep = tokio::time::Instant::now();
    let mut written: Option<AgentReport> = None;
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => {
                // Gone at once rather than after the lease's time to live.
                let _ = tokio::time::timeout(timeout, store.client().lease_revoke(lease)).await;
                return Ok(());
            }
            _ = tick.tick() => {}
        }
        if tokio::time::Instant::now() >= next_keep {
            if let Err(e) = keeper.keep_alive().await {
                return Err(store.error(&e));
            }
            match tokio::time::timeout(timeout, answers.message()).await {
                Ok(Ok(Some(a))) if a.ttl() > 0 => {}
                Ok(Ok(_)) => {
                    return Err(EtcdError::Etcd {
                        endpoints: etcd.endpoints.join(","),
                        message: "the status lease expired".to_owned(),
                    });
                }
                Ok(Err(e)) => return Err(store.error(&e)),
                Err(_) => return Err(within("lease keep-alive")),
            }
            next_keep += keep_every;
        }
        let report = report_of(status, host);
        if written.as_ref() != Some(&report) {
            let json = serde_json::to_string(&report).unwrap_or_default();
            let put =
                store
                    .client()
                    .put(key.clone(), json, Some(PutOptions::new().with_lease(lease)));
            match tokio::time::timeout(timeout, put).await {
                Ok(Ok(_)) => written = Some(report),
                Ok(Err(e)) => return Err(store.error(&e)),
                Err(_) => return Err(within("status put")),
            }
        }
    }
}
