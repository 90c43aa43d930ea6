//! Reload, in one place: the path every new config takes and the swap of a changed plugin
//! file.
//!
//! A config source produces a candidate plan: the config file (on a change seen by the
//! watcher, SIGHUP or `POST /reload`), or a config store's new version of its pipelines
//! ([`crate::remote`]); `inputs` composes the two and plans the result. Each candidate goes
//! to `apply::Topology::offer`, which refuses it if it changes a setting only a restart can
//! change, else diffs it against what runs (`diff`) and applies the difference (`apply`):
//! removed pipelines drain and stop, changed ones drain and start again from their
//! checkpoints, added ones start, unchanged ones are not touched. A changed plugin file is
//! swapped into the pipelines that run it without rebuilding them (`swap`).

pub(crate) mod apply;
pub(crate) mod diff;
pub(crate) mod inputs;
pub(crate) mod swap;

use std::sync::Arc;

use crate::config::{ConfigErrors, Loaded};

pub use diff::Identity;
pub use swap::Slot;

/// Reads and parses the config file again, for a reload (planning comes after, with the
/// config store's pipelines).
pub type Loader = Arc<dyn Fn() -> Result<Loaded, ConfigErrors> + Send + Sync>;
