//! Bad input never takes the daemon down and is counted: a 10 MiB line, invalid UTF-8, a
//! file deleted while it is read.

mod common;

use std::fs;
use std::io::Write;
use std::time::Duration;

use common::{Daemon, Scratch, lines, wait_until};

fn config(s: &Scratch) -> std::path::PathBuf {
    s.config(
        "\
data_dir: ./data
pipelines:
  p:
    sources:
      - { type: file, include: [\"in/*.log\"], rescan_interval: 100ms, rotate_wait: 300ms }
    sinks:
      - { type: file, path: out.log }
",
    )
}

/// Proves the daemon still works: a new file's line arrives.
fn still_delivers(s: &Scratch, daemon: &mut Daemon, marker: &str) {
    fs::write(s.path(&format!("in/{marker}.log")), format!("{marker}\n")).unwrap();
    let out = s.path("out.log");
    assert!(
        wait_until(Duration::from_secs(20), || lines(&out)
            .iter()
            .any(|l| l == marker)),
        "daemon stopped delivering\n{}",
        daemon.log()
    );
    assert!(daemon.alive());
}

/// The value of `field=N` in the daemon's stop summary for the source.
fn counted(log: &str, field: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("component stopped") && l.contains("component=sources[0]"))
        .find_map(|l| {
            l.split(&format!("{field}="))
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {field} in stop summary\n{log}"))
}

#[test]
fn a_10_mib_line_is_split_and_counted() {
    let s = Scratch::new();
    fs::create_dir(s.path("in")).unwrap();
    let mut big = b"before\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 10 << 20));
    big.extend_from_slice(b"\nafter\n");
    fs::write(s.path("in/big.log"), &big).unwrap();
    let mut daemon = s.start(&config(&s));
    let out = s.path("out.log");
    assert!(
        wait_until(Duration::from_secs(30), || lines(&out)
            .last()
            .is_some_and(|l| l == "after")),
        "{}",
        daemon.log()
    );
    let got = lines(&out);
    assert_eq!(got.len(), 12, "before, ten 1 MiB pieces, after");
    assert_eq!(got[0], "before");
    assert!(
        got[1..11]
            .iter()
            .all(|l| l.len() == 1 << 20 && l.bytes().all(|b| b == b'x'))
    );
    still_delivers(&s, &mut daemon, "alive");
    assert!(daemon.terminate().success());
    let log = fs::read_to_string(s.path("daemon-0.log")).unwrap();
    assert_eq!(counted(&log, "lines_split"), 1);
}

#[test]
fn invalid_utf8_is_replaced_and_counted() {
    let s = Scratch::new();
    fs::create_dir(s.path("in")).unwrap();
    fs::write(
        s.path("in/bin.log"),
        b"ok 1\n\xff\xfe\xfd garbage\nok \xc3\x28 2\nok 3\n",
    )
    .unwrap();
    let mut daemon = s.start(&config(&s));
    let out = s.path("out.log");
    assert!(
        wait_until(Duration::from_secs(20), || lines(&out).len() >= 4),
        "{}",
        daemon.log()
    );
    assert_eq!(
        lines(&out),
        [
            "ok 1",
            "\u{fffd}\u{fffd}\u{fffd} garbage",
            "ok \u{fffd}( 2",
            "ok 3"
        ]
    );
    still_delivers(&s, &mut daemon, "alive");
    assert!(daemon.terminate().success());
    let log = fs::read_to_string(s.path("daemon-0.log")).unwrap();
    assert_eq!(counted(&log, "invalid_utf8"), 2);
}

#[test]
fn a_file_deleted_while_read_is_read_to_its_end() {
    let s = Scratch::new();
    fs::create_dir(s.path("in")).unwrap();
    let path = s.path("in/gone.log");
    let n = 300_000;
    let mut f = std::io::BufWriter::new(fs::File::create(&path).unwrap());
    for i in 0..n {
        writeln!(
            f,
            "line {i} with some padding to make the file a few megabytes long"
        )
        .unwrap();
    }
    drop(f);
    let mut daemon = s.start(&config(&s));
    let out = s.path("out.log");
    assert!(
        wait_until(Duration::from_secs(20), || out.exists()),
        "{}",
        daemon.log()
    );
    fs::remove_file(&path).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || lines(&out).len() == n),
        "got {} of {n} lines\n{}",
        lines(&out).len(),
        daemon.log()
    );
    assert!(
        wait_until(Duration::from_secs(10), || daemon
            .log()
            .contains("read to its end; closing")),
        "{}",
        daemon.log()
    );
    still_delivers(&s, &mut daemon, "alive");
    assert!(daemon.terminate().success());
    let log = fs::read_to_string(s.path("daemon-0.log")).unwrap();
    assert_eq!(counted(&log, "files_closed"), 1);
}
