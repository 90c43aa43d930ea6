//! The guest's monotonic clock, whose waits end at the call's deadline.
//!
//! A time limit is enforced by epoch interruption, which wasmtime checks only while guest
//! code runs. A guest that sleeps (`wasi:clocks/monotonic-clock.subscribe-duration`, then
//! `wasi:io/poll`) blocks inside the host, where no check happens: a `sleep(20s)` held a
//! 200 ms call for 20 s. This clock replaces wasmtime-wasi's in the linker: every pollable it
//! makes is ready at the requested time or at the deadline of the call in progress,
//! whichever comes first. When a wait is cut short the guest runs again, past its deadline,
//! and traps at its next function entry or loop: the call times out as any other would.

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

/// A wait that ends at a fixed instant.
struct Wake(tokio::time::Instant);

#[async_trait::async_trait]
impl Pollable for Wake {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.0).await;
    }
}

impl HostState {
    /// A pollable ready after `wait`, or at the call's deadline if that is sooner.
    fn wake_after(&mut self, wait: Duration) -> wasmtime::Result<Resource<DynPollable>> {
        let now = Instant::now();
        let until = now
            .checked_add(wait)
            .map_or(self.deadline, |t| t.min(self.deadline));
        let wake = tokio::time::Instant::now() + until.saturating_duration_since(now);
        let resource = self.table().push(Wake(wake))?;
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
