//! The `http` sink against a real HTTP server in this process (axum on 127.0.0.1), driven
//! through the real `logcatch` binary: formats, gzip, headers from the environment, retries
//! on 503 and 429 (`Retry-After`), dead letters on 400, `_bulk` answers read item by item
//! (failed items retried alone, refused ones dead-lettered, 409 on `create` taken as already
//! there, unreadable answers retried), a server that comes up late, a clean stop while
//! retrying, and configs `validate` refuses.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{Request, Server};
use common::{Scratch, bin, wait_until};

impl Request {
    /// The events in the body (NDJSON or a JSON array), by their JSON objects.
    fn events(&self) -> Vec<serde_json::Value> {
        if self.body.first() == Some(&b'[') {
            let v: serde_json::Value = serde_json::from_slice(&self.body).expect("a JSON array");
            return v.as_array().unwrap().clone();
        }
        assert!(self.body.ends_with(b"\n"), "NDJSON ends with a newline");
        self.body
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("one JSON object per line"))
            .collect()
    }

    /// The numbers of the `line N` messages in the body.
    fn numbers(&self) -> Vec<u64> {
        self.events()
            .iter()
            .map(|e| number(e["message"].as_str().expect("a message")))
            .collect()
    }
}

fn number(message: &str) -> u64 {
    message
        .strip_prefix("line ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected message {message:?}"))
}

impl Server {
    /// A server that takes everything.
    fn ok() -> Server {
        Server::start(|_, _| (200, vec![], "{}"))
    }

    fn url(&self) -> String {
        format!("http://{}/ingest", self.addr)
    }

    /// Numbers of the events in the requests answered 2xx, in arrival order.
    fn delivered(&self) -> Vec<u64> {
        self.requests()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(|r| r.numbers())
            .collect()
    }
}

/// Writes `line 0` .. `line n-1` to `in.log`.
fn input(s: &Scratch, n: u64) {
    let text: String = (0..n).map(|i| format!("line {i}\n")).collect();
    std::fs::write(s.path("in.log"), text).unwrap();
}

/// A pipeline from `in.log` to the `http` sink with `sink` options (YAML lines indented
/// under the sink), batches of at most `max_events`.
fn config(s: &Scratch, url: &str, max_events: usize, sink: &str) -> std::path::PathBuf {
    s.config(&format!(
        "data_dir: data
shutdown_timeout: 2s
pipelines:
  p:
    sources:
      - {{ type: file, include: [in.log] }}
    batch: {{ max_events: {max_events} }}
    sinks:
      - type: http
        url: \"{url}\"
        retry_initial_backoff: 50ms
        retry_max_backoff: 500ms
{sink}"
    ))
}

/// Runs `logcatch run --once` with extra environment; returns (success, stderr).
fn run_once(config: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let out = command(config, env).output().expect("run logcatch");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn command(config: &Path, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(bin());
    c.args(["run", "--once", "-c"])
        .arg(config)
        .env("LOGCATCH_LOG", "info")
        // Requests to 127.0.0.1 must not go through a proxy of the machine running the tests.
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    c
}

/// The sink's counters from its `component stopped` log line: name → value.
fn sink_counter(log: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("component stopped") && l.contains("sinks[0]"))
        .unwrap_or_else(|| panic!("no `component stopped` line for the sink:\n{log}"));
    common::http::field(line, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
}

/// Every number in 0..n exactly once.
fn assert_exactly_once(mut got: Vec<u64>, n: u64) {
    got.sort_unstable();
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "each line exactly once");
}

#[test]
fn ndjson_with_headers_from_the_environment_arrives_exactly_once() {
    let server = Server::ok();
    let s = Scratch::new();
    input(&s, 500);
    let cfg = config(
        &s,
        &server.url(),
        64,
        "        headers:\n          Authorization: \"Bearer ${LOGCATCH_TEST_TOKEN}\"\n          X-Scope: logs\n",
    );
    let (ok, log) = run_once(&cfg, &[("LOGCATCH_TEST_TOKEN", "s3cret-t0ken")]);
    assert!(ok, "{log}");
    assert!(!log.contains("s3cret"), "a header value was logged:\n{log}");
    let requests = server.requests();
    assert!(
        requests.len() >= 8,
        "batches of 64: {} requests",
        requests.len()
    );
    for r in &requests {
        assert_eq!(r.header("authorization"), Some("Bearer s3cret-t0ken"));
        assert_eq!(r.header("x-scope"), Some("logs"));
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        assert_eq!(r.header("content-encoding"), None);
        let e = &r.events()[0];
        assert!(e["source"].as_str().unwrap().ends_with("in.log"), "{e}");
        assert!(e["timestamp"].is_string() && e["offset"].is_u64(), "{e}");
    }
    assert_exactly_once(server.delivered(), 500);
}

