//! The `nats` sink and source against a real `nats-server -js` (Debian's package, installed by
//! `scripts/setup`) on a free loopback port, driven through the real `logcatch` binary: an
//! agent (file → nats) and a consumer (nats → file) move numbered lines with none lost, also
//! while the server or the consumer is killed and restarted; subjects route by level; bad
//! configs are refused by `logcatch validate`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, Scratch, audit, bin, numbers, wait_until};

/// Generous: a loaded CI machine may be slow, a correct run is much faster.
const WAIT: Duration = Duration::from_secs(180);

/// A `nats-server -js` on 127.0.0.1 with its store in a temp dir; killed when dropped.
struct NatsServer {
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = NatsServer {
            port,
            store: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.store.path().join("server.log"))
            .unwrap();
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path().join("js"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server not found: run scripts/setup");
        self.child = Some(child);
        assert!(
            wait_until(Duration::from_secs(30), || RawNats::connect(self.port)
                .is_ok()),
            "nats-server did not come up on port {}",
            self.port
        );
    }

    /// Kills the server (SIGKILL) and starts it again on the same port with the same store.
    fn restart(&mut self, down_for: Duration) {
        self.kill();
        std::thread::sleep(down_for);
        self.spawn();
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Just enough of the NATS text protocol to create a stream and publish raw payloads.
struct RawNats {
    out: TcpStream,
    input: BufReader<TcpStream>,
}

impl RawNats {
    fn connect(port: u16) -> std::io::Result<Self> {
        let out = TcpStream::connect(("127.0.0.1", port))?;
        out.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut raw = RawNats {
            input: BufReader::new(out.try_clone()?),
            out,
        };
        let info = raw.line()?;
        if !info.starts_with("INFO") {
            return Err(std::io::Error::other(format!("unexpected greeting {info}")));
        }
        raw.out
            .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")?;
        raw.flush()?;
        Ok(raw)
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end().to_owned())
    }

    /// Waits until the server has processed everything sent so far.
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.write_all(b"PING\r\n")?;
        loop {
            match self.line()?.as_str() {
                "PONG" => return Ok(()),
                l if l.starts_with("-ERR") => return Err(std::io::Error::other(l.to_owned())),
                _ => {}
            }
        }
    }

    fn publish(&mut self, subject: &str, payload: &[u8]) {
        write!(self.out, "PUB {subject} {}\r\n", payload.len()).unwrap();
        self.out.write_all(payload).unwrap();
        self.out.write_all(b"\r\n").unwrap();
    }

    /// Sends a request and returns the reply's payload.
    fn request(&mut self, subject: &str, payload: &[u8]) -> String {
        self.out.write_all(b"SUB _INBOX.test 1\r\n").unwrap();
        write!(self.out, "PUB {subject} _INBOX.test {}\r\n", payload.len()).unwrap();
        self.out.write_all(payload).unwrap();
        self.out.write_all(b"\r\n").unwrap();
        loop {
            let line = self.line().unwrap();
            if line == "PING" {
                self.out.write_all(b"PONG\r\n").unwrap();
            } else if let Some(rest) = line.strip_prefix("MSG ") {
                let len: usize = rest.rsplit(' ').next().unwrap().parse().unwrap();
                let mut body = vec![0; len + 2];
                self.input.read_exact(&mut body).unwrap();
                self.out.write_all(b"UNSUB 1\r\n").unwrap();
                body.truncate(len);
                return String::from_utf8(body).unwrap();
            } else {
                assert!(!line.starts_with("-ERR"), "{line}");
            }
        }
    }
}

/// The agent side: `input.log` → `nats` sink (creates stream LOGS).
fn agent_config(nats: &NatsServer) -> String {
    format!(
        "\
data_dir: ./data
pipelines:
  agent:
    sources:
      - {{ type: file, include: [input.log], rescan_interval: 100ms }}
    sinks:
      - type: nats
        url: \"{}\"
        stream: LOGS
        subject: \"logs.{{pipeline}}.{{attributes.level}}\"
",
        nats.url()
    )
}

