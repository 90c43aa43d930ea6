//! WebAssembly sinks through the real `logcatch` binary: the `rust-http-bulk-sink` example
//! posting `_bulk` NDJSON to a real HTTP server on 127.0.0.1 (axum, in this process), a
//! server that answers 503 first (retried, nothing lost), a request to a host the pipeline
//! does not grant (refused before it leaves, the batch kept and retried), and plugins that
//! `validate` refuses.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::server::Server;
use common::{Scratch, bin, guest, wait_until};

/// A server answering request `n` (0-based) with the status `status(n)`, as a `_bulk`
/// endpoint words it.
fn bulk_server(status: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Server {
    Server::start(move |n, _| {
        let status = status(n);
        let text = if status < 300 {
            r#"{"errors":false}"#
        } else {
            "try later"
        };
        (status, vec![], text)
    })
}

/// Writes `line 0` .. `line n-1` to `in.log`; returns each line's byte offset.
fn input(s: &Scratch, n: u64) -> Vec<u64> {
    let mut text = String::new();
    let mut offsets = Vec::new();
    for i in 0..n {
        offsets.push(text.len() as u64);
        text.push_str(&format!("line {i}\n"));
    }
    std::fs::write(s.path("in.log"), text).unwrap();
    offsets
}

/// Copies the example sink into the scratch dir, as the config names it (relative path).
fn install_sink(s: &Scratch) -> &'static str {
    std::fs::create_dir_all(s.path("plugins")).unwrap();
    std::fs::copy(guest("http_bulk_sink"), s.path("plugins/bulk.wasm")).unwrap();
    "plugins/bulk.wasm"
}

/// A pipeline from `in.log` to the bulk sink posting to `url`, granted `allow`.
fn config(s: &Scratch, url: &str, allow: &str, max_events: usize) -> PathBuf {
    let wasm = install_sink(s);
    s.config(&format!(
        "data_dir: data
shutdown_timeout: 2s
pipelines:
  p:
    sources:
      - {{ type: file, include: [in.log] }}
    batch: {{ max_events: {max_events} }}
    sinks:
      - wasm: {wasm}
        config: {{ url: \"{url}\" }}
        limits: {{ memory: 64MiB, timeout: 10s }}
        allow_hosts: [\"{allow}\"]
"
    ))
}

fn command(args: &[&str], config: &Path) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .arg("-c")
        .arg(config)
        .env("LOGCATCH_LOG", "info")
        .stdin(Stdio::null());
    c
}

/// Runs `logcatch run --once`; returns (success, stderr).
fn run_once(config: &Path) -> (bool, String) {
    let out = command(&["run", "--once"], config).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), log)
}

/// The events of a `_bulk` body: checks it is exactly `{"create":{}}` then a document, per
/// event, each document exactly `@timestamp`, `message`, `source`, `offset` in that order;
/// returns (message number, offset, source) per event.
fn bulk_events(body: &[u8]) -> Vec<(u64, u64, String)> {
    let text = std::str::from_utf8(body).expect("UTF-8 body");
    assert!(text.ends_with('\n'), "NDJSON ends with a newline");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        !lines.is_empty() && lines.len().is_multiple_of(2),
        "pairs of lines"
    );
    lines
        .chunks(2)
        .map(|pair| {
            assert_eq!(pair[0], r#"{"create":{}}"#, "the action line");
            let doc: serde_json::Value = serde_json::from_str(pair[1]).expect("a JSON document");
            let ts = doc["@timestamp"].as_str().expect("@timestamp");
            assert!(
                ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
                "{ts}"
            );
            let message = doc["message"].as_str().expect("message");
            let n: u64 = message.strip_prefix("line ").unwrap().parse().unwrap();
            let offset = doc["offset"].as_u64().expect("offset");
            let source = doc["source"].as_str().expect("source").to_owned();
            // The exact bytes: nothing else in the document, fields in this order.
            let exact = format!(
                "{{\"@timestamp\":\"{ts}\",\"message\":\"{message}\",\"source\":{},\"offset\":{offset}}}",
                serde_json::to_string(&source).unwrap()
            );
            assert_eq!(pair[1], exact);
            (n, offset, source)
        })
        .collect()
}

