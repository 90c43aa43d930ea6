//! The terminal consoles: `logcatch top` and `logcatch tap`, clients of an agent's admin API
//! (the same endpoints the status page uses), local or remote (`--api URL`).

pub mod client;
pub mod tap;
pub mod top;
