//! `logcatch plugin new`: writes a ready-to-build filter project for a plugin author, with
//! the contract (`wit/`) and the language's SDK vendored, so the project builds on its own.

use std::path::{Path, PathBuf};

mod c;
mod js;
mod python;
mod rust;

/// Languages a project can be generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, on the `logcatch-plugin` SDK, built with cargo for wasm32-wasip2.
    Rust,
    /// Python, on `sdk/python`, built with componentize-py.
    Python,
    /// JavaScript, on `sdk/js`, built with componentize-js (jco).
    Js,
    /// C, on `sdk/c`, with wit-bindgen's C bindings, clang and wasi-libc.
    C,
}

impl Lang {
    /// The commands that test and build a fresh project of this language, from its directory.
    pub fn next_steps(self) -> &'static str {
        match self {
            Lang::Rust => "cargo test && ./build.sh",
            Lang::Python => "python3 -m unittest && ./build.sh",
            Lang::Js => "npm test && ./build.sh",
            Lang::C => "./test && ./build.sh",
        }
    }
}

/// One file of a generated project: its path in the project, its text, and whether it is
/// executable.
type File = (String, String, bool);

/// Why a project cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be a crate or file name.
    #[error(
        "plugin name `{0}`: use lowercase letters, digits, `-` and `_`, starting with a letter (at most 64)"
    )]
    Name(String),
    /// The target directory exists and is not empty.
    #[error("{0} already exists and is not empty: choose another name or --dir")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The contract every project vendors.
pub(crate) const WIT: &str = include_str!("../../wit/logcatch.wit");

/// Writes a new `lang` plugin project called `name` into `dir` (created; it must not exist
/// or be empty) and returns the files written.
pub fn new_plugin(lang: Lang, name: &str, dir: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    check_name(name)?;
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ScaffoldError::Exists(dir.to_owned()));
    }
    let crate_name = name.replace('-', "_");
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
    };
    let files = match lang {
        Lang::Rust => rust::files(&fill),
        Lang::Python => python::files(&fill),
        Lang::Js => js::files(&fill),
        Lang::C => c::files(&fill),
    };
    let mut written = Vec::new();
    for (path, text, exec) in files {
        let path = dir.join(path);
        write(&path, &text, exec).map_err(|source| ScaffoldError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ScaffoldError::Name(name.to_owned()))
    }
}

fn write(path: &Path, text: &str, exec: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)?;
    if exec {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Checks the language modules' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::{Path, PathBuf};

    /// Fails when a generated file still holds a `{{placeholder}}`.
    pub fn assert_no_placeholders(files: &[PathBuf]) {
        for f in files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(
                !text.contains("{{"),
                "{} has a placeholder left",
                f.display()
            );
        }
    }

    /// Fails unless each of `scripts` (paths in the project `at`) is executable.
    pub fn assert_executable(at: &Path, scripts: &[&str]) {
        use std::os::unix::fs::PermissionsExt;
        for script in scripts {
            let mode = std::fs::metadata(at.join(script))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111, "{script} is not executable");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for bad in ["", "Drop", "1st", "a b", "a/b", "ü"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["drop-health", "redact_v2", "x"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}
