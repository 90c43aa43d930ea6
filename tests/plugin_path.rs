//! Plugins named by a bare file name are found wherever logcatch is installed: the config's
//! directory, `LOGCATCH_PLUGIN_PATH`, `lib/logcatch/plugins` beside the binary, then the
//! examples built into it. A name found nowhere is refused with every place looked.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{Scratch, bin, guest};

/// A `--once` pipeline from `in.log` to `out.log` through the filter `wasm` (as written),
/// dropping DEBUG lines if that filter is drop_debug.
fn config(s: &Scratch, wasm: &str) -> std::path::PathBuf {
    s.config(&format!(
        "data_dir: data\n\
         pipelines:\n  \
           p:\n    \
             sources: [{{type: file, include: [in.log], start_at: beginning}}]\n    \
             filters: [{{wasm: {wasm}, config: {{levels: [DEBUG]}}}}]\n    \
             sinks: [{{type: file, path: out.log}}]\n"
    ))
}

/// Runs `logcatch run --once` on `config` from `cwd` with `envs`; returns (ok, stderr).
fn run_once(bin: &Path, cwd: &Path, config: &Path, envs: &[(&str, &Path)]) -> (bool, String) {
    let out = Command::new(bin)
        .args(["run", "--once", "-c"])
        .arg(config)
        .current_dir(cwd)
        .env_remove("LOGCATCH_PLUGIN_PATH")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn input(s: &Scratch) {
    std::fs::write(s.path("in.log"), "INFO kept 1\nDEBUG gone 2\nWARN kept 3\n").unwrap();
}

fn delivered(s: &Scratch) -> Vec<String> {
    common::lines(&s.path("out.log"))
}

#[test]
fn a_built_in_plugin_runs_with_no_file_anywhere() {
    let s = Scratch::new();
    input(&s);
    let cfg = config(&s, "drop_debug");
    let elsewhere = tempfile::tempdir().unwrap();
    let (ok, log) = run_once(Path::new(bin()), elsewhere.path(), &cfg, &[]);
    assert!(ok, "{log}");
    assert_eq!(delivered(&s), ["INFO kept 1", "WARN kept 3"]);
}

#[test]
fn the_plugin_path_variable_is_searched_in_order_before_the_built_in_plugins() {
    let s = Scratch::new();
    input(&s);
    // `drop_debug.wasm` on the path is another plugin (parse_json, which refuses the config
    // `levels:`): the file found first wins over the built-in one.
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::copy(guest("drop_debug"), second.path().join("mine.wasm")).unwrap();
    std::fs::copy(guest("parse_json"), second.path().join("drop_debug.wasm")).unwrap();
    let var = std::env::join_paths([first.path(), second.path()]).unwrap();
    let var = Path::new(&var);

    let (ok, log) = run_once(
        Path::new(bin()),
        s.dir.path(),
        &config(&s, "mine.wasm"),
        &[("LOGCATCH_PLUGIN_PATH", var)],
    );
    assert!(ok, "{log}");
    assert_eq!(delivered(&s), ["INFO kept 1", "WARN kept 3"]);

    let (ok, log) = run_once(
        Path::new(bin()),
        s.dir.path(),
        &config(&s, "drop_debug"),
        &[("LOGCATCH_PLUGIN_PATH", var)],
    );
    assert!(!ok);
    let decoy = second.path().join("drop_debug.wasm");
    assert!(
        log.contains(&format!("plugin {} refused to start", decoy.display()))
            && log.contains("unknown field `levels`"),
        "the file on the path, not the built-in drop_debug, is what ran: {log}"
    );
}

#[test]
fn plugins_installed_beside_the_binary_are_found() {
    // An installation as `cargo install --root ROOT` or a package lays it out.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("bin")).unwrap();
    let plugins = root.path().join("lib/logcatch/plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let installed = root.path().join("bin/logcatch");
    if std::fs::hard_link(bin(), &installed).is_err() {
        std::fs::copy(bin(), &installed).unwrap();
    }
    std::fs::copy(guest("drop_debug"), plugins.join("only_here.wasm")).unwrap();

    let s = Scratch::new();
    input(&s);
    let (ok, log) = run_once(&installed, s.dir.path(), &config(&s, "only_here.wasm"), &[]);
    assert!(ok, "{log}");
    assert_eq!(delivered(&s), ["INFO kept 1", "WARN kept 3"]);

    // The build-tree binary has no such directory beside it.
    let (ok, log) = run_once(
        Path::new(bin()),
        s.dir.path(),
        &config(&s, "only_here.wasm"),
        &[],
    );
    assert!(!ok);
    assert!(log.contains("only_here.wasm"), "{log}");
}

#[test]
fn a_name_found_nowhere_is_refused_with_every_place_looked() {
    let s = Scratch::new();
    let cfg = config(&s, "nope.wasm");
    let var = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["validate", "-c"])
        .arg(&cfg)
        .env("LOGCATCH_PLUGIN_PATH", var.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "{}:5:16: pipelines.p.filters[0].wasm: cannot read plugin nope.wasm: not found in {}, {},",
        cfg.display(),
        s.dir.path().display(),
        var.path().display()
    );
    assert!(err.contains(&expected), "{expected}\nin\n{err}");
    assert!(
        err.contains("nor built in (drop_debug.wasm, redact.wasm, parse_json.wasm"),
        "{err}"
    );
    // A path with a directory is taken as written: not searched.
    let cfg = config(&s, "sub/drop_debug.wasm");
    let out = Command::new(bin())
        .args(["validate", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read plugin") && err.contains("sub/drop_debug.wasm"),
        "{err}"
    );
}
