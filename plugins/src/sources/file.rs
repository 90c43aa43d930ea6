//! The `file` source: tails files matched by globs, follows rotation, resumes from
//! checkpoints.
//!
//! A file is known by its identity, `(device, inode)` plus a fingerprint of its first (up to)
//! 1024 bytes, not by its path, so:
//! - **rename + create**: the renamed file keeps its identity; we keep reading it through the
//!   open descriptor to its end, while the new file at the path is a new identity, read from 0;
//! - **copytruncate / truncate and rewrite**: the size drops below our offset, or the first
//!   bytes change (checked before and after each read, so a rewrite during a read is not
//!   taken for more of the old file): the file is read again from 0;
//! - **delete**: read to the end through the open descriptor, then forgotten;
//! - **inode reuse**: same inode, other first bytes: a new file, not a resumed one;
//! - **rotation while stopped**: a checkpoint is only resumed for the same identity, and never
//!   past the end of the file.
//!
//! The loop runs on a blocking thread (file reads are blocking I/O); notify events wake it
//! and a periodic rescan catches anything the events miss.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use globset::{Glob, GlobSet, GlobSetBuilder};
use logcatch_core::checkpoint::{Fingerprint, Mark};
use logcatch_core::config::units;
use logcatch_core::metrics::Counters;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Source, SourceContext};
use notify::{EventKind, RecursiveMode, Watcher};
use serde::Deserialize;

use super::lines::LineBuffer;

/// Bytes hashed to tell files apart.
const FINGERPRINT_BYTES: u64 = 1024;

/// Where to start in a file that has no checkpoint, for files present at start-up.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// Read what is already there (files created later are always read from the start).
    #[default]
    Beginning,
    /// Only lines written from now on.
    End,
}

/// `type: file` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Glob patterns of files to read (`/var/log/*.log`, `/srv/**/app.log`).
    pub include: Vec<String>,
    /// Glob patterns to skip, matched against the full path and the file name (`*.gz`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// For files present at start without a checkpoint.
    #[serde(default)]
    pub start_at: StartAt,
    /// Longer lines are split into pieces of this size (and counted).
    #[serde(default = "default_max_line_bytes", deserialize_with = "units::bytes")]
    pub max_line_bytes: u64,
    /// How often the globs are expanded again, besides file-system events.
    #[serde(default = "default_rescan", deserialize_with = "units::duration")]
    pub rescan_interval: Duration,
    /// How long a rotated or deleted file stays open after its last new data.
    #[serde(default = "default_rotate_wait", deserialize_with = "units::duration")]
    pub rotate_wait: Duration,
}

fn default_max_line_bytes() -> u64 {
    1 << 20
}
fn default_rescan() -> Duration {
    Duration::from_secs(1)
}
fn default_rotate_wait() -> Duration {
    Duration::from_secs(5)
}

/// A configured file source.
pub struct FileSource {
    include: Vec<PathBuf>,
    exclude: GlobSet,
    config: FileConfig,
}

/// Builds a `file` source from its options.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Source>, OptionsError> {
    let config: FileConfig = options.parse()?;
    if config.include.is_empty() {
        return Err(OptionsError::new(
            "include",
            "needs at least one glob pattern",
        ));
    }
    let mut include = Vec::new();
    for (i, pattern) in config.include.iter().enumerate() {
        let path = options.resolve(pattern);
        glob::Pattern::new(&path.to_string_lossy()).map_err(|e| {
            OptionsError::new(
                format!("include[{i}]"),
                format!("bad glob `{pattern}`: {e}"),
            )
        })?;
        include.push(path);
    }
    let mut exclude = GlobSetBuilder::new();
    for (i, pattern) in config.exclude.iter().enumerate() {
        let glob = Glob::new(pattern).map_err(|e| {
            OptionsError::new(
                format!("exclude[{i}]"),
                format!("bad glob `{pattern}`: {e}"),
            )
        })?;
        exclude.add(glob);
    }
    let exclude = exclude
        .build()
        .map_err(|e| OptionsError::new("exclude", e.to_string()))?;
    if config.max_line_bytes == 0 || config.max_line_bytes > u32::MAX as u64 / 2 {
        return Err(OptionsError::new(
            "max_line_bytes",
            "must be between 1 byte and 2GiB",
        ));
    }
    Ok(Arc::new(FileSource {
        include,
        exclude,
        config,
    }))
}

