//! JavaScript guests: the js-parse-json example in a real pipeline (file source → filter →
//! file sink, exact expected output from tests/data/parse_json), and a project from
//! `logcatch plugin new --lang js` that builds, passes its own tests and runs in a pipeline.
//! Components are built with componentize-js (sdk/js/install-tools pins it).

mod common;

use std::path::{Path, PathBuf};

use common::{Scratch, bin, lines, repo, run_ok as run};

/// The js-parse-json component, built by its build.sh (a no-op when nothing changed).
fn parse_json_wasm() -> PathBuf {
    run(
        &repo(),
        repo().join("examples/js-parse-json/build.sh"),
        &[],
        &[],
    );
    repo().join("target/guests/js/parse_json_js.wasm")
}

/// Runs `input` through the plugin `wasm` with `config` (JSON) in a `--once` pipeline, with
/// compile cache `cache`; returns the file sink's lines.
fn pipeline(
    s: &Scratch,
    input: &Path,
    (wasm, cache): (&Path, &Path),
    config: &str,
    format: &str,
) -> Vec<String> {
    let cfg = s.config(&format!(
        "data_dir: ./data\n\
         cache_dir: {cache}\n\
         pipelines:\n  \
           p:\n    \
             sources: [{{ type: file, include: [\"{input}\"] }}]\n    \
             filters: [{{ wasm: \"{wasm}\", config: {config} }}]\n    \
             sinks: [{{ type: file, path: out.log, format: {format} }}]\n",
        cache = cache.display(),
        input = input.display(),
        wasm = wasm.display(),
    ));
    let (status, log) = s.run_once(&cfg);
    assert!(status.success(), "{log}");
    lines(&s.path("out.log"))
}

/// What the test compares of a json sink line or an expected line: message, offset and
/// attributes (typed: an int 3 differs from a float 3.0).
fn essentials(line: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    serde_json::json!({
        "message": v["message"],
        "offset": v["offset"],
        "attributes": v["attributes"],
    })
}

#[test]
fn js_parse_json_types_fields_and_flags_lines_that_are_not_objects() {
    let data = repo().join("tests/data/parse_json");
    let config = std::fs::read_to_string(data.join("config.json")).unwrap();
    let s = Scratch::new();
    let out = pipeline(
        &s,
        &data.join("input.log"),
        (&parse_json_wasm(), &repo().join("target/test-plugin-cache")),
        config.trim(),
        "json",
    );
    // The time and path of this run aside, byte for byte (attribute order included), as
    // the Rust twin (tests/examples.rs) is held to.
    let without_run_fields =
        |line: &String| match (line.find(",\"timestamp\":"), line.find(",\"offset\":")) {
            (Some(a), Some(b)) if a < b => format!("{}{}", &line[..a], &line[b..]),
            _ => line.clone(),
        };
    let got: Vec<String> = out.iter().map(without_run_fields).collect();
    let want: Vec<String> = lines(&data.join("expected.log"))
        .iter()
        .map(without_run_fields)
        .collect();
    assert_eq!(got, want);
    // The types, whatever expected.log says: an int is not a float.
    let first = essentials(&out[0]);
    assert_eq!(first["attributes"]["attempt"], serde_json::json!(3));
    assert!(first["attributes"]["latency_ms"].is_f64());
    assert_eq!(essentials(&out[2])["attributes"]["json_error"], "not JSON");
}

#[test]
fn a_new_js_plugin_builds_passes_its_tests_and_runs_in_a_pipeline() {
    let tools = repo().join("sdk/js/install-tools");
    run(&repo(), &tools, &[], &[]);
    let componentize = repo().join("target/js-tools/node_modules/.bin/componentize-js");

    let s = Scratch::new();
    let said = run(
        &s.path(""),
        Path::new(bin()),
        &["plugin", "new", "--lang", "js", "drop-health"],
        &[],
    );
    assert!(said.contains("wrote 20 files"), "{said}");
    let project = s.path("drop-health");

    let tested = run(&project, Path::new("npm"), &["test"], &[]);
    assert!(tested.contains("# pass 2"), "{tested}");
    assert!(tested.contains("# fail 0"), "{tested}");
    // build.sh builds the component (with the repository's pinned componentize-js instead
    // of a fresh `npm ci`) and checks it against testdata/ with `logcatch filter`.
    let built = run(
        &project,
        project.join("build.sh"),
        &[],
        &[
            ("COMPONENTIZE_JS", &componentize),
            ("LOGCATCH", Path::new(bin())),
        ],
    );
    assert!(built.contains("testdata: output as expected"), "{built}");

    let out = pipeline(
        &s,
        &project.join("testdata/input.log"),
        // The cache `logcatch filter` (in build.sh) compiled this component into: a new
        // JavaScript component takes seconds to compile, once is enough.
        (
            &project.join("target/drop_health.wasm"),
            &std::env::temp_dir().join("logcatch-filter/cache"),
        ),
        "{ drop_containing: [\"GET /healthz\"] }",
        "json",
    );
    let messages: Vec<_> = out
        .iter()
        .map(|l| essentials(l)["message"].clone())
        .collect();
    let expected: Vec<_> = lines(&project.join("testdata/expected.log"))
        .into_iter()
        .map(serde_json::Value::from)
        .collect();
    assert_eq!(messages, expected);
    for line in &out {
        assert_eq!(
            essentials(line)["attributes"],
            serde_json::json!({ "drop-health": "kept" })
        );
    }
}
