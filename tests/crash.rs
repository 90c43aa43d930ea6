//! Crash safety, end to end: the real daemon tails a file that a writer keeps appending to,
//! and is killed with SIGKILL (or stopped with SIGTERM) at random points and restarted.
//!
//! Every line is `{n:08}\n` (9 bytes), so a checkpoint's byte offset names a line number:
//! after each stop the test knows exactly where the next run must resume, and checks that
//! every run delivered consecutive lines starting exactly at the checkpoint it resumed from.
//! Besides the headline assertions (nothing lost, duplicates bounded or zero, checkpoints
//! never torn) this pins down where any duplicate came from.
//!
//! Kill points are random: each test prints its seed, and `CRASH_SEED=<seed>` replays the
//! same delays and write sizes (the timing of the daemon itself cannot be replayed).
//! `CRASH_KEEP=1` keeps the scratch directory (daemon logs, checkpoints, outputs).

mod common;

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Daemon, Scratch, audit, numbers, wait_until};

/// Bytes per input line: eight digits and a newline.
const LINE: u64 = 9;
/// Lines per second the writer appends.
const RATE: u64 = 30_000;
/// `checkpoint.interval` of the kill test: long, so that the fsynced snapshot plays no part
/// in what a process crash costs (a snapshot every 10 s at 30,000 lines a second would let
/// a kill repeat up to 300,000 lines).
const KILL_INTERVAL: &str = "10s";
/// Lines per batch (`batch.max_events`, the default).
const MAX_EVENTS: u64 = 1024;
/// Batches between the source and the sinks: 4 in the source→route channel, 4 in the
/// route→sink channel, one held by the source while it waits to send and one the sink is
/// writing (`CHANNEL_BATCHES` in core/src/pipeline.rs).
const IN_FLIGHT_BATCHES: u64 = 4 + 4 + 1 + 1;
/// The most duplicates one `kill -9` may cause: the in-flight window.
///
/// A duplicate is a line the sink wrote before the kill whose position is not yet in the
/// checkpoint the next run resumes from (the snapshot and the journal beside it). Each
/// acknowledged batch's position is appended to the journal within a few milliseconds,
/// without fsync (the page cache survives a process crash), so what a kill repeats is the
/// batches written but not yet journaled: at most those in flight, and in practice one or
/// two. `checkpoint.interval` (the fsynced snapshot) bounds only what a power loss costs.
/// Before the journal, each kill repeated up to an interval's delivery, and a run killed
/// before its first checkpoint repeated its predecessor's share too: 810,000 duplicates
/// over 4 kills of 300,000 lines.
const DUPLICATES_PER_KILL: u64 = IN_FLIGHT_BATCHES * MAX_EVENTS;

/// The config of these tests, with checkpoints written every `interval`.
fn config(interval: &str) -> String {
    format!(
        "\
data_dir: ./data
checkpoint: {{ interval: {interval} }}
pipelines:
  p:
    sources:
      - {{ type: file, id: app, include: [\"app.log\"], rescan_interval: 200ms }}
    sinks:
      - {{ type: file, path: out.log }}
"
    )
}

/// The tests each run a daemon and a writer flat out: one at a time, so that the timing
/// each one relies on (the daemon keeping up with the writer) holds on a small machine.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// xorshift64: random kill delays and write sizes, replayable from a printed seed.
struct Rng(u64);

impl Rng {
    fn seeded(test: &str) -> Self {
        let seed = std::env::var("CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                t.as_nanos() as u64 ^ (std::process::id() as u64) << 32
            })
            .max(1);
        println!("{test}: seed {seed} (replay with CRASH_SEED={seed})");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }
}

/// A thread appending `{n:08}\n` lines to a file at `RATE` lines per second, in write()
/// calls of 1 to 300 bytes that mostly end mid-line (the daemon must wait for newlines).
struct Writer {
    stop: Arc<AtomicBool>,
    started: Instant,
    thread: JoinHandle<u64>,
}

impl Writer {
    fn start(path: PathBuf, seed: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            let mut rng = Rng(seed.max(1));
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap();
            let mut pending = Vec::new();
            let (mut next, mut written) = (0u64, 0u64);
            loop {
                let last = stopping.load(Ordering::Relaxed);
                let due = if last {
                    written.div_ceil(LINE) * LINE // finish the line begun
                } else {
                    (started.elapsed().as_secs_f64() * RATE as f64) as u64 * LINE
                };
                while written < due {
                    let n = rng.range(1, 300).min(due - written) as usize;
                    while pending.len() < n {
                        writeln!(pending, "{next:08}").unwrap();
                        next += 1;
                    }
                    f.write_all(&pending[..n]).unwrap();
                    pending.drain(..n);
                    written += n as u64;
                }
                if last {
                    return written / LINE;
                }
                thread::sleep(Duration::from_millis(1));
            }
        });
        Writer {
            stop,
            started,
            thread,
        }
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops after the current line; returns how many lines were written.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("writer thread panicked")
    }
}

