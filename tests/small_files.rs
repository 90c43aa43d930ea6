//! Files shorter than the fingerprint (1 KiB), end to end: files of 1, 10 and 100 bytes are
//! read at once, two of them with the same bytes are two files (device and inode tell them
//! apart), a short file rewritten with other first bytes is read again once, a restart while
//! they are short resumes each where it was, and as they grow past the fingerprint nothing is
//! lost or repeated.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::Duration;

use common::{Scratch, lines, wait_until};

const PATIENCE: Duration = Duration::from_secs(60);

fn append(path: &std::path::Path, text: &str) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// `count` lines `name-k` from `from` on.
fn numbered(name: &str, from: usize, count: usize) -> String {
    (from..from + count)
        .map(|k| format!("{name}-{k}\n"))
        .collect()
}

#[test]
fn tiny_files_are_read_at_once_and_grow_without_loss_or_repeats() {
    let s = Scratch::new();
    let config = s.config(
        "\
data_dir: ./data
checkpoint: { interval: 50ms }
pipelines:
  p:
    sources:
      - { type: file, include: [\"in/*.log\"], rescan_interval: 100ms }
    batch: { linger: 20ms }
    sinks:
      - { type: file, path: out.log }
",
    );
    fs::create_dir(s.path("in")).unwrap();
    let daemon = s.start(&config);
    let path = |n: &str| s.path(&format!("in/{n}.log"));
    let out = s.path("out.log");
    let has = |want: &[&str]| {
        let got = lines(&out);
        want.iter().all(|w| got.iter().any(|g| g == w))
    };

    // 1 byte (a line not finished yet), 10 bytes, 100 bytes, and two files alike.
    append(&path("one"), "x");
    append(&path("ten"), "ten-line0\n");
    let hundred: String = (0..10).map(|k| format!("hundred_{k}\n")).collect();
    assert_eq!(hundred.len(), 100);
    append(&path("hundred"), &hundred);
    append(&path("twin-a"), "same\n");
    append(&path("twin-b"), "same\n");
    append(&path("short"), "ab\n");
    let first: Vec<&str> = ["ten-line0", "hundred_0", "hundred_9", "same", "ab"].to_vec();
    assert!(
        wait_until(PATIENCE, || has(&first)),
        "short files not read at once: {:?}\n{}",
        lines(&out),
        daemon.log()
    );
    let twins = lines(&out).iter().filter(|l| *l == "same").count();
    assert_eq!(twins, 2, "two files with the same bytes are two files");

    // Rewritten while short: other first bytes, the same length.
    fs::write(path("short"), "cd\n").unwrap();
    assert!(wait_until(PATIENCE, || has(&["cd"])), "{}", daemon.log());

    // A restart while everything is short.
    let log = daemon.log_path.clone();
    assert!(
        daemon.terminate().success(),
        "{}",
        fs::read_to_string(&log).unwrap()
    );
    append(&path("one"), "\n");
    append(&path("ten"), "ten-line1\n");
    let daemon = s.start(&config);
    assert!(
        wait_until(PATIENCE, || has(&["x", "ten-line1"])),
        "{}",
        daemon.log()
    );

    // Each grows well past the fingerprint, a line at a time and in bulk.
    for name in ["one", "ten", "hundred", "twin-a", "short"] {
        for k in 0..30 {
            append(&path(name), &numbered(name, k, 1));
        }
        append(&path(name), &numbered(name, 30, 200));
    }
    let last: Vec<String> = ["one", "ten", "hundred", "twin-a", "short"]
        .iter()
        .map(|n| format!("{n}-229"))
        .collect();
    let last: Vec<&str> = last.iter().map(String::as_str).collect();
    assert!(wait_until(PATIENCE, || has(&last)), "{}", daemon.log());
    std::thread::sleep(Duration::from_millis(300));
    let log_path = daemon.log_path.clone();
    assert!(daemon.terminate().success());
    let log = fs::read_to_string(log_path).unwrap_or_default();

    let mut want: Vec<String> = ["x", "ten-line0", "ten-line1", "same", "same", "ab", "cd"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    want.extend((0..10).map(|k| format!("hundred_{k}")));
    for name in ["one", "ten", "hundred", "twin-a", "short"] {
        want.extend((0..230).map(|k| format!("{name}-{k}")));
    }
    let mut got = lines(&out);
    got.sort();
    want.sort();
    assert_eq!(got, want, "every line exactly once\n{log}");
}
