//! The `remote:` section: a central config store (etcd) whose keys add pipelines to the file's.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{Secret, units};

/// Where pipelines come from besides the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// An etcd v3 cluster: every key `{prefix}pipelines/{NAME}` holds one pipeline's YAML.
    pub etcd: EtcdConfig,
}

/// An etcd cluster and this agent's space in it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdConfig {
    /// Its members' client URLs (`http://10.0.0.1:2379`, `https://...` with `tls:`).
    pub endpoints: Vec<String>,
    /// This host's (or group's) space: pipelines under `{prefix}pipelines/`, the status of
    /// each agent under `{prefix}status/`. Starts and ends with `/`.
    pub prefix: String,
    /// The etcd user (with `password`), when the cluster has authentication on.
    #[serde(default)]
    pub username: Option<String>,
    /// The etcd user's password (never shown).
    #[serde(default)]
    pub password: Option<Secret>,
    /// TLS to the cluster: the CA that signed its certificates, and a client certificate.
    #[serde(default)]
    pub tls: Option<EtcdTls>,
    /// The name this agent reports its status under (default: the host name).
    #[serde(default)]
    pub host: Option<String>,
    /// How long the status key outlives a silent agent (its lease's time to live).
    #[serde(default = "default_lease_ttl", deserialize_with = "units::duration")]
    pub lease_ttl: Duration,
    /// How long one attempt to reach the cluster (connect, read) may take.
    #[serde(default = "default_timeout", deserialize_with = "units::duration")]
    pub timeout: Duration,
}

/// TLS settings to reach etcd.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdTls {
    /// PEM file of the CA that signed the cluster's certificates (default: the system's roots
    /// are not used; a CA is required).
    pub ca: PathBuf,
    /// PEM client certificate, for clusters that check clients (with `key`).
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// The name the servers' certificates are checked against (default: the endpoint's host).
    #[serde(default)]
    pub domain: Option<String>,
}

fn default_lease_ttl() -> Duration {
    Duration::from_secs(10)
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

impl EtcdConfig {
    /// The key prefix of the pipelines.
    pub fn pipelines_prefix(&self) -> String {
        format!("{}pipelines/", self.prefix)
    }

    /// The key prefix of the agents' status.
    pub fn status_prefix(&self) -> String {
        format!("{}status/", self.prefix)
    }

    /// The problems serde cannot see, as (field, message).
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.endpoints.is_empty() {
            out.push(("endpoints", "give at least one etcd endpoint".to_owned()));
        }
        for e in &self.endpoints {
            let ok = e
                .strip_prefix("http://")
                .or_else(|| e.strip_prefix("https://"));
            if ok.is_none_or(|rest| rest.is_empty()) {
                out.push((
                    "endpoints",
                    format!("`{e}` is not a URL such as http://127.0.0.1:2379"),
                ));
            } else if e.starts_with("https://") && self.tls.is_none() {
                out.push((
                    "tls",
                    format!("`{e}` is https: give tls.ca (the CA that signed the cluster's certificates)"),
                ));
            }
        }
        if !self.prefix.starts_with('/') || !self.prefix.ends_with('/') {
            out.push((
                "prefix",
                format!(
                    "`{}` must start and end with `/`, e.g. /logcatch/web/",
                    self.prefix
                ),
            ));
        }
        if self.username.is_some() != self.password.is_some() {
            out.push((
                "password",
                "give both username and password, or neither".to_owned(),
            ));
        }
        if let Some(tls) = &self.tls
            && tls.cert.is_some() != tls.key.is_some()
        {
            out.push((
                "tls",
                "give both tls.cert and tls.key, or neither".to_owned(),
            ));
        }
        if let Some(host) = &self.host
            && !is_valid_host(host)
        {
            out.push((
                "host",
                format!("`{host}` may only use letters, digits, `.`, `-` and `_` (at most 253)"),
            ));
        }
        if self.lease_ttl < Duration::from_secs(2) {
            out.push(("lease_ttl", "must be at least 2s".to_owned()));
        }
        if self.timeout.is_zero() {
            out.push(("timeout", "must be more than zero".to_owned()));
        }
        out
    }
}

/// A host name as it may appear in a status key: letters, digits, `.`, `-`, `_`.
pub fn is_valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}
