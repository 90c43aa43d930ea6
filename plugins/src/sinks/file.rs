//! The `file` sink: appends events to a file, as text or JSON lines. A batch is acknowledged
//! only once it is written and flushed to the OS (and, with `fsync: true`, to the disk).
//!
//! A batch is written in chunks; one that fails part way (a full disk) is resumed, once
//! the retry comes, after the lines of it already in the file, instead of written again
//! whole (which repeated every line before the failure).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use logcatch_core::batch::Batch;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Sink, SinkContext, SinkWriter};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use logcatch_core::encode::{CHUNK, Format, encode_from};

/// `type: file` (sink) options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The file to append to (created with its directories); relative to the config file.
    pub path: PathBuf,
    /// `text` or `json`.
    #[serde(default)]
    pub format: Format,
    /// Also fsync each batch before acknowledging it (survives power loss, costs speed).
    #[serde(default)]
    pub fsync: bool,
}

struct FileSink {
    path: PathBuf,
    format: Format,
    fsync: bool,
    /// A batch whose write failed part way, and the file's length before it: shared by the
    /// writers, since a failure reopens the writer.
    unfinished: Arc<std::sync::Mutex<Option<Unfinished>>>,
}

/// A batch written in part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Unfinished {
    batch: BatchId,
    /// The file's length before the batch's first byte.
    start: u64,
}

/// A batch, told apart while the pipeline retries it: it stays at one address, with its
/// length and cut time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchId(usize, usize, std::time::Instant);

impl BatchId {
    fn of(batch: &Batch) -> Self {
        BatchId(batch as *const Batch as usize, batch.len(), batch.created)
    }
}

/// Builds a `file` sink from its options.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Sink>, OptionsError> {
    let config: FileSinkConfig = options.parse()?;
    if config.path.as_os_str().is_empty() {
        return Err(OptionsError::new("path", "must not be empty"));
    }
    let path = options.resolve(&config.path);
    if path.is_dir() {
        return Err(OptionsError::new(
            "path",
            format!("{} is a directory", path.display()),
        ));
    }
    Ok(Arc::new(FileSink {
        path,
        format: config.format,
        fsync: config.fsync,
        unfinished: Arc::default(),
    }))
}

#[async_trait]
impl Sink for FileSink {
    async fn open(&self, _ctx: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError> {
        let context = |e: std::io::Error| PluginError::new(format!("{}: {e}", self.path.display()));
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(context)?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(context)?;
        let path = self.path.clone();
        let cut = tokio::task::spawn_blocking(move || drop_torn_tail(&path))
            .await
            .map_err(|e| PluginError::new(e.to_string()))?
            .map_err(context)?;
        if cut > 0 {
            tracing::warn!(path = %self.path.display(), bytes = cut, "removed a partial last line left by a crash; its batch is delivered again");
        }
        let len = file.metadata().await.map_err(context)?.len();
        Ok(Box::new(FileWriter {
            sink_path: self.path.clone(),
            format: self.format,
            fsync: self.fsync,
            file,
            len,
            unfinished: self.unfinished.clone(),
            buf: Vec::new(),
        }))
    }
}

struct FileWriter {
    sink_path: PathBuf,
    format: Format,
    fsync: bool,
    file: tokio::fs::File,
    /// The file's length as this writer has written it.
    len: u64,
    unfinished: Arc<std::sync::Mutex<Option<Unfinished>>>,
    buf: Vec<u8>,
}

#[async_trait]
impl SinkWriter for FileWriter {
    async fn write(&mut self, batch: &Batch) -> Result<(), PluginError> {
        let context =
            |e: std::io::Error| PluginError::new(format!("{}: {e}", self.sink_path.display()));
        let id = BatchId::of(batch);
        let start = {
            let mut unfinished = self.unfinished.lock().unwrap_or_else(|p| p.into_inner());
            match *unfinished {
                // A retry: its lines before the failure are in the file (a torn last one was
                // cut off when the writer opened), unless something else wrote there since.
                Some(u) if u.batch == id && u.start <= self.len => u.start,
                _ => {
                    *unfinished = Some(Unfinished {
                        batch: id,
                        start: self.len,
                    });
                    self.len
                }
            }
        };
        let mut skip = self.len - start;
        if skip > 0 {
            tracing::info!(path = %self.sink_path.display(), bytes = skip, "resuming a batch after the part of it already written");
        }
        let mut next = 0;
        while next < batch.len() {
            self.buf.clear();
            next = encode_from(batch, next, self.format, &mut self.buf, CHUNK);
            let from = (skip as usize).min(self.buf.len());
            skip -= from as u64;
            if from < self.buf.len() {
                // `len` is not advanced on a failure: the retry measures the file again.
                self.file
                    .write_all(&self.buf[from..])
                    .await
                    .map_err(context)?;
                self.len += (self.buf.len() - from) as u64;
            }
        }
        self.file.flush().await.map_err(context)?;
        if self.fsync {
            self.file.sync_data().await.map_err(context)?;
        }
        *self.unfinished.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    async fn close(&mut self) -> Result<(), PluginError> {
        self.file.flush().await?;
        Ok(())
    }
}

/// A crash (even `kill -9`) can cut a write short, leaving a partial last line; its batch
/// was never acknowledged, so it is sent again. Truncates the file back to its last newline
/// so the resent lines do not get glued onto the fragment. Returns the bytes removed.
fn drop_torn_tail(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(chunk)?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        f.set_len(end)?;
    }
    Ok(len - end)
}

#[cfg(test)]
mod tests {
    use super::drop_torn_tail;

    #[test]
    fn a_torn_last_line_is_cut_back_to_the_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.log");
        std::fs::write(&p, "one\ntwo\nthr").unwrap();
        assert_eq!(drop_torn_tail(&p).unwrap(), 3);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one\ntwo\n");
        assert_eq!(drop_torn_tail(&p).unwrap(), 0, "a whole file is left alone");
        std::fs::write(&p, "no newline at all").unwrap();
        assert_eq!(drop_torn_tail(&p).unwrap(), 17);
        assert_eq!(std::fs::read(&p).unwrap(), b"");
    }
}
