//! Reload, in one place: the path every new config takes and the swap of a changed plugin
//! file.
//!
//! A config source produces a candidate plan: the config file (on a change seen by the
//! watcher, SIGHUP or `POST /reload`) through [`check`], a central store through its own
//! loader. Each candidate goes to `apply::Topology::offer`, which refuses it if it changes
//! a setting only a restart can change, else diffs it against what runs (`diff`) and
//! applies the difference (`apply`): removed pipelines drain and stop, changed ones drain
//! and start again from their checkpoints, added ones start, unchanged ones are not touched.
//! A changed plugin file is swapped into the pipelines that run it without rebuilding them
//! (`swap`).

pub(crate) mod apply;
pub(crate) mod diff;
pub(crate) mod swap;

use std::sync::Arc;

use crate::config::ConfigErrors;
use crate::data_dir;
use crate::registry::Plan;

pub use diff::Identity;
pub use swap::Slot;

/// Loads and plans the config again, for a reload.
pub type Loader = Arc<dyn Fn() -> Result<Plan, ConfigErrors> + Send + Sync>;

/// Loads a candidate plan with `load` and checks that its `data_dir` is usable, on a
/// blocking thread (compiling plugins is CPU work, off the reactor); any failure as the
/// message a refused reload reports.
pub async fn check(load: &Loader) -> Result<Plan, String> {
    let load = load.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let plan = load().map_err(|e| e.to_string())?;
        // An unreadable checkpoint stops only its pipeline, at its start.
        data_dir::probe(&plan.data_dir).map_err(|e| e.to_string())?;
        Ok::<_, String>(plan)
    });
    match checked.await {
        Ok(checked) => checked,
        Err(e) => Err(format!("loading the config panicked: {e}")),
    }
}
