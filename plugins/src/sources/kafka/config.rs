//! The `kafka` source's YAML options and their checks.

use std::collections::BTreeMap;

use logcatch_core::config::Secret;
use logcatch_core::plugin::{Options, OptionsError};
use serde::Deserialize;

use crate::kafka::Client;

/// librdkafka options the source sets itself: its guarantees depend on them.
pub const FIXED: &[&str] = &[
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "enable.partition.eof",
];

/// `type: kafka` (source) options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap brokers, `host:port` each.
    pub brokers: Vec<String>,
    /// The topics to read.
    pub topics: Vec<String>,
    /// The consumer group: logcatch instances with the same group split the partitions.
    pub group: String,
    /// Where a group without committed offsets starts.
    #[serde(default)]
    pub start_at: StartAt,
    /// Passed through to librdkafka (TLS, SASL, `session.timeout.ms`...).
    #[serde(default)]
    pub options: BTreeMap<String, Secret>,
}

/// Where a group without committed offsets starts reading a partition.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// The oldest message the brokers keep (the default: nothing is skipped).
    #[default]
    Earliest,
    /// Only messages produced after the group starts.
    Latest,
}

/// The checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Brokers and passthrough options.
    pub client: Client,
    /// The topics.
    pub topics: Vec<String>,
    /// The group.
    pub group: String,
    /// See [`KafkaSourceConfig::start_at`].
    pub start_at: StartAt,
}

impl KafkaSourceConfig {
    /// Checks the options; errors name the field.
    pub fn check(self, _options: &Options<'_>) -> Result<Settings, OptionsError> {
        let client = Client::check(self.brokers, self.options, FIXED)?;
        if self.topics.is_empty() {
            return Err(OptionsError::new("topics", "at least one topic is needed"));
        }
        for (i, t) in self.topics.iter().enumerate() {
            if t.is_empty()
                || t.len() > 249
                || !t.chars().all(crate::sinks::kafka::config::is_topic_char)
            {
                return Err(OptionsError::new(
                    format!("topics[{i}]"),
                    format!("`{t}` is not a topic name: 1 to 249 letters, digits, `.`, `_` or `-`"),
                ));
            }
        }
        if self.group.is_empty() {
            return Err(OptionsError::new(
                "group",
                "a consumer group name is needed",
            ));
        }
        Ok(Settings {
            client,
            topics: self.topics,
            group: self.group,
            start_at: self.start_at,
        })
    }
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
        options.parse::<KafkaSourceConfig>()?.check(&options)
    }

    #[test]
    fn defaults_and_refusals_name_the_field() {
        let s = check("{ brokers: ['h:1'], topics: [logs], group: g }").unwrap();
        assert_eq!(s.start_at, StartAt::Earliest);
        let field = |yaml: &str| check(yaml).unwrap_err().field;
        assert_eq!(
            field("{ brokers: ['h:1'], topics: [], group: g }"),
            "topics"
        );
        assert_eq!(
            field("{ brokers: ['h:1'], topics: ['a b'], group: g }"),
            "topics[0]"
        );
        assert_eq!(
            field("{ brokers: ['h:1'], topics: [t], group: '' }"),
            "group"
        );
        assert_eq!(
            field("{ brokers: ['h:1'], topics: [t], group: g, start_at: middle }"),
            "start_at"
        );
        assert_eq!(
            field("{ brokers: ['h:1'], topics: [t], group: g, options: { group.id: x } }"),
            "options.group.id"
        );
    }
}
