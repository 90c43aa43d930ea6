//! Python guests through the real binary: the python-redact example in a real pipeline with
//! the output `tests/data/redact` expects (the same files the Rust redact example must
//! match), the two redacts agreeing on attributes after parse_access, and a `logcatch plugin
//! new --lang python` project that builds, passes its own tests and runs in a pipeline. Components are built by their build scripts, which install
//! the pinned componentize-py (sdk/python/install-tools) when it is missing.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{Scratch, bin, guest, repo, run_ok as run};

/// The python-redact component, built (once per test process) by its build.sh, which
/// skips the build when its inputs did not change.
fn redact_py() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            run(
                &repo(),
                repo().join("examples/python-redact/build.sh"),
                &[],
                &[],
            );
            repo().join("target/guests/python/redact_py.wasm")
        })
        .clone()
}

/// Runs the file `input` through `filters` (each a `.wasm` and its JSON config, in order)
/// to a file sink in `format` with `--once`, compiling through `cache`; returns what the
/// sink wrote.
fn pipeline(
    s: &Scratch,
    input: &Path,
    filters: &[(&Path, &str)],
    format: &str,
    cache: &Path,
) -> String {
    let filters: Vec<String> = filters
        .iter()
        .map(|(wasm, config)| {
            format!(
                "{{ wasm: \"{}\", config: {} }}",
                wasm.display(),
                config.trim()
            )
        })
        .collect();
    let cfg = s.config(&format!(
        "data_dir: ./data\n\
         cache_dir: \"{cache}\"\n\
         pipelines:\n  \
           p:\n    \
             sources: [{{ type: file, include: [\"{input}\"] }}]\n    \
             filters: [{filters}]\n    \
             sinks: [{{ type: file, path: out.log, format: {format} }}]\n",
        cache = cache.display(),
        input = input.display(),
        filters = filters.join(", "),
    ));
    let (status, log) = s.run_once(&cfg);
    assert!(status.success(), "{log}");
    std::fs::read_to_string(s.path("out.log")).unwrap()
}

/// The compile cache the tests share: each component compiles once.
fn test_cache() -> PathBuf {
    repo().join("target/test-plugin-cache")
}

/// `tests/data/redact/NAME`.
fn redact_data(name: &str) -> PathBuf {
    repo().join("tests/data/redact").join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs redact `wasm` over the shared redact data and checks the output byte for byte.
fn check_redact(wasm: &Path) {
    let s = Scratch::new();
    let config = read(&redact_data("config.json"));
    let got = pipeline(
        &s,
        &redact_data("input.log"),
        &[(wasm, &config)],
        "text",
        &test_cache(),
    );
    let expected = read(&redact_data("expected.log"));
    assert_eq!(
        got,
        expected,
        "{} differs from expected.log",
        wasm.display()
    );
}

#[test]
fn python_redact_gives_the_expected_output_in_a_pipeline() {
    check_redact(&redact_py());
}

#[test]
fn rust_redact_gives_the_same_output_over_the_same_data() {
    check_redact(&guest("redact"));
}

#[test]
fn after_parse_access_both_redacts_mask_the_same_attributes() {
    // parse_access turns the access lines into text, int and missing attributes; each
    // redact then masks messages and text attributes alike, and must agree on every event.
    let config = read(&redact_data("config.json"));
    let run = |redact: &Path| {
        let s = Scratch::new();
        let out = pipeline(
            &s,
            &redact_data("input.log"),
            &[(&guest("parse_access"), "{}"), (redact, &config)],
            "json",
            &test_cache(),
        );
        out.lines()
            .map(|line| {
                let mut event: serde_json::Value = serde_json::from_str(line).unwrap();
                // The time of this run aside.
                event.as_object_mut().unwrap().remove("timestamp");
                event
            })
            .collect::<Vec<_>>()
    };
    let python = run(&redact_py());
    let rust = run(&guest("redact"));
    assert_eq!(python, rust);
    // The comparison saw masked attributes, not only messages.
    let access = python
        .iter()
        .find(|e| e["attributes"]["user"] == "frank")
        .expect("the access line of frank");
    assert_eq!(access["attributes"]["client"], "[REDACTED]");
    assert_eq!(access["attributes"]["path"], "/login?user=[REDACTED]");
    assert_eq!(access["attributes"]["status"], 200);
}

#[test]
fn a_new_python_plugin_builds_passes_its_tests_and_runs_in_a_pipeline() {
    // The toolchain build.sh would install into the project's .venv: the repository's
    // pinned one, shared (the scaffold's unit test checks both pin the same version).
    run(&repo(), repo().join("sdk/python/install-tools"), &[], &[]);
    let venv = repo().join("target/python-tools");

    let s = Scratch::new();
    let said = run(
        &s.path(""),
        Path::new(bin()),
        &["plugin", "new", "--lang", "python", "drop-health"],
        &[],
    );
    assert!(said.contains("wrote 17 files"), "{said}");
    let project = s.path("drop-health");

    let tested = run(
        &project,
        Path::new("python3"),
        &["-m", "unittest", "-v"],
        &[("PYTHONDONTWRITEBYTECODE", Path::new("1"))],
    );
    assert!(tested.contains("Ran 2 tests"), "{tested}");
    assert!(tested.contains("\nOK"), "{tested}");

    // build.sh builds the component and checks it against testdata/ with `logcatch filter`.
    let built = run(
        &project,
        project.join("build.sh"),
        &[],
        &[
            ("COMPONENTIZE_PY_VENV", &venv),
            ("LOGCATCH", Path::new(bin())),
        ],
    );
    assert!(built.contains("testdata: output as expected"), "{built}");

    let got = pipeline(
        &s,
        &project.join("testdata/input.log"),
        &[(
            &project.join("target/drop_health.wasm"),
            &read(&project.join("testdata/config.json")),
        )],
        "text",
        // Where `logcatch filter` (run by build.sh) cached this very component: the
        // pipeline loads it from there instead of compiling CPython again.
        &std::env::temp_dir().join("logcatch-filter/cache"),
    );
    assert_eq!(got, read(&project.join("testdata/expected.log")));
}