#[test]
fn json_array_and_gzip_arrive_exactly_once_split_to_the_body_limit() {
    for (format, compression) in [
        ("json_array", "gzip"),
        ("ndjson", "gzip"),
        ("json_array", "none"),
    ] {
        let server = Server::ok();
        let s = Scratch::new();
        input(&s, 300);
        let sink = format!(
            "        format: {format}\n        compression: {compression}\n        max_body_bytes: 4KiB\n"
        );
        let (ok, log) = run_once(&config(&s, &server.url(), 1000, &sink), &[]);
        assert!(ok, "{format}/{compression}: {log}");
        let requests = server.requests();
        // 300 events of ~110 bytes do not fit in one 4 KiB body.
        assert!(requests.len() >= 8, "{format}: {} requests", requests.len());
        for r in &requests {
            assert!(
                r.body.len() <= 4096,
                "{format}: a body of {} bytes",
                r.body.len()
            );
            let gzip = (compression == "gzip").then_some("gzip");
            assert_eq!(r.header("content-encoding"), gzip);
            let json = if format == "json_array" {
                "application/json"
            } else {
                "application/x-ndjson"
            };
            assert_eq!(r.header("content-type"), Some(json));
            assert_eq!(r.body.first() == Some(&b'['), format == "json_array");
        }
        assert_exactly_once(server.delivered(), 300);
    }
}

#[test]
fn a_server_answering_503_is_retried_until_it_takes_everything() {
    let server = Server::start(|n, _| {
        if n < 4 {
            (503, vec![], "overloaded")
        } else {
            (200, vec![], "{}")
        }
    });
    let s = Scratch::new();
    input(&s, 200);
    let (ok, log) = run_once(&config(&s, &server.url(), 1000, ""), &[]);
    assert!(ok, "{log}");
    let requests = server.requests();
    assert_eq!(requests.iter().filter(|r| r.status == 503).count(), 4);
    // The refused body was sent again as it was.
    assert_eq!(requests[0].body, requests[4].body);
    assert_exactly_once(server.delivered(), 200);
    assert!(
        log.contains("HTTP 503 Service Unavailable: overloaded; the batch is kept and retried"),
        "{log}"
    );
    assert_eq!(
        sink_counter(&log, "errors"),
        4,
        "each failed attempt is counted"
    );
    assert_eq!(sink_counter(&log, "events"), 200);
    assert!(log.contains("retry_in_ms="), "{log}");
}

#[test]
fn a_429_with_retry_after_is_honoured() {
    let server = Server::start(|n, _| {
        if n == 0 {
            (429, vec![("retry-after", "1")], "slow down")
        } else {
            (200, vec![], "{}")
        }
    });
    let s = Scratch::new();
    input(&s, 50);
    let (ok, log) = run_once(&config(&s, &server.url(), 1000, ""), &[]);
    assert!(ok, "{log}");
    let requests = server.requests();
    assert_eq!(requests[0].status, 429);
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_secs(1),
        "retried after {waited:?}, before Retry-After"
    );
    assert_exactly_once(server.delivered(), 50);
}

