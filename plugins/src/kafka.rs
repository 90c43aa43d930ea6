//! What the `kafka` sink and source share: the broker list, the `options:` passed through to
//! librdkafka (checked by librdkafka itself when the config is validated, values never
//! shown: they may hold SASL passwords), and librdkafka's own log and error events routed
//! to `tracing`, rate-limited, naming the pipeline and component.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logcatch_core::ComponentId;
use logcatch_core::config::Secret;
use logcatch_core::log_limit::LogLimit;
use logcatch_core::plugin::OptionsError;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

/// Options logcatch sets itself: passing them would break its delivery guarantees.
const RESERVED: &[&str] = &["bootstrap.servers", "metadata.broker.list"];

/// Brokers and passthrough options, checked.
#[derive(Debug, Clone)]
pub struct Client {
    /// `host:port` of each bootstrap broker.
    pub brokers: Vec<String>,
    /// `options:` as written (values are secrets: never logged).
    pub options: BTreeMap<String, Secret>,
}

impl Client {
    /// Checks `brokers` and `options` (each option is set on a librdkafka config, which
    /// refuses unknown names and bad values); `fixed` are the options this component sets
    /// itself, which `options:` may not change.
    pub fn check(
        brokers: Vec<String>,
        options: BTreeMap<String, Secret>,
        fixed: &[&str],
    ) -> Result<Self, OptionsError> {
        if brokers.is_empty() {
            return Err(OptionsError::new(
                "brokers",
                "at least one broker (`host:port`) is needed",
            ));
        }
        for (i, b) in brokers.iter().enumerate() {
            let port = b.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(p)) if p > 0) || b.starts_with(':') {
                return Err(OptionsError::new(
                    format!("brokers[{i}]"),
                    format!("`{b}` is not `host:port`"),
                ));
            }
        }
        for (key, value) in &options {
            let field = format!("options.{key}");
            if RESERVED.contains(&key.as_str()) || fixed.contains(&key.as_str()) {
                return Err(OptionsError::new(
                    field,
                    "logcatch sets this option itself (its delivery guarantees depend on it)",
                ));
            }
            let mut one = ClientConfig::new();
            one.set(key, value.expose());
            if let Err(e) = one.create_native_config() {
                return Err(OptionsError::new(field, describe(&e, key, value.expose())));
            }
        }
        Ok(Client { brokers, options })
    }

    /// A librdkafka config with the brokers, then `defaults` (which `options:` may
    /// override), then `options:`, then `fixed` (which it may not).
    pub fn config(&self, defaults: &[(&str, &str)], fixed: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.brokers.join(","));
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in &self.options {
            c.set(k, v.expose());
        }
        for (k, v) in fixed {
            c.set(*k, *v);
        }
        c
    }

    /// The brokers, for logs (no secrets there).
    pub fn brokers_for_logs(&self) -> String {
        self.brokers.join(",")
    }
}

/// Why librdkafka refused option `key`, without its value (librdkafka's message quotes it:
/// it may be a password).
fn describe(e: &KafkaError, key: &str, value: &str) -> String {
    match e {
        KafkaError::ClientConfig(_, why, _, _) if !why.is_empty() => {
            let why = why.replace(&format!("\"{key}\""), &format!("`{key}`"));
            if value.is_empty() {
                why
            } else {
                why.replace(value, "(value not shown)")
            }
        }
        _ => format!("librdkafka refuses option `{key}`"),
    }
}

/// The context every logcatch Kafka client runs with: librdkafka's logs and errors reach
/// `tracing` with the pipeline and component: a burst of 5, then one per 10 s.
pub struct Context {
    pipeline: Arc<str>,
    component: ComponentId,
    logs: Mutex<LogLimit>,
    /// Whether a broker is unreachable now (set by errors, cleared by the caller on progress).
    pub down: AtomicBool,
}

impl Context {
    /// A context for component `component` of `pipeline`.
    pub fn new(pipeline: Arc<str>, component: ComponentId) -> Self {
        Context {
            pipeline,
            component,
            logs: Mutex::new(LogLimit::with_burst(5, Duration::from_secs(10))),
            down: AtomicBool::new(false),
        }
    }
}

impl Context {
    /// The pipeline, for logs.
    pub fn pipeline(&self) -> &Arc<str> {
        &self.pipeline
    }

    /// The component, for logs.
    pub fn component(&self) -> ComponentId {
        self.component
    }

    /// `Some(lines held back)` when a warning may be logged now.
    fn allow(&self) -> Option<u64> {
        self.logs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(Instant::now())
    }
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let (p, c) = (&self.pipeline, self.component);
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                if let Some(suppressed) = self.allow() {
                    tracing::error!(pipeline = %p, component = %c, facility = fac, similar_suppressed = suppressed, "librdkafka: {message}");
                }
            }
            RDKafkaLogLevel::Warning => {
                if let Some(suppressed) = self.allow() {
                    tracing::warn!(pipeline = %p, component = %c, facility = fac, similar_suppressed = suppressed, "librdkafka: {message}");
                }
            }
            _ => {
                tracing::debug!(pipeline = %p, component = %c, facility = fac, "librdkafka: {message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.down.store(true, Ordering::Relaxed);
        if let Some(suppressed) = self.allow() {
            tracing::warn!(pipeline = %self.pipeline, component = %self.component, similar_suppressed = suppressed, "Kafka: {error}: {reason}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, Secret> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect()
    }

    #[test]
    fn unknown_options_and_bad_values_name_the_option_not_the_value() {
        let brokers = vec!["127.0.0.1:9092".to_owned()];
        let e = Client::check(brokers.clone(), options(&[("lnger.ms", "5")]), &[]).unwrap_err();
        assert_eq!(e.field, "options.lnger.ms");
        let e = Client::check(
            brokers.clone(),
            options(&[("linger.ms", "s3cr3t-value")]),
            &[],
        )
        .unwrap_err();
        assert_eq!(e.field, "options.linger.ms");
        assert!(!e.message.contains("s3cr3t-value"), "{e}");
        let e = Client::check(brokers.clone(), options(&[("acks", "1")]), &["acks"]).unwrap_err();
        assert!(e.message.contains("sets this option itself"), "{e}");
        assert!(Client::check(brokers, options(&[("linger.ms", "5")]), &[]).is_ok());
    }

    #[test]
    fn brokers_must_be_host_and_port() {
        let none = Client::check(vec![], BTreeMap::new(), &[]).unwrap_err();
        assert_eq!(none.field, "brokers");
        let bad = Client::check(vec!["localhost".into()], BTreeMap::new(), &[]).unwrap_err();
        assert_eq!(bad.field, "brokers[0]");
        assert!(Client::check(vec!["[::1]:9092".into()], BTreeMap::new(), &[]).is_ok());
    }
}
