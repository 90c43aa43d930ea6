//! logcatch filter `redact`: masks e-mail addresses, IPv4 addresses and text matching
//! configured regular expressions, in messages and text attributes. A batch with nothing
//! to mask is kept as it is (nothing copied); otherwise unchanged events are copied whole.
//! See README.md.

use logcatch_plugin::{
    AttrValue, Batch, BatchBuilder, Event, Filter, Level, MessageWriter, Verdict,
};
use regex::Regex;
use serde::Deserialize;

/// E-mail addresses: `local@domain.tld`.
const EMAIL: &str = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}";

/// Dotted-quad IPv4 addresses (each part 0-255), not inside a longer word or number.
const IPV4: &str = r"(?-u:\b)(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?-u:\b)";

/// The plugin's `config:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Mask e-mail addresses.
    #[serde(default = "yes")]
    emails: bool,
    /// Mask IPv4 addresses.
    #[serde(default = "yes")]
    ipv4: bool,
    /// More regular expressions (Rust `regex` syntax) whose matches are masked.
    #[serde(default)]
    patterns: Vec<String>,
    /// What replaces each match.
    #[serde(default = "default_mask")]
    mask: String,
    /// Also mask text attribute values, not only messages.
    #[serde(default = "yes")]
    attributes: bool,
}

fn yes() -> bool {
    true
}

fn default_mask() -> String {
    "[REDACTED]".into()
}

/// One thing to mask.
struct Pattern {
    re: Regex,
    /// Dots a text needs before the regex is worth running (IPv4 needs three): a SIMD
    /// count that spares most lines the regex.
    min_dots: usize,
}

impl Pattern {
    fn is_match(&self, text: &str) -> bool {
        (self.min_dots == 0
            || memchr::memchr_iter(b'.', text.as_bytes())
                .nth(self.min_dots - 1)
                .is_some())
            && self.re.is_match(text)
    }
}

/// The filter, with buffers reused across events.
pub struct Redact {
    /// Built-in patterns first, then the configured ones.
    patterns: Vec<Pattern>,
    mask: String,
    attributes: bool,
    /// Match spans of the text being masked.
    spans: Vec<(usize, usize)>,
    /// A masked attribute value.
    scratch: String,
}

impl Redact {
    fn new(config: Config) -> Result<Self, String> {
        let builtin = |re: &str, min_dots| Pattern {
            re: Regex::new(re).expect("built-in patterns compile"),
            min_dots,
        };
        let mut patterns = Vec::new();
        if config.emails {
            // Its `@` lets the regex engine skip to candidates by itself.
            patterns.push(builtin(EMAIL, 0));
        }
        if config.ipv4 {
            patterns.push(builtin(IPV4, 3));
        }
        for (i, p) in config.patterns.iter().enumerate() {
            let re = Regex::new(p)
                .map_err(|e| format!("patterns[{i}] {p:?}: invalid regex: {}", short(&e)))?;
            patterns.push(Pattern { re, min_dots: 0 });
        }
        if patterns.is_empty() {
            logcatch_plugin::log(
                Level::Warn,
                "emails and ipv4 are off and patterns is empty: this filter masks nothing",
            );
        }
        Ok(Redact {
            patterns,
            mask: config.mask,
            attributes: config.attributes,
            spans: Vec::new(),
            scratch: String::new(),
        })
    }

    /// Whether `text` has anything to mask.
    fn is_match(&self, text: &str) -> bool {
        self.patterns.iter().any(|p| p.is_match(text))
    }

    /// Finds what to mask in `text` into `self.spans` (sorted, overlaps merged): true if
    /// anything.
    fn find(&mut self, text: &str) -> bool {
        self.spans.clear();
        for p in &self.patterns {
            if p.is_match(text) {
                self.spans.extend(
                    p.re.find_iter(text)
                        .filter(|m| !m.is_empty())
                        .map(|m| (m.start(), m.end())),
                );
            }
        }
        if self.spans.is_empty() {
            return false;
        }
        self.spans.sort_unstable();
        let mut merged = 0;
        for k in 0..self.spans.len() {
            let (start, end) = self.spans[k];
            if merged > 0 && start < self.spans[merged - 1].1 {
                let last = &mut self.spans[merged - 1];
                last.1 = last.1.max(end);
            } else {
                self.spans[merged] = (start, end);
                merged += 1;
            }
        }
        self.spans.truncate(merged);
        true
    }

