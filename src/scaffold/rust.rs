//! The Rust project: a cdylib crate on the vendored `logcatch-plugin` SDK, built with cargo.

use super::{File, WIT};

/// The Rust SDK's sources, vendored into `sdk/logcatch-plugin/src/`.
const SDK: [(&str, &str); 6] = [
    ("lib.rs", include_str!("../../sdk/rust/src/lib.rs")),
    ("batch.rs", include_str!("../../sdk/rust/src/batch.rs")),
    ("builder.rs", include_str!("../../sdk/rust/src/builder.rs")),
    ("host.rs", include_str!("../../sdk/rust/src/host.rs")),
    ("verdict.rs", include_str!("../../sdk/rust/src/verdict.rs")),
    ("tests.rs", include_str!("../../sdk/rust/src/tests.rs")),
];

/// The Rust project's own files: (path in the project, template, executable).
const FILES: [(&str, &str, bool); 10] = [
    ("Cargo.toml", include_str!("rust/Cargo.toml.tmpl"), false),
    ("src/lib.rs", include_str!("rust/lib.rs.tmpl"), false),
    ("build.sh", include_str!("rust/build.sh.tmpl"), true),
    ("README.md", include_str!("rust/README.md.tmpl"), false),
    (".gitignore", include_str!("rust/gitignore.tmpl"), false),
    (
        "testdata/config.json",
        include_str!("rust/config.json.tmpl"),
        false,
    ),
    (
        "testdata/input.log",
        include_str!("rust/input.log.tmpl"),
        false,
    ),
    (
        "testdata/expected.log",
        include_str!("rust/expected.log.tmpl"),
        false,
    ),
    ("wit/logcatch.wit", WIT, false),
    (
        "sdk/logcatch-plugin/Cargo.toml",
        include_str!("rust/sdk.Cargo.toml.tmpl"),
        false,
    ),
];

/// The project's files, with `fill` substituting the name placeholders.
pub(super) fn files(fill: &dyn Fn(&str) -> String) -> Vec<File> {
    let mut files: Vec<File> = FILES
        .iter()
        .map(|(path, template, exec)| (path.to_string(), fill(template), *exec))
        .collect();
    for (file, text) in SDK {
        files.push((
            format!("sdk/logcatch-plugin/src/{file}"),
            text.to_owned(),
            false,
        ));
    }
    files
}

#[cfg(test)]
mod tests {
    use crate::scaffold::{Lang, ScaffoldError, WIT, new_plugin};

    #[test]
    fn a_rust_project_has_the_contract_the_sdk_and_no_placeholders() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("drop-health");
        let files = new_plugin(Lang::Rust, "drop-health", &at).unwrap();
        assert!(files.len() >= 16);
        let read = |p: &str| std::fs::read_to_string(at.join(p)).unwrap();
        assert_eq!(read("wit/logcatch.wit"), WIT);
        assert!(read("Cargo.toml").contains("name = \"drop-health\""));
        assert!(read("build.sh").contains("release/drop_health.wasm"));
        // The SDK finds the contract where the project puts it.
        assert!(read("sdk/logcatch-plugin/src/lib.rs").contains("path: \"../../wit\""));
        crate::scaffold::testing::assert_no_placeholders(&files);
        assert!(matches!(
            new_plugin(Lang::Rust, "drop-health", &at),
            Err(ScaffoldError::Exists(_))
        ));
    }
}