#[test]
fn a_400_goes_to_the_dead_letter_file_and_the_run_goes_on() {
    let server = Server::start(|n, _| {
        if n == 0 {
            (400, vec![], "{\"error\":\"mapper_parsing_exception\"}")
        } else {
            (200, vec![], "{}")
        }
    });
    let s = Scratch::new();
    input(&s, 300);
    let (ok, log) = run_once(
        &config(
            &s,
            &server.url(),
            100,
            "        headers: { X-Api-Key: k3y-v4lue }\n",
        ),
        &[],
    );
    assert!(ok, "{log}");
    assert!(
        !log.contains("k3y-v4lue"),
        "a header value was logged:\n{log}"
    );
    let refused = server.requests()[0].numbers();
    assert!(!refused.is_empty());
    let dead =
        std::fs::read_to_string(s.path("data/dead_letter/p.ndjson")).expect("a dead-letter file");
    let dead: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dead.len(), refused.len());
    for d in &dead {
        let reason = d["reason"].as_str().unwrap();
        assert!(
            reason.contains("HTTP 400 Bad Request") && reason.contains("mapper_parsing_exception"),
            "{reason}"
        );
        assert_eq!(d["plugin"], "http");
        assert_eq!(d["pipeline"], "p");
    }
    let dead_numbers: Vec<u64> = dead
        .iter()
        .map(|d| number(d["message"].as_str().unwrap()))
        .collect();
    assert_eq!(dead_numbers, refused);
    // Everything else was delivered: every line is in exactly one place.
    let mut all = server.delivered();
    all.extend(dead_numbers);
    assert_exactly_once(all, 300);
    assert!(
        log.contains("the server refused the data: HTTP 400 Bad Request"),
        "{log}"
    );
    assert_eq!(sink_counter(&log, "dead_lettered"), refused.len() as u64);
    assert_eq!(sink_counter(&log, "errors"), 1);
}

#[test]
fn a_413_splits_the_body_until_the_server_takes_it() {
    // The server takes at most 10 events per request.
    let server = Server::start(|_, body| {
        if body.iter().filter(|&&c| c == b'\n').count() > 10 {
            (413, vec![], "too large")
        } else {
            (200, vec![], "{}")
        }
    });
    let s = Scratch::new();
    input(&s, 100);
    let (ok, log) = run_once(&config(&s, &server.url(), 100, ""), &[]);
    assert!(ok, "{log}");
    assert!(server.requests().iter().any(|r| r.status == 413));
    assert_exactly_once(server.delivered(), 100);
    assert!(
        !s.path("data/dead_letter/p.ndjson").exists(),
        "nothing was dead-lettered"
    );
}

/// The numbers of the documents in a `_bulk` body, in order (each after a `create` line).
fn bulk_numbers(body: &[u8]) -> Vec<u64> {
    let text = std::str::from_utf8(body).expect("a UTF-8 body");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() % 2, 0, "an action line before each document");
    lines
        .chunks(2)
        .map(|pair| {
            assert_eq!(pair[0], r#"{"create":{}}"#);
            let doc: serde_json::Value = serde_json::from_str(pair[1]).expect("a JSON document");
            number(doc["message"].as_str().expect("a message"))
        })
        .collect()
}

/// A `_bulk` answer with one `create` item per (status, error object or "").
fn bulk_answer(items: &[(u16, String)]) -> String {
    let errors = items.iter().any(|(status, _)| *status >= 300);
    let items: Vec<String> = items
        .iter()
        .map(|(status, error)| {
            let error = if error.is_empty() {
                String::new()
            } else {
                format!(",\"error\":{error}")
            };
            format!("{{\"create\":{{\"_index\":\"logs\",\"status\":{status}{error}}}}}")
        })
        .collect();
    format!(
        "{{\"took\":3,\"errors\":{errors},\"items\":[{}]}}",
        items.join(",")
    )
}

/// An item error object as Elasticsearch writes it.
fn es_error(kind: &str, reason: &str) -> String {
    serde_json::json!({ "type": kind, "reason": reason }).to_string()
}

