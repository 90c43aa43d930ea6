//! The C project: a filter on the vendored C SDK (`sdk/`), built into a component with clang,
//! wasi-libc and wasm-component-ld by the SDK's `build-component` script.

use super::{File, WIT};

/// The C SDK, vendored into `sdk/`: its header, sources, committed wit-bindgen bindings,
/// build script and guide.
const SDK: [(&str, &str, bool); 14] = [
    ("logcatch.h", include_str!("../../sdk/c/logcatch.h"), false),
    ("README.md", include_str!("../../sdk/c/README.md"), false),
    (
        "build-component",
        include_str!("../../sdk/c/build-component"),
        true,
    ),
    (
        "src/internal.h",
        include_str!("../../sdk/c/src/internal.h"),
        false,
    ),
    (
        "src/batch.c",
        include_str!("../../sdk/c/src/batch.c"),
        false,
    ),
    (
        "src/builder.c",
        include_str!("../../sdk/c/src/builder.c"),
        false,
    ),
    (
        "src/config.c",
        include_str!("../../sdk/c/src/config.c"),
        false,
    ),
    (
        "src/export.c",
        include_str!("../../sdk/c/src/export.c"),
        false,
    ),
    ("src/json.c", include_str!("../../sdk/c/src/json.c"), false),
    ("src/util.c", include_str!("../../sdk/c/src/util.c"), false),
    (
        "src/verdict.c",
        include_str!("../../sdk/c/src/verdict.c"),
        false,
    ),
    (
        "gen/filter_plugin.c",
        include_str!("../../sdk/c/gen/filter_plugin.c"),
        false,
    ),
    (
        "gen/filter_plugin.h",
        include_str!("../../sdk/c/gen/filter_plugin.h"),
        false,
    ),
    (
        "gen/logcatch.wit.sha256",
        include_str!("../../sdk/c/gen/logcatch.wit.sha256"),
        false,
    ),
];

/// The C project's own files: (path in the project, template, executable).
const FILES: [(&str, &str, bool); 11] = [
    ("filter.c", include_str!("c/filter.c.tmpl"), false),
    ("filter.h", include_str!("c/filter.h.tmpl"), false),
    ("test_filter.c", include_str!("c/test_filter.c.tmpl"), false),
    ("test", include_str!("c/test.tmpl"), true),
    ("build.sh", include_str!("c/build.sh.tmpl"), true),
    ("README.md", include_str!("c/README.md.tmpl"), false),
    (".gitignore", include_str!("c/gitignore.tmpl"), false),
    (
        "testdata/config.json",
        include_str!("c/config.json.tmpl"),
        false,
    ),
    (
        "testdata/input.log",
        include_str!("c/input.log.tmpl"),
        false,
    ),
    (
        "testdata/expected.log",
        include_str!("c/expected.log.tmpl"),
        false,
    ),
    ("wit/logcatch.wit", WIT, false),
];

/// The project's files, with `fill` substituting the name placeholders.
pub(super) fn files(fill: &dyn Fn(&str) -> String) -> Vec<File> {
    let mut files: Vec<File> = FILES
        .iter()
        .map(|(path, template, exec)| (path.to_string(), fill(template), *exec))
        .collect();
    for (file, text, exec) in SDK {
        files.push((format!("sdk/{file}"), text.to_owned(), exec));
    }
    files
}

#[cfg(test)]
mod tests {
    use crate::scaffold::{Lang, WIT, new_plugin};

    #[test]
    fn a_c_project_has_the_contract_the_sdk_and_no_placeholders() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("drop-health");
        let files = new_plugin(Lang::C, "drop-health", &at).unwrap();
        assert_eq!(files.len(), 25);
        let read = |p: &str| std::fs::read_to_string(at.join(p)).unwrap();
        assert_eq!(read("wit/logcatch.wit"), WIT);
        assert!(read("sdk/logcatch.h").contains("LC_EXPORT_FILTER"));
        assert!(read("build.sh").contains("build/drop_health.wasm"));
        assert!(read("filter.c").contains("lc_builder_attr_text(&out, \"drop-health\""));
        // The committed bindings are those of the vendored contract (build-component checks).
        let sha = read("sdk/gen/logcatch.wit.sha256");
        assert_eq!(sha.trim().len(), 64);
        crate::scaffold::testing::assert_executable(
            &at,
            &["build.sh", "test", "sdk/build-component"],
        );
        crate::scaffold::testing::assert_no_placeholders(&files);
    }
}
