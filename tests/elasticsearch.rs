//! The `elasticsearch` sink against two independent real search servers (osmem-server, the
//! OpenSearch API, and noida-db, Elasticsearch 8; installed pinned by `scripts/setup`), each
//! on a free loopback port and stopped by the test, driven through the real `logcatch`
//! binary. Documents are counted with the server's own `_count` and `_search`: every line
//! indexed once, also when read again (document ids) and over a dead endpoint; a mapping
//! conflict dead-letters only the conflicting documents; a server down at the start holds the
//! sink until it is up; the cluster's flavour shows in `/pipelines`, credentials never; daily
//! indices follow the events' own timestamps; bad configs are refused with their place.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use common::http::{api_addr, get_json};
use common::kafka::{Broker, Kind};
use common::search::{Flavour, SearchServer};
use common::{Scratch, append_json_lines, guest, repo, validate_refuses, wait_until};
use rdkafka::producer::Producer;

/// Longest a test waits for its documents.
const WAIT: Duration = Duration::from_secs(120);

/// A pipeline `p`: `input.log` → parse_json → elasticsearch sink with `sink` options.
fn config(sink: &str, extra: &str) -> String {
    let cache = repo().join("target/test-plugin-cache");
    format!(
        "\
data_dir: ./data
cache_dir: {}
{extra}
pipelines:
  p:
    sources: [{{ type: file, include: [input.log] }}]
    filters:
      - {{ wasm: {}, config: {{}} }}
    sinks:
      - type: elasticsearch
{sink}",
        cache.display(),
        guest("parse_json").display()
    )
}