/// The dead-letter file of pipeline `p`, one JSON object per line.
fn dead_letters(s: &Scratch) -> Vec<serde_json::Value> {
    std::fs::read_to_string(s.path("data/dead_letter/p.ndjson"))
        .expect("a dead-letter file")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn es_bulk_failed_items_are_retried_alone_and_refused_ones_dead_lettered() {
    // The first answer: 200 with `errors: true`; lines ending in 3 are refused for good (400),
    // in 5 and 7 are to be retried (429, 503). The second: the first item fails once more.
    let taken = Arc::new(Mutex::new(Vec::new()));
    let server = Server::start_owned({
        let taken = taken.clone();
        move |n, body| {
            let items: Vec<(u16, String)> = bulk_numbers(body)
                .into_iter()
                .enumerate()
                .map(|(position, line)| match (n, line % 10) {
                    (0, 3) => (
                        400,
                        es_error(
                            "mapper_parsing_exception",
                            &format!("failed to parse field [level] of line {line}"),
                        ),
                    ),
                    (0, 5) => (
                        429,
                        es_error("es_rejected_execution_exception", "queue full"),
                    ),
                    (0, 7) => (503, es_error("unavailable_shards_exception", "no primary")),
                    (1, _) if position == 0 => {
                        (429, es_error("circuit_breaking_exception", "busy"))
                    }
                    _ => {
                        taken.lock().unwrap().push(line);
                        (201, String::new())
                    }
                })
                .collect();
            (
                200,
                vec![("content-type", "application/json")],
                bulk_answer(&items),
            )
        }
    });
    let s = Scratch::new();
    input(&s, 100);
    let sink = "        format: es_bulk\n        compression: gzip\n";
    let (ok, log) = run_once(&config(&s, &server.url(), 1000, sink), &[]);
    assert!(ok, "{log}");

    let requests = server.requests();
    assert_eq!(requests.len(), 3, "{log}");
    let retried: Vec<u64> = (0..100).filter(|n| matches!(n % 10, 5 | 7)).collect();
    assert_eq!(
        bulk_numbers(&requests[1].body),
        retried,
        "only the failed items again"
    );
    assert_eq!(bulk_numbers(&requests[2].body), [5]);
    // Every line once in what the server took, but the refused ones.
    let mut taken = taken.lock().unwrap().clone();
    taken.sort_unstable();
    let refused: Vec<u64> = (0..100).filter(|n| n % 10 == 3).collect();
    let want: Vec<u64> = (0..100).filter(|n| n % 10 != 3).collect();
    assert_eq!(taken, want, "each line taken exactly once");

    let dead = dead_letters(&s);
    let dead_numbers: Vec<u64> = dead
        .iter()
        .map(|d| number(d["message"].as_str().unwrap()))
        .collect();
    assert_eq!(dead_numbers, refused);
    for (d, line) in dead.iter().zip(&refused) {
        assert_eq!(d["plugin"], "http");
        assert_eq!(
            d["reason"],
            format!(
                "sinks[0]: _bulk item refused: 400 mapper_parsing_exception: failed to parse field [level] of line {line}"
            )
        );
    }
    assert_eq!(sink_counter(&log, "dead_lettered"), 10);
    assert_eq!(sink_counter(&log, "events"), 100);
    assert_eq!(
        sink_counter(&log, "errors"),
        2,
        "one per answer with failed items"
    );
    assert!(
        log.contains("the server refused 10 of 100 events of a _bulk request (first: 400 mapper_parsing_exception"),
        "{log}"
    );
    assert!(
        log.contains("20 of 100 _bulk items failed (first: 429 es_rejected_execution_exception: queue full); the batch is kept and retried"),
        "{log}"
    );
    assert!(log.contains("delivered again after retrying"), "{log}");
}

/// A `_bulk` server that keys documents as Elasticsearch does by `_id` (`docs` gives each
/// document's key and line number): it stores the even lines of the first request and
/// answers 504 (the answer is lost), then answers each item 201, or 409 when its key is
/// already there. Returns the store: key to line.
fn store_by_id(
    docs: fn(&[u8]) -> Vec<(String, u64)>,
) -> (Server, Arc<Mutex<BTreeMap<String, u64>>>) {
    let store: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let server = Server::start_owned({
        let store = store.clone();
        move |n, body| {
            let mut store = store.lock().unwrap();
            let docs = docs(body);
            if n == 0 {
                store.extend(docs.into_iter().filter(|(_, l)| l % 2 == 0));
                return (504, vec![], "gateway timeout".to_owned());
            }
            let items: Vec<(u16, String)> = docs
                .into_iter()
                .map(|(id, line)| match store.insert(id, line) {
                    None => (201, String::new()),
                    Some(_) => {
                        let why = "version conflict, document already exists";
                        (409, es_error("version_conflict_engine_exception", why))
                    }
                })
                .collect();
            (200, vec![], bulk_answer(&items))
        }
    });
    (server, store)
}

#[test]
fn es_bulk_a_409_to_create_means_the_document_is_already_there() {
    // A store that sets document ids (as an ingest pipeline making `_id` from `source` and
    // `offset` does): it indexes the even lines of the first request, then the answer is
    // lost (a gateway's 504). The whole request comes again: the even lines get 409.
    let (server, store) = store_by_id(|body| {
        let lines = bulk_numbers(body);
        lines.into_iter().map(|l| (format!("{l:06}"), l)).collect()
    });
    let s = Scratch::new();
    input(&s, 60);
    let (ok, log) = run_once(
        &config(&s, &server.url(), 1000, "        format: es_bulk\n"),
        &[],
    );
    assert!(ok, "{log}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "the 409s are not retried:\n{log}");
    assert_eq!(requests[0].body, requests[1].body);
    assert_eq!(
        store.lock().unwrap().values().copied().collect::<Vec<_>>(),
        (0..60).collect::<Vec<_>>()
    );
    assert!(
        !s.path("data/dead_letter/p.ndjson").exists(),
        "a document already there is not a refusal"
    );
    assert_eq!(sink_counter(&log, "dead_lettered"), 0);
    assert_eq!(sink_counter(&log, "errors"), 1, "the 504 only");
}

/// Each action line's `_id` and its document's line number, from a `_bulk` body sent with
/// `generate_id: true`.
fn bulk_ids(body: &[u8]) -> Vec<(String, u64)> {
    let text = std::str::from_utf8(body).expect("a UTF-8 body");
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .map(|pair| {
            let action: serde_json::Value = serde_json::from_str(pair[0]).expect("an action");
            let id = action["create"]["_id"].as_str().expect("an _id").to_owned();
            let doc: serde_json::Value = serde_json::from_str(pair[1]).expect("a JSON document");
            (id, number(doc["message"].as_str().expect("a message")))
        })
        .collect()
}

#[test]
fn es_bulk_generate_id_stores_nothing_twice_across_lost_answers_and_re_reads() {
    // A store keyed by `_id`, as Elasticsearch is: it indexes the even lines of the first
    // request and its answer is lost (504); the request comes again. Then the whole file is
    // read again from scratch (a data_dir lost): every document is already there.
    let (server, store) = store_by_id(bulk_ids);
    let s = Scratch::new();
    input(&s, 60);
    let yaml = config(
        &s,
        &server.url(),
        1000,
        "        format: es_bulk\n        generate_id: true\n",
    );
    let (ok, log) = run_once(&yaml, &[]);
    assert!(ok, "{log}");
    std::fs::remove_dir_all(s.path("data")).unwrap();
    let (ok, again) = run_once(&yaml, &[]);
    assert!(ok, "{again}");

    let requests = server.requests();
    assert_eq!(requests.len(), 3, "{log}\n{again}");
    assert!(
        requests[0].body == requests[1].body,
        "a resent request is the same"
    );
    assert_eq!(
        bulk_ids(&requests[1].body),
        bulk_ids(&requests[2].body),
        "a line read again has the same id (its ingest time differs)"
    );
    let ids: BTreeSet<String> = bulk_ids(&requests[0].body)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids.len(), 60, "one id per line");
    let stored: Vec<u64> = store
        .lock()
        .unwrap()
        .values()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        stored,
        (0..60).collect::<Vec<_>>(),
        "every line stored once"
    );
    assert_eq!(store.lock().unwrap().len(), 60);
    assert!(!s.path("data/dead_letter/p.ndjson").exists());
}

