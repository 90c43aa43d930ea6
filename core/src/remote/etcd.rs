//! The etcd config source: a client for one agent's space (`prefix`), the reader that
//! follows it (read the prefix, then watch from the revision read), and the key operations
//! `logcatch remote` uses.
//!
//! Following is a loop of sessions. A session connects, reads every pipeline key with the
//! revision of that read, hands the whole set over as a [`Snapshot`], and watches the prefix
//! from the next revision, so no change between the read and the watch is missed. Each watch
//! answer updates the set and hands it over again. A session ends when the cluster stops
//! answering (retried with backoff) or the watch is cancelled because its revision was
//! compacted (read again at once).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{
    Certificate, Client, ConnectOptions, EventType, GetOptions, Identity, TlsOptions, WatchOptions,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Snapshot;
use crate::backoff::Backoff;
use crate::config::EtcdConfig;
use crate::log_limit::LogLimit;
use crate::status::{RemoteLink, Status};

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// A TLS file cannot be read.
    #[error("cannot read {path}: {source}")]
    Tls {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The cluster did not answer, or refused.
    #[error("etcd at {endpoints}: {message}")]
    Etcd {
        /// The endpoints tried.
        endpoints: String,
        /// What went wrong (never holds the password).
        message: String,
    },
    /// A watch was cancelled (its revision compacted): the prefix must be read again.
    #[error("the watch was cancelled by etcd ({0}); reading the prefix again")]
    Cancelled(String),
}

/// A connection to one agent's space of an etcd cluster.
pub struct Store {
    client: Client,
    etcd: EtcdConfig,
}