/// The checkpoint snapshot of the pipeline's only source (`id: app`); its journal is beside.
fn checkpoint_path(s: &Scratch) -> PathBuf {
    s.path("data/checkpoints/p/source-app.json")
}

/// Reads a checkpoint as the next run will (snapshot, then journal): `Ok(None)` if there is
/// none yet, otherwise the line the next run resumes at. `Err` if the snapshot is not a
/// whole, valid checkpoint, or the mark is not at a line boundary.
fn checkpoint_line(path: &Path) -> Result<Option<u64>, String> {
    if !path.exists() && !path.with_extension("journal").exists() {
        return Ok(None);
    }
    let marks = common::resume_marks(path)?;
    let bad = |why: &str| Err(format!("{why}: {marks:?}"));
    match marks.values().collect::<Vec<_>>()[..] {
        [] => Ok(Some(0)),
        [mark] => {
            let Some(offset) = mark["offset"].as_u64() else {
                return bad("checkpoint mark has no offset");
            };
            if mark["fingerprint"]["len"].as_u64().is_none() {
                return bad("checkpoint mark has no fingerprint");
            }
            if offset % LINE != 0 {
                return bad("checkpoint offset is not at a line boundary");
            }
            Ok(Some(offset / LINE))
        }
        _ => bad("checkpoint has more than one stream for one file"),
    }
}

/// The sink's output, checked one run at a time.
struct Output {
    path: PathBuf,
    /// Bytes already attributed to earlier runs.
    checked: usize,
    /// Set once the output is too broken to attribute lines to runs.
    broken: bool,
}

impl Output {
    fn new(path: PathBuf) -> Self {
        Output {
            path,
            checked: 0,
            broken: false,
        }
    }

    /// Checks what the run that just stopped appended: whole lines, consecutive numbers
    /// starting exactly at `resume` (the line its checkpoint named). Returns the line after
    /// its last one (`resume` if it delivered nothing), or `None` once the output is broken
    /// (the problem goes to `problems`).
    fn check_run(&mut self, run: &str, resume: u64, problems: &mut Vec<String>) -> Option<u64> {
        let len = self.len();
        self.check_run_upto(len, run, resume, problems)
    }

    /// The output's length now.
    fn len(&self) -> usize {
        fs::metadata(&self.path).map_or(0, |m| m.len() as usize)
    }