    /// Whether any text attribute of the event has something to mask.
    fn attrs_match(&self, event: &Event<'_>) -> bool {
        self.attributes
            && event
                .attrs()
                .any(|(_, v)| matches!(v, AttrValue::Text(t) if self.is_match(t)))
    }

    /// Masks `text` at the spans `find` left, as the message of `event`'s copy in `out`.
    fn push_masked(&self, out: &mut BatchBuilder, event: &Event<'_>) {
        let text = event.message();
        out.push_event_with(event, |w| write_masked(w, text, &self.spans, &self.mask));
    }

    /// Masks `text` into a string, using `self.scratch`.
    fn masked(&mut self, text: &str) -> Option<&str> {
        if !self.find(text) {
            return None;
        }
        self.scratch.clear();
        let mut last = 0;
        for &(start, end) in &self.spans {
            self.scratch.push_str(&text[last..start]);
            self.scratch.push_str(&self.mask);
            last = end;
        }
        self.scratch.push_str(&text[last..]);
        Some(&self.scratch)
    }

    /// Masks one event: pure logic, shared by `process` and the tests.
    fn mask_event(&mut self, out: &mut BatchBuilder, event: &Event<'_>) {
        if self.find(event.message()) {
            self.push_masked(out, event);
        } else {
            out.push_event(event);
        }
        if self.attributes {
            for (key, value) in event.attrs() {
                if let AttrValue::Text(t) = value
                    && let Some(masked) = self.masked(t)
                {
                    out.attr(key, masked);
                }
            }
        }
    }
}

/// The text with each span replaced by `mask`.
fn write_masked(w: &mut MessageWriter<'_>, text: &str, spans: &[(usize, usize)], mask: &str) {
    let mut last = 0;
    for &(start, end) in spans {
        w.push_str(&text[last..start]);
        w.push_str(mask);
        last = end;
    }
    w.push_str(&text[last..]);
}

/// The gist of a regex error (its last line, without the pattern echo).
fn short(e: &regex::Error) -> String {
    let s = e.to_string();
    match s.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(l) => l.trim_start_matches("error: ").to_owned(),
        None => s,
    }
}

impl Filter for Redact {
    fn init(config: &str) -> Result<Self, String> {
        Redact::new(logcatch_plugin::config(config)?)
    }

    fn process(&mut self, batch: &Batch) -> Result<Verdict, String> {
        if self.patterns.is_empty() {
            return Ok(Verdict::KeepAll);
        }
        // No builder until the first event that needs masking: a clean batch is kept as is.
        let mut out: Option<BatchBuilder> = None;
        for event in batch {
            let dirty = self.is_match(event.message()) || self.attrs_match(&event);
            match (&mut out, dirty) {
                (None, false) => {}
                (Some(out), false) => {
                    out.push_event(&event);
                }
                (_, true) => {
                    let out = out.get_or_insert_with(|| {
                        let mut b = BatchBuilder::sized_for(batch);
                        for earlier in batch.iter().take(event.index()) {
                            b.push_event(&earlier);
                        }
                        b
                    });
                    self.mask_event(out, &event);
                }
            }
        }
        Ok(out.map_or(Verdict::KeepAll, Verdict::replace))
    }
}

