//! The `logcatch` command line: parses arguments, sets up logging, and hands over to
//! `logcatch-core`. No pipeline logic lives here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use logcatch_core::config::{self, ConfigErrors, Loaded};
use logcatch_core::daemon::{self, RunError, RunOptions};

mod console;
mod remote;
mod scaffold;

/// Most blocking threads the runtime may start (they are made on demand and exit when idle).
const MAX_BLOCKING_THREADS: usize = 8192;

/// The example plugins built into the binary (build.rs), found by name when no file of
/// that name is on the plugin search path.
static EMBEDDED_PLUGINS: &[logcatch_core::wasm::locate::Embedded] =
    include!(concat!(env!("OUT_DIR"), "/embedded_plugins.rs"));

/// `logcatch --version`: the version, the plugin contract it speaks and the wasmtime it runs
/// plugins with.
static LONG_VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{}\ncontract {}\nwasmtime {}",
        env!("CARGO_PKG_VERSION"),
        logcatch_core::wasm::CONTRACT_PACKAGE,
        env!("LOGCATCH_WASMTIME_VERSION"),
    )
});

/// The config used when none is given.
const DEFAULT_CONFIG: &str = include_str!("../config/logcatch.yaml");
const DEFAULT_ORIGIN: &str = "<embedded config/logcatch.yaml>";