    /// [`check_run`](Self::check_run) for the run that wrote the output up to byte `len`
    /// (a later run may be appending already).
    fn check_run_upto(
        &mut self,
        len: usize,
        run: &str,
        resume: u64,
        problems: &mut Vec<String>,
    ) -> Option<u64> {
        if self.broken {
            return None;
        }
        let mut new = Vec::new();
        if len > self.checked {
            let mut f = fs::File::open(&self.path).expect("open the output");
            f.seek(SeekFrom::Start(self.checked as u64)).unwrap();
            f.take((len - self.checked) as u64)
                .read_to_end(&mut new)
                .unwrap();
        }
        self.checked = len;
        let new = &new[..];
        if !new.is_empty() && !new.ends_with(b"\n") {
            self.broken = true;
            let tail = String::from_utf8_lossy(&new[new.len().saturating_sub(40)..]);
            problems.push(format!(
                "{run}: the output ends in a partial line ({tail:?}): the sink's write was \
                 torn, the next run's first line is glued to it"
            ));
            return None;
        }
        let mut expect = resume;
        let body = new.strip_suffix(b"\n").unwrap_or(new);
        for line in body.split(|&b| b == b'\n').filter(|_| !body.is_empty()) {
            let n = std::str::from_utf8(line)
                .ok()
                .filter(|l| l.len() == 8)
                .and_then(|l| l.parse::<u64>().ok());
            if n != Some(expect) {
                self.broken = true;
                problems.push(format!(
                    "{run}: resumed at line {resume}, delivered up to {} in order, then {:?} \
                     where {expect} was due",
                    expect.saturating_sub(1),
                    String::from_utf8_lossy(line)
                ));
                return None;
            }
            expect += 1;
        }
        Some(expect)
    }
}

/// The output holds every number below `n`. Cheap while it does not end with `n - 1` yet.
fn complete(out: &Path, n: u64) -> bool {
    let last = || -> std::io::Result<Vec<u8>> {
        let mut f = fs::File::open(out)?;
        f.seek(SeekFrom::End(-(LINE as i64)))?;
        let mut tail = Vec::new();
        f.read_to_end(&mut tail)?;
        Ok(tail)
    };
    let want = format!("{:08}\n", n - 1);
    last().is_ok_and(|tail| tail == want.as_bytes()) && audit(&numbers(out), n).0.is_empty()
}

/// A line number, or `?` where the output could not be attributed.
fn shown(line: Option<u64>) -> String {
    line.map_or("?".into(), |l| l.to_string())
}

