//! `data_dir` as one daemon's own: an exclusive lock held for the process's life (a second
//! daemon on the same directory would read every source again and deliver it twice), and a
//! probe that proves the directory can be written before anything runs (a read-only
//! `data_dir` used to pass every check and lose every checkpoint).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Why `data_dir` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// It cannot be created, or written.
    #[error("data_dir {path} cannot be written: {source}")]
    Unwritable {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another logcatch holds it.
    #[error(
        "data_dir {path} is in use by another logcatch{}: two daemons on one data_dir would deliver everything twice; stop it or give this one another data_dir",
        .pid.map_or(String::new(), |p| format!(" (pid {p})"))
    )]
    Locked {
        /// The directory.
        path: PathBuf,
        /// The holder's process id, as it wrote it in the lock file.
        pid: Option<u32>,
    },
}

/// The lock on a `data_dir`: held until dropped (the process's end, even a `kill -9`,
/// releases it: it is an `flock` on an open descriptor).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Name of the lock file in `data_dir`.
pub const LOCK_FILE: &str = "logcatch.lock";

/// Creates `dir` if needed, proves it can be written, and takes its lock; the lock file
/// holds this process's id, which a second daemon names in its error.
pub fn lock(dir: &Path) -> Result<DataDirLock, DataDirError> {
    probe(dir)?;
    let unwritable = |source| DataDirError::Unwritable {
        path: dir.to_owned(),
        source,
    };
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(unwritable)?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(unwritable(err));
        }
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        return Err(DataDirError::Locked {
            path: dir.to_owned(),
            pid: text.trim().parse().ok(),
        });
    }
    file.set_len(0).map_err(unwritable)?;
    file.rewind().map_err(unwritable)?;
    writeln!(file, "{}", std::process::id()).map_err(unwritable)?;
    Ok(DataDirLock { _file: file })
}

/// Creates `dir` if needed and proves it can hold checkpoints: a probe file is created,
/// written, fsynced, renamed and removed, as a checkpoint write would.
pub fn probe(dir: &Path) -> Result<(), DataDirError> {
    let unwritable = |source| DataDirError::Unwritable {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    let tmp = dir.join(format!(".probe-{}.tmp", std::process::id()));
    let done = dir.join(format!(".probe-{}", std::process::id()));
    let attempt = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(b"logcatch can write here\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &done)?;
        File::open(dir)?.sync_all()?;
        std::fs::remove_file(&done)
    })();
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(&done);
    attempt.map_err(unwritable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let err = lock(dir.path()).unwrap_err();
        let DataDirError::Locked { pid, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(*pid, Some(std::process::id()));
        assert!(
            err.to_string().contains("in use by another logcatch (pid "),
            "{err}"
        );
        drop(held);
        lock(dir.path()).expect("free again once the holder lets go");
        assert!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .all(|e| e.unwrap().file_name() == LOCK_FILE),
            "the probe leaves nothing behind"
        );
    }

    #[test]
    fn a_read_only_directory_fails_the_probe() {
        if unsafe { libc::geteuid() } == 0 {
            // root writes anywhere; the end-to-end test uses a read-only bind instead.
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
        let err = probe(dir.path()).unwrap_err();
        assert!(err.to_string().contains("cannot be written"), "{err}");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
