//! `logcatch remote`: the operator's side of the central config store. A pipeline is
//! checked exactly as an agent with the same config file checks it before it is written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use logcatch_core::config::{self, ConfigErrors, EtcdConfig};
use logcatch_core::remote::etcd::Store;
use logcatch_core::remote::report::AgentReport;

/// What to do with the store.
#[derive(Subcommand)]
pub enum RemoteCommand {
    /// Checks the pipeline in FILE (what `pipelines.NAME` holds in a config file) with the
    /// config of -c, plugins compiled and started, then writes it as NAME; writes nothing
    /// if it is invalid.
    Put {
        /// The pipeline's name (the key's last part).
        name: String,
        /// A YAML file holding one pipeline.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Lists the pipelines in the store.
    List,
    /// Prints one pipeline's YAML.
    Get {
        /// The pipeline's name.
        name: String,
    },
    /// Removes one pipeline: every agent of the prefix drains and stops it (its checkpoints
    /// are kept).
    Rm {
        /// The pipeline's name.
        name: String,
    },
    /// The fleet: every live agent of the prefix, what it runs and in what state.
    Status,
}

/// Runs one `logcatch remote` command with the `remote:` settings of `config`.
pub fn run(config: &Path, command: RemoteCommand) -> ExitCode {
    let local = match config::load_file(config) {
        Ok(l) => l,
        Err(errors) => return invalid(&errors),
    };
    let Some(remote) = local.config.remote.clone() else {
        eprintln!(
            "{}: no `remote:` section: name the config store there (remote: {{etcd: {{endpoints: [...], prefix: /logcatch/NAME/}}}})",
            config.display()
        );
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("logcatch remote: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        // Checked before connecting: an invalid file is refused even with the store down.
        if let RemoteCommand::Put { name, file } = &command
            && let Err(code) = check(local, name, file)
        {
            return code;
        }
        let mut store = match Store::connect(&remote.etcd, &base_dir(config)).await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        match command {
            RemoteCommand::Put { name, file } => put(&mut store, &name, &file).await,
            RemoteCommand::List => list(&mut store).await,
            RemoteCommand::Get { name } => match store.get(&name).await {
                Ok(Some(text)) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Ok(None) => {
                    eprintln!("no pipeline {name} (key {})", store.key(&name));
                    ExitCode::from(1)
                }
                Err(e) => fail(e),
            },
            RemoteCommand::Rm { name } => match store.delete(&name).await {
                Ok(true) => {
                    println!("removed {}", store.key(&name));
                    ExitCode::SUCCESS
                }
                Ok(false) => {
                    eprintln!("no pipeline {name} (key {})", store.key(&name));
                    ExitCode::from(1)
                }
                Err(e) => fail(e),
            },
            RemoteCommand::Status => status(&mut store).await,
        }
    })
}

/// Checks pipeline `name` in `file` as an agent with `local` would: composed with the
/// file's pipelines, validated, plugins compiled and started.
fn check(local: config::Loaded, name: &str, file: &Path) -> Result<(), ExitCode> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        eprintln!("{}: cannot read: {e}", file.display());
        ExitCode::from(2)
    })?;
    let origin = file.display().to_string();
    let composed = config::compose(local, [(name, origin, text.as_str())]);
    match composed.and_then(|l| crate::registry().plan(&l)) {
        Ok(_) => Ok(()),
        Err(errors) => Err(invalid(&errors)),
    }
}

async fn put(store: &mut Store, name: &str, file: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    match store.put(name, &text).await {
        Ok(revision) => {
            println!("put {} (revision {revision})", store.key(name));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn list(store: &mut Store) -> ExitCode {
    match store.pipelines().await {
        Ok(snapshot) => {
            println!("{:<32} {:>8}", "PIPELINE", "BYTES");
            for (name, text) in &snapshot.pipelines {
                println!("{name:<32} {:>8}", text.len());
            }
            println!(
                "{} pipeline(s) under {} at revision {}",
                snapshot.pipelines.len(),
                store.settings().pipelines_prefix(),
                snapshot.revision
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn status(store: &mut Store) -> ExitCode {
    let agents = match store.statuses().await {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    print!("{}", fleet_table(store.settings(), &agents));
    ExitCode::SUCCESS
}

/// The fleet view: one row per agent and pipeline (and refused key).
fn fleet_table(etcd: &EtcdConfig, agents: &[(String, String)]) -> String {
    let mut rows = vec![
        [
            "HOST",
            "REVISION",
            "PIPELINE",
            "ORIGIN",
            "STATE",
            "RESTARTS",
            "LAST ERROR",
        ]
        .map(String::from),
    ];
    for (host, json) in agents {
        let report: AgentReport = match serde_json::from_str(json) {
            Ok(r) => r,
            Err(e) => {
                rows.push(
                    [host, "?", "-", "-", "unreadable", "-", &e.to_string()].map(String::from),
                );
                continue;
            }
        };
        let revision = if report.from_cache {
            format!("{} (kept copy)", report.revision)
        } else {
            report.revision.to_string()
        };
        if report.pipelines.is_empty() && report.refused.is_empty() {
            rows.push([host, &revision, "-", "-", "idle", "-", "-"].map(String::from));
        }
        for (name, p) in &report.pipelines {
            rows.push([
                host.clone(),
                revision.clone(),
                name.clone(),
                p.origin.clone(),
                p.state.clone(),
                p.restarts.to_string(),
                p.last_error.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        for (key, why) in &report.refused {
            let name = key.rsplit('/').next().unwrap_or(key);
            let first = why.lines().next().unwrap_or_default();
            rows.push([host, &revision, name, "etcd", "refused", "-", first].map(String::from));
        }
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (w, cell)) in widths.iter().zip(row).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "{} agent(s) under {}\n",
        agents.len(),
        etcd.status_prefix()
    ));
    out
}

fn base_dir(config: &Path) -> PathBuf {
    match config.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn invalid(errors: &ConfigErrors) -> ExitCode {
    eprintln!("{errors}");
    let n = errors.0.len();
    eprintln!(
        "invalid: {n} error{}; nothing written",
        if n == 1 { "" } else { "s" }
    );
    ExitCode::from(2)
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("logcatch remote: {e}");
    ExitCode::FAILURE
}
