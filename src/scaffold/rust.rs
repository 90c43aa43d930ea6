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
