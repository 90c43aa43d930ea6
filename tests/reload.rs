//! Reload and hot swap through the real binary: config edits by rename (as editors save),
//! SIGHUP, refused edits, pipelines added, removed and added back, and a plugin file replaced
//! under a running pipeline. Lines are numbered, so every test ends with an exact audit of
//! what reached each sink; the admin API (`/pipelines`) shows what each reload did.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::http::{api_addr, field, get_json};
use common::{Daemon, Scratch, audit, guest, lines, numbers, repo, wait_until};
use serde_json::Value;

/// How long the daemon gets for anything (start, reload, delivery): a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// The tests run a daemon and writers each and some time what they see: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A thread appending `line(n)` for n = 0, 1, ... to a file every `every`, one `write(2)`
/// per line, until stopped; `stop` returns how many lines it wrote.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Writer {
    fn start(
        path: PathBuf,
        every: Duration,
        line: impl Fn(u64) -> String + Send + 'static,
    ) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap();
            let mut n = 0;
            while !stopping.load(Ordering::Relaxed) {
                f.write_all(line(n).as_bytes()).unwrap();
                n += 1;
                thread::sleep(every);
            }
            n
        });
        Writer {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the writer; the number of lines written.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `"{prefix} {n}\n"`: numbered lines for `audit`.
fn numbered(prefix: &'static str) -> impl Fn(u64) -> String + Send + 'static {
    move |n| format!("{prefix} line {n}\n")
}

/// Follows a file every millisecond and records when new lines arrive: (time, lines so far).
struct Arrivals {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<(Instant, u64)>>>,
}

impl Arrivals {
    fn watch(path: PathBuf) -> Arrivals {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            let mut seen = Vec::new();
            let mut file = None;
            let mut total = 0u64;
            let mut buf = vec![0u8; 1 << 16];
            while !stopping.load(Ordering::Relaxed) {
                if file.is_none() {
                    file = fs::File::open(&path).ok();
                }
                if let Some(f) = file.as_mut() {
                    let mut new = 0;
                    loop {
                        let n = f.read(&mut buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        new += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                    }
                    if new > 0 {
                        total += new;
                        seen.push((Instant::now(), total));
                    }
                }
                thread::sleep(Duration::from_millis(1));
            }
            seen
        });
        Arrivals {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Vec<(Instant, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Arrivals {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The longest time between two consecutive arrivals within `from..=to` (the gap that
/// contains `from` counts from the arrival before it).
fn longest_gap(arrivals: &[(Instant, u64)], from: Instant, to: Instant) -> Duration {
    arrivals
        .windows(2)
        .filter(|w| w[1].0 >= from && w[0].0 <= to)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default()
}

/// Replaces `path` with `contents` as editors save: write a temp file next to it, rename it
/// over.
fn replace(path: &Path, contents: &[u8]) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_string_lossy()
    ));
    fs::write(&tmp, contents).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// The `pipeline=` of every log line with message `msg` (`pipeline added`, ...), in order.
fn pipeline_events(log: &str, msg: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(msg))
        .filter_map(|l| field(l, "pipeline"))
        .collect()
}

/// What a running daemon logged so far.
trait Logs {
    fn log(&self) -> String;
}

impl Logs for Daemon {
    fn log(&self) -> String {
        Daemon::log(self)
    }
}

/// How many `msg` lines name `pipeline`.
fn count_events(daemon: &impl Logs, msg: &str, pipeline: &str) -> usize {
    pipeline_events(&daemon.log(), msg)
        .iter()
        .filter(|p| *p == pipeline)
        .count()
}

/// Waits until `cond` holds, else panics with `what` and the daemon's log.
fn wait_for(daemon: &impl Logs, what: &str, cond: impl FnMut() -> bool) {
    let start = Instant::now();
    assert!(
        wait_until(PATIENCE, cond),
        "timed out after {:?} waiting for {what}\n--- daemon log ---\n{}",
        start.elapsed(),
        daemon.log()
    );
}

/// Waits until `path` holds every number in `0..n` (it may hold more).
fn wait_delivered(daemon: &impl Logs, path: &Path, n: u64) {
    wait_for(
        daemon,
        &format!("all {n} lines in {}", path.display()),
        || audit(&numbers(path), n).0.is_empty(),
    );
}

/// `GET /pipelines`.
fn pipelines(addr: &str) -> Value {
    get_json(addr, "/pipelines")
}

/// The names in a JSON array of strings, sorted.
fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

/// Asserts the log holds `msg` lines for `pipeline`, exactly `n` of them.
fn assert_events(daemon: &impl Logs, msg: &str, pipeline: &str, n: usize) {
    let got = count_events(daemon, msg, pipeline);
    assert_eq!(
        got,
        n,
        "expected {n} `{msg}` lines for pipeline={pipeline}, found {got}\n--- daemon log ---\n{}",
        daemon.log()
    );
}

/// The common head of every config here: checkpoints every 100 ms, the API on a free port.
const HEAD: &str = "\
data_dir: ./data
checkpoint: { interval: 100ms }
shutdown_timeout: 20s
api: { listen: \"127.0.0.1:0\" }
pipelines:
";

/// A pipeline tailing `input` (from its beginning) into file `output`, with `extra` lines
/// (indented 4) inside it.
fn pipeline(name: &str, input: &str, output: &str, extra: &str) -> String {
    format!(
        "  {name}:
    sources:
      - {{ type: file, include: [\"{input}\"], start_at: beginning, rescan_interval: 100ms }}
{extra}    sinks:
      - {{ type: file, path: {output} }}
"
    )
}

/// Starts the daemon on `cfg`, waits for its API and for every pipeline in `expect` to be
/// added; returns the daemon and the API's address.
fn start(s: &Scratch, cfg: &Path, expect: &[&str]) -> (Daemon, String) {
    let daemon = s.start(cfg);
    let addr = api_addr(&daemon, PATIENCE);
    for p in expect {
        wait_for(&daemon, &format!("`pipeline added` for {p}"), || {
            count_events(&daemon, "pipeline added", p) == 1
        });
    }
    (daemon, addr)
}

/// Stops the daemon with SIGTERM and asserts it exited 0.
fn terminate(daemon: Daemon) {
    let log = daemon.log_path.clone();
    let status = daemon.terminate();
    assert!(
        status.success(),
        "logcatch exited with {status:?}\n{}",
        fs::read_to_string(log).unwrap_or_default()
    );
}

/// Asserts `path` holds every number in `0..n` exactly once.
fn assert_exactly_once(path: &Path, n: u64, what: &str) {
    let nums = numbers(path);
    let (missing, dups) = audit(&nums, n);
    assert!(
        missing.is_empty() && dups == 0,
        "{what}: {} of {n} lines missing (first: {:?}), {dups} duplicated ({} lines in {})",
        missing.len(),
        &missing[..missing.len().min(20)],
        nums.len(),
        path.display()
    );
    assert_eq!(nums.len() as u64, n, "{what}: unexpected extra lines");
}

/// 1. Two pipelines flow; pipeline a is edited (its batch linger) by renaming a new config
///    over the old one: a is reported changed and restarted, b unchanged and untouched (same
///    `started_at` and `restarts`, its output never pauses for long), and neither loses a
///    line.
#[test]
fn editing_one_pipeline_restarts_it_and_leaves_the_other_flowing() {
    let _serial = serial();
    let s = Scratch::new();
    let config = |linger: &str| {
        format!(
            "{HEAD}{}{}",
            pipeline(
                "a",
                "a.log",
                "a-out.log",
                &format!("    batch: {{ linger: {linger} }}\n")
            ),
            pipeline("b", "b.log", "b-out.log", "")
        )
    };
    let cfg = s.config(&config("5ms"));
    let wa = Writer::start(s.path("a.log"), Duration::from_millis(2), numbered("a"));
    let wb = Writer::start(s.path("b.log"), Duration::from_millis(2), numbered("b"));
    let arrivals = Arrivals::watch(s.path("b-out.log"));
    let started = Instant::now();
    let (daemon, addr) = start(&s, &cfg, &["a", "b"]);
    wait_for(&daemon, "both pipelines delivering", || {
        lines(&s.path("a-out.log")).len() >= 200 && lines(&s.path("b-out.log")).len() >= 200
    });
    // started_at must be able to differ (whatever its resolution).
    wait_until(Duration::from_secs(5), || {
        started.elapsed() > Duration::from_millis(1500)
    });
    let before = pipelines(&addr);
    assert!(before["last_reload"].is_null(), "{before:#}");
    assert_eq!(before["reloads"]["applied"], 0, "{before:#}");

    let edited = Instant::now();
    replace(&cfg, config("7ms").as_bytes());
    wait_for(&daemon, "`pipeline changed` for a", || {
        count_events(&daemon, "pipeline changed", "a") == 1
    });
    let changed = Instant::now();
    let a_then = lines(&s.path("a-out.log")).len();
    // A window of at least a second after the change to watch b through, and a flowing again.
    wait_for(&daemon, "a delivering after its restart", || {
        lines(&s.path("a-out.log")).len() >= a_then + 100
            && changed.elapsed() > Duration::from_secs(1)
    });
    let after = pipelines(&addr);
    let window_end = Instant::now();

    let last = &after["last_reload"];
    assert_eq!(last["ok"], true, "{after:#}");
    assert_eq!(last["trigger"], "file", "{after:#}");
    assert!(last["error"].is_null(), "{after:#}");
    assert_eq!(names(&last["changed"]), ["a"], "{after:#}");
    assert_eq!(names(&last["unchanged"]), ["b"], "{after:#}");
    assert!(names(&last["added"]).is_empty(), "{after:#}");
    assert!(names(&last["removed"]).is_empty(), "{after:#}");
    assert_eq!(after["reloads"]["applied"], 1, "{after:#}");
    assert_eq!(after["reloads"]["refused"], 0, "{after:#}");
    let (pa0, pa1) = (&before["pipelines"]["a"], &after["pipelines"]["a"]);
    let (pb0, pb1) = (&before["pipelines"]["b"], &after["pipelines"]["b"]);
    assert_ne!(pa0["started_at"], pa1["started_at"], "a was not restarted");
    assert_eq!(pa1["state"], "running", "{after:#}");
    assert_eq!(pb0["started_at"], pb1["started_at"], "b was restarted");
    assert_eq!(pb0["restarts"], pb1["restarts"], "b's components restarted");
    assert_eq!(pb1["state"], "running", "{after:#}");
    assert_events(&daemon, "pipeline unchanged", "b", 1);
    assert_events(&daemon, "pipeline changed", "b", 0);
    assert_events(&daemon, "pipeline removed", "a", 0);

    // b never paused for long while a was reloaded.
    let b_arrivals = arrivals.stop();
    let normal = longest_gap(&b_arrivals, started + Duration::from_secs(1), edited);
    let during = longest_gap(&b_arrivals, edited, window_end);
    println!(
        "b's longest output gap: {during:?} during the reload (edit → change logged in {:?}), {normal:?} before it",
        changed - edited
    );
    assert!(
        during < Duration::from_secs(1),
        "b's output paused {during:?} during a's reload (before it: {normal:?})"
    );

    let (na, nb) = (wa.stop(), wb.stop());
    wait_delivered(&daemon, &s.path("a-out.log"), na);
    wait_delivered(&daemon, &s.path("b-out.log"), nb);
    terminate(daemon);
    assert_exactly_once(&s.path("a-out.log"), na, "a (changed)");
    assert_exactly_once(&s.path("b-out.log"), nb, "b (unchanged)");
}

/// Appends lines `from..to` (`c line N`) to `path`.
fn append_lines(path: &Path, from: u64, to: u64) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let text: String = (from..to).map(|n| format!("c line {n}\n")).collect();
    f.write_all(text.as_bytes()).unwrap();
}

/// 2. Pipeline c is added while running (it starts and delivers), removed (its checkpoints
///    stay), lines are appended while it is gone, and it is added back: it resumes from its
///    checkpoints, so every line reaches its sink exactly once. Pipeline a is never touched.
#[test]
fn a_removed_pipeline_added_back_resumes_from_its_checkpoints() {
    let _serial = serial();
    let s = Scratch::new();
    fs::write(s.path("a.log"), "a line 0\na line 1\n").unwrap();
    let only_a = format!("{HEAD}{}", pipeline("a", "a.log", "a-out.log", ""));
    let with_c = format!("{only_a}{}", pipeline("c", "c.log", "c-out.log", ""));
    let cfg = s.config(&only_a);
    let (daemon, addr) = start(&s, &cfg, &["a"]);
    wait_delivered(&daemon, &s.path("a-out.log"), 2);
    let a_started = pipelines(&addr)["pipelines"]["a"]["started_at"].clone();

    // Added: it starts and delivers what is in its file, then what is appended.
    append_lines(&s.path("c.log"), 0, 200);
    replace(&cfg, with_c.as_bytes());
    wait_for(&daemon, "`pipeline added` for c", || {
        count_events(&daemon, "pipeline added", "c") == 1
    });
    wait_delivered(&daemon, &s.path("c-out.log"), 200);
    append_lines(&s.path("c.log"), 200, 300);
    wait_delivered(&daemon, &s.path("c-out.log"), 300);
    let doc = pipelines(&addr);
    assert_eq!(names(&doc["last_reload"]["added"]), ["c"], "{doc:#}");
    assert_eq!(names(&doc["last_reload"]["unchanged"]), ["a"], "{doc:#}");
    assert_eq!(doc["pipelines"]["c"]["state"], "running", "{doc:#}");

    // Removed: drained and stopped, its checkpoints kept.
    replace(&cfg, only_a.as_bytes());
    wait_for(&daemon, "`pipeline removed` for c", || {
        count_events(&daemon, "pipeline removed", "c") == 1
    });
    wait_for(&daemon, "c gone from /pipelines", || {
        pipelines(&addr)["pipelines"].get("c").is_none()
    });
    let doc = pipelines(&addr);
    assert_eq!(names(&doc["last_reload"]["removed"]), ["c"], "{doc:#}");
    assert_eq!(names(&doc["last_reload"]["unchanged"]), ["a"], "{doc:#}");
    assert!(
        common::checkpoint_file(&s.path("data"), "c").is_some_and(|p| p.is_file()),
        "the removed pipeline's checkpoints are gone: {:?}",
        fs::read_dir(s.path("data/checkpoints"))
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
    );
    let delivered = lines(&s.path("c-out.log")).len();
    assert_eq!(delivered, 300, "c delivered more or less than its input");

    // Lines appended while c is gone wait for it.
    append_lines(&s.path("c.log"), 300, 500);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(
        lines(&s.path("c-out.log")).len(),
        300,
        "a removed pipeline still delivers"
    );

    // Added back: resumes from its checkpoints, no line read twice, none lost.
    replace(&cfg, with_c.as_bytes());
    wait_for(&daemon, "`pipeline added` for c, again", || {
        count_events(&daemon, "pipeline added", "c") == 2
    });
    wait_delivered(&daemon, &s.path("c-out.log"), 500);
    append_lines(&s.path("c.log"), 500, 600);
    wait_delivered(&daemon, &s.path("c-out.log"), 600);

    let doc = pipelines(&addr);
    assert_eq!(
        doc["pipelines"]["a"]["started_at"], a_started,
        "a was restarted: {doc:#}"
    );
    assert_eq!(doc["reloads"]["applied"], 3, "{doc:#}");
    assert_events(&daemon, "pipeline unchanged", "a", 3);
    assert_events(&daemon, "pipeline changed", "a", 0);
    terminate(daemon);
    assert_exactly_once(&s.path("c-out.log"), 600, "c (added, removed, added back)");
    assert_exactly_once(&s.path("a-out.log"), 2, "a");
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in\n{text}"))
        + 1
}

/// Whether a log line starts a new record (a timestamp such as `2026-11-25T10:49:03.25Z`),
/// rather than continuing a multi-line message.
fn starts_record(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[10] == b'T'
}

/// 3. Invalid edits while lines flow (bad YAML, an unknown field, a `.wasm` that is not a
///    component, a missing `.wasm`): each is refused, logged and shown in `/pipelines` with
///    an error naming the file and line; the running config keeps delivering, untouched.
///    Then a valid edit is applied.
#[test]
fn invalid_edits_are_refused_and_the_running_config_keeps_delivering() {
    let _serial = serial();
    let s = Scratch::new();
    let good = format!("{HEAD}{}", pipeline("p", "in.log", "out.log", ""));
    let cfg = s.config(&good);
    fs::write(s.path("notwasm.wasm"), "this is not WebAssembly\n").unwrap();
    let writer = Writer::start(s.path("in.log"), Duration::from_millis(2), numbered("p"));
    let (daemon, addr) = start(&s, &cfg, &["p"]);
    wait_for(&daemon, "p delivering", || {
        lines(&s.path("out.log")).len() >= 100
    });
    let p_started = pipelines(&addr)["pipelines"]["p"]["started_at"].clone();

    let bad_yaml = good.replace(
        "      - { type: file, path: out.log }",
        "      - { type: file, path: out.log",
    );
    let unknown = good.replace(
        "    sinks:",
        "    batch: { linger: 5ms, lingr: 3ms }\n    sinks:",
    );
    let not_component = good.replace(
        "    sinks:",
        "    filters:\n      - wasm: notwasm.wasm\n    sinks:",
    );
    let missing = good.replace(
        "    sinks:",
        "    filters:\n      - wasm: missing.wasm\n    sinks:",
    );
    let cases: [(&str, &str, Option<usize>, &[&str]); 4] = [
        ("bad YAML", &bad_yaml, None, &[]),
        (
            "unknown field",
            &unknown,
            Some(line_of(&unknown, "lingr")),
            &["pipelines.p.batch.lingr", "unknown field"],
        ),
        (
            "not a component",
            &not_component,
            Some(line_of(&not_component, "notwasm.wasm")),
            &["pipelines.p.filters[0].wasm", "notwasm.wasm"],
        ),
        (
            "missing .wasm",
            &missing,
            Some(line_of(&missing, "missing.wasm")),
            &["pipelines.p.filters[0].wasm", "missing.wasm"],
        ),
    ];
    for (i, (what, text, line, fragments)) in cases.iter().enumerate() {
        let refused_before = daemon.log().matches("reload refused").count();
        replace(&cfg, text.as_bytes());
        wait_for(
            &daemon,
            &format!("`reload refused` for the {what} edit"),
            || daemon.log().matches("reload refused").count() > refused_before,
        );
        wait_for(
            &daemon,
            &format!("/pipelines to show the {what} refusal"),
            || pipelines(&addr)["reloads"]["refused"] == i as u64 + 1,
        );
        let doc = pipelines(&addr);
        let last = &doc["last_reload"];
        assert_eq!(last["ok"], false, "{what}: {doc:#}");
        assert_eq!(last["trigger"], "file", "{what}: {doc:#}");
        let error = last["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no error: {doc:#}"));
        // file:line:column: field: message
        let at = error
            .find("logcatch.yaml:")
            .unwrap_or_else(|| panic!("{what}: the error does not name the config: {error}"));
        let mut pos = error[at + "logcatch.yaml:".len()..].split(':');
        let (l, c) = (
            pos.next().unwrap_or_default(),
            pos.next().unwrap_or_default(),
        );
        assert!(
            l.parse::<usize>().is_ok() && c.parse::<usize>().is_ok(),
            "{what}: no line:column after the file name: {error}"
        );
        if let Some(line) = line {
            assert_eq!(l, line.to_string(), "{what}: wrong line: {error}");
        }
        for f in fragments.iter() {
            assert!(error.contains(f), "{what}: {f:?} not in the error: {error}");
        }
        // The last `reload refused` record, with its continuation lines (the error may be
        // on the lines after the message).
        let log = daemon.log();
        let at = log.rfind("reload refused").unwrap();
        let logged: String = log[at..]
            .lines()
            .enumerate()
            .take_while(|(i, l)| *i == 0 || !starts_record(l))
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        assert!(
            logged.contains("logcatch.yaml:") && fragments.iter().all(|f| logged.contains(f)),
            "{what}: the logged refusal does not show the error: {logged}"
        );
        // Nothing changed: p runs as before and keeps delivering.
        let p = &doc["pipelines"]["p"];
        assert_eq!(p["started_at"], p_started, "{what}: p was restarted");
        assert_eq!(p["state"], "running", "{what}: {doc:#}");
        assert_eq!(doc["reloads"]["applied"], 0, "{what}: {doc:#}");
        let n = lines(&s.path("out.log")).len();
        wait_for(
            &daemon,
            &format!("p delivering after the {what} edit"),
            || lines(&s.path("out.log")).len() >= n + 100,
        );
    }
    assert_eq!(daemon.log().matches("reload refused").count(), 4);
    assert_events(&daemon, "pipeline changed", "p", 0);

    // A valid edit now: a second sink.
    let valid = good.replace(
        "      - { type: file, path: out.log }",
        "      - { type: file, path: out.log }\n      - { type: file, path: out2.log }",
    );
    replace(&cfg, valid.as_bytes());
    wait_for(&daemon, "`pipeline changed` for p", || {
        count_events(&daemon, "pipeline changed", "p") == 1
    });
    wait_for(&daemon, "the new sink delivering", || {
        lines(&s.path("out2.log")).len() >= 100
    });
    let doc = pipelines(&addr);
    let last = &doc["last_reload"];
    assert_eq!(last["ok"], true, "{doc:#}");
    assert!(last["error"].is_null(), "{doc:#}");
    assert_eq!(names(&last["changed"]), ["p"], "{doc:#}");
    assert_eq!(doc["reloads"]["applied"], 1, "{doc:#}");
    assert_eq!(doc["reloads"]["refused"], 4, "{doc:#}");
    assert_ne!(doc["pipelines"]["p"]["started_at"], p_started);

    let n = writer.stop();
    wait_delivered(&daemon, &s.path("out.log"), n);
    terminate(daemon);
    assert_exactly_once(&s.path("out.log"), n, "p");
}

/// 4. SIGHUP reloads: first with nothing changed (every pipeline unchanged, trigger
///    `SIGHUP`), then after an edit of the config file in place.
#[test]
fn sighup_reloads_the_config() {
    let _serial = serial();
    let s = Scratch::new();
    let v1 = format!("{HEAD}{}", pipeline("p", "in.log", "out.log", ""));
    let cfg = s.config(&v1);
    let writer = Writer::start(s.path("in.log"), Duration::from_millis(2), numbered("p"));
    let (daemon, addr) = start(&s, &cfg, &["p"]);
    wait_for(&daemon, "p delivering", || {
        lines(&s.path("out.log")).len() >= 100
    });
    let p_started = pipelines(&addr)["pipelines"]["p"]["started_at"].clone();

    // Nothing changed: a reload that touches nothing.
    unsafe { libc::kill(daemon.pid(), libc::SIGHUP) };
    wait_for(&daemon, "a SIGHUP reload in /pipelines", || {
        pipelines(&addr)["last_reload"]["trigger"] == "SIGHUP"
    });
    let doc = pipelines(&addr);
    let last = &doc["last_reload"];
    assert_eq!(last["ok"], true, "{doc:#}");
    assert_eq!(names(&last["unchanged"]), ["p"], "{doc:#}");
    assert!(names(&last["changed"]).is_empty(), "{doc:#}");
    assert_eq!(doc["reloads"]["applied"], 1, "{doc:#}");
    assert_eq!(doc["pipelines"]["p"]["started_at"], p_started, "{doc:#}");

    // Edited in place (no rename), then SIGHUP: the second sink appears.
    let v2 = v1.replace(
        "      - { type: file, path: out.log }",
        "      - { type: file, path: out.log }\n      - { type: file, path: out2.log }",
    );
    fs::write(&cfg, &v2).unwrap();
    unsafe { libc::kill(daemon.pid(), libc::SIGHUP) };
    // The file watcher may see the in-place write too (a second, empty reload ~200 ms
    // later), so watch /pipelines closely for the SIGHUP reload that changed p.
    let mut sighup_changed_p = false;
    wait_for(&daemon, "the second sink delivering", || {
        let doc = pipelines(&addr);
        let last = &doc["last_reload"];
        if last["trigger"] == "SIGHUP" && last["changed"] == serde_json::json!(["p"]) {
            sighup_changed_p = true;
        }
        lines(&s.path("out2.log")).len() >= 100
    });
    assert!(daemon.log().contains("pipeline changed"));
    assert_events(&daemon, "pipeline changed", "p", 1);
    let doc = pipelines(&addr);
    assert_eq!(doc["reloads"]["refused"], 0, "{doc:#}");
    assert!(doc["reloads"]["applied"].as_u64().unwrap() >= 2, "{doc:#}");
    assert_ne!(doc["pipelines"]["p"]["started_at"], p_started);
    println!(
        "in-place edit + SIGHUP: the SIGHUP reload {} seen changing p in /pipelines (reloads: {})",
        if sighup_changed_p { "was" } else { "was not" },
        doc["reloads"]
    );

    let n = writer.stop();
    wait_delivered(&daemon, &s.path("out.log"), n);
    terminate(daemon);
    assert_exactly_once(&s.path("out.log"), n, "p");
}

/// The drop_debug example plugin (built by `scripts/build-guests`, as `guest` builds the
/// test guests).
fn drop_debug() -> PathBuf {
    guest("noop"); // runs scripts/build-guests once, which builds the examples too
    let p = repo().join("target/guests/wasm32-wasip2/release/drop_debug.wasm");
    assert!(p.exists(), "{} was not built", p.display());
    p
}

/// 5. A running pipeline's plugin file is replaced (temp file + rename): the new plugin is
///    swapped in at a batch boundary without restarting the pipeline. noop → drop_debug: from
///    one line on, DEBUG lines stop; nothing else is lost. Then garbage: the swap fails, is
///    reported, and drop_debug keeps running.
#[test]
fn a_replaced_plugin_is_swapped_in_without_restarting_the_pipeline() {
    let _serial = serial();
    let s = Scratch::new();
    let plugin = s.path("filter.wasm");
    fs::copy(guest("noop"), &plugin).unwrap();
    let dd = fs::read(drop_debug()).unwrap();
    let cfg = s.config(&format!(
        "{HEAD}{}",
        pipeline(
            "p",
            "in.log",
            "out.log",
            "    filters:\n      - { wasm: filter.wasm, config: { levels: [DEBUG] } }\n"
        )
    ));
    // Odd lines are DEBUG.
    let writer = Writer::start(s.path("in.log"), Duration::from_millis(2), |n| {
        let level = if n % 2 == 1 { "DEBUG" } else { "INFO" };
        format!("2026-11-25T08:00:00Z {level} request line {n}\n")
    });
    let (daemon, addr) = start(&s, &cfg, &["p"]);
    let odd = |path: &Path| numbers(path).into_iter().filter(|n| n % 2 == 1).count();
    wait_for(&daemon, "DEBUG lines through noop", || {
        odd(&s.path("out.log")) >= 50
    });
    let before = pipelines(&addr);
    let p0 = before["pipelines"]["p"].clone();
    assert_eq!(before["plugin_swaps"]["applied"], 0, "{before:#}");

    // noop → drop_debug.
    replace(&plugin, &dd);
    wait_for(&daemon, "plugin_swaps.applied = 1", || {
        pipelines(&addr)["plugin_swaps"]["applied"] == 1
    });
    let n = numbers(&s.path("out.log")).into_iter().max().unwrap_or(0);
    wait_for(&daemon, "300 more lines after the swap", || {
        numbers(&s.path("out.log"))
            .into_iter()
            .any(|m| m >= n + 300)
    });
    let after = pipelines(&addr);
    let p1 = &after["pipelines"]["p"];
    assert_eq!(
        p1["started_at"], p0["started_at"],
        "the pipeline was rebuilt"
    );
    assert_eq!(p1["restarts"], p0["restarts"], "{after:#}");
    assert_eq!(after["plugin_swaps"]["failed"], 0, "{after:#}");
    assert_eq!(
        after["reloads"]["applied"], 0,
        "a swap is not a reload: {after:#}"
    );
    assert!(p1["last_error"].is_null(), "{after:#}");
    // The switch is at one point: every DEBUG line before the first dropped one, none after.
    let check_switch = |what: &str| -> u64 {
        let nums = numbers(&s.path("out.log"));
        let max = nums.iter().copied().max().unwrap();
        let (missing, dups) = audit(&nums, max + 1);
        assert_eq!(dups, 0, "{what}: duplicated lines");
        let first_dropped = *missing
            .first()
            .unwrap_or_else(|| panic!("{what}: no DEBUG line was dropped after the swap"));
        assert!(
            first_dropped % 2 == 1,
            "{what}: a non-DEBUG line is missing: {first_dropped}"
        );
        let late_debug: Vec<u64> = nums
            .iter()
            .copied()
            .filter(|&m| m % 2 == 1 && m > first_dropped)
            .collect();
        assert!(
            late_debug.is_empty(),
            "{what}: DEBUG lines after the first dropped one ({first_dropped}): {:?}",
            &late_debug[..late_debug.len().min(20)]
        );
        let lost: Vec<u64> = missing.iter().copied().filter(|m| m % 2 == 0).collect();
        assert!(lost.is_empty(), "{what}: non-DEBUG lines lost: {lost:?}");
        first_dropped
    };
    let switch = check_switch("after the swap");
    println!("drop_debug took over at line {switch}");

    // Garbage: the swap fails, drop_debug keeps running.
    let failed_logs = daemon.log().matches("plugin swap failed").count();
    replace(&plugin, b"\0asm garbage, not a component at all");
    wait_for(&daemon, "plugin_swaps.failed = 1", || {
        pipelines(&addr)["plugin_swaps"]["failed"] == 1
    });
    wait_for(&daemon, "`plugin swap failed` in the log", || {
        daemon.log().matches("plugin swap failed").count() > failed_logs
    });
    let doc = pipelines(&addr);
    let p2 = &doc["pipelines"]["p"];
    let error = p2["last_error"]
        .as_str()
        .unwrap_or_else(|| panic!("no last_error after a failed swap: {doc:#}"));
    assert!(error.contains("filter.wasm"), "last_error: {error}");
    assert_eq!(doc["plugin_swaps"]["applied"], 1, "{doc:#}");
    assert_eq!(
        p2["started_at"], p0["started_at"],
        "the pipeline was rebuilt"
    );
    assert_eq!(p2["state"], "running", "{doc:#}");
    let n = numbers(&s.path("out.log")).into_iter().max().unwrap_or(0);
    wait_for(&daemon, "300 more lines after the failed swap", || {
        numbers(&s.path("out.log"))
            .into_iter()
            .any(|m| m >= n + 300)
    });

    let written = writer.stop();
    let last_even = (written - 1) / 2 * 2;
    wait_for(&daemon, "the last INFO line delivered", || {
        numbers(&s.path("out.log")).contains(&last_even)
    });
    terminate(daemon);
    assert_eq!(check_switch("at the end"), switch);
    let nums = numbers(&s.path("out.log"));
    let evens = nums.iter().filter(|n| *n % 2 == 0).count() as u64;
    assert_eq!(evens, written.div_ceil(2), "INFO lines lost or duplicated");
}

/// A daemon started from its config's directory with a relative `-c` (as in the README:
/// `logcatch run -c logcatch.yaml`); killed if still running when dropped.
struct Relative {
    child: Option<std::process::Child>,
    log_path: PathBuf,
}

impl Logs for Relative {
    fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Relative {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// 6. Reloads work when the daemon was started with a relative config path from the
///    config's directory: a SIGHUP with nothing changed touches nothing (it is not refused
///    for a `data_dir` that only looks different), and an edit by rename is applied.
#[test]
fn reloads_work_with_a_relative_config_path() {
    let _serial = serial();
    let s = Scratch::new();
    let v1 = format!("{HEAD}{}", pipeline("p", "in.log", "out.log", ""));
    s.config(&v1);
    let writer = Writer::start(s.path("in.log"), Duration::from_millis(2), numbered("p"));
    let log_path = s.path("daemon-relative.log");
    let child = std::process::Command::new(common::bin())
        .current_dir(s.dir.path())
        .args(["run", "-c", "logcatch.yaml"])
        .env("LOGCATCH_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut daemon = Relative {
        child: Some(child),
        log_path,
    };
    let mut addr = None;
    wait_for(&daemon, "the admin API", || {
        addr = daemon
            .log()
            .lines()
            .filter(|l| l.contains("admin API listening"))
            .find_map(|l| field(l, "addr"));
        addr.is_some()
    });
    let addr = addr.unwrap();
    wait_for(&daemon, "p delivering", || {
        lines(&s.path("out.log")).len() >= 100
    });
    let pid = daemon.child.as_ref().unwrap().id() as i32;
    let p_started = pipelines(&addr)["pipelines"]["p"]["started_at"].clone();

    unsafe { libc::kill(pid, libc::SIGHUP) };
    wait_for(&daemon, "the SIGHUP reload in /pipelines", || {
        pipelines(&addr)["last_reload"]["trigger"] == "SIGHUP"
    });
    let doc = pipelines(&addr);
    assert_eq!(
        doc["last_reload"]["ok"], true,
        "a SIGHUP with nothing changed was refused: {doc:#}"
    );
    assert_eq!(names(&doc["last_reload"]["unchanged"]), ["p"], "{doc:#}");
    assert_eq!(doc["pipelines"]["p"]["started_at"], p_started, "{doc:#}");

    let v2 = v1.replace(
        "      - { type: file, path: out.log }",
        "      - { type: file, path: out.log }\n      - { type: file, path: out2.log }",
    );
    replace(&s.path("logcatch.yaml"), v2.as_bytes());
    wait_for(&daemon, "the new sink delivering", || {
        lines(&s.path("out2.log")).len() >= 100
    });
    assert_events(&daemon, "pipeline changed", "p", 1);

    let n = writer.stop();
    wait_delivered(&daemon, &s.path("out.log"), n);
    let mut child = daemon.child.take().unwrap();
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    assert_exactly_once(&s.path("out.log"), n, "p");
}

#[test]
fn a_long_reload_drain_leaves_the_daemon_in_control() {
    // The changed pipeline was drained inline: a SIGTERM during the drain was acted on only
    // after it timed out, and a second signal could not cut it short.
    let server = common::server::Server::start(|_, _| (503, vec![], "busy"));
    let s = Scratch::new();
    fs::write(s.path("in.log"), "a line\n").unwrap();
    let url = format!("http://{}/ingest", server.addr);
    let yaml = |rescan: &str| {
        format!(
            "data_dir: ./data\nshutdown_timeout: 20s\napi: {{ listen: \"127.0.0.1:0\" }}\npipelines:\n  p:\n    sources: [{{ type: file, include: [in.log], rescan_interval: {rescan} }}]\n    sinks:\n      - {{ type: http, url: \"{url}\", retry_initial_backoff: 50ms, retry_max_backoff: 200ms }}\n"
        )
    };
    let cfg = s.config(&yaml("1s"));
    let daemon = s.start(&cfg);
    let addr = api_addr(&daemon, Duration::from_secs(20));
    assert!(wait_until(Duration::from_secs(20), || server
        .requests()
        .len()
        >= 2));
    // Change the pipeline: its drain will last (the sink never gets its batch through).
    fs::write(&cfg, yaml("2s")).unwrap();
    let started = Instant::now();
    let r = common::http::request(&addr, "POST", "/reload", b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    // The daemon still answers: another reload, at once.
    let r = common::http::request(&addr, "POST", "/reload", b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "reloads waited {:?}",
        started.elapsed()
    );
    let doc = get_json(&addr, "/pipelines");
    assert_eq!(doc["pipelines"]["p"]["state"], "stopping", "{doc}");
    // SIGTERM, then a second one: out at once, not after the drain's 20 s.
    let pid = daemon.pid();
    unsafe { libc::kill(pid, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    let status = daemon.signal_and_wait(libc::SIGTERM);
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "took {:?}",
        stopped.elapsed()
    );
    assert!(status.success(), "{status}");
}
