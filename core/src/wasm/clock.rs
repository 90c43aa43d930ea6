//! The guest's monotonic clock, whose waits end at the call's deadline.
//!
//! A time limit is enforced by epoch interruption, which wasmtime checks only while guest
//! code runs. A guest that sleeps (`wasi:clocks/monotonic-clock.subscribe-duration`, then
//! `wasi:io/poll`) blocks inside the host, where no check happens: a `sleep(20s)` held a
//! 200 ms call for 20 s. This clock replaces wasmtime-wasi's in the linker: every pollable it
//! makes is ready at the requested time or at the deadline of the call in progress,
//! whichever comes first. A wait cut short marks the call as timed out
//! ([`HostState::wait_was_cut`]): the call's result is then a timeout whatever the guest
//! returns. The epoch trap alone did not do it: a guest woken at the deadline could finish
//! before the epoch reached its deadline (the ticker lags on a loaded machine), and its
//! sleep "succeeded" (a CI run delivered the line that should have timed out).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, Resource};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use super::host::HostState;

/// Puts this clock in place of wasmtime-wasi's in `linker` (which must already hold WASI).
pub fn shadow_wasi_clock(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = monotonic_clock::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s);
    linker.allow_shadowing(false);
    added
}

/// A wait that ends at a fixed instant; `cut` is raised when it ends there because the
/// call's deadline came before the time the guest asked for.
struct Wake {
    at: tokio::time::Instant,
    cut: Option<Arc<AtomicBool>>,
}

#[async_trait::async_trait]
impl Pollable for Wake {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.at).await;
        if let Some(cut) = &self.cut {
            cut.store(true, Ordering::Relaxed);
        }
    }
}

/// When a wait of `wait` asked for at `now` ends, given the call's `deadline`, and whether
/// the deadline cut it short.
fn wake_time(now: Instant, wait: Duration, deadline: Instant) -> (Instant, bool) {
    match now.checked_add(wait) {
        Some(t) if t <= deadline => (t, false),
        _ => (deadline, true),
    }
}

impl HostState {
    /// A pollable ready after `wait`, or at the call's deadline if that is sooner.
    fn wake_after(&mut self, wait: Duration) -> wasmtime::Result<Resource<DynPollable>> {
        let now = Instant::now();
        let (until, cut) = wake_time(now, wait, self.deadline);
        let wake = Wake {
            at: tokio::time::Instant::now() + until.saturating_duration_since(now),
            cut: cut.then(|| self.wait_cut.clone()),
        };
        let resource = self.table().push(wake)?;
        subscribe(self.table(), resource)
    }
}

impl monotonic_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(self.clock_origin.elapsed().as_nanos() as u64)
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(1)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let now = self.clock_origin.elapsed().as_nanos() as u64;
        self.wake_after(Duration::from_nanos(when.saturating_sub(now)))
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.wake_after(Duration::from_nanos(duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_past_the_deadline_ends_there_and_says_so() {
        let now = Instant::now();
        let deadline = now + Duration::from_millis(200);
        assert_eq!(
            wake_time(now, Duration::from_millis(50), deadline),
            (now + Duration::from_millis(50), false)
        );
        assert_eq!(
            wake_time(now, Duration::from_millis(200), deadline),
            (deadline, false)
        );
        assert_eq!(
            wake_time(now, Duration::from_secs(20), deadline),
            (deadline, true)
        );
        assert_eq!(wake_time(now, Duration::MAX, deadline), (deadline, true));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_cut_short_raises_the_flag_when_it_ends_not_before() {
        let flag = Arc::new(AtomicBool::new(false));
        let mut wake = Wake {
            at: tokio::time::Instant::now() + Duration::from_millis(200),
            cut: Some(flag.clone()),
        };
        assert!(!flag.load(Ordering::Relaxed), "raised at subscribe");
        wake.ready().await;
        assert!(flag.load(Ordering::Relaxed));
    }
}
