//! Finds the component a `wasm:` names, so a config works wherever logcatch is installed.
//!
//! A path (absolute, or with a directory in it: `./x.wasm`, `plugins/x.wasm`) is taken as
//! written, relative to the config's directory. A bare file name (`redact.wasm`, or
//! `redact`) is looked up, first found wins, in:
//! 1. the config's directory;
//! 2. each directory of `LOGCATCH_PLUGIN_PATH` (`:`-separated);
//! 3. `lib/logcatch/plugins` beside the binary's `bin/` (`/usr/lib/logcatch/plugins` for
//!    `/usr/bin/logcatch`, `$ROOT/lib/...` after `cargo install --root $ROOT`), then
//!    `/usr/lib/logcatch/plugins`;
//! 4. the plugins built into the binary (the examples the default config uses).
//!
//! Only a file can be swapped while running; a built-in plugin changes with the binary.

use std::path::{Path, PathBuf};

/// The environment variable of extra plugin directories, searched before the installed ones.
pub const PLUGIN_PATH_ENV: &str = "LOGCATCH_PLUGIN_PATH";

/// The directory a system-wide installation (the Debian package) puts plugins in.
pub const SYSTEM_PLUGIN_DIR: &str = "/usr/lib/logcatch/plugins";

/// A plugin compiled into the binary: its file name and its bytes.
#[derive(Debug)]
pub struct Embedded {
    /// The file name a config uses for it (`redact.wasm`).
    pub name: &'static str,
    /// The component.
    pub bytes: &'static [u8],
}

/// Where bare plugin names are looked up (after the config's own directory).
#[derive(Debug, Clone, Default)]
pub struct PluginPath {
    /// Directories, in search order.
    pub dirs: Vec<PathBuf>,
    /// The plugins built into the binary, searched last.
    pub embedded: &'static [Embedded],
}

/// Where a plugin was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// Its file, or for a built-in one `(built in)/NAME`: what logs and errors name.
    pub path: PathBuf,
    /// The bytes of a built-in plugin (none for a file).
    pub embedded: Option<&'static [u8]>,
}

/// The pseudo-directory built-in plugins are named under.
const BUILT_IN: &str = "(built in)";

impl PluginPath {
    /// The search path of this process: `LOGCATCH_PLUGIN_PATH`, the directory installed
    /// beside the binary, the system one; then `embedded`.
    pub fn from_env(embedded: &'static [Embedded]) -> PluginPath {
        let env = std::env::var_os(PLUGIN_PATH_ENV);
        let exe = std::env::current_exe().ok();
        PluginPath::new(env.as_deref(), exe.as_deref(), embedded)
    }

