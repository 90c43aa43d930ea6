//! The `kafka` sink and source against two independent real brokers (noida-db and tansu,
//! installed pinned by `scripts/setup`), each on a free loopback port and stopped by the
//! test, driven through the real `logcatch` binary: an agent (file → kafka) and a consumer
//! (kafka → file) move numbered lines with none lost, also while the broker or the consumer
//! is killed, while the broker is down at the start and while a group rebalances; a message
//! too large is dead-lettered; bad configs are refused with their place.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::kafka::{Broker, Kind};
use common::{Daemon, Scratch, audit, bin, numbers, repo, wait_until};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};

/// Longest a test waits for its lines.
const WAIT: Duration = Duration::from_secs(120);

/// The agent side: `input.log` → `kafka` sink, topic `logs`.
fn agent_config(broker: &Broker, extra: &str) -> String {
    format!(
        "\
data_dir: ./data
pipelines:
  agent:
    sources:
      - {{ type: file, include: [input.log], rescan_interval: 100ms }}
    sinks:
      - type: kafka
        brokers: [\"{}\"]
        topic: logs
{extra}",
        broker.addr()
    )
}

/// The consuming side: `kafka` source (group `archive`) → `out.log`.
fn consumer_config(broker: &Broker) -> String {
    format!(
        "\
data_dir: ./data
shutdown_timeout: 10s
pipelines:
  consumer:
    sources:
      - type: kafka
        brokers: [\"{}\"]
        topics: [logs]
        group: archive
        options: {{ session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }}
    sinks:
      - {{ type: file, path: out.log, format: text }}
",
        broker.addr()
    )
}

fn append_lines(path: &Path, range: std::ops::Range<u64>) {
    let mut text = String::new();
    for i in range {
        text.push_str(&format!("line {i}\n"));
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Every line number in topic `logs`, read back whole by a fresh group: tells whether a
/// line missing at the consumer is missing from the topic too.
fn topic_numbers(broker: &Broker) -> Vec<(u64, i32, i64)> {
    let read: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.addr())
        .set("group.id", format!("audit-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    read.subscribe(&["logs"]).unwrap();
    // The first message may take a group join (seconds); then the topic is read to its end.
    let (mut found, mut idle) = (Vec::new(), Instant::now() + Duration::from_secs(25));
    while idle.elapsed() < Duration::from_secs(5) {
        if let Some(Ok(m)) = read.poll(Duration::from_millis(200)) {
            idle = Instant::now();
            let v: serde_json::Value =
                serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or_default();
            if let Some(n) = v["message"]
                .as_str()
                .and_then(|t| t.rsplit(' ').next())
                .and_then(|n| n.parse().ok())
            {
                found.push((n, m.partition(), m.offset()));
            }
        }
    }
    found
}

/// Waits until `out` holds every number below `n`; returns the duplicates count. On failure
/// says whether the missing lines are in the topic (lost by the consumer) or not.
fn wait_for_all_from(broker: &Broker, out: &Path, n: u64, logs: &[String], what: &str) -> usize {
    let done = wait_until(WAIT, || audit(&numbers(out), n).0.is_empty());
    if !done {
        let (missing, _) = audit(&numbers(out), n);
        let in_topic = topic_numbers(broker);
        let numbers_in_topic: Vec<u64> = in_topic.iter().map(|x| x.0).collect();
        let (missing_in_topic, _) = audit(&numbers_in_topic, n);
        let lost_by_consumer: Vec<_> = in_topic
            .iter()
            .filter(|x| missing.contains(&x.0))
            .take(10)
            .collect();
        panic!(
            "{what}: {} of {n} lines missing at the consumer (first {:?}); {} missing from the topic; in the topic but not delivered (line, partition, offset): {lost_by_consumer:?}\n{}",
            missing.len(),
            &missing[..missing.len().min(10)],
            missing_in_topic.len(),
            logs.join("\n----\n")
        );
    }
    wait_for_all(out, n, logs, what)
}

/// Waits until `out` holds every number below `n`; returns the duplicates count.
fn wait_for_all(out: &Path, n: u64, logs: &[String], what: &str) -> usize {
    let done = wait_until(WAIT, || audit(&numbers(out), n).0.is_empty());
    let (missing, duplicates) = audit(&numbers(out), n);
    assert!(
        done,
        "{what}: {} of {n} lines missing (first {:?})\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        logs.join("\n----\n")
    );
    eprintln!("{what}: all {n} lines delivered, {duplicates} duplicates");
    duplicates
}

struct Sides {
    agent: Scratch,
    consumer: Scratch,
    agent_cfg: PathBuf,
    consumer_cfg: PathBuf,
}

fn sides(broker: &Broker) -> Sides {
    broker.create_topic("logs", 3);
    let (agent, consumer) = (Scratch::new(), Scratch::new());
    let agent_cfg = agent.config(&agent_config(broker, ""));
    let consumer_cfg = consumer.config(&consumer_config(broker));
    Sides {
        agent,
        consumer,
        agent_cfg,
        consumer_cfg,
    }
}

/// Runs each test against each broker implementation.
macro_rules! on_both_brokers {
    ($($name:ident: $body:path;)*) => {
        mod noida {
            $( #[test] fn $name() { $body(super::Kind::Noida) } )*
        }
        mod tansu {
            $( #[test] fn $name() { $body(super::Kind::Tansu) } )*
        }
    };
}

on_both_brokers! {
    agent_to_consumer_loses_nothing: super::agent_to_consumer_loses_nothing;
    a_broker_down_at_the_start_holds_the_agent_until_it_comes_up:
        super::a_broker_down_at_the_start_holds_the_agent_until_it_comes_up;
    a_message_too_large_is_dead_lettered_and_the_rest_delivered:
        super::a_message_too_large_is_dead_lettered_and_the_rest_delivered;
}

/// On noida-db a member that leaves does not reliably hand its partitions back: in one CI
/// run the remaining member kept only the partition it had for 120 s (its rebalances are
/// known to stall and churn, docs/test-servers.md), so the group tests run on tansu.
#[test]
fn two_consumers_in_one_group_share_the_partitions_and_a_rebalance_loses_nothing() {
    rebalance(Kind::Tansu)
}

/// noida-db never evicts a group member killed with kill -9 (the next rebalance waits for
/// it until `max.poll.interval.ms`), so consumer kills run against tansu, which evicts it
/// after the session timeout.
#[test]
fn a_consumer_killed_with_sigkill_loses_nothing_and_a_clean_stop_duplicates_nothing() {
    consumer_kills(Kind::Tansu)
}

fn agent_to_consumer_loses_nothing(kind: Kind) {
    let broker = Broker::start(kind);
    let s = sides(&broker);
    let n = 20_000;
    append_lines(&s.agent.path("input.log"), 0..n);
    let agent = s.agent.start(&s.agent_cfg);
    let consumer = s.consumer.start(&s.consumer_cfg);
    let started = Instant::now();
    let dups = wait_for_all(
        &s.consumer.path("out.log"),
        n,
        &[agent.log(), consumer.log(), broker.log()],
        "plain run",
    );
    eprintln!(
        "{kind:?}: {n} lines file → kafka → file in {:?}",
        started.elapsed()
    );
    assert_eq!(dups, 0, "a plain run delivered lines twice");
    assert!(agent.terminate().success());
    assert!(consumer.terminate().success());
    // What the agent produced carries the event JSON and the event id header.
    let read: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.addr())
        .set("group.id", "inspect")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    read.subscribe(&["logs"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let m = loop {
        if let Some(Ok(m)) = read.poll(Duration::from_millis(500)) {
            break m;
        }
        assert!(Instant::now() < deadline, "nothing to read back");
    };
    let value: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
    assert!(
        value["message"].as_str().unwrap().starts_with("line "),
        "{value}"
    );
    let headers = m.headers().expect("headers");
    let id = (0..headers.count())
        .map(|i| headers.get(i))
        .find(|h| h.key == "logcatch-id")
        .and_then(|h| h.value)
        .expect("a logcatch-id header");
    assert_eq!(id.len(), 22, "{:?}", String::from_utf8_lossy(id));
}

fn consumer_kills(kind: Kind) {
    let broker = Broker::start(kind);
    let s = sides(&broker);
    let out = s.consumer.path("out.log");
    let n = 30_000;
    append_lines(&s.agent.path("input.log"), 0..n);
    let agent = s.agent.start(&s.agent_cfg);
    let mut consumer = s.consumer.start(&s.consumer_cfg);
    for round in 0..3 {
        let before = numbers(&out).len();
        assert!(
            wait_until(WAIT, || numbers(&out).len() > before),
            "round {round}: nothing arrived\n{}\n{}",
            agent.log(),
            consumer.log()
        );
        consumer.kill9();
        eprintln!(
            "{kind:?}: consumer killed after {} lines",
            numbers(&out).len()
        );
        consumer = s.consumer.start(&s.consumer_cfg);
    }
    let dups = wait_for_all_from(
        &broker,
        &out,
        n,
        &[agent.log(), group_log(&s.consumer)],
        "consumer kill -9",
    );
    // At most what was in flight at each kill: a few batches, not the stream.
    assert!(dups < 3 * 10_000, "{dups} duplicates after 3 kills");
    // A clean stop commits everything delivered: a restart reads nothing again.
    assert!(consumer.terminate().success());
    let delivered = numbers(&out).len();
    let consumer = s.consumer.start(&s.consumer_cfg);
    append_lines(&s.agent.path("input.log"), n..n + 1_000);
    wait_for_all(
        &out,
        n + 1_000,
        &[agent.log(), consumer.log()],
        "after SIGTERM",
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        numbers(&out).len(),
        delivered + 1_000,
        "a restart after a clean stop delivered lines twice\n{}",
        consumer.log()
    );
    assert!(agent.terminate().success());
    assert!(consumer.terminate().success());
}

fn a_broker_down_at_the_start_holds_the_agent_until_it_comes_up(kind: Kind) {
    let mut broker = Broker::stopped(kind);
    let agent_side = Scratch::new();
    let n = 10_000;
    append_lines(&agent_side.path("input.log"), 0..n);
    let agent = agent_side.start(&agent_side.config(&agent_config(&broker, "")));
    std::thread::sleep(Duration::from_secs(4));
    let rss_down = rss(&agent);
    broker.spawn();
    broker.create_topic("logs", 3);
    let consumer_side = Scratch::new();
    let consumer = consumer_side.start(&consumer_side.config(&consumer_config(&broker)));
    let dups = wait_for_all(
        &consumer_side.path("out.log"),
        n,
        &[agent.log(), consumer.log(), broker.log()],
        "broker down at the start",
    );
    assert!(dups < 5_000, "{dups} duplicates");
    assert!(
        rss_down < 200 << 20,
        "the agent grew to {} MiB while the broker was down",
        rss_down >> 20
    );
    assert!(agent.terminate().success());
    assert!(consumer.terminate().success());
}

fn rebalance(kind: Kind) {
    let broker = Broker::start(kind);
    let s = sides(&broker);
    let other = Scratch::new();
    let other_cfg = other.config(&consumer_config(&broker));
    let n = 30_000u64;
    append_lines(&s.agent.path("input.log"), 0..n / 2);
    let agent = s.agent.start(&s.agent_cfg);
    let first = s.consumer.start(&s.consumer_cfg);
    let second = other.start(&other_cfg);
    let (a, b) = (s.consumer.path("out.log"), other.path("out.log"));
    let both = |a: &Path, b: &Path| {
        let mut all = numbers(a);
        all.extend(numbers(b));
        all
    };
    assert!(
        wait_until(WAIT, || !numbers(&a).is_empty() && !numbers(&b).is_empty()),
        "the two members did not both get partitions\n{}\n{}",
        first.log(),
        second.log()
    );
    // One member stops mid-stream: the other takes its partitions over.
    assert!(second.terminate().success());
    append_lines(&s.agent.path("input.log"), n / 2..n);
    let done = wait_until(WAIT, || audit(&both(&a, &b), n).0.is_empty());
    let (missing, dups) = audit(&both(&a, &b), n);
    assert!(
        done,
        "{} lines missing after the rebalance (first {:?})\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        first.log()
    );
    eprintln!("{kind:?}: rebalance: all {n} lines, {dups} duplicates");
    assert!(agent.terminate().success());
    assert!(first.terminate().success());
}

fn a_message_too_large_is_dead_lettered_and_the_rest_delivered(kind: Kind) {
    let broker = Broker::start(kind);
    broker.create_topic("logs", 3);
    let s = Scratch::new();
    let input = s.path("input.log");
    append_lines(&input, 0..100);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    writeln!(f, "{} 100", "x".repeat(50_000)).unwrap();
    drop(f);
    append_lines(&input, 101..200);
    let cfg = s.config(&agent_config(
        &broker,
        "        options: { message.max.bytes: \"20000\" }\n",
    ));
    let agent = s.start(&cfg);
    let consumer_side = Scratch::new();
    let consumer = consumer_side.start(&consumer_side.config(&consumer_config(&broker)));
    let out = consumer_side.path("out.log");
    let done = wait_until(WAIT, || {
        let (missing, _) = audit(&numbers(&out), 200);
        missing == [100]
    });
    assert!(done, "{}\n{}", agent.log(), consumer.log());
    let dead = std::fs::read_to_string(s.path("data/dead_letter/agent.ndjson")).unwrap_or_default();
    let letters: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 1, "{dead}");
    assert!(letters[0]["message"].as_str().unwrap().ends_with(" 100"));
    let reason = letters[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("sinks[0]") && reason.to_lowercase().contains("size"),
        "{reason}"
    );
    assert!(agent.terminate().success());
    assert!(consumer.terminate().success());
}

#[test]
fn a_broker_killed_and_restarted_on_its_data_loses_nothing() {
    // noida-db keeps its data across kill -9 (tansu's storage here is memory).
    let mut broker = Broker::start(Kind::Noida);
    let s = sides(&broker);
    let (input, out) = (s.agent.path("input.log"), s.consumer.path("out.log"));
    append_lines(&input, 0..5_000);
    let agent = s.agent.start(&s.agent_cfg);
    let consumer = s.consumer.start(&s.consumer_cfg);
    assert!(
        wait_until(WAIT, || !numbers(&out).is_empty()),
        "nothing arrived\n{}\n{}",
        agent.log(),
        consumer.log()
    );
    // noida-db writes its state to disk about once a second: what it acknowledged in the
    // last second before a kill -9 is gone (a broker property, measured: 20 ms after a
    // write everything is lost, 1.5 s after it everything survives).
    std::thread::sleep(Duration::from_secs(2));
    broker.kill();
    append_lines(&input, 5_000..10_000);
    std::thread::sleep(Duration::from_secs(2));
    broker.spawn();
    append_lines(&input, 10_000..15_000);
    wait_for_all(
        &out,
        15_000,
        &[agent.log(), consumer.log(), broker.log()],
        "broker kill -9",
    );
    assert!(agent.terminate().success());
    assert!(consumer.terminate().success());
}

#[test]
fn the_example_configs_are_valid() {
    for name in ["kafka-agent.yaml", "kafka-consumer.yaml"] {
        // In a scratch dir: validating probes (creates) the example's data_dir.
        let s = Scratch::new();
        let text = std::fs::read_to_string(repo().join("examples").join(name)).unwrap();
        let out = Command::new(bin())
            .args(["validate", "-c"])
            .arg(s.config(&text))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn bad_kafka_configs_are_refused_with_their_place() {
    let s = Scratch::new();
    let validate = |yaml: &str| {
        let cfg = s.config(yaml);
        let out = Command::new(bin())
            .args(["validate", "-c"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{yaml} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let sink = "pipelines:\n  p:\n    sources: [{type: stdin}]\n    sinks:\n      - type: kafka\n        topic: logs\n";
    let err = validate(&format!("{sink}        brokers: []\n"));
    assert!(
        err.contains("logcatch.yaml:7:9: pipelines.p.sinks[0].brokers: at least one broker"),
        "{err}"
    );
    let err = validate(&format!(
        "{sink}        brokers: [\"127.0.0.1:9092\"]\n        compression: brotli\n"
    ));
    assert!(
        err.contains(
            "logcatch.yaml:8:9: pipelines.p.sinks[0].compression: unknown variant `brotli`"
        ),
        "{err}"
    );
    let err = validate(&format!(
        "{sink}        brokers: [\"127.0.0.1:9092\"]\n        options:\n          lnger.ms: \"5\"\n"
    ));
    assert!(
        err.contains("pipelines.p.sinks[0].options.lnger.ms") && err.contains("logcatch.yaml:"),
        "{err}"
    );
    let err = validate(&format!(
        "{sink}        brokers: [\"127.0.0.1:9092\"]\n        options:\n          sasl.password: \"${{KAFKA_PW}}\"\n          linger.ms: \"${{KAFKA_PW}}\"\n"
    ).replace("${KAFKA_PW}", "hunter2-secret"));
    assert!(!err.contains("hunter2-secret"), "a secret was shown: {err}");
    let source = "pipelines:\n  p:\n    sinks: [{type: stdout}]\n    sources:\n      - type: kafka\n        brokers: [\"127.0.0.1:9092\"]\n";
    let err = validate(&format!("{source}        topics: [logs]\n"));
    assert!(
        err.contains("pipelines.p.sources[0]") && err.contains("group"),
        "{err}"
    );
}

/// What every daemon of `scratch` logged about its group (assignments, revocations).
fn group_log(scratch: &Scratch) -> String {
    (0..)
        .map(|n| scratch.path(&format!("daemon-{n}.log")))
        .take_while(|p| p.exists())
        .flat_map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            text.lines()
                .filter(|l| l.contains("Kafka") || l.contains("kafka"))
                .map(|l| format!("{name}: {l}"))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The resident set of `daemon`, in bytes.
fn rss(daemon: &Daemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
