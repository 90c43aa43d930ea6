//! What the running plan is made of (the file's config and the store's documents) and how
//! a change to either becomes a candidate for [`super::apply::Topology::offer`].

use std::collections::BTreeMap;

use super::Loader;
use crate::config::{ConfigErrors, EtcdConfig, Loaded};
use crate::data_dir;
use crate::registry::Registry;
use crate::remote::{self, Composed, Snapshot, cache};
use crate::status::{ReloadOutcome, Status};

use super::apply::Topology;

/// The inputs of the running plan.
pub(crate) struct Inputs {
    /// Plans configs: the known source and sink types.
    pub(crate) registry: Registry,
    /// The file's config as it runs.
    pub(crate) local: Loaded,
    /// Reads the file again (none for the embedded config).
    pub(crate) loader: Option<Loader>,
    /// The store's documents as they run, when `remote:` names one.
    pub(crate) remote: Option<RemoteInputs>,
}

/// The store's part of the running plan.
pub(crate) struct RemoteInputs {
    /// The store.
    pub(crate) etcd: EtcdConfig,
    /// The documents that run, by pipeline name.
    pub(crate) running: BTreeMap<String, String>,
}

impl RemoteInputs {
    /// How errors name a document: `etcd:{prefix}pipelines/`, then the pipeline's name.
    pub(crate) fn origin(&self) -> String {
        format!("etcd:{}", self.etcd.pipelines_prefix())
    }
}

impl Inputs {
    /// Plans `local` with `docs` (falling back, key by key, to what runs), off the reactor:
    /// compiling plugins is CPU work.
    pub(crate) async fn plan(
        &self,
        local: Loaded,
        docs: Option<BTreeMap<String, String>>,
    ) -> Result<Composed, ConfigErrors> {
        let registry = self.registry.clone();
        let remote = self.remote.as_ref().map(|r| {
            let docs = docs.unwrap_or_else(|| r.running.clone());
            (r.origin(), docs, r.running.clone())
        });
        let planned = tokio::task::spawn_blocking(move || match remote {
            Some((origin, docs, fallback)) => {
                remote::plan_with(&registry, &local, &origin, &docs, &fallback)
            }
            None => registry.plan(&local).map(|plan| Composed {
                plan,
                used: BTreeMap::new(),
                refused: BTreeMap::new(),
            }),
        });
        match planned.await {
            Ok(planned) => planned,
            Err(e) => Err(ConfigErrors::one(crate::config::ConfigError {
                origin: self.local.origin.clone(),
                line: 0,
                column: 0,
                path: String::new(),
                message: format!("planning the config panicked: {e}"),
            })),
        }
    }

    /// The file was edited (or SIGHUP, or `POST /reload`): read it again and offer it with
    /// the store's documents as they run. A store document the new file clashes with refuses
    /// the whole reload.
    pub(crate) async fn reload_file(
        &mut self,
        d: &mut Topology,
        trigger: &'static str,
    ) -> ReloadOutcome {
        tracing::info!(trigger, "reloading the config");
        let Some(loader) = self.loader.clone() else {
            return d.offer(
                trigger,
                Err("this logcatch runs the embedded config: there is no file to reload; start it with -c FILE".into()),
            );
        };
        let local = match tokio::task::spawn_blocking(move || loader()).await {
            Ok(Ok(local)) => local,
            Ok(Err(e)) => return d.offer(trigger, Err(e.to_string())),
            Err(e) => return d.offer(trigger, Err(format!("loading the config panicked: {e}"))),
        };
        let candidate = match self.plan(local.clone(), None).await {
            Ok(c) if c.refused.is_empty() => probed(c),
            Ok(c) => Err(joined(&c.refused)),
            Err(e) => Err(e.to_string()),
        };
        let candidate = candidate.map(|c| c.plan);
        let outcome = d.offer(trigger, candidate);
        if matches!(outcome, ReloadOutcome::Applied(_)) {
            self.local = local;
        }
        outcome
    }

    /// The store has a new version of its documents: offer the file's config with them. A
    /// key that is refused keeps its last good version (or stays out) and is shown in
    /// `/pipelines` with its error; the other keys' changes apply.
    pub(crate) async fn reload_remote(
        &mut self,
        d: &mut Topology,
        snapshot: Snapshot,
    ) -> Option<ReloadOutcome> {
        let status = d.status.clone();
        let remote = self.remote.as_ref()?;
        let (etcd, origin) = (remote.etcd.clone(), remote.origin());
        tracing::info!(
            revision = snapshot.revision,
            pipelines = snapshot.pipelines.len(),
            "applying the config store's pipelines"
        );
        let planned = self
            .plan(self.local.clone(), Some(snapshot.pipelines.clone()))
            .await;
        let (candidate, refused, used) = match planned {
            Ok(c) => {
                let refused = c.refused.clone();
                let used = c.used.clone();
                if !refused.is_empty() && used == remote.running {
                    // Only refusals: nothing would change.
                    (Err(joined(&refused)), refused, None)
                } else {
                    for (name, why) in &refused {
                        let why = why.lines().collect::<Vec<_>>().join("; ");
                        tracing::error!(key = %format!("{origin}{name}"), "pipeline refused; its last good version (if any) runs: {why}");
                    }
                    (probed(c).map(|c| c.plan), refused, Some(used))
                }
            }
            Err(e) => (Err(e.to_string()), BTreeMap::new(), None),
        };
        let outcome = d.offer("etcd", candidate);
        let applied = matches!(outcome, ReloadOutcome::Applied(_));
        {
            let mut state = status.write();
            if let Some(link) = state.remote.as_mut() {
                link.revision_seen = link.revision_seen.max(snapshot.revision);
                link.refused = refused
                    .into_iter()
                    .map(|(name, why)| (format!("{}{name}", etcd.pipelines_prefix()), why))
                    .collect();
                if applied {
                    link.revision_applied = snapshot.revision;
                    link.from_cache = false;
                }
            }
        }
        if applied && let Some(used) = used {
            self.set_running(&status, used, snapshot.revision);
        }
        Some(outcome)
    }

    /// The store documents `used` run now (as of `revision`): remembered, shown, and kept
    /// under `data_dir` for a start while the store is down.
    pub(crate) fn set_running(
        &mut self,
        status: &Status,
        used: BTreeMap<String, String>,
        revision: i64,
    ) {
        let Some(remote) = self.remote.as_mut() else {
            return;
        };
        if let Some(link) = status.write().remote.as_mut() {
            link.names = used.keys().cloned().collect();
        }
        let data_dir = self.local.data_dir();
        if let Err(e) = cache::save(&data_dir, &remote.etcd, revision, &used) {
            tracing::warn!("cannot keep the remote config for a start while etcd is down: {e}");
        }
        remote.running = used;
    }
}

/// A candidate whose `data_dir` is usable.
fn probed(c: Composed) -> Result<Composed, String> {
    // An unreadable checkpoint stops only its pipeline, at its start.
    data_dir::probe(&c.plan.data_dir).map_err(|e| e.to_string())?;
    Ok(c)
}

/// Refused documents' errors, one per line.
fn joined(refused: &BTreeMap<String, String>) -> String {
    refused.values().cloned().collect::<Vec<_>>().join("\n")
}
