//! The tap through the real binary: `logcatch tap` against a running agent shows the events
//! at each point of a pipeline (DEBUG lines before `drop_debug`, none after it, each one
//! with its verdict around it), samples a pipeline at full speed without losing a line and
//! says what it skipped, and, like the page and its event stream, refuses to serve a
//! single event without the API token.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::http::{api_addr, request_with};
use common::{Daemon, Scratch, guest, lines, wait_until};
use serde_json::Value;

/// How long anything may take on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// A pipeline `p`: `in.log` → drop_debug → `out.log`, with the API on a free port.
fn config(s: &Scratch, api: &str) -> std::path::PathBuf {
    s.config(&format!(
        "\
data_dir: ./data
api: {api}
pipelines:
  p:
    sources: [{{ type: file, include: [in.log], start_at: beginning }}]
    filters:
      - {{ wasm: {:?}, config: {{ levels: [DEBUG] }} }}
    batch: {{ max_events: 64, linger: 5ms }}
    sinks: [{{ type: file, path: out.log }}]
",
        guest("drop_debug").display().to_string()
    ))
}

/// An agent running [`config`] on an empty `in.log`: the daemon, its API address, its config.
fn agent(s: &Scratch) -> (Daemon, String, std::path::PathBuf) {
    fs::write(s.path("in.log"), "").unwrap();
    let cfg = config(s, "{ listen: \"127.0.0.1:0\" }");
    let daemon = s.start(&cfg);
    let addr = api_addr(&daemon, PATIENCE);
    (daemon, addr, cfg)
}

/// The lines `reader` gives, as they come, on a channel.
fn follow(reader: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(reader)) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Appends numbered lines, every other one DEBUG, to `path` until `stop`.
fn keep_writing(path: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let mut n = 0u64;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        while !stop.load(Ordering::Relaxed) {
            let mut chunk = String::new();
            for _ in 0..20 {
                let level = if n % 2 == 1 { "DEBUG" } else { "INFO" };
                chunk.push_str(&format!("{level} line {n}\n"));
                n += 1;
            }
            f.write_all(chunk.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    })
}

