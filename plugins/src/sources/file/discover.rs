//! Finding the files a source reads: its `include` globs walked directory by directory
//! (a directory reached twice, through a symlink loop or two links, is walked once), minus
//! its `exclude` globs; and the file-system watch that says which files changed and when to
//! look again.
//!
//! The watch also opens each file that appears at a matching path the moment it appears
//! ([`Wake::Appeared`]): a source held back by a slow sink scans late, and a file created and
//! rotated away before that scan (`create` rotation, many times a second) would otherwise
//! never be read; its open descriptor keeps it readable wherever it is renamed to.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::Sender;

use globset::GlobSet;
use notify::{EventKind, RecursiveMode, Watcher};

/// One `include` pattern, split into path components.
#[derive(Debug, Clone)]
pub struct Include {
    /// The literal directory the pattern starts in.
    root: PathBuf,
    /// What follows it, component by component.
    rest: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(OsString),
    Pattern(glob::Pattern),
    /// `**`: any number of directories, none included.
    AnyDirs,
}

/// Why a pattern cannot be used.
pub type BadPattern = String;

impl Include {
    /// Splits `pattern` (absolute or relative to the working directory).
    pub fn parse(pattern: &Path) -> Result<Include, BadPattern> {
        let mut root = PathBuf::new();
        let mut rest = Vec::new();
        for c in pattern.components() {
            let text = c.as_os_str().to_string_lossy();
            let wild = text.contains(['*', '?', '[']);
            if rest.is_empty() && !wild {
                root.push(c);
                continue;
            }
            rest.push(match (c, text.as_ref()) {
                (_, "**") => Part::AnyDirs,
                (Component::Normal(name), _) if !wild => Part::Literal(name.to_owned()),
                _ => Part::Pattern(glob::Pattern::new(&text).map_err(|e| e.to_string())?),
            });
        }
        if rest.is_empty() {
            // No wildcard: the whole path is one file.
            let name = root.file_name().map(OsString::from).unwrap_or_default();
            root.pop();
            rest.push(Part::Literal(name));
        }
        Ok(Include { root, rest })
    }

    /// Whether `path` matches the pattern (as [`expand`] would find it).
    pub fn matches(&self, path: &Path) -> bool {
        let Ok(rest) = path.strip_prefix(&self.root) else {
            return false;
        };
        let names: Vec<String> = rest
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        matches_parts(&self.rest, &names)
    }

    /// The directory to watch and whether its subdirectories matter too.
    pub fn watch_root(&self) -> (&Path, bool) {
        let deep = self.rest.len() > 1;
        (&self.root, deep)
    }
}

/// Whether the path components `names` match `parts`.
fn matches_parts(parts: &[Part], names: &[String]) -> bool {
    match (parts.split_first(), names.split_first()) {
        (None, None) => true,
        (Some((Part::AnyDirs, after)), _) => {
            // None of the directories, or one more of them.
            matches_parts(after, names) || (names.len() > 1 && matches_parts(parts, &names[1..]))
        }
        (Some((part, after)), Some((name, others))) => {
            let here = match part {
                Part::Literal(l) => l.to_string_lossy() == name.as_str(),
                Part::Pattern(p) => p.matches(name),
                Part::AnyDirs => unreachable!(),
            };
            here && matches_parts(after, others)
        }
        _ => false,
    }
}

/// The file `key` (`device:inode`) under another name next to `path` (renamed: `app.log.1`,
/// `app.log-20261204`), if it is there and longer than `offset`.
pub fn renamed(path: &Path, key: &str, offset: u64) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let other = entry.file_name().to_string_lossy().into_owned();
        if other == name || !other.starts_with(&name) {
            return None;
        }
        let meta = entry.metadata().ok()?;
        let same = meta.is_file() && super::identity::key_of(&meta) == key && meta.len() > offset;
        same.then(|| entry.path())
    })
}

/// Whether `exclude` refuses `path` (matched against the full path and the file name).
pub fn excluded(exclude: &GlobSet, path: &Path) -> bool {
    exclude.is_match(path)
        || path
            .file_name()
            .is_some_and(|n| exclude.is_match(Path::new(n)))
}

/// A directory that could not be read while walking, and why.
pub type WalkError = (PathBuf, std::io::Error);

/// A file found, with what its `stat` said.
pub type FoundFile = (PathBuf, std::fs::Metadata);

/// The regular files matching `includes` and not `exclude` (matched against the full path
/// and the file name), each once, with their metadata (one `stat` each); and the
/// directories that could not be read.
pub fn expand(includes: &[Include], exclude: &GlobSet) -> (Vec<FoundFile>, Vec<WalkError>) {
    let mut w = Walk::default();
    for inc in includes {
        let root = if inc.root.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            inc.root.clone()
        };
        w.visit(&root, &inc.rest);
    }
    let files = w
        .files
        .into_iter()
        .filter(|(path, _)| !excluded(exclude, path))
        .collect();
    (files, w.errors)
}

