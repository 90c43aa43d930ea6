//! The last good remote config, kept under `data_dir`: an agent restarted while its config
//! store is down starts from it instead of from nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Snapshot;
use crate::checkpoint::write_atomic;
use crate::config::EtcdConfig;

/// What is kept: the store it came from, the revision and each pipeline's text.
#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    endpoints: Vec<String>,
    prefix: String,
    revision: i64,
    pipelines: BTreeMap<String, String>,
}

/// The file the last good config of `data_dir` is kept in.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("remote").join("etcd.json")
}

/// Keeps `pipelines` (the documents that run, as of `revision`) for the next start; atomic,
/// so a crash leaves the old or the new one.
pub fn save(
    data_dir: &Path,
    etcd: &EtcdConfig,
    revision: i64,
    pipelines: &BTreeMap<String, String>,
) -> Result<(), String> {
    let kept = Kept {
        endpoints: etcd.endpoints.clone(),
        prefix: etcd.prefix.clone(),
        revision,
        pipelines: pipelines.clone(),
    };
    let json = serde_json::to_vec_pretty(&kept).map_err(|e| e.to_string())?;
    write_atomic(&path(data_dir), &json).map_err(|e| e.to_string())
}

/// The kept config, if there is one for this store's prefix; why not, otherwise.
pub fn load(data_dir: &Path, etcd: &EtcdConfig) -> Result<Snapshot, String> {
    let file = path(data_dir);
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let kept: Kept =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    if kept.prefix != etcd.prefix {
        return Err(format!(
            "{} holds the config of prefix {}, not {}",
            file.display(),
            kept.prefix,
            etcd.prefix
        ));
    }
    Ok(Snapshot {
        revision: kept.revision,
        pipelines: kept.pipelines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etcd(prefix: &str) -> EtcdConfig {
        serde_yaml::from_str(&format!(
            "endpoints: [\"http://127.0.0.1:1\"]\nprefix: {prefix}\n"
        ))
        .unwrap()
    }

    #[test]
    fn what_is_saved_is_loaded_for_the_same_prefix_only() {
        let dir = tempfile::tempdir().unwrap();
        let docs = BTreeMap::from([("api".to_owned(), "sources: []\n".to_owned())]);
        save(dir.path(), &etcd("/a/"), 7, &docs).unwrap();
        let s = load(dir.path(), &etcd("/a/")).unwrap();
        assert_eq!((s.revision, s.pipelines), (7, docs));
        let err = load(dir.path(), &etcd("/b/")).unwrap_err();
        assert!(err.contains("not /b/"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        assert!(load(empty.path(), &etcd("/a/")).is_err());
    }
}
