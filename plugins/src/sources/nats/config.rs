//! The `nats` source's YAML options and their checks.

use logcatch_core::config::Secret;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use logcatch_core::config::units;
use logcatch_core::plugin::{Options, OptionsError};
use serde::Deserialize;

use crate::sinks::nats::connect::{Connect, ConnectFields};
use crate::sinks::nats::is_stream_name;
use crate::sinks::nats::subject::is_filter;

/// `type: nats` (source) options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSourceConfig {
    /// `nats://host:port`, or several separated by commas.
    pub url: String,
    /// The stream to read.
    pub stream: String,
    /// The durable consumer's name (created when missing; shared by every logcatch reading
    /// with this name, which then split the messages between them).
    pub consumer: String,
    /// Only messages on these subjects (wildcards allowed); all of the stream's when absent.
    #[serde(default)]
    pub filter_subject: Option<String>,
    /// Where a new consumer starts: `all` (the stream's first message) or `new` (only messages
    /// published after it is created).
    #[serde(default)]
    pub deliver: Deliver,
    /// How long JetStream waits for a message's ack before delivering it again (set when the
    /// consumer is created).
    #[serde(default = "default_ack_wait", deserialize_with = "units::duration")]
    pub ack_wait: Duration,
    /// Most messages delivered and not yet acked (set when the consumer is created).
    #[serde(default = "default_max_ack_pending")]
    pub max_ack_pending: i64,
    /// Messages asked for in one pull (default: 4 x the pipeline's `batch.max_events`).
    #[serde(default)]
    pub pull_batch: Option<usize>,
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
}

/// Where a new consumer starts.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Deliver {
    /// From the stream's first message.
    #[default]
    All,
    /// Only messages published after the consumer is created.
    New,
}

fn default_ack_wait() -> Duration {
    Duration::from_secs(30)
}
fn default_max_ack_pending() -> i64 {
    20_000
}

/// Checked options.
#[derive(Debug)]
pub struct Settings {
    pub connect: Connect,
    pub stream: String,
    pub consumer: String,
    pub filter_subject: Option<String>,
    pub deliver: DeliverPolicy,
    pub ack_wait: Duration,
    pub max_ack_pending: i64,
    pub pull_batch: Option<usize>,
}

impl NatsSourceConfig {
    /// Checks the options (nothing is contacted).
    pub fn check(self, options: &Options<'_>) -> Result<Settings, OptionsError> {
        for (field, name) in [("stream", &self.stream), ("consumer", &self.consumer)] {
            if !is_stream_name(name) {
                return Err(OptionsError::new(
                    field,
                    format!(
                        "`{name}` is not a valid name (not empty; no spaces, `.`, `*`, `>`, `/` or `\\`)"
                    ),
                ));
            }
        }
        if let Some(f) = &self.filter_subject
            && !is_filter(f)
        {
            return Err(OptionsError::new(
                "filter_subject",
                format!("`{f}` is not a valid subject filter"),
            ));
        }
        if self.ack_wait < Duration::from_secs(1) {
            return Err(OptionsError::new("ack_wait", "must be at least 1s"));
        }
        if self.max_ack_pending < 1 {
            return Err(OptionsError::new("max_ack_pending", "must be at least 1"));
        }
        if self.pull_batch == Some(0) {
            return Err(OptionsError::new("pull_batch", "must be at least 1"));
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
            stream: self.stream,
            consumer: self.consumer,
            filter_subject: self.filter_subject,
            deliver: match self.deliver {
                Deliver::All => DeliverPolicy::All,
                Deliver::New => DeliverPolicy::New,
            },
            ack_wait: self.ack_wait,
            max_ack_pending: self.max_ack_pending,
            pull_batch: self.pull_batch,
        })
    }
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
        options.parse::<NatsSourceConfig>()?.check(&options)
    }

    #[test]
    fn defaults_and_bad_options() {
        let s = check("url: nats://h\nstream: LOGS\nconsumer: c").unwrap();
        assert_eq!(s.ack_wait, Duration::from_secs(30));
        assert_eq!(s.deliver, DeliverPolicy::All);
        let field = |yaml: &str| check(yaml).unwrap_err().field;
        assert_eq!(field("url: nats://h\nstream: 'a.b'\nconsumer: c"), "stream");
        assert_eq!(field("url: nats://h\nstream: S\nconsumer: ''"), "consumer");
        assert_eq!(
            field("url: nats://h\nstream: S\nconsumer: c\nfilter_subject: 'a..b'"),
            "filter_subject"
        );
        assert_eq!(
            field("url: nats://h\nstream: S\nconsumer: c\nack_wait: 10ms"),
            "ack_wait"
        );
        assert_eq!(
            field("url: nats://h\nstream: S\nconsumer: c\ndeliver: last"),
            "deliver"
        );
        let missing = check("url: nats://h\nstream: S").unwrap_err();
        assert!(missing.message.contains("consumer"), "{missing}");
    }
}