#[test]
fn es_bulk_answers_that_cannot_be_read_are_retried_whole() {
    let server = Server::start(|n, _| match n {
        0 => (200, vec![], "<html>upstream says hi</html>"),
        1 => (
            200,
            vec![],
            r#"{"took":1,"errors":true,"items":[{"create":{"status":201}}]}"#,
        ),
        _ => (200, vec![], r#"{"took":1,"errors":false,"items":[]}"#),
    });
    let s = Scratch::new();
    input(&s, 50);
    let (ok, log) = run_once(
        &config(&s, &server.url(), 1000, "        format: es_bulk\n"),
        &[],
    );
    assert!(ok, "{log}");
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "{log}");
    for r in &requests[1..] {
        assert_eq!(r.body, requests[0].body, "the whole request again");
    }
    assert_eq!(bulk_numbers(&requests[2].body), (0..50).collect::<Vec<_>>());
    assert!(
        log.contains("HTTP 200 OK, but the _bulk answer cannot be read: expected value at line 1 column 1: <html>upstream says hi</html>; the batch is kept and retried"),
        "{log}"
    );
    assert_eq!(sink_counter(&log, "errors"), 2);
    assert_eq!(sink_counter(&log, "dead_lettered"), 0);
    assert!(!s.path("data/dead_letter/p.ndjson").exists());
}

