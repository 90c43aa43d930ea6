//! The dead-letter file: events a filter failed on even alone (or a sink's destination
//! refused for good), with the reason, one JSON object per line under
//! `data_dir/dead_letter/<pipeline>.ndjson`, so nothing is lost silently and an operator can
//! replay them.
//!
//! Written as whole lines (a write cut short is resumed where it stopped, and a line torn by
//! a crash is closed before the next), fsynced before the events' batch is acknowledged, and
//! capped (`dead_letter.max_bytes`): a full file holds the pipeline, loudly, until it is
//! moved away.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::backoff::Backoff;
use crate::batch::Batch;
use crate::encode;
use crate::health::{ComponentState, StateCell};

/// Appends dead letters to one file.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    max_bytes: u64,
    /// One writer at a time: a pipeline's filter chain and its sinks share the file.
    writing: Mutex<()>,
}

impl DeadLetters {
    /// Dead letters for the file at `path` (created on first use), of at most `max_bytes`.
    pub fn new(path: PathBuf, max_bytes: u64) -> Self {
        DeadLetters {
            path,
            max_bytes,
            writing: Mutex::new(()),
        }
    }

    /// Writes `events` (with `reasons[i]` for event `i`) from `plugin`. Retries with backoff
    /// until it succeeds (a full disk holds the pipeline rather than lose events), showing
    /// the component whose state is `state` as `blocked` meanwhile.
    pub fn write(
        &self,
        pipeline: &str,
        plugin: &str,
        events: &Batch,
        reasons: &[String],
        state: &StateCell,
    ) {
        let mut buf = Vec::new();
        for (e, reason) in events.iter().zip(reasons) {
            let extra = [
                ("pipeline", pipeline),
                ("plugin", plugin),
                ("reason", reason),
            ];
            encode::event_json(&mut buf, &e, &extra);
            buf.push(b'\n');
        }
        let _one = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let mut backoff = Backoff::new();
        let mut done = 0;
        loop {
            match self.append(&buf, &mut done) {
                Ok(()) => {
                    if state.get() == ComponentState::Blocked {
                        state.set(ComponentState::Running);
                    }
                    return;
                }
                Err(e) => {
                    state.set(ComponentState::Blocked);
                    let delay = backoff.step();
                    tracing::error!(path = %self.path.display(), retry_in_ms = delay.as_millis() as u64, "cannot write dead letters: {e}; the pipeline is held");
                    std::thread::sleep(delay);
                }
            }
        }
    }

    /// Appends `bytes` from `*done` on (what an earlier attempt wrote is not written again),
    /// then fsyncs. Refused while the file would outgrow its cap.
    fn append(&self, bytes: &[u8], done: &mut usize) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .create(true)
            .append(true)
            .open(&self.path)?;
        let len = f.metadata()?.len();
        if *done == 0 {
            let room = self.max_bytes.saturating_sub(len);
            if bytes.len() as u64 > room && len > 0 {
                return Err(std::io::Error::other(format!(
                    "the dead-letter file is full ({len} bytes, dead_letter.max_bytes {}): move it away to go on",
                    self.max_bytes
                )));
            }
            if len > 0 && !ends_with_newline(&mut f, len)? {
                // A line torn by a crash: close it, so the next one stands on its own.
                f.write_all(b"\n")?;
            }
        }
        while *done < bytes.len() {
            match f.write(&bytes[*done..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => *done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        f.sync_data()
    }
}

/// Whether the file of length `len` (more than 0) ends with a newline.
fn ends_with_newline(f: &mut std::fs::File, len: u64) -> std::io::Result<bool> {
    let mut last = [0u8];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}
