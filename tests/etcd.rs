//! Central config from a real etcd (Debian's `etcd-server`, installed by `scripts/setup`,
//! started here on free loopback ports with its own data dir), through the real `logcatch`
//! binary: pipelines put, changed and deleted key by key; bad values refused with their key
//! and line; etcd killed and restarted under a running agent, and an agent started while
//! etcd is down; each agent's status key on a lease; `logcatch remote`.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::etcd::Etcd;
use common::http::{api_addr, get_json};
use common::{Daemon, Scratch, audit, bin, numbers, wait_until};

/// Generous: a loaded CI machine may be slow, a correct run is much faster.
const WAIT: Duration = Duration::from_secs(60);
const PREFIX: &str = "/logcatch/t/";

/// An agent's config: a local pipeline `local` (local.log → local-out.log) and the store.
fn agent_yaml(etcd: &Etcd, host: &str) -> String {
    format!(
        "data_dir: ./data\n\
         api: {{ listen: \"127.0.0.1:0\" }}\n\
         remote:\n  etcd:\n    endpoints: [\"{}\"]\n    prefix: {PREFIX}\n    host: {host}\n    lease_ttl: 2s\n    timeout: 2s\n\
         pipelines:\n  local:\n{}",
        etcd.endpoint(),
        indent(&file_pipeline("local"), 4)
    )
}

/// A pipeline that moves `NAME.log` to `NAME-out.log` (paths relative to the agent's config).
fn file_pipeline(name: &str) -> String {
    format!(
        "sources: [{{ type: file, include: [{name}.log], rescan_interval: 50ms }}]\n\
         sinks: [{{ type: file, path: {name}-out.log }}]\n\
         batch: {{ linger: 5ms }}\n"
    )
}

fn indent(text: &str, n: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(n)))
        .collect()
}

fn key(name: &str) -> String {
    format!("{PREFIX}pipelines/{name}")
}

/// Appends lines `name N` for N in `range` to `path`.
fn append(path: &Path, name: &str, range: std::ops::Range<u64>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let text: String = range.map(|i| format!("{name} {i}\n")).collect();
    f.write_all(text.as_bytes()).unwrap();
}

/// Waits until `NAME-out.log` holds `n` numbers; then checks each of 0..n came exactly once.
fn delivered_exactly(s: &Scratch, daemon: &Daemon, name: &str, n: u64) {
    let out = s.path(&format!("{name}-out.log"));
    let ok = wait_until(WAIT, || numbers(&out).len() as u64 >= n);
    let nums = numbers(&out);
    assert!(
        ok,
        "{name}: {} of {n} lines delivered\n{}",
        nums.len(),
        daemon.log()
    );
    let (missing, extra) = audit(&nums, n);
    assert!(
        missing.is_empty() && extra == 0 && nums.len() as u64 == n,
        "{name}: missing {missing:?}, {extra} duplicates, {} lines",
        nums.len()
    );
}

fn pipelines(addr: &str) -> serde_json::Value {
    get_json(addr, "/pipelines")
}

fn wait_for(daemon: &Daemon, what: &str, mut cond: impl FnMut() -> bool) {
    assert!(
        wait_until(WAIT, &mut cond),
        "{what}: not within {WAIT:?}\n{}",
        daemon.log()
    );
}

/// Starts an agent and waits for its API.
fn start(s: &Scratch, etcd: &Etcd) -> (Daemon, String) {
    let cfg = s.config(&agent_yaml(etcd, "agent-1"));
    let daemon = s.start(&cfg);
    let addr = api_addr(&daemon, WAIT);
    (daemon, addr)
}

