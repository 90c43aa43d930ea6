//! Rate limits for log lines of a fault that repeats: a burst of lines, then one per
//! interval; the lines held back are counted, so the next one let through can say how many
//! there were. One mechanism for every repeated warning (a sink retrying, a filter failing
//! batch after batch, a plugin logging in a loop).

use std::time::{Duration, Instant};

/// Lets `burst` lines through at once, then one per `every`, counting the rest.
#[derive(Debug, Clone)]
pub struct LogLimit {
    burst: u32,
    every: Duration,
    /// Lines that may go out now.
    tokens: u32,
    /// When the next token is due (if `tokens < burst`).
    refill_at: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    /// A limit of one line per `every`.
    pub fn new(every: Duration) -> Self {
        Self::with_burst(1, every)
    }

    /// A limit of `burst` lines at once (at least one), then one per `every`.
    pub fn with_burst(burst: u32, every: Duration) -> Self {
        let burst = burst.max(1);
        LogLimit {
            burst,
            every,
            tokens: burst,
            refill_at: None,
            suppressed: 0,
        }
    }

    /// Lines held back since the last one let through, counted as said: for a last report
    /// when no more lines will come.
    pub fn take_suppressed(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }

    /// `Some(held back since the last one)` when a line may be logged at `now`.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        while let Some(at) = self.refill_at.filter(|&at| at <= now) {
            self.tokens += 1;
            self.refill_at = (self.tokens < self.burst).then(|| at + self.every);
        }
        if self.tokens == 0 {
            self.suppressed += 1;
            return None;
        }
        self.tokens -= 1;
        if self.refill_at.is_none() {
            self.refill_at = Some(now + self.every);
        }
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_interval_and_a_count_of_the_rest() {
        let mut l = LogLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(l.allow(t0), Some(0));
        assert_eq!(l.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(l.allow(t0 + Duration::from_secs(11)), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(60)), Some(1));
    }

    #[test]
    fn a_burst_then_the_rate() {
        let mut l = LogLimit::with_burst(3, Duration::from_millis(100));
        let t0 = Instant::now();
        let passed = (0..10).filter(|_| l.allow(t0).is_some()).count();
        assert_eq!(passed, 3);
        assert_eq!(l.allow(t0 + Duration::from_millis(100)), Some(7));
        assert_eq!(l.allow(t0 + Duration::from_millis(150)), None);
        // Long quiet: the burst is back, no more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| l.allow(later).is_some()).count(), 3);
    }
}