/// Collects log lines and moves them through pipelines declared in YAML.
///
/// With no command, runs the embedded default config (a demo pipeline to stdout).
#[derive(Parser)]
#[command(name = "logcatch", version, long_version = LONG_VERSION.as_str(), about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Log output format (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the pipelines until SIGTERM/SIGINT (or, with --once, until every source is read).
    Run {
        /// Config file (default: the embedded config/logcatch.yaml).
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Read every source to its current end, deliver everything, checkpoint and exit.
        #[arg(long)]
        once: bool,
    },
    /// Checks a config as `run` would before starting; prints every error.
    Validate {
        /// Config file (default: the embedded config/logcatch.yaml).
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// The central config store (`remote:` in FILE): put, list, get and remove pipelines,
    /// and see what every agent runs.
    Remote {
        /// Config file whose `remote:` names the store (pipelines are checked with it).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        #[command(subcommand)]
        command: remote::RemoteCommand,
    },
    /// A live view of an agent in the terminal: its pipelines and their components, with
    /// rates, sorted by throughput.
    Top {
        #[command(flatten)]
        api: console::client::ApiArgs,
        /// How often the view refreshes.
        #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
    },
    /// Shows the events flowing at one point of a pipeline, as JSON lines: after the sources,
    /// around a filter (its input, each event with its verdict), or what the sinks get.
    Tap {
        /// The pipeline.
        pipeline: String,
        /// Where: `source`, `filters[N]` (or `filter:N`), `sinks`.
        #[arg(long, value_name = "POINT", default_value = "source")]
        at: String,
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Only events whose message contains TEXT.
        #[arg(long, value_name = "TEXT")]
        contains: Option<String>,
        /// Only events whose attribute KEY equals VALUE (repeat for all of several).
        #[arg(long = "where", value_name = "KEY=VALUE")]
        conditions: Vec<String>,
        #[command(flatten)]
        api: console::client::ApiArgs,
    },
    /// Plugin authoring: `logcatch plugin new --lang rust NAME`.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Runs one filter plugin over stdin lines and prints the events as JSON lines: the
    /// quickest way to try a plugin.
    Filter {
        /// The plugin (a WebAssembly component exporting logcatch:plugin/filter).
        #[arg(value_name = "WASM")]
        wasm: PathBuf,
        /// The plugin's config, as JSON (what `config:` holds in YAML).
        #[arg(long, value_name = "JSON", default_value = "{}")]
        config: String,
    },
    /// Prints the shell completion script for SHELL (the package installs them).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Prints the manual page logcatch(1) in roff; with --dir, writes it and one page per
    /// command (logcatch-run(1), ...) into DIR.
    Man {
        /// Where to write every page.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Writes a ready-to-build filter project (contract and SDK included, a build script, a
    /// README, test data) into ./NAME.
    New {
        /// The plugin's language.
        #[arg(long, value_enum)]
        lang: scaffold::Lang,
        /// The plugin's name (lowercase letters, digits, `-`, `_`).
        name: String,
        /// Where to write it (default: ./NAME); must not exist or be empty.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    logcatch_core::fd_limit::raise();
    let shared_data_dir = matches!(cli.command, Some(Command::Filter { .. }));
    let (source, once, validate_only) = match cli.command {
        None => (ConfigSource::Default, false, false),
        Some(Command::Run { config, once }) => (ConfigSource::from(config), once, false),
        Some(Command::Validate { config }) => (ConfigSource::from(config), false, true),
        Some(Command::Plugin {
            command: PluginCommand::New { lang, name, dir },
        }) => return plugin_new(lang, &name, dir),
        Some(Command::Remote { config, command }) => return remote::run(&config, command),
        Some(Command::Top { api, interval }) => return console::top::run(&api, interval),
        Some(Command::Tap {
            pipeline,
            at,
            limit,
            contains,
            conditions,
            api,
        }) => {
            let request = console::tap::TapRequest {
                pipeline,
                at,
                limit,
                contains,
                conditions,
            };
            return console::tap::run(&api, &request);
        }
        Some(Command::Completions { shell }) => return completions(shell),
        Some(Command::Man { dir }) => return man(dir.as_deref()),
        Some(Command::Filter { wasm, config }) => {
            (ConfigSource::Filter { wasm, config }, false, false)
        }
    };
    let config_path = match &source {
        // Absolute, so the API and the logs name it unambiguously.
        ConfigSource::File(p) => Some(std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        _ => None,
    };
    let loaded = match load(source) {
        Ok(loaded) => loaded,
        Err(errors) => return config_invalid(&errors),
    };
    if validate_only {
        let plan = match registry().plan(&loaded) {
            Ok(plan) => plan,
            Err(errors) => return config_invalid(&errors),
        };
        return match daemon::preflight(&plan) {
            Ok(()) => {
                let remote = if plan.remote.is_some() {
                    " (and the config store's, checked as they arrive: see `logcatch remote put`)"
                } else {
                    ""
                };
                println!("config ok: {} pipeline(s){remote}", plan.pipelines.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        };
    }
    // A reload reads the same file again.
    let loader = config_path
        .clone()
        .map(|path| -> logcatch_core::reload::Loader {
            std::sync::Arc::new(move || load(ConfigSource::File(path.clone())))
        });
    let opts = RunOptions {
        once,
        config_path,
        loader,
        shared_data_dir,
        registry: registry(),
    };
    match run(loaded, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<RunError>() {
            Some(RunError::Config(errors)) => config_invalid(errors),
            _ => {
                tracing::error!("logcatch stopped: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Every built-in source and sink, and where `wasm:` names are looked up.
pub(crate) fn registry() -> logcatch_core::registry::Registry {
    let mut r = logcatch_plugins::registry();
    r.plugin_path(logcatch_core::wasm::locate::PluginPath::from_env(
        EMBEDDED_PLUGINS,
    ));
    r
}

/// `logcatch completions SHELL`: the completion script, on stdout.
fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "logcatch", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// `logcatch man`: logcatch(1) on stdout, or every page into `dir`.
fn man(dir: Option<&Path>) -> ExitCode {
    let cmd = <Cli as clap::CommandFactory>::command();
    let written = match dir {
        Some(dir) => std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir)),
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let to = dir.map_or("stdout".to_owned(), |d| d.display().to_string());
            eprintln!("logcatch man: cannot write to {to}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints every config error and how many; the exit code of an invalid config.
fn config_invalid(errors: &ConfigErrors) -> ExitCode {
    eprintln!("{errors}");
    let n = errors.0.len();
    eprintln!("config invalid: {n} error{}", if n == 1 { "" } else { "s" });
    ExitCode::from(2)
}

/// `logcatch plugin new`: writes the project and says what to do next.
fn plugin_new(lang: scaffold::Lang, name: &str, dir: Option<PathBuf>) -> ExitCode {
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    match scaffold::new_plugin(lang, name, &dir) {
        Ok(files) => {
            println!("wrote {} files into {}", files.len(), dir.display());
            println!(
                "next: cd {} && {}   (see README.md)",
                dir.display(),
                lang.next_steps()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("logcatch plugin new: {e}");
            ExitCode::from(2)
        }
    }
}

/// Where the config comes from.
enum ConfigSource {
    Default,
    File(PathBuf),
    /// `logcatch filter`: stdin → the plugin → JSON lines on stdout.
    Filter {
        wasm: PathBuf,
        config: String,
    },
}

impl From<Option<PathBuf>> for ConfigSource {
    fn from(path: Option<PathBuf>) -> Self {
        path.map_or(ConfigSource::Default, ConfigSource::File)
    }
}

/// Reads and parses the config (planning it, with the config store's pipelines, comes later).
fn load(source: ConfigSource) -> Result<Loaded, ConfigErrors> {
    Ok(match source {
        ConfigSource::File(p) => config::load_file(&p)?,
        ConfigSource::Default => config::load_str(
            DEFAULT_CONFIG,
            DEFAULT_ORIGIN.to_owned(),
            PathBuf::from("."),
        )?,
        ConfigSource::Filter { wasm, config } => {
            let text = filter_config(&wasm, &config);
            config::load_str(&text, "<logcatch filter>".to_owned(), PathBuf::from("."))?
        }
    })
}

/// The pipeline `logcatch filter` runs, as YAML (JSON is YAML, so values are written as
/// JSON; `$` is doubled so nothing is taken for a variable).
fn filter_config(wasm: &Path, config_json: &str) -> String {
    let data_dir = std::env::temp_dir().join("logcatch-filter");
    let json = |s: &str| {
        serde_json::to_string(s)
            .expect("strings serialize")
            .replace('$', "$$")
    };
    let data_dir = json(&data_dir.to_string_lossy());
    let wasm = json(&wasm.to_string_lossy());
    let config = config_json.replace('$', "$$");
    format!(
        "data_dir: {data_dir}\n\
         pipelines:\n  \
           filter:\n    \
             sources: [{{type: stdin}}]\n    \
             filters: [{{wasm: {wasm}, config: {config}}}]\n    \
             sinks: [{{type: stdout, format: json}}]\n"
    )
}

fn run(local: Loaded, opts: RunOptions) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Each pipeline holds a blocking thread for its life (its filter chain, its file
        // tailer): tokio's default cap of 512 would let a few hundred pipelines starve
        // every other blocking task (checkpoint writes, compiles) of a thread.
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .context("starting the runtime")?;
    rt.block_on(daemon::run(local, opts))?;
    // Blocked reads (stdin) must not hold the process open once everything is delivered.
    rt.shutdown_background();
    Ok(())
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LOGCATCH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    // Every panic is a bug. Those the supervisor catches are reported by it again with
    // their pipeline and component; this records where each one happened, through the same
    // log, including those outside any supervision.
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| l.to_string()).unwrap_or_default();
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(a non-text payload)");
        tracing::error!(%location, "panic: {}", message.replace('\n', " "));
    }));
}
