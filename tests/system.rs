//! The original system, end to end, with the example configs `examples/system/agent.yaml` and
//! `indexer.yaml` as they ship: numbered JSON lines appended to rotating files → agent (file
//! source, the parse_json WASM filter) → Kafka (tansu) → indexer (kafka source →
//! elasticsearch sink) → Elasticsearch (noida-db, which keeps its data across a stop). While
//! it runs the indexer is killed with SIGKILL and restarted, the search server is stopped and
//! started, and the file is rotated. At the end the index holds every line exactly once.

mod common;

use std::time::{Duration, Instant};

use common::http::{api_addr, get_json};
use common::kafka::{Broker, Kind};
use common::search::{Flavour, SearchServer};
use common::{Daemon, Scratch, append_json_lines, guest, repo, wait_until};

/// Lines written in each phase.
const PHASE: u64 = 2_000;
/// Longest the test waits for its documents.
const WAIT: Duration = Duration::from_secs(180);

struct System {
    scratch: Scratch,
    broker: Broker,
    search: SearchServer,
}

impl System {
    fn env(&self) -> Vec<(&'static str, String)> {
        let s = &self.scratch;
        vec![
            ("KAFKA_BROKER", self.broker.addr()),
            ("ES_URL", self.search.url()),
            ("APP_LOGS", s.path("logs").display().to_string()),
            ("AGENT_DATA_DIR", s.path("agent-data").display().to_string()),
            (
                "INDEXER_DATA_DIR",
                s.path("indexer-data").display().to_string(),
            ),
            ("INDEXER_API", "127.0.0.1:0".to_owned()),
        ]
    }

    fn start(&self, example: &str) -> Daemon {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.scratch
            .start_with_env(&repo().join("examples/system").join(example), &env)
    }

    /// Documents in the daily indices.
    fn count(&self) -> u64 {
        self.search.count("logs-app-*")
    }

    /// Waits until the indices hold `n` documents.
    fn wait_for(&self, n: u64, what: &str, logs: &[&Daemon]) {
        let done = wait_until(WAIT, || self.count() >= n);
        let logs: Vec<String> = logs.iter().map(|d| d.log()).collect();
        assert!(
            done,
            "{what}: {} of {n} documents\n{}\n{}",
            self.count(),
            logs.join("\n----\n"),
            self.search.log()
        );
    }
}

#[test]
fn files_to_kafka_to_elasticsearch_hold_every_line_once_through_kills_stops_and_rotation() {
    guest("parse_json"); // built from source, where the example config names it
    let sys = System {
        scratch: Scratch::new(),
        broker: Broker::start(Kind::Tansu),
        search: SearchServer::start(Flavour::Noida),
    };
    sys.broker.create_topic("logs-app", 3);
    std::fs::create_dir_all(sys.scratch.path("logs")).unwrap();
    let log = sys.scratch.path("logs/app.log");
    let started = Instant::now();

    append_json_lines(&log, 0..PHASE);
    let agent = sys.start("agent.yaml");
    let mut indexer = sys.start("indexer.yaml");
    sys.wait_for(PHASE, "plain run", &[&agent, &indexer]);

    // The indexer is killed with SIGKILL while lines flow, and started again.
    append_json_lines(&log, PHASE..2 * PHASE);
    std::thread::sleep(Duration::from_millis(300));
    indexer.kill9();
    indexer = sys.start("indexer.yaml");
    sys.wait_for(
        2 * PHASE,
        "after the indexer's kill -9",
        &[&agent, &indexer],
    );

    // The file is rotated: renamed out of the glob (read to its end), a new one created.
    append_json_lines(&log, 2 * PHASE..3 * PHASE - 500);
    std::fs::rename(&log, sys.scratch.path("logs/app.log.1")).unwrap();
    append_json_lines(
        &sys.scratch.path("logs/app.log.1"),
        3 * PHASE - 500..3 * PHASE,
    );
    append_json_lines(&log, 3 * PHASE..4 * PHASE);
    sys.wait_for(4 * PHASE, "after rotation", &[&agent, &indexer]);

    // The search server is stopped (cleanly: it saves its data) while lines flow, and started.
    let mut sys = sys;
    sys.search.stop();
    append_json_lines(&log, 4 * PHASE..5 * PHASE);
    std::thread::sleep(Duration::from_secs(3));
    sys.search.spawn();
    sys.wait_for(5 * PHASE, "after the server's stop", &[&agent, &indexer]);

    let n = 5 * PHASE;
    // Anything sent twice would show now.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sys.count(), n, "every line exactly once");
    let mut seqs: Vec<u64> = sys
        .search
        .search("logs-app-*", r#"{"match_all":{}}"#, n as usize)
        .iter()
        .map(|d| d["attributes"]["seq"].as_u64().expect("a parsed seq"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "every number once");
    // A search for a number finds exactly its document, with the parsed attributes.
    let hits = sys
        .search
        .search("logs-app-*", r#"{"term":{"attributes.seq":4242}}"#, 10);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["attributes"]["level"], "info"); // 4242 % 3 == 0
    assert_eq!(hits[0]["attributes"]["text"], "request 4242 done");
    assert!(
        hits[0]["source"].as_str().unwrap().contains("app.log"),
        "{}",
        hits[0]
    );
    // The indexer says what it indexes into.
    let api = api_addr(&indexer, Duration::from_secs(10));
    let doc = get_json(&api, "/pipelines");
    assert_eq!(
        doc["pipelines"]["index"]["components"][1]["server"], "Elasticsearch 8.15.3",
        "{doc}"
    );
    eprintln!("{n} lines through the system in {:?}", started.elapsed());
    assert!(agent.terminate().success());
    assert!(indexer.terminate().success());
}
