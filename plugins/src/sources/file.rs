//! The `file` source: tails files matched by globs, follows rotation, resumes from
//! checkpoints. By job: [`discover`] finds the files (globs, symlink loops, the watch, which
//! opens a file the moment it appears), [`identity`] decides where reading starts and what a
//! change means (pure functions, table tested), [`copies`] finds the rotated copy of a file
//! truncated under us, [`tail`] reads one file; this module has the config and the loop.
//!
//! A file is known by its identity, `(device, inode)` plus a fingerprint of its first (up to)
//! 1024 bytes, not by its path, so:
//! - **rename + create**: the renamed file keeps its identity; we keep reading it through the
//!   open descriptor to its end, while the new file at the path is a new identity, read from 0
//!   (opened as it appears, so a generation renamed away before our next scan is read too);
//! - **copytruncate / truncate and rewrite**: the size drops below our offset, or the first
//!   bytes change (checked before and after each read, so a rewrite during a read is not
//!   taken for more of the old file): what we had not read is read from the rotated copy, if
//!   there is one, then the copies made since, then the file again from 0;
//! - **delete**: read to the end through the open descriptor, then forgotten;
//! - **inode reuse**: same inode, other first bytes: a new file, not a resumed one;
//! - **rotation while stopped**: a checkpoint is only resumed for the same identity, and never
//!   past the end of the file; past the end of a truncated one, it is resumed in the copy; a
//!   file renamed away is found next to its path by its identity.
//!
//! The loop runs on a blocking thread (file reads are blocking I/O). A file is polled when
//! a file event names it, or when a scan of the globs (every `rescan_interval` without a
//! working watch, five times that with one, and at once after a file is created, removed
//! or renamed) sees its size change; a file gone from its path is polled on that schedule
//! until it is read to its end. At most `max_open_files` descriptors are held: idle files are closed and
//! reopened by identity when they change.

mod copies;
mod discover;
mod identity;
mod tail;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use globset::{Glob, GlobSet, GlobSetBuilder};
use logcatch_core::config::units;
use logcatch_core::log_limit::LogLimit;
use logcatch_core::metrics::Counters;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Source, SourceContext};
use serde::Deserialize;

use crate::sources::multiline::Multiline;
use discover::{Include, Wake};
use tail::Tail;

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
    /// Most files held open at once; idle ones are closed (and reopened when they change)
    /// to stay under it. Kept under half the process's descriptor limit.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
    /// Lines joined into one event (stack traces), by a `start` or `continue` regex.
    #[serde(default)]
    pub multiline: Option<Multiline>,
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
fn default_max_open_files() -> usize {
    1024
}