/// Put: the agent starts the pipeline. Change: only it is rebuilt; the other remote one and
/// the local one keep their incarnation and keep flowing. Delete: it is drained and stopped
/// with its checkpoints kept, and putting it back resumes where it was. Every line of every
/// pipeline arrives exactly once.
#[test]
fn keys_add_change_and_remove_their_pipeline_only() {
    let etcd = Etcd::start();
    let s = Scratch::new();
    etcd.put(&key("other"), &file_pipeline("other"));
    append(&s.path("local.log"), "local", 0..100);
    append(&s.path("other.log"), "other", 0..100);
    let (daemon, addr) = start(&s, &etcd);
    delivered_exactly(&s, &daemon, "local", 100);
    delivered_exactly(&s, &daemon, "other", 100);
    assert_eq!(
        pipelines(&addr)["pipelines"]["other"]["origin"],
        format!("etcd:{}", key("other"))
    );

    // Put.
    append(&s.path("api.log"), "api", 0..100);
    etcd.put(&key("api"), &file_pipeline("api"));
    delivered_exactly(&s, &daemon, "api", 100);
    let before = pipelines(&addr);

    // Change: a new linger.
    let changed = file_pipeline("api").replace("linger: 5ms", "linger: 7ms");
    etcd.put(&key("api"), &changed);
    wait_for(&daemon, "the change applied", || {
        pipelines(&addr)["last_reload"]["changed"] == serde_json::json!(["api"])
    });
    let after = pipelines(&addr);
    assert_eq!(
        after["last_reload"]["unchanged"],
        serde_json::json!(["local", "other"])
    );
    for name in ["local", "other"] {
        assert_eq!(
            before["pipelines"][name]["started_at"], after["pipelines"][name]["started_at"],
            "{name} was restarted"
        );
        assert_eq!(after["pipelines"][name]["restarts"], 0);
    }
    assert_ne!(
        before["pipelines"]["api"]["started_at"],
        after["pipelines"]["api"]["started_at"]
    );
    for name in ["local", "other", "api"] {
        append(&s.path(&format!("{name}.log")), name, 100..200);
    }
    for name in ["local", "other", "api"] {
        delivered_exactly(&s, &daemon, name, 200);
    }

    // Delete: drained and stopped; its checkpoint stays.
    etcd.ctl(&["del", &key("api")]);
    wait_for(&daemon, "api removed", || {
        pipelines(&addr)["pipelines"].get("api").is_none()
    });
    assert!(common::checkpoint_file(&s.path("data"), "api").is_some());
    append(&s.path("api.log"), "api", 200..300);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        numbers(&s.path("api-out.log")).len(),
        200,
        "a removed pipeline delivered"
    );

    // Back: it resumes from its checkpoint.
    etcd.put(&key("api"), &changed);
    delivered_exactly(&s, &daemon, "api", 300);
    let _ = daemon.terminate();
}

/// A value with an unknown field, or bad YAML: refused with its key and the line and column
/// inside it, shown in `/pipelines`; the running pipelines (its own old version among them)
/// stay as they were.
#[test]
fn a_bad_value_is_refused_with_its_key_and_line_and_the_rest_runs() {
    let etcd = Etcd::start();
    let s = Scratch::new();
    etcd.put(&key("api"), &file_pipeline("api"));
    let (daemon, addr) = start(&s, &etcd);
    append(&s.path("api.log"), "api", 0..50);
    delivered_exactly(&s, &daemon, "api", 50);
    let started = pipelines(&addr)["pipelines"]["api"]["started_at"].clone();

    let typo = file_pipeline("api").replace("path:", "paht:");
    etcd.put(&key("api"), &typo);
    etcd.put(&key("broken"), "sources: [\n");
    wait_for(&daemon, "both refusals shown", || {
        pipelines(&addr)["remote"]["refused"]
            .as_object()
            .is_some_and(|r| r.len() == 2)
    });
    let doc = pipelines(&addr);
    let refused = &doc["remote"]["refused"];
    let api = refused[key("api")].as_str().unwrap();
    assert!(
        api.starts_with(&format!("etcd:{}:2:", key("api"))) && api.contains("sinks[0].paht"),
        "{api}"
    );
    let broken = refused[key("broken")].as_str().unwrap();
    assert!(
        broken.starts_with(&format!("etcd:{}:", key("broken"))),
        "{broken}"
    );
    assert_eq!(doc["last_reload"]["ok"], false, "{doc}");
    assert_eq!(
        doc["pipelines"]["api"]["started_at"], started,
        "api was touched"
    );
    assert!(doc["pipelines"].get("broken").is_none());
    assert_eq!(doc["reloads"]["applied"], 0);
    append(&s.path("api.log"), "api", 50..100);
    delivered_exactly(&s, &daemon, "api", 100);

    // Fixed: applied, and the refusal is gone.
    etcd.put(&key("api"), &file_pipeline("api").replace("5ms", "6ms"));
    etcd.ctl(&["del", &key("broken")]);
    wait_for(&daemon, "the fix applied", || {
        let d = pipelines(&addr);
        d["remote"]["refused"]
            .as_object()
            .is_some_and(|r| r.is_empty())
            && d["pipelines"]["api"]["started_at"] != started
    });
    let _ = daemon.terminate();
}

