//! The `nats` sink's YAML options and their checks.

use logcatch_core::config::Secret;
use std::path::PathBuf;
use std::time::Duration;

use logcatch_core::config::units;
use logcatch_core::plugin::{Options, OptionsError};
use serde::Deserialize;

use super::connect::{Connect, ConnectFields};
use super::subject::{SubjectTemplate, is_filter};

/// The most messages awaiting their ack: the client's channel for one subscription (where
/// the acks arrive) holds 64k messages, and an ack that finds it full is dropped.
pub const MAX_IN_FLIGHT: usize = 65_536;

/// `type: nats` (sink) options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSinkConfig {
    /// `nats://host:port`, or several separated by commas.
    pub url: String,
    /// The subject template: `{pipeline}`, `{source}` and `{attributes.KEY}` are filled in.
    pub subject: String,
    /// What a placeholder whose value is missing or empty becomes.
    #[serde(default = "default_subject_default")]
    pub subject_default: String,
    /// A stream to create (file storage) when it does not exist; an existing one is left as it is.
    #[serde(default)]
    pub stream: Option<String>,
    /// The subjects of a stream the sink creates (default: the template with `*` for each
    /// token holding a placeholder).
    #[serde(default)]
    pub stream_subjects: Option<Vec<String>>,
    /// User name (with `password`).
    #[serde(default)]
    pub user: Option<String>,
    /// Password (with `user`).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Authentication token.
    #[serde(default)]
    pub token: Option<Secret>,
    /// A `.creds` file (JWT and nkey seed).
    #[serde(default)]
    pub creds: Option<PathBuf>,
    /// Longest wait for one message's JetStream ack before it is published again.
    #[serde(default = "default_timeout", deserialize_with = "units::duration")]
    pub timeout: Duration,
    /// Messages published and awaiting their ack at once.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Longest wait between two attempts at publishing the messages not acked.
    #[serde(
        default = "default_retry_max_backoff",
        deserialize_with = "units::duration"
    )]
    pub retry_max_backoff: Duration,
}

fn default_subject_default() -> String {
    "_".to_owned()
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_max_in_flight() -> usize {
    1024
}
fn default_retry_max_backoff() -> Duration {
    Duration::from_secs(5)
}

/// Checked options.
#[derive(Debug)]
pub struct Settings {
    pub connect: Connect,
    pub subject: SubjectTemplate,
    pub stream: Option<String>,
    pub stream_subjects: Option<Vec<String>>,
    pub timeout: Duration,
    pub max_in_flight: usize,
    pub retry_max_backoff: Duration,
}

impl NatsSinkConfig {
    /// Checks the options (nothing is contacted).
    pub fn check(self, options: &Options<'_>) -> Result<Settings, OptionsError> {
        let subject =
            SubjectTemplate::parse(&self.subject, &self.subject_default).map_err(|why| {
                let field = if why.contains("subject token") {
                    "subject_default"
                } else {
                    "subject"
                };
                OptionsError::new(field, why)
            })?;
        if let Some(stream) = &self.stream
            && !is_stream_name(stream)
        {
            return Err(OptionsError::new(
                "stream",
                format!(
                    "`{stream}` is not a valid stream name (no spaces, `.`, `*`, `>`, `/` or `\\`)"
                ),
            ));
        }
        if let Some(subjects) = &self.stream_subjects {
            if self.stream.is_none() {
                return Err(OptionsError::new(
                    "stream_subjects",
                    "only used with `stream` (the stream to create)",
                ));
            }
            if subjects.is_empty() {
                return Err(OptionsError::new("stream_subjects", "must not be empty"));
            }
            for (i, s) in subjects.iter().enumerate() {
                if !is_filter(s) {
                    return Err(OptionsError::new(
                        format!("stream_subjects[{i}]"),
                        format!("`{s}` is not a valid subject filter"),
                    ));
                }
            }
        }
        if self.timeout.is_zero() {
            return Err(OptionsError::new("timeout", "must be more than 0"));
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.max_in_flight) {
            return Err(OptionsError::new(
                "max_in_flight",
                format!("must be between 1 and {MAX_IN_FLIGHT}"),
            ));
        }
        if self.retry_max_backoff < Duration::from_millis(100) {
            return Err(OptionsError::new(
                "retry_max_backoff",
                "must be at least 100ms",
            ));
        }
        let connect = ConnectFields {
            url: self.url,
            user: self.user,
            password: self.password,
            token: self.token,
            creds: self.creds,
        }
        .check(options)?;
        Ok(Settings {
            connect,
            subject,
            stream: self.stream,
            stream_subjects: self.stream_subjects,
            timeout: self.timeout,
            max_in_flight: self.max_in_flight,
            retry_max_backoff: self.retry_max_backoff,
        })
    }
}

/// A JetStream stream (or consumer) name: not empty, no whitespace, `.`, `*`, `>`, `/`, `\`.
pub fn is_stream_name(name: &str) -> bool {
    !name.is_empty()
        && !name.chars().any(|c| {
            matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace() || c.is_control()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn check(yaml: &str) -> Result<Settings, OptionsError> {
        let map: serde_yaml::Mapping = serde_yaml::from_str(yaml).unwrap();
        let options = Options {
            map: &map,
            base_dir: Path::new("/"),
            pipeline: "p",
        };
        options.parse::<NatsSinkConfig>()?.check(&options)
    }

    #[test]
    fn defaults() {
        let s = check("url: nats://127.0.0.1:4222\nsubject: logs.{pipeline}").unwrap();
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.max_in_flight, 1024);
        assert!(s.stream.is_none());
    }

    #[test]
    fn bad_options_name_their_field() {
        let field = |yaml: &str| check(yaml).unwrap_err().field;
        assert_eq!(field("url: nats://h\nsubject: 'logs.{level}'"), "subject");
        assert_eq!(
            field("url: nats://h\nsubject: logs\nsubject_default: a.b"),
            "subject_default"
        );
        assert_eq!(
            field("url: nats://h\nsubject: logs\nstream: 'a b'"),
            "stream"
        );
        assert_eq!(
            field("url: nats://h\nsubject: logs\nstream_subjects: [x]"),
            "stream_subjects"
        );
        assert_eq!(
            field("url: nats://h\nsubject: logs\nstream: S\nstream_subjects: ['a..b']"),
            "stream_subjects[0]"
        );
        assert_eq!(
            field("url: nats://h\nsubject: logs\nmax_in_flight: 0"),
            "max_in_flight"
        );
        assert_eq!(
            field("url: nats://h\nsubject: logs\nmax_in_flight: 100000"),
            "max_in_flight"
        );
        assert_eq!(
            field("url: nats://h\nsubject: logs\ntimeout: 0s"),
            "timeout"
        );
        assert_eq!(field("url: http://h\nsubject: logs"), "url");
        assert_eq!(field("url: nats://h\nsubject: logs\nsubjet: x"), "subjet");
    }
}