impl Store {
    /// Connects (and authenticates, with `username`) within `timeout`; TLS files resolve
    /// against `base_dir`.
    pub async fn connect(etcd: &EtcdConfig, base_dir: &Path) -> Result<Store, EtcdError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(etcd.timeout)
            .with_timeout(etcd.timeout)
            // A cluster that vanishes without closing the connection is noticed.
            .with_keep_alive(Duration::from_secs(5), etcd.timeout)
            .with_keep_alive_while_idle(true);
        if let (Some(user), Some(password)) = (&etcd.username, &etcd.password) {
            options = options
                .with_user(user.clone(), password.expose())
                .with_auto_token_refresh(true);
        }
        if let Some(tls) = &etcd.tls {
            let read = |p: &Path| {
                let p = base_dir.join(p);
                std::fs::read(&p).map_err(|source| EtcdError::Tls {
                    path: p.display().to_string(),
                    source,
                })
            };
            let mut t = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&tls.ca)?));
            if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
                t = t.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            if let Some(domain) = &tls.domain {
                t = t.domain_name(domain.clone());
            }
            options = options.with_tls(t);
        }
        let connect = Client::connect(&etcd.endpoints, Some(options));
        let client = match tokio::time::timeout(etcd.timeout, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(etcd_error(etcd, &e)),
            Err(_) => return Err(timed_out(etcd)),
        };
        Ok(Store {
            client,
            etcd: etcd.clone(),
        })
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &EtcdConfig {
        &self.etcd
    }

    /// The client, for the status reporter's lease.
    pub(super) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// An error of this store's cluster.
    pub(super) fn error(&self, e: &etcd_client::Error) -> EtcdError {
        etcd_error(&self.etcd, e)
    }

    /// Every pipeline key's text, and the revision of the read.
    pub async fn pipelines(&mut self) -> Result<Snapshot, EtcdError> {
        let prefix = self.etcd.pipelines_prefix();
        let resp = self
            .bounded(|c| c.get(prefix.clone(), Some(GetOptions::new().with_prefix())))
            .await?;
        let revision = resp.header().map_or(0, |h| h.revision());
        let mut pipelines = BTreeMap::new();
        for kv in resp.kvs() {
            if let Some(name) = kv.key().strip_prefix(prefix.as_bytes()) {
                pipelines.insert(
                    String::from_utf8_lossy(name).into_owned(),
                    String::from_utf8_lossy(kv.value()).into_owned(),
                );
            }
        }
        Ok(Snapshot {
            revision,
            pipelines,
        })
    }

    /// One pipeline's text, if its key exists.
    pub async fn get(&mut self, name: &str) -> Result<Option<String>, EtcdError> {
        let key = self.key(name);
        let resp = self.bounded(|c| c.get(key.clone(), None)).await?;
        Ok(resp
            .kvs()
            .first()
            .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()))
    }

    /// Writes one pipeline's text; the revision of the write.
    pub async fn put(&mut self, name: &str, text: &str) -> Result<i64, EtcdError> {
        let key = self.key(name);
        let resp = self
            .bounded(|c| c.put(key.clone(), text.to_owned(), None))
            .await?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    /// Deletes one pipeline's key; whether it existed.
    pub async fn delete(&mut self, name: &str) -> Result<bool, EtcdError> {
        let key = self.key(name);
        let resp = self.bounded(|c| c.delete(key.clone(), None)).await?;
        Ok(resp.deleted() > 0)
    }

    /// Every agent's status key: host and JSON text.
    pub async fn statuses(&mut self) -> Result<Vec<(String, String)>, EtcdError> {
        let prefix = self.etcd.status_prefix();
        let resp = self
            .bounded(|c| c.get(prefix.clone(), Some(GetOptions::new().with_prefix())))
            .await?;
        Ok(resp
            .kvs()
            .iter()
            .filter_map(|kv| {
                let host = kv.key().strip_prefix(prefix.as_bytes())?;
                Some((
                    String::from_utf8_lossy(host).into_owned(),
                    String::from_utf8_lossy(kv.value()).into_owned(),
                ))
            })
            .collect())
    }

    /// The key of pipeline `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.etcd.pipelines_prefix())
    }

    /// Runs one request within `timeout`.
    pub(super) async fn bounded<'a, T, F>(
        &'a mut self,
        call: impl FnOnce(&'a mut Client) -> F,
    ) -> Result<T, EtcdError>
    where
        F: std::future::Future<Output = Result<T, etcd_client::Error>> + 'a,
    {
        let etcd = self.etcd.clone();
        match tokio::time::timeout(etcd.timeout, call(&mut self.client)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(etcd_error(&etcd, &e)),
            Err(_) => Err(timed_out(&etcd)),
        }
    }

    /// Watches the pipeline keys from `snapshot`'s revision on, handing over the updated set
    /// after every change, until the cluster stops answering or `stop`.
    async fn watch(
        &mut self,
        mut snapshot: Snapshot,
        tx: &watch::Sender<Option<Snapshot>>,
        stop: &CancellationToken,
    ) -> Result<(), EtcdError> {
        let prefix = self.etcd.pipelines_prefix();
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(snapshot.revision + 1)
            .with_progress_notify();
        let mut stream = self
            .bounded(|c| c.watch(prefix.clone(), Some(options)))
            .await?;
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                msg = stream.message() => msg,
            };
            let resp = match msg {
                Ok(Some(resp)) => resp,
                Ok(None) => return Err(self.lost("the watch stream ended")),
                Err(e) => return Err(self.error(&e)),
            };
            if resp.canceled() || resp.compact_revision() > 0 {
                return Err(EtcdError::Cancelled(if resp.compact_revision() > 0 {
                    format!("revision compacted up to {}", resp.compact_revision())
                } else {
                    resp.cancel_reason().to_owned()
                }));
            }
            if resp.events().is_empty() {
                continue;
            }
            for event in resp.events() {
                let Some(kv) = event.kv() else { continue };
                let Some(name) = kv.key().strip_prefix(prefix.as_bytes()) else {
                    continue;
                };
                let name = String::from_utf8_lossy(name).into_owned();
                match event.event_type() {
                    EventType::Put => {
                        let text = String::from_utf8_lossy(kv.value()).into_owned();
                        snapshot.pipelines.insert(name, text);
                    }
                    EventType::Delete => {
                        snapshot.pipelines.remove(&name);
                    }
                }
                snapshot.revision = snapshot.revision.max(kv.mod_revision());
            }
            if let Some(h) = resp.header() {
                snapshot.revision = snapshot.revision.max(h.revision());
            }
            tx.send_replace(Some(snapshot.clone()));
        }
    }

    fn lost(&self, what: &str) -> EtcdError {
        EtcdError::Etcd {
            endpoints: self.etcd.endpoints.join(","),
            message: what.to_owned(),
        }
    }
}

