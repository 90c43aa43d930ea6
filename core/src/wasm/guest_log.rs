//! What a plugin logs (`host.log`, and lines on its stdout and stderr), rate-limited per
//! plugin: a burst of lines, then a steady rate; lines beyond it are counted, and the count
//! is logged with the next line let through (or when the plugin goes). A line is cut to [`MAX_LINE`] bytes. A plugin
//! that logs in a loop costs a few lines of log, never gigabytes of it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::log_limit::LogLimit;

use super::bindings::logcatch::plugin::types::Level;

/// Lines a plugin may log at once before the rate applies.
pub const BURST: u32 = 100;
/// Lines per second a plugin may log after its burst.
pub const PER_SECOND: u32 = 10;
/// Longest line logged, in bytes; the rest is cut and its length said.
pub const MAX_LINE: usize = 4096;

/// The log of one plugin (shared by all its instances): where its lines go, and its budget.
#[derive(Debug)]
pub struct GuestLog {
    plugin: Arc<str>,
    limit: Mutex<LogLimit>,
}

impl GuestLog {
    /// A fresh budget for `plugin`.
    pub fn new(plugin: Arc<str>) -> Self {
        GuestLog {
            plugin,
            limit: Mutex::new(LogLimit::with_burst(
                BURST,
                Duration::from_secs(1) / PER_SECOND,
            )),
        }
    }

    /// Logs `text` at `level` with the plugin's name (and `stream` for stdout/stderr), if
    /// the budget allows; otherwise counts it.
    pub fn line(&self, level: Level, stream: Option<&'static str>, text: &str) {
        let allowed = self
            .limit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(Instant::now());
        let Some(suppressed) = allowed else {
            return;
        };
        let plugin = &*self.plugin;
        if suppressed > 0 {
            tracing::warn!(
                plugin,
                suppressed,
                "plugin log rate limit ({BURST} lines, then {PER_SECOND}/s): {suppressed} lines not logged"
            );
        }
        let (text, cut) = clip(text);
        let stream = stream.unwrap_or("host.log");
        let cut = if cut > 0 {
            format!(" [{cut} more bytes cut]")
        } else {
            String::new()
        };
        match level {
            Level::Trace => tracing::trace!(plugin, stream, "{text}{cut}"),
            Level::Debug => tracing::debug!(plugin, stream, "{text}{cut}"),
            Level::Info => tracing::info!(plugin, stream, "{text}{cut}"),
            Level::Warn => tracing::warn!(plugin, stream, "{text}{cut}"),
            Level::Error => tracing::error!(plugin, stream, "{text}{cut}"),
        }
    }
}

impl Drop for GuestLog {
    /// Reports the lines held back since the last one logged: the plugin is gone (its
    /// pipeline stopped, or a new version replaced it).
    fn drop(&mut self) {
        let suppressed = self
            .limit
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take_suppressed();
        if suppressed > 0 {
            let plugin = &*self.plugin;
            tracing::warn!(
                plugin,
                suppressed,
                "plugin log rate limit ({BURST} lines, then {PER_SECOND}/s): {suppressed} lines not logged"
            );
        }
    }
}

/// `text` cut to at most [`MAX_LINE`] bytes on a char boundary, and how many bytes were cut.
fn clip(text: &str) -> (&str, usize) {
    if text.len() <= MAX_LINE {
        return (text, 0);
    }
    let mut end = MAX_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let text = "é".repeat(MAX_LINE);
        let (kept, cut) = clip(&text);
        assert!(kept.len() <= MAX_LINE && kept.len() > MAX_LINE - 2);
        assert_eq!(kept.len() + cut, text.len());
        assert_eq!(clip("short"), ("short", 0));
    }
}
