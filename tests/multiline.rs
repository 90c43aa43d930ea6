//! Multiline events, end to end: Java and Python stack traces interleaved with single lines,
//! read by the `file` source with a `start` rule in batches of three (so batches end in the
//! middle of traces), the file rotated while a trace is being written, a writer that pauses
//! inside a trace, and `kill -9` while a trace is half written: every event arrives whole,
//! exactly once, with the offset of its first line. Plus `continue` on `stdin`, and the
//! `multiline_events` counter.

mod common;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::http::source_counter;
use common::{Scratch, append, bin, wait_until};

const PATIENCE: Duration = Duration::from_secs(60);

/// Event `k`: a timestamped first line, then (by `k`) no more lines, a Java trace or a
/// Python one.
fn event(k: u64) -> String {
    let head = format!("2026-12-04T10:00:00Z ERROR event {k}");
    match k % 3 {
        0 => format!("{head} all is well\n"),
        1 => format!(
            "{head} java.lang.IllegalStateException: boom {k}\n\
             \tat com.example.Worker.run(Worker.java:42)\n\
             \tat java.base/java.lang.Thread.run(Thread.java:1583)\n\
             Caused by: java.io.IOException: disk {k}\n\
             \t... 2 more\n"
        ),
        _ => format!(
            "{head} handler failed\n\
             Traceback (most recent call last):\n  \
             File \"app.py\", line 7, in <module>\n    \
             main()\n\
             ValueError: bad value {k}\n"
        ),
    }
}

