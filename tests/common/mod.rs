//! Shared helpers for the end-to-end tests: run the real `logcatch` binary on real files.
#![allow(dead_code)]

pub mod etcd;
pub mod http;
pub mod kafka;
pub mod search;
pub mod server;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd args` in `dir` with `envs` added; returns its stdout and stderr, and fails the
/// test with them unless it succeeds (build scripts, generated projects' tests).
pub fn run_ok(
    dir: &Path,
    cmd: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    envs: &[(&str, &Path)],
) -> String {
    let cmd = cmd.as_ref();
    let out = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", cmd.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{} {args:?} failed in {}:\n{text}",
        cmd.display(),
        dir.display()
    );
    text
}

/// The binary under test: this build's, or the one `LOGCATCH_BIN` names (to run a test
/// against another build, e.g. the last release, and see a regression test fail there).
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("LOGCATCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_logcatch").to_owned())
    })
}

/// How a run of the binary went, measured by the kernel.
pub struct Measured {
    pub status: ExitStatus,
    /// Its stderr (the log), lossily decoded; cut to the first 4 MiB.
    pub log: String,
    /// How many bytes it wrote to stderr.
    pub log_bytes: u64,
    /// Its peak resident set size, in bytes.
    pub max_rss: u64,
    /// Wall time from start to exit.
    pub took: Duration,
}

/// Runs `logcatch ARGS` with `envs` to its exit (at most `timeout`, then killed), stderr
/// to `log_path`; measures its peak RSS with `wait4` (this child's own, whatever else the
/// test process runs).
pub fn run_measured(
    args: &[&str],
    envs: &[(&str, &str)],
    log_path: &Path,
    timeout: Duration,
) -> Measured {
    let log = fs::File::create(log_path).unwrap();
    let started = Instant::now();
    // Reaped by `wait4` below (which also measures it), not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(bin())
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn logcatch");
    let pid = child.id() as libc::pid_t;
    let (status, rusage) = loop {
        let mut status = 0;
        // SAFETY: plain syscall on our own child, with out-pointers to locals.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage);
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if started.elapsed() > timeout {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("logcatch {args:?} did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    use std::os::unix::process::ExitStatusExt;
    let log_bytes = fs::metadata(log_path).map_or(0, |m| m.len());
    let mut head = Vec::new();
    use std::io::Read;
    fs::File::open(log_path)
        .unwrap()
        .take(4 << 20)
        .read_to_end(&mut head)
        .unwrap();
    Measured {
        status: ExitStatus::from_raw(status),
        log: String::from_utf8_lossy(&head).into_owned(),
        log_bytes,
        max_rss: rusage.ru_maxrss as u64 * 1024,
        took,
    }
}

/// A scratch directory that holds a config, inputs, outputs and `data_dir`.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `yaml` as `logcatch.yaml` (paths in it are relative to the scratch dir).
    pub fn config(&self, yaml: &str) -> PathBuf {
        let p = self.path("logcatch.yaml");
        fs::write(&p, yaml).unwrap();
        p
    }

    /// Runs `logcatch run -c CONFIG --once` to completion; returns (status, stderr).
    pub fn run_once(&self, config: &Path) -> (ExitStatus, String) {
        let out = Command::new(bin())
            .args(["run", "--once", "-c"])
            .arg(config)
            .stdin(Stdio::null())
            .output()
            .expect("run logcatch");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Starts `logcatch run -c CONFIG` in the background, stderr to `daemon-N.log`.
    pub fn start(&self, config: &Path) -> Daemon {
        self.start_with_env(config, &[])
    }

    /// [`start`](Self::start) with `envs` added to its environment.
    pub fn start_with_env(&self, config: &Path, envs: &[(&str, &str)]) -> Daemon {
        let n = (0..)
            .find(|n| !self.path(&format!("daemon-{n}.log")).exists())
            .unwrap();
        let log_path = self.path(&format!("daemon-{n}.log"));
        let log = fs::File::create(&log_path).unwrap();
        let child = Command::new(bin())
            .args(["run", "-c"])
            .arg(config)
            .env("LOGCATCH_LOG", "info")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn logcatch");
        Daemon {
            child: Some(child),
            log_path,
        }
    }
}

/// A running `logcatch run`; killed if still running when dropped.
pub struct Daemon {
    child: Option<Child>,
    pub log_path: PathBuf,
}

impl Daemon {
    /// A daemon started some other way, logging to `log_path`.
    pub fn from_child(child: Child, log_path: PathBuf) -> Daemon {
        Daemon {
            child: Some(child),
            log_path,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// Sends `signal` and waits (up to 30 s) for the exit status.
    pub fn signal_and_wait(mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        unsafe { libc::kill(child.id() as i32, signal) };
        wait_timeout(&mut child, Duration::from_secs(30)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!(
                "logcatch did not exit within 30 s of signal {signal}\n{}",
                self.log()
            )
        })
    }

    /// SIGTERM: a clean stop.
    pub fn terminate(self) -> ExitStatus {
        self.signal_and_wait(libc::SIGTERM)
    }

    /// SIGTERM, then asserts the daemon exited cleanly; returns its log.
    pub fn stop(self) -> String {
        let log_path = self.log_path.clone();
        let status = self.terminate();
        let log = fs::read_to_string(log_path).unwrap_or_default();
        assert!(status.success(), "logcatch exited with {status}\n{log}");
        log
    }

    /// SIGKILL: a crash.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// `n` numbered lines of about `len` bytes (with a two-byte `é`); those at odd indices carry
/// `word` when `every_other` (a hostile guest's trigger).
pub fn numbered_lines(n: usize, len: usize, word: &str, every_other: bool) -> Vec<String> {
    (0..n)
        .map(|i| {
            let tag = if every_other && i % 2 == 1 {
                word
            } else {
                "ok"
            };
            let head = format!("line {i:05} {tag} é ");
            format!("{head}{}", "x".repeat(len.saturating_sub(head.len())))
        })
        .collect()
}

/// The checkpoint snapshot of the only source of `pipeline` under `data_dir`
/// (`checkpoints/<pipeline>/source-<key>.json`), if there is one.
pub fn checkpoint_file(data_dir: &Path, pipeline: &str) -> Option<PathBuf> {
    let dir = data_dir.join("checkpoints").join(pipeline);
    let mut found: Vec<PathBuf> = fs::read_dir(&dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("source-") && name.ends_with(".json")
        })
        .collect();
    assert!(
        found.len() <= 1,
        "more than one source checkpoint: {found:?}"
    );
    found.pop()
}

/// The marks a source resumes from, as logcatch reads them: the snapshot at `snapshot`
/// (`Err` if it is not a whole checkpoint of version 1), then the journal beside it
/// (entries newer than the snapshot; a torn line skipped). Empty if there is neither.
///
/// Safe while a daemon writes them: the journal is read first. It is deleted only after a
/// newer snapshot is in place, and refilled only after that, so whichever snapshot is read
/// next holds at least what the journal read before it said.
pub fn resume_marks(
    snapshot: &Path,
) -> Result<std::collections::BTreeMap<String, serde_json::Value>, String> {
    let journal = fs::read_to_string(snapshot.with_extension("journal")).unwrap_or_default();
    let mut marks = std::collections::BTreeMap::new();
    let mut seq = 0;
    match fs::read_to_string(snapshot) {
        Ok(text) => {
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("checkpoint is not JSON ({e}): {text:?}"))?;
            if v["version"] != 1 {
                return Err(format!("checkpoint version is not 1: {text:?}"));
            }
            seq = v["seq"].as_u64().unwrap_or(0);
            for (k, m) in v["streams"]
                .as_object()
                .ok_or_else(|| format!("checkpoint has no streams object: {text:?}"))?
            {
                marks.insert(k.clone(), m.clone());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", snapshot.display())),
    }
    for line in journal.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if entry["seq"].as_u64().is_some_and(|s| s > seq) {
            marks.insert(
                entry["key"].as_str().unwrap_or_default().to_owned(),
                entry["mark"].clone(),
            );
        }
    }
    Ok(marks)
}

/// Lines of a file (empty if it does not exist).
pub fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The numbers found as the last whitespace-separated field (or `seq=N`) of each line.
pub fn numbers(path: &Path) -> Vec<u64> {
    lines(path)
        .iter()
        .filter_map(|l| {
            let last = l.rsplit(' ').next()?;
            last.strip_prefix("seq=").unwrap_or(last).parse().ok()
        })
        .collect()
}

/// Counts of each number in `nums`: (missing from 0..n, duplicated).
pub fn audit(nums: &[u64], n: u64) -> (Vec<u64>, usize) {
    let mut seen = vec![0u32; n as usize];
    let mut extra = 0;
    for &x in nums {
        if x < n {
            seen[x as usize] += 1;
            if seen[x as usize] > 1 {
                extra += 1;
            }
        }
    }
    let missing = (0..n).filter(|&i| seen[i as usize] == 0).collect();
    (missing, extra)
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `.wasm` of guest crate `crate_name` (e.g. `drop_debug`), built from source by
/// `scripts/build-guests` (once per test process; cargo makes later builds no-ops).
pub fn guest(crate_name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new(repo().join("scripts/build-guests"))
            .output()
            .expect("run scripts/build-guests");
        assert!(
            out.status.success(),
            "scripts/build-guests failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let path = repo()
        .join("target/guests/wasm32-wasip2/release")
        .join(format!("{crate_name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Appends numbered JSON log lines `range` to `path`, as an application would:
/// `{"seq":N,"level":L,"text":"request N done"}`, `L` going info, warn, error.
pub fn append_json_lines(path: &Path, range: std::ops::Range<u64>) {
    use std::io::Write;
    let mut text = String::new();
    for i in range {
        let level = ["info", "warn", "error"][(i % 3) as usize];
        text.push_str(&format!(
            "{{\"seq\":{i},\"level\":\"{level}\",\"text\":\"request {i} done\"}}\n"
        ));
    }
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Runs `logcatch validate` on `yaml` (written into `scratch`), fails the test if it is
/// accepted, and returns what it printed on stderr.
pub fn validate_refuses(scratch: &Scratch, yaml: &str) -> String {
    let out = Command::new(bin())
        .args(["validate", "-c"])
        .arg(scratch.config(yaml))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{yaml} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Opens `path` for appending (`O_APPEND`, one `write(2)` lands whole at the end), creating
/// it: how a program that logs writes.
pub fn append(path: &Path) -> fs::File {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}
