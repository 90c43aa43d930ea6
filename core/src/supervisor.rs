//! Restarts a failed component with exponential backoff, catching panics so that one
//! component's bug never reaches another component, pipeline, or the process.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::ComponentId;
use crate::health::ComponentState;
use crate::metrics::Counters;
use crate::plugin::PluginError;

pub use crate::backoff::Backoff;

/// Restarts inside this window count toward the intensity limit.
const WINDOW: Duration = Duration::from_secs(60);
/// More restarts than this inside [`WINDOW`] marks the component failed (still retried).
const INTENSITY: usize = 10;
/// An incarnation that ran this long was healthy: the backoff starts over.
const HEALTHY: Duration = Duration::from_secs(10);

/// How one attempt of a supervised task ended.
pub enum Outcome {
    /// It finished its work.
    Done,
    /// It returned an error.
    Failed(PluginError),
    /// It panicked; the message.
    Panicked(String),
}

/// Runs `attempt` once, turning a panic into [`Outcome::Panicked`].
pub async fn catch<F: Future<Output = Result<(), PluginError>>>(attempt: F) -> Outcome {
    match AssertUnwindSafe(attempt).catch_unwind().await {
        Ok(Ok(())) => Outcome::Done,
        Ok(Err(e)) => Outcome::Failed(e),
        Err(payload) => Outcome::Panicked(panic_message(&payload)),
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}

/// The restart policy of one component: exponential backoff, an intensity limit (more than
/// [`INTENSITY`] restarts in [`WINDOW`] marks it failed, still retried at the backoff's
/// pace) and the state it shows meanwhile. Shared by every supervised task.
#[derive(Debug, Default)]
pub struct Restarts {
    backoff: Backoff,
    recent: Vec<Instant>,
}

impl Restarts {
    /// A policy with no restarts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// An incarnation that began at `began` failed with `why`: counts the restart, sets the
    /// component's state (`restarting`, or `failed` past the intensity limit), logs it, and
    /// returns how long to wait before the next one.
    pub fn failed(
        &mut self,
        pipeline: &str,
        component: ComponentId,
        counters: &Counters,
        began: Instant,
        why: &str,
    ) -> Duration {
        if began.elapsed() >= HEALTHY {
            self.backoff.reset();
        }
        Counters::add(&counters.restarts, 1);
        counters.error(why);
        self.recent.retain(|t| t.elapsed() < WINDOW);
        self.recent.push(Instant::now());
        let delay = self.backoff.step();
        if self.recent.len() > INTENSITY {
            counters.state.set(ComponentState::Failed);
            tracing::error!(
                pipeline = %pipeline,
                component = %component,
                restarts_in_window = self.recent.len(),
                retry_in_ms = delay.as_millis() as u64,
                "{why}; restarting too often, component marked failed and retried slowly"
            );
        } else {
            counters.state.set(ComponentState::Restarting);
            tracing::error!(
                pipeline = %pipeline,
                component = %component,
                retry_in_ms = delay.as_millis() as u64,
                "{why}; restarting from its last checkpoint"
            );
        }
        delay
    }

    /// Runs one incarnation, `attempt`, of a component: it shows `running` from the start
    /// after a restart, or once it has run [`HEALTHY`] long after being marked failed.
    pub async fn run<F: Future<Output = Outcome>>(counters: &Counters, attempt: F) -> Outcome {
        if counters.state.get() != ComponentState::Failed {
            counters.state.set(ComponentState::Running);
            return attempt.await;
        }
        tokio::pin!(attempt);
        tokio::select! {
            outcome = &mut attempt => return outcome,
            _ = tokio::time::sleep(HEALTHY) => counters.state.set(ComponentState::Running),
        }
        attempt.await
    }
}

/// Runs `start()` until it returns `Ok` or `shutdown` fires, restarting it after an error
/// or a panic with backoff. `pipeline`/`component` name it in logs.
pub async fn supervise<F, Fut>(
    pipeline: &str,
    component: ComponentId,
    counters: &Counters,
    shutdown: &CancellationToken,
    mut start: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), PluginError>>,
{
    let mut restarts = Restarts::new();
    loop {
        let began = Instant::now();
        let why = match Restarts::run(counters, catch(start())).await {
            Outcome::Done => return,
            Outcome::Failed(e) => format!("failed: {e}"),
            Outcome::Panicked(msg) => format!("panicked: {msg}"),
        };
        if shutdown.is_cancelled() {
            tracing::warn!(
                pipeline = %pipeline,
                component = %component,
                "{why} (while shutting down; not restarted)"
            );
            return;
        }
        let delay = restarts.failed(pipeline, component, counters, began, &why);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn panics_and_errors_are_restarted_until_done() {
        let tries = AtomicUsize::new(0);
        let counters = Counters::default();
        supervise(
            "p",
            ComponentId::source(0),
            &counters,
            &CancellationToken::new(),
            || async {
                match tries.fetch_add(1, Ordering::SeqCst) {
                    0 => panic!("boom"),
                    1 => Err(PluginError::new("bad")),
                    _ => Ok(()),
                }
            },
        )
        .await;
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        assert_eq!(counters.snapshot().restarts, 2);
        assert_eq!(counters.state.get(), ComponentState::Running);
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_restarts_mark_failed_until_an_incarnation_runs_long_enough() {
        let counters = Counters::default();
        let mut r = Restarts::new();
        for _ in 0..=INTENSITY {
            let _ = r.failed("p", ComponentId::sink(0), &counters, Instant::now(), "boom");
        }
        assert_eq!(counters.state.get(), ComponentState::Failed);
        // A short incarnation keeps the mark; one that lasts clears it while it runs.
        let quick = Restarts::run(&counters, async { Outcome::Done }).await;
        assert!(matches!(quick, Outcome::Done));
        assert_eq!(counters.state.get(), ComponentState::Failed);
        let c = &counters;
        let long = Restarts::run(c, async {
            tokio::time::sleep(HEALTHY * 2).await;
            assert_eq!(c.state.get(), ComponentState::Running);
            Outcome::Done
        });
        assert!(matches!(long.await, Outcome::Done));
    }
}
