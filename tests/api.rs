//! The admin API through the real binary, with real HTTP requests on 127.0.0.1: `/health`,
//! errors as JSON, `POST /reload`, `/pipelines`, and `/metrics` parsed strictly and checked
//! against exactly what went through a pipeline.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::http::{Metrics, api_addr, get, get_json, parse_metrics, post, request};
use common::{Daemon, Scratch, guest, lines, wait_until};
use serde_json::{Value, json};

/// How long the daemon gets for anything: a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(30);

fn wait_for(daemon: &Daemon, what: &str, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(PATIENCE, cond),
        "timed out waiting for {what}\n--- daemon log ---\n{}",
        daemon.log()
    );
}

fn terminate(daemon: Daemon) -> String {
    let log = daemon.log_path.clone();
    let status = daemon.terminate();
    let text = fs::read_to_string(log).unwrap_or_default();
    assert!(status.success(), "logcatch exited with {status:?}\n{text}");
    text
}

fn sorted(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

fn is_json(r: &common::http::Response) -> bool {
    r.header("content-type")
        .is_some_and(|t| t.starts_with("application/json"))
}

/// Replaces `path` as editors save: temp file next to it, renamed over it.
fn replace(path: &Path, contents: &str) {
    let tmp = path.with_file_name(".logcatch.yaml.tmp");
    fs::write(&tmp, contents).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// 6. `/health`, 404 and 405 as JSON, `/pipelines`, and `POST /reload`: 200 with every
///    pipeline unchanged when nothing changed, 422 with the error after an invalid edit.
#[test]
fn health_errors_pipelines_and_reload_over_http() {
    let s = Scratch::new();
    fs::write(s.path("x.log"), "x 0\nx 1\n").unwrap();
    fs::write(s.path("y.log"), "y 0\n").unwrap();
    let good = "\
data_dir: ./data
api: { listen: \"127.0.0.1:0\" }
pipelines:
  x:
    sources: [{ type: file, include: [x.log] }]
    sinks: [{ type: file, path: x-out.log }]
  y:
    sources: [{ type: file, include: [y.log] }]
    sinks: [{ type: file, path: y-out.log }]
";
    let cfg = s.config(good);
    let daemon = s.start(&cfg);
    let addr = api_addr(&daemon, PATIENCE);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    wait_for(&daemon, "both pipelines delivering", || {
        lines(&s.path("x-out.log")).len() == 2 && lines(&s.path("y-out.log")).len() == 1
    });

    let r = request(&addr, "GET", "/health", b"").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(is_json(&r), "{r:?}");
    assert_eq!(r.json(), json!({"status": "ok"}));

    for (method, path, status) in [
        ("GET", "/nope", 404),
        ("GET", "/pipelines/x/nope", 404),
        ("POST", "/nope", 404),
        ("GET", "/reload", 405),
        ("POST", "/health", 405),
        ("DELETE", "/pipelines", 405),
    ] {
        let r = request(&addr, method, path, b"").unwrap();
        assert_eq!(r.status, status, "{method} {path}: {r:?}");
        assert!(is_json(&r), "{method} {path}: not JSON: {r:?}");
        let body = r.json();
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {path}: no error message: {body}"
        );
    }

    // /pipelines before any reload.
    let doc = get_json(&addr, "/pipelines");
    assert_eq!(doc["config"], cfg.display().to_string(), "{doc:#}");
    assert!(
        doc["started_at"].as_str().is_some_and(|t| !t.is_empty()),
        "{doc:#}"
    );
    assert_eq!(
        doc["reloads"],
        json!({"applied": 0, "refused": 0}),
        "{doc:#}"
    );
    assert_eq!(
        doc["plugin_swaps"],
        json!({"applied": 0, "failed": 0}),
        "{doc:#}"
    );
    assert!(doc["last_reload"].is_null(), "{doc:#}");
    let ps = doc["pipelines"].as_object().unwrap();
    assert_eq!(ps.keys().collect::<Vec<_>>(), ["x", "y"], "{doc:#}");
    for name in ["x", "y"] {
        let p = &ps[name];
        assert_eq!(p["state"], "running", "{name}: {p:#}");
        assert!(p["started_at"].is_string(), "{name}: {p:#}");
        assert!(p["last_reload"].is_null(), "{name}: {p:#}");
        assert_eq!(p["restarts"], 0, "{name}: {p:#}");
        assert!(p["last_error"].is_null(), "{name}: {p:#}");
        assert!(
            p["checkpoint_lag_seconds"]
                .as_f64()
                .is_some_and(|l| l >= 0.0),
            "{name}: {p:#}"
        );
        let comps = p["components"].as_array().unwrap();
        let ids: Vec<_> = comps.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["sources[0]", "sinks[0]"], "{name}: {p:#}");
        for c in comps {
            let role = if c["id"] == "sources[0]" {
                "source"
            } else {
                "sink"
            };
            assert_eq!(c["role"], role, "{c}");
            assert_eq!(c["kind"], "file", "{c}");
            for k in [
                "events_in",
                "events_out",
                "events_dropped",
                "bytes_in",
                "bytes_out",
                "bytes_dropped",
                "dead_lettered",
                "errors",
                "restarts",
                "traps",
            ] {
                assert!(c[k].is_u64(), "{name}.{}: {k} missing: {c}", c["id"]);
            }
            assert!(c["call_seconds"].is_number(), "{c}");
        }
    }
    // Counters reach the API once the lines are delivered.
    wait_for(&daemon, "x's sink counting its 2 lines", || {
        get_json(&addr, "/pipelines")["pipelines"]["x"]["components"][1]["events_out"] == 2
    });

    // POST /reload with the file unchanged: every pipeline unchanged.
    let r = request(&addr, "POST", "/reload", b"").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(is_json(&r), "{r:?}");
    let body = r.json();
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(sorted(&body["unchanged"]), ["x", "y"], "{body}");
    for k in ["added", "changed", "removed"] {
        assert!(sorted(&body[k]).is_empty(), "{k}: {body}");
    }
    let doc = get_json(&addr, "/pipelines");
    let last = &doc["last_reload"];
    assert_eq!(last["trigger"], "api", "{doc:#}");
    assert_eq!(last["ok"], true, "{doc:#}");
    assert!(last["error"].is_null(), "{doc:#}");
    assert!(last["at"].is_string(), "{doc:#}");
    assert_eq!(sorted(&last["unchanged"]), ["x", "y"], "{doc:#}");
    assert_eq!(doc["reloads"]["applied"], 1, "{doc:#}");

    // An invalid edit (by rename; the file watcher refuses it too), then POST /reload: 422.
    let bad = good.replace(
        "    sinks: [{ type: file, path: y-out.log }]",
        "    sinks: [{ type: file, path: y-out.log, formt: json }]",
    );
    replace(&cfg, &bad);
    wait_for(&daemon, "the watcher refusing the edit", || {
        get_json(&addr, "/pipelines")["reloads"]["refused"] == 1
    });
    let r = request(&addr, "POST", "/reload", b"").unwrap();
    assert_eq!(r.status, 422, "{r:?}");
    assert!(is_json(&r), "{r:?}");
    let body = r.json();
    assert_eq!(body["ok"], false, "{body}");
    let error = body["error"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(error.contains("logcatch.yaml:9:"), "{error}");
    assert!(error.contains("pipelines.y.sinks[0].formt"), "{error}");
    let doc = get_json(&addr, "/pipelines");
    assert_eq!(
        doc["reloads"],
        json!({"applied": 1, "refused": 2}),
        "{doc:#}"
    );
    assert_eq!(doc["last_reload"]["ok"], false, "{doc:#}");
    assert_eq!(doc["last_reload"]["trigger"], "api", "{doc:#}");
    assert_eq!(doc["last_reload"]["error"], error, "{doc:#}");
    assert_eq!(doc["pipelines"]["y"]["state"], "running", "{doc:#}");
    // Still running the old config.
    fs::OpenOptions::new()
        .append(true)
        .open(s.path("x.log"))
        .and_then(|mut f| f.write_all(b"x 2\n"))
        .unwrap();
    wait_for(&daemon, "x delivering after the refusals", || {
        lines(&s.path("x-out.log")).len() == 3
    });
    let (status, body) = post(&addr, "/reload", "");
    assert_eq!(status, 422, "{body}");
    let (status, body) = get(&addr, "/health");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    terminate(daemon);
}

/// Lines `0..n`: even ones INFO, odd ones DEBUG, of varied lengths.
fn mixed_lines(n: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let level = if i % 2 == 1 { "DEBUG" } else { "INFO" };
            let pad = "x".repeat((i % 37) as usize);
            format!("2026-11-25T08:00:00Z {level} request done {pad} {i}")
        })
        .collect()
}

