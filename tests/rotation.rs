//! Rotation under load: a writer appends numbered lines as fast as it can while the file is
//! rotated by rename + create, copytruncate or delete + create, and every line must reach the
//! file sink exactly once (copytruncate may lose only what it inherently can). Plus
//! `start_at: end`.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Daemon, Scratch, append, audit, lines, numbers, wait_until};

/// How long the daemon gets to deliver (or discover) anything: generous, for loaded machines.
const PATIENCE: Duration = Duration::from_secs(60);

/// A config tailing `include` (relative to the scratch dir) into `out.log`.
fn config(s: &Scratch, include: &str, extra: &str) -> PathBuf {
    s.config(&format!(
        "\
data_dir: ./data
checkpoint: {{ interval: 100ms }}
pipelines:
  p:
    sources:
      - {{ type: file, include: [\"{include}\"], rescan_interval: 100ms, rotate_wait: 2s{extra} }}
    sinks:
      - {{ type: file, path: out.log }}
"
    ))
}

/// Appends `line N` to a file, one `write(2)` per line, so a line is never half in one file
/// and half in the next, and counts the lines written (`written` is the next number).
struct Writer {
    file: File,
    next: u64,
    written: Arc<AtomicU64>,
    buf: Vec<u8>,
}

impl Writer {
    fn new(path: &Path) -> Writer {
        Writer {
            file: append(path),
            next: 0,
            written: Arc::new(AtomicU64::new(0)),
            buf: Vec::with_capacity(32),
        }
    }

    /// Writes the next `count` numbers.
    fn lines(&mut self, count: u64) {
        for _ in 0..count {
            self.buf.clear();
            writeln!(self.buf, "line {}", self.next).unwrap();
            self.file.write_all(&self.buf).unwrap();
            self.next += 1;
            self.written.store(self.next, Ordering::Release);
        }
    }

    /// Goes on with a new file at `path` (the old descriptor is closed).
    fn reopen(&mut self, path: &Path) {
        self.file = append(path);
    }
}

/// Follows the sink's output as it grows, reading only new bytes and complete lines, and
/// counts how often each number was delivered.
struct Output {
    file: Option<File>,
    path: PathBuf,
    partial: Vec<u8>,
    counts: Vec<u32>,
    /// Every number below this was delivered.
    prefix: u64,
}

impl Output {
    fn new(path: PathBuf) -> Output {
        Output {
            file: None,
            path,
            partial: Vec::new(),
            counts: Vec::new(),
            prefix: 0,
        }
    }

    /// Reads what was appended since the last call.
    fn refresh(&mut self) {
        if self.file.is_none() {
            self.file = File::open(&self.path).ok();
        }
        let Some(file) = &mut self.file else { return };
        let mut new = Vec::new();
        file.read_to_end(&mut new).unwrap();
        self.partial.extend_from_slice(&new);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        for line in complete.split(|&b| b == b'\n') {
            let n = std::str::from_utf8(line)
                .ok()
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<usize>().ok());
            if let Some(n) = n {
                if n >= self.counts.len() {
                    self.counts.resize(n + 1, 0);
                }
                self.counts[n] += 1;
            }
        }
        while self
            .counts
            .get(self.prefix as usize)
            .is_some_and(|&c| c > 0)
        {
            self.prefix += 1;
        }
    }

    /// Has `n` been delivered (as of the last refresh)?
    fn contains(&self, n: u64) -> bool {
        self.counts.get(n as usize).is_some_and(|&c| c > 0)
    }

    /// Reads what is new; has `n` been delivered?
    fn has(&mut self, n: u64) -> bool {
        self.refresh();
        self.contains(n)
    }

    /// Reads what is new; how many leading numbers are all delivered?
    fn prefix(&mut self) -> u64 {
        self.refresh();
        self.prefix
    }
}

/// Asserts that `out` holds each of `0..n` exactly once and nothing else.
fn assert_exactly_once(out: &Path, n: u64, log: &str) {
    let (missing, dups) = audit(&numbers(out), n);
    let total = lines(out).len() as u64;
    assert!(
        missing.is_empty() && dups == 0 && total == n,
        "of {n} lines: {} missing (first: {:?}), {dups} duplicated, {total} lines in the output\n{log}",
        missing.len(),
        &missing[..missing.len().min(20)],
    );
}

/// The numbers that occur more than once in `nums`, in order.
fn duplicated(nums: &[u64]) -> Vec<u64> {
    let mut sorted = nums.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<u64> = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    out.dedup();
    out
}

/// `1-3, 7, 9-12`: sorted numbers as ranges, for messages.
fn ranges(sorted: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            sorted[i].to_string()
        } else {
            format!("{}-{}", sorted[i], sorted[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

/// Waits until the daemon has delivered every number below `n`.
fn wait_for_all(out: &mut Output, n: u64, daemon: &Daemon) {
    let done = wait_until(PATIENCE, || out.prefix() >= n);
    assert!(
        done,
        "only the first {} of {n} lines were delivered within {PATIENCE:?}\n{}",
        out.prefix(),
        daemon.log()
    );
}

/// Waits (writing on, more slowly) until the daemon has delivered `first`: it has opened the
/// file being written. A file that leaves the glob before the tailer ever saw it cannot be
/// followed by any tailer, so rotations that take it out of sight wait for this.
fn until_opened(w: &mut Writer, out: &mut Output, first: u64, daemon: &Daemon) {
    let start = Instant::now();
    while !out.has(first) {
        assert!(
            start.elapsed() < PATIENCE,
            "the daemon never read line {first}\n{}",
            daemon.log()
        );
        w.lines(100);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The daemon's descriptors that lead to a rotated or deleted `app.log` in `dir`.
fn rotated_open(daemon: &Daemon, dir: &Path) -> Vec<String> {
    let Ok(fds) = fs::read_dir(format!("/proc/{}/fd", daemon.pid())) else {
        return Vec::new();
    };
    let dir = dir.canonicalize().unwrap();
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|t| {
            t.starts_with(&*dir.to_string_lossy())
                && (t.contains("/app.log.") || (t.contains("/app.log") && t.ends_with("(deleted)")))
        })
        .collect()
}

/// Waits until the daemon has closed every rotated or deleted file (after `rotate_wait`).
fn wait_closed(daemon: &Daemon, dir: &Path) {
    let closed = wait_until(PATIENCE, || rotated_open(daemon, dir).is_empty());
    assert!(
        closed,
        "still open: {:?}\n{}",
        rotated_open(daemon, dir),
        daemon.log()
    );
    let closings = daemon.log().matches("read to its end; closing").count() as u64;
    assert_eq!(closings, ROTATIONS, "{}", daemon.log());
}

/// Rotations in every torture test.
const ROTATIONS: u64 = 8;
/// Lines written to each generation at full speed before it is rotated.
const PER_FILE: u64 = 20_000;
/// Lines written through the old descriptor after it was renamed or deleted, like an
/// application that reopens its log only a little later.
const LATE: u64 = 500;

/// rename + create: the writer renames `app.log` to `app.log.K` (matched by the glob or not),
/// writes a few more lines through its old descriptor, then creates a new `app.log`.
fn rename_and_create(include: &str, rotated_names_match: bool) {
    let s = Scratch::new();
    let daemon = s.start(&config(&s, include, ""));
    let app = s.path("app.log");
    let mut out = Output::new(s.path("out.log"));
    let started = Instant::now();

    let mut w = Writer::new(&app);
    for k in 1..=ROTATIONS {
        let first = w.next;
        w.lines(PER_FILE);
        if !rotated_names_match {
            until_opened(&mut w, &mut out, first, &daemon);
        }
        fs::rename(&app, s.path(&format!("app.log.{k}"))).unwrap();
        w.lines(LATE);
        w.reopen(&app);
    }
    w.lines(PER_FILE);
    let n = w.next;
    let written = started.elapsed();

    wait_for_all(&mut out, n, &daemon);
    eprintln!(
        "{n} lines, {ROTATIONS} rotations: written in {written:?}, delivered in {:?}",
        started.elapsed()
    );
    if !rotated_names_match {
        // Drained and `rotate_wait` quiet: closed. (Files still in the glob stay open.)
        wait_closed(&daemon, s.dir.path());
    }
    let log = daemon.stop();
    assert_exactly_once(&s.path("out.log"), n, &log);
}

#[test]
fn rename_and_create_to_names_outside_the_glob_loses_and_repeats_nothing() {
    rename_and_create("app.log", false);
}

#[test]
fn rename_and_create_to_names_inside_the_glob_loses_and_repeats_nothing() {
    rename_and_create("app.log*", true);
}

/// delete + create: the writer deletes `app.log`, writes a few more lines to the deleted
/// file, then creates a new one.
#[test]
fn delete_and_create_loses_and_repeats_nothing() {
    let s = Scratch::new();
    let daemon = s.start(&config(&s, "app.log", ""));
    let app = s.path("app.log");
    let mut out = Output::new(s.path("out.log"));

    let mut w = Writer::new(&app);
    for _ in 0..ROTATIONS {
        let first = w.next;
        w.lines(PER_FILE);
        until_opened(&mut w, &mut out, first, &daemon);
        fs::remove_file(&app).unwrap();
        w.lines(LATE);
        w.reopen(&app);
    }
    w.lines(PER_FILE);
    let n = w.next;

    wait_for_all(&mut out, n, &daemon);
    wait_closed(&daemon, s.dir.path());
    let log = daemon.stop();
    assert_exactly_once(&s.path("out.log"), n, &log);
}

/// One copytruncate, as seen from the outside.
#[derive(Debug)]
struct Truncation {
    /// Every number below this had been delivered (or lost in an earlier window) before the
    /// copy started.
    delivered: u64,
    /// Numbers below this had been written before the copy started.
    before: u64,
    /// Numbers below this had been written when the truncation ended; this one too, maybe
    /// (the writer counts a line just after writing it).
    after: u64,
}

impl Truncation {
    /// The numbers this rotation may lose: only those written after the copy started and
    /// before the truncation ended. Those written earlier but not yet read by the tailer are
    /// in the copy, and read from it.
    fn may_lose(&self) -> RangeInclusive<u64> {
        self.before..=self.after
    }
}

/// Sets the flag when dropped: stops the writer thread even if the test fails.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// copytruncate: the writer appends (`O_APPEND`) without pause; the rotator copies `app.log`
/// to `app.log.K` (outside the glob) and truncates `app.log` to 0, half the time while the
/// daemon is stopped (SIGSTOP) until the file is larger than before. Nothing may be repeated,
/// and only lines of the window of each rotation may be lost.
#[test]
fn copytruncate_repeats_nothing_and_loses_only_the_window() {
    let s = Scratch::new();
    let daemon = s.start(&config(&s, "app.log", ""));
    let app = s.path("app.log");
    let mut out = Output::new(s.path("out.log"));

    let mut w = Writer::new(&app);
    let written = w.written.clone();
    let stop_writing = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let writer = std::thread::spawn({
        let stop_writing = stop_writing.0.clone();
        move || {
            while !stop_writing.load(Ordering::Acquire) {
                w.lines(100);
            }
            w.next
        }
    });
    let wait_written = |n: u64| {
        let start = Instant::now();
        while written.load(Ordering::Acquire) < n {
            assert!(start.elapsed() < PATIENCE, "the writer is stuck");
            std::thread::sleep(Duration::from_millis(1));
        }
    };

    // The daemon follows the file before the first rotation (what it never saw, it cannot
    // know the copy of).
    assert!(
        wait_until(PATIENCE, || out.has(0)),
        "the daemon never read the file\n{}",
        daemon.log()
    );
    let mut truncations: Vec<Truncation> = Vec::new();
    let mut delivered = 0;
    for k in 1..=ROTATIONS {
        wait_written(k * PER_FILE);
        // Everything below `delivered` is in the output or was allowed to be lost before.
        out.refresh();
        let written_now = written.load(Ordering::Acquire);
        while delivered < written_now
            && (out.contains(delivered)
                || truncations
                    .iter()
                    .any(|t| t.may_lose().contains(&delivered)))
        {
            delivered += 1;
        }
        let before = written.load(Ordering::Acquire);
        // Every other time the tailer is frozen across the rotation until the file has grown
        // past its old size: then only the file's first bytes show it was truncated.
        let frozen = k % 2 == 0;
        if frozen {
            unsafe { libc::kill(daemon.pid(), libc::SIGSTOP) };
        }
        fs::copy(&app, s.path(&format!("app.log.{k}"))).unwrap();
        let file = OpenOptions::new().write(true).open(&app).unwrap();
        let old_size = file.metadata().unwrap().len();
        file.set_len(0).unwrap();
        let after = written.load(Ordering::Acquire);
        if frozen {
            let start = Instant::now();
            while fs::metadata(&app).unwrap().len() <= old_size {
                assert!(start.elapsed() < PATIENCE, "the writer is stuck");
                std::thread::sleep(Duration::from_millis(1));
            }
            unsafe { libc::kill(daemon.pid(), libc::SIGCONT) };
        }
        assert!(delivered <= before && before <= after);
        truncations.push(Truncation {
            delivered,
            before,
            after,
        });
    }
    wait_written((ROTATIONS + 1) * PER_FILE);
    drop(stop_writing);
    let n = writer.join().unwrap();

    let may_lose = |x: u64| truncations.iter().any(|t| t.may_lose().contains(&x));
    let must_have: Vec<u64> = (0..n).filter(|&x| !may_lose(x)).collect();
    let mut seen = 0;
    let done = wait_until(PATIENCE, || {
        out.refresh();
        while seen < must_have.len() && out.contains(must_have[seen]) {
            seen += 1;
        }
        seen == must_have.len()
    });
    let log = daemon.stop();

    let nums = numbers(&s.path("out.log"));
    let (missing, dups) = audit(&nums, n);
    let unexplained: Vec<u64> = missing.iter().copied().filter(|&x| !may_lose(x)).collect();
    // Per rotation: lines written but not yet delivered when it began (read from the copy),
    // and lines lost (all written during the copy).
    let lost: Vec<(u64, usize)> = truncations
        .iter()
        .map(|t| {
            let lost = missing.iter().filter(|&&x| t.may_lose().contains(&x));
            (t.before - t.delivered, lost.count())
        })
        .collect();
    eprintln!("{n} lines; per rotation (behind by, lost in the window) {lost:?}");
    assert!(
        done && unexplained.is_empty(),
        "{} lines lost outside the copytruncate windows (first: {:?}); windows: {truncations:?}\n{log}",
        unexplained.len(),
        &unexplained[..unexplained.len().min(20)]
    );
    let malformed: Vec<String> = lines(&s.path("out.log"))
        .into_iter()
        .filter(|l| {
            l.strip_prefix("line ")
                .and_then(|n| n.parse::<u64>().ok())
                .is_none()
        })
        .take(20)
        .collect();
    assert!(
        malformed.is_empty(),
        "malformed lines: {malformed:?}\n{log}"
    );
    let repeated = duplicated(&nums);
    assert!(
        dups == 0,
        "{dups} duplicated lines: {}; windows: {truncations:?}\n{log}",
        ranges(&repeated)
    );
    let total = lines(&s.path("out.log")).len() as u64;
    assert_eq!(
        total,
        n - missing.len() as u64,
        "stray lines in the output\n{log}"
    );
}

/// `start_at: end` skips what files present at start-up already hold, but reads files that
/// appear later from their beginning (even when they already have content when found), and
/// a file with a checkpoint resumes from it rather than from its end.
#[test]
fn start_at_end_skips_existing_content_but_not_new_files() {
    let s = Scratch::new();
    fs::create_dir(s.path("logs")).unwrap();
    let (app, other) = (s.path("logs/app.log"), s.path("logs/other.log"));
    // Old content: numbers far above what the test expects, so any of it shows up as stray.
    let old: String = (1_000_000..1_001_000)
        .map(|i| format!("old {i}\n"))
        .collect();
    fs::write(&app, &old).unwrap();
    fs::write(&other, &old).unwrap();
    let cfg = config(&s, "logs/*.log", ", start_at: end");
    let daemon = s.start(&cfg);

    // Both existing files are open, at their end.
    let opened_at_end = |daemon: &Daemon, name: &str| {
        daemon.log().lines().any(|l| {
            l.contains("tailing file")
                && l.contains(&format!("logs/{name} "))
                && l.contains(&format!("offset={} ", old.len()))
        })
    };
    assert!(
        wait_until(PATIENCE, || opened_at_end(&daemon, "app.log")
            && opened_at_end(&daemon, "other.log")),
        "existing files not opened at their end\n{}",
        daemon.log()
    );

    // New lines in an existing file; a new file that has content when first seen (renamed
    // into the glob whole); a new file written after it was created.
    let mut w = Writer::new(&app);
    w.lines(500);
    let tmp = s.path("logs/new.tmp");
    w.reopen(&tmp);
    w.lines(500);
    fs::rename(&tmp, s.path("logs/new.log")).unwrap();
    w.reopen(&s.path("logs/later.log"));
    w.lines(500);
    let n = w.next;

    let mut out = Output::new(s.path("out.log"));
    wait_for_all(&mut out, n, &daemon);
    let log = daemon.stop();
    assert_exactly_once(&s.path("out.log"), n, &log);

    // Written while stopped: resumed from the checkpoint, not skipped as "existing".
    w.reopen(&app);
    w.lines(500);
    let n = w.next;
    let daemon = s.start(&cfg);
    wait_for_all(&mut out, n, &daemon);
    let log = daemon.stop();
    assert_exactly_once(&s.path("out.log"), n, &log);
}