/// Every number in 0..n exactly once, each at its line's offset in `in.log`.
fn assert_exactly_once(events: &[(u64, u64, String)], offsets: &[u64]) {
    let mut numbers: Vec<u64> = events.iter().map(|e| e.0).collect();
    numbers.sort_unstable();
    let all: Vec<u64> = (0..offsets.len() as u64).collect();
    assert_eq!(numbers, all, "each line exactly once");
    for (n, offset, source) in events {
        assert_eq!(*offset, offsets[*n as usize], "offset of line {n}");
        assert!(source.ends_with("in.log"), "{source}");
    }
}

#[test]
fn batches_arrive_as_bulk_requests_each_line_once() {
    let server = bulk_server(|_| 200);
    let s = Scratch::new();
    let offsets = input(&s, 2000);
    let url = format!("http://{}/logs/_bulk", server.addr);
    let cfg = config(&s, &url, &server.addr.to_string(), 500);
    let (ok, log) = run_once(&cfg);
    assert!(ok, "{log}");
    let requests = server.requests();
    assert!(requests.len() >= 4, "{} requests", requests.len());
    let mut events = Vec::new();
    for r in &requests {
        assert_eq!(r.path, "/logs/_bulk");
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        let e = bulk_events(&r.body);
        assert!(e.len() <= 500);
        events.extend(e);
    }
    assert_exactly_once(&events, &offsets);
    assert!(log.contains("posting batches to"), "{log}");
}

#[test]
fn a_server_that_answers_503_first_gets_every_line_once_after_retries() {
    let server = bulk_server(|n| if n < 3 { 503 } else { 200 });
    let s = Scratch::new();
    let offsets = input(&s, 600);
    let url = format!("http://{}/_bulk", server.addr);
    let cfg = config(&s, &url, &server.addr.to_string(), 200);
    let (ok, log) = run_once(&cfg);
    assert!(ok, "{log}");
    let requests = server.requests();
    assert!(requests.len() >= 6, "{} requests", requests.len());
    // The refused batch was kept and sent again, the same events each time.
    for r in &requests[1..4] {
        assert_eq!(r.body, requests[0].body, "a retry resends the same batch");
    }
    let delivered: Vec<_> = requests
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(|r| bulk_events(&r.body))
        .collect();
    assert_exactly_once(&delivered, &offsets);
    assert!(log.contains("answered 503"), "{log}");
    assert!(log.contains("the batch is kept and retried"), "{log}");
}

#[test]
fn a_host_not_in_allow_hosts_is_refused_and_the_batch_is_kept() {
    let granted = bulk_server(|_| 200);
    let other = bulk_server(|_| 200);
    let s = Scratch::new();
    input(&s, 50);
    let url = format!("http://{}/_bulk", other.addr);
    let cfg = config(&s, &url, &granted.addr.to_string(), 1024);
    let daemon = s.start(&cfg);
    let refused_host = format!("127.0.0.1:{}", other.addr.port());
    let refusals = |log: &str| {
        log.lines()
            .filter(|l| {
                l.contains("outgoing HTTP request refused")
                    && l.contains("bulk")
                    && l.contains(&refused_host)
            })
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(30), || refusals(&daemon.log()) >= 3),
        "no repeated refusal:\n{}",
        daemon.log()
    );
    let log = daemon.log();
    assert!(log.contains("HttpRequestDenied"), "{log}");
    assert!(log.contains("the batch is kept and retried"), "{log}");
    assert!(daemon.terminate().success());
    assert!(other.requests().is_empty(), "a refused request went out");
    assert!(granted.requests().is_empty());
    // Nothing was acknowledged: no position of in.log was checkpointed.
    let ledger = s.path("data/checkpoints/p/source-0.json");
    if let Ok(text) = std::fs::read_to_string(&ledger) {
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let streams = v["streams"].as_object().unwrap();
        assert!(
            streams.values().all(|m| m["offset"].as_u64() == Some(0)),
            "{text}"
        );
    }
}