/// etcd killed under a running agent: lines keep flowing and `/pipelines` says it is
/// unavailable; etcd back and a key changed meanwhile: applied. Then the agent is stopped,
/// etcd killed, and the agent started again: it runs the kept copy (and says so), and
/// catches up with a change once etcd is back.
#[test]
fn etcd_down_keeps_what_runs_and_a_restart_uses_the_kept_copy() {
    let mut etcd = Etcd::start();
    let s = Scratch::new();
    etcd.put(&key("api"), &file_pipeline("api"));
    let (daemon, addr) = start(&s, &etcd);
    append(&s.path("api.log"), "api", 0..50);
    delivered_exactly(&s, &daemon, "api", 50);

    etcd.kill9();
    wait_for(&daemon, "etcd shown unavailable", || {
        pipelines(&addr)["remote"]["state"] == "unavailable"
    });
    append(&s.path("api.log"), "api", 50..100);
    append(&s.path("local.log"), "local", 0..50);
    delivered_exactly(&s, &daemon, "api", 100);
    delivered_exactly(&s, &daemon, "local", 50);

    etcd.spawn();
    append(&s.path("db.log"), "db", 0..30);
    etcd.put(&key("db"), &file_pipeline("db"));
    delivered_exactly(&s, &daemon, "db", 30);
    assert_eq!(pipelines(&addr)["remote"]["state"], "connected");
    assert_eq!(daemon.terminate().code(), Some(0));

    // Restarted while etcd is down: the kept copy runs.
    etcd.kill9();
    let cfg = s.path("logcatch.yaml");
    let daemon = s.start(&cfg);
    let addr = api_addr(&daemon, WAIT);
    let doc = pipelines(&addr);
    assert_eq!(doc["remote"]["from_cache"], true, "{doc}");
    assert_eq!(doc["remote"]["state"], "unavailable");
    assert!(doc["pipelines"].get("api").is_some() && doc["pipelines"].get("db").is_some());
    assert!(
        daemon
            .log()
            .contains("running the last good remote config kept under data_dir")
    );
    append(&s.path("db.log"), "db", 30..60);
    delivered_exactly(&s, &daemon, "db", 60);

    // Back: a change made now is applied, and the kept copy is no longer what runs.
    etcd.spawn();
    etcd.ctl(&["del", &key("db")]);
    wait_for(&daemon, "caught up", || {
        let d = pipelines(&addr);
        d["pipelines"].get("db").is_none() && d["remote"]["from_cache"] == false
    });
    let _ = daemon.terminate();
}

