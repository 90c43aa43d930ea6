//! Multiline events (`multiline:` of the `file` and `stdin` sources): which lines belong to
//! the event before them, so a Java or Python stack trace is one event, not thirty. The rule
//! is one regex, either marking the first line of each event (`start`) or the lines that
//! continue one (`continue`); `max_lines` and `max_bytes` bound an event, `timeout` ends one
//! that no further line came for. [`crate::sources::lines::LineBuffer`] applies it while it
//! cuts lines, so an event is one span of the read buffer, its lines joined by their `\n`.

use std::time::Duration;

use logcatch_core::config::units;
use logcatch_core::plugin::OptionsError;
use regex::bytes::Regex;
use serde::{Deserialize, Deserializer};

/// `multiline:` options, with the regex already compiled (a bad one is refused at load time,
/// naming `multiline.start` or `multiline.continue`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Multiline {
    /// A line matching this starts a new event; the lines that do not continue it.
    #[serde(default, deserialize_with = "regex_of")]
    start: Option<Regex>,
    /// A line matching this continues the event before it (`^\s` for Java stack traces).
    #[serde(default, rename = "continue", deserialize_with = "regex_of")]
    continues: Option<Regex>,
    /// Most lines in one event; the next line starts a new one.
    #[serde(default = "default_max_lines")]
    max_lines: u32,
    /// Most bytes in one event; a line that would make it longer starts a new one.
    #[serde(default = "default_max_bytes", deserialize_with = "units::bytes")]
    max_bytes: u64,
    /// An event is ended when no line came for this long.
    #[serde(default = "default_timeout", deserialize_with = "units::duration")]
    pub timeout: Duration,
}

fn default_max_lines() -> u32 {
    500
}
fn default_max_bytes() -> u64 {
    1 << 20
}
fn default_timeout() -> Duration {
    Duration::from_secs(1)
}

fn regex_of<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Regex>, D::Error> {
    let pattern = String::deserialize(d)?;
    Regex::new(&pattern)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("bad regex `{pattern}`: {e}")))
}

impl Multiline {
    /// Checks what serde cannot: exactly one rule, and bounds that make sense.
    pub fn validate(&self) -> Result<(), OptionsError> {
        match (&self.start, &self.continues) {
            (Some(_), Some(_)) => Err(OptionsError::new(
                "multiline",
                "give either `start` or `continue`, not both",
            )),
            (None, None) => Err(OptionsError::new(
                "multiline",
                "needs `start: REGEX` (a line that begins an event) or `continue: REGEX` (a line that continues one)",
            )),
            _ if self.max_lines == 0 => Err(OptionsError::new(
                "multiline.max_lines",
                "must be at least 1",
            )),
            _ if self.max_bytes == 0 || self.max_bytes > u32::MAX as u64 / 2 => Err(
                OptionsError::new("multiline.max_bytes", "must be between 1 byte and 2GiB"),
            ),
            _ if self.timeout.is_zero() => Err(OptionsError::new(
                "multiline.timeout",
                "must be more than 0",
            )),
            _ => Ok(()),
        }
    }

    /// Whether `line` (without its newline) joins an event of `lines` lines that would be
    /// `bytes` long with it.
    #[inline]
    pub fn joins(&self, line: &[u8], lines: u32, bytes: usize) -> bool {
        if lines >= self.max_lines || bytes as u64 > self.max_bytes {
            return false;
        }
        match (&self.start, &self.continues) {
            (Some(start), _) => !start.is_match(line),
            (None, Some(cont)) => cont.is_match(line),
            (None, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> Result<Multiline, String> {
        let m: Multiline = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        m.validate()
            .map_err(|e| format!("{}: {}", e.field, e.message))?;
        Ok(m)
    }

    #[test]
    fn start_and_continue_rules() {
        let java = rule(r#"{ continue: '^\s' }"#).unwrap();
        assert!(java.joins(b"\tat com.x.Y(Y.java:1)", 1, 30));
        assert!(!java.joins(b"2026-12-04 ERROR boom", 1, 30));
        let start = rule(r#"{ start: '^\d{4}-' }"#).unwrap();
        assert!(!start.joins(b"2026-12-04 ERROR boom", 1, 30));
        assert!(start.joins(b"Traceback (most recent call last):", 1, 30));
    }

    #[test]
    fn bounds_end_an_event() {
        let m = rule(r#"{ continue: '^\s', max_lines: 3, max_bytes: 100 }"#).unwrap();
        assert!(m.joins(b" x", 2, 50));
        assert!(!m.joins(b" x", 3, 50), "max_lines");
        assert!(m.joins(b" x", 2, 100));
        assert!(!m.joins(b" x", 2, 101), "max_bytes");
    }

    #[test]
    fn bad_rules_are_refused_with_their_field() {
        let e = rule(r#"{ start: '(' }"#).unwrap_err();
        assert!(e.contains("bad regex `(`: regex parse error"), "{e}");
        let e = rule(r#"{ start: a, continue: b }"#).unwrap_err();
        assert!(e.starts_with("multiline: give either"), "{e}");
        let e = rule(r#"{ max_lines: 3 }"#).unwrap_err();
        assert!(e.starts_with("multiline: needs"), "{e}");
        let e = rule(r#"{ start: a, max_lines: 0 }"#).unwrap_err();
        assert!(e.starts_with("multiline.max_lines"), "{e}");
        let e = rule(r#"{ start: a, timeout: 0s }"#).unwrap_err();
        assert!(e.starts_with("multiline.timeout"), "{e}");
        let e = rule(r#"{ start: a, nope: 1 }"#).unwrap_err();
        assert!(e.contains("nope"), "{e}");
    }
}
