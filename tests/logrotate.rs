//! The real logrotate (Debian's, with its gzip) rotating a file that a writer fills with
//! numbered lines as fast as it can, many times, with a single-path include, for each way
//! people rotate: `create` (the writer reopens after each rotation, as nginx does on
//! USR1), `create` + `compress`, `copytruncate`, `copytruncate` + `delaycompress`, and
//! `copytruncate` + `compress`.
//! Each once with a fast sink and once with a sink so slow that the source is far behind the
//! writer when the rotations happen. Every number found in the files afterwards (the live
//! file and every copy, gzipped ones read through gzip) must be delivered exactly once:
//! only what logrotate itself destroys (written between its copy and its truncate) may be
//! missing.

mod common;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::http::source_counter;
use common::server::Server;
use common::{Scratch, append, wait_until};

/// Lines written between two rotations.
const PER_FILE: u64 = 20_000;
/// Rotations per run.
const ROTATIONS: u64 = 8;
/// How long the daemon gets to deliver everything: generous, for loaded machines.
const PATIENCE: Duration = Duration::from_secs(120);

/// How a run rotates the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// Rename, create a new file, the writer reopens.
    Create,
    /// The same, and the renamed file is gzipped (and deleted) at once.
    CreateCompress,
    /// Copy, truncate in place.
    CopyTruncate,
    /// Copy, truncate; the copy is gzipped at the next rotation.
    CopyTruncateDelayCompress,
    /// Copy, truncate, gzip the copy at once.
    CopyTruncateCompress,
}

impl Method {
    fn directives(self) -> &'static str {
        match self {
            Method::Create => "create",
            Method::CreateCompress => "create\n    compress",
            Method::CopyTruncate => "copytruncate",
            Method::CopyTruncateDelayCompress => "copytruncate\n    compress\n    delaycompress",
            Method::CopyTruncateCompress => "copytruncate\n    compress",
        }
    }
}

/// Where the sink's deliveries can be read.
enum Sink {
    /// The `file` sink's output.
    File(PathBuf),
    /// An HTTP server answering each request after a pause.
    Slow(Server),
}