#[test]
fn a_server_that_comes_up_late_gets_everything() {
    // A port nobody listens on yet; it is bound again below.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/ingest");
    let s = Scratch::new();
    input(&s, 100);
    let log_path = s.path("run.log");
    let mut child: Child = command(&config(&s, &url, 1000, ""), &[])
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(30), || log()
            .contains("the batch is kept and retried")),
        "no retry while the server is down:\n{}",
        log()
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "logcatch gave up:\n{}",
        log()
    );
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = Server::start_on(listener, Box::new(|_, _| (200, vec![], "{}")));
    let status = wait_exit(&mut child, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no exit:\n{}", log()));
    assert!(status.success(), "{}", log());
    assert_exactly_once(server.delivered(), 100);
    assert!(
        log().contains("delivered again after retrying"),
        "{}",
        log()
    );
}

#[test]
fn sigterm_while_retrying_stops_without_acknowledging_and_a_restart_resends() {
    let down = Server::start(|_, _| (503, vec![], ""));
    let s = Scratch::new();
    input(&s, 100);
    let cfg = config(&s, &down.url(), 1000, "");
    let daemon = s.start(&cfg);
    assert!(
        wait_until(Duration::from_secs(30), || daemon
            .log()
            .contains("HTTP 503")),
        "{}",
        daemon.log()
    );
    let log_path = daemon.log_path.clone();
    let status = daemon.terminate();
    assert!(status.success(), "exit {status:?}");
    let log = std::fs::read_to_string(log_path).unwrap();
    assert!(log.contains("drain timed out"), "{log}");
    drop(down);

    // Restarted against a working server: the batch was not acknowledged, so it comes again.
    let up = Server::ok();
    let cfg = config(&s, &up.url(), 1000, "");
    let (ok, log) = run_once(&cfg, &[]);
    assert!(ok, "{log}");
    assert_exactly_once(up.delivered(), 100);
}

#[test]
fn https_urls_speak_tls() {
    // A plain-HTTP server behind an https:// URL: the client's TLS handshake (rustls) fails
    // on the server's plain answer, and the batch is kept and retried.
    let plain = Server::ok();
    let s = Scratch::new();
    input(&s, 10);
    let url = plain.url().replace("http://", "https://");
    let daemon = s.start(&config(&s, &url, 1000, ""));
    assert!(
        wait_until(Duration::from_secs(30), || daemon
            .log()
            .contains("received corrupt message")),
        "{}",
        daemon.log()
    );
    assert!(daemon.log().contains("the batch is kept and retried"));
    assert!(daemon.terminate().success());
    assert!(plain.requests().is_empty(), "no request got through");
}