/// Runs `logcatch validate` on `yaml`; returns (success, stderr).
fn validate(s: &Scratch, yaml: &str) -> (bool, String) {
    let cfg = s.config(yaml);
    let out = command(&["validate"], &cfg).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sink_yaml(sink: &str) -> String {
    format!(
        "data_dir: data
pipelines:
  p:
    sources: [{{ type: file, include: [in.log] }}]
    sinks:
{sink}"
    )
}

#[test]
fn validate_refuses_broken_or_wrong_sink_plugins() {
    let s = Scratch::new();
    let bulk = install_sink(&s);
    std::fs::copy(guest("drop_debug"), s.path("plugins/filter.wasm")).unwrap();
    std::fs::write(s.path("plugins/broken.wasm"), b"\0asm not really").unwrap();
    let good = format!(
        "      - wasm: {bulk}\n        config: {{ url: \"http://127.0.0.1:9/_bulk\" }}\n        allow_hosts: [\"127.0.0.1:9\"]\n"
    );
    let (ok, err) = validate(&s, &sink_yaml(&good));
    assert!(ok, "{err}");

    let cases = [
        (
            "      - { wasm: plugins/missing.wasm }\n".to_owned(),
            vec![
                "pipelines.p.sinks[0].wasm",
                "missing.wasm",
                "cannot read plugin",
            ],
        ),
        (
            "      - { wasm: plugins/broken.wasm }\n".to_owned(),
            vec![
                "pipelines.p.sinks[0].wasm",
                "broken.wasm",
                "is not a usable WebAssembly component",
            ],
        ),
        (
            "      - { wasm: plugins/filter.wasm }\n".to_owned(),
            vec![
                "pipelines.p.sinks[0].wasm",
                "filter.wasm is not a logcatch sink",
                "does not export `logcatch:plugin/sink@0.1.0`",
            ],
        ),
        (
            format!("      - {{ wasm: {bulk}, config: {{}} }}\n"),
            vec![
                "pipelines.p.sinks[0].config",
                "refused to start: init",
                "missing field `url`",
            ],
        ),
        (
            format!("      - {{ wasm: {bulk}, allow_hosts: [\"http://es:9200\"] }}\n"),
            vec![
                "pipelines.p.sinks[0].allow_hosts[0]",
                "is not a host or host:port",
            ],
        ),
        (
            format!("      - {{ wasm: {bulk}, allow_host: [x] }}\n"),
            vec!["pipelines.p.sinks[0].allow_host", "unknown field"],
        ),
        (
            format!("      - {{ type: stdout, wasm: {bulk} }}\n"),
            vec!["pipelines.p.sinks[0]", "not both"],
        ),
    ];
    for (sink, wanted) in cases {
        let (ok, err) = validate(&s, &sink_yaml(&sink));
        assert!(!ok, "accepted:\n{sink}");
        for w in wanted {
            assert!(err.contains(w), "{w:?} not in:\n{err}");
        }
    }

    // And a sink is no filter.
    let (ok, err) = validate(
        &s,
        &format!(
            "{}    filters: [{{ wasm: {bulk} }}]\n",
            sink_yaml("      - { type: stdout }\n")
        ),
    );
    assert!(!ok);
    assert!(
        err.contains("pipelines.p.filters[0].wasm") && err.contains("is not a logcatch filter"),
        "{err}"
    );
}

#[test]
fn replacing_the_sink_plugin_on_disk_restarts_its_pipeline_with_it() {
    let server = bulk_server(|_| 200);
    let s = Scratch::new();
    let offsets = input(&s, 20);
    let url = format!("http://{}/_bulk", server.addr);
    let cfg = config(&s, &url, &server.addr.to_string(), 1024);
    let daemon = s.start(&cfg);
    let delivered = || -> Vec<(u64, u64, String)> {
        server
            .requests()
            .iter()
            .flat_map(|r| bulk_events(&r.body))
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(30), || delivered().len() >= 20),
        "{}",
        daemon.log()
    );
    // A new version of the plugin: the same component with one more custom section (id 0,
    // 9 bytes: the name `version`, then `2`), so another content hash. Renamed over the old
    // file, as deploy tools do.
    let wasm = s.path("plugins/bulk.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    bytes.extend_from_slice(b"\x00\x09\x07version2");
    std::fs::write(s.path("plugins/bulk.wasm.new"), &bytes).unwrap();
    std::fs::rename(s.path("plugins/bulk.wasm.new"), &wasm).unwrap();
    // No signal: the daemon watches its sinks' plugin files and reloads by itself.
    assert!(
        wait_until(Duration::from_secs(30), || daemon
            .log()
            .contains("pipeline changed")),
        "the new plugin was not seen:\n{}",
        daemon.log()
    );
    // The restarted pipeline delivers through the new instance, from its checkpoint.
    let more: String = (20..30).map(|i| format!("line {i}\n")).collect();
    let mut offsets = offsets;
    let len = std::fs::metadata(s.path("in.log")).unwrap().len();
    offsets.extend((0..10).map(|i| len + i * "line 2x\n".len() as u64));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(s.path("in.log"))
        .unwrap();
    std::io::Write::write_all(&mut f, more.as_bytes()).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || delivered().len() >= 30),
        "{}",
        daemon.log()
    );
    assert!(daemon.terminate().success());
    assert_exactly_once(&delivered(), &offsets);
}