/// A configured file source.
pub struct FileSource {
    include: Vec<Include>,
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
        let parsed = Include::parse(&path).map_err(|e| {
            OptionsError::new(
                format!("include[{i}]"),
                format!("bad glob `{pattern}`: {e}"),
            )
        })?;
        include.push(parsed);
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
    if let Some(m) = &config.multiline {
        m.validate()?;
    }
    if config.max_open_files == 0 {
        return Err(OptionsError::new("max_open_files", "must be at least 1"));
    }
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
        let mut max_open = self.config.max_open_files;
        let room = (logcatch_core::fd_limit::soft() / 2) as usize;
        if max_open > room {
            tracing::warn!(
                pipeline = %ctx.pipeline, component = %ctx.component, max_open_files = max_open,
                room, "max_open_files is more than half the descriptor limit (ulimit -n); holding at most {room}"
            );
            max_open = room.max(1);
        }
        let tailer = Tailer {
            includes: self.include.clone(),
            exclude: self.exclude.clone(),
            config: self.config.clone(),
            max_open,
            warned: Warned::default(),
            waiting: LogLimit::new(Duration::from_secs(60)),
            appeared: Arc::default(),
        };
        // File events and the shutdown signal both wake the blocking loop.
        let (events_tx, events) = std::sync::mpsc::channel();
        let wake = events_tx.clone();
        let shutdown = ctx.shutdown.clone();
        let waker = tokio::spawn(async move {
            shutdown.cancelled().await;
            let _ = wake.send(Wake::Stop);
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

/// How soon the globs are scanned again while files wait for a descriptor.
const WAITING_RESCAN: Duration = Duration::from_millis(100);

struct Tailer {
    includes: Vec<Include>,
    exclude: GlobSet,
    config: FileConfig,
    /// `max_open_files`, held under half the descriptor limit.
    max_open: usize,
    /// The last problem logged for each path (a file that cannot be opened, a directory
    /// that cannot be read): logged again only when it changes.
    warned: Warned,
    /// Rate limit of the warning that files wait for a descriptor.
    waiting: LogLimit,
    /// Files the watch opened as they appeared and the loop has not taken yet.
    appeared: Arc<std::sync::atomic::AtomicUsize>,
}

impl Tailer {
    fn run(
        mut self,
        ctx: SourceContext,
        events_tx: Sender<Wake>,
        events: Receiver<Wake>,
    ) -> Result<(), PluginError> {
        let watcher = discover::watch(
            &self.includes,
            &self.exclude,
            // A quarter of the descriptors the source may hold, at most 256.
            (self.appeared.clone(), (self.max_open / 4).clamp(1, 256)),
            events_tx,
        );
        // With events, what they do not name is looked at less often.
        let idle = if watcher.is_some() {
            self.config.rescan_interval * 5
        } else {
            self.config.rescan_interval
        };
        let first_start = !ctx.ledger().has_history();
        if first_start {
            // The next start knows this source has run: start_at no longer applies.
            ctx.ledger().touch();
        }
        let mut tails: Vec<Tail> = Vec::new();
        let mut first_scan = true;
        let mut next_scan = Instant::now();
        let mut rescan = true;
        let mut changed: HashSet<PathBuf> = HashSet::new();
        let mut appeared: Vec<(PathBuf, std::fs::File)> = Vec::new();
        loop {
            if ctx.shutdown.is_cancelled() {
                for t in &mut tails {
                    t.send(&ctx)?;
                }
                return Ok(());
            }
            if rescan || Instant::now() >= next_scan {
                let mut waiting = 0;
                if first_scan {
                    self.resume_renamed(&mut tails, &ctx);
                }
                if !ctx.once || first_scan {
                    waiting =
                        self.discover(&mut tails, &mut appeared, first_scan && first_start, &ctx);
                }
                first_scan = false;
                rescan = false;
                // Files waiting for a descriptor get one as soon as open files go idle.
                next_scan = Instant::now() + if waiting > 0 { WAITING_RESCAN } else { idle };
            }
            let mut progressed = false;
            let now = Instant::now();
            for i in 0..tails.len() {
                let t = &mut tails[i];
                t.changed |= changed.contains(&t.path);
                let lingered = t
                    .linger_deadline(ctx.batch.linger)
                    .is_some_and(|d| d <= now);
                if !(ctx.once || t.changed || lingered || t.next_check.is_some_and(|c| c <= now)) {
                    continue;
                }
                t.changed = false;
                if !t.is_open() {
                    if !self.make_room(&mut tails, Some(i)) {
                        tails[i].changed = true; // when a descriptor is free
                        continue;
                    }
                    let t = &mut tails[i];
                    match t.reopen() {
                        Ok(true) => self.warned.clear(&t.path),
                        Ok(false) => continue,
                        Err(e) => {
                            let path = t.path.clone();
                            self.warn_once(&path, "cannot reopen", &e, &ctx);
                            continue;
                        }
                    }
                }
                let t = &mut tails[i];
                let polled = t.poll(&ctx)?;
                progressed |= polled.busy;
                // More may be ready at once: poll it again on the next round.
                t.changed |= polled.busy;
                // A file gone from its path is seen by no scan: it is polled on a schedule.
                t.next_check = t.gone_since.map(|_| now + idle);
            }
            changed.clear();
            self.retire(&mut tails, &ctx)?;
            if ctx.once && !progressed {
                for t in &mut tails {
                    // What is there is all `--once` reads: an event waiting for more lines
                    // is complete (a partial line still waits for its newline).
                    t.end_event();
                    t.send(&ctx)?;
                }
                return Ok(());
            }
            if !progressed {
                let deadline = tails
                    .iter()
                    .flat_map(|t| [t.linger_deadline(ctx.batch.linger), t.next_check])
                    .flatten()
                    .chain([next_scan])
                    .min()
                    .unwrap_or(next_scan);
                let timeout = deadline.saturating_duration_since(Instant::now());
                match wait(&events, timeout, &mut changed, &mut appeared) {
                    Waited::Structural => rescan = true,
                    Waited::Everything => {
                        rescan = true;
                        for t in &mut tails {
                            t.changed = true;
                        }
                    }
                    Waited::Files | Waited::Timeout => {}
                }
            }
        }
    }

    /// Logs `what` about `path` unless the same was logged last time for it.
    fn warn_once(
        &mut self,
        path: &std::path::Path,
        what: &str,
        e: &std::io::Error,
        ctx: &SourceContext,
    ) {
        let message = format!("{what}: {e}");
        if self.warned.is_new(path, &message) {
            tracing::warn!(pipeline = %ctx.pipeline, component = %ctx.component, path = %path.display(), "{message} (said once until it changes)");
        }
    }

    /// Frees a descriptor if the source holds `max_open` of them, by closing the idle open
    /// file that has been quiet longest (not `keep`). False if all are busy.
    fn make_room(&mut self, tails: &mut [Tail], keep: Option<usize>) -> bool {
        if tails.iter().filter(|t| t.is_open()).count() < self.max_open {
            return true;
        }
        let quietest = tails
            .iter()
            .enumerate()
            .filter(|(i, t)| Some(*i) != keep && t.is_open() && t.is_idle())
            .min_by_key(|(_, t)| t.last_data)
            .map(|(i, _)| i);
        match quietest {
            Some(i) => {
                tails[i].close();
                true
            }
            None => false,
        }
    }

    /// Expands the globs: opens new files (within `max_open_files`), notes renamed ones,
    /// marks vanished ones. Returns how many new files wait for a descriptor.
    fn discover(
        &mut self,
        tails: &mut Vec<Tail>,
        appeared: &mut Vec<(PathBuf, std::fs::File)>,
        first_start: bool,
        ctx: &SourceContext,
    ) -> usize {
        let (paths, errors) = discover::expand(&self.includes, &self.exclude);
        for (dir, e) in errors {
            self.warn_once(&dir, "cannot read directory", &e, ctx);
        }
        let mut seen = HashSet::new();
        let mut marks = None;
        let mut waiting = 0;
        for (path, meta) in &paths {
            let key = identity::key_of(meta);
            if !seen.insert(key.clone()) {
                continue; // the same file under two names
            }
            if let Some(t) = tails.iter_mut().find(|t| t.key == key) {
                if t.path != *path {
                    tracing::debug!(pipeline = %ctx.pipeline, from = %t.path.display(), to = %path.display(), "file renamed");
                    t.path = path.clone();
                }
                t.gone_since = None;
                t.saw_size(meta.len());
                continue;
            }
            if !self.make_room(tails, None) {
                waiting += 1;
                continue;
            }
            let marks = marks.get_or_insert_with(|| ctx.resume_marks());
            let opened = Tail::open_at(path, meta).and_then(|file| {
                Tail::open(
                    path,
                    key.clone(),
                    file,
                    marks.get(&key),
                    first_start,
                    &self.config,
                    ctx,
                )
            });
            match opened {
                Ok(t) => {
                    self.warned.clear(path);
                    tails.push(t);
                }
                Err(e) => self.warn_once(path, "cannot open", &e, ctx),
            }
        }
        // Files the watch opened as they appeared, gone from their path since (rotated
        // away before this scan) or not: each is read from its descriptor.
        for (path, file) in appeared.drain(..) {
            self.appeared
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let Ok(meta) = file.metadata() else { continue };
            let key = identity::key_of(&meta);
            if tails.iter().any(|t| t.key == key) || !self.make_room(tails, None) {
                continue; // already read (or no room: the scans find it if it stays)
            }
            let marks = marks.get_or_insert_with(|| ctx.resume_marks());
            let mark = marks.get(&key);
            match Tail::open(
                &path,
                key.clone(),
                file,
                mark,
                first_start,
                &self.config,
                ctx,
            ) {
                Ok(t) => tails.push(t),
                Err(e) => self.warn_once(&path, "cannot open", &e, ctx),
            }
        }
        if waiting > 0
            && let Some(held) = self.waiting.allow(Instant::now())
        {
            tracing::warn!(
                pipeline = %ctx.pipeline, component = %ctx.component, waiting, max_open_files = self.max_open,
                similar_warnings_held_back = held,
                "every open file is busy: more files wait for a descriptor (raise max_open_files)"
            );
        }
        let listed: HashSet<&PathBuf> = paths.iter().map(|(p, _)| p).collect();
        self.warned.keep(|p| listed.contains(p) || !p.is_file());
        let now = Instant::now();
        for t in tails.iter_mut().filter(|t| !seen.contains(&t.key)) {
            if t.gone_since.is_none() {
                t.gone_since = Some(now);
                t.changed = true;
            }
        }
        let live: HashSet<&str> = tails.iter().map(|t| t.key.as_str()).collect();
        ctx.ledger().expire(ctx.expire_after, |k| live.contains(k));
        waiting
    }

    /// At start: a checkpointed file that was renamed while logcatch was stopped (`create`
    /// rotation to a name the globs do not match) is found next to the path it was read at,
    /// by its device and inode (and first bytes), and read from its checkpoint to its end.
    fn resume_renamed(&mut self, tails: &mut Vec<Tail>, ctx: &SourceContext) {
        let marks = ctx.resume_marks();
        for (key, mark) in &marks {
            let Some(path) = mark.path.as_deref().map(PathBuf::from) else {
                continue;
            };
            if !self.includes.iter().any(|i| i.matches(&path))
                || discover::excluded(&self.exclude, &path)
                || tails.iter().any(|t| t.key == *key)
            {
                continue;
            }
            let Some(renamed) = discover::renamed(&path, key, mark.offset) else {
                continue;
            };
            if !self.make_room(tails, None) {
                return;
            }
            let opened = std::fs::File::open(&renamed).and_then(|file| {
                Tail::open(
                    &path,
                    key.clone(),
                    file,
                    Some(mark),
                    false,
                    &self.config,
                    ctx,
                )
            });
            match opened {
                // Not the file we had after all (its first bytes differ): left alone.
                Ok(t) if t.read_offset() != mark.offset => {}
                Ok(mut t) => {
                    tracing::info!(pipeline = %ctx.pipeline, component = %ctx.component, path = %path.display(), renamed = %renamed.display(), offset = mark.offset, "file renamed while logcatch was stopped; reading the rest of it");
                    t.gone_since = Some(Instant::now());
                    tails.push(t);
                }
                Err(e) => self.warn_once(&renamed, "cannot open", &e, ctx),
            }
        }
    }

    /// Closes files that went away and have been read to their end (their last line
    /// delivered, newline or not).
    fn retire(&self, tails: &mut Vec<Tail>, ctx: &SourceContext) -> Result<(), PluginError> {
        let mut i = 0;
        while i < tails.len() {
            if tails[i].retire(self.config.rotate_wait, ctx)? {
                let t = tails.swap_remove(i);
                tracing::info!(pipeline = %ctx.pipeline, path = %t.path.display(), offset = t.read_offset(), "file rotated or deleted and read to its end; closing");
                Counters::add(&ctx.counters.files_closed, 1);
            } else {
                i += 1;
            }
        }
        Ok(())
    }
}

/// The last problem said about each path, so a repeating one is said once (50 unreadable
/// files used to give 1,000 warnings in 20 s).
#[derive(Default)]
struct Warned(HashMap<PathBuf, String>);

impl Warned {
    /// Whether `message` about `path` is news (and remembers it).
    fn is_new(&mut self, path: &std::path::Path, message: &str) -> bool {
        if self.0.get(path).is_some_and(|m| m == message) {
            return false;
        }
        self.0.insert(path.to_owned(), message.to_owned());
        true
    }

    /// `path` is fine again: its next problem is news.
    fn clear(&mut self, path: &std::path::Path) {
        self.0.remove(path);
    }

    /// Forgets the paths `keep` says no to.
    fn keep(&mut self, keep: impl Fn(&PathBuf) -> bool) {
        self.0.retain(|p, _| keep(p));
    }
}

/// What a wait for file events came to.
enum Waited {
    /// Nothing: the timeout passed.
    Timeout,
    /// Files changed (their paths are in the set).
    Files,
    /// Files were created, removed or renamed.
    Structural,
    /// Events were lost: look at everything.
    Everything,
}

/// Waits up to `timeout` for file events; collects the paths of changed files into
/// `changed`, and the files the watch opened as they appeared into `appeared`.
fn wait(
    events: &Receiver<Wake>,
    timeout: Duration,
    changed: &mut HashSet<PathBuf>,
    appeared: &mut Vec<(PathBuf, std::fs::File)>,
) -> Waited {
    let first = match events.recv_timeout(timeout) {
        Ok(w) => w,
        Err(RecvTimeoutError::Timeout) => return Waited::Timeout,
        Err(RecvTimeoutError::Disconnected) => {
            std::thread::sleep(timeout);
            return Waited::Timeout;
        }
    };
    let mut out = Waited::Files;
    for w in std::iter::once(first).chain(events.try_iter()) {
        match w {
            Wake::Modified(path) => {
                changed.insert(path);
            }
            Wake::Structural => {
                if !matches!(out, Waited::Everything) {
                    out = Waited::Structural;
                }
            }
            Wake::Everything => out = Waited::Everything,
            Wake::Appeared(path, file) => {
                appeared.push((path, file));
                if !matches!(out, Waited::Everything) {
                    out = Waited::Structural;
                }
            }
            Wake::Stop => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeating_problem_is_said_once_until_it_changes() {
        let mut w = Warned::default();
        let p = std::path::Path::new("/var/log/a.log");
        assert!(w.is_new(p, "cannot open: Permission denied"));
        for _ in 0..100 {
            assert!(!w.is_new(p, "cannot open: Permission denied"));
        }
        assert!(
            w.is_new(p, "cannot open: Too many open files"),
            "a new problem is news"
        );
        w.clear(p);
        assert!(
            w.is_new(p, "cannot open: Too many open files"),
            "after it was fine"
        );
        assert!(w.is_new(
            std::path::Path::new("/var/log/b.log"),
            "cannot open: Permission denied"
        ));
    }
}