#[async_trait]
impl Source for FileSource {
    async fn run(&self, ctx: SourceContext) -> Result<(), PluginError> {
        let tailer = Tailer {
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            config: self.config.clone(),
        };
        // File events and the shutdown signal both wake the blocking loop.
        let (events_tx, events) = std::sync::mpsc::channel();
        let wake = events_tx.clone();
        let shutdown = ctx.shutdown.clone();
        let waker = tokio::spawn(async move {
            shutdown.cancelled().await;
            let _ = wake.send(false);
        });
        let result = tokio::task::spawn_blocking(move || tailer.run(ctx, events_tx, events)).await;
        waker.abort();
        match result {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(PluginError::new(format!("tail thread ended: {e}"))),
        }
    }
}

/// One open file being read.
struct Tail {
    key: String,
    path: PathBuf,
    file: File,
    fingerprint: Fingerprint,
    lines: LineBuffer,
    /// When the first line now pending was read (for linger).
    pending_since: Option<Instant>,
    /// Last time new bytes arrived.
    last_data: Instant,
    /// Set when the path no longer leads to this file (rotated or deleted).
    gone_since: Option<Instant>,
    /// `--once`: stop at this size.
    stop_at: Option<u64>,
}

struct Tailer {
    include: Vec<PathBuf>,
    exclude: GlobSet,
    config: FileConfig,
}

/// Identity key of a file in checkpoints.
fn key_of(meta: &std::fs::Metadata) -> String {
    format!("{}:{}", meta.dev(), meta.ino())
}