logcatch_plugin::export_filter!(Redact);

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &str, lines: &[&str]) -> (Verdict, Vec<String>) {
        let mut f = Redact::init(config).unwrap();
        let batch = Batch::from_messages(lines);
        let verdict = f.process(&batch).unwrap();
        let out = verdict.clone().apply(&batch);
        (
            verdict,
            out.iter().map(|e| e.message().to_owned()).collect(),
        )
    }

    #[test]
    fn masks_emails_and_ipv4_by_default() {
        let (_, out) = run(
            "{}",
            &[
                "login ok user=jane.doe+x@mail.example.org from 192.168.1.20:5543",
                "nothing here, version 1.2.3",
                "two: a@b.io and c@d.co.uk",
                "not an ip: 256.1.1.1 or 1.2.3 or v10.0.0.1, but ::ffff:10.0.0.1 is",
            ],
        );
        assert_eq!(
            out,
            [
                "login ok user=[REDACTED] from [REDACTED]:5543",
                "nothing here, version 1.2.3",
                "two: [REDACTED] and [REDACTED]",
                "not an ip: 256.1.1.1 or 1.2.3 or v10.0.0.1, but ::ffff:[REDACTED] is",
            ]
        );
    }

    #[test]
    fn a_clean_batch_is_kept_without_a_copy() {
        let (verdict, _) = run("{}", &["GET /cart 200", "GET /pay 500"]);
        assert_eq!(verdict, Verdict::KeepAll);
    }

    #[test]
    fn unchanged_events_are_copied_whole_around_changed_ones() {
        let mut b = BatchBuilder::new();
        b.push("clean first", "app.log", 0, 1).attr("n", 1);
        b.push("mail bob@example.com", "app.log", 12, 2);
        b.push("clean last", "other.log", 33, 3).attr("ok", true);
        let input = b.build();
        let mut f = Redact::init("{}").unwrap();
        let out = f.process(&input).unwrap().apply(&input);
        let view: Vec<_> = out
            .iter()
            .map(|e| {
                (
                    e.message(),
                    e.source(),
                    e.offset(),
                    e.timestamp_ns(),
                    e.attrs().count(),
                )
            })
            .collect();
        assert_eq!(
            view,
            [
                ("clean first", "app.log", 0, 1, 1),
                ("mail [REDACTED]", "app.log", 12, 2, 0),
                ("clean last", "other.log", 33, 3, 1),
            ]
        );
    }

    #[test]
    fn patterns_mask_and_choices_can_be_configured() {
        let config = r#"{"emails": false, "ipv4": true, "patterns": ["secret=\\S+", "(?i)bearer [a-z0-9.]+"], "mask": "***"}"#;
        let (_, out) = run(
            config,
            &["a@b.io secret=hunter2 Authorization: Bearer abc.DEF 10.0.0.1 secret=x10.0.0.1"],
        );
        assert_eq!(out, ["a@b.io *** Authorization: *** *** ***"]);
    }

    #[test]
    fn overlapping_matches_become_one_mask() {
        let config = r##"{"patterns": ["token=[0-9.]+"], "mask": "#"}"##;
        let (_, out) = run(config, &["token=10.0.0.1 and 10.0.0.2"]);
        assert_eq!(out, ["# and #"]);
    }

    #[test]
    fn empty_matches_are_ignored() {
        let (_, out) = run(
            r#"{"emails": false, "ipv4": false, "patterns": ["x*"]}"#,
            &["abc", "axxb"],
        );
        assert_eq!(out, ["abc", "a[REDACTED]b"]);
    }

    #[test]
    fn text_attributes_are_masked_too_unless_turned_off() {
        let mut b = BatchBuilder::new();
        b.push("GET / 200", "s", 0, 0)
            .attr("client", "10.1.2.3")
            .attr("status", 200)
            .attr("path", "/");
        let input = b.build();
        let mut f = Redact::init("{}").unwrap();
        let out = f.process(&input).unwrap().apply(&input);
        let e = out.get(0).unwrap();
        assert_eq!(e.message(), "GET / 200");
        assert_eq!(e.attr("client"), Some(AttrValue::Text("[REDACTED]")));
        assert_eq!(e.attr("status"), Some(AttrValue::Int(200)));
        assert_eq!(e.attr("path"), Some(AttrValue::Text("/")));
        let mut f = Redact::init(r#"{"attributes": false}"#).unwrap();
        assert_eq!(f.process(&input).unwrap(), Verdict::KeepAll);
    }

    #[test]
    fn unicode_text_around_matches_survives() {
        let (_, out) = run("{}", &["é 1.2.3.4 ü — ß@exämple.de ok x@y.org"]);
        assert_eq!(out, ["é [REDACTED] ü — ß@exämple.de ok [REDACTED]"]);
    }

    #[test]
    fn bad_configs_are_refused_naming_the_pattern() {
        let err = Redact::init(r#"{"patterns": ["ok", "secret=(\\S+"]}"#)
            .err()
            .unwrap();
        assert_eq!(
            err,
            r#"patterns[1] "secret=(\\S+": invalid regex: unclosed group"#
        );
        assert!(
            Redact::init(r#"{"mask": 3}"#)
                .err()
                .unwrap()
                .starts_with("invalid config")
        );
        assert!(
            Redact::init(r#"{"email": true}"#)
                .err()
                .unwrap()
                .contains("unknown field `email`")
        );
    }

    #[test]
    fn nothing_to_mask_keeps_all() {
        let (verdict, _) = run(r#"{"emails": false, "ipv4": false}"#, &["a@b.io 1.2.3.4"]);
        assert_eq!(verdict, Verdict::KeepAll);
    }
}