#[derive(Default)]
struct Walk {
    files: Vec<FoundFile>,
    errors: Vec<WalkError>,
    /// (device, inode, parts left) of each directory walked: the same directory with the
    /// same pattern left is never walked twice, so a symlink loop ends.
    seen: HashSet<(u64, u64, usize)>,
    /// Paths already listed.
    listed: HashSet<PathBuf>,
}

impl Walk {
    fn visit(&mut self, dir: &Path, rest: &[Part]) {
        let Some((part, after)) = rest.split_first() else {
            return;
        };
        let Ok(meta) = std::fs::metadata(dir) else {
            return;
        };
        if !meta.is_dir() || !self.seen.insert((meta.dev(), meta.ino(), rest.len())) {
            return;
        }
        match part {
            Part::Literal(name) => {
                let path = dir.join(name);
                self.step(path, after);
            }
            Part::Pattern(pattern) => {
                for path in self.entries(dir) {
                    let matches = path
                        .file_name()
                        .is_some_and(|n| pattern.matches(&n.to_string_lossy()));
                    if matches {
                        self.step(path, after);
                    }
                }
            }
            Part::AnyDirs => {
                // None: what follows, here. One or more: each subdirectory, `**` still first
                // (`visit` skips what is not a directory).
                self.visit(dir, after);
                for path in self.entries(dir) {
                    self.visit(&path, rest);
                }
            }
        }
    }

    /// `path` matched a part: a file if it was the last one, a directory to walk otherwise.
    fn step(&mut self, path: PathBuf, after: &[Part]) {
        if after.is_empty() {
            if let Ok(meta) = std::fs::metadata(&path)
                && meta.is_file()
                && self.listed.insert(path.clone())
            {
                self.files.push((path, meta));
            }
        } else {
            self.visit(&path, after);
        }
    }

    /// The entries of `dir`, sorted (a stable order for the log and the tests).
    fn entries(&mut self, dir: &Path) -> Vec<PathBuf> {
        match std::fs::read_dir(dir) {
            Ok(rd) => {
                let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
                paths.sort();
                paths
            }
            Err(e) => {
                self.errors.push((dir.to_owned(), e));
                Vec::new()
            }
        }
    }
}

/// What the watch reports to the tail loop.
#[derive(Debug)]
pub enum Wake {
    /// A file was created, removed or renamed: scan the globs again.
    Structural,
    /// This file changed: poll it.
    Modified(PathBuf),
    /// Events were lost (the kernel's queue overflowed): look at everything.
    Everything,
    /// A file appeared at a matching path, opened at once (the path it appeared at).
    Appeared(PathBuf, std::fs::File),
    /// The source must stop.
    Stop,
}

