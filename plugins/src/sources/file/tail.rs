//! One file being read: opened at the offset [`identity::start_offset`] decides, polled for
//! what is new (and for what [`identity::classify`] says was replaced), its lines cut into
//! batches, closed while idle when the source holds too many descriptors and reopened by
//! its identity when it changes, and retired once it is gone and read to its end (its last
//! line delivered even without a newline).

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use logcatch_core::checkpoint::{Fingerprint, Mark};
use logcatch_core::plugin::{PluginError, SourceContext};

use super::FileConfig;
use super::identity::{self, Change, FINGERPRINT_BYTES, Found, Observed, Start};
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
}

/// A tail's state as the source's loop sees it after a poll.
pub struct Polled {
    /// It read something, or has a full batch: poll again at once.
    pub busy: bool,
}

impl Tail {
    /// Opens the file at `path` (identity `key`, last stat `meta`), starting at the offset
    /// its checkpoint `mark` and `first_start` give.
    pub fn open(
        path: &Path,
        key: String,
        meta: &std::fs::Metadata,
        mark: Option<&Mark>,
        first_start: bool,
        config: &FileConfig,
        ctx: &SourceContext,
    ) -> std::io::Result<Tail> {
        let mut file = File::open(path)?;
        let meta_now = file.metadata()?;
        if identity::key_of(&meta_now) != identity::key_of(meta) {
            return Err(std::io::Error::other("replaced while opening; next scan"));
        }
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
        let offset = start.offset();
        let fingerprint = identity::fingerprint(&file, offset.min(FINGERPRINT_BYTES))?;
        let (resumed, why) = match start {
            Start::Resume(_) => (true, "its checkpoint"),
            Start::End(_) => (false, "start_at: end"),
            Start::Beginning(why) => (false, why),
        };
        tracing::info!(
            pipeline = %ctx.pipeline, component = %ctx.component, path = %path.display(),
            offset, resumed, from = why, "tailing file"
        );
        file.seek(SeekFrom::Start(offset))?;
        let tail = identity::tail_signature(&file, offset)?;
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
            ),
            last_size: size,
            pending_since: None,
            last_data: Instant::now(),
            gone_since: None,
            stop_at: ctx.once.then_some(size),
            next_check: None,
            changed: true,
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
        self.lines.pending() == 0
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
        let Some(file) = &self.file else {
            return Ok(Polled { busy: false });
        };
        let size = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                tracing::warn!(pipeline = %ctx.pipeline, path = %self.path.display(), "cannot stat: {e}");
                return Ok(Polled { busy: false });
            }
        };
        let read_to = self.lines.read_offset();
        if size != self.last_size || size != read_to {
            let observed = Observed {
                size,
                last_size: self.last_size,
                read_offset: read_to,
                same_head: self.same_head(file)?,
                same_tail: size < read_to || identity::tail_signature(file, read_to)? == self.tail,
            };
            if let Change::Replaced(why) = identity::classify(observed) {
                // Copytruncate or truncate-and-rewrite: what is there now is new content.
                self.send(ctx)?;
                tracing::info!(pipeline = %ctx.pipeline, path = %self.path.display(), size, offset = read_to, "file {why}; reading it from the start");
                let file = self.file.as_mut().expect("open");
                file.seek(SeekFrom::Start(0))?;
                self.lines.reset(0);
                self.fingerprint = identity::fingerprint(file, 0)?;
                self.tail = identity::tail_signature(file, 0)?;
                self.stop_at = self.stop_at.map(|_| size);
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
                    let file = self.file.as_ref().expect("open");
                    self.tail = identity::tail_signature(file, self.lines.read_offset())?;
                }
            }
        }
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

    /// When its pending lines are due to be sent, if it has any.
    pub fn linger_deadline(&self, linger: Duration) -> Option<Instant> {
        self.pending_since.map(|s| s + linger)
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
        let file = &self.file;
        let mut mark = self.mark(0, None);
        let batch = self
            .lines
            .take_batch(&path, now_ns(), &ctx.counters, |end| {
                mark.offset = end;
                // One read per batch: the bytes before the offset, for a restart to check.
                mark.tail = file
                    .as_ref()
                    .and_then(|f| identity::tail_signature(f, end).ok().flatten());
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

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
