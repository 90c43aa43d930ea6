//! The JavaScript project: an ES module on the vendored `logcatch-plugin` SDK (`sdk/js`),
//! built into a component with componentize-js, the toolchain pinned by its own lockfile.

use super::{File, WIT};

/// The JavaScript SDK's modules and guide, vendored into `sdk/logcatch-plugin/`.
const SDK: [(&str, &str); 9] = [
    ("index.js", include_str!("../../sdk/js/src/index.js")),
    ("index.d.ts", include_str!("../../sdk/js/src/index.d.ts")),
    ("batch.js", include_str!("../../sdk/js/src/batch.js")),
    ("builder.js", include_str!("../../sdk/js/src/builder.js")),
    ("verdict.js", include_str!("../../sdk/js/src/verdict.js")),
    ("export.js", include_str!("../../sdk/js/src/export.js")),
    ("host.js", include_str!("../../sdk/js/src/host.js")),
    ("wire.js", include_str!("../../sdk/js/src/wire.js")),
    ("README.md", include_str!("../../sdk/js/README.md")),
];

/// The SDK's lockfile: the project pins the same toolchain (componentize-js, jco).
const LOCK: &str = include_str!("../../sdk/js/package-lock.json");

/// The JavaScript project's own files: (path in the project, template, executable).
const FILES: [(&str, &str, bool); 10] = [
    ("package.json", include_str!("js/package.json.tmpl"), false),
    ("src/app.js", include_str!("js/app.js.tmpl"), false),
    (
        "src/app.test.js",
        include_str!("js/app.test.js.tmpl"),
        false,
    ),
    ("build.sh", include_str!("js/build.sh.tmpl"), true),
    ("README.md", include_str!("js/README.md.tmpl"), false),
    (".gitignore", include_str!("js/gitignore.tmpl"), false),
    (
        "testdata/config.json",
        include_str!("js/config.json.tmpl"),
        false,
    ),
    (
        "testdata/input.log",
        include_str!("js/input.log.tmpl"),
        false,
    ),
    (
        "testdata/expected.log",
        include_str!("js/expected.log.tmpl"),
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
    // The lockfile names its project: the SDK's name becomes the plugin's.
    let lock = LOCK.replace(
        "\"name\": \"logcatch-plugin\"",
        &fill("\"name\": \"{{name}}\""),
    );
    files.push(("package-lock.json".to_owned(), lock, false));
    for (file, text) in SDK {
        files.push((
            format!("sdk/logcatch-plugin/{file}"),
            text.to_owned(),
            false,
        ));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::super::{Lang, WIT, new_plugin};

    #[test]
    fn a_js_project_has_the_contract_the_sdk_and_no_placeholders() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("drop-health");
        let files = new_plugin(Lang::Js, "drop-health", &at).unwrap();
        assert_eq!(files.len(), 20);
        let read = |p: &str| std::fs::read_to_string(at.join(p)).unwrap();
        assert_eq!(read("wit/logcatch.wit"), WIT);
        assert!(read("package.json").contains("\"name\": \"drop-health\""));
        assert!(read("package-lock.json").contains("\"name\": \"drop-health\""));
        assert!(!read("package-lock.json").contains("logcatch-plugin\""));
        assert!(read("build.sh").contains("target/drop_health.wasm"));
        assert!(read("src/app.js").contains("attr('drop-health', 'kept')"));
        // The app and the SDK find each other where the project puts them.
        assert!(read("src/app.js").contains("from '../sdk/logcatch-plugin/index.js'"));
        assert!(read("sdk/logcatch-plugin/index.js").contains("export { exportFilter }"));
        // The toolchain the project pins is the one the SDK is built and tested with.
        let sdk_package = include_str!("../../sdk/js/package.json");
        for pin in [
            "\"@bytecodealliance/componentize-js\": \"",
            "\"@bytecodealliance/jco\": \"",
        ] {
            let version = |text: &str| {
                let start = text.find(pin).expect(pin) + pin.len();
                text[start..].split('"').next().unwrap().to_owned()
            };
            assert_eq!(
                version(&read("package.json")),
                version(sdk_package),
                "{pin}"
            );
        }
        crate::scaffold::testing::assert_no_placeholders(&files);
    }
}
