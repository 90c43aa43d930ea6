//! One file being read: opened at the offset [`identity::start_offset`] decides, polled for
//! what is new (and for what [`identity::classify`] says was replaced), its lines cut into
//! batches, closed while idle when the source holds too many descriptors and reopened by
//! its identity when it changes, and retired once it is gone and read to its end (its last
//! line delivered even without a newline). When it is truncated before we read all it held
//! (copytruncate while we are behind), the rest is read from its rotated copy
//! ([`copies::find`]) before the file itself is read again from 0; the same at a start whose
//! checkpoint is past the end of a truncated file.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use logcatch_core::checkpoint::{Fingerprint, Mark};
use logcatch_core::metrics::Counters;
use logcatch_core::plugin::{PluginError, SourceContext};

use super::FileConfig;
use super::copies::{self, Copy, Wanted};
use super::identity::{self, Change, FINGERPRINT_BYTES, Found, Observed, Start, TAIL_BYTES};
use crate::sources::lines::LineBuffer;

/// One file the source reads.
pub struct Tail {
    /// Its identity (`device:inode`): the checkpoint key.
    pub key: String,
    /// The path it was last seen at.
    pub path: PathBuf,
    /// Open while read; `None` while closed to stay under `max_open_files`.
    file: Option<File>,
    fingerprint: Fingerprint,
    /// The bytes just before the read offset, as read.
    tail: Option<Fingerprint>,
    lines: LineBuffer,
    /// Its size at the last poll.
    last_size: u64,
    /// When the first line now pending was read (for linger).
    pending_since: Option<Instant>,
    /// Last time new bytes arrived.
    pub last_data: Instant,
    /// Set when the path no longer leads to this file (rotated or deleted).
    pub gone_since: Option<Instant>,
    /// `--once`: stop at this size.
    stop_at: Option<u64>,
    /// When it is due for a poll without an event or a scan seeing it change: only files
    /// gone from their path (no scan sees them) are polled on a schedule.
    pub next_check: Option<Instant>,
    /// A file event named it since its last poll.
    pub changed: bool,
    /// The rotated copy being read to its end, the file having been truncated before we
    /// read all it held; our offsets are the copy's until then.
    copy: Option<Copy>,
    /// `multiline.timeout`: an open event is sent when no line came for this long.
    multiline_timeout: Option<Duration>,
}

/// A tail's state as the source's loop sees it after a poll.
pub struct Polled {
    /// It read something, or has a full batch: poll again at once.
    pub busy: bool,
}

