//! Which of several equivalent endpoints (the nodes of a cluster) the next request goes to:
//! requests take turns over them; one that fails to answer is skipped until its pause ends,
//! then tried again. With one endpoint it is always that one.

use std::time::{Duration, Instant};

/// The turn and the pauses of a sink's endpoints.
#[derive(Debug)]
pub struct Endpoints {
    /// How many there are.
    count: usize,
    /// The one whose turn is next.
    next: usize,
    /// Until when each one is skipped (after it failed to answer).
    paused_until: Vec<Option<Instant>>,
}

impl Endpoints {
    /// `count` endpoints (at least one), all in service.
    pub fn new(count: usize) -> Self {
        assert!(count > 0, "a sink has at least one endpoint");
        Endpoints {
            count,
            next: 0,
            paused_until: vec![None; count],
        }
    }

    /// The endpoint for the next request: the next in turn that is not paused at `now`, or,
    /// when all are, the one whose pause ends first.
    pub fn pick(&mut self, now: Instant) -> usize {
        let up = (0..self.count)
            .map(|k| (self.next + k) % self.count)
            .find(|&i| self.paused_until[i].is_none_or(|t| t <= now));
        let i = up.unwrap_or_else(|| {
            (0..self.count)
                .min_by_key(|&i| self.paused_until[i])
                .expect("at least one endpoint")
        });
        self.next = (i + 1) % self.count;
        i
    }

    /// Endpoint `i` failed to answer at `now`: it is skipped for `pause`.
    pub fn failed(&mut self, i: usize, now: Instant, pause: Duration) {
        self.paused_until[i] = Some(now + pause);
    }

    /// Endpoint `i` answered: it is in service again.
    pub fn answered(&mut self, i: usize) {
        self.paused_until[i] = None;
    }

    /// Whether some endpoint other than `i` is in service at `now` (so a request that failed
    /// on `i` can go there at once).
    pub fn other_up(&self, i: usize, now: Instant) -> bool {
        (0..self.count).any(|j| j != i && self.paused_until[j].is_none_or(|t| t <= now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_take_turns_and_skip_a_failed_endpoint_until_its_pause_ends() {
        let t0 = Instant::now();
        let mut e = Endpoints::new(3);
        let picks: Vec<usize> = (0..6).map(|_| e.pick(t0)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        e.failed(1, t0, Duration::from_secs(10));
        assert!(e.other_up(1, t0));
        let picks: Vec<usize> = (0..4).map(|_| e.pick(t0)).collect();
        assert_eq!(picks, [0, 2, 0, 2]);
        // Its pause over, it takes its turn again.
        let later = t0 + Duration::from_secs(11);
        let picks: Vec<usize> = (0..3).map(|_| e.pick(later)).collect();
        assert_eq!(picks, [0, 1, 2]);
    }

    #[test]
    fn when_every_endpoint_is_paused_the_first_to_come_back_is_tried() {
        let t0 = Instant::now();
        let mut e = Endpoints::new(2);
        e.failed(0, t0, Duration::from_secs(5));
        e.failed(1, t0, Duration::from_secs(2));
        assert!(!e.other_up(0, t0));
        assert_eq!(e.pick(t0), 1);
        e.answered(1);
        assert!(e.other_up(0, t0));
        let mut one = Endpoints::new(1);
        one.failed(0, t0, Duration::from_secs(5));
        assert_eq!(one.pick(t0), 0);
        assert!(!one.other_up(0, t0));
    }
}
