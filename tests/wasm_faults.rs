//! Hostile WebAssembly filters (built from `tests/guests/`): a filter that spins forever,
//! one that allocates without bound, one that traps, one that probes its sandbox and one
//! that refuses to start. None of them takes the daemon down: another pipeline in the same
//! process keeps delivering, every normal line reaches the sink in order, exactly the
//! hostile lines follow `on_error` (dead letters with the reason by default), and the stop
//! summary counts them. Plugins that cannot start, or are not components at all, are config
//! errors that name the file, the line and the field.

mod common;

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Scratch, bin, guest, lines, wait_until};
use serde_json::Value;

/// Lines in each hostile input file.
const LINES: usize = 2000;
/// The lines that carry the guest's trigger word.
const HOSTILE: [usize; 2] = [500, 1500];

/// How long the daemon may take to get through the whole input, faults included. The spin
/// guest alone needs about 2 × 12 calls × 200 ms; the rest is slack for a loaded machine.
const DONE_WITHIN: Duration = Duration::from_secs(45);
/// Longest the steady pipeline may go without delivering anything while a filter misbehaves
/// (it delivers 200 lines a second; the margin is for a loaded 2-core machine).
const MAX_STALL: Duration = Duration::from_secs(3);

/// Writes `in.log`: `LINES` lines, those in `HOSTILE` containing `trigger`. Returns every
/// line with its byte offset.
fn write_input(s: &Scratch, trigger: &str) -> Vec<(u64, String)> {
    let mut text = String::new();
    let mut all = Vec::new();
    for i in 0..LINES {
        let line = if HOSTILE.contains(&i) {
            format!("hostile event {i:04} {trigger} here")
        } else {
            format!("normal event {i:04} status=ok")
        };
        all.push((text.len() as u64, line.clone()));
        text.push_str(&line);
        text.push('\n');
    }
    fs::write(s.path("in.log"), text).unwrap();
    all
}