/// A config reading `include` with `multiline: {start: timestamp}` in batches of 3 into
/// `out.json`.
fn config(s: &Scratch, include: &str, timeout: &str) -> PathBuf {
    s.config(&format!(
        "\
data_dir: ./data
checkpoint: {{ interval: 50ms }}
api: {{ listen: \"127.0.0.1:0\" }}
pipelines:
  p:
    sources:
      - type: file
        include: [\"{include}\"]
        rescan_interval: 100ms
        rotate_wait: 1s
        multiline: {{ start: '^\\d{{4}}-\\d\\d-\\d\\dT', timeout: {timeout} }}
    batch: {{ max_events: 3, linger: 20ms }}
    sinks:
      - {{ type: file, path: out.json, format: json }}
"
    ))
}

/// The events delivered: (k, message, offset, source path).
fn delivered(out: &Path) -> Vec<(u64, String, u64, String)> {
    let text = fs::read_to_string(out).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let message = v["message"].as_str().unwrap().to_owned();
            let k = message
                .split_whitespace()
                .nth(3)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not an event: {message:?}"));
            let source = v["source"].as_str().unwrap_or_default().to_owned();
            (k, message, v["offset"].as_u64().unwrap(), source)
        })
        .collect()
}

/// Asserts that events `0..n` each arrived once, whole, at the offset `offsets[k]`.
fn assert_whole_once(out: &Path, n: u64, offsets: &[(u64, String)], log: &str) {
    let got = delivered(out);
    let mut seen = vec![0; n as usize];
    for (k, message, offset, source) in &got {
        assert!(*k < n, "stray event {k}");
        seen[*k as usize] += 1;
        let want = event(*k);
        assert_eq!(
            message,
            want.trim_end_matches('\n'),
            "event {k} is not whole\n{log}"
        );
        let (want_offset, want_file) = &offsets[*k as usize];
        assert_eq!(offset, want_offset, "offset of event {k}");
        assert!(
            source.ends_with(want_file.as_str()),
            "event {k} from {source}, not {want_file}"
        );
    }
    let missing: Vec<usize> = (0..n as usize).filter(|&k| seen[k] == 0).collect();
    let twice: Vec<usize> = (0..n as usize).filter(|&k| seen[k] > 1).collect();
    assert!(missing.is_empty(), "missing events {missing:?}\n{log}");
    assert!(twice.is_empty(), "events delivered twice {twice:?}\n{log}");
}

#[test]
fn traces_arrive_whole_across_batches_pauses_and_a_rotation() {
    let s = Scratch::new();
    let app = s.path("app.log");
    File::create(&app).unwrap();
    let daemon = s.start(&config(&s, "app.log", "2s"));
    let api = common::http::api_addr(&daemon, PATIENCE);
    let mut offsets = Vec::new();
    // Events up to 151 are in the rotated file; it keeps the path it was read at.
    let (mut file, mut at, name) = (append(&app), 0u64, "app.log".to_owned());
    let n = 300;
    for k in 0..n {
        let text = event(k);
        offsets.push((at, name.clone()));
        if k == 100 || k == 200 {
            // Half a trace, a pause shorter than the timeout, the rest.
            let cut = text.find('\n').unwrap() + 1;
            file.write_all(&text.as_bytes()[..cut]).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            file.write_all(&text.as_bytes()[cut..]).unwrap();
        } else if k == 151 {
            // Rotated in the middle of a trace: renamed, the writer finishes the trace in the
            // file it has open, then reopens the path (create rotation).
            let cut = text.find('\n').unwrap() + 1;
            file.write_all(&text.as_bytes()[..cut]).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            fs::rename(&app, s.path("app.log.1")).unwrap();
            file.write_all(&text.as_bytes()[cut..]).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            file = append(&app);
            at = 0;
            continue;
        } else {
            file.write_all(text.as_bytes()).unwrap();
        }
        at += text.len() as u64;
    }
    let out = s.path("out.json");
    // The last event has no line after it: the timeout ends it.
    let done = wait_until(PATIENCE, || delivered(&out).len() as u64 >= n);
    std::thread::sleep(Duration::from_millis(300));
    let joined = source_counter(&api, "p", "multiline_events");
    let log = daemon.stop();
    assert!(done, "not everything arrived\n{log}");
    assert_whole_once(&out, n, &offsets, &log);
    assert_eq!(joined, (0..n).filter(|k| k % 3 != 0).count() as u64);
}

#[test]
fn kill_9_in_the_middle_of_a_trace_resumes_at_its_first_line() {
    let s = Scratch::new();
    let app = s.path("app.log");
    let config = config(&s, "app.log", "30s");
    let mut file = append(&app);
    let mut offsets = Vec::new();
    let mut at = 0;
    for k in 0..50 {
        offsets.push((at, "app.log".to_owned()));
        let text = event(k);
        file.write_all(text.as_bytes()).unwrap();
        at += text.len() as u64;
    }
    // Event 49 is a trace (49 % 3 == 1): its first two lines only.
    let last = event(49);
    let cut = last.match_indices('\n').nth(1).unwrap().0 + 1;
    let size = fs::metadata(&app).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&app)
        .unwrap()
        .set_len(size - (last.len() - cut) as u64)
        .unwrap();
    let trace_at = offsets[49].0;

    let daemon = s.start(&config);
    let out = s.path("out.json");
    let data = s.path("data");
    // Everything before the trace is delivered and checkpointed; the trace is open.
    let resumed_at_trace = wait_until(PATIENCE, || {
        let marks = common::checkpoint_file(&data, "p")
            .and_then(|f| common::resume_marks(&f).ok())
            .unwrap_or_default();
        delivered(&out).len() == 49
            && marks
                .values()
                .any(|m| m["offset"].as_u64() == Some(trace_at))
    });
    assert!(
        resumed_at_trace,
        "events 0..49 delivered and the checkpoint at the trace's first line ({trace_at})\n{}",
        daemon.log()
    );
    daemon.kill9();

    // The rest of the trace, and more events.
    file.write_all(&last.as_bytes()[cut..]).unwrap();
    at = trace_at + last.len() as u64;
    for k in 50..60 {
        offsets.push((at, "app.log".to_owned()));
        let text = event(k);
        file.write_all(text.as_bytes()).unwrap();
        at += text.len() as u64;
    }
    let daemon = s.start(&config);
    // Event 59 waits for its timeout (30 s) or for a next line: give it one.
    file.write_all(event(60).as_bytes()).unwrap();
    let done = wait_until(PATIENCE, || delivered(&out).len() >= 60);
    let log = daemon.stop();
    assert!(done, "not everything arrived after the restart\n{log}");
    assert_whole_once(&out, 60, &offsets, &log);
}

#[test]
fn stdin_joins_continuation_lines() {
    let s = Scratch::new();
    let config = s.config(
        "\
pipelines:
  p:
    sources:
      - { type: stdin, multiline: { continue: '^\\s' } }
    sinks:
      - { type: file, path: out.json, format: json }
",
    );
    let input = "boom\n\tat a\n\tat b\nok\nlast\n  tail";
    let mut child = std::process::Command::new(bin())
        .arg("run")
        .arg("-c")
        .arg(&config)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let messages: Vec<String> = fs::read_to_string(s.path("out.json"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["message"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(messages, ["boom\n\tat a\n\tat b", "ok", "last\n  tail"]);
}

#[test]
fn a_bad_multiline_rule_names_its_field() {
    let s = Scratch::new();
    let err = common::validate_refuses(
        &s,
        "\
pipelines:
  p:
    sources:
      - { type: file, include: [a.log], multiline: { start: '(' } }
    sinks: [{ type: blackhole }]
",
    );
    assert!(
        err.contains("multiline.start") && err.contains("bad regex"),
        "{err}"
    );
    let err = common::validate_refuses(
        &s,
        "\
pipelines:
  p:
    sources:
      - { type: file, include: [a.log], multiline: { max_lines: 3 } }
    sinks: [{ type: blackhole }]
",
    );
    assert!(
        err.contains("multiline") && err.contains("needs `start"),
        "{err}"
    );
}