/// The consuming side: `nats` source (durable consumer `archive`) → `out.log`.
fn consumer_config(nats: &NatsServer, filter: Option<&str>) -> String {
    let filter = filter.map_or(String::new(), |f| {
        format!("        filter_subject: \"{f}\"\n")
    });
    format!(
        "\
data_dir: ./data
pipelines:
  consumer:
    sources:
      - type: nats
        url: \"{}\"
        stream: LOGS
        consumer: archive
        ack_wait: 2s
{filter}    sinks:
      - {{ type: file, path: out.log, format: text }}
",
        nats.url()
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

/// Waits until `out` holds every number below `n`; returns the duplicates count.
fn wait_for_all(out: &Path, n: u64, daemons: &[&Daemon], what: &str) -> usize {
    let done = wait_until(WAIT, || audit(&numbers(out), n).0.is_empty());
    let (missing, duplicates) = audit(&numbers(out), n);
    assert!(
        done,
        "{what}: {} of {n} lines missing (first {:?})\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        daemons
            .iter()
            .map(|d| d.log())
            .collect::<Vec<_>>()
            .join("\n----\n")
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

fn sides(nats: &NatsServer) -> Sides {
    let (agent, consumer) = (Scratch::new(), Scratch::new());
    let agent_cfg = agent.config(&agent_config(nats));
    let consumer_cfg = consumer.config(&consumer_config(nats, None));
    Sides {
        agent,
        consumer,
        agent_cfg,
        consumer_cfg,
    }
}

#[test]
fn agent_to_consumer_through_jetstream_loses_nothing() {
    let nats = NatsServer::start();
    let s = sides(&nats);
    let n = 20_000;
    append_lines(&s.agent.path("input.log"), 0..n);
    let agent = s.agent.start(&s.agent_cfg);
    let consumer = s.consumer.start(&s.consumer_cfg);
    let started = Instant::now();
    wait_for_all(
        &s.consumer.path("out.log"),
        n,
        &[&agent, &consumer],
        "plain run",
    );
    eprintln!("{n} lines file → nats → file in {:?}", started.elapsed());
    assert!(agent.terminate().success());
    assert!(consumer.terminate().success());
}

#[test]
fn a_server_killed_and_restarted_mid_stream_loses_nothing() {
    let mut nats = NatsServer::start();
    let s = sides(&nats);
    let input = s.agent.path("input.log");
    let out = s.consumer.path("out.log");
    append_lines(&input, 0..5_000);
    let agent = s.agent.start(&s.agent_cfg);
    let consumer = s.consumer.start(&s.consumer_cfg);
    assert!(
        wait_until(WAIT, || !numbers(&out).is_empty()),
        "nothing arrived\n{}\n{}",
        agent.log(),
        consumer.log()
    );
    nats.kill();
    // Lines written while the server is down wait in the file (the sink holds the pipeline).
    append_lines(&input, 5_000..10_000);
    std::thread::sleep(Duration::from_secs(1));
    nats.restart(Duration::ZERO);
    let restarted = Instant::now();
    append_lines(&input, 10_000..15_000);
    wait_for_all(&out, 15_000, &[&agent, &consumer], "server restart");
    // Recovery takes a reconnect (at most 4 s of client backoff), one ack timeout (5 s) and
    // the consumer's ack_wait (2 s); a publisher stalled after the restart takes far longer.
    let took = restarted.elapsed();
    eprintln!("server restart: every line delivered {took:?} after the restart");
    assert!(
        took < Duration::from_secs(60),
        "delivery stalled after the restart: {took:?}\n{}\n{}",
        agent.log(),
        consumer.log()
    );
    assert!(agent.terminate().success());
    assert!(consumer.terminate().success());
}

#[test]
fn a_consumer_killed_with_sigkill_and_restarted_loses_nothing() {
    let nats = NatsServer::start();
    let s = sides(&nats);
    let input = s.agent.path("input.log");
    let out = s.consumer.path("out.log");
    let n = 30_000;
    append_lines(&input, 0..n);
    let agent = s.agent.start(&s.agent_cfg);
    let consumer = s.consumer.start(&s.consumer_cfg);
    assert!(
        wait_until(WAIT, || !numbers(&out).is_empty()),
        "nothing arrived\n{}\n{}",
        agent.log(),
        consumer.log()
    );
    consumer.kill9();
    let before = numbers(&out).len();
    eprintln!("consumer killed after {before} lines");
    let consumer = s.consumer.start(&s.consumer_cfg);
    wait_for_all(&out, n, &[&agent, &consumer], "consumer kill -9");
    assert!(agent.terminate().success());
    assert!(consumer.terminate().success());
}

#[test]
fn subjects_route_by_level_and_a_filtered_consumer_gets_only_its_level() {
    let nats = NatsServer::start();
    let mut raw = RawNats::connect(nats.port).unwrap();
    let created = raw.request(
        "$JS.API.STREAM.CREATE.IN",
        br#"{"name":"IN","subjects":["in.>"],"storage":"file"}"#,
    );
    assert!(!created.contains("\"error\""), "{created}");
    // logcatch event JSON with a level attribute (as a parsing filter would have added).
    let levels = ["info", "warn", "error"];
    let n = 300u64;
    for i in 0..n {
        let level = match i % 4 {
            3 => String::new(), // no level: routed to logs._
            k => format!("\"level\":\"{}\"", levels[k as usize]),
        };
        let event = format!(
            "{{\"message\":\"line {i}\",\"timestamp\":\"2026-01-01T00:00:00.000000Z\",\"source\":\"app\",\"offset\":{i},\"attributes\":{{{level}}}}}"
        );
        raw.publish("in.app", event.as_bytes());
    }
    raw.flush().unwrap();

    // The relay: nats (IN) → nats sink routing by level into LOGS.
    let relay = Scratch::new();
    let relay_cfg = relay.config(&format!(
        "\
data_dir: ./data
pipelines:
  relay:
    sources:
      - {{ type: nats, url: \"{url}\", stream: IN, consumer: relay }}
    sinks:
      - {{ type: nats, url: \"{url}\", stream: LOGS, subject: \"logs.{{attributes.level}}\" }}
",
        url = nats.url()
    ));
    let errors = Scratch::new();
    let errors_cfg = errors.config(&consumer_config(&nats, Some("logs.error")));
    let relay = relay.start(&relay_cfg);
    let consumer = errors.start(&errors_cfg);
    let out = errors.path("out.log");
    let want: Vec<u64> = (0..n).filter(|i| i % 4 == 2).collect();
    let done = wait_until(WAIT, || {
        let got = numbers(&out);
        want.iter().all(|w| got.contains(w))
    });
    assert!(
        done,
        "error lines missing\n{}\n{}",
        relay.log(),
        consumer.log()
    );
    // Everything the relay publishes is in LOGS before the relay acks its input: once IN is
    // fully acked, no other level can still arrive.
    let mut raw = RawNats::connect(nats.port).unwrap();
    assert!(
        wait_until(WAIT, || {
            let info = raw.request("$JS.API.CONSUMER.INFO.IN.relay", b"");
            info.contains("\"num_ack_pending\":0") && info.contains("\"num_pending\":0")
        }),
        "the relay did not ack its input\n{}",
        relay.log()
    );
    let logs = raw.request("$JS.API.STREAM.INFO.LOGS", br#"{"subjects_filter":">"}"#);
    for subject in ["logs.info", "logs.warn", "logs.error", "logs._"] {
        assert!(
            logs.contains(&format!("\"{subject}\":75")),
            "{subject}: {logs}"
        );
    }
    assert!(consumer.terminate().success());
    let got = numbers(&out);
    assert!(
        got.iter().all(|g| g % 4 == 2),
        "a line of another level reached the error consumer: {got:?}"
    );
    assert!(relay.terminate().success());
}

#[test]
fn bad_nats_configs_are_refused_with_their_place() {
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
    let sink = "pipelines:\n  p:\n    sources: [{type: stdin}]\n    sinks:\n      - type: nats\n        url: nats://127.0.0.1:4222\n";
    let err = validate(&format!("{sink}        subject: \"logs.{{level}}\"\n"));
    assert!(
        err.contains(
            "logcatch.yaml:7:9: pipelines.p.sinks[0].subject: unknown placeholder `{level}`"
        ),
        "{err}"
    );
    let err = validate(&format!(
        "{sink}        subject: logs\n        strem: LOGS\n"
    ));
    assert!(
        err.contains("logcatch.yaml:8:9: pipelines.p.sinks[0].strem: unknown field"),
        "{err}"
    );
    let source = "pipelines:\n  p:\n    sinks: [{type: stdout}]\n    sources:\n      - type: nats\n        url: nats://127.0.0.1:4222\n        stream: LOGS\n";
    let err = validate(&format!(
        "{source}        consumer: c\n        filter_subject: \"logs..x\"\n"
    ));
    assert!(
        err.contains("logcatch.yaml:9:9: pipelines.p.sources[0].filter_subject: `logs..x` is not a valid subject filter"),
        "{err}"
    );
    let err = validate(&format!("{source}        consumer: c\n        user: u\n"));
    assert!(
        err.contains("pipelines.p.sources[0].password: `user` needs a `password`"),
        "{err}"
    );
}

#[test]
fn a_batch_holding_the_same_event_twice_is_stored_once_and_acknowledged() {
    // JetStream drops the second by `Nats-Msg-Id` and acks it as a duplicate of the first;
    // the sink counted one ack short and retried forever ("no JetStream ack in time").
    // The `evil` test guest in `alias` mode returns every event twice, as a relay reading
    // a stream that already holds a duplicate would.
    let nats = NatsServer::start();
    let s = sides(&nats);
    append_lines(&s.agent.path("input.log"), 0..500);
    let doubled = agent_config(&nats).replace(
        "    sinks:\n",
        &format!(
            "    filters: [{{ wasm: {:?}, config: {{ mode: alias, n: 2 }} }}]\n    sinks:\n",
            common::guest("evil").display().to_string()
        ),
    );
    let cfg = s.agent.config(&doubled);
    let out = Command::new(bin())
        .args(["run", "--once", "-c"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = out;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = out.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = out.kill();
            let mut err = String::new();
            out.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("stuck retrying after 60 s:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let consumer = s.consumer.start(&s.consumer_cfg);
    let dups = wait_for_all(
        &s.consumer.path("out.log"),
        500,
        &[&consumer],
        "doubled events",
    );
    assert_eq!(dups, 0, "JetStream kept each event once");
    assert!(consumer.terminate().success());
}
