//! The state a daemon keeps in `data_dir`, attacked as an operator's bad day would: a second
//! daemon on the same directory, a directory it cannot write, sources inserted and reordered
//! by a reload, a corrupt or foreign checkpoint, a pipeline name given twice. Each case lost
//! or doubled data before (issue 13); each test runs the real binary.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::http::{api_addr, get_json, post};
use common::{Scratch, bin, lines, numbered_lines, wait_until};

/// Writes `n` numbered lines to `name` in the scratch directory; returns them.
fn write_lines(s: &Scratch, name: &str, n: usize) -> Vec<String> {
    let all = numbered_lines(n, 40, "", false);
    fs::write(s.path(name), all.join("\n") + "\n").unwrap();
    all
}

/// Runs `logcatch ARGS -c CONFIG` to its end; returns (exit code, stderr).
fn run(args: &[&str], config: &Path) -> (i32, String) {
    let out = Command::new(bin())
        .args(args)
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_second_daemon_on_the_same_data_dir_is_refused_naming_the_first() {
    // Both used to run: 50k lines came out as 100k.
    let s = Scratch::new();
    let input = write_lines(&s, "in.log", 5000);
    let cfg = s.config(
        "\
data_dir: ./data
pipelines:
  p:
    sources: [{ type: file, include: [\"in.log\"] }]
    sinks: [{ type: file, path: out.log }]
",
    );
    let first = s.start(&cfg);
    assert!(
        wait_until(Duration::from_secs(20), || lines(&s.path("out.log")).len()
            == 5000),
        "{}",
        first.log()
    );
    let (code, err) = run(&["run"], &cfg);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("in use by another logcatch (pid {})", first.pid())),
        "{err}"
    );
    let (code, err) = run(&["run", "--once"], &cfg);
    assert_eq!(code, 1, "--once too: {err}");
    assert!(first.terminate().success());
    assert_eq!(lines(&s.path("out.log")), input, "nothing delivered twice");
    // Once the first is gone (even by kill -9: the lock is the kernel's), a new one runs.
    let again = s.start(&cfg);
    assert!(
        wait_until(Duration::from_secs(20), || again
            .log()
            .contains("tailing file")),
        "{}",
        again.log()
    );
    again.kill9();
    let (code, err) = run(&["run", "--once"], &cfg);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines(&s.path("out.log")), input);
}

/// Makes a directory immutable (no entry can be created or removed in it, even by root)
/// for as long as it lives.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(dir: &Path) -> Self {
        let ok = Command::new("chattr").arg("+i").arg(dir).status().unwrap();
        assert!(ok.success(), "chattr +i {}", dir.display());
        Immutable(dir.to_owned())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn a_data_dir_that_cannot_be_written_fails_validate_and_run() {
    // `validate` and `run --once` exited 0 ("checkpointed"), the next run delivered all again.
    let s = Scratch::new();
    write_lines(&s, "in.log", 100);
    let cfg = s.config(
        "\
data_dir: ./data
pipelines:
  p:
    sources: [{ type: file, id: logs, include: [\"in.log\"] }]
    sinks: [{ type: file, path: out.log }]
",
    );
    let (code, err) = run(&["run", "--once"], &cfg);
    assert_eq!(code, 0, "{err}");
    let checkpoints = s.path("data/checkpoints/p");
    assert!(checkpoints.join("source-logs.json").exists());
    {
        let _frozen = Immutable::set(&s.path("data"));
        let (code, err) = run(&["validate"], &cfg);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("data_dir") && err.contains("cannot be written"),
            "{err}"
        );
        let (code, err) = run(&["run", "--once"], &cfg);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("cannot be written"), "{err}");
    }
    // Writable, but the checkpoint's own directory is not: the run delivers and then cannot
    // checkpoint, which must fail the run, not claim it checkpointed.
    fs::write(
        s.path("in.log"),
        numbered_lines(150, 40, "", false).join("\n") + "\n",
    )
    .unwrap();
    let _frozen = Immutable::set(&checkpoints);
    let (code, err) = run(&["run", "--once"], &cfg);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("cannot write checkpoint"), "{err}");
    assert!(
        !err.contains("every batch delivered and checkpointed"),
        "{err}"
    );
}

#[test]
fn inserting_and_reordering_sources_keeps_each_sources_checkpoints() {
    // Checkpoints were named by position: inserting a source before another lost 100 lines
    // with `start_at: end` and re-read 10,000 with `beginning`.
    let s = Scratch::new();
    let a = write_lines(&s, "a.log", 10_000);
    let yaml = |sources: &str| {
        format!(
            "data_dir: ./data\napi: {{ listen: \"127.0.0.1:0\" }}\npipelines:\n  p:\n    sources:\n{sources}    sinks: [{{ type: file, path: out.log }}]\n"
        )
    };
    let source_a = "      - { type: file, include: [\"a.log\"], start_at: beginning }\n";
    let source_b = "      - { type: file, include: [\"b.log\"], start_at: end }\n";
    let cfg = s.config(&yaml(source_a));
    let daemon = s.start(&cfg);
    let api = api_addr(&daemon, Duration::from_secs(20));
    assert!(wait_until(Duration::from_secs(20), || lines(
        &s.path("out.log")
    )
    .len()
        == 10_000));
    // Insert b before a: a must not be read again.
    fs::write(s.path("b.log"), "b old line\n").unwrap();
    s.config(&yaml(&format!("{source_b}{source_a}")));
    let (status, body) = post(&api, "/reload", "");
    assert_eq!(status, 200, "{body}");
    assert!(wait_until(Duration::from_secs(20), || daemon
        .log()
        .contains("b.log")));
    // b is tailed from its end; what is written now arrives once.
    let mut b = fs::OpenOptions::new()
        .append(true)
        .open(s.path("b.log"))
        .unwrap();
    std::io::Write::write_all(&mut b, b"b new 1\nb new 2\n").unwrap();
    assert!(wait_until(Duration::from_secs(20), || lines(
        &s.path("out.log")
    )
    .len()
        >= 10_002));
    // Swap them back: neither is read again, b keeps its place.
    s.config(&yaml(&format!("{source_a}{source_b}")));
    let (status, body) = post(&api, "/reload", "");
    assert_eq!(status, 200, "{body}");
    std::io::Write::write_all(&mut b, b"b new 3\n").unwrap();
    assert!(wait_until(Duration::from_secs(20), || lines(
        &s.path("out.log")
    )
    .len()
        >= 10_003));
    std::thread::sleep(Duration::from_millis(500));
    let doc = get_json(&api, "/pipelines");
    assert_eq!(doc["reloads"]["refused"], 0, "{doc}");
    assert!(daemon.terminate().success());
    let mut want = a.clone();
    want.extend(["b new 1", "b new 2", "b new 3"].map(String::from));
    assert_eq!(lines(&s.path("out.log")), want, "lines lost or read twice");
}

#[test]
fn positional_checkpoints_of_an_older_logcatch_are_taken_over() {
    let s = Scratch::new();
    let input = write_lines(&s, "in.log", 300);
    let cfg = s.config(
        "\
data_dir: ./data
pipelines:
  p:
    sources: [{ type: file, include: [\"in.log\"] }]
    sinks: [{ type: file, path: out.log }]
",
    );
    let (code, err) = run(&["run", "--once"], &cfg);
    assert_eq!(code, 0, "{err}");
    // Make it look as an older logcatch left it: the checkpoint under the source's position.
    let snapshot = common::checkpoint_file(&s.path("data"), "p").unwrap();
    fs::rename(&snapshot, s.path("data/checkpoints/p/source-0.json")).unwrap();
    let _ = fs::remove_file(snapshot.with_extension("journal"));
    let (code, err) = run(&["run", "--once"], &cfg);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("checkpoint moved from its position"), "{err}");
    assert_eq!(
        lines(&s.path("out.log")),
        input,
        "read again after the upgrade"
    );
}

#[test]
fn a_corrupt_or_foreign_checkpoint_stops_only_its_pipeline() {
    // One corrupt file stopped every pipeline; the version was never checked.
    let s = Scratch::new();
    write_lines(&s, "a.log", 50);
    let b = write_lines(&s, "b.log", 50);
    let cfg = s.config(
        "\
data_dir: ./data
api: { listen: \"127.0.0.1:0\" }
pipelines:
  broken:
    sources: [{ type: file, id: a, include: [\"a.log\"] }]
    sinks: [{ type: file, path: a-out.log }]
  fine:
    sources: [{ type: file, id: b, include: [\"b.log\"] }]
    sinks: [{ type: file, path: b-out.log }]
",
    );
    let dir = s.path("data/checkpoints/broken");
    fs::create_dir_all(&dir).unwrap();
    for (content, says) in [
        ("{not json", "is corrupt"),
        (r#"{"version":9,"streams":{}}"#, "format version 9"),
    ] {
        fs::write(dir.join("source-a.json"), content).unwrap();
        let (code, err) = run(&["validate"], &cfg);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(says) && err.contains("source-a.json"), "{err}");
        let daemon = s.start(&cfg);
        let api = api_addr(&daemon, Duration::from_secs(20));
        assert!(
            wait_until(Duration::from_secs(20), || lines(&s.path("b-out.log"))
                .len()
                == 50),
            "the other pipeline must run\n{}",
            daemon.log()
        );
        let doc = get_json(&api, "/pipelines");
        let broken = &doc["pipelines"]["broken"];
        assert_eq!(broken["state"], "failed", "{doc}");
        let why = broken["last_error"].as_str().unwrap();
        assert!(why.contains(says) && why.contains("source-a.json"), "{why}");
        assert_eq!(doc["pipelines"]["fine"]["state"], "running");
        assert!(daemon.terminate().success());
        assert!(lines(&s.path("a-out.log")).is_empty());
    }
    assert_eq!(lines(&s.path("b-out.log")), b);
    // With --once the run fails, and names the pipeline.
    let (code, err) = run(&["run", "--once"], &cfg);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pipeline broken failed"), "{err}");
}

#[test]
fn a_pipeline_name_given_twice_is_refused_with_both_places() {
    // The last one won, silently.
    let s = Scratch::new();
    let cfg = s.config(
        "\
data_dir: ./data
pipelines:
  web:
    sources: [{ type: demo }]
    sinks: [{ type: stdout }]
  web:
    sources: [{ type: demo, rate: 5 }]
    sinks: [{ type: stdout }]
",
    );
    let (code, err) = run(&["validate"], &cfg);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("logcatch.yaml:6:3: pipelines.web: given twice (first at line 3, column 3)"),
        "{err}"
    );
}

#[test]
fn two_sources_that_would_share_checkpoints_are_refused() {
    let s = Scratch::new();
    let yaml = |second: &str| {
        format!(
            "data_dir: ./data\npipelines:\n  p:\n    sources:\n      - {{ type: file, include: [\"a.log\"] }}\n      - {second}\n    sinks: [{{ type: stdout }}]\n"
        )
    };
    let (code, err) = run(
        &["validate"],
        &s.config(&yaml(r#"{ type: file, include: ["a.log"] }"#)),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("pipelines.p.sources[1]: the same source as sources[0]"),
        "{err}"
    );
    let (code, err) = run(
        &["validate"],
        &s.config(&yaml(r#"{ type: file, id: x, include: ["a.log"] }"#)),
    );
    assert_eq!(code, 0, "an id tells them apart: {err}");
    let (code, err) = run(
        &["validate"],
        &s.config(&yaml(r#"{ type: file, id: "a b", include: ["b.log"] }"#)),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sources[1].id: `a b` may only use"), "{err}");
}

/// `n` lines, every other one carrying `POISON` (the `poison` test guest traps on them).
fn poisoned_lines(s: &Scratch, n: usize) -> Vec<String> {
    let all = numbered_lines(n, 60, "POISON", true);
    fs::write(s.path("in.log"), all.join("\n") + "\n").unwrap();
    all
}

/// The messages of the dead-letter file at `path` (every line must be whole JSON).
fn dead_messages(path: &Path) -> Vec<String> {
    lines(path)
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("torn dead letter {l:?}: {e}"));
            v["message"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn a_full_dead_letter_file_holds_the_pipeline_until_it_is_moved_away() {
    // The file had no size cap.
    let s = Scratch::new();
    let input = poisoned_lines(&s, 200);
    let cfg = s.config(&format!(
        "\
data_dir: ./data
dead_letter: {{ max_bytes: 4KiB }}
api: {{ listen: \"127.0.0.1:0\" }}
pipelines:
  p:
    sources: [{{ type: file, include: [\"in.log\"] }}]
    batch: {{ max_events: 20 }}
    filters: [{{ wasm: {:?} }}]
    sinks: [{{ type: file, path: out.log }}]
",
        common::guest("poison").display().to_string()
    ));
    let d = s.start(&cfg);
    let api = api_addr(&d, Duration::from_secs(20));
    let state = || get_json(&api, "/pipelines")["pipelines"]["p"].clone();
    assert!(
        wait_until(Duration::from_secs(30), || state()["state"] == "blocked"),
        "{}\n{}",
        state(),
        d.log()
    );
    assert!(
        d.log().contains("the dead-letter file is full"),
        "{}",
        d.log()
    );
    // The operator moves each full file away; the pipeline goes on each time.
    let file = s.path("data/dead_letter/p.ndjson");
    let mut moved = Vec::new();
    let done = wait_until(Duration::from_secs(120), || {
        if lines(&s.path("out.log")).len() == 100 {
            return true;
        }
        if state()["state"] == "blocked" && file.exists() {
            let next = s.path(&format!("p.ndjson.{}", moved.len() + 1));
            fs::rename(&file, &next).unwrap();
            moved.push(next);
        }
        std::thread::sleep(Duration::from_millis(100));
        false
    });
    assert!(done, "{}", d.log());
    assert!(moved.len() >= 2, "the cap was hit {} times", moved.len());
    assert!(wait_until(Duration::from_secs(10), || state()["state"] == "running"));
    assert!(d.terminate().success());
    let mut dead: Vec<String> = moved.iter().flat_map(|p| dead_messages(p)).collect();
    dead.extend(dead_messages(&file));
    let poison: Vec<String> = input
        .iter()
        .filter(|l| l.contains("POISON"))
        .cloned()
        .collect();
    assert_eq!(
        dead, poison,
        "every poison line once, in order, across the files"
    );
    assert!(
        fs::metadata(&moved[0]).unwrap().len() <= 4096 + 1024,
        "the cap held"
    );
}

#[test]
fn a_dead_letter_write_cut_short_by_a_full_disk_is_resumed_whole() {
    // After a partial write the whole buffer was appended again: torn and doubled lines.
    // data_dir is a 256 KiB tmpfs in a mount namespace of the daemon's own, nearly full;
    // the test frees it through /proc/PID/root.
    let s = Scratch::new();
    let input = poisoned_lines(&s, 2000);
    let mount = s.path("small");
    fs::create_dir(&mount).unwrap();
    let cfg = s.config(&format!(
        "\
data_dir: {data:?}
cache_dir: {cache:?}
pipelines:
  p:
    sources: [{{ type: file, include: [{input:?}] }}]
    filters: [{{ wasm: {wasm:?} }}]
    sinks: [{{ type: file, path: {out:?} }}]
",
        data = mount.join("data").display().to_string(),
        cache = s.path("cache").display().to_string(),
        input = s.path("in.log").display().to_string(),
        wasm = common::guest("poison").display().to_string(),
        out = s.path("out.log").display().to_string(),
    ));
    let log = fs::File::create(s.path("daemon-full.log")).unwrap();
    let child = Command::new("unshare")
        .args(["-rm", "sh", "-c"])
        .arg("mount -t tmpfs -o size=512k tmpfs \"$0\" && head -c 430000 /dev/zero > \"$0/fill\" && exec \"$1\" run -c \"$2\"")
        .arg(&mount)
        .arg(bin())
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("unshare (util-linux) runs");
    let d = common::Daemon::from_child(child, s.path("daemon-full.log"));
    let inside = std::path::PathBuf::from(format!("/proc/{}/root{}", d.pid(), mount.display()));
    assert!(
        wait_until(Duration::from_secs(60), || d
            .log()
            .contains("cannot write dead letters")),
        "never hit the full disk\n{}",
        d.log()
    );
    fs::remove_file(inside.join("fill")).unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || lines(&s.path("out.log")).len()
            == 1000),
        "{}",
        d.log()
    );
    let dead = dead_messages(&inside.join("data/dead_letter/p.ndjson"));
    assert!(d.terminate().success());
    let poison: Vec<String> = input
        .iter()
        .filter(|l| l.contains("POISON"))
        .cloned()
        .collect();
    assert_eq!(dead.len(), poison.len(), "dead letters doubled or lost");
    assert_eq!(dead, poison);
}