    /// The search path from the value of `LOGCATCH_PLUGIN_PATH` and the binary's path.
    fn new(
        env: Option<&std::ffi::OsStr>,
        exe: Option<&Path>,
        embedded: &'static [Embedded],
    ) -> PluginPath {
        let mut dirs: Vec<PathBuf> = env
            .map(|v| {
                std::env::split_paths(v)
                    .filter(|d| !d.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(prefix) = exe.and_then(Path::parent).and_then(Path::parent) {
            dirs.push(prefix.join("lib/logcatch/plugins"));
        }
        dirs.push(PathBuf::from(SYSTEM_PLUGIN_DIR));
        let mut seen = std::collections::BTreeSet::new();
        dirs.retain(|d| seen.insert(d.clone()));
        PluginPath { dirs, embedded }
    }

    /// Finds the plugin `wasm` names, for a config in `base_dir`; the error says where it
    /// looked.
    pub fn locate(&self, base_dir: &Path, wasm: &Path) -> Result<Located, String> {
        let Some(name) = bare_name(wasm) else {
            return Ok(Located {
                path: base_dir.join(wasm),
                embedded: None,
            });
        };
        let names = candidates(name);
        let dirs = std::iter::once(base_dir).chain(self.dirs.iter().map(PathBuf::as_path));
        for dir in dirs {
            for n in &names {
                let path = dir.join(n);
                if path.is_file() {
                    return Ok(Located {
                        path,
                        embedded: None,
                    });
                }
            }
        }
        for n in &names {
            if let Some(e) = self.embedded.iter().find(|e| e.name == n) {
                return Ok(Located {
                    path: Path::new(BUILT_IN).join(e.name),
                    embedded: Some(e.bytes),
                });
            }
        }
        Err(self.not_found(base_dir))
    }

    /// Why `name` was not found: every place it was looked for.
    fn not_found(&self, base_dir: &Path) -> String {
        let dirs: Vec<String> = std::iter::once(base_dir)
            .chain(self.dirs.iter().map(PathBuf::as_path))
            .map(|d| d.display().to_string())
            .collect();
        let built_in: Vec<&str> = self.embedded.iter().map(|e| e.name).collect();
        let built_in = if built_in.is_empty() {
            "none".to_owned()
        } else {
            built_in.join(", ")
        };
        format!(
            "not found in {} (the config's directory, then ${PLUGIN_PATH_ENV}, then the \
             installed plugins), nor built in ({built_in})",
            dirs.join(", ")
        )
    }
}

/// `wasm` when it is a bare file name (no directory), as UTF-8.
fn bare_name(wasm: &Path) -> Option<&str> {
    let mut parts = wasm.components();
    match (parts.next(), parts.next()) {
        (Some(std::path::Component::Normal(n)), None) => n.to_str(),
        _ => None,
    }
}

/// The file names a bare `name` stands for: itself, and `NAME.wasm` when it has no extension.
fn candidates(name: &str) -> Vec<String> {
    if Path::new(name).extension().is_some() {
        vec![name.to_owned()]
    } else {
        vec![name.to_owned(), format!("{name}.wasm")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static EMBEDDED: [Embedded; 1] = [Embedded {
        name: "redact.wasm",
        bytes: b"\0asm",
    }];

    fn path(dirs: Vec<PathBuf>) -> PluginPath {
        PluginPath {
            dirs,
            embedded: &EMBEDDED,
        }
    }

    #[test]
    fn a_path_with_a_directory_is_relative_to_the_config_and_never_searched() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(vec![dir.path().to_owned()]);
        let found = p
            .locate(Path::new("/etc/x"), Path::new("sub/redact.wasm"))
            .unwrap();
        assert_eq!(found.path, Path::new("/etc/x/sub/redact.wasm"));
        assert_eq!(found.embedded, None);
        let abs = p
            .locate(Path::new("/etc/x"), Path::new("/opt/redact.wasm"))
            .unwrap();
        assert_eq!(abs.path, Path::new("/opt/redact.wasm"));
    }

    #[test]
    fn a_bare_name_is_searched_in_order_then_built_in() {
        let config = tempfile::tempdir().unwrap();
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let p = path(vec![first.path().to_owned(), second.path().to_owned()]);
        let at = |name: &str| p.locate(config.path(), Path::new(name)).unwrap();

        assert_eq!(at("redact.wasm").path, Path::new("(built in)/redact.wasm"));
        assert_eq!(at("redact").embedded, Some(&b"\0asm"[..]));

        std::fs::write(second.path().join("redact.wasm"), "2").unwrap();
        assert_eq!(at("redact").path, second.path().join("redact.wasm"));
        std::fs::write(first.path().join("redact.wasm"), "1").unwrap();
        assert_eq!(at("redact.wasm").path, first.path().join("redact.wasm"));
        std::fs::write(config.path().join("redact.wasm"), "0").unwrap();
        assert_eq!(at("redact.wasm").path, config.path().join("redact.wasm"));
        // A directory of that name is not a plugin.
        std::fs::create_dir(first.path().join("other.wasm")).unwrap();
        assert!(p.locate(config.path(), Path::new("other.wasm")).is_err());
    }

    #[test]
    fn not_found_names_every_place_looked() {
        let p = path(vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        let why = p
            .locate(Path::new("/etc/x"), Path::new("nope.wasm"))
            .unwrap_err();
        assert!(why.contains("/etc/x, /a, /b"), "{why}");
        assert!(why.contains("built in (redact.wasm)"), "{why}");
    }

    #[test]
    fn the_search_path_is_the_variable_then_beside_the_binary_then_the_system() {
        let env = std::ffi::OsString::from("/one::/two:/usr/lib/logcatch/plugins");
        let p = PluginPath::new(Some(&env), Some(Path::new("/opt/lc/bin/logcatch")), &[]);
        let dirs: Vec<&str> = p.dirs.iter().map(|d| d.to_str().unwrap()).collect();
        assert_eq!(
            dirs,
            [
                "/one",
                "/two",
                "/usr/lib/logcatch/plugins",
                "/opt/lc/lib/logcatch/plugins"
            ]
        );
        let installed = PluginPath::new(None, Some(Path::new("/usr/bin/logcatch")), &[]);
        assert_eq!(installed.dirs, [PathBuf::from("/usr/lib/logcatch/plugins")]);
    }
}