/// Watches the directories `includes` start in, reporting into `tx`, and opens each file
/// that appears at a path they match (minus `exclude`) at once, while fewer than
/// `max_appeared` of those wait in `appeared` (past it, new files wait for the source's
/// scan, as without a watch); `None` when the platform gives no events (the loop then
/// polls on its own schedule).
pub fn watch(
    includes: &[Include],
    exclude: &GlobSet,
    (appeared, max_appeared): (std::sync::Arc<std::sync::atomic::AtomicUsize>, usize),
    tx: Sender<Wake>,
) -> Option<notify::RecommendedWatcher> {
    use std::sync::atomic::Ordering;
    let (matchers, exclude) = (includes.to_vec(), exclude.clone());
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else {
            let _ = tx.send(Wake::Everything);
            return;
        };
        if ev.need_rescan() {
            let _ = tx.send(Wake::Everything);
            return;
        }
        let structural = matches!(ev.kind, EventKind::Create(_) | EventKind::Remove(_))
            || matches!(
                ev.kind,
                EventKind::Modify(notify::event::ModifyKind::Name(_))
            );
        let arrived = matches!(ev.kind, EventKind::Create(_))
            || matches!(
                ev.kind,
                EventKind::Modify(notify::event::ModifyKind::Name(
                    notify::event::RenameMode::To | notify::event::RenameMode::Both
                ))
            );
        if arrived {
            // The last path of a rename is where it went.
            let path = ev.paths.last().cloned();
            if let Some(path) = path
                && matchers.iter().any(|m| m.matches(&path))
                && !excluded(&exclude, &path)
                && appeared.load(Ordering::Relaxed) < max_appeared
                // (A FIFO would block the open: only regular files are opened.)
                && std::fs::metadata(&path).is_ok_and(|m| m.is_file())
                && let Ok(file) = std::fs::File::open(&path)
                && file.metadata().is_ok_and(|m| m.is_file())
            {
                appeared.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(Wake::Appeared(path, file));
            }
        }
        if structural {
            let _ = tx.send(Wake::Structural);
        }
        for path in ev.paths {
            let _ = tx.send(Wake::Modified(path));
        }
    })
    .inspect_err(|e| tracing::debug!("file events unavailable, polling only: {e}"))
    .ok()?;
    let mut watched = 0;
    for inc in includes {
        let (dir, deep) = inc.watch_root();
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let mode = if deep {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        match watcher.watch(dir, mode) {
            Ok(()) => watched += 1,
            Err(e) => {
                tracing::debug!(dir = %dir.display(), "cannot watch, relying on polls: {e}")
            }
        }
    }
    (watched > 0).then_some(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn expand_in(dir: &Path, pattern: &str) -> Vec<String> {
        let inc = Include::parse(&dir.join(pattern)).unwrap();
        let (files, _) = expand(&[inc], &GlobSet::empty());
        files
            .iter()
            .map(|(p, _)| p.strip_prefix(dir).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn globs_match_as_the_glob_crate_does() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for f in [
            "a.log",
            "b.txt",
            "sub/c.log",
            "sub/deep/d.log",
            ".hidden.log",
        ] {
            let path = p.join(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x\n").unwrap();
        }
        assert_eq!(expand_in(p, "*.log"), [".hidden.log", "a.log"]);
        assert_eq!(expand_in(p, "a.log"), ["a.log"]);
        assert_eq!(expand_in(p, "missing.log"), Vec::<String>::new());
        assert_eq!(expand_in(p, "*/c.log"), ["sub/c.log"]);
        assert_eq!(
            expand_in(p, "**/*.log"),
            [".hidden.log", "a.log", "sub/c.log", "sub/deep/d.log"]
        );
        assert_eq!(expand_in(p, "sub/**/d.log"), ["sub/deep/d.log"]);
        assert_eq!(expand_in(p, "s?b/[cd].log"), ["sub/c.log"]);
    }

    #[test]
    fn symlink_loops_are_walked_once() {
        // in/a/up -> .. and in/a/self -> ../a: `**` used to spin forever.
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::create_dir_all(p.join("in/a")).unwrap();
        fs::write(p.join("in/a/x.log"), "x\n").unwrap();
        std::os::unix::fs::symlink("..", p.join("in/a/up")).unwrap();
        std::os::unix::fs::symlink("../a", p.join("in/a/self")).unwrap();
        let found = expand_in(p, "in/**/*.log");
        assert_eq!(found, ["in/a/x.log"], "each file once, by its first path");
    }

    #[test]
    fn unreadable_directories_are_reported() {
        let d = tempfile::tempdir().unwrap();
        let inc = Include::parse(&d.path().join("nope/*.log")).unwrap();
        let (files, errors) = expand(&[inc], &GlobSet::empty());
        assert!(files.is_empty());
        assert!(
            errors.is_empty(),
            "a missing directory is no error: {errors:?}"
        );
        fs::write(d.path().join("file"), "").unwrap();
        let inc = Include::parse(&d.path().join("*/*.log")).unwrap();
        let (_, errors) = expand(&[inc], &GlobSet::empty());
        assert!(
            errors.is_empty(),
            "a file where a directory would be is skipped"
        );
    }

    #[test]
    fn watch_roots() {
        let root = |p: &str| {
            let inc = Include::parse(Path::new(p)).unwrap();
            let (dir, deep) = inc.watch_root();
            (dir.to_owned(), deep)
        };
        assert_eq!(root("/var/log/*.log"), (PathBuf::from("/var/log"), false));
        assert_eq!(root("/var/log/app.log"), (PathBuf::from("/var/log"), false));
        assert_eq!(root("/srv/*/logs/a.log"), (PathBuf::from("/srv"), true));
    }

    #[test]
    fn a_path_matches_as_expand_finds_it() {
        let m = |pattern: &str, path: &str| {
            Include::parse(Path::new(pattern))
                .unwrap()
                .matches(Path::new(path))
        };
        assert!(m("/var/log/app.log", "/var/log/app.log"));
        assert!(!m("/var/log/app.log", "/var/log/app.log.1"));
        assert!(m("/var/log/*.log", "/var/log/a.log"));
        assert!(!m("/var/log/*.log", "/var/log/sub/a.log"));
        assert!(!m("/var/log/*.log", "/var/lib/a.log"));
        assert!(m("/srv/**/app.log", "/srv/app.log"));
        assert!(m("/srv/**/app.log", "/srv/a/b/app.log"));
        assert!(!m("/srv/**/app.log", "/srv/a/b/other.log"));
        assert!(m("/srv/*/logs/[ab].log", "/srv/x/logs/b.log"));
    }
}
