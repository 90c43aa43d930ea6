//! `logcatch top`: a live terminal view of an agent (`--api URL` for another one): every
//! pipeline with its events per second in and out, dropped, dead-lettered, errors, restarts,
//! checkpoint lag, state and last reload, busiest first; Enter opens a pipeline's components.
//!
//! A thread fetches `/pipelines` every interval and hands each result to the drawing loop,
//! which also reads the keys, so a slow agent never freezes the keyboard. A failed fetch is
//! shown ("unreachable: …") with the last data kept, and fetching goes on.

mod app;
mod doc;
mod model;
mod terminal;
mod view;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEventKind};

use super::client::{ApiArgs, Client};
use app::App;

/// The shortest interval between fetches (a smaller `--interval` is raised to it).
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// How long the loop waits for a key before it looks for a new fetch and redraws.
const TICK: Duration = Duration::from_millis(100);

/// The shortest time a fetch may take before it counts as failed.
const MIN_FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// What the fetching thread sends: when the answer came, and the document or the error.
type Fetched = (Instant, anyhow::Result<serde_json::Value>);

/// Runs the view until `q` or Ctrl-C, then exits 0 with the terminal restored. Exits 2, with
/// the reason on stderr, if stdout is not a terminal or the arguments name no agent; 1 if the
/// terminal fails. An agent that does not answer is shown as such, never a reason to exit.
pub fn run(api: &ApiArgs, interval: Duration) -> ExitCode {
    if !std::io::stdout().is_terminal() {
        eprintln!(
            "logcatch top: standard output is not a terminal: run it in one \
             (for the same data as JSON: GET /pipelines on the agent's admin API)"
        );
        return ExitCode::from(2);
    }
    let client = match Client::new(api) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("logcatch top: {e:#}");
            return ExitCode::from(2);
        }
    };
    let interval = interval.max(MIN_INTERVAL);
    let mut app = App::new(client.base(), interval);
    let (tx, rx) = mpsc::channel();
    let fetcher = std::thread::Builder::new()
        .name("top-fetch".into())
        .spawn(move || fetch_loop(&client, interval, &tx));
    if let Err(e) = fetcher {
        eprintln!("logcatch top: cannot start the fetching thread: {e}");
        return ExitCode::FAILURE;
    }
    match show(&mut app, &rx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logcatch top: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Fetches `/pipelines` every `interval` (measured from the start of each fetch) and sends
/// each result, until the receiver is gone.
fn fetch_loop(client: &Client, interval: Duration, tx: &mpsc::Sender<Fetched>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let e = anyhow::Error::new(e).context("cannot start the async runtime");
            let _ = tx.send((Instant::now(), Err(e)));
            return;
        }
    };
    let timeout = interval.max(MIN_FETCH_TIMEOUT);
    runtime.block_on(async {
        loop {
            let started = tokio::time::Instant::now();
            let result = client.json("/pipelines", timeout).await;
            if tx.send((Instant::now(), result)).is_err() {
                return;
            }
            tokio::time::sleep_until(started + interval).await;
        }
    });
}

/// Draws `app` on the terminal until it quits, feeding it the keys and the fetches.
fn show(app: &mut App, rx: &mpsc::Receiver<Fetched>) -> anyhow::Result<()> {
    let mut screen = terminal::Screen::enter()?;
    while !app.quit {
        screen.terminal.draw(|frame| view::draw(frame, app))?;
        if event::poll(TICK)?
            && let Event::Key(key) = event::read()?
            && key.kind == KeyEventKind::Press
        {
            app.on_key(key);
        }
        loop {
            match rx.try_recv() {
                Ok((at, result)) => app.on_fetch(at, result),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    let why = match &app.connection {
                        app::Connection::Failed { reason, .. } => format!(": {reason}"),
                        _ => String::new(),
                    };
                    anyhow::bail!("the fetching thread stopped{why}")
                }
            }
        }
    }
    Ok(())
}