/// A config with pipeline `hostile` (file `in.log` → the filter → `out.log`) and pipeline
/// `steady` (demo source at 200 lines/s → `steady.log`) in the same process.
fn hostile_config(s: &Scratch, wasm: &Path, limits: &str, on_error: Option<&str>) -> PathBuf {
    let on_error = on_error.map_or(String::new(), |p| format!("    on_error: {p}\n"));
    s.config(&format!(
        "\
data_dir: ./data
pipelines:
  hostile:
    sources: [{{ type: file, include: [\"in.log\"] }}]
    filters:
      - {{ wasm: {wasm:?}, limits: {limits} }}
{on_error}    sinks: [{{ type: file, path: out.log }}]
  steady:
    sources: [{{ type: demo, rate: 200 }}]
    sinks: [{{ type: file, path: steady.log }}]
",
        wasm = wasm.display().to_string(),
    ))
}

/// The dead letters of pipeline `hostile`, parsed (empty if there are none).
fn dead_letters(s: &Scratch) -> Vec<Value> {
    lines(&s.path("data/dead_letter/hostile.ndjson"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad dead letter {l}: {e}")))
        .collect()
}

/// Complete lines (newline-terminated) in the file at `path`: safe to read while it is
/// being appended to.
fn complete_lines(path: &Path) -> usize {
    fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// The value of `field=N` in the stop summary of `component` of pipeline `pipeline`.
fn counted(log: &str, pipeline: &str, component: &str, field: &str) -> u64 {
    log.lines()
        .filter(|l| {
            l.contains("component stopped")
                && l.contains(&format!("pipeline={pipeline} "))
                && l.contains(&format!("component={component} "))
        })
        .find_map(|l| {
            l.split(&format!(" {field}="))
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {field} for {pipeline} {component} in stop summary\n{log}"))
}

/// What a run of the hostile pipeline produced.
struct Outcome {
    /// The input, with byte offsets.
    input: Vec<(u64, String)>,
    /// `out.log` after a clean stop.
    out: Vec<String>,
    /// The dead letters after a clean stop.
    dead: Vec<Value>,
    /// The daemon's log, stop summary included.
    log: String,
}

impl Outcome {
    /// The input lines that are not hostile, in order.
    fn normal(&self) -> Vec<String> {
        self.input
            .iter()
            .enumerate()
            .filter(|(i, _)| !HOSTILE.contains(i))
            .map(|(_, (_, l))| l.clone())
            .collect()
    }

    /// `field=N` in the stop summary of the hostile pipeline's filter.
    fn filter_counter(&self, field: &str) -> u64 {
        counted(&self.log, "hostile", "filters[0]", field)
    }

    /// Checks the dead letters are exactly the hostile lines, attributed to `plugin`, with a
    /// reason containing `reason`.
    fn assert_dead_lettered(&self, plugin: &str, reason: &str) {
        let messages: Vec<&str> = self
            .dead
            .iter()
            .map(|d| d["message"].as_str().unwrap_or_default())
            .collect();
        let hostile: Vec<&str> = HOSTILE.iter().map(|&i| &*self.input[i].1).collect();
        assert_eq!(
            messages, hostile,
            "dead letters are not exactly the hostile lines\n{}",
            self.log
        );
        for (d, &i) in self.dead.iter().zip(&HOSTILE) {
            assert_eq!(d["pipeline"], "hostile", "{d}");
            assert_eq!(d["plugin"], plugin, "{d}");
            assert_eq!(d["offset"], self.input[i].0, "{d}");
            assert!(
                d["source"].as_str().is_some_and(|s| s.ends_with("in.log")),
                "{d}"
            );
            assert!(d["timestamp"].as_str().is_some_and(|t| t.len() > 10), "{d}");
            assert_eq!(d["attributes"], serde_json::json!({}), "{d}");
            let why = d["reason"].as_str().unwrap_or_default();
            assert!(
                why.contains(reason),
                "reason {why:?} does not say {reason:?}"
            );
        }
        assert_eq!(
            self.filter_counter("dead_lettered"),
            HOSTILE.len() as u64,
            "{}",
            self.log
        );
    }
}

/// How the fault shows while the daemon runs.
struct Expect {
    /// Lines `out.log` ends up with.
    out: usize,
    /// Dead letters the run ends up with.
    dead: usize,
    /// The fault lasts long enough (seconds) that `steady` must visibly deliver during it.
    long_fault: bool,
}

/// Runs the `guest` filter on an input with hostile lines containing `trigger`, alongside
/// the `steady` pipeline, until everything went through; checks the daemon stayed up and
/// `steady` kept delivering during and after the fault; stops the daemon cleanly.
fn run_hostile(
    guest_name: &str,
    trigger: &str,
    limits: &str,
    on_error: Option<&str>,
    expect: Expect,
) -> Outcome {
    let s = Scratch::new();
    let input = write_input(&s, trigger);
    let cfg = hostile_config(&s, &guest(guest_name), limits, on_error);
    let mut daemon = s.start(&cfg);
    let (out, steady) = (s.path("out.log"), s.path("steady.log"));
    let dead = s.path("data/dead_letter/hostile.ndjson");

    // Sample `steady` while the hostile pipeline works through the input and its faults.
    // (time, steady lines, fault started)
    let mut samples: Vec<(Instant, usize, bool)> = Vec::new();
    let done = wait_until(DONE_WITHIN, || {
        let started = daemon
            .log()
            .contains("retrying the batch on a fresh instance");
        let over = complete_lines(&out) >= expect.out && complete_lines(&dead) >= expect.dead;
        let steady_lines = lines(&steady).len();
        samples.push((Instant::now(), steady_lines, started));
        // A fault over before `steady` wrote its first batch proves nothing about it: go on
        // until it has.
        over && steady_lines > 0
    });
    assert!(
        done,
        "hostile pipeline did not get through its input: {} lines out, {} dead letters\n{}",
        complete_lines(&out),
        complete_lines(&dead),
        daemon.log()
    );
    assert!(
        daemon.alive(),
        "daemon died on a plugin fault\n{}",
        daemon.log()
    );
    assert!(
        daemon
            .log()
            .contains("retrying the batch on a fresh instance"),
        "the filter never failed\n{}",
        daemon.log()
    );

    // `steady` never stalled, from its first line to the end of the fault.
    let first = samples
        .iter()
        .find(|x| x.1 > 0)
        .unwrap_or_else(|| panic!("steady delivered nothing\n{}", daemon.log()))
        .0;
    let mut last_growth = (first, 0);
    for &(t, n, _) in samples.iter().filter(|x| x.0 >= first) {
        if n > last_growth.1 {
            assert!(
                t - last_growth.0 < MAX_STALL,
                "steady pipeline stalled for {:?} during the fault\n{}",
                t - last_growth.0,
                daemon.log()
            );
            last_growth = (t, n);
        }
    }
    let end = samples.last().unwrap().0;
    assert!(
        end - last_growth.0 < MAX_STALL,
        "steady pipeline stalled at the end of the fault\n{}",
        daemon.log()
    );
    if expect.long_fault {
        let at_start = samples.iter().find(|x| x.2).expect("fault start sampled").1;
        let at_end = samples.last().unwrap().1;
        assert!(
            at_end > at_start,
            "steady delivered nothing during the fault ({at_start} lines before and after)"
        );
    }
    // ... and after it.
    let after = lines(&steady).len();
    assert!(
        wait_until(Duration::from_secs(20), || lines(&steady).len()
            >= after + 20),
        "steady pipeline stopped after the fault\n{}",
        daemon.log()
    );
    assert!(daemon.alive(), "daemon died\n{}", daemon.log());

    let log_path = daemon.log_path.clone();
    let status = daemon.terminate();
    let log = fs::read_to_string(log_path).unwrap();
    assert!(status.success(), "unclean stop: {status}\n{log}");
    Outcome {
        input,
        out: lines(&out),
        dead: dead_letters(&s),
        log,
    }
}

/// Every normal line delivered in order, exactly the hostile lines dead-lettered by `plugin`
/// with `reason`, and each hostile line failed at least twice (the batch, then its retry).
fn assert_isolated(o: &Outcome, plugin: &str, reason: &str) {
    assert_eq!(o.out, o.normal(), "normal lines lost, doubled or reordered");
    o.assert_dead_lettered(plugin, reason);
    let traps = o.filter_counter("traps");
    assert!(
        traps >= 2 * HOSTILE.len() as u64,
        "traps={traps}\n{}",
        o.log
    );
}

#[test]
fn a_spinning_filter_times_out_and_only_its_lines_are_dead_lettered() {
    let o = run_hostile(
        "spin",
        "SPIN",
        "{ timeout: 200ms, memory: 32MiB }",
        None,
        Expect {
            out: LINES - HOSTILE.len(),
            dead: HOSTILE.len(),
            long_fault: true,
        },
    );
    assert_isolated(&o, "spin", "timed out (limits.timeout 200ms)");
    assert_eq!(o.filter_counter("events"), (LINES - HOSTILE.len()) as u64);
}

#[test]
fn a_filter_that_eats_memory_hits_its_limit_and_only_its_lines_are_dead_lettered() {
    let o = run_hostile(
        "balloon",
        "BALLOON",
        "{ memory: 32MiB }",
        None,
        Expect {
            out: LINES - HOSTILE.len(),
            dead: HOSTILE.len(),
            long_fault: false,
        },
    );
    assert_isolated(
        &o,
        "balloon",
        "memory limit exceeded (limits.memory 33554432 bytes)",
    );
}

#[test]
fn a_trapping_filter_has_its_poison_lines_dead_lettered() {
    let o = run_hostile(
        "poison",
        "POISON",
        "{}",
        None,
        Expect {
            out: LINES - HOSTILE.len(),
            dead: HOSTILE.len(),
            long_fault: false,
        },
    );
    assert_isolated(&o, "poison", "trap");
    // The guest's panic message (its stderr) reaches the log, attributed to the plugin.
    assert!(
        o.log
            .lines()
            .any(|l| l.contains("poison event at index") && l.contains("plugin=\"poison\"")),
        "guest stderr not captured\n{}",
        o.log
    );
}

#[test]
fn on_error_pass_delivers_the_poison_lines_unfiltered() {
    let o = run_hostile(
        "poison",
        "POISON",
        "{}",
        Some("pass"),
        Expect {
            out: LINES,
            dead: 0,
            long_fault: false,
        },
    );
    // Every line exactly once, the normal ones in order.
    let mut got = o.out.clone();
    got.sort();
    let mut want: Vec<String> = o.input.iter().map(|(_, l)| l.clone()).collect();
    want.sort();
    assert_eq!(got, want, "lines lost or doubled\n{}", o.log);
    let normal: Vec<String> = o
        .out
        .iter()
        .filter(|l| !l.contains("POISON"))
        .cloned()
        .collect();
    assert_eq!(normal, o.normal(), "normal lines reordered");
    assert!(o.dead.is_empty(), "dead letters under on_error: pass");
    assert_eq!(o.filter_counter("dead_lettered"), 0);
    assert_eq!(o.filter_counter("dropped"), 0);
    assert_eq!(o.filter_counter("events"), LINES as u64);
    assert!(o.filter_counter("traps") >= 2 * HOSTILE.len() as u64);
}

#[test]
fn on_error_drop_drops_and_counts_the_poison_lines() {
    let o = run_hostile(
        "poison",
        "POISON",
        "{}",
        Some("drop"),
        Expect {
            out: LINES - HOSTILE.len(),
            dead: 0,
            long_fault: false,
        },
    );
    assert_eq!(o.out, o.normal(), "normal lines lost, doubled or reordered");
    assert!(o.dead.is_empty(), "dead letters under on_error: drop");
    assert_eq!(o.filter_counter("dropped"), HOSTILE.len() as u64);
    assert_eq!(o.filter_counter("dead_lettered"), 0);
    assert!(o.filter_counter("traps") >= 2 * HOSTILE.len() as u64);
}

#[test]
fn a_snooping_filter_gets_no_files_no_environment_and_no_network() {
    let s = Scratch::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let input: Vec<String> = (0..300).map(|i| format!("probe me {i}")).collect();
    fs::write(s.path("in.log"), input.join("\n") + "\n").unwrap();
    let cfg = s.config(&format!(
        "\
data_dir: ./data
pipelines:
  hostile:
    sources: [{{ type: file, include: [\"in.log\"] }}]
    filters:
      - {{ wasm: {wasm:?}, config: {{ port: {port} }} }}
    batch: {{ max_events: 100 }}
    sinks: [{{ type: file, path: out.json, format: json }}]
",
        wasm = guest("snoop").display().to_string(),
    ));
    // The daemon itself has all of these; the plugin must get none of them.
    assert!(Path::new("/etc/passwd").exists());
    let out = Command::new(bin())
        .args(["run", "--once", "-c"])
        .arg(&cfg)
        .env("HOME", s.path(""))
        .env("LOGCATCH_SNOOP_TEST", "secret")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");

    let events: Vec<Value> = lines(&s.path("out.json"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, input, "{log}");
    for e in &events {
        assert_eq!(
            e["attributes"]["probe"], "file=denied env=denied vars=0 socket=denied",
            "the sandbox leaked: {e}"
        );
    }
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the plugin reached the network: {other:?}"),
    }
}

/// Runs `logcatch ARGS` to its exit (at most 60 s); returns its status and stderr.
fn run_to_exit(args: &[&str], config: &Path) -> (ExitStatus, String) {
    let mut child = Command::new(bin())
        .args(args)
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
        err
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("logcatch {args:?} did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().unwrap())
}

/// A config whose one filter is `wasm` with a `config:` block; returns it and the 1-based
/// line and column of `config:`.
fn filter_config(s: &Scratch, wasm: &Path) -> (PathBuf, usize, usize) {
    let yaml = format!(
        "\
data_dir: ./data
pipelines:
  hostile:
    sources:
      - {{ type: file, include: [\"in.log\"] }}
    filters:
      - wasm: {wasm:?}
        config: {{ mode: strict, level: 3 }}
    sinks:
      - {{ type: file, path: out.log }}
",
        wasm = wasm.display().to_string()
    );
    let (line, text) = yaml
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim_start().starts_with("config:"))
        .unwrap();
    let column = text.find("config:").unwrap() + 1;
    (s.config(&yaml), line + 1, column)
}

#[test]
fn a_plugin_whose_init_fails_is_a_located_config_error() {
    let s = Scratch::new();
    fs::write(s.path("in.log"), "a line\n").unwrap();
    let wasm = guest("bad_init");
    let (cfg, line, column) = filter_config(&s, &wasm);
    let at = format!("logcatch.yaml:{line}:{column}: pipelines.hostile.filters[0].config: ");
    for args in [&["validate", "-c"][..], &["run", "-c"][..]] {
        let (status, err) = run_to_exit(args, &cfg);
        assert!(
            !status.success(),
            "{args:?} accepted a plugin that refuses to start"
        );
        let errors: Vec<&str> = err.lines().filter(|l| l.contains(&at)).collect();
        assert_eq!(errors.len(), 1, "{args:?}: want one error at {at}\n{err}");
        assert!(errors[0].contains(&wasm.display().to_string()), "{err}");
        assert!(
            errors[0].contains("this plugin refuses to start: bad config"),
            "{err}"
        );
        assert!(err.contains("config invalid: 1 error"), "{err}");
    }
    assert!(!s.path("out.log").exists(), "ran despite the failed init");
}

#[test]
fn a_missing_or_non_component_wasm_file_is_a_located_config_error() {
    let s = Scratch::new();
    fs::write(s.path("in.log"), "a line\n").unwrap();
    // Deterministic noise (no magic number), a text file, a core module (not a component).
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    fs::write(s.path("noise.wasm"), noise).unwrap();
    fs::write(s.path("text.wasm"), "this is not WebAssembly\n").unwrap();
    fs::write(s.path("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let cases = [
        ("missing.wasm", "cannot read plugin"),
        ("noise.wasm", "is not a usable WebAssembly component"),
        ("text.wasm", "is not a usable WebAssembly component"),
        ("core.wasm", "is not a usable WebAssembly component"),
    ];
    for (file, says) in cases {
        let wasm = s.path(file);
        let (cfg, config_line, _) = filter_config(&s, &wasm);
        let (status, err) = run_to_exit(&["validate", "-c"], &cfg);
        assert_eq!(status.code(), Some(2), "{file}: {err}");
        // The error points at the filter's `wasm:` (the line before `config:`).
        let at = format!(
            "logcatch.yaml:{}:9: pipelines.hostile.filters[0].wasm: ",
            config_line - 1
        );
        let errors: Vec<&str> = err.lines().filter(|l| l.contains(&at)).collect();
        assert_eq!(errors.len(), 1, "{file}: want one error at {at}\n{err}");
        assert!(
            errors[0].contains(&wasm.display().to_string()),
            "{file}: path not named\n{err}"
        );
        assert!(errors[0].contains(says), "{file}: {err}");
        assert!(err.contains("config invalid: 1 error"), "{file}: {err}");
    }
}

// Host bugs found while writing these tests, fixed since: each test keeps it fixed.

#[test]
fn on_error_pass_keeps_the_poison_lines_in_place() {
    let o = run_hostile(
        "poison",
        "POISON",
        "{}",
        Some("pass"),
        Expect {
            out: LINES,
            dead: 0,
            long_fault: false,
        },
    );
    let input: Vec<String> = o.input.iter().map(|(_, l)| l.clone()).collect();
    let moved: Vec<usize> = HOSTILE
        .iter()
        .filter_map(|&i| {
            let at = o.out.iter().position(|l| *l == input[i])?;
            (at != i).then_some(at)
        })
        .collect();
    assert!(
        moved.is_empty(),
        "poison lines {HOSTILE:?} delivered at {moved:?}"
    );
    assert_eq!(o.out, input);
}

#[test]
fn dead_letters_are_not_counted_as_dropped() {
    let o = run_hostile(
        "poison",
        "POISON",
        "{}",
        None,
        Expect {
            out: LINES - HOSTILE.len(),
            dead: HOSTILE.len(),
            long_fault: false,
        },
    );
    assert_eq!(o.filter_counter("dead_lettered"), HOSTILE.len() as u64);
    assert_eq!(o.filter_counter("dropped"), 0, "{}", o.log);
    assert_eq!(
        o.filter_counter("events_in"),
        o.filter_counter("events")
            + o.filter_counter("dropped")
            + o.filter_counter("dead_lettered")
    );
}

#[test]
fn the_error_for_a_non_wasm_file_is_complete() {
    let s = Scratch::new();
    fs::write(s.path("in.log"), "a line\n").unwrap();
    fs::write(s.path("text.wasm"), "this is not WebAssembly\n").unwrap();
    let (cfg, _, _) = filter_config(&s, &s.path("text.wasm"));
    let (_, err) = run_to_exit(&["validate", "-c"], &cfg);
    let first = err.lines().next().unwrap_or_default();
    assert!(!first.trim_end().ends_with('['), "cut short: {first}");
}
