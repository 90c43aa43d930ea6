//! Checkpoints: how far each source stream has been delivered, kept in memory as acks
//! arrive and persisted in two layers, so that a process crash costs only the batches in
//! flight and a power loss at most `checkpoint.interval`:
//!
//! - a **journal** (`<name>.journal`): each acknowledged mark appended as one JSON line, a
//!   few milliseconds after it arrives (coalesced), without fsync: the page cache survives a
//!   `kill -9`;
//! - a **snapshot** (`<name>.json`): every mark, compact JSON, written atomically (temp file,
//!   fsync, rename) every `checkpoint.interval`, which then empties the journal.
//!
//! Opening reads the snapshot, then replays the journal entries newer than it (each has a
//! sequence number; a torn last line, from a crash mid-append, is ignored).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The snapshot format this logcatch writes and reads.
pub const VERSION: u32 = 1;

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
    /// For files: the hash of the bytes just before `offset`, so a file rewritten while
    /// not read, with the same first bytes and at least as long, is not resumed mid-way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<Fingerprint>,
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
    /// The file is a checkpoint of another format version (a newer logcatch wrote it).
    #[error(
        "checkpoint {path} has format version {version}, this logcatch reads version {VERSION}: run the logcatch that wrote it, or move the file away to start that source afresh"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version it says.
        version: u32,
    },
}

#[derive(Debug, Default)]
struct State {
    marks: BTreeMap<String, Mark>,
    /// Sequence number of the last commit.
    seq: u64,
    /// Commits not yet appended to the journal: (seq, key, mark).
    unjournaled: Vec<(u64, String, Mark)>,
    /// Something changed since the last snapshot.
    dirty: bool,
    /// When the oldest acknowledged change not yet in a snapshot was made.
    dirty_since: Option<std::time::Instant>,
    /// The journal, open for appending once the first entry is written.
    journal: Option<std::fs::File>,
}

/// The acknowledged positions of one source, and the files they are persisted to.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    journal_path: PathBuf,
    state: Mutex<State>,
    /// Woken at each commit, for the writer that appends to the journal.
    changed: tokio::sync::Notify,
    /// Whether a snapshot existed when the ledger was opened: a source that has run before.
    existed: bool,
    /// Held while the files are written: one writer at a time.
    io: Mutex<()>,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    /// The sequence number of the last commit it holds (journal entries up to it are in).
    #[serde(default)]
    seq: u64,
    streams: BTreeMap<String, Mark>,
}

/// One journal line.
#[derive(Serialize, Deserialize)]
struct Entry {
    seq: u64,
    key: String,
    mark: Mark,
}

impl Ledger {
    /// Opens the ledger persisted at `path` (and its journal beside it), empty if there is
    /// none yet.
    pub fn open(path: PathBuf) -> Result<Ledger, CheckpointError> {
        let journal_path = path.with_extension("journal");
        let (mut marks, mut seq, existed) = match std::fs::read(&path) {
            Ok(bytes) => {
                let disk: OnDisk =
                    serde_json::from_slice(&bytes).map_err(|source| CheckpointError::Corrupt {
                        path: path.clone(),
                        source,
                    })?;
                if disk.version != VERSION {
                    return Err(CheckpointError::Version {
                        path,
                        version: disk.version,
                    });
                }
                (disk.streams, disk.seq, true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (BTreeMap::new(), 0, false),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        let snapshot_seq = seq;
        match std::fs::read(&journal_path) {
            Ok(bytes) => {
                for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    // A line that does not parse is the torn end of a crashed append (every
                    // append on a fresh descriptor starts on a new line, so only it is lost).
                    let Ok(entry) = serde_json::from_slice::<Entry>(line) else {
                        continue;
                    };
                    if entry.seq > snapshot_seq {
                        seq = seq.max(entry.seq);
                        marks.insert(entry.key, entry.mark);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: journal_path,
                    source,
                });
            }
        }
        let replayed = seq > snapshot_seq;
        Ok(Ledger {
            path,
            journal_path,
            state: Mutex::new(State {
                marks,
                seq,
                // What the journal added goes into the next snapshot.
                dirty: replayed,
                dirty_since: replayed.then(std::time::Instant::now),
                ..State::default()
            }),
            changed: tokio::sync::Notify::new(),
            existed: existed || replayed,
            io: Mutex::new(()),
        })
    }

    /// The snapshot file this ledger is written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this source had checkpoints when it was opened (it has run before): a
    /// source's first start is the only one `start_at: end` applies to.
    pub fn has_history(&self) -> bool {
        self.existed
    }

    /// Makes the next flush write a snapshot even with no marks: a source records that it
    /// has run, so its next start is not taken for its first.
    pub fn touch(&self) {
        let mut state = self.lock();
        state.dirty = true;
        state
            .dirty_since
            .get_or_insert_with(std::time::Instant::now);
    }

    /// Every stream's last acknowledged mark: where a (re)started source resumes.
    pub fn marks(&self) -> BTreeMap<String, Mark> {
        self.lock().marks.clone()
    }

    /// Records acknowledged marks (called once per batch, when its last sink acknowledges).
    pub fn commit(&self, marks: &[(String, Mark)]) {
        if marks.is_empty() {
            return;
        }
        let now = unix_now();
        let mut state = self.lock();
        for (key, mark) in marks {
            let mut mark = mark.clone();
            mark.updated = now;
            state.seq += 1;
            let seq = state.seq;
            state.unjournaled.push((seq, key.clone(), mark.clone()));
            state.marks.insert(key.clone(), mark);
        }
        state.dirty = true;
        state
            .dirty_since
            .get_or_insert_with(std::time::Instant::now);
        drop(state);
        self.changed.notify_one();
    }

    /// Resolves after the next commit (or at once if one came since the last call).
    pub async fn committed(&self) {
        self.changed.notified().await;
    }

    /// How long acknowledged progress has waited for a snapshot (zero when it is up to
    /// date): what a power loss now would make the sources read again, in time.
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
        if state.marks.len() != before {
            state.dirty = true;
            state
                .dirty_since
                .get_or_insert_with(std::time::Instant::now);
        }
    }

    /// Appends the commits not yet in the journal (no fsync: this is what survives a
    /// process crash). Blocking I/O; commits go on meanwhile.
    pub fn write_journal(&self) -> Result<(), CheckpointError> {
        let _io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        let (entries, journal) = {
            let mut state = self.lock();
            if state.unjournaled.is_empty() {
                return Ok(());
            }
            (std::mem::take(&mut state.unjournaled), state.journal.take())
        };
        let mut buf = Vec::with_capacity(entries.len() * 160 + 1);
        if journal.is_none() {
            // After a torn append, this starts a new line; an empty line is skipped.
            buf.push(b'\n');
        }
        for (seq, key, mark) in &entries {
            let entry = Entry {
                seq: *seq,
                key: key.clone(),
                mark: mark.clone(),
            };
            serde_json::to_writer(&mut buf, &entry).expect("marks always serialize");
            buf.push(b'\n');
        }
        let io = |source| CheckpointError::Io {
            path: self.journal_path.clone(),
            source,
        };
        let written = (|| {
            let mut f = match journal {
                Some(f) => f,
                None => {
                    if let Some(dir) = self.journal_path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.journal_path)?
                }
            };
            f.write_all(&buf)?;
            Ok(f)
        })();
        let mut state = self.lock();
        match written {
            Ok(f) => {
                state.journal = Some(f);
                Ok(())
            }
            Err(e) => {
                // Written again next time (a short append leaves a torn line, where replay
                // stops: the next append starts on a fresh descriptor, after it, and the
                // entries it repeats are newer than any snapshot, so nothing is lost).
                let later = std::mem::replace(&mut state.unjournaled, entries);
                state.unjournaled.extend(later);
                Err(io(e))
            }
        }
    }

