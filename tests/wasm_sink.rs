//! WebAssembly sinks through the real `logcatch` binary: the `rust-http-bulk-sink` example
//! posting `_bulk` NDJSON to a real HTTP server on 127.0.0.1 (axum, in this process), a
//! server that answers 503 first (retried, nothing lost), a request to a host the pipeline
//! does not grant (refused before it leaves, the batch kept and retried), plugins that
//! `validate` refuses, and a sink's `.wasm` replaced while it runs (swapped in at a batch
//! boundary without restarting the pipeline; a broken file refused, the old version kept).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::http::{api_addr, get_json};
use common::server::Server;
use common::{Daemon, Scratch, bin, guest, wait_until};

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

/// The action line the example sink writes before each document.
const ACTION: &str = r#"{"create":{}}"#;
/// The action line of the second version of the sink ([`second_version`]).
const ACTION_V2: &str = r#"{"update":{}}"#;

/// The events of a `_bulk` body: checks it is exactly an action line (the same for every
/// event: [`ACTION`], or [`ACTION_V2`] from the second version) then a document, per event,
/// each document exactly `@timestamp`, `message`, `source`, `offset` in that order; returns
/// (message number, offset, source) per event.
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
            assert!(pair[0] == ACTION || pair[0] == ACTION_V2, "{}", pair[0]);
            assert_eq!(pair[0], lines[0], "one action line per body");
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
    if let Some(ledger) = common::checkpoint_file(&s.path("data"), "p") {
        let marks = common::resume_marks(&ledger).unwrap();
        assert!(
            marks.values().all(|m| m["offset"].as_u64() == Some(0)),
            "{marks:?}"
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

/// The action line of a `_bulk` body: which version of the sink wrote it.
fn action(body: &[u8]) -> &str {
    std::str::from_utf8(body).unwrap().lines().next().unwrap()
}

/// Every event the server received, in arrival order.
fn delivered(server: &Server) -> Vec<(u64, u64, String)> {
    server
        .requests()
        .iter()
        .flat_map(|r| bulk_events(&r.body))
        .collect()
}

/// The example sink rebuilt so that it behaves observably differently: the same component
/// with its action line `{"create":{}}` changed to `{"update":{}}` and its start-up log line
/// `posting batches to` to `POSTING batches to`, in its data segment (same lengths, so the
/// component stays valid).
fn second_version(first: &[u8]) -> Vec<u8> {
    let patch = |bytes: &mut Vec<u8>, from: &str, to: &str| {
        let at: Vec<usize> = bytes
            .windows(from.len())
            .enumerate()
            .filter(|(_, w)| *w == from.as_bytes())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at.len(), 1, "{from:?} once in the example sink");
        bytes[at[0]..at[0] + to.len()].copy_from_slice(to.as_bytes());
    };
    let mut bytes = first.to_vec();
    patch(&mut bytes, ACTION, ACTION_V2);
    patch(&mut bytes, "posting batches to", "POSTING batches to");
    bytes
}

/// Replaces the file at `path` with `bytes` by a rename, as deploy tools do.
fn deploy(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("wasm.new");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Appends numbered lines (`line N`) to `in.log` in a thread of its own, a few every
/// millisecond or so, until stopped; records each line's byte offset.
struct Appender {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    offsets: std::sync::Arc<std::sync::Mutex<Vec<u64>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Appender {
    fn start(path: PathBuf) -> Appender {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let offsets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (halt, record) = (stop.clone(), offsets.clone());
        let thread = std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap();
            let mut len = 0u64;
            let mut n = 0u64;
            while !halt.load(Ordering::Relaxed) {
                let mut chunk = String::new();
                let mut at = Vec::new();
                for _ in 0..3 {
                    at.push(len + chunk.len() as u64);
                    chunk.push_str(&format!("line {n}\n"));
                    n += 1;
                }
                std::io::Write::write_all(&mut f, chunk.as_bytes()).unwrap();
                len += chunk.len() as u64;
                record.lock().unwrap().extend(at);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Appender {
            stop,
            offsets,
            thread: Some(thread),
        }
    }

    /// Lines appended so far.
    fn count(&self) -> usize {
        self.offsets.lock().unwrap().len()
    }

    /// Stops appending; returns every line's offset.
    fn finish(mut self) -> Vec<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.offsets.lock().unwrap().clone()
    }
}

/// A pipeline from `in.log` to the bulk sink posting to `server`, in batches of at most
/// `max_events`, with the admin API on a free port.
fn swap_config(s: &Scratch, server: &Server, max_events: usize) -> PathBuf {
    let wasm = install_sink(s);
    let addr = server.addr;
    s.config(&format!(
        "data_dir: data
shutdown_timeout: 5s
api: {{ listen: \"127.0.0.1:0\" }}
pipelines:
  p:
    sources:
      - {{ type: file, include: [in.log] }}
    batch: {{ max_events: {max_events} }}
    sinks:
      - wasm: {wasm}
        config: {{ url: \"http://{addr}/_bulk\" }}
        allow_hosts: [\"{addr}\"]
"
    ))
}

/// Waits up to 30 s for `cond`, failing with the daemon's log.
fn wait_for(daemon: &Daemon, what: &str, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(Duration::from_secs(30), cond),
        "{what}: not within 30 s\n{}",
        daemon.log()
    );
}

/// Log lines that say pipeline `p`'s sink took a new version at a batch boundary.
fn swapped_in(log: &str) -> usize {
    log.lines()
        .filter(|l| {
            l.contains("plugin swapped in at a batch boundary")
                && l.contains("pipeline=p")
                && l.contains("component=sinks[0]")
        })
        .count()
}

#[test]
fn a_sink_plugin_replaced_on_disk_is_swapped_in_at_a_batch_boundary() {
    let server = bulk_server(|_| 200);
    let s = Scratch::new();
    let cfg = swap_config(&s, &server, 50);
    std::fs::write(s.path("in.log"), "").unwrap();
    let daemon = s.start(&cfg);
    let api = api_addr(&daemon, Duration::from_secs(30));
    let appender = Appender::start(s.path("in.log"));
    wait_for(&daemon, "the first version delivering", || {
        delivered(&server).len() >= 300
    });
    let before = get_json(&api, "/pipelines");

    // The new version, renamed over the old file while lines keep coming.
    let wasm = s.path("plugins/bulk.wasm");
    deploy(&wasm, &second_version(&std::fs::read(&wasm).unwrap()));
    wait_for(&daemon, "the swap", || swapped_in(&daemon.log()) == 1);
    let appended_at_swap = appender.count();
    wait_for(&daemon, "lines after the swap", || {
        delivered(&server).len() >= appended_at_swap + 300
    });

    // An unrelated reload (SIGHUP, nothing changed) leaves the pipeline alone, although
    // its sink's file is no longer the one it started with.
    unsafe { libc::kill(daemon.pid(), libc::SIGHUP) };
    wait_for(&daemon, "the SIGHUP reload", || {
        daemon
            .log()
            .lines()
            .any(|l| l.contains("pipeline unchanged") && l.contains("pipeline=p"))
    });
    let offsets = appender.finish();
    wait_for(&daemon, "every line delivered", || {
        delivered(&server).len() >= offsets.len()
    });
    let after = get_json(&api, "/pipelines");

    let log = daemon.log();
    assert!(!log.contains("pipeline changed"), "{log}");
    assert_eq!(log.matches("pipeline added").count(), 1, "{log}");
    assert_eq!(log.matches("reloading the config").count(), 1, "{log}");
    assert!(
        log.contains("plugin changed on disk; new version compiled"),
        "{log}"
    );
    assert!(
        log.contains("POSTING batches to"),
        "the new version's init:\n{log}"
    );
    // The same incarnation of the pipeline, one swap counted, the sink never failed.
    let (p0, p1) = (&before["pipelines"]["p"], &after["pipelines"]["p"]);
    assert_eq!(p0["started_at"], p1["started_at"], "p was restarted");
    assert_eq!(after["plugin_swaps"]["applied"], 1, "{after:#}");
    assert_eq!(after["plugin_swaps"]["failed"], 0, "{after:#}");
    assert_eq!(p1["restarts"], 0, "{p1:#}");
    assert_eq!(p1["last_error"], serde_json::Value::Null, "{p1:#}");

    // Old version until the swap, the new one from then on, each batch whole in one.
    let requests = server.requests();
    let versions: Vec<&str> = requests.iter().map(|r| action(&r.body)).collect();
    let first_new = versions.iter().position(|v| *v == ACTION_V2).unwrap();
    assert!(first_new > 0, "the first version delivered nothing");
    assert!(
        versions[first_new..].iter().all(|v| *v == ACTION_V2),
        "the old version wrote after the new one: {versions:?}"
    );
    // Lines appended after the swap was logged all went through the new version.
    for r in &requests[..first_new] {
        for (n, _, _) in bulk_events(&r.body) {
            assert!(
                (n as usize) < appended_at_swap,
                "line {n} by the old version"
            );
        }
    }
    // And every line arrived exactly once across both versions.
    assert_exactly_once(&delivered(&server), &offsets);

    // A reload that does change the pipeline still rebuilds it, with the new version.
    let served = requests.len();
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("max_events: 50", "max_events: 40"),
    )
    .unwrap();
    wait_for(&daemon, "the edited config", || {
        daemon.log().contains("pipeline changed")
    });
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(s.path("in.log"))
        .unwrap();
    let len = f.metadata().unwrap().len();
    let mut offsets = offsets;
    let more: String = (offsets.len()..offsets.len() + 10)
        .map(|i| format!("line {i}\n"))
        .collect();
    let mut at = len;
    for line in more.lines() {
        offsets.push(at);
        at += line.len() as u64 + 1;
    }
    std::io::Write::write_all(&mut f, more.as_bytes()).unwrap();
    wait_for(&daemon, "lines after the rebuild", || {
        delivered(&server).len() >= offsets.len()
    });
    assert!(daemon.terminate().success());
    let requests = server.requests();
    assert!(
        requests[served..]
            .iter()
            .all(|r| action(&r.body) == ACTION_V2),
        "the rebuilt pipeline did not load the file on disk"
    );
    assert_exactly_once(&delivered(&server), &offsets);
}

#[test]
fn a_broken_sink_plugin_is_refused_and_the_running_version_keeps_delivering() {
    let server = bulk_server(|_| 200);
    let s = Scratch::new();
    let offsets = input(&s, 20);
    let cfg = swap_config(&s, &server, 1024);
    let daemon = s.start(&cfg);
    let api = api_addr(&daemon, Duration::from_secs(30));
    wait_for(&daemon, "the first lines", || {
        delivered(&server).len() >= 20
    });

    // Garbage bytes, then a component that is a filter, not a sink: each refused.
    let wasm = s.path("plugins/bulk.wasm");
    let failures = |log: &str, cause: &str| {
        log.lines()
            .filter(|l| {
                l.contains("plugin swap failed, the running version stays")
                    && l.contains("pipeline=p")
                    && l.contains("component=sinks[0]")
                    && l.contains("plugins/bulk.wasm")
                    && l.contains(cause)
            })
            .count()
    };
    deploy(&wasm, b"\0asm not really");
    wait_for(&daemon, "the refusal of garbage", || {
        failures(&daemon.log(), "is not a usable WebAssembly component") == 1
    });
    deploy(&wasm, &std::fs::read(guest("drop_debug")).unwrap());
    wait_for(&daemon, "the refusal of a filter", || {
        failures(&daemon.log(), "is not a logcatch sink") == 1
    });
    let doc = get_json(&api, "/pipelines");
    assert_eq!(doc["plugin_swaps"]["failed"], 2, "{doc:#}");
    assert_eq!(doc["plugin_swaps"]["applied"], 0, "{doc:#}");
    let last_error = doc["pipelines"]["p"]["last_error"].as_str().unwrap_or("");
    assert!(last_error.contains("plugin swap failed"), "{doc:#}");

    // The running version goes on delivering.
    let mut offsets = offsets;
    let len = std::fs::metadata(s.path("in.log")).unwrap().len();
    offsets.extend((0..10).map(|i| len + i * "line 2x\n".len() as u64));
    let more: String = (20..30).map(|i| format!("line {i}\n")).collect();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(s.path("in.log"))
        .unwrap();
    std::io::Write::write_all(&mut f, more.as_bytes()).unwrap();
    wait_for(&daemon, "lines after the refusals", || {
        delivered(&server).len() >= 30
    });
    let log = daemon.log();
    assert!(daemon.terminate().success(), "{log}");
    assert_eq!(swapped_in(&log), 0, "{log}");
    assert!(!log.contains("pipeline changed"), "{log}");
    assert!(!log.contains("reloading the config"), "{log}");
    let requests = server.requests();
    assert!(requests.iter().all(|r| action(&r.body) == ACTION));
    assert_exactly_once(&delivered(&server), &offsets);
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
