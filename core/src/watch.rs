//! Watches the config file and the plugin files of running pipelines for changes, so that
//! an edit or a new `.wasm` is picked up without a signal.
//!
//! Directories are watched, not files: editors and deploy tools replace a file by writing a
//! new one and renaming it over the old, which a watch on the old file's inode never sees.
//! Every event is reported by path; the daemon debounces them and decides what they mean.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

/// A set of watched directories whose events arrive as paths on a channel.
pub struct Watcher {
    inner: RecommendedWatcher,
    dirs: BTreeSet<PathBuf>,
}

impl Watcher {
    /// A watcher with nothing watched yet, and the receiver of the changed paths.
    pub fn new() -> notify::Result<(Watcher, mpsc::UnboundedReceiver<PathBuf>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
                Ok(e) if !matches!(e.kind, EventKind::Access(_)) => {
                    for path in e.paths {
                        let _ = tx.send(path);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("file watch error: {e}"),
            })?;
        let watcher = Watcher {
            inner,
            dirs: BTreeSet::new(),
        };
        Ok((watcher, rx))
    }

    /// Watches exactly the directories of `files` (adding new ones, dropping the others).
    pub fn watch_dirs_of<'a>(&mut self, files: impl IntoIterator<Item = &'a Path>) {
        let wanted: BTreeSet<PathBuf> = files.into_iter().filter_map(dir_of).collect();
        for gone in self.dirs.difference(&wanted) {
            let _ = self.inner.unwatch(gone);
        }
        for dir in wanted.difference(&self.dirs) {
            if let Err(e) = self.inner.watch(dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), "cannot watch for changes: {e}; use SIGHUP or POST /reload");
            }
        }
        self.dirs = wanted;
    }
}

/// The absolute, resolved directory of `file`.
fn dir_of(file: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(file).ok()?;
    abs.parent()?.canonicalize().ok()
}

/// `file` as watch events name it: its resolved directory joined with its name.
pub fn resolved(file: &Path) -> Option<PathBuf> {
    Some(dir_of(file)?.join(file.file_name()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_file_renamed_over_a_watched_one_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("logcatch.yaml");
        std::fs::write(&target, "a").unwrap();
        let (mut w, mut rx) = Watcher::new().unwrap();
        w.watch_dirs_of([target.as_path()]);
        let tmp = dir.path().join(".logcatch.yaml.swp");
        std::fs::write(&tmp, "b").unwrap();
        std::fs::rename(&tmp, &target).unwrap();
        let want = resolved(&target).unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(p) = rx.recv().await {
                if p == want {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(seen, Ok(true));
    }
}