impl Sink {
    /// The numbers delivered so far, in order.
    fn delivered(&self) -> Vec<u64> {
        match self {
            Sink::File(path) => complete_lines(&fs::read(path).unwrap_or_default())
                .iter()
                .map(|l| number(l))
                .collect(),
            Sink::Slow(server) => server
                .requests()
                .iter()
                .filter(|r| r.status == 200)
                .flat_map(|r| {
                    complete_lines(&r.body)
                        .into_iter()
                        .map(|l| {
                            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
                            number(v["message"].as_str().unwrap())
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }
}

/// The lines of `bytes` that end with a newline (a copy may end in the middle of one).
fn complete_lines(bytes: &[u8]) -> Vec<String> {
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |e| e + 1);
    String::from_utf8_lossy(&bytes[..end])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn number(line: &str) -> u64 {
    line.strip_prefix("line ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a line of the writer: {line:?}"))
}

/// Every number in `app.log` and its copies (gzipped ones through gzip).
fn numbers_in_files(dir: &Path) -> Vec<u64> {
    let mut all = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("app.log") {
            continue;
        }
        let mut bytes = Vec::new();
        let file = File::open(entry.path()).unwrap();
        if name.ends_with(".gz") {
            flate2::read::MultiGzDecoder::new(file)
                .read_to_end(&mut bytes)
                .unwrap();
        } else {
            (&file).read_to_end(&mut bytes).unwrap();
        }
        all.extend(complete_lines(&bytes).iter().map(|l| number(l)));
    }
    all
}

/// Sets the flag when dropped: stops the writer thread even if the test fails.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

fn rotate_under_load(method: Method, slow: bool) {
    let s = Scratch::new();
    let app = s.path("app.log");
    let rotate_conf = s.path("logrotate.conf");
    fs::write(
        &rotate_conf,
        format!(
            "{} {{\n    rotate 1000\n    {}\n    missingok\n    nomail\n}}\n",
            app.display(),
            method.directives()
        ),
    )
    .unwrap();
    let sink = match slow {
        // About 25,000 lines a second: the writer is many times faster.
        true => Sink::Slow(Server::start(|_, _| {
            std::thread::sleep(Duration::from_millis(20));
            (200, vec![], "{}")
        })),
        false => Sink::File(s.path("out.log")),
    };
    let sink_yaml = match &sink {
        Sink::File(_) => "{ type: file, path: out.log }".to_owned(),
        Sink::Slow(server) => format!(
            "{{ type: http, url: \"http://{}/ingest\", retry_initial_backoff: 50ms }}",
            server.addr
        ),
    };
    let config = s.config(&format!(
        "\
data_dir: ./data
checkpoint: {{ interval: 100ms }}
api: {{ listen: \"127.0.0.1:0\" }}
pipelines:
  p:
    sources:
      - {{ type: file, include: [\"app.log\"], rescan_interval: 100ms, rotate_wait: 2s }}
    batch: {{ max_events: 500 }}
    sinks:
      - {sink_yaml}
"
    ));
    File::create(&app).unwrap();
    let daemon = s.start(&config);
    let api = common::http::api_addr(&daemon, Duration::from_secs(30));
    // The source follows the file before anything is written (what it never saw, it cannot
    // know the copies of).
    assert!(
        wait_until(PATIENCE, || daemon.log().contains("tailing file")),
        "{}",
        daemon.log()
    );

    // The writer: one write(2) per line, reopening the path when told (after `create`).
    let written = Arc::new(AtomicU64::new(0));
    let reopen = Arc::new(AtomicBool::new(false));
    let stop_writing = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let writer = std::thread::spawn({
        let (written, reopen, stop) = (written.clone(), reopen.clone(), stop_writing.0.clone());
        let app = app.clone();
        move || {
            let mut file = append(&app);
            let mut buf = Vec::with_capacity(32);
            let mut next = 0u64;
            while !stop.load(Ordering::Acquire) {
                if reopen.swap(false, Ordering::AcqRel) {
                    file = append(&app);
                }
                buf.clear();
                writeln!(buf, "line {next}").unwrap();
                file.write_all(&buf).unwrap();
                next += 1;
                written.store(next, Ordering::Release);
            }
            next
        }
    });
    let wait_written = |n: u64| {
        let start = Instant::now();
        while written.load(Ordering::Acquire) < n {
            assert!(start.elapsed() < PATIENCE, "the writer is stuck");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    for k in 1..=ROTATIONS {
        wait_written(k * PER_FILE);
        let out = Command::new(logrotate())
            .arg("-f")
            .arg("-s")
            .arg(s.path("logrotate.state"))
            .arg(&rotate_conf)
            .output()
            .expect("run logrotate (scripts/setup installs it)");
        assert!(
            out.status.success(),
            "logrotate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if matches!(method, Method::Create | Method::CreateCompress) {
            reopen.store(true, Ordering::Release);
        }
    }
    wait_written((ROTATIONS + 1) * PER_FILE);
    drop(stop_writing);
    let n = writer.join().unwrap();

    // Whatever the files hold is what must arrive.
    let in_files = numbers_in_files(s.dir.path());
    let mut want = vec![false; n as usize];
    for &x in &in_files {
        want[x as usize] = true;
    }
    let mut missing = Vec::new();
    let done = wait_until(PATIENCE, || {
        let mut got = vec![false; n as usize];
        for x in sink.delivered() {
            got[x as usize] = true;
        }
        missing = (0..n)
            .filter(|&x| want[x as usize] && !got[x as usize])
            .collect();
        missing.is_empty()
    });
    // The rotated files go quiet and are closed: nothing more may come.
    std::thread::sleep(Duration::from_millis(500));
    let copies_read = source_counter(&api, "p", "copies_read");
    let lost = source_counter(&api, "p", "lost_in_rotation");
    let log = daemon.stop();

    let delivered = sink.delivered();
    let mut seen = vec![0u32; n as usize];
    for &x in &delivered {
        seen[x as usize] += 1;
    }
    let repeated: Vec<u64> = (0..n).filter(|&x| seen[x as usize] > 1).collect();
    let in_no_file = (0..n).filter(|&x| !want[x as usize]).count();
    eprintln!(
        "{method:?} slow={slow}: {n} lines written, {} in the files, {} delivered; \
         {in_no_file} destroyed by logrotate; copies_read {copies_read}, lost_in_rotation {lost} bytes",
        in_files.len(),
        delivered.len()
    );
    assert!(
        done,
        "{} lines that are in the files were not delivered (first: {:?})\n{log}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    assert!(
        repeated.is_empty(),
        "{} lines delivered twice (first: {:?})\n{log}",
        repeated.len(),
        &repeated[..repeated.len().min(20)]
    );
    if slow && !matches!(method, Method::Create | Method::CreateCompress) {
        assert!(
            copies_read > 0,
            "far behind, the copies must have been read: {log}"
        );
    }
}

fn logrotate() -> &'static str {
    if Path::new("/usr/sbin/logrotate").exists() {
        "/usr/sbin/logrotate"
    } else {
        "logrotate"
    }
}

#[test]
fn create_fast_sink() {
    rotate_under_load(Method::Create, false);
}

#[test]
fn create_slow_sink() {
    rotate_under_load(Method::Create, true);
}

#[test]
fn create_compress_fast_sink() {
    rotate_under_load(Method::CreateCompress, false);
}

#[test]
fn create_compress_slow_sink() {
    rotate_under_load(Method::CreateCompress, true);
}

#[test]
fn copytruncate_fast_sink() {
    rotate_under_load(Method::CopyTruncate, false);
}

#[test]
fn copytruncate_slow_sink() {
    rotate_under_load(Method::CopyTruncate, true);
}

#[test]
fn copytruncate_delaycompress_fast_sink() {
    rotate_under_load(Method::CopyTruncateDelayCompress, false);
}

#[test]
fn copytruncate_delaycompress_slow_sink() {
    rotate_under_load(Method::CopyTruncateDelayCompress, true);
}

#[test]
fn copytruncate_compress_fast_sink() {
    rotate_under_load(Method::CopyTruncateCompress, false);
}

#[test]
fn copytruncate_compress_slow_sink() {
    rotate_under_load(Method::CopyTruncateCompress, true);
}

/// Rotated by logrotate while logcatch is stopped, before it read the file's last lines:
/// with copytruncate the restart finds the checkpoint past the end of the truncated file,
/// reads the rest from the copy (plain, or gzipped by `compress`); with create it finds the
/// renamed file by its inode and reads it from the checkpoint; then the file at the path
/// from 0. Nothing lost, nothing twice.
fn rotated_while_stopped(directives: &str, says: &str) {
    let s = Scratch::new();
    let app = s.path("app.log");
    let rotate_conf = s.path("logrotate.conf");
    fs::write(
        &rotate_conf,
        format!(
            "{} {{\n    rotate 10\n    {directives}\n    nomail\n}}\n",
            app.display()
        ),
    )
    .unwrap();
    let config = s.config(
        "\
data_dir: ./data
checkpoint: { interval: 50ms }
pipelines:
  p:
    sources:
      - { type: file, include: [\"app.log\"], rescan_interval: 100ms }
    sinks:
      - { type: file, path: out.log }
",
    );
    let lines =
        |from: u64, to: u64| -> String { (from..to).map(|n| format!("line {n}\n")).collect() };
    fs::write(&app, lines(0, 1000)).unwrap();
    let out = Sink::File(s.path("out.log"));
    let daemon = s.start(&config);
    assert!(
        wait_until(PATIENCE, || out.delivered().len() == 1000),
        "{}",
        daemon.log()
    );
    daemon.stop();
    // Written while stopped, then rotated, then more.
    append(&app)
        .write_all(lines(1000, 3000).as_bytes())
        .unwrap();
    let status = Command::new(logrotate())
        .arg("-f")
        .arg("-s")
        .arg(s.path("logrotate.state"))
        .arg(&rotate_conf)
        .status()
        .unwrap();
    assert!(status.success());
    append(&app)
        .write_all(lines(3000, 3100).as_bytes())
        .unwrap();
    let daemon = s.start(&config);
    let all = wait_until(PATIENCE, || out.delivered().len() >= 3100);
    std::thread::sleep(Duration::from_millis(300));
    let log = daemon.stop();
    assert!(
        all,
        "not everything arrived: {}\n{log}",
        out.delivered().len()
    );
    let mut got = out.delivered();
    got.sort_unstable();
    assert_eq!(
        got,
        (0..3100).collect::<Vec<u64>>(),
        "every line once\n{log}"
    );
    assert!(log.contains(says), "{log}");
}

#[test]
fn copytruncate_while_stopped_reads_the_rest_from_the_copy() {
    rotated_while_stopped("copytruncate", "from its rotated copy first");
}

#[test]
fn copytruncate_compress_while_stopped_reads_the_rest_through_gzip() {
    rotated_while_stopped("copytruncate\n    compress", "from its rotated copy first");
}

#[test]
fn create_while_stopped_reads_the_rest_of_the_renamed_file() {
    rotated_while_stopped("create", "renamed while logcatch was stopped");
}

#[test]
fn create_delaycompress_while_stopped_reads_the_rest_of_the_renamed_file() {
    rotated_while_stopped(
        "create\n    compress\n    delaycompress",
        "renamed while logcatch was stopped",
    );
}
