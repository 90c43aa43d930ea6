//! The dead-letter file: events a filter failed on even alone, with the reason, one JSON
//! object per line under `data_dir/dead_letter/<pipeline>.ndjson`, so nothing is lost
//! silently and an operator can replay them.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use crate::batch::Batch;
use crate::health::{ComponentState, StateCell};
use crate::supervisor::Backoff;

/// Appends dead letters to one file.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
}

impl DeadLetters {
    /// Dead letters for the file at `path` (created on first use).
    pub fn new(path: PathBuf) -> Self {
        DeadLetters { path }
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
            let attrs: serde_json::Map<String, serde_json::Value> = e
                .attrs()
                .map(|(k, v)| {
                    let v = match v {
                        crate::AttrValue::Text(s) => s.into(),
                        crate::AttrValue::Int(i) => i.into(),
                        crate::AttrValue::Float(f) => f.into(),
                        crate::AttrValue::Bool(b) => b.into(),
                    };
                    (k.to_owned(), v)
                })
                .collect();
            let line = serde_json::json!({
                "pipeline": pipeline,
                "plugin": plugin,
                "reason": reason,
                "source": e.source(),
                "offset": e.offset(),
                "timestamp": humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(e.timestamp_ns())).to_string(),
                "message": e.message(),
                "attributes": attrs,
            });
            serde_json::to_writer(&mut buf, &line).expect("JSON to a Vec");
            buf.push(b'\n');
        }
        let mut backoff = Backoff::new();
        loop {
            match self.append(&buf) {
                Ok(()) => {
                    if state.get() == ComponentState::Blocked {
                        state.set(ComponentState::Running);
                    }
                    return;
                }
                Err(e) => {
                    state.set(ComponentState::Blocked);
                    let delay = backoff.step();
                    tracing::error!(path = %self.path.display(), retry_in_ms = delay.as_millis() as u64, "cannot write dead letters: {e}");
                    std::thread::sleep(delay);
                }
            }
        }
    }

    fn append(&self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(bytes)?;
        f.flush()
    }
}