/// Lines in a file that the steady pipeline has completed so far.
fn complete_lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

#[test]
fn a_sink_that_never_returns_is_stopped_by_its_timeout_and_its_batch_is_kept() {
    let s = Scratch::new();
    let lines: String = (0..20)
        .map(|i| match i {
            10 => "line 10 SPIN\n".to_owned(),
            i => format!("line {i}\n"),
        })
        .collect();
    std::fs::write(s.path("in.log"), &lines).unwrap();
    let stuck = guest("stuck_sink");
    let steady = "  steady:\n    sources: [{ type: demo, rate: 200 }]\n    sinks: [{ type: file, path: steady.log }]\n";
    let cfg = s.config(&format!(
        "data_dir: data\nshutdown_timeout: 2s\npipelines:\n  stuck:\n    sources: [{{ type: file, include: [in.log] }}]\n    sinks:\n      - {{ wasm: \"{}\", limits: {{ timeout: 200ms }} }}\n{steady}",
        stuck.display()
    ));
    let daemon = s.start(&cfg);
    // The write times out again and again (a fresh instance each time), the batch is kept,
    // and the other pipeline goes on delivering meanwhile.
    assert!(
        wait_until(Duration::from_secs(30), || daemon
            .log()
            .matches("timed out")
            .count()
            >= 2),
        "the stuck write was not stopped and retried:\n{}",
        daemon.log()
    );
    let before = complete_lines(&s.path("steady.log"));
    assert!(
        wait_until(Duration::from_secs(10), || complete_lines(
            &s.path("steady.log")
        ) >= before + 200),
        "the steady pipeline stalled:\n{}",
        daemon.log()
    );
    let log = daemon.log();
    assert!(daemon.terminate().success(), "{log}");
    // Nothing was acknowledged: the same lines, read again into a file sink, are all there.
    let cfg = s.config(
        "data_dir: data\npipelines:\n  stuck:\n    sources: [{ type: file, include: [in.log] }]\n    sinks: [{ type: file, path: out.log, format: text }]\n",
    );
    let (status, log) = s.run_once(&cfg);
    assert!(status.success(), "{log}");
    assert_eq!(std::fs::read_to_string(s.path("out.log")).unwrap(), lines);
}