fn etcd_error(etcd: &EtcdConfig, e: &etcd_client::Error) -> EtcdError {
    EtcdError::Etcd {
        endpoints: etcd.endpoints.join(","),
        message: e.to_string(),
    }
}

fn timed_out(etcd: &EtcdConfig) -> EtcdError {
    EtcdError::Etcd {
        endpoints: etcd.endpoints.join(","),
        message: format!("no answer within {:?} (remote.etcd.timeout)", etcd.timeout),
    }
}

/// Follows the pipeline keys until `stop`: every version of the whole set goes to `tx` (a
/// watch channel: a reader that falls behind sees the latest). While the cluster is away
/// it retries with backoff (1 s doubling to 30 s, jittered), and says so in `status` and,
/// rate-limited, in the log.
pub async fn follow(
    etcd: EtcdConfig,
    base_dir: std::path::PathBuf,
    tx: watch::Sender<Option<Snapshot>>,
    status: Arc<Status>,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::jittered(Duration::from_secs(1), Duration::from_secs(30));
    let mut warn = LogLimit::new(Duration::from_secs(60));
    loop {
        let error = tokio::select! {
            _ = stop.cancelled() => return,
            e = session(&etcd, &base_dir, &tx, &status, &stop, &mut backoff) => e,
        };
        if stop.is_cancelled() {
            return;
        }
        let wait = match &error {
            EtcdError::Cancelled(_) => Duration::ZERO,
            _ => backoff.step(),
        };
        set_link(&status, |l| {
            l.connected = false;
            l.last_error = Some(error.to_string());
        });
        if let Some(held) = warn.allow(Instant::now()) {
            tracing::warn!(
                retry_in_ms = wait.as_millis() as u64,
                held_back = held,
                "config store unavailable; the pipelines keep running what they have: {error}"
            );
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One session: connect, read, hand over, watch; why it ended.
async fn session(
    etcd: &EtcdConfig,
    base_dir: &Path,
    tx: &watch::Sender<Option<Snapshot>>,
    status: &Status,
    stop: &CancellationToken,
    backoff: &mut Backoff,
) -> EtcdError {
    let mut store = match Store::connect(etcd, base_dir).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    let snapshot = match store.pipelines().await {
        Ok(s) => s,
        Err(e) => return e,
    };
    let was_away = !status.read().remote.as_ref().is_some_and(|l| l.connected);
    set_link(status, |l| {
        l.connected = true;
        l.revision_seen = snapshot.revision;
    });
    if was_away {
        tracing::info!(
            revision = snapshot.revision,
            pipelines = snapshot.pipelines.len(),
            "config store reached; following {}",
            etcd.pipelines_prefix()
        );
    }
    *backoff = Backoff::jittered(Duration::from_secs(1), Duration::from_secs(30));
    tx.send_replace(Some(snapshot.clone()));
    match store.watch(snapshot, tx, stop).await {
        Ok(()) => store.lost("stopped"),
        Err(e) => e,
    }
}

/// Changes the remote link's state in `status`.
fn set_link(status: &Status, change: impl FnOnce(&mut RemoteLink)) {
    if let Some(l) = status.write().remote.as_mut() {
        change(l);
    }
}