#[test]
fn bad_configs_are_refused_with_file_and_line() {
    let s = Scratch::new();
    let validate = |yaml: &str| {
        let cfg = s.config(yaml);
        let out = Command::new(bin())
            .args(["validate", "-c"])
            .arg(&cfg)
            .env_remove("LOGCATCH_UNSET_TOKEN")
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let base = "pipelines:\n  p:\n    sources: [{type: stdin}]\n    sinks:\n      - type: http\n";
    let err = validate(&format!(
        "{base}        url: http://127.0.0.1:9/x\n        headers:\n          Authorization: \"Bearer ${{LOGCATCH_UNSET_TOKEN}}\"\n"
    ));
    assert!(
        err.contains("logcatch.yaml:8:34: environment variable `LOGCATCH_UNSET_TOKEN` is not set"),
        "{err}"
    );
    let err = validate(&format!("{base}        url: ftp://example.com/x\n"));
    assert!(
        err.contains("logcatch.yaml:6:9: pipelines.p.sinks[0].url: scheme `ftp` is not supported"),
        "{err}"
    );
    let err = validate(&format!("{base}        url: not a url\n"));
    assert!(
        err.contains("logcatch.yaml:6:9: pipelines.p.sinks[0].url: not a valid URL"),
        "{err}"
    );
    let err = validate(&format!(
        "{base}        url: http://h/\n        timout: 5s\n"
    ));
    assert!(
        err.contains("logcatch.yaml:7:9: pipelines.p.sinks[0].timout: unknown field `timout`"),
        "{err}"
    );
    let err = validate(&format!(
        "{base}        url: http://h/\n        headers: {{ \"Bad Name\": x }}\n"
    ));
    assert!(
        err.contains("logcatch.yaml:7:20: pipelines.p.sinks[0].headers.Bad Name:"),
        "{err}"
    );
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// The dead-letter file of pipeline `p`, if any.
fn dead_letter_count(s: &Scratch) -> usize {
    std::fs::read_to_string(s.path("data/dead_letter/p.ndjson")).map_or(0, |t| t.lines().count())
}

#[test]
fn a_short_401_window_holds_the_batches_and_then_delivers_everything() {
    // A rotated credential: 401 for 4 s, then 200. Every line went to the dead-letter file
    // and the checkpoint moved on; 86 log lines for 20k events. 401, 403 and 404 alike.
    for refusal in [401u16, 403, 404] {
        let started = Instant::now();
        let server = Server::start(move |_, _| {
            if started.elapsed() < Duration::from_millis(1500) {
                (refusal, vec![], "{\"error\":\"invalid credentials\"}")
            } else {
                (200, vec![], "{}")
            }
        });
        let s = Scratch::new();
        input(&s, 2000);
        let cfg = config(&s, &server.url(), 100, "");
        let (ok, log) = run_once(&cfg, &[]);
        assert!(ok, "{log}");
        assert_exactly_once(server.delivered(), 2000);
        assert_eq!(dead_letter_count(&s), 0, "{refusal}: dead-lettered\n{log}");
        assert!(
            log.contains("credentials or routing: a configuration or server state, not the data"),
            "{log}"
        );
        let refused = server
            .requests()
            .iter()
            .filter(|r| r.status == refusal)
            .count();
        let said = log
            .lines()
            .filter(|l| l.contains(&format!("HTTP {refusal}")))
            .count();
        assert!(refused >= 3, "{refusal}: {refused} refused requests");
        assert!(
            said <= 3,
            "{refusal}: {said} log lines for {refused} refused requests\n{log}"
        );
    }
}

#[test]
fn a_held_sink_shows_blocked_in_pipelines() {
    let started = Instant::now();
    let server = Server::start(move |_, _| {
        if started.elapsed() < Duration::from_secs(3) {
            (401, vec![], "no")
        } else {
            (200, vec![], "{}")
        }
    });
    let s = Scratch::new();
    input(&s, 100);
    let cfg = s.config(&format!(
        "data_dir: data\napi: {{ listen: \"127.0.0.1:0\" }}\npipelines:\n  p:\n    sources: [{{ type: file, include: [in.log] }}]\n    sinks:\n      - {{ type: http, url: \"{}\", retry_initial_backoff: 50ms, retry_max_backoff: 200ms }}\n",
        server.url()
    ));
    let d = s.start(&cfg);
    let api = common::http::api_addr(&d, Duration::from_secs(20));
    let state = || common::http::get_json(&api, "/pipelines")["pipelines"]["p"].clone();
    assert!(
        wait_until(Duration::from_secs(10), || state()["state"] == "blocked"),
        "{}",
        state()
    );
    let p = state();
    assert_eq!(p["components"][1]["state"], "blocked", "{p}");
    assert!(
        p["last_error"].as_str().unwrap().contains("HTTP 401"),
        "{p}"
    );
    assert!(wait_until(Duration::from_secs(20), || server
        .delivered()
        .len()
        == 100));
    assert!(
        wait_until(Duration::from_secs(5), || state()["state"] == "running"),
        "{}",
        state()
    );
    assert!(d.terminate().success());
}

#[test]
fn on_status_can_dead_letter_what_is_held_by_default() {
    let server = Server::start(|_, _| (404, vec![], "no such index"));
    let s = Scratch::new();
    input(&s, 50);
    let cfg = config(
        &s,
        &server.url(),
        100,
        "        on_status: { 404: dead_letter }\n",
    );
    let (ok, log) = run_once(&cfg, &[]);
    assert!(ok, "{log}");
    assert_eq!(dead_letter_count(&s), 50);
}

/// A server on a free port that answers every request `status` with a `len`-byte body
/// of `x`, written in 1 MiB pieces until the client hangs up; returns its URL and how many
/// (requests, body bytes) it answered and managed to send.
fn huge_answer_server(status: u16, len: u64) -> (String, Arc<Mutex<(u64, u64)>>) {
    use std::io::{BufRead, BufReader, Read as _, Write as _};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ingest", listener.local_addr().unwrap());
    let sent = Arc::new(Mutex::new((0u64, 0u64)));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 2 {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let mut stream = stream;
                counter.lock().unwrap().0 += 1;
                let head = format!("HTTP/1.1 {status} Oops\r\ncontent-length: {len}\r\n\r\n");
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b'x'; 1 << 20];
                let mut left = len;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    if stream.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    left -= n as u64;
                    counter.lock().unwrap().1 += n as u64;
                }
            });
        }
    });
    (url, sent)
}