/// A port nobody listens on.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every `attributes.seq` in `index` (at most 10,000 documents).
fn seqs(server: &SearchServer, index: &str) -> Vec<u64> {
    let mut all: Vec<u64> = server
        .search(index, r#"{"match_all":{}}"#, 10_000)
        .iter()
        .map(|d| d["attributes"]["seq"].as_u64().expect("a parsed seq"))
        .collect();
    all.sort_unstable();
    all
}

macro_rules! on_both_servers {
    ($( $name:ident: $body:path; )*) => {
        mod osmem {
            $( #[test] fn $name() { $body(super::Flavour::Osmem) } )*
        }
        mod noida {
            $( #[test] fn $name() { $body(super::Flavour::Noida) } )*
        }
    };
}

on_both_servers! {
    every_line_is_indexed_once_also_when_read_again_and_over_a_dead_endpoint:
        super::indexed_once;
    a_mapping_conflict_dead_letters_only_the_conflicting_documents:
        super::mapping_conflict;
    a_server_down_at_the_start_holds_the_sink_until_it_is_up:
        super::server_down_at_start;
    the_cluster_shows_in_pipelines_and_credentials_never:
        super::flavour_and_secrets;
}

fn indexed_once(flavour: Flavour) {
    let server = SearchServer::start(flavour);
    server.create_index("logs-p", r#""seq":{"type":"long"}"#);
    let s = Scratch::new();
    let n = 3_000;
    append_json_lines(&s.path("input.log"), 0..n);
    // The first endpoint never answers: requests go to the other.
    let sink = format!(
        "        endpoints: [\"http://127.0.0.1:{}\", \"{}\"]\n        index: logs-{{pipeline}}\n        healthcheck: off\n        retry_max_backoff: 1s\n",
        dead_port(),
        server.url()
    );
    let cfg = s.config(&config(&sink, ""));
    let (status, err) = s.run_once(&cfg);
    assert!(status.success(), "{err}");
    assert_eq!(server.count("logs-p"), n, "{err}");
    // Read again from the start (no checkpoints) and sent gzipped: the same documents, by
    // their ids, so nothing is stored twice.
    std::fs::remove_dir_all(s.path("data")).unwrap();
    let cfg = s.config(&config(&format!("{sink}        compression: gzip\n"), ""));
    let (status, err) = s.run_once(&cfg);
    assert!(status.success(), "{err}");
    assert_eq!(server.count("logs-p"), n, "read again: {err}");
    assert_eq!(seqs(&server, "logs-p"), (0..n).collect::<Vec<_>>());
    // A search for one number finds exactly its document, with the parsed attributes.
    let hits = server.search("logs-p", r#"{"term":{"attributes.seq":1234}}"#, 10);
    assert_eq!(hits.len(), 1, "{hits:?}");
    let doc = &hits[0];
    assert_eq!(
        doc["message"],
        r#"{"seq":1234,"level":"warn","text":"request 1234 done"}"#
    );
    assert_eq!(doc["attributes"]["level"], "warn");
    assert_eq!(doc["attributes"]["text"], "request 1234 done");
    assert!(doc["@timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(doc["_id"].as_str().unwrap().len(), 22, "the event's id");
    assert!(doc["source"].as_str().unwrap().ends_with("input.log"));
}

fn mapping_conflict(flavour: Flavour) {
    let server = SearchServer::start(flavour);
    server.create_index("logs-p", r#""seq":{"type":"long"}"#);
    let s = Scratch::new();
    append_json_lines(&s.path("input.log"), 0..100);
    // Two lines whose `seq` is not a number: the index maps it as `long`.
    std::fs::OpenOptions::new()
        .append(true)
        .open(s.path("input.log"))
        .unwrap()
        .write_all(
            b"{\"seq\":\"forty\",\"level\":\"info\"}\n{\"seq\":\"fifty\",\"level\":\"info\"}\n",
        )
        .unwrap();
    append_json_lines(&s.path("input.log"), 100..200);
    let sink = format!(
        "        endpoints: [\"{}\"]\n        index: logs-p\n",
        server.url()
    );
    let (status, err) = s.run_once(&s.config(&config(&sink, "")));
    assert!(status.success(), "{err}");
    assert_eq!(server.count("logs-p"), 200, "{err}");
    let dead = std::fs::read_to_string(s.path("data/dead_letter/p.ndjson")).unwrap_or_default();
    let letters: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 2, "{dead}\n{err}");
    for (letter, word) in letters.iter().zip(["forty", "fifty"]) {
        assert!(
            letter["message"].as_str().unwrap().contains(word),
            "{letter}"
        );
        let reason = letter["reason"].as_str().unwrap();
        assert!(
            reason.contains("sinks[0]") && reason.contains("attributes.seq"),
            "the server's reason: {reason}"
        );
    }
    assert!(err.contains("dead-letter"), "the refusal is logged: {err}");
}

fn server_down_at_start(flavour: Flavour) {
    let mut server = SearchServer::stopped(flavour);
    let s = Scratch::new();
    let n = 2_000;
    append_json_lines(&s.path("input.log"), 0..n);
    let sink = format!(
        "        endpoints: [\"{}\"]\n        index: logs-p\n        healthcheck: required\n        retry_max_backoff: 1s\n",
        server.url()
    );
    let daemon = s.start(&s.config(&config(&sink, "api: { listen: \"127.0.0.1:0\" }")));
    let api = api_addr(&daemon, Duration::from_secs(30));
    let pipeline = || get_json(&api, "/pipelines")["pipelines"]["p"].clone();
    let sink_doc = || pipeline()["components"][2].clone();
    assert!(
        wait_until(Duration::from_secs(30), || {
            let p = pipeline();
            p["components"][2]["state"] == "blocked"
                && p["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("healthcheck: required"))
        }),
        "the sink does not show why it waits: {}\n{}",
        pipeline(),
        daemon.log()
    );
    server.spawn();
    server.create_index("logs-p", r#""seq":{"type":"long"}"#);
    assert!(
        wait_until(WAIT, || server.count("logs-p") == n),
        "{} of {n} documents\n{}",
        server.count("logs-p"),
        daemon.log()
    );
    assert!(wait_until(Duration::from_secs(10), || sink_doc()["state"] == "running"));
    assert!(daemon.terminate().success());
    assert_eq!(seqs(&server, "logs-p"), (0..n).collect::<Vec<_>>());
}

fn flavour_and_secrets(flavour: Flavour) {
    let server = SearchServer::start(flavour);
    let s = Scratch::new();
    append_json_lines(&s.path("input.log"), 0..10);
    let password = "pw-Zq81-never-shown";
    let sink = format!(
        "        endpoints: [\"{}\"]\n        auth: {{ user: elastic, password: \"${{ES_PASSWORD}}\" }}\n",
        server.url()
    );
    let daemon = s.start_with_env(
        &s.config(&config(&sink, "api: { listen: \"127.0.0.1:0\" }")),
        &[("ES_PASSWORD", password)],
    );
    let api = api_addr(&daemon, Duration::from_secs(30));
    let want = match flavour {
        Flavour::Osmem => "OpenSearch 3.8.0",
        Flavour::Noida => "Elasticsearch 8.15.3",
    };
    assert!(
        wait_until(Duration::from_secs(30), || {
            get_json(&api, "/pipelines")["pipelines"]["p"]["components"][2]["server"] == want
        }),
        "{}\n{}",
        get_json(&api, "/pipelines"),
        daemon.log()
    );
    // The default index: daily, by the events' timestamps (read today).
    assert!(
        wait_until(WAIT, || server.count("logcatch-p-*") == 10),
        "{}",
        daemon.log()
    );
    let pipelines = get_json(&api, "/pipelines").to_string();
    let log = daemon.log();
    assert!(log.contains(want), "the log names the cluster: {log}");
    assert!(daemon.terminate().success());
    let config_text = std::fs::read_to_string(s.path("logcatch.yaml")).unwrap();
    assert!(!config_text.contains(password));
    // base64("elastic:<password>") would be the header's value.
    let header = "ZWxhc3RpYzpwdy1acTgxLW5ldmVyLXNob3du";
    for (what, text) in [("/pipelines", &pipelines), ("the log", &log)] {
        assert!(!text.contains(password), "{what} shows the password");
        assert!(!text.contains(header), "{what} shows the auth header");
    }
}

/// Events of two different days (restored whole from logcatch's event JSON by the kafka
/// source) land in two daily indices.
#[test]
fn daily_indices_follow_the_events_own_timestamps() {
    let broker = Broker::start(Kind::Tansu);
    broker.create_topic("logs", 1);
    let server = SearchServer::start(Flavour::Noida);
    let producer: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.addr())
        .create()
        .unwrap();
    for (i, day) in [(0, "2026-01-31"), (1, "2026-02-01"), (2, "2026-02-01")] {
        let event = format!(
            r#"{{"message":"line {i}","timestamp":"{day}T23:59:59.000000Z","source":"/var/log/a.log","offset":{i},"attributes":{{"n":{i}}}}}"#
        );
        producer
            .send(rdkafka::producer::BaseRecord::<(), _>::to("logs").payload(&event))
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let s = Scratch::new();
    let cfg = s.config(&format!(
        "\
data_dir: ./data
pipelines:
  idx:
    sources:
      - {{ type: kafka, brokers: [\"{}\"], topics: [logs], group: indexer }}
    sinks:
      - {{ type: elasticsearch, endpoints: [\"{}\"], index: \"logs-{{pipeline}}-%Y.%m.%d\" }}
",
        broker.addr(),
        server.url()
    ));
    let daemon = s.start(&cfg);
    assert!(
        wait_until(WAIT, || server.count("logs-idx-*") == 3),
        "{}",
        daemon.log()
    );
    assert_eq!(server.count("logs-idx-2026.01.31"), 1);
    assert_eq!(server.count("logs-idx-2026.02.01"), 2);
    let doc = &server.search("logs-idx-2026.01.31", r#"{"match_all":{}}"#, 10)[0];
    assert_eq!(doc["@timestamp"], "2026-01-31T23:59:59.000000Z");
    assert_eq!(doc["message"], "line 0");
    assert!(daemon.terminate().success());
}

/// noida-db keeps its data across a stop: a server that goes away while lines flow, and
/// comes back, ends with every line once.
#[test]
fn a_server_stopped_and_started_while_lines_flow_loses_nothing() {
    let mut server = SearchServer::start(Flavour::Noida);
    server.create_index("logs-p", r#""seq":{"type":"long"}"#);
    let s = Scratch::new();
    append_json_lines(&s.path("input.log"), 0..2_000);
    let sink = format!(
        "        endpoints: [\"{}\"]\n        index: logs-p\n        retry_max_backoff: 1s\n",
        server.url()
    );
    let daemon = s.start(&s.config(&config(&sink, "")));
    assert!(
        wait_until(WAIT, || server.count("logs-p") == 2_000),
        "{}",
        daemon.log()
    );
    // noida-db writes to disk about once a second: give it that before the kill.
    std::thread::sleep(Duration::from_secs(2));
    server.kill();
    append_json_lines(&s.path("input.log"), 2_000..4_000);
    std::thread::sleep(Duration::from_secs(3));
    server.spawn();
    append_json_lines(&s.path("input.log"), 4_000..6_000);
    assert!(
        wait_until(WAIT, || server.count("logs-p") == 6_000),
        "{} of 6000\n{}\n{}",
        server.count("logs-p"),
        daemon.log(),
        server.log()
    );
    assert!(daemon.terminate().success());
    assert_eq!(seqs(&server, "logs-p"), (0..6_000).collect::<Vec<_>>());
}

#[test]
fn bad_elasticsearch_configs_are_refused_with_their_place() {
    let s = Scratch::new();
    let validate = |yaml: &str| validate_refuses(&s, yaml);
    let sink = "pipelines:\n  p:\n    sources: [{type: stdin}]\n    sinks:\n      - type: elasticsearch\n        endpoints: [\"http://127.0.0.1:9200\"]\n";
    let err = validate(&format!("{sink}        index: \"logs-{{level}}-%Y\"\n"));
    assert!(
        err.contains(
            "logcatch.yaml:7:9: pipelines.p.sinks[0].index: unknown placeholder `{level}`"
        ),
        "{err}"
    );
    let err = validate(&format!("{sink}        index: \"Logs\"\n"));
    assert!(
        err.contains("logcatch.yaml:7:9: pipelines.p.sinks[0].index"),
        "{err}"
    );
    let err = validate(&format!(
        "{sink}        mode: data_stream\n        action: index\n"
    ));
    assert!(err.contains("pipelines.p.sinks[0].action"), "{err}");
    let err = validate(
        &format!("{sink}        auth: {{ user: elastic, password: \"${{ES_PW}}\", api_key: \"${{ES_PW}}\" }}\n")
            .replace("${ES_PW}", "hunter2-secret"),
    );
    assert!(err.contains("pipelines.p.sinks[0].auth.api_key"), "{err}");
    assert!(!err.contains("hunter2-secret"), "a secret was shown: {err}");
    let err = validate(
        "pipelines:\n  p:\n    sources: [{type: stdin}]\n    sinks:\n      - type: elasticsearch\n        endpoints: []\n",
    );
    assert!(
        err.contains("logcatch.yaml:6:9: pipelines.p.sinks[0].endpoints"),
        "{err}"
    );
}

/// `mode: data_stream` appends with `create` to `logs-{pipeline}-default`, each document
/// with `@timestamp`. noida-db stores a data stream's documents as a plain index (and
/// osmem-server refuses data streams), so this checks the names and the documents.
#[test]
fn data_stream_mode_appends_documents_with_their_timestamp() {
    let server = SearchServer::start(Flavour::Noida);
    let s = Scratch::new();
    append_json_lines(&s.path("input.log"), 0..50);
    let sink = format!(
        "        endpoints: [\"{}\"]\n        mode: data_stream\n",
        server.url()
    );
    let (status, err) = s.run_once(&s.config(&config(&sink, "")));
    assert!(status.success(), "{err}");
    assert_eq!(server.count("logs-p-default"), 50, "{err}");
    for doc in server.search("logs-p-default", r#"{"match_all":{}}"#, 50) {
        let stamp = doc["@timestamp"].as_str().expect("@timestamp");
        assert_eq!(stamp, doc["timestamp"].as_str().unwrap());
    }
}

/// With the default `healthcheck: optional`, a cluster that is down at the start is logged,
/// written to anyway (held until it answers), and named in `/pipelines` once it is up.
#[test]
fn an_optional_healthcheck_names_the_cluster_once_it_comes_up() {
    let mut server = SearchServer::stopped(Flavour::Osmem);
    let s = Scratch::new();
    append_json_lines(&s.path("input.log"), 0..100);
    let sink = format!(
        "        endpoints: [\"{}\"]\n        index: logs-p\n        retry_max_backoff: 1s\n",
        server.url()
    );
    let daemon = s.start(&s.config(&config(&sink, "api: { listen: \"127.0.0.1:0\" }")));
    let api = api_addr(&daemon, Duration::from_secs(30));
    assert!(
        wait_until(Duration::from_secs(30), || daemon
            .log()
            .contains("no endpoint answered the health check")),
        "{}",
        daemon.log()
    );
    let sink_doc = || get_json(&api, "/pipelines")["pipelines"]["p"]["components"][2].clone();
    assert!(sink_doc()["server"].is_null(), "{}", sink_doc());
    server.spawn();
    assert!(
        wait_until(WAIT, || server.count("logs-p") == 100),
        "{}",
        daemon.log()
    );
    assert!(
        wait_until(Duration::from_secs(60), || sink_doc()["server"]
            == "OpenSearch 3.8.0"),
        "{}\n{}",
        sink_doc(),
        daemon.log()
    );
    assert!(daemon.terminate().success());
}
