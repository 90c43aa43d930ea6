//! The example filters in real pipelines through the real binary (input file → filters →
//! file sink, exact expected output), chains in order, `logcatch filter`, and the compile
//! cache. Plugins are built from source by `scripts/build-guests`.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Scratch, bin, guest, lines};

/// Runs `input` through `filters` (YAML list items) with `--once`; returns the sink's lines.
fn pipeline(s: &Scratch, input: &str, filters: &str, format: &str) -> Vec<String> {
    std::fs::write(s.path("in.log"), input).unwrap();
    // Compiled plugins are shared between tests: each compiles once per test run.
    let cache = common::repo().join("target/test-plugin-cache");
    let cfg = s.config(&format!(
        "data_dir: ./data\ncache_dir: {}\npipelines:\n  p:\n    sources: [{{type: file, include: [in.log]}}]\n    filters:\n{filters}    sinks: [{{type: file, path: out.log, format: {format}}}]\n",
        cache.display()
    ));
    let (status, err) = s.run_once(&cfg);
    assert!(status.success(), "{err}");
    lines(&s.path("out.log"))
}

fn item(wasm: &Path, config: &str) -> String {
    format!("      - {{ wasm: {}, config: {config} }}\n", wasm.display())
}

#[test]
fn drop_debug_drops_debug_lines_only() {
    let s = Scratch::new();
    let input = "\
2026-11-25T08:00:00Z DEBUG cache miss key=a
2026-11-25T08:00:01Z INFO request done
[debug] lower-case bracketed
level=DEBUG component=x
2026-11-25T08:00:02Z WARN slow
no level at all, mentions DEBUG later than the fourth token though
2026-11-25T08:00:03Z ERROR failed
";
    let out = pipeline(
        &s,
        input,
        &item(&guest("drop_debug"), "{ levels: [DEBUG] }"),
        "text",
    );
    assert_eq!(
        out,
        [
            "2026-11-25T08:00:01Z INFO request done",
            "2026-11-25T08:00:02Z WARN slow",
            "no level at all, mentions DEBUG later than the fourth token though",
            "2026-11-25T08:00:03Z ERROR failed",
        ]
    );
}

#[test]
fn parse_access_types_the_fields_and_flags_what_it_cannot_parse() {
    let s = Scratch::new();
    let input = "\
127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326 \"http://www.example.com/start.html\" \"Mozilla/4.08\"
10.1.2.3 - - [25/Nov/2026:08:00:00 +0000] \"POST /api HTTP/1.1\" 503 -
not an access line
";
    let out = pipeline(&s, input, &item(&guest("parse_access"), "{}"), "json");
    let attrs: Vec<serde_json::Value> = out
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["attributes"].clone())
        .collect();
    assert_eq!(
        attrs[0],
        serde_json::json!({
            "client": "127.0.0.1", "user": "frank", "time": "10/Oct/2000:13:55:36 -0700",
            "method": "GET", "path": "/apache_pb.gif", "protocol": "HTTP/1.0", "status": 200,
            "bytes": 2326, "referrer": "http://www.example.com/start.html", "user_agent": "Mozilla/4.08"
        })
    );
    assert_eq!(
        attrs[1],
        serde_json::json!({
            "client": "10.1.2.3", "time": "25/Nov/2026:08:00:00 +0000", "method": "POST",
            "path": "/api", "protocol": "HTTP/1.1", "status": 503, "bytes": 0
        })
    );
    assert_eq!(
        attrs[2].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["parse_error"]
    );
    let third: serde_json::Value = serde_json::from_str(&out[2]).unwrap();
    assert_eq!(third["message"], "not an access line");
}

#[test]
fn redact_masks_emails_addresses_and_patterns() {
    let s = Scratch::new();
    let input = "\
login ok user=jane.doe@example.org from 192.168.1.20:5543 secret=hunter2
nothing to hide here v1.2.3
";
    let out = pipeline(
        &s,
        input,
        &item(
            &guest("redact"),
            "{ patterns: ['secret=\\S+'], mask: '***' }",
        ),
        "text",
    );
    assert_eq!(
        out,
        [
            "login ok user=*** from ***:5543 ***",
            "nothing to hide here v1.2.3"
        ]
    );
}

#[test]
fn parse_json_gives_the_output_the_javascript_example_is_held_to() {
    // tests/data/parse_json is shared with examples/js-parse-json (tests/lang_js.rs): the
    // two implementations must agree event for event, attribute for attribute.
    let s = Scratch::new();
    let data = common::repo().join("tests/data/parse_json");
    let config = std::fs::read_to_string(data.join("config.json")).unwrap();
    let input = std::fs::read_to_string(data.join("input.log")).unwrap();
    let out = pipeline(
        &s,
        &input,
        &item(&guest("parse_json"), config.trim()),
        "json",
    );
    // The time and path of this run aside, byte for byte (attribute order included).
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
}

#[test]
fn chains_of_two_and_three_filters_run_in_order() {
    let s = Scratch::new();
    let redact = guest("redact");
    let input = "INFO call from 10.0.0.1\nDEBUG from 10.0.0.2\n";
    // Two filters: the first one to mask an address decides the mask.
    let a_then_b = item(&redact, "{ mask: A }") + &item(&redact, "{ mask: B }");
    assert_eq!(
        pipeline(&s, input, &a_then_b, "text"),
        ["INFO call from A", "DEBUG from A"]
    );
    let s = Scratch::new();
    let b_then_a = item(&redact, "{ mask: B }") + &item(&redact, "{ mask: A }");
    assert_eq!(
        pipeline(&s, input, &b_then_a, "text"),
        ["INFO call from B", "DEBUG from B"]
    );
    // Three: mask with A, turn A into B, then drop DEBUG lines.
    let s = Scratch::new();
    let three = item(&redact, "{ mask: A }")
        + &item(&redact, "{ patterns: ['\\bA\\b'], mask: B }")
        + &item(&guest("drop_debug"), "{}");
    assert_eq!(pipeline(&s, input, &three, "text"), ["INFO call from B"]);
}

#[test]
fn logcatch_filter_runs_a_plugin_over_stdin() {
    let mut child = Command::new(bin())
        .arg("filter")
        .arg(guest("drop_debug"))
        .args(["--config", r#"{"levels": ["INFO"]}"#])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"INFO hello\nWARN careful\nERROR broken\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let messages: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["message"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(messages, ["WARN careful", "ERROR broken"]);
}

#[test]
fn a_restart_loads_plugins_from_the_compile_cache() {
    let s = Scratch::new();
    let cfg = s.config(&format!(
        "data_dir: ./data\npipelines:\n  p:\n    sources: [{{type: stdin}}]\n    filters:\n{}    sinks: [{{type: blackhole}}]\n",
        item(&guest("parse_access"), "{}")
    ));
    let validate = || {
        let out = Command::new(bin())
            .args(["validate", "-c"])
            .arg(&cfg)
            .env("LOGCATCH_LOG", "logcatch_core=debug")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(validate().contains("cached=false"));
    let entries = std::fs::read_dir(s.path("data/cache")).unwrap().count();
    assert_eq!(entries, 1, "one compiled artifact");
    assert!(
        validate().contains("cached=true"),
        "the second start recompiled"
    );
}
