//! Capped exponential backoff, the one used everywhere something is retried: a supervisor
//! restarting a component (100 ms doubling to 30 s), a sink resending a batch (its own
//! bounds, with jitter so that many agents do not retry in step), a server's `Retry-After`.

use std::time::Duration;

/// Capped exponential backoff: the n-th delay is `min(initial × 2^n, max)`, or with jitter
/// drawn from the upper half of that ("equal jitter").
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: bool,
    failures: u32,
}

impl Backoff {
    /// The supervisors' backoff: 100 ms doubling to 30 s, no jitter.
    pub fn new() -> Self {
        Self::exact(Duration::from_millis(100), Duration::from_secs(30))
    }

    /// From `initial`, doubling up to `max`, each delay exactly that.
    pub fn exact(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            jitter: false,
            failures: 0,
        }
    }

    /// From `initial`, doubling up to `max`, each delay drawn from `[d/2, d]`.
    pub fn jittered(initial: Duration, max: Duration) -> Self {
        Backoff {
            jitter: true,
            ..Self::exact(initial, max)
        }
    }

    /// The delay to wait after one more failure.
    pub fn step(&mut self) -> Duration {
        let full = self
            .initial
            .saturating_mul(1u32 << self.failures.min(31))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        if self.jitter {
            let half = full / 2;
            half + half.mul_f64(fastrand::f64())
        } else {
            full
        }
    }

    /// The delay to honour a server's `Retry-After` of `asked`, counted as a failure: as
    /// asked, but within `[initial, cap]` (never a busy loop, never held for hours).
    pub fn retry_after(&mut self, asked: Duration, cap: Duration) -> Duration {
        self.failures = self.failures.saturating_add(1);
        asked.clamp(self.initial, cap.max(self.initial))
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to the first step after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_a_cap_and_resets() {
        let mut b = Backoff::new();
        let steps: Vec<_> = (0..12).map(|_| b.step().as_millis()).collect();
        assert_eq!(&steps[..4], &[100, 200, 400, 800]);
        assert_eq!(*steps.last().unwrap(), 30_000);
        b.reset();
        assert_eq!(b.step().as_millis(), 100);
    }

    #[test]
    fn jitter_stays_in_the_upper_half_and_under_the_cap() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(5));
        let mut b = Backoff::jittered(initial, max);
        for n in 0..40u32 {
            let d = b.step();
            let full = initial.saturating_mul(1 << n.min(31)).min(max);
            assert!(
                d >= full / 2 && d <= full,
                "step {n}: {d:?} not in [{full:?}/2, {full:?}]"
            );
        }
        assert_eq!(b.failures(), 40);
        b.reset();
        let d = b.step();
        assert!(d >= initial / 2 && d <= initial, "{d:?}");
    }

    #[test]
    fn retry_after_is_capped_and_floored() {
        let mut b = Backoff::jittered(Duration::from_millis(100), Duration::from_millis(500));
        let cap = Duration::from_secs(30);
        assert_eq!(
            b.retry_after(Duration::from_secs(1), cap),
            Duration::from_secs(1)
        );
        assert_eq!(b.retry_after(Duration::from_secs(3600), cap), cap);
        assert_eq!(
            b.retry_after(Duration::ZERO, cap),
            Duration::from_millis(100)
        );
        assert_eq!(b.failures(), 3);
    }
}