fn fingerprint(file: &File, len: u64) -> std::io::Result<Fingerprint> {
    let mut buf = vec![0u8; len.min(FINGERPRINT_BYTES) as usize];
    file.read_exact_at(&mut buf, 0)?;
    Ok(Fingerprint {
        len: buf.len() as u32,
        hash: xxhash_rust::xxh3::xxh3_64(&buf),
    })
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Tailer {
    fn run(
        self,
        ctx: SourceContext,
        events_tx: std::sync::mpsc::Sender<bool>,
        events: Receiver<bool>,
    ) -> Result<(), PluginError> {
        let _watcher = self.watch(events_tx);
        let mut tails: Vec<Tail> = Vec::new();
        let mut first_scan = true;
        let mut next_scan = Instant::now();
        let mut rescan = true;
        loop {
            if ctx.shutdown.is_cancelled() {
                for t in &mut tails {
                    self.send(t, &ctx)?;
                }
                return Ok(());
            }
            if rescan || Instant::now() >= next_scan {
                if !ctx.once || first_scan {
                    self.discover(&mut tails, first_scan, &ctx);
                }
                first_scan = false;
                rescan = false;
                next_scan = Instant::now() + self.config.rescan_interval;
            }
            let mut progressed = false;
            for t in &mut tails {
                progressed |= self.poll(t, &ctx)?;
            }
            self.retire(&mut tails, &ctx);
            if ctx.once && !progressed {
                for t in &mut tails {
                    self.send(t, &ctx)?;
                }
                return Ok(());
            }
            if !progressed {
                let deadline = tails
                    .iter()
                    .filter_map(|t| t.pending_since.map(|s| s + ctx.batch.linger))
                    .chain([next_scan])
                    .min()
                    .unwrap_or(next_scan);
                rescan |= wait(&events, deadline.saturating_duration_since(Instant::now()));
            }
        }
    }

    /// Watches the directories the globs start in; events only wake the loop early.
    fn watch(&self, tx: std::sync::mpsc::Sender<bool>) -> Option<notify::RecommendedWatcher> {
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                let structural = matches!(ev.kind, EventKind::Create(_) | EventKind::Remove(_))
                    || matches!(
                        ev.kind,
                        EventKind::Modify(notify::event::ModifyKind::Name(_))
                    );
                let _ = tx.send(structural);
            }
        })
        .inspect_err(|e| tracing::debug!("file events unavailable, polling only: {e}"))
        .ok()?;
        for pattern in &self.include {
            let (dir, recursive) = watch_root(pattern);
            let mode = if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            if let Err(e) = watcher.watch(&dir, mode) {
                tracing::debug!(dir = %dir.display(), "cannot watch, relying on rescans: {e}");
            }
        }
        Some(watcher)
    }

    /// Expands the globs: opens new files, notes renamed ones, marks vanished ones.
    fn discover(&self, tails: &mut Vec<Tail>, first_scan: bool, ctx: &SourceContext) {
        let mut seen = HashSet::new();
        let mut marks = None;
        for path in self.expand() {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let key = key_of(&meta);
            if !seen.insert(key.clone()) {
                continue; // the same file under two names
            }
            if let Some(t) = tails.iter_mut().find(|t| t.key == key) {
                if t.path != path {
                    tracing::debug!(pipeline = %ctx.pipeline, from = %t.path.display(), to = %path.display(), "file renamed");
                    t.path = path;
                }
                t.gone_since = None;
                continue;
            }
            let marks = marks.get_or_insert_with(|| ctx.resume_marks());
            let mark = marks.get(&key);
            match self.open(&path, key.clone(), &meta, mark, first_scan, ctx) {
                Ok(t) => tails.push(t),
                Err(e) => {
                    tracing::warn!(pipeline = %ctx.pipeline, component = %ctx.component, path = %path.display(), "cannot open: {e}")
                }
            }
        }
        let now = Instant::now();
        for t in tails.iter_mut().filter(|t| !seen.contains(&t.key)) {
            t.gone_since.get_or_insert(now);
        }
        let live: HashSet<&str> = tails.iter().map(|t| t.key.as_str()).collect();
        ctx.ledger().expire(ctx.expire_after, |k| live.contains(k));
    }

    fn expand(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for pattern in &self.include {
            let Ok(paths) = glob::glob(&pattern.to_string_lossy()) else {
                continue;
            };
            for path in paths.flatten() {
                let excluded = self.exclude.is_match(&path)
                    || path
                        .file_name()
                        .is_some_and(|n| self.exclude.is_match(Path::new(n)));
                if !excluded {
                    out.push(path);
                }
            }
        }
        out
    }

    fn open(
        &self,
        path: &Path,
        key: String,
        meta: &std::fs::Metadata,
        mark: Option<&Mark>,
        first_scan: bool,
        ctx: &SourceContext,
    ) -> std::io::Result<Tail> {
        let file = File::open(path)?;
        let meta_now = file.metadata()?;
        if key_of(&meta_now) != key_of(meta) {
            return Err(std::io::Error::other("replaced while opening; next scan"));
        }
        let size = meta_now.len();
        let fingerprint = fingerprint(&file, size)?;
        let resumed = mark.and_then(|m| {
            let fp = m.fingerprint?;
            let same = size >= fp.len as u64 && self::fingerprint(&file, fp.len as u64).ok()? == fp;
            (same && m.offset <= size).then_some(m.offset)
        });
        let start = match resumed {
            Some(offset) => offset,
            None if first_scan && self.config.start_at == StartAt::End => size,
            None => 0,
        };
        tracing::info!(
            pipeline = %ctx.pipeline, component = %ctx.component, path = %path.display(), offset = start,
            resumed = resumed.is_some(), "tailing file"
        );
        let f = &self.config;
        let max_bytes = ctx.batch.max_bytes as usize;
        Ok(Tail {
            key,
            path: path.to_owned(),
            fingerprint,
            lines: LineBuffer::new(
                start,
                ctx.batch.max_events,
                max_bytes,
                f.max_line_bytes as usize,
            ),
            pending_since: None,
            last_data: Instant::now(),
            gone_since: None,
            stop_at: ctx.once.then_some(size),
            file: {
                use std::io::Seek;
                let mut file = file;
                file.seek(std::io::SeekFrom::Start(start))?;
                file
            },
        })
    }

    /// Reads what is new in one file (at most one batch) and sends a batch that is full or
    /// has lingered long enough. Returns whether it read or sent a full batch (more may be
    /// ready at once).
    fn poll(&self, t: &mut Tail, ctx: &SourceContext) -> Result<bool, PluginError> {
        let size = match t.file.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                tracing::warn!(pipeline = %ctx.pipeline, path = %t.path.display(), "cannot stat: {e}");
                return Ok(false);
            }
        };
        let read_to = t.lines.read_offset();
        if size != read_to && self.replaced(t, size) {
            // Copytruncate or truncate-and-rewrite: what is there now is new content.
            self.send(t, ctx)?;
            tracing::info!(pipeline = %ctx.pipeline, path = %t.path.display(), size, offset = read_to, "file truncated or rewritten; reading it from the start");
            use std::io::Seek;
            t.file.seek(std::io::SeekFrom::Start(0))?;
            t.lines.reset(0);
            t.fingerprint = fingerprint(&t.file, size)?;
            t.stop_at = t.stop_at.map(|_| size);
        }
        let mut read = 0;
        let limit = t
            .stop_at
            .map_or(u64::MAX, |s| s.saturating_sub(t.lines.read_offset()));
        if size > t.lines.read_offset() && limit > 0 && !t.lines.is_full() {
            let before = t.lines.snapshot();
            read = t.lines.fill(&t.file, limit, &ctx.counters)?;
            if read > 0 {
                t.last_data = Instant::now();
                if !self.same_head(t)? {
                    // Truncated and rewritten between the check above and the read: what we
                    // read may be the new content at the old offset. Forget it; the next poll
                    // sees the new first bytes and starts the file over.
                    tracing::debug!(pipeline = %ctx.pipeline, path = %t.path.display(), offset = t.lines.read_offset(), "file rewritten while reading; dropping what was just read");
                    t.lines.undo(before);
                    use std::io::Seek;
                    t.file
                        .seek(std::io::SeekFrom::Start(t.lines.read_offset()))?;
                }
            }
        }
        if t.lines.pending() > 0 && t.pending_since.is_none() {
            t.pending_since = Some(Instant::now());
        }
        let lingered = t
            .pending_since
            .is_some_and(|s| s.elapsed() >= ctx.batch.linger);
        let full = t.lines.is_full();
        if full || lingered {
            self.send(t, ctx)?;
        }
        Ok(read > 0 || full)
    }

    /// The file at the descriptor is no longer what we were reading: it shrank, or its first
    /// bytes changed.
    fn replaced(&self, t: &Tail, size: u64) -> bool {
        if size < t.lines.read_offset() {
            return true;
        }
        let fp = t.fingerprint;
        fp.len > 0 && fingerprint(&t.file, fp.len as u64).is_ok_and(|now| now != fp)
    }

    /// After a read: do the file's first bytes still match the fingerprint? If so, the
    /// fingerprint grows to cover up to [`FINGERPRINT_BYTES`] of them, never past what we
    /// have read (so a file shorter than it is also shorter than our offset). Checked and
    /// grown from one read of the head, so a rewrite cannot slip in between and become the
    /// fingerprint of the file we are reading.
    fn same_head(&self, t: &mut Tail) -> std::io::Result<bool> {
        let mut head = vec![0u8; FINGERPRINT_BYTES as usize];
        let mut len = 0;
        while len < head.len() {
            match t.file.read_at(&mut head[len..], len as u64) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let fp = t.fingerprint;
        if len < fp.len as usize {
            return Ok(true); // shrank: truncated after our read, the next poll sees it
        }
        if xxhash_rust::xxh3::xxh3_64(&head[..fp.len as usize]) != fp.hash {
            return Ok(false);
        }
        let len = len.min(t.lines.read_offset().min(FINGERPRINT_BYTES) as usize);
        if len > fp.len as usize {
            t.fingerprint = Fingerprint {
                len: len as u32,
                hash: xxhash_rust::xxh3::xxh3_64(&head[..len]),
            };
        }
        Ok(true)
    }

    /// Sends the pending lines of `t` (waits while the pipeline is full).
    fn send(&self, t: &mut Tail, ctx: &SourceContext) -> Result<(), PluginError> {
        t.pending_since = None;
        if t.lines.pending() == 0 {
            return Ok(());
        }
        let mark = |end| Mark {
            offset: end,
            fingerprint: Some(t.fingerprint),
            path: Some(t.path.display().to_string()),
            updated: 0,
        };
        let key = t.key.clone();
        let path = t.path.to_string_lossy();
        let batch = t.lines.take_batch(&path, now_ns(), &ctx.counters, |end| {
            ctx.ack(vec![(key, mark(end))])
        });
        ctx.blocking_send(batch)
            .map_err(|e| PluginError::new(e.to_string()))?;
        if t.lines.pending() > 0 {
            t.pending_since = Some(Instant::now());
        }
        Ok(())
    }

    /// Closes files that went away and have been read to their end.
    fn retire(&self, tails: &mut Vec<Tail>, ctx: &SourceContext) {
        tails.retain(|t| {
            let Some(gone) = t.gone_since else { return true };
            let drained = t.lines.pending() == 0
                && t.file.metadata().is_ok_and(|m| m.len() <= t.lines.read_offset());
            let quiet = gone.elapsed() >= self.config.rotate_wait && t.last_data.elapsed() >= self.config.rotate_wait;
            if drained && (quiet || ctx.once) {
                tracing::info!(pipeline = %ctx.pipeline, path = %t.path.display(), offset = t.lines.read_offset(), "file rotated or deleted and read to its end; closing");
                Counters::add(&ctx.counters.files_closed, 1);
                return false;
            }
            true
        });
    }
}