/// Starts `logcatch tap ARGS --api http://ADDR` with `envs`, stdout and stderr piped.
fn spawn_tap(addr: &str, args: &[&str], envs: &[(&str, &str)]) -> std::process::Child {
    Command::new(common::bin())
        .arg("tap")
        .args(args)
        .args(["--api", &format!("http://{addr}")])
        .env_remove("LOGCATCH_API_TOKEN")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `logcatch tap ARGS --api http://ADDR` to its end: exit code, the JSON lines of stdout,
/// stderr.
fn tap(addr: &str, args: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let mut child = spawn_tap(addr, args, &[]);
    let done = wait_until(PATIENCE, || child.try_wait().unwrap().is_some());
    if !done {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(done, "logcatch tap {args:?} did not end: {stderr}");
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}")))
        .collect();
    (out.status.code(), events, stderr)
}

fn message(e: &Value) -> &str {
    e["message"].as_str().unwrap_or_default()
}

fn stop(daemon: Daemon) {
    let log = daemon.log_path.clone();
    let status = daemon.terminate();
    assert!(
        status.success(),
        "logcatch exited with {status:?}\n{}",
        fs::read_to_string(log).unwrap_or_default()
    );
}

#[test]
fn a_tap_shows_debug_lines_before_the_filter_none_after_and_each_verdict_around_it() {
    let s = Scratch::new();
    let (daemon, addr, _) = agent(&s);
    let writing = Arc::new(AtomicBool::new(false));
    let writer = keep_writing(&s.path("in.log"), writing.clone());

    let (code, before, err) = tap(&addr, &["p", "--at", "source", "--limit", "40"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("tapping pipeline `p` at source"), "{err}");
    assert!(err.contains("tap ended: limit reached"), "{err}");
    assert_eq!(before.len(), 40, "{err}");
    assert!(
        before.iter().any(|e| message(e).starts_with("DEBUG")),
        "{before:?}"
    );
    for e in &before {
        assert_eq!(e["at"], "source");
        assert!(e["source"].as_str().unwrap().ends_with("in.log"), "{e}");
        assert!(e["offset"].is_u64(), "{e}");
        assert!(e["timestamp"].is_string(), "{e}");
        assert!(e.get("verdict").is_none(), "{e}");
    }

    let (code, after, err) = tap(&addr, &["p", "--at", "sinks", "--limit", "40"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(after.len(), 40, "{err}");
    assert!(
        after.iter().all(|e| message(e).starts_with("INFO")),
        "{after:?}"
    );

    let (code, around, err) = tap(&addr, &["p", "--at", "filters[0]", "--limit", "40"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(around.len(), 40, "{err}");
    for e in &around {
        let want = if message(e).starts_with("DEBUG") {
            "dropped"
        } else {
            "kept"
        };
        assert_eq!(e["verdict"], want, "{e}");
    }

    let (code, debug, err) = tap(&addr, &["p", "--contains", "DEBUG", "--limit", "10"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(debug.len(), 10, "{err}");
    assert!(
        debug.iter().all(|e| message(e).starts_with("DEBUG")),
        "{debug:?}"
    );

    // Events are numbered in order within each tap: none is shown twice.
    let numbers: Vec<u64> = before
        .iter()
        .map(|e| message(e).rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");

    let (code, _, err) = tap(&addr, &["p", "--at", "filters[3]"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("no point `filters[3]`; points: source, filters[0], sinks"),
        "{err}"
    );
    let (code, _, err) = tap(&addr, &["nope"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no pipeline `nope`; pipelines: p"), "{err}");
    let (code, _, err) = tap(&addr, &["p", "--where", "level"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("KEY=VALUE"), "{err}");

    writing.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let kept = written.div_ceil(2) as usize;
    assert!(
        wait_until(PATIENCE, || lines(&s.path("out.log")).len() == kept),
        "the tapped pipeline delivered {} of {kept} lines",
        lines(&s.path("out.log")).len()
    );
    stop(daemon);
}

#[test]
fn a_tap_on_a_pipeline_at_full_speed_skips_events_says_so_and_loses_nothing() {
    const N: u64 = 200_000;
    let s = Scratch::new();
    let (daemon, addr, _) = agent(&s);
    let mut watcher = spawn_tap(&addr, &["p", "--at", "source"], &[]);
    // Its reader is slow on purpose (4 KiB every 10 ms); stderr is read as it comes.
    let mut stdout = watcher.stdout.take().unwrap();
    let slow = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut stdout, &mut buf) {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let stderr = watcher.stderr.take().unwrap();
    let (said_tx, said_rx) = std::sync::mpsc::channel();
    let said = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            let _ = said_tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    said_rx
        .recv_timeout(PATIENCE)
        .expect("the tap's header line");
    let text: String = (0..N)
        .map(|i| format!("{} line {i}\n", if i % 2 == 1 { "DEBUG" } else { "INFO" }))
        .collect();
    fs::write(s.path("in.log"), text).unwrap();
    let kept = (N / 2) as usize;
    assert!(
        wait_until(Duration::from_secs(120), || lines(&s.path("out.log")).len()
            == kept),
        "delivered {} of {kept} with a tap attached\n{}",
        lines(&s.path("out.log")).len(),
        daemon.log()
    );
    let out = lines(&s.path("out.log"));
    let expected: Vec<String> = (0..N)
        .step_by(2)
        .map(|i| format!("INFO line {i}"))
        .collect();
    assert!(out == expected, "the tapped pipeline delivered other lines");
    // A line more makes the tap report what it skipped (it reports with the next chunk).
    fs::OpenOptions::new()
        .append(true)
        .open(s.path("in.log"))
        .unwrap()
        .write_all(b"INFO last\n")
        .unwrap();
    assert!(wait_until(PATIENCE, || lines(&s.path("out.log")).len() == kept + 1));
    // The tap, far behind its pipeline, says what it skipped once it has caught up with
    // what was queued for it (its reader is slow): wait for that before stopping it.
    let start = std::time::Instant::now();
    while start.elapsed() < PATIENCE {
        match said_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.starts_with("… ") => break,
            _ => {}
        }
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    let rest = said.join().unwrap();
    assert!(rest.starts_with("tapping pipeline `p` at source"), "{rest}");
    let shown = String::from_utf8_lossy(&slow.join().unwrap())
        .lines()
        .count() as u64;
    let skipped: u64 = rest
        .lines()
        .filter_map(|l| l.strip_prefix("… "))
        .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(skipped > 0, "no skipped events reported: {rest}");
    assert!(shown > 0 && shown < N, "shown {shown}");
    assert!(
        shown + skipped <= N + 1,
        "shown {shown} + skipped {skipped} is more than went through"
    );
    stop(daemon);
}

#[test]
fn without_the_token_the_page_the_event_stream_and_the_tap_serve_no_event() {
    let token = "a-long-enough-console-token";
    let s = Scratch::new();
    fs::write(s.path("in.log"), "INFO secret-line 1\n").unwrap();
    let cfg = config(
        &s,
        "{ listen: \"127.0.0.1:0\", token: \"${LOGCATCH_TEST_API_TOKEN}\" }",
    );
    let daemon = s.start_with_env(&cfg, &[("LOGCATCH_TEST_API_TOKEN", token)]);
    let addr = api_addr(&daemon, PATIENCE);
    assert!(wait_until(PATIENCE, || lines(&s.path("out.log")).len() == 1));
    let html = [("Accept", "text/html,application/xhtml+xml")];
    for (path, headers) in [
        ("/", &html[..]),
        ("/", &[][..]),
        ("/events", &[][..]),
        ("/tap?pipeline=p&at=source", &[][..]),
        (
            "/tap?pipeline=p",
            &[("Authorization", "Bearer a-long-enough-console-tokeX")][..],
        ),
    ] {
        let r = request_with(&addr, "GET", path, headers, b"").unwrap();
        assert_eq!(r.status, 401, "{path} {headers:?}: {r:?}");
        assert!(!r.body.contains("secret-line"), "{path}: {r:?}");
        if path == "/" && !headers.is_empty() {
            // The page (no data in it) loads, to ask for the token.
            assert!(
                r.header("content-type").unwrap().starts_with("text/html"),
                "{r:?}"
            );
            assert!(
                r.body.contains("<html") || r.body.contains("<!doctype"),
                "{r:?}"
            );
        } else {
            assert!(
                r.header("content-type")
                    .unwrap()
                    .starts_with("application/json"),
                "{r:?}"
            );
            assert!(r.json()["error"].is_string(), "{r:?}");
            assert!(!r.body.contains("event:"), "{path}: {r:?}");
        }
    }
    let bearer = format!("Bearer {token}");
    let r = request_with(&addr, "GET", "/", &[("Authorization", &bearer)], b"").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-security-policy")
            .is_some_and(|p| p.contains("default-src 'none'") && p.contains("connect-src 'self'")),
        "{r:?}"
    );

    let (code, events, err) = tap(&addr, &["p", "--limit", "1"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(events.is_empty());
    assert!(err.contains("401") && err.contains("--token"), "{err}");

    // With the token, from the agent's own config file (-c), the tap works.
    let cfg_arg = cfg.display().to_string();
    let mut child = spawn_tap(
        &addr,
        &["p", "--limit", "1", "-c", &cfg_arg],
        &[("LOGCATCH_TEST_API_TOKEN", token)],
    );
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(s.path("in.log"))
        .unwrap();
    let tapped = wait_until(PATIENCE, || {
        f.write_all(b"INFO secret-line 2\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        child.try_wait().unwrap().is_some()
    });
    if !tapped {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        tapped && out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("secret-line 2"), "{text}");
    let log = daemon.log();
    assert!(!log.contains(token), "the token was logged");
    stop(daemon);
}

#[test]
fn a_tap_follows_its_pipeline_through_a_reload_that_restarts_it() {
    let s = Scratch::new();
    let (daemon, addr, cfg) = agent(&s);
    let mut watcher = spawn_tap(&addr, &["p", "--at", "sinks"], &[]);
    let line_rx = follow(watcher.stdout.take().unwrap());
    let said_rx = follow(watcher.stderr.take().unwrap());
    let said = said_rx.recv_timeout(PATIENCE).unwrap();
    assert!(said.starts_with("tapping pipeline `p` at sinks"), "{said}");
    let mut input = fs::OpenOptions::new()
        .append(true)
        .open(s.path("in.log"))
        .unwrap();
    input.write_all(b"INFO before 1\n").unwrap();
    let line = line_rx.recv_timeout(PATIENCE).unwrap();
    assert!(line.contains("INFO before 1"), "{line}");

    // A changed batch size restarts the pipeline: the tap says so and taps the new one.
    let changed = fs::read_to_string(&cfg)
        .unwrap()
        .replace("max_events: 64", "max_events: 32");
    let tmp = cfg.with_file_name(".logcatch.yaml.tmp");
    fs::write(&tmp, changed).unwrap();
    fs::rename(&tmp, &cfg).unwrap();
    let mut told = false;
    while let Ok(line) = said_rx.recv_timeout(PATIENCE) {
        if line.contains("restarted by a reload") {
            told = true;
            break;
        }
    }
    assert!(
        told,
        "the tap did not say the pipeline restarted\n{}",
        daemon.log()
    );
    let said = said_rx.recv_timeout(PATIENCE).unwrap();
    assert!(said.starts_with("tapping pipeline `p` at sinks"), "{said}");
    input.write_all(b"INFO after 2\n").unwrap();
    let line = line_rx.recv_timeout(PATIENCE).unwrap();
    assert!(line.contains("INFO after 2"), "{line}");
    let _ = watcher.kill();
    let _ = watcher.wait();
    stop(daemon);
}
