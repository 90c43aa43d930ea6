//! `logcatch plugin new`: the generated project builds on its own, its tests pass, and the
//! component it builds runs in a real pipeline with the output its test data expects.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Scratch, bin, lines, repo, run_ok};

/// Runs `cmd args` in `dir`, sharing one target directory across runs so dependencies
/// compile once.
fn run(dir: &Path, cmd: &str, args: &[&str]) -> String {
    let target = repo().join("target/plugin-new");
    run_ok(
        dir,
        cmd,
        args,
        &[
            ("CARGO_TARGET_DIR", &target),
            ("LOGCATCH", Path::new(bin())),
        ],
    )
}

#[test]
fn a_new_rust_plugin_builds_passes_its_tests_and_runs_in_a_pipeline() {
    let s = Scratch::new();
    let said = run(
        &s.path(""),
        bin(),
        &["plugin", "new", "--lang", "rust", "drop-health"],
    );
    assert!(said.contains("wrote 16 files"), "{said}");
    let project = s.path("drop-health");

    let tested = run(&project, "cargo", &["test", "--quiet"]);
    assert!(tested.contains("2 passed"), "{tested}");
    // build.sh builds the component and checks it against testdata/ with `logcatch filter`.
    let built = run(&project, "./build.sh", &[]);
    assert!(built.contains("testdata: output as expected"), "{built}");

    let wasm = repo().join("target/plugin-new/wasm32-wasip2/release/drop_health.wasm");
    let cfg = s.config(&format!(
        "data_dir: ./data\n\
         pipelines:\n  \
           p:\n    \
             sources: [{{ type: file, include: [\"{input}\"] }}]\n    \
             filters: [{{ wasm: \"{wasm}\", config: {{ drop_containing: [\"GET /healthz\"] }} }}]\n    \
             sinks: [{{ type: file, path: out.log, format: text }}]\n",
        input = project.join("testdata/input.log").display(),
        wasm = wasm.display(),
    ));
    let (status, log) = s.run_once(&cfg);
    assert!(status.success(), "{log}");
    assert_eq!(
        lines(&s.path("out.log")),
        lines(&project.join("testdata/expected.log"))
    );

    // A second project of the same name is refused, and nothing is overwritten.
    let again = Command::new(bin())
        .args(["plugin", "new", "--lang", "rust", "drop-health"])
        .current_dir(s.path(""))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