/// Waits up to `timeout` for file events; true if one may have added or removed a file.
fn wait(events: &Receiver<bool>, timeout: Duration) -> bool {
    let mut structural = match events.recv_timeout(timeout) {
        Ok(s) => s,
        Err(RecvTimeoutError::Timeout) => return false,
        Err(RecvTimeoutError::Disconnected) => {
            std::thread::sleep(timeout);
            return false;
        }
    };
    while let Ok(s) = events.try_recv() {
        structural |= s;
    }
    structural
}

/// The directory a glob starts in (its part before the first wildcard), and whether the
/// wildcards reach into subdirectories.
fn watch_root(pattern: &Path) -> (PathBuf, bool) {
    let mut root = PathBuf::new();
    let mut components = pattern.components().peekable();
    while let Some(c) = components.next() {
        let s = c.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[', '{']) {
            return (root, components.peek().is_some());
        }
        if components.peek().is_some() {
            root.push(c);
        }
    }
    (root, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_roots() {
        assert_eq!(
            watch_root(Path::new("/var/log/*.log")),
            (PathBuf::from("/var/log"), false)
        );
        assert_eq!(
            watch_root(Path::new("/var/log/app.log")),
            (PathBuf::from("/var/log"), false)
        );
        assert_eq!(
            watch_root(Path::new("/srv/*/logs/a.log")),
            (PathBuf::from("/srv"), true)
        );
    }
}