/// The status key lives while the agent runs (JSON: revision, each pipeline's state); it
/// goes when its lease expires after a `kill -9`, and at once after SIGTERM.
#[test]
fn the_status_key_lives_on_a_lease() {
    let etcd = Etcd::start();
    let s = Scratch::new();
    etcd.put(&key("api"), &file_pipeline("api"));
    let status_key = format!("{PREFIX}status/agent-1");
    let (daemon, _addr) = start(&s, &etcd);
    let mut report = serde_json::Value::Null;
    wait_for(&daemon, "the status key", || {
        let out = etcd.ctl(&["get", "--print-value-only", &status_key]);
        report = serde_json::from_str(out.trim()).unwrap_or(serde_json::Value::Null);
        report["pipelines"]["api"]["state"] == "running"
    });
    assert_eq!(report["pipelines"]["api"]["origin"], "etcd");
    assert_eq!(report["pipelines"]["local"]["origin"], "file");
    assert!(report["revision"].as_i64().unwrap() > 0, "{report}");
    daemon.kill9();
    let killed = Instant::now();
    assert!(
        wait_until(WAIT, || etcd.keys(&status_key).is_empty()),
        "the status key outlived its lease"
    );
    assert!(
        killed.elapsed() >= Duration::from_millis(500),
        "gone too soon for a lease"
    );

    let (daemon, _addr) = start(&s, &etcd);
    wait_for(&daemon, "the status key again", || {
        !etcd.keys(&status_key).is_empty()
    });
    assert_eq!(daemon.terminate().code(), Some(0));
    assert!(
        etcd.keys(&status_key).is_empty(),
        "SIGTERM left the status key"
    );

    // `remote status`: the fleet as a table.
    let (daemon, _addr) = start(&s, &etcd);
    wait_for(&daemon, "the status key again", || {
        !etcd.keys(&status_key).is_empty()
    });
    let (ok, out, err) = remote(&s, &["status"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("HOST"), "{out}");
    let row = out
        .lines()
        .find(|l| l.contains(" api "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.starts_with("agent-1") && row.contains("etcd") && row.contains("running"),
        "{out}"
    );
    let _ = daemon.terminate();
}

/// `logcatch remote ARGS -c logcatch.yaml`: (success, stdout, stderr).
fn remote(s: &Scratch, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin())
        .arg("remote")
        .arg("-c")
        .arg(s.path("logcatch.yaml"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `remote put` checks the file as the agent would and refuses it (file:line:col, nothing
/// written); a valid one is written, and `list`, `get` and `rm` see it.
#[test]
fn remote_put_refuses_an_invalid_file_and_writes_a_valid_one() {
    let etcd = Etcd::start();
    let s = Scratch::new();
    s.config(&agent_yaml(&etcd, "agent-1"));
    let bad = s.path("bad.yaml");
    std::fs::write(&bad, file_pipeline("api").replace("path:", "paht:")).unwrap();
    let (ok, _, err) = remote(&s, &["put", "api", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains(&format!("{}:2:", bad.display())) && err.contains("sinks[0].paht"),
        "{err}"
    );
    assert!(err.contains("nothing written"), "{err}");
    assert!(
        etcd.keys(PREFIX).is_empty(),
        "an invalid pipeline was written"
    );
    // A plugin that does not exist is refused too (plugins are loaded, as by the agent).
    std::fs::write(
        &bad,
        format!(
            "{}filters: [{{ wasm: missing.wasm }}]\n",
            file_pipeline("api")
        ),
    )
    .unwrap();
    let (ok, _, err) = remote(&s, &["put", "api", bad.to_str().unwrap()]);
    assert!(!ok && err.contains("filters[0].wasm"), "{err}");
    // A name the file defines.
    let good = s.path("good.yaml");
    std::fs::write(&good, file_pipeline("api")).unwrap();
    let (ok, _, err) = remote(&s, &["put", "local", good.to_str().unwrap()]);
    assert!(!ok && err.contains("also defined at"), "{err}");
    assert!(etcd.keys(PREFIX).is_empty());

    let (ok, out, err) = remote(&s, &["put", "api", good.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains(&key("api")), "{out}");
    let (_, out, _) = remote(&s, &["list"]);
    assert!(out.lines().any(|l| l.starts_with("api ")), "{out}");
    let (_, out, _) = remote(&s, &["get", "api"]);
    assert_eq!(out, file_pipeline("api"));
    let (ok, _, _) = remote(&s, &["rm", "api"]);
    assert!(ok);
    assert!(etcd.keys(PREFIX).is_empty());
    let (ok, _, err) = remote(&s, &["get", "api"]);
    assert!(!ok && err.contains("no pipeline api"), "{err}");
}
