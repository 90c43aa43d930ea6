//! The command line contract: `--help` everywhere, `--version`, completions and the man
//! page, the default demo (from any directory), stdin pipes, `--once`.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Scratch, bin, lines, run_ok, wait_until};

#[test]
fn every_command_has_help() {
    for args in [&["--help"][..], &["run", "--help"], &["validate", "--help"]] {
        let out = Command::new(bin()).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: logcatch"), "{args:?}: {text}");
    }
    let out = Command::new(bin())
        .args(["run", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--config <FILE>") && text.contains("--once"),
        "{text}"
    );
}

#[test]
fn version_names_the_contract_and_the_wasmtime_it_runs() {
    let out = Command::new(bin()).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("logcatch {}", env!("CARGO_PKG_VERSION")),
        "{text}"
    );
    assert_eq!(lines[1], "contract logcatch:plugin@0.1.0", "{text}");
    let wasmtime = lines[2]
        .strip_prefix("wasmtime 48.")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        wasmtime.split('.').all(|n| n.parse::<u32>().is_ok()),
        "{text}"
    );
    // The contract it names is the one in wit/.
    let wit = std::fs::read_to_string(common::repo().join("wit/logcatch.wit")).unwrap();
    assert!(wit.contains("package logcatch:plugin@0.1.0;"));
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for sub in ["validate", "tap", "top", "completions"] {
            assert!(script.contains(sub), "{shell}: no `{sub}` in\n{script}");
        }
        // Each is checked by its own shell (scripts/setup installs zsh and fish).
        let interpreter = match shell {
            "bash" => "/bin/bash",
            "zsh" => "/usr/bin/zsh",
            _ => "/usr/bin/fish",
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("script"), &script).unwrap();
        run_ok(dir.path(), interpreter, &["-n", "script"], &[]);
    }
    let out = Command::new(bin())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_man_page_is_generated_with_one_page_per_command() {
    let out = Command::new(bin()).arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH logcatch 1"), "{page}");
    assert!(page.contains("validate"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    run_ok(dir.path(), bin(), &["man", "--dir", "man1"], &[]);
    for page in [
        "logcatch.1",
        "logcatch-run.1",
        "logcatch-validate.1",
        "logcatch-tap.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join("man1").join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
}

#[test]
fn no_arguments_runs_the_demo_through_its_filters_to_stdout_until_sigint() {
    // From a directory that holds no plugin: the default config's are built into the binary.
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .current_dir(cwd.path())
        .env_remove("LOGCATCH_PLUGIN_PATH")
        .env("LOGCATCH_DATA_DIR", data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut text = String::new();
    let mut chunk = [0u8; 4096];
    while text.matches('\n').count() < 6 {
        let n = stdout.read(&mut chunk).unwrap();
        assert!(n > 0, "stdout closed early: {text}");
        text.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    assert!(text.contains(" seq="), "{text}");
    assert!(
        !text.contains(" DEBUG "),
        "drop_debug let a DEBUG line through: {text}"
    );
    assert!(
        !text.contains("host=10.0."),
        "redact let an address through: {text}"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("stopped cleanly; checkpoints written"),
        "{err}"
    );
    assert!(common::checkpoint_file(data.path(), "demo").is_some_and(|p| p.exists()));
}

#[test]
fn stdin_lines_are_delivered_and_the_run_ends_with_the_input() {
    let s = Scratch::new();
    let cfg = s.config(
        "data_dir: ./data\npipelines:\n  p:\n    sources: [{type: stdin}]\n    sinks: [{type: file, path: out.log, format: json}]\n",
    );
    let mut child = Command::new(bin())
        .args(["run", "-c"])
        .arg(&cfg)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(b"first line\nsecond \"quoted\" line\nno newline at the end")
        .unwrap();
    drop(input);
    let status = child.wait().unwrap();
    assert!(status.success());
    let got: Vec<serde_json::Value> = lines(&s.path("out.log"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let messages: Vec<_> = got.iter().map(|v| v["message"].as_str().unwrap()).collect();
    assert_eq!(
        messages,
        [
            "first line",
            "second \"quoted\" line",
            "no newline at the end"
        ]
    );
    assert_eq!(got[0]["source"], "stdin");
    assert!(got[0]["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn once_reads_several_pipelines_to_their_end_and_resumes_next_time() {
    let s = Scratch::new();
    std::fs::write(s.path("a.log"), "a1\na2\n").unwrap();
    std::fs::write(s.path("b.log"), "b1\n").unwrap();
    let cfg = s.config(
        "\
data_dir: ./data
pipelines:
  a:
    sources: [{type: file, include: [a.log]}]
    sinks: [{type: file, path: out-a.log}]
  b:
    sources: [{type: file, include: [b.log]}]
    sinks: [{type: file, path: out-b.log}, {type: file, path: copy-b.log, format: json}, {type: blackhole}]
",
    );
    let (status, err) = s.run_once(&cfg);
    assert!(status.success(), "{err}");
    assert_eq!(lines(&s.path("out-a.log")), ["a1", "a2"]);
    assert_eq!(lines(&s.path("out-b.log")), ["b1"]);
    assert_eq!(lines(&s.path("copy-b.log")).len(), 1);

    // A partial last line waits for its newline; the next run resumes after the checkpoint.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(s.path("a.log"))
        .unwrap();
    f.write_all(b"a3\na4 partial").unwrap();
    let (status, _) = s.run_once(&cfg);
    assert!(status.success());
    assert_eq!(lines(&s.path("out-a.log")), ["a1", "a2", "a3"]);
    f.write_all(b" done\n").unwrap();
    s.run_once(&cfg);
    assert_eq!(
        lines(&s.path("out-a.log")),
        ["a1", "a2", "a3", "a4 partial done"]
    );
    assert_eq!(lines(&s.path("out-b.log")), ["b1"]);
}

#[test]
fn new_files_matching_the_glob_are_picked_up_while_running() {
    let s = Scratch::new();
    std::fs::create_dir(s.path("logs")).unwrap();
    std::fs::write(s.path("logs/skip.gz"), "compressed\n").unwrap();
    let cfg = s.config(
        "\
data_dir: ./data
pipelines:
  p:
    sources: [{type: file, include: [\"logs/*\"], exclude: [\"*.gz\"], rescan_interval: 10s}]
    sinks: [{type: file, path: out.log}]
",
    );
    let daemon = s.start(&cfg);
    // Rescans are rare here: the file-system events must find the new file.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(s.path("logs/new.log"), "hello\n").unwrap();
    let out = s.path("out.log");
    assert!(
        wait_until(Duration::from_secs(5), || lines(&out) == ["hello"]),
        "{:?}\n{}",
        lines(&out),
        daemon.log()
    );
    assert!(daemon.terminate().success());
    assert_eq!(lines(&out), ["hello"], "excluded file was read");
}
