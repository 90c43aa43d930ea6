//! C guests: the C drop_debug example in a real pipeline through the real binary, with the
//! same output as the Rust one on the shared test data (tests/data/drop_debug), and a
//! `logcatch plugin new --lang c` project that builds, passes its own test and runs in a
//! pipeline. The C toolchain comes from sdk/c/install-tools (pinned, a no-op once installed).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Scratch, bin, guest, lines, repo, run_ok};

/// Runs `cmd args` in `dir` with the C toolchain's directory and the binary under test in
/// its environment.
fn run(dir: &Path, cmd: &str, args: &[&str]) -> String {
    let tools = repo().join("target/c-tools");
    run_ok(
        dir,
        cmd,
        args,
        &[("LOGCATCH_C_TOOLS", &tools), ("LOGCATCH", Path::new(bin()))],
    )
}

/// The C drop_debug component, built by its build.sh (which installs the toolchain first,
/// and skips the build when nothing changed), once per test process.
fn c_drop_debug() -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        run(&repo(), "examples/c-drop-debug/build.sh", &[]);
    });
    let wasm = repo().join("target/guests/c/drop_debug_c.wasm");
    assert!(wasm.exists(), "{} was not built", wasm.display());
    wasm
}

/// Runs `input` through the filter `wasm` with `config` (JSON, which YAML reads as is) in a
/// `--once` pipeline, file source to text file sink; returns the sink's lines.
fn pipeline(s: &Scratch, input: &Path, wasm: &Path, config: &str) -> Vec<String> {
    std::fs::copy(input, s.path("in.log")).unwrap();
    let cache = repo().join("target/test-plugin-cache");
    let cfg = s.config(&format!(
        "data_dir: ./data\n\
         cache_dir: {cache}\n\
         pipelines:\n  \
           p:\n    \
             sources: [{{ type: file, include: [in.log] }}]\n    \
             filters:\n      \
               - {{ wasm: \"{wasm}\", config: {config} }}\n    \
             sinks: [{{ type: file, path: out.log, format: text }}]\n",
        cache = cache.display(),
        wasm = wasm.display(),
    ));
    let (status, log) = s.run_once(&cfg);
    assert!(status.success(), "{log}");
    lines(&s.path("out.log"))
}

/// The shared test data of the drop_debug filters: (input, config, expected lines).
fn drop_debug_data() -> (PathBuf, String, Vec<String>) {
    let dir = repo().join("tests/data/drop_debug");
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let expected = lines(&dir.join("expected.log"));
    assert!(expected.len() >= 20, "expected.log looks truncated");
    (dir.join("input.log"), config.trim().to_owned(), expected)
}

#[test]
fn c_drop_debug_gives_the_expected_output_in_a_pipeline() {
    let (input, config, expected) = drop_debug_data();
    let s = Scratch::new();
    let out = pipeline(&s, &input, &c_drop_debug(), &config);
    assert_eq!(out, expected);
    // The input has lines of each kind: the filter dropped some and kept some.
    assert!(out.len() < lines(&input).len());
}

#[test]
fn rust_drop_debug_gives_the_same_output_on_the_same_data() {
    let (input, config, expected) = drop_debug_data();
    let s = Scratch::new();
    assert_eq!(
        pipeline(&s, &input, &guest("drop_debug"), &config),
        expected
    );
}

#[test]
fn c_drop_debug_refuses_a_bad_config_with_the_reason() {
    let wasm = c_drop_debug();
    let out = Command::new(bin())
        .arg("filter")
        .arg(&wasm)
        .args(["--config", r#"{"levels": ["DEBUG", "[x]"]}"#])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"levels[1]: "[x]" is not a level word"#),
        "{err}"
    );
}

#[test]
fn a_new_c_plugin_builds_passes_its_test_and_runs_in_a_pipeline() {
    // The toolchain, installed (and the C example built) once.
    c_drop_debug();
    let s = Scratch::new();
    let said = run(
        &s.path(""),
        bin(),
        &["plugin", "new", "--lang", "c", "drop-health"],
    );
    assert!(said.contains("wrote 25 files"), "{said}");
    let project = s.path("drop-health");

    let tested = run(&project, "./test", &[]);
    assert!(tested.contains("2 tests passed"), "{tested}");
    // build.sh builds the component and checks it against testdata/ with `logcatch filter`.
    let built = run(&project, "./build.sh", &[]);
    assert!(built.contains("testdata: output as expected"), "{built}");

    let wasm = project.join("build/drop_health.wasm");
    let config = std::fs::read_to_string(project.join("testdata/config.json")).unwrap();
    let out = pipeline(
        &s,
        &project.join("testdata/input.log"),
        &wasm,
        config.trim(),
    );
    assert_eq!(out, lines(&project.join("testdata/expected.log")));
}
