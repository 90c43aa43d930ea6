//! The state of a running component, as a person should read it: `running`, `restarting`
//! (waiting out a backoff after a failure), `blocked` (holding its pipeline: a sink whose
//! destination refuses or is down) or `failed` (restarting too often: given up on for now,
//! retried slowly). Set by the code that knows (the supervisor, a sink's delivery loop, the
//! filter chain's restart loop), read by the admin API; a pipeline is as healthy as its
//! least healthy component, so one that no longer delivers never shows as `running`.

use std::sync::atomic::{AtomicU8, Ordering};

/// A component's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentState {
    /// Doing its work.
    Running,
    /// Holding its pipeline until its destination takes the batch again.
    Blocked,
    /// Failed; starting again after a backoff.
    Restarting,
    /// Failed too often in a short time; still retried, slowly.
    Failed,
}

impl ComponentState {
    /// The state's name in the API and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentState::Running => "running",
            ComponentState::Blocked => "blocked",
            ComponentState::Restarting => "restarting",
            ComponentState::Failed => "failed",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => ComponentState::Blocked,
            2 => ComponentState::Restarting,
            3 => ComponentState::Failed,
            _ => ComponentState::Running,
        }
    }
}

/// A component's state, shared lock-free between the component and the API.
#[derive(Debug, Default)]
pub struct StateCell(AtomicU8);

impl StateCell {
    /// The state now.
    pub fn get(&self) -> ComponentState {
        ComponentState::from_u8(self.0.load(Ordering::Relaxed))
    }

    /// Sets the state.
    pub fn set(&self, state: ComponentState) {
        self.0.store(state as u8, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_order_by_severity() {
        let cell = StateCell::default();
        assert_eq!(cell.get(), ComponentState::Running);
        for s in [
            ComponentState::Blocked,
            ComponentState::Restarting,
            ComponentState::Failed,
            ComponentState::Running,
        ] {
            cell.set(s);
            assert_eq!(cell.get(), s);
        }
        assert!(ComponentState::Failed > ComponentState::Restarting);
        assert!(ComponentState::Restarting > ComponentState::Blocked);
        assert!(ComponentState::Blocked > ComponentState::Running);
    }
}
