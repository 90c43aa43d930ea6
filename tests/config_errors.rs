//! Bad configs: each gives one clear message with file:line:column and the field path, and a
//! non-zero exit, from both `validate` and `run`.

mod common;

use std::process::Command;

use common::{Scratch, bin};

fn validate(s: &Scratch, yaml: &str) -> (i32, String) {
    let cfg = s.config(yaml);
    let out = Command::new(bin())
        .args(["validate", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const GOOD: &str = "\
data_dir: ./data
pipelines:
  web:
    sources:
      - type: file
        include: [\"in/*.log\"]
    sinks:
      - type: file
        path: out/web.log
";

#[test]
fn a_good_config_validates() {
    let s = Scratch::new();
    let cfg = s.config(GOOD);
    let out = Command::new(bin())
        .args(["validate", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "config ok: 1 pipeline(s)\n"
    );
}

#[test]
fn misspelled_field() {
    let s = Scratch::new();
    let (code, err) = validate(&s, &GOOD.replace("include:", "incldue:"));
    assert_eq!(code, 2);
    let first = err.lines().next().unwrap();
    assert!(first.ends_with("logcatch.yaml:6:9: pipelines.web.sources[0].incldue: unknown field `incldue`, expected one of `include`, `exclude`, `start_at`, `max_line_bytes`, `rescan_interval`, `rotate_wait`, `max_open_files`, `multiline`"), "{err}");
    assert_eq!(
        err.lines().count(),
        2,
        "one error and the summary line: {err}"
    );
}

#[test]
fn wrong_type() {
    let s = Scratch::new();
    let (code, err) = validate(&s, &format!("{GOOD}    batch:\n      linger: [5]\n"));
    assert_eq!(code, 2);
    assert!(
        err.contains("logcatch.yaml:11:7: pipelines.web.batch.linger: expected a duration"),
        "{err}"
    );
    let (_, err) = validate(
        &s,
        &GOOD.replace("include: [\"in/*.log\"]", "include: \"in/*.log\""),
    );
    assert!(err.contains("logcatch.yaml:6:9: pipelines.web.sources[0].include: invalid type: string \"in/*.log\", expected a sequence"), "{err}");
}

#[test]
fn missing_file_path() {
    let s = Scratch::new();
    let (code, err) = validate(
        &s,
        &GOOD.replace("        path: out/web.log\n", "        format: json\n"),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("logcatch.yaml:8:9: pipelines.web.sinks[0]: missing field `path`"),
        "{err}"
    );
}

#[test]
fn invalid_yaml() {
    let s = Scratch::new();
    let (code, err) = validate(
        &s,
        &GOOD.replace(
            "      - type: file\n        include",
            "      - type: file\n       include",
        ),
    );
    assert_eq!(code, 2);
    assert!(
        err.starts_with(&format!("{}:6:", s.path("logcatch.yaml").display())),
        "{err}"
    );
    assert!(err.contains("pipelines.web.sources"), "{err}");
}

#[test]
fn unknown_type_and_every_error_is_listed() {
    let s = Scratch::new();
    let yaml = GOOD
        .replace(
            "      - type: file\n        include",
            "      - type: filee\n        include",
        )
        .replace(
            "      - type: file\n        path: out/web.log",
            "      - type: s3\n        path: out/web.log",
        );
    let (code, err) = validate(&s, &yaml);
    assert_eq!(code, 2);
    assert!(err.contains(":5:9: pipelines.web.sources[0].type: unknown source type `filee`, expected one of demo, file, kafka, nats, stdin"), "{err}");
    assert!(err.contains(":8:9: pipelines.web.sinks[0].type: unknown sink type `s3`, expected one of blackhole, elasticsearch, file, http, kafka, nats, stdout"), "{err}");
    assert!(err.contains("config invalid: 2 errors"), "{err}");
}

#[test]
fn unset_variable_and_missing_config_file() {
    let s = Scratch::new();
    let (code, err) = validate(&s, &GOOD.replace("./data", "${LOGCATCH_TEST_SURELY_UNSET}"));
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "logcatch.yaml:1:11: environment variable `LOGCATCH_TEST_SURELY_UNSET` is not set"
        ),
        "{err}"
    );

    let out = Command::new(bin())
        .args(["run", "-c", "/nonexistent/logcatch.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("/nonexistent/logcatch.yaml: cannot read config file: No such file"),
        "{err}"
    );
}

#[test]
fn run_refuses_a_bad_config_before_starting() {
    let s = Scratch::new();
    let cfg = s.config(&GOOD.replace("include:", "incldue:"));
    let (status, err) = s.run_once(&cfg);
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains("pipelines.web.sources[0].incldue: unknown field"),
        "{err}"
    );
    assert!(
        !s.path("data").exists(),
        "nothing may be created for a refused config"
    );
}

#[test]
fn the_embedded_default_config_is_valid() {
    common::guest("drop_debug"); // the default config's plugins, built from source
    let out = Command::new(bin())
        .arg("validate")
        .env(
            "LOGCATCH_DATA_DIR",
            std::env::temp_dir().join("logcatch-validate-test"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn batch_limits_beyond_what_a_batch_can_address_are_refused() {
    // `max_bytes` up to 4 GiB was accepted, though a batch's text is addressed by u32
    // offsets and a filter's output must fit beside it.
    let s = Scratch::new();
    for (batch, field, says) in [
        (
            "max_bytes: 2GiB",
            "max_bytes",
            "must be between 1 byte and 1GiB",
        ),
        (
            "max_events: 2000000",
            "max_events",
            "must be between 1 and 1048576",
        ),
        ("max_growth: 0", "max_growth", "must be between 1 and 64"),
        ("max_growth: 65", "max_growth", "must be between 1 and 64"),
    ] {
        let (code, err) = validate(&s, &format!("{GOOD}    batch: {{ {batch} }}\n"));
        assert_eq!(code, 2, "{batch}: {err}");
        let at = format!("logcatch.yaml:10:14: pipelines.web.batch.{field}: {says}");
        assert!(err.contains(&at), "{batch}: want {at}\n{err}");
    }
    let (code, err) = validate(
        &s,
        &format!("{GOOD}    batch: {{ max_bytes: 1GiB, max_growth: 64 }}\n"),
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_environment_value_cannot_add_keys_to_the_config() {
    // A value holding a newline was spliced into the YAML text: it could add keys (here a
    // second sink writing everything to a file of the attacker's choice).
    let s = Scratch::new();
    let cfg = s.config(
        "data_dir: ./data\npipelines:\n  web:\n    sources: [{ type: demo }]\n    sinks:\n      - type: http\n        url: http://127.0.0.1:9/x\n        headers: { X-Tag: ${LOGCATCH_TEST_TAG} }\n",
    );
    let evil = "a }\n      - { type: file, path: /tmp/stolen.log";
    let out = Command::new(bin())
        .args(["validate", "-c"])
        .arg(&cfg)
        .env("LOGCATCH_TEST_TAG", evil)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("logcatch.yaml:8:27: environment variable `LOGCATCH_TEST_TAG` holds a line break or YAML syntax"),
        "{err}"
    );
    assert!(!err.contains("stolen"), "the value is not shown: {err}");
    // Quoted, it is one header's text.
    s.config(&fs_read(&cfg).replace("${LOGCATCH_TEST_TAG}", "\"${LOGCATCH_TEST_TAG}\""));
    let out = Command::new(bin())
        .args(["validate", "-c"])
        .arg(&cfg)
        .env("LOGCATCH_TEST_TAG", "a, b: c")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fs_read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).unwrap()
}