#[test]
fn a_huge_error_answer_is_not_read_whole() {
    // A 3 GB 503 answer took the daemon to 5.9 GB; 512 bytes of it are used.
    let (url, sent) = huge_answer_server(503, 1 << 30);
    let s = Scratch::new();
    input(&s, 100);
    let cfg = s.config(&format!(
        "data_dir: data\nshutdown_timeout: 1s\npipelines:\n  p:\n    sources: [{{ type: file, include: [in.log] }}]\n    sinks:\n      - {{ type: http, url: \"{url}\", retry_initial_backoff: 50ms, retry_max_backoff: 100ms }}\n"
    ));
    let d = s.start(&cfg);
    assert!(
        wait_until(Duration::from_secs(60), || sent.lock().unwrap().0 >= 3),
        "{}",
        d.log()
    );
    let rss = vm_hwm(d.pid());
    let log = d.log();
    assert!(d.terminate().success(), "{log}");
    assert!(
        rss < 150 << 20,
        "peak RSS {} MiB while reading 1 GiB answers",
        rss >> 20
    );
    let (answers, bytes) = *sent.lock().unwrap();
    assert!(
        bytes < answers * (64 << 20),
        "the server sent {} MiB in {answers} answers before the sink hung up",
        bytes >> 20
    );
}

/// The peak resident set of process `pid` (VmHWM), in bytes.
fn vm_hwm(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap()
}

#[test]
fn redirects_to_another_origin_are_not_followed_unless_allowed() {
    // 307 was followed to any host, with the configured secret headers.
    let other = Server::start(|_, _| (200, vec![], "{}"));
    let target: &'static str = Box::leak(format!("{}/elsewhere", other.url()).into_boxed_str());
    let redirecting = Server::start(move |_, _| (307, vec![("location", target)], ""));
    let s = Scratch::new();
    input(&s, 20);
    let sink = "        headers: { X-Api-Key: s3cret }\n";
    let cfg = config(&s, &redirecting.url(), 100, sink);
    let mut child = command(&cfg, &[]).stderr(Stdio::piped()).spawn().unwrap();
    assert!(wait_until(Duration::from_secs(10), || redirecting
        .requests()
        .len()
        >= 3));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = wait_exit(&mut child, Duration::from_secs(20));
    assert!(other.requests().is_empty(), "followed to another origin");
    assert_eq!(
        dead_letter_count(&s),
        0,
        "a redirect is held, not dead-lettered"
    );
    // Allowed: followed, and delivered there.
    let s = Scratch::new();
    input(&s, 20);
    let cfg = config(
        &s,
        &redirecting.url(),
        100,
        &format!("{sink}        redirects: any_host\n"),
    );
    let (ok, log) = run_once(&cfg, &[]);
    assert!(ok, "{log}");
    assert_exactly_once(other.delivered(), 20);
}

#[test]
fn a_numeric_secret_is_never_echoed_by_validate_or_a_refused_reload() {
    let s = Scratch::new();
    let yaml = "data_dir: data\npipelines:\n  p:\n    sources: [{type: stdin}]\n    sinks:\n      - type: http\n        url: http://127.0.0.1:9/x\n        headers: { X-Api-Key: [8734625348762534] }\n";
    let cfg = s.config(yaml);
    let out = Command::new(bin())
        .args(["validate", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("headers.X-Api-Key"), "{err}");
    assert!(!err.contains("8734625348762534"), "{err}");
    // Unquoted, it is the header's text.
    let cfg = s.config(&yaml.replace("[8734625348762534]", "8734625348762534"));
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
}
