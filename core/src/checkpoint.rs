//! Checkpoints: how far each source stream has been delivered, kept in memory as acks arrive
//! and written to disk atomically (temp file, fsync, rename) at most every interval.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A fingerprint of a file's first bytes: with (device, inode) it tells the same file from a
/// new one that reused the inode, or one truncated and rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// How many leading bytes were hashed (up to 1024; fewer while the file is that small).
    pub len: u32,
    /// xxh3 of those bytes.
    pub hash: u64,
}

/// A delivered position in one stream of a source (a file, the demo sequence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Bytes (or sequence numbers) delivered: the source resumes here.
    pub offset: u64,
    /// Identity check for files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// Last path the stream was seen at, for humans reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// When the mark was last committed, seconds since the Unix epoch (for expiry).
    #[serde(default)]
    pub updated: u64,
}

/// Errors reading or writing a checkpoint file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// I/O on the checkpoint file failed.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists but is not a checkpoint this version wrote.
    #[error("checkpoint {path} is corrupt ({source}); move it away to start that source afresh")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

#[derive(Debug, Default)]
struct State {
    marks: BTreeMap<String, Mark>,
    dirty: bool,
    /// When the oldest acknowledged change not yet on disk was made.
    dirty_since: Option<std::time::Instant>,
}

/// The acknowledged positions of one source, and the file they are persisted to.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    streams: BTreeMap<String, Mark>,
}

impl Ledger {
    /// Opens the ledger persisted at `path`, empty if the file does not exist yet.
    pub fn open(path: PathBuf) -> Result<Ledger, CheckpointError> {
        let marks = match std::fs::read(&path) {
            Ok(bytes) => {
                let disk: OnDisk =
                    serde_json::from_slice(&bytes).map_err(|source| CheckpointError::Corrupt {
                        path: path.clone(),
                        source,
                    })?;
                disk.streams
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        Ok(Ledger {
            path,
            state: Mutex::new(State {
                marks,
                dirty: false,
                dirty_since: None,
            }),
        })
    }

    /// The file this ledger is written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every stream's last acknowledged mark: where a (re)started source resumes.
    pub fn marks(&self) -> BTreeMap<String, Mark> {
        self.lock().marks.clone()
    }

    /// Records acknowledged marks (called once per batch, when its last sink acknowledges).
    pub fn commit(&self, marks: &[(String, Mark)]) {
        let now = unix_now();
        let mut state = self.lock();
        for (key, mark) in marks {
            let mut mark = mark.clone();
            mark.updated = now;
            state.marks.insert(key.clone(), mark);
        }
        if !marks.is_empty() {
            state.dirty = true;
            state
                .dirty_since
                .get_or_insert_with(std::time::Instant::now);
        }
    }

    /// How long acknowledged progress has waited to be written (zero when the file is up to
    /// date): what a crash now would make the sources read again, in time.
    pub fn lag(&self) -> Duration {
        self.lock()
            .dirty_since
            .map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// Forgets streams not committed for `age` for which `keep` is false (files long gone).
    pub fn expire(&self, age: Duration, keep: impl Fn(&str) -> bool) {
        let cutoff = unix_now().saturating_sub(age.as_secs());
        let mut state = self.lock();
        let before = state.marks.len();
        state.marks.retain(|k, m| m.updated >= cutoff || keep(k));
        state.dirty |= state.marks.len() != before;
    }

    /// Writes the ledger if it changed since the last write; atomic against crashes.
    pub fn flush(&self) -> Result<(), CheckpointError> {
        let (disk, since) = {
            let mut state = self.lock();
            if !state.dirty {
                return Ok(());
            }
            state.dirty = false;
            let disk = OnDisk {
                version: 1,
                streams: state.marks.clone(),
            };
            (disk, state.dirty_since.take())
        };
        let bytes = serde_json::to_vec_pretty(&disk).expect("marks always serialize");
        write_atomic(&self.path, &bytes).inspect_err(|_| {
            let mut state = self.lock();
            state.dirty = true;
            state.dirty_since = state.dirty_since.min(since).or(since);
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map half-updated: recover it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    // A name of its own per writer: two processes sharing a directory (a compile cache)
    // never write into each other's temp file.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(offset: u64) -> Mark {
        Mark {
            offset,
            fingerprint: None,
            path: None,
            updated: 0,
        }
    }

    #[test]
    fn commits_persist_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p/source-0.json");
        let ledger = Ledger::open(path.clone()).unwrap();
        assert!(ledger.marks().is_empty());
        ledger.commit(&[("a".into(), mark(10)), ("b".into(), mark(5))]);
        ledger.commit(&[("a".into(), mark(20))]);
        ledger.flush().unwrap();
        let again = Ledger::open(path).unwrap();
        let marks = again.marks();
        assert_eq!(marks["a"].offset, 20);
        assert_eq!(marks["b"].offset, 5);
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, b"{not json").unwrap();
        let err = Ledger::open(path).unwrap_err().to_string();
        assert!(err.contains("c.json") && err.contains("corrupt"), "{err}");
    }

    #[test]
    fn expire_keeps_fresh_and_kept_streams() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path().join("e.json")).unwrap();
        ledger.commit(&[("fresh".into(), mark(1))]);
        ledger.lock().marks.insert("old".into(), mark(2));
        ledger.lock().marks.insert("kept".into(), mark(3));
        ledger.expire(Duration::from_secs(3600), |k| k == "kept");
        let keys: Vec<_> = ledger.marks().into_keys().collect();
        assert_eq!(keys, ["fresh", "kept"]);
    }
}
