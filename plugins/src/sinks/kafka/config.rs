//! The `kafka` sink's YAML options and their checks.

use std::collections::BTreeMap;
use std::time::Duration;

use logcatch_core::config::{Secret, units};
use logcatch_core::encode::Format;
use logcatch_core::plugin::{Options, OptionsError};
use serde::Deserialize;

use crate::kafka::Client;
use crate::sinks::template::{Part, Template};

/// librdkafka options the sink sets itself: its guarantees depend on them.
pub const FIXED: &[&str] = &[
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "compression.type",
    "compression.codec",
    "message.timeout.ms",
    "delivery.timeout.ms",
];

/// `type: kafka` (sink) options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Bootstrap brokers, `host:port` each.
    pub brokers: Vec<String>,
    /// Topic template: `{pipeline}`, `{source}`, `{attributes.KEY}`.
    pub topic: String,
    /// Key template (default: no key, so the partitioner spreads messages).
    #[serde(default)]
    pub key: Option<String>,
    /// `json` (the file sink's event object, default) or `text` (the message).
    #[serde(default = "default_format")]
    pub format: Format,
    /// Codec of the produced batches.
    #[serde(default)]
    pub compression: Compression,
    /// Passed through to librdkafka (TLS, SASL, `linger.ms`...).
    #[serde(default)]
    pub options: BTreeMap<String, Secret>,
    /// Longest wait between two attempts at messages the brokers did not take.
    #[serde(
        default = "default_retry_max_backoff",
        deserialize_with = "units::duration"
    )]
    pub retry_max_backoff: Duration,
    /// Most batches produced and not yet confirmed by the brokers (memory: this many
    /// batches, plus librdkafka's 64 MiB queue). More keeps the brokers busy while earlier
    /// batches are confirmed.
    #[serde(default = "default_in_flight_batches")]
    pub in_flight_batches: usize,
}

/// A produced batch's codec.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Uncompressed.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4 (the default: cheap and effective on log lines).
    #[default]
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// librdkafka's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

fn default_format() -> Format {
    Format::Json
}

fn default_retry_max_backoff() -> Duration {
    Duration::from_secs(30)
}

/// The checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Brokers and passthrough options.
    pub client: Client,
    /// Where each event goes.
    pub topic: Template,
    /// Its key, if any.
    pub key: Option<Template>,
    /// How an event is written.
    pub format: Format,
    /// The codec.
    pub compression: Compression,
    /// See [`KafkaSinkConfig::retry_max_backoff`].
    pub retry_max_backoff: Duration,
    /// See [`KafkaSinkConfig::in_flight_batches`].
    pub in_flight_batches: usize,
}

/// Largest `in_flight_batches`.
pub const MAX_IN_FLIGHT: usize = 64;

fn default_in_flight_batches() -> usize {
    8
}

impl KafkaSinkConfig {
    /// Checks the options; errors name the field.
    pub fn check(self, _options: &Options<'_>) -> Result<Settings, OptionsError> {
        let client = Client::check(self.brokers, self.options, FIXED)?;
        let topic = Template::parse(&self.topic).map_err(|why| OptionsError::new("topic", why))?;
        for part in topic.parts() {
            if let Part::Literal(s) = part
                && let Some(c) = s.chars().find(|&c| !is_topic_char(c))
            {
                return Err(OptionsError::new(
                    "topic",
                    format!(
                        "`{c}` cannot be in a topic name: letters, digits, `.`, `_` and `-` only"
                    ),
                ));
            }
        }
        if self.topic.is_empty() {
            return Err(OptionsError::new("topic", "a topic is needed"));
        }
        let key = match &self.key {
            None => None,
            Some(k) => Some(Template::parse(k).map_err(|why| OptionsError::new("key", why))?),
        };
        if !(1..=MAX_IN_FLIGHT).contains(&self.in_flight_batches) {
            return Err(OptionsError::new(
                "in_flight_batches",
                format!("must be from 1 to {MAX_IN_FLIGHT}"),
            ));
        }
        if self.retry_max_backoff.is_zero() {
            return Err(OptionsError::new(
                "retry_max_backoff",
                "must be more than zero",
            ));
        }
        Ok(Settings {
            client,
            topic,
            key,
            format: self.format,
            compression: self.compression,
            retry_max_backoff: self.retry_max_backoff,
            in_flight_batches: self.in_flight_batches,
        })
    }
}

/// True for a character Kafka accepts in a topic name.
pub fn is_topic_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Appends `value` to `out` as part of a topic name: other characters become `_`, an empty
/// value is `_`.
pub fn clean_topic(value: &str, out: &mut String) {
    if value.is_empty() {
        out.push('_');
    }
    out.extend(
        value
            .chars()
            .map(|c| if is_topic_char(c) { c } else { '_' }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<Settings, OptionsError> {
        let map: serde_yaml::Mapping = serde_yaml::from_str(yaml).unwrap();
        let options = Options {
            map: &map,
            base_dir: std::path::Path::new("."),
            pipeline: "p",
        };
        options.parse::<KafkaSinkConfig>()?.check(&options)
    }

    #[test]
    fn defaults_and_refusals_name_the_field() {
        let s = check("{ brokers: ['127.0.0.1:9092'], topic: 'logs-{pipeline}' }").unwrap();
        assert_eq!(s.compression, Compression::Lz4);
        assert_eq!(s.format, Format::Json);
        assert!(s.key.is_none());
        assert_eq!(s.in_flight_batches, 8);
        let field = |yaml: &str| check(yaml).unwrap_err().field;
        assert_eq!(field("{ brokers: [], topic: t }"), "brokers");
        assert_eq!(field("{ brokers: ['h:1'], topic: 'a b' }"), "topic");
        assert_eq!(field("{ brokers: ['h:1'], topic: '{nope}' }"), "topic");
        assert_eq!(
            field("{ brokers: ['h:1'], topic: t, compression: brotli }"),
            "compression"
        );
        assert_eq!(
            field("{ brokers: ['h:1'], topic: t, options: { acks: '1' } }"),
            "options.acks"
        );
        assert_eq!(
            field("{ brokers: ['h:1'], topic: t, options: { no.such: x } }"),
            "options.no.such"
        );
        for n in [0, MAX_IN_FLIGHT + 1] {
            assert_eq!(
                field(&format!(
                    "{{ brokers: ['h:1'], topic: t, in_flight_batches: {n} }}"
                )),
                "in_flight_batches"
            );
        }
    }

    #[test]
    fn topic_values_are_cleaned() {
        let mut out = String::new();
        clean_topic("/var/log/app 1.log", &mut out);
        assert_eq!(out, "_var_log_app_1.log");
        out.clear();
        clean_topic("", &mut out);
        assert_eq!(out, "_");
    }
}