    /// Writes a snapshot of every mark if anything changed since the last one (atomic
    /// against crashes, fsynced), then empties the journal: every commit since is still
    /// waiting to be appended. Blocking I/O.
    pub fn flush(&self) -> Result<(), CheckpointError> {
        let _io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        let (bytes, since, seq) = {
            let mut state = self.lock();
            if !state.dirty {
                return Ok(());
            }
            state.dirty = false;
            let disk = OnDisk {
                version: VERSION,
                seq: state.seq,
                streams: state.marks.clone(),
            };
            let bytes = serde_json::to_vec(&disk).expect("marks always serialize");
            (bytes, state.dirty_since.take(), state.seq)
        };
        if let Err(e) = write_atomic(&self.path, &bytes) {
            let mut state = self.lock();
            state.dirty = true;
            state.dirty_since = state.dirty_since.min(since).or(since);
            return Err(e);
        }
        let mut state = self.lock();
        state.unjournaled.retain(|(s, _, _)| *s > seq);
        state.journal = None;
        drop(state);
        match std::fs::remove_file(&self.journal_path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CheckpointError::Io {
                path: self.journal_path.clone(),
                source,
            }),
        }
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
            tail: None,
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
    fn the_journal_keeps_what_a_crash_before_the_snapshot_would_lose() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p/source-x.json");
        let ledger = Ledger::open(path.clone()).unwrap();
        assert!(!ledger.has_history());
        ledger.commit(&[("a".into(), mark(10))]);
        ledger.flush().unwrap();
        ledger.commit(&[("a".into(), mark(20)), ("b".into(), mark(7))]);
        ledger.write_journal().unwrap();
        ledger.commit(&[("a".into(), mark(30))]);
        ledger.write_journal().unwrap();
        // A crash now: the snapshot says 10, the journal says 30.
        drop(ledger);
        let again = Ledger::open(path.clone()).unwrap();
        assert!(again.has_history());
        assert_eq!(again.marks()["a"].offset, 30);
        assert_eq!(again.marks()["b"].offset, 7);
        // A snapshot empties the journal, and what it holds is not replayed over newer marks.
        again.flush().unwrap();
        assert!(!path.with_extension("journal").exists());
        let third = Ledger::open(path).unwrap();
        assert_eq!(third.marks()["a"].offset, 30);
    }

    #[test]
    fn a_torn_journal_line_costs_only_itself_and_old_entries_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let ledger = Ledger::open(path.clone()).unwrap();
        ledger.commit(&[("a".into(), mark(5))]);
        ledger.write_journal().unwrap();
        ledger.commit(&[("b".into(), mark(9))]);
        ledger.flush().unwrap(); // snapshot seq 2, journal gone
        drop(ledger);
        // An old entry (seq 1) left behind, a torn line, then a new entry.
        let journal = path.with_extension("journal");
        std::fs::write(
            &journal,
            "{\"seq\":1,\"key\":\"b\",\"mark\":{\"offset\":1}}\n{\"seq\":3,\"ke\n{\"seq\":4,\"key\":\"a\",\"mark\":{\"offset\":50}}\n",
        )
        .unwrap();
        let again = Ledger::open(path).unwrap();
        assert_eq!(
            again.marks()["b"].offset,
            9,
            "older than the snapshot: skipped"
        );
        assert_eq!(again.marks()["a"].offset, 50);
    }

    #[test]
    fn an_unknown_version_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.json");
        std::fs::write(&path, r#"{"version":7,"streams":{}}"#).unwrap();
        let err = Ledger::open(path).unwrap_err().to_string();
        assert!(
            err.contains("format version 7") && err.contains("reads version 1"),
            "{err}"
        );
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