/// The last lines a daemon logged, for failure messages.
fn log_tail(d: &Daemon) -> String {
    let log = d.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A scratch directory, kept (and named) when `CRASH_KEEP` is set.
fn scratch() -> Scratch {
    let mut s = Scratch::new();
    if std::env::var_os("CRASH_KEEP").is_some() {
        s.dir.disable_cleanup(true);
        println!("scratch directory kept: {}", s.dir.path().display());
    }
    s
}

/// What a stop-and-restart test saw, for its assertions and failure messages.
#[derive(Default)]
struct Report {
    problems: Vec<String>,
    table: String,
}

impl Report {
    fn fail(&self, what: &str) -> String {
        format!(
            "{what}\nproblems:\n  {}\nruns:\n{}",
            if self.problems.is_empty() {
                "(none)".to_owned()
            } else {
                self.problems.join("\n  ")
            },
            self.table
        )
    }
}

/// Runs a final daemon until the output holds `0..n`, stops it with SIGTERM and checks its
/// run (resumed at line `resume`); returns the numbers delivered.
fn final_drain(
    s: &Scratch,
    daemon: Daemon,
    n: u64,
    resume: u64,
    out: &mut Output,
    r: &mut Report,
) -> Vec<u64> {
    let path = s.path("out.log");
    if !wait_until(Duration::from_secs(30), || complete(&path, n)) {
        let missing = audit(&numbers(&path), n).0;
        panic!(
            "{}\nlast daemon:\n{}",
            r.fail(&format!(
                "the final run never delivered all {n} lines: {} missing, first {:?}",
                missing.len(),
                &missing[..missing.len().min(10)]
            )),
            log_tail(&daemon)
        );
    }
    let tail = log_tail(&daemon);
    let status = daemon.terminate();
    assert!(status.success(), "final SIGTERM: {status}\n{tail}");
    let end = out.check_run("final run", resume, &mut r.problems);
    writeln!(r.table, "  final run: lines {resume}..{}", shown(end)).unwrap();
    numbers(&path)
}

/// Where a series of `kill -9` runs stands.
#[derive(Default)]
struct Crashes {
    kills: u64,
    /// The line the next run resumes at: the last checkpoint on disk.
    resume: u64,
    /// Runs after which the checkpoint had moved forward.
    advanced: u64,
    /// Kills after which a checkpoint file was there.
    found: u64,
    /// Count each delay from when the daemon opened the file, not from its start.
    from_ready: bool,
    /// The most lines one kill made the next run repeat.
    worst: u64,
}

impl Crashes {
    /// Lets `daemon` run for `delay` (from its start, or from when it began tailing the
    /// file), SIGKILLs it, starts the next run, and checks what the killed run delivered and
    /// the checkpoint it left behind (whole, at a line boundary, not ahead of the output).
    fn kill_after(
        &mut self,
        delay: Duration,
        s: &Scratch,
        cfg: &Path,
        daemon: Daemon,
        out: &mut Output,
        r: &mut Report,
    ) -> Daemon {
        if self.from_ready {
            assert!(
                wait_until(Duration::from_secs(20), || daemon
                    .log()
                    .contains("tailing file")),
                "{}\nit logged:\n{}",
                r.fail("the daemon never began tailing app.log"),
                log_tail(&daemon)
            );
        }
        thread::sleep(delay);
        let mut daemon = daemon;
        assert!(
            daemon.alive(),
            "{}\nit logged:\n{}",
            r.fail("the daemon exited on its own"),
            log_tail(&daemon)
        );
        daemon.kill9();
        self.kills += 1;
        let since = if self.from_ready { "tailing" } else { "start" };
        let run = format!("run {} (killed {delay:?} after {since})", self.kills);
        // Restart at once, as a supervisor would: check the dead run's output afterwards.
        let checkpoint = checkpoint_line(&checkpoint_path(s));
        let written = out.len();
        let daemon = s.start(cfg);
        let end = out.check_run_upto(written, &run, self.resume, &mut r.problems);
        let next = match checkpoint {
            Ok(Some(line)) => {
                self.found += 1;
                line
            }
            Ok(None) if self.found > 0 => {
                r.problems
                    .push(format!("after {run}: the checkpoint file vanished"));
                0
            }
            Ok(None) => 0,
            Err(why) => panic!(
                "{}",
                r.fail(&format!("after {run}: torn checkpoint: {why}"))
            ),
        };
        if let Some(end) = end.filter(|&end| next > end) {
            r.problems.push(format!(
                "after {run}: the checkpoint resumes at line {next} but only lines up to {end} \
                 were delivered: lines {end}..{next} are lost"
            ));
        }
        self.advanced += (next > self.resume) as u64;
        if let Some(end) = end {
            self.worst = self.worst.max(end.saturating_sub(next));
        }
        writeln!(
            r.table,
            "  {run}: lines {}..{}, checkpoint at {next}, to be repeated: {}",
            self.resume,
            shown(end),
            shown(end.map(|end| end.saturating_sub(next)))
        )
        .unwrap();
        self.resume = next;
        daemon
    }
}

/// Fails the test if any line below `n` is missing from `nums` or a problem was noted.
fn assert_nothing_lost(nums: &[u64], n: u64, r: &Report) {
    let (missing, _) = audit(nums, n);
    assert!(
        missing.is_empty(),
        "{}",
        r.fail(&format!(
            "{} lines lost, first {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        ))
    );
    assert!(r.problems.is_empty(), "{}", r.fail("recovery misbehaved"));
    let beyond = nums.iter().filter(|&&x| x >= n).count();
    assert_eq!(
        beyond,
        0,
        "{}",
        r.fail(&format!("numbers beyond {n} in the output"))
    );
}

/// `kill -9` at random points while the file grows: nothing is lost, and the duplicates are
/// only those the checkpoint interval and the in-flight window allow. After every kill the
/// checkpoint on disk is a whole JSON document at a line boundary, never ahead of the output.
#[test]
fn kill9_at_random_points_loses_nothing_and_bounds_duplicates() {
    let _serial = serial();
    let mut rng = Rng::seeded("kill9");
    let s = scratch();
    let cfg = s.config(&config(KILL_INTERVAL));
    let writer = Writer::start(s.path("app.log"), rng.next());
    let mut out = Output::new(s.path("out.log"));
    let mut r = Report::default();
    // Kills count from when the daemon is tailing, so that each run gets to deliver and
    // checkpoint as the bound assumes even when a loaded machine starts it slowly (the
    // checkpoint test below kills during start-up too).
    let mut c = Crashes {
        from_ready: true,
        ..Crashes::default()
    };

    let mut daemon = s.start(&cfg);
    while c.kills < 5 || writer.elapsed() < Duration::from_secs(5) {
        let delay = rng.millis(100, 700);
        daemon = c.kill_after(delay, &s, &cfg, daemon, &mut out, &mut r);
    }
    let n = writer.finish();
    let nums = final_drain(&s, daemon, n, c.resume, &mut out, &mut r);
    let (_, dups) = audit(&nums, n);
    println!(
        "{n} lines, {} kills, {dups} duplicates (at most {} after one kill; bound \
         {DUPLICATES_PER_KILL} per kill), checkpoint advanced in {} runs\n{}",
        c.kills, c.worst, c.advanced, r.table
    );
    assert_nothing_lost(&nums, n, &r);
    assert!(
        c.worst <= DUPLICATES_PER_KILL,
        "{}",
        r.fail(&format!(
            "one kill made the next run repeat {} lines: more than the in-flight window \
             of {DUPLICATES_PER_KILL}",
            c.worst
        ))
    );
    assert!(
        dups as u64 <= c.kills * DUPLICATES_PER_KILL,
        "{}",
        r.fail("too many duplicates")
    );
    // Not a vacuous run: kills landed while the daemon was delivering and checkpointing,
    // not only while it was starting up (usually all of them do).
    assert!(
        c.advanced >= 3,
        "{}",
        r.fail(&format!(
            "the checkpoint advanced in only {} of {} runs: the daemon hardly ran",
            c.advanced, c.kills
        ))
    );
}

/// Starts a daemon and waits until its signal handlers are installed (it logs "pipeline
/// added" after installing them), so that a SIGTERM is a clean stop, not a default death.
fn start_ready(s: &Scratch, cfg: &Path) -> Daemon {
    let d = s.start(cfg);
    assert!(
        wait_until(Duration::from_secs(20), || d
            .log()
            .contains("pipeline added")),
        "the daemon did not start\n{}",
        d.log()
    );
    d
}

/// SIGTERM drains and checkpoints everything delivered: stopping and restarting the daemon
/// again and again while the file grows delivers every line exactly once.
#[test]
fn sigterm_restarts_deliver_every_line_exactly_once() {
    let _serial = serial();
    let mut rng = Rng::seeded("sigterm");
    let s = scratch();
    let cfg = s.config(&config("100ms"));
    let writer = Writer::start(s.path("app.log"), rng.next());
    let mut out = Output::new(s.path("out.log"));
    let mut r = Report::default();

    let mut daemon = start_ready(&s, &cfg);
    let mut resume = 0u64;
    for stop in 1..=4 {
        let delay = rng.millis(100, 700);
        thread::sleep(delay);
        let tail = log_tail(&daemon);
        let status = daemon.terminate();
        assert!(status.success(), "SIGTERM {stop}: {status}\n{tail}");
        let run = format!("run {stop} (stopped after {delay:?})");
        let end = out.check_run(&run, resume, &mut r.problems);
        let next = match checkpoint_line(&checkpoint_path(&s)) {
            Ok(line) => line.unwrap_or(0),
            Err(why) => panic!("{}", r.fail(&format!("after {run}: {why}"))),
        };
        if let Some(end) = end.filter(|&end| next != end) {
            r.problems.push(format!(
                "after {run}: delivered lines up to {end} but checkpointed {next}: a clean \
                 stop must checkpoint exactly what it delivered"
            ));
        }
        writeln!(
            r.table,
            "  {run}: lines {resume}..{}, checkpoint at {next}",
            shown(end)
        )
        .unwrap();
        resume = next;
        daemon = start_ready(&s, &cfg);
    }
    let n = writer.finish();
    let nums = final_drain(&s, daemon, n, resume, &mut out, &mut r);
    let (_, dups) = audit(&nums, n);
    println!(
        "{n} lines, 4 clean restarts, {dups} duplicates\n{}",
        r.table
    );
    assert_nothing_lost(&nums, n, &r);
    assert_eq!(dups, 0, "{}", r.fail("a clean stop duplicated lines"));
}

/// Reads the checkpoint over and over from another thread while the daemons run, as a
/// daemon starting at that instant would: it must always be a whole checkpoint, must not
/// vanish once written, and must never move backwards.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, Vec<String>)>,
}

impl Sampler {
    fn start(path: PathBuf) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            let (mut reads, mut problems, mut last) = (0u64, Vec::new(), None::<u64>);
            while !stopping.load(Ordering::Relaxed) && problems.len() < 5 {
                match checkpoint_line(&path) {
                    Ok(Some(line)) => {
                        reads += 1;
                        if last.is_some_and(|l| line < l) {
                            problems.push(format!(
                                "the checkpoint moved back from line {} to {line}",
                                last.unwrap()
                            ));
                        }
                        last = Some(line);
                    }
                    Ok(None) if last.is_some() => problems.push("the checkpoint vanished".into()),
                    Ok(None) => {}
                    Err(why) => problems.push(format!("a reader saw a torn checkpoint: {why}")),
                }
                thread::sleep(Duration::from_micros(200));
            }
            (reads, problems)
        });
        Sampler { stop, thread }
    }

    /// Stops; returns how many checkpoints were read and what was wrong with them.
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler thread panicked")
    }
}

