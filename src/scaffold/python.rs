//! The Python project: an app module on the vendored `logcatch_plugin` SDK, built into a
//! component with componentize-py.

use super::{File, WIT};

/// The Python SDK's modules, vendored into `logcatch_plugin/`.
const SDK: [(&str, &str); 7] = [
    (
        "__init__.py",
        include_str!("../../sdk/python/logcatch_plugin/__init__.py"),
    ),
    (
        "_wire.py",
        include_str!("../../sdk/python/logcatch_plugin/_wire.py"),
    ),
    (
        "batch.py",
        include_str!("../../sdk/python/logcatch_plugin/batch.py"),
    ),
    (
        "builder.py",
        include_str!("../../sdk/python/logcatch_plugin/builder.py"),
    ),
    (
        "export.py",
        include_str!("../../sdk/python/logcatch_plugin/export.py"),
    ),
    (
        "host.py",
        include_str!("../../sdk/python/logcatch_plugin/host.py"),
    ),
    (
        "verdict.py",
        include_str!("../../sdk/python/logcatch_plugin/verdict.py"),
    ),
];

/// The Python project's own files: (path in the project, template, executable).
const FILES: [(&str, &str, bool); 10] = [
    ("app.py", include_str!("python/app.py.tmpl"), false),
    (
        "test_app.py",
        include_str!("python/test_app.py.tmpl"),
        false,
    ),
    ("build.sh", include_str!("python/build.sh.tmpl"), true),
    (
        "requirements.txt",
        include_str!("python/requirements.txt.tmpl"),
        false,
    ),
    ("README.md", include_str!("python/README.md.tmpl"), false),
    (".gitignore", include_str!("python/gitignore.tmpl"), false),
    (
        "testdata/config.json",
        include_str!("python/config.json.tmpl"),
        false,
    ),
    (
        "testdata/input.log",
        include_str!("python/input.log.tmpl"),
        false,
    ),
    (
        "testdata/expected.log",
        include_str!("python/expected.log.tmpl"),
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
    for (file, text) in SDK {
        files.push((format!("logcatch_plugin/{file}"), text.to_owned(), false));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::super::{Lang, new_plugin};
    use super::*;

    #[test]
    fn a_python_project_has_the_contract_the_sdk_and_no_placeholders() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("drop-health");
        let files = new_plugin(Lang::Python, "drop-health", &at).unwrap();
        assert_eq!(files.len(), FILES.len() + SDK.len());
        let read = |p: &str| std::fs::read_to_string(at.join(p)).unwrap();
        assert_eq!(read("wit/logcatch.wit"), WIT);
        for (file, text) in SDK {
            assert_eq!(read(&format!("logcatch_plugin/{file}")), text);
        }
        assert!(read("app.py").contains("out.push_event(event).attr(\"drop-health\", \"kept\")"));
        assert!(read("build.sh").contains("target/drop_health.wasm"));
        // The project pins the toolchain the repository's own Python guests are built with.
        let pin = |text: &str| {
            text.lines()
                .find(|l| l.starts_with("componentize-py=="))
                .map(str::to_owned)
        };
        assert_eq!(
            pin(&read("requirements.txt")),
            pin(include_str!("../../sdk/python/requirements-build.txt"))
        );
        assert!(pin(&read("requirements.txt")).is_some());
        crate::scaffold::testing::assert_no_placeholders(&files);
        crate::scaffold::testing::assert_executable(&at, &["build.sh"]);
    }
}