impl Tail {
    /// Opens the file at `path` if it still is the one a scan found there (last stat
    /// `meta`).
    pub fn open_at(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<File> {
        let file = File::open(path)?;
        if identity::key_of(&file.metadata()?) != identity::key_of(meta) {
            return Err(std::io::Error::other("replaced while opening; next scan"));
        }
        Ok(file)
    }

    /// Tails `file`, found at `path` (identity `key`), starting at the offset its checkpoint
    /// `mark` and `first_start` give.
    pub fn open(
        path: &Path,
        key: String,
        mut file: File,
        mark: Option<&Mark>,
        first_start: bool,
        config: &FileConfig,
        ctx: &SourceContext,
    ) -> std::io::Result<Tail> {
        let meta_now = file.metadata()?;
        let size = meta_now.len();
        let checkpoint = match mark {
            Some(m) => {
                let head = match m.fingerprint {
                    Some(fp) => {
                        size >= fp.len as u64 && identity::fingerprint(&file, fp.len as u64)? == fp
                    }
                    None => false,
                };
                // The bytes before the offset, where the mark has them: a file rewritten
                // with the same first bytes and at least as long is not resumed mid-way.
                let tail = m.tail.is_none()
                    || m.offset > size
                    || identity::tail_signature(&file, m.offset)? == m.tail;
                Some((m.offset, head && tail))
            }
            None => None,
        };
        let found = Found {
            size,
            checkpoint,
            first_start,
        };
        let start = identity::start_offset(found, config.start_at);
        // Truncated (or rewritten) while we were not reading: the rest of what we had not
        // read may be in its rotated copy.
        let copy = match (start, mark) {
            (Start::Beginning(_), Some(m)) => m.fingerprint.and_then(|head| {
                let wanted = Wanted {
                    path,
                    key: &key,
                    head,
                    tail: m.tail,
                    offset: m.offset,
                };
                copies::find(wanted).ok().flatten()
            }),
            _ => None,
        };
        let (offset, fingerprint, tail) = match (&copy, mark) {
            (Some(c), Some(m)) => {
                tracing::info!(
                    pipeline = %ctx.pipeline, component = %ctx.component, path = %path.display(),
                    copy = %c.path.display(), offset = m.offset,
                    "file truncated while not read; reading the rest of it from its rotated copy first"
                );
                (
                    m.offset,
                    m.fingerprint.expect("a copy is found by it"),
                    m.tail,
                )
            }
            _ => {
                let offset = start.offset();
                let (resumed, why) = match start {
                    Start::Resume(_) => (true, "its checkpoint"),
                    Start::End(_) => (false, "start_at: end"),
                    Start::Beginning(why) => (false, why),
                };
                tracing::info!(
                    pipeline = %ctx.pipeline, component = %ctx.component, path = %path.display(),
                    offset, resumed, from = why, "tailing file"
                );
                (
                    offset,
                    identity::fingerprint(&file, offset.min(FINGERPRINT_BYTES))?,
                    identity::tail_signature(&file, offset)?,
                )
            }
        };
        file.seek(SeekFrom::Start(if copy.is_some() { 0 } else { offset }))?;
        let max_bytes = ctx.batch.max_bytes as usize;
        let t = Tail {
            key,
            path: path.to_owned(),
            file: Some(file),
            fingerprint,
            tail,
            lines: LineBuffer::new(
                offset,
                ctx.batch.max_events,
                max_bytes,
                config.max_line_bytes as usize,
            )
            .with_multiline(config.multiline.clone()),
            last_size: size,
            pending_since: None,
            last_data: Instant::now(),
            gone_since: None,
            stop_at: ctx.once.then_some(size),
            next_check: None,
            changed: true,
            copy,
            multiline_timeout: config.multiline.as_ref().map(|m| m.timeout),
        };
        if matches!(start, Start::End(_)) {
            // Known from now on: a restart resumes here, not at the end of the day.
            ctx.ledger()
                .commit(&[(t.key.clone(), t.mark(offset, t.tail))]);
        }
        Ok(t)
    }

    /// A scan saw the file at its path with `size` bytes: if that is not what the last poll
    /// saw, it is due for a poll (the scan's stat stands in for one).
    pub fn saw_size(&mut self, size: u64) {
        if size != self.last_size {
            self.changed = true;
        }
    }

    /// Whether its descriptor is open.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Idle: read to its end with nothing pending, so it may be closed and reopened later
    /// at the same offset.
    pub fn is_idle(&self) -> bool {
        self.copy.is_none()
            && self.lines.pending() == 0
            && self.lines.read_offset() == self.lines.consumed_offset()
            && self.last_size == self.lines.read_offset()
            && self.gone_since.is_none()
    }

    /// Closes its descriptor (it must be idle); [`Tail::reopen`] opens it again.
    pub fn close(&mut self) {
        self.file = None;
    }

    /// Opens a closed tail again at its path, if the file there is still this one (same
    /// identity and first bytes) and has changed. Returns whether it is open.
    pub fn reopen(&mut self) -> std::io::Result<bool> {
        if self.file.is_some() {
            return Ok(true);
        }
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if identity::key_of(&meta) != self.key || meta.len() == self.last_size {
            return Ok(false);
        }
        let mut file = File::open(&self.path)?;
        if identity::key_of(&file.metadata()?) != self.key {
            return Ok(false);
        }
        file.seek(SeekFrom::Start(self.lines.read_offset()))?;
        self.file = Some(file);
        Ok(true)
    }

    /// The checkpoint mark for offset `end` (`tail`: the bytes before it).
    fn mark(&self, end: u64, tail: Option<Fingerprint>) -> Mark {
        Mark {
            offset: end,
            fingerprint: Some(self.fingerprint),
            tail,
            path: Some(self.path.display().to_string()),
            updated: 0,
        }
    }

    /// Reads what is new (at most one batch) and sends a batch that is full or has lingered
    /// long enough. A closed tail is left alone.
    pub fn poll(&mut self, ctx: &SourceContext) -> Result<Polled, PluginError> {
        if self.copy.is_some() {
            return self.poll_copy(ctx);
        }
        let Some(file) = &self.file else {
            return Ok(Polled { busy: false });
        };
        let mut size = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                tracing::warn!(pipeline = %ctx.pipeline, path = %self.path.display(), "cannot stat: {e}");
                return Ok(Polled { busy: false });
            }
        };
        let read_to = self.lines.read_offset();
        // Looked at even when its size is what it was: a file rewritten with as many bytes
        // (a short one, typically) shows it only by its first bytes. Two short reads a poll.
        {
            let observed = Observed {
                size,
                last_size: self.last_size,
                read_offset: read_to,
                same_head: self.same_head(file)?,
                same_tail: size < read_to || identity::tail_signature(file, read_to)? == self.tail,
            };
            if let Change::Replaced(why) = identity::classify(observed) {
                // Copytruncate or truncate-and-rewrite: what is there now is new content. What
                // we had not read of the old is in its rotated copy, if it has one.
                let wanted = Wanted {
                    path: &self.path,
                    key: &self.key,
                    head: self.fingerprint,
                    tail: self.tail,
                    offset: read_to,
                };
                match copies::find(wanted) {
                    Ok(Some(copy)) => {
                        tracing::info!(pipeline = %ctx.pipeline, path = %self.path.display(), copy = %copy.path.display(), offset = read_to, "file {why}; its rotated copy is read from our offset first (nothing, if it ends before), then the copies made since, then the file from the start");
                        self.copy = Some(copy);
                        return self.poll_copy(ctx);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(pipeline = %ctx.pipeline, path = %self.path.display(), "cannot look for the rotated copy: {e}")
                    }
                }
                self.lost(ctx, self.last_size.saturating_sub(read_to), why);
                tracing::info!(pipeline = %ctx.pipeline, path = %self.path.display(), size, offset = read_to, "file {why}; reading it from the start");
                size = self.restart_live(ctx)?;
            }
        }
        self.last_size = size;
        let mut read = 0;
        let limit = self
            .stop_at
            .map_or(u64::MAX, |s| s.saturating_sub(self.lines.read_offset()));
        if size > self.lines.read_offset() && limit > 0 && !self.lines.is_full() {
            let file = self.file.as_ref().expect("open");
            let before = self.lines.snapshot();
            read = self.lines.fill(file, limit, &ctx.counters)?;
            if read > 0 {
                self.last_data = Instant::now();
                if !self.grow_head()? {
                    // Truncated and rewritten between the check above and the read: what we
                    // read may be the new content at the old offset. Forget it; the next poll
                    // sees the new first bytes and starts the file over.
                    tracing::debug!(pipeline = %ctx.pipeline, path = %self.path.display(), offset = self.lines.read_offset(), "file rewritten while reading; dropping what was just read");
                    self.lines.undo(before);
                    let offset = self.lines.read_offset();
                    self.file
                        .as_mut()
                        .expect("open")
                        .seek(SeekFrom::Start(offset))?;
                    self.last_size = 0; // whatever it is now, look again
                } else {
                    // The bytes before the offset as we read them, not as the file has them
                    // now: truncated and regrown since, the file's would be another
                    // generation's, and its copy would not be recognized.
                    self.tail = match self.lines.last_read(TAIL_BYTES as usize) {
                        Some(bytes) => Some(signature(bytes)),
                        None => {
                            let file = self.file.as_ref().expect("open");
                            identity::tail_signature(file, self.lines.read_offset())?
                        }
                    };
                }
            }
        }
        self.end_quiet_event();
        self.send_if_due(ctx, read)
    }

    /// Sends the batch if it is full or has lingered long enough; `read` bytes were just
    /// read.
    fn send_if_due(&mut self, ctx: &SourceContext, read: usize) -> Result<Polled, PluginError> {
        if self.lines.pending() > 0 && self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
        let lingered = self
            .pending_since
            .is_some_and(|s| s.elapsed() >= ctx.batch.linger);
        let full = self.lines.is_full();
        if full || lingered {
            self.send(ctx)?;
        }
        Ok(Polled {
            busy: read > 0 || full,
        })
    }

    /// Ends the open multiline event, if any, for it to be sent.
    pub fn end_event(&mut self) {
        self.lines.close_open();
    }

    /// Ends the open multiline event if no line came for `multiline.timeout`.
    fn end_quiet_event(&mut self) {
        if let Some(timeout) = self.multiline_timeout
            && self.lines.has_open()
            && self.last_data.elapsed() >= timeout
        {
            self.lines.close_open();
        }
    }

    /// Reads on in the rotated copy; at its end, goes back to the file itself, from 0.
    fn poll_copy(&mut self, ctx: &SourceContext) -> Result<Polled, PluginError> {
        let mut read = 0;
        if !self.lines.is_full() {
            let copy = self.copy.as_mut().expect("in a copy");
            read = match self.lines.fill(&mut copy.reader, u64::MAX, &ctx.counters) {
                Ok(n) => n,
                Err(e) => {
                    // A gzip cut short (still being written, or damaged): what it had is read.
                    tracing::warn!(pipeline = %ctx.pipeline, path = %self.path.display(), copy = %copy.path.display(), offset = self.lines.read_offset(), "cannot read the rotated copy to its end: {e}");
                    0
                }
            };
            if read == 0 {
                return self.leave_copy(ctx);
            }
            if !copy.read_any {
                copy.read_any = true;
                Counters::add(&ctx.counters.copies_read, 1);
            }
            self.last_data = Instant::now();
        }
        self.send_if_due(ctx, read)
    }

    /// The copy is read to its end: its last line cut short by the copy (the rest was
    /// written after it) is lost with the window, and the next generation is read from 0:
    /// the next copy if the file was rotated again since that one was made, else the file.
    fn leave_copy(&mut self, ctx: &SourceContext) -> Result<Polled, PluginError> {
        let copy = self.copy.take().expect("in a copy");
        let cut = self.lines.discard_partial();
        self.lost(ctx, cut as u64, "copied while a line was being written");
        let copied = self.lines.read_offset();
        // Seen in the file, but not in the copy: written between the copy and the truncate.
        self.lost(
            ctx,
            self.last_size.saturating_sub(copied),
            "written between the copy and the truncation",
        );
        self.send(ctx)?;
        tracing::info!(pipeline = %ctx.pipeline, path = %self.path.display(), copy = %copy.path.display(), offset = copied, "rotated copy read to its end; reading the file from the start");
        let next = copies::newer(&self.path, &self.key, copy.modified, self.fingerprint);
        match next {
            Ok(Some((next, head))) => {
                tracing::info!(pipeline = %ctx.pipeline, path = %self.path.display(), copy = %next.path.display(), "the file was rotated again since; reading that generation from its copy");
                self.lines.reset(0);
                self.fingerprint = head;
                self.tail = None;
                self.last_size = 0;
                self.copy = Some(next);
                return Ok(Polled { busy: true });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(pipeline = %ctx.pipeline, path = %self.path.display(), "cannot look for later rotated copies: {e}")
            }
        }
        self.last_size = self.restart_live(ctx)?;
        Ok(Polled { busy: true })
    }

    /// Reads the file itself again from 0 (truncated or replaced, its old content done);
    /// returns its size now. Its fingerprint is its first bytes as they are now, read or
    /// not: if it is truncated again before we read them, the next poll sees other first
    /// bytes and finds this generation in its copy, from 0.
    fn restart_live(&mut self, ctx: &SourceContext) -> Result<u64, PluginError> {
        self.lines.close_open();
        // (This may wait for the pipeline: the file is looked at again after.)
        self.send(ctx)?;
        let file = self.file.as_mut().expect("open");
        let size = file.metadata()?.len();
        file.seek(SeekFrom::Start(0))?;
        self.lines.reset(0);
        self.fingerprint = identity::fingerprint(file, size.min(FINGERPRINT_BYTES))?;
        self.tail = identity::tail_signature(file, 0)?;
        self.stop_at = self.stop_at.map(|_| size);
        Ok(size)
    }

    /// Counts and logs `bytes` lost in a rotation.
    fn lost(&self, ctx: &SourceContext, bytes: u64, why: &str) {
        if bytes == 0 {
            return;
        }
        Counters::add(&ctx.counters.lost_in_rotation, bytes);
        tracing::warn!(pipeline = %ctx.pipeline, component = %ctx.component, path = %self.path.display(), bytes, "bytes lost in a rotation: {why}");
    }

    /// When it is due for a poll without an event: its pending lines to send, or its open
    /// multiline event to end.
    pub fn linger_deadline(&self, linger: Duration) -> Option<Instant> {
        let send = self.pending_since.map(|s| s + linger);
        let end = self
            .multiline_timeout
            .filter(|_| self.lines.has_open())
            .map(|t| self.last_data + t);
        send.into_iter().chain(end).min()
    }

    /// Do the file's first bytes still hash to the fingerprint?
    fn same_head(&self, file: &File) -> std::io::Result<bool> {
        let fp = self.fingerprint;
        Ok(fp.len == 0 || identity::fingerprint(file, fp.len as u64)? == fp)
    }

    /// After a read: do the file's first bytes still match the fingerprint? If so, the
    /// fingerprint grows to cover up to [`FINGERPRINT_BYTES`] of them, never past what we
    /// have read (so a file shorter than it is also shorter than our offset). Checked and
    /// grown from one read of the head, so a rewrite cannot slip in between and become the
    /// fingerprint of the file we are reading.
    fn grow_head(&mut self) -> std::io::Result<bool> {
        let file = self.file.as_ref().expect("open");
        let head = identity::read_range(file, 0, FINGERPRINT_BYTES)?;
        let fp = self.fingerprint;
        if head.len() < fp.len as usize {
            return Ok(true); // shrank: truncated after our read, the next poll sees it
        }
        if xxhash_rust::xxh3::xxh3_64(&head[..fp.len as usize]) != fp.hash {
            return Ok(false);
        }
        let len = head
            .len()
            .min(self.lines.read_offset().min(FINGERPRINT_BYTES) as usize);
        if len > fp.len as usize {
            self.fingerprint = Fingerprint {
                len: len as u32,
                hash: xxhash_rust::xxh3::xxh3_64(&head[..len]),
            };
        }
        Ok(true)
    }

    /// Sends the pending lines (waits while the pipeline is full).
    pub fn send(&mut self, ctx: &SourceContext) -> Result<(), PluginError> {
        self.pending_since = None;
        if self.lines.pending() == 0 {
            return Ok(());
        }
        let key = self.key.clone();
        let path = self.path.to_string_lossy().into_owned();
        // The bytes before the batch's end, for a restart to check, as they were read (the
        // file may hold another generation's by now); read again from the file (a copy's,
        // when reading one; a gzipped copy has none to read at an offset) only when the
        // buffer no longer has them.
        let end = self.lines.consumed_offset();
        let tail = match self.lines.before_consumed(TAIL_BYTES as usize) {
            Some(bytes) => Some(signature(bytes)),
            None => {
                let file = match &self.copy {
                    Some(c) => c.plain(),
                    None => self.file.as_ref(),
                };
                file.and_then(|f| identity::tail_signature(f, end).ok().flatten())
            }
        };
        let mark = self.mark(end, tail);
        let batch = self.lines.take_batch(&path, now_ns(), &ctx.counters, |at| {
            debug_assert_eq!(at, end);
            ctx.ack(vec![(key, mark)])
        });
        ctx.blocking_send(batch)
            .map_err(|e| PluginError::new(e.to_string()))?;
        if self.lines.pending() > 0 {
            self.pending_since = Some(Instant::now());
        }
        Ok(())
    }

    /// Gone (rotated away or deleted) and quiet for `rotate_wait` (or `--once`): delivers a
    /// last line that never got its newline, and says whether it may be closed for good
    /// (read to its end, nothing pending).
    pub fn retire(
        &mut self,
        rotate_wait: Duration,
        ctx: &SourceContext,
    ) -> Result<bool, PluginError> {
        let Some(gone) = self.gone_since else {
            return Ok(false);
        };
        if self.copy.is_some() {
            return Ok(false); // its copy first
        }
        let quiet = gone.elapsed() >= rotate_wait && self.last_data.elapsed() >= rotate_wait;
        if !(quiet || ctx.once) {
            return Ok(false);
        }
        let size = match &self.file {
            Some(f) => f.metadata().map(|m| m.len()).unwrap_or(u64::MAX),
            None => self.lines.read_offset(),
        };
        if size > self.lines.read_offset() || self.lines.is_full() {
            return Ok(false); // more to read first
        }
        if self.lines.finish_partial() {
            tracing::info!(pipeline = %ctx.pipeline, path = %self.path.display(), "the last line of a rotated or deleted file has no newline; delivered as it is");
        }
        self.send(ctx)?;
        Ok(self.lines.pending() == 0)
    }

    /// Where it has read to.
    pub fn read_offset(&self) -> u64 {
        self.lines.read_offset()
    }
}

/// The signature of the bytes before an offset, as [`identity::tail_signature`] makes it.
fn signature(bytes: &[u8]) -> Fingerprint {
    Fingerprint {
        len: bytes.len() as u32,
        hash: xxhash_rust::xxh3::xxh3_64(bytes),
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