/// With the checkpoint rewritten every millisecond, kills land while one is being written,
/// and a reader keeps reading it meanwhile: the file must always be a whole checkpoint (the
/// previous one or the new one), and every restart must resume from it and lose nothing.
#[test]
fn kill9_during_checkpoint_writes_never_leaves_a_torn_checkpoint() {
    let _serial = serial();
    let mut rng = Rng::seeded("torn");
    let s = scratch();
    let cfg = s.config(&config("1ms"));
    let writer = Writer::start(s.path("app.log"), rng.next());
    let sampler = Sampler::start(checkpoint_path(&s));
    let mut out = Output::new(s.path("out.log"));
    let mut r = Report::default();
    let mut c = Crashes::default();

    let mut daemon = s.start(&cfg);
    for _ in 0..15 {
        let delay = rng.millis(30, 250);
        daemon = c.kill_after(delay, &s, &cfg, daemon, &mut out, &mut r);
    }
    let n = writer.finish();
    let nums = final_drain(&s, daemon, n, c.resume, &mut out, &mut r);
    let (reads, torn) = sampler.finish();
    r.problems.extend(torn);
    let (_, dups) = audit(&nums, n);
    println!(
        "{n} lines, {} kills, {dups} duplicates, {} checkpoints found after kills, {reads} \
         read while running\n{}",
        c.kills, c.found, r.table
    );
    assert_nothing_lost(&nums, n, &r);
    assert!(
        c.found >= 10 && reads >= 500,
        "{}",
        r.fail(&format!(
            "too few checkpoints to judge: {} found after 15 kills, {reads} read while running",
            c.found
        ))
    );
}