/// Message bytes (without newlines) of `lines`.
fn message_bytes<S: AsRef<str>>(lines: &[S]) -> u64 {
    lines.iter().map(|l| l.as_ref().len() as u64).sum()
}

/// 7. `/metrics`: N known lines through source → drop_debug → file sink; the exposition
///    parses strictly and its counters match exactly what was sent, dropped and delivered.
#[test]
fn metrics_count_exactly_what_went_through() {
    const N: u64 = 1000;
    let s = Scratch::new();
    let input = mixed_lines(N);
    fs::write(s.path("in.log"), input.join("\n") + "\n").unwrap();
    let kept: Vec<&String> = input.iter().filter(|l| !l.contains("DEBUG")).collect();
    let cfg = s.config(&format!(
        "\
data_dir: ./data
api: {{ listen: \"127.0.0.1:0\" }}
pipelines:
  m:
    sources: [{{ type: file, include: [in.log], start_at: beginning }}]
    filters:
      - {{ wasm: {:?}, config: {{ levels: [DEBUG] }} }}
    batch: {{ max_events: 64 }}
    sinks: [{{ type: file, path: out.log }}]
",
        guest("drop_debug").display().to_string()
    ));
    let daemon = s.start(&cfg);
    let addr = api_addr(&daemon, PATIENCE);
    wait_for(&daemon, "the kept lines delivered", || {
        lines(&s.path("out.log")).len() == kept.len()
    });
    let sink = [("pipeline", "m"), ("component", "sinks[0]")];
    let scrape = || -> Metrics {
        let r = request(&addr, "GET", "/metrics", b"").unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        let ct = r.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("text/plain") || ct.starts_with("application/openmetrics-text"),
            "content-type {ct:?}"
        );
        parse_metrics(&r.body).unwrap_or_else(|e| panic!("/metrics: {e}\n{}", r.body))
    };
    wait_for(
        &daemon,
        "the sink's counter reaching the kept lines",
        || scrape().get("logcatch_events_out_total", &sink) == Some(kept.len() as f64),
    );
    let m = scrape();
    let out_file = fs::read_to_string(s.path("out.log")).unwrap();
    assert_eq!(
        out_file.lines().collect::<Vec<_>>(),
        kept,
        "wrong lines delivered"
    );

    // Every family the API promises is declared.
    for family in [
        "logcatch_events_in",
        "logcatch_events_out",
        "logcatch_events_dropped",
        "logcatch_bytes_in",
        "logcatch_bytes_out",
        "logcatch_bytes_dropped",
        "logcatch_dead_lettered",
        "logcatch_component_errors",
        "logcatch_component_restarts",
        "logcatch_plugin_call_seconds",
        "logcatch_plugin_traps",
        "logcatch_reloads",
        "logcatch_plugin_swaps",
    ] {
        let declared = m
            .types
            .get(family)
            .or(m.types.get(&format!("{family}_total")));
        assert_eq!(
            declared.map(String::as_str),
            Some("counter"),
            "{family}: {:?}",
            m.types
        );
    }
    for (family, kind) in [
        ("logcatch_batch_latency_seconds", "histogram"),
        ("logcatch_checkpoint_lag_seconds", "gauge"),
        ("logcatch_pipeline_up", "gauge"),
        ("logcatch_uptime_seconds", "gauge"),
    ] {
        assert_eq!(
            m.types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }

    let (n, k) = (N as f64, kept.len() as f64);
    let (all_bytes, kept_bytes) = (message_bytes(&input) as f64, message_bytes(&kept) as f64);
    let on_disk = |p: &str| fs::metadata(s.path(p)).unwrap().len() as f64;
    // The files' line bytes (newlines aside) are what the counters count.
    assert_eq!(on_disk("in.log") - n, all_bytes);
    assert_eq!(on_disk("out.log") - k, kept_bytes);
    let expect = [
        // component, events in, out, dropped, bytes in, out, dropped
        ("sources[0]", n, n, 0.0, all_bytes, all_bytes, 0.0),
        (
            "filters[0]",
            n,
            k,
            n - k,
            all_bytes,
            kept_bytes,
            all_bytes - kept_bytes,
        ),
        ("sinks[0]", k, k, 0.0, kept_bytes, kept_bytes, 0.0),
    ];
    for (comp, ein, eout, edrop, bin, bout, bdrop) in expect {
        let l = [("pipeline", "m"), ("component", comp)];
        let found = m.find("logcatch_events_in_total", &l);
        assert_eq!(found.len(), 1, "{comp}: {found:?}");
        let kind = found[0]
            .labels
            .get("kind")
            .unwrap_or_else(|| panic!("{comp}: no kind label"));
        if comp != "filters[0]" {
            assert_eq!(kind, "file", "{comp}");
        }
        for (name, want) in [
            ("logcatch_events_in_total", ein),
            ("logcatch_events_out_total", eout),
            ("logcatch_bytes_in_total", bin),
            ("logcatch_bytes_out_total", bout),
        ] {
            assert_eq!(m.value(name, &l), want, "{name}{{component={comp}}}");
        }
        // Dropped counts may be left out for sources and sinks (they drop nothing).
        for (name, want) in [
            ("logcatch_events_dropped_total", edrop),
            ("logcatch_bytes_dropped_total", bdrop),
        ] {
            let got = m.get(name, &l);
            assert!(
                got == Some(want) || (got.is_none() && want == 0.0 && comp != "filters[0]"),
                "{name}{{component={comp}}} = {got:?}, want {want}"
            );
        }
        for name in [
            "logcatch_dead_lettered_total",
            "logcatch_component_errors_total",
            "logcatch_component_restarts_total",
            "logcatch_plugin_traps_total",
        ] {
            let got = m.get(name, &l).unwrap_or(0.0);
            assert_eq!(got, 0.0, "{name}{{component={comp}}}");
        }
    }
    let call = m.value(
        "logcatch_plugin_call_seconds_total",
        &[("pipeline", "m"), ("component", "filters[0]")],
    );
    assert!(call > 0.0, "plugin call seconds {call}");

    // The /pipelines counters are the same numbers.
    let doc = get_json(&addr, "/pipelines");
    for c in doc["pipelines"]["m"]["components"].as_array().unwrap() {
        let l = [("pipeline", "m"), ("component", c["id"].as_str().unwrap())];
        assert_eq!(
            c["events_in"].as_f64().unwrap(),
            m.value("logcatch_events_in_total", &l),
            "{c}"
        );
        assert_eq!(
            c["events_out"].as_f64().unwrap(),
            m.value("logcatch_events_out_total", &l),
            "{c}"
        );
        assert_eq!(
            c["bytes_out"].as_f64().unwrap(),
            m.value("logcatch_bytes_out_total", &l),
            "{c}"
        );
        // Each of its own counters is exported too, under its family, with the same value.
        let counters = c["counters"].as_object().unwrap();
        let mut families = vec![
            ("batches", "logcatch_batches_total"),
            ("errors", "logcatch_component_errors_total"),
            ("restarts", "logcatch_component_restarts_total"),
        ];
        if c["role"] == "source" {
            families.extend([
                ("lines_split", "logcatch_lines_split_total"),
                ("invalid_utf8", "logcatch_invalid_utf8_total"),
                ("files_closed", "logcatch_files_closed_total"),
                ("multiline_events", "logcatch_multiline_events_total"),
                ("copies_read", "logcatch_copies_read_total"),
                ("lost_in_rotation", "logcatch_lost_in_rotation_bytes_total"),
            ]);
        }
        for (key, family) in families {
            let shown = counters.get(key).and_then(Value::as_f64);
            assert_eq!(shown, Some(m.value(family, &l)), "{key} of {c}");
        }
        assert!(counters["batches"].as_f64().unwrap() > 1.0, "{c}");
    }

    // Latency histogram of the sink: one observation per batch (checked against the batches
    // the sink logs when it stops), buckets cumulative (checked by the parser), +Inf = count.
    let count = m.value("logcatch_batch_latency_seconds_count", &sink);
    let sum = m.value("logcatch_batch_latency_seconds_sum", &sink);
    let inf = m.value(
        "logcatch_batch_latency_seconds_bucket",
        &[("pipeline", "m"), ("component", "sinks[0]"), ("le", "+Inf")],
    );
    assert!(
        count > 0.0 && count == inf && sum > 0.0,
        "count {count}, +Inf {inf}, sum {sum}"
    );
    let buckets = m.find("logcatch_batch_latency_seconds_bucket", &sink);
    assert!(buckets.len() >= 2, "{buckets:?}");

    let lag = m.find("logcatch_checkpoint_lag_seconds", &[("pipeline", "m")]);
    assert_eq!(lag.len(), 1, "{lag:?}");
    assert!(
        lag[0].labels.contains_key("source") && lag[0].value >= 0.0,
        "{lag:?}"
    );
    assert_eq!(
        m.value(
            "logcatch_pipeline_up",
            &[("pipeline", "m"), ("state", "running")]
        ),
        1.0
    );
    assert!(m.value("logcatch_uptime_seconds", &[]) > 0.0);
    for s in m
        .find("logcatch_reloads_total", &[])
        .iter()
        .chain(&m.find("logcatch_plugin_swaps_total", &[]))
    {
        assert!(s.labels.contains_key("outcome") && s.value == 0.0, "{s:?}");
    }

    let log = terminate(daemon);
    // The sink's batches, from the counters it logs when it stops.
    let batches: f64 = log
        .lines()
        .find(|l| l.contains("component=sinks[0]") && l.contains(" batches="))
        .and_then(|l| common::http::field(l, "batches"))
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("no sink counters line with batches= in the log\n{log}"));
    assert_eq!(count, batches, "latency observations != sink batches");
    assert!(batches > 1.0, "max_events 64 should make several batches");
}

/// The parser the metrics test relies on accepts both dialects and refuses broken text.
#[test]
fn metrics_parser_is_strict() {
    let om = "# HELP x Things.\n# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"\\\\\"} 3\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n# EOF\n";
    let m = parse_metrics(om).unwrap();
    assert!(m.openmetrics);
    assert_eq!(m.value("x_total", &[("b", "q\"\\")]), 3.0);
    let prom = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",} 3 1700000000\n";
    assert_eq!(parse_metrics(prom).unwrap().value("x_total", &[]), 3.0);
    for bad in [
        "x_total 1\n",
        "# TYPE x counter\nx_total 1\n# EOF\nx_total 2\n",
        "# TYPE x counter\nx_total{a=1} 1\n",
        "# TYPE x counter\nx_total  1\n",
        "# TYPE x counter\nx_total 1\nx_total 2\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",
        "# TYPE x counter\n# TYPE y gauge\ny 1\nx_total 1\n",
        "# TYPE x counter\nx_total one\n",
        "# TYPE x counter\nx_total 1",
        "# TYPE x counter\nx_total -1\n",
    ] {
        assert!(parse_metrics(bad).is_err(), "accepted {bad:?}");
    }
}

/// Without an `api:` section there is no admin API: the daemon runs and delivers, and logs
/// no listening address.
#[test]
fn no_api_section_means_no_admin_api() {
    let s = Scratch::new();
    fs::write(s.path("in.log"), "a 0\n").unwrap();
    let cfg = s.config(
        "data_dir: ./data\npipelines:\n  p:\n    sources: [{ type: file, include: [in.log] }]\n    sinks: [{ type: file, path: out.log }]\n",
    );
    let daemon = s.start(&cfg);
    wait_for(&daemon, "the line delivered", || {
        lines(&s.path("out.log")).len() == 1
    });
    let log = terminate(daemon);
    assert!(log.contains("pipeline added"), "{log}");
    assert!(!log.contains("admin API listening"), "{log}");
}

#[test]
fn an_api_beyond_loopback_needs_a_token_which_guards_all_but_health() {
    // `listen: 0.0.0.0:9420` was accepted with no auth: anyone reaching the host could
    // reload the config.
    let s = Scratch::new();
    let base = "data_dir: ./data\npipelines:\n  x:\n    sources: [{ type: demo }]\n    sinks: [{ type: blackhole }]\n";
    let cfg = s.config(&format!("{base}api: {{ listen: \"0.0.0.0:0\" }}\n"));
    let out = std::process::Command::new(common::bin())
        .args(["validate", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("api.listen: `0.0.0.0:0` is reachable beyond this host"),
        "{err}"
    );
    let token = "a-long-enough-admin-token";
    let cfg = s.config(&format!(
        "{base}api: {{ listen: \"0.0.0.0:0\", token: \"${{LOGCATCH_TEST_API_TOKEN}}\" }}\n"
    ));
    let daemon = s.start_with_env(&cfg, &[("LOGCATCH_TEST_API_TOKEN", token)]);
    let port = api_addr(&daemon, PATIENCE)
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let addr = format!("127.0.0.1:{port}");
    assert_eq!(get(&addr, "/health").0, 200, "health stays open");
    for (method, path) in [
        ("GET", "/pipelines"),
        ("GET", "/metrics"),
        ("POST", "/reload"),
    ] {
        let r = request(&addr, method, path, b"").unwrap();
        assert_eq!(r.status, 401, "{method} {path}");
        let wrong = common::http::request_with(
            &addr,
            method,
            path,
            &[("Authorization", "Bearer a-long-enough-admin-tokeX")],
            b"",
        )
        .unwrap();
        assert_eq!(wrong.status, 401, "{method} {path} with a wrong token");
    }
    let ok = common::http::request_with(
        &addr,
        "GET",
        "/pipelines",
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    )
    .unwrap();
    assert_eq!(ok.status, 200);
    let log = terminate(daemon);
    assert!(!log.contains(token), "the token was logged");
}

#[test]
fn idle_connections_cannot_take_the_daemon_down() {
    // 400 idle half-open connections under `ulimit -n 256` exhausted the descriptors:
    // /health timed out, a new log file went unread, nothing was logged.
    let s = Scratch::new();
    fs::create_dir(s.path("in")).unwrap();
    let cfg = s.config(
        "\
data_dir: ./data
api: { listen: \"127.0.0.1:0\" }
pipelines:
  p:
    sources: [{ type: file, include: [\"in/*.log\"], rescan_interval: 200ms }]
    sinks: [{ type: file, path: out.log }]
",
    );
    let log = fs::File::create(s.path("daemon-limited.log")).unwrap();
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" run -c \"$1\"")
        .arg(common::bin())
        .arg(&cfg)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let daemon = Daemon::from_child(child, s.path("daemon-limited.log"));
    let addr = api_addr(&daemon, PATIENCE);
    let idle: Vec<std::net::TcpStream> = (0..400)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    assert!(idle.len() >= 300, "{} connections opened", idle.len());
    // /health answers (at once, or once the idle ones time out), and a new file is read.
    fs::write(s.path("in/new.log"), "a new file\n").unwrap();
    wait_for(&daemon, "/health under idle connections", || {
        request(&addr, "GET", "/health", b"").is_ok_and(|r| r.status == 200)
    });
    wait_for(&daemon, "the new file", || {
        lines(&s.path("out.log")).len() == 1
    });
    assert!(
        daemon.log().contains("connection limit reached"),
        "{}",
        daemon.log()
    );
    drop(idle);
    terminate(daemon);
}
