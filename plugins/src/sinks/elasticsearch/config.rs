//! The `elasticsearch` sink's YAML options and their checks, turned into the `http` sink's
//! settings (one transport for both): `_bulk` URLs on every endpoint, the index template,
//! the mode, document ids and the credentials (never shown).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use logcatch_core::config::{Secret, units};
use logcatch_core::plugin::OptionsError;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;

use crate::sinks::http::config::{
    Limits, check_limits, default_initial_backoff, default_max_backoff, default_max_body_bytes,
    default_max_response_bytes, default_retry_after_max, default_timeout,
};
use crate::sinks::http::{
    BodyFormat, BulkLayout, Compression, Redirects, Settings, StatusAction, parse_headers,
    parse_url,
};
use crate::sinks::template::{Part, Template};

/// `type: elasticsearch` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    /// Base URLs of the cluster's nodes (`http://es1:9200`): requests take turns over them,
    /// and one that does not answer is skipped for a while.
    pub endpoints: Vec<String>,
    /// The index (or data stream) of each document: `{pipeline}`, `{source}`,
    /// `{attributes.KEY}`, and `%Y`, `%m`, `%d`, `%H` from the event's own timestamp (UTC).
    #[serde(default)]
    pub index: Option<String>,
    /// `index` (plain indices, the default) or `data_stream`.
    #[serde(default)]
    pub mode: Mode,
    /// The bulk operation in `mode: index`: `create` (the default: a document already there
    /// is kept, its 409 counted as delivered) or `index` (replaces it).
    #[serde(default)]
    pub action: Action,
    /// Document `_id`: `event` (the event's stable id, the default: a retry or a re-read
    /// stores nothing twice) or `none` (the server picks one).
    #[serde(default)]
    pub id: IdChoice,
    /// Credentials: `{user, password}` (basic) or `{api_key}`; `${VAR}` expands from the
    /// environment, and they are never shown.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// Extra request headers (values never shown).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Request body compression (`none` or `gzip`).
    #[serde(default)]
    pub compression: Compression,
    /// Request sizes.
    #[serde(default)]
    pub bulk: BulkOptions,
    /// What the check at start does when no endpoint answers: `optional` (the default: log
    /// it and keep checking; writes are retried meanwhile), `required` (nothing is written,
    /// the sink `blocked`, until the cluster answers) or `off`.
    #[serde(default)]
    pub healthcheck: Healthcheck,
    /// What an answer's status makes the sink do, over the `http` sink's defaults.
    #[serde(default)]
    pub on_status: BTreeMap<u16, StatusAction>,
    /// Longest one request may take.
    #[serde(default = "default_timeout", deserialize_with = "units::duration")]
    pub timeout: Duration,
    /// First delay before retrying; doubles with each failure.
    #[serde(
        default = "default_initial_backoff",
        deserialize_with = "units::duration"
    )]
    pub retry_initial_backoff: Duration,
    /// Longest delay between two attempts of our own choosing.
    #[serde(default = "default_max_backoff", deserialize_with = "units::duration")]
    pub retry_max_backoff: Duration,
    /// Longest wait a server's `Retry-After` is honoured for.
    #[serde(
        default = "default_retry_after_max",
        deserialize_with = "units::duration"
    )]
    pub retry_after_max: Duration,
}

/// Where documents go.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Plain indices (default name `logcatch-{pipeline}-%Y.%m.%d`).
    #[default]
    Index,
    /// A data stream (default name `logs-{pipeline}-default`): `create` with `@timestamp`.
    DataStream,
}

/// The bulk operation of each document.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Adds the document; one with the same `_id` already there is kept.
    #[default]
    Create,
    /// Adds or replaces the document.
    Index,
}

/// Where a document's `_id` comes from.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdChoice {
    /// The event's stable id (source, offset and text): the same line, the same document.
    #[default]
    Event,
    /// None sent: the server generates one (a re-sent line is stored again).
    None,
}

/// What the check at start does when the cluster does not answer.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Healthcheck {
    /// Logs it, keeps checking in the background, and writes (retried until taken).
    #[default]
    Optional,
    /// Writes nothing until the cluster answered (the sink shows `blocked` and why).
    Required,
    /// No check.
    Off,
}

/// Credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Basic auth user.
    #[serde(default)]
    pub user: Option<String>,
    /// Basic auth password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// An API key (`id:key` base64-encoded, as Elasticsearch hands it out), sent as
    /// `Authorization: ApiKey ...`.
    #[serde(default)]
    pub api_key: Option<Secret>,
}

/// Request sizes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkOptions {
    /// Largest uncompressed `_bulk` body: a bigger batch goes in several requests.
    #[serde(default = "default_max_body_bytes", deserialize_with = "units::bytes")]
    pub max_bytes: u64,
    /// Most bytes of a `_bulk` answer read (its items say which documents failed).
    #[serde(
        default = "default_max_response_bytes",
        deserialize_with = "units::bytes"
    )]
    pub max_response_bytes: u64,
}

impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            max_bytes: default_max_body_bytes(),
            max_response_bytes: default_max_response_bytes(),
        }
    }
}

/// Everything the sink needs: the transport's settings and the start-up check.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The `_bulk` transport (shared with the `http` sink).
    pub http: Settings,
    /// The endpoints' base URLs, for the check at start.
    pub bases: Vec<reqwest::Url>,
    /// What the check at start does.
    pub healthcheck: Healthcheck,
}

impl ElasticsearchConfig {
    /// Checks every option; an error names the field and never shows a credential.
    pub fn check(self) -> Result<Checked, OptionsError> {
        if self.endpoints.is_empty() {
            return Err(OptionsError::new(
                "endpoints",
                "lists no endpoint: give at least one base URL, like http://127.0.0.1:9200",
            ));
        }
        let mut bases = Vec::new();
        let mut bulk_urls = Vec::new();
        for (i, text) in self.endpoints.iter().enumerate() {
            let field = format!("endpoints[{i}]");
            let mut base = parse_url(&field, text)?;
            if base.query().is_some() || base.fragment().is_some() {
                return Err(OptionsError::new(
                    &field,
                    "a base URL has no query or fragment",
                ));
            }
            if !base.path().ends_with('/') {
                base.set_path(&format!("{}/", base.path()));
            }
            let bulk = base
                .join("_bulk")
                .map_err(|e| OptionsError::new(&field, format!("cannot add `_bulk`: {e}")))?;
            bases.push(base);
            bulk_urls.push(bulk);
        }
        let data_stream = self.mode == Mode::DataStream;
        if data_stream && self.action == Action::Index {
            return Err(OptionsError::new(
                "action",
                "a data stream only takes `create` (documents are appended, never replaced)",
            ));
        }
        let text = self.index.clone().unwrap_or_else(|| {
            if data_stream {
                "logs-{pipeline}-default".to_owned()
            } else {
                "logcatch-{pipeline}-%Y.%m.%d".to_owned()
            }
        });
        let index = index_template(&text).map_err(|why| OptionsError::new("index", why))?;
        let mut headers = parse_headers(&self.headers, BodyFormat::EsBulk)?;
        if let Some(auth) = &self.auth {
            let mut value = authorization(auth)?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        check_limits(&Limits {
            timeout: self.timeout,
            max_body: ("bulk.max_bytes", self.bulk.max_bytes),
            max_response: ("bulk.max_response_bytes", self.bulk.max_response_bytes),
            initial_backoff: self.retry_initial_backoff,
            max_backoff: self.retry_max_backoff,
            on_status: &self.on_status,
        })?;
        let http = Settings {
            endpoints: bulk_urls,
            format: BodyFormat::EsBulk,
            compression: self.compression,
            bulk: Some(BulkLayout {
                index_op: self.action == Action::Index,
                index: Some(index),
                ids: self.id == IdChoice::Event,
                timestamp_field: true,
            }),
            headers,
            timeout: self.timeout,
            max_body_bytes: usize::try_from(self.bulk.max_bytes).unwrap_or(usize::MAX),
            initial_backoff: self.retry_initial_backoff,
            max_backoff: self.retry_max_backoff,
            retry_after_max: self.retry_after_max,
            on_status: self.on_status,
            redirects: Redirects::SameOrigin,
            max_response_bytes: usize::try_from(self.bulk.max_response_bytes).unwrap_or(usize::MAX),
        };
        Ok(Checked {
            http,
            bases,
            healthcheck: self.healthcheck,
        })
    }
}

/// The `Authorization` header of `auth` (not yet marked sensitive); the error never shows
/// a credential.
fn authorization(auth: &Auth) -> Result<HeaderValue, OptionsError> {
    let text = match (&auth.user, &auth.password, &auth.api_key) {
        (Some(user), Some(password), None) => {
            if user.contains(':') {
                return Err(OptionsError::new(
                    "auth.user",
                    "a basic auth user cannot hold `:`",
                ));
            }
            let pair = format!("{user}:{}", password.expose());
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        }
        (None, None, Some(key)) => format!("ApiKey {}", key.expose()),
        (Some(_), None, None) => {
            return Err(OptionsError::new(
                "auth.password",
                "is missing: basic auth takes `user` and `password`",
            ));
        }
        (None, Some(_), None) => {
            return Err(OptionsError::new(
                "auth.user",
                "is missing: basic auth takes `user` and `password`",
            ));
        }
        (None, None, None) => {
            return Err(OptionsError::new(
                "auth",
                "gives no credentials: `user` and `password`, or `api_key`",
            ));
        }
        _ => {
            return Err(OptionsError::new(
                "auth.api_key",
                "goes alone: either `user` and `password`, or `api_key`",
            ));
        }
    };
    HeaderValue::from_str(&text).map_err(|_| {
        OptionsError::new(
            "auth",
            "a credential is not valid in a header (control characters or non-ASCII?)",
        )
    })
}

/// Parses an index template and checks that every name it can make is a valid index name:
/// its text lowercase, without `\ / * ? " < > | , # :` or whitespace, not starting with
/// `-`, `_` or `+` (values from the event are made valid as they are put in).
pub fn index_template(text: &str) -> Result<Template, String> {
    let template = Template::parse_dated(text)?;
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    let forbidden = |c: &char| {
        c.is_uppercase() || c.is_whitespace() || c.is_control() || "\\/*?\"<>|,#:".contains(*c)
    };
    for part in template.parts() {
        if let Part::Literal(s) = part
            && let Some(c) = s.chars().find(forbidden)
        {
            return Err(format!(
                "`{text}` is not a valid index name: `{c}` (names are lowercase, without \\ / * ? \" < > | , # : or spaces)"
            ));
        }
    }
    if let Some(Part::Literal(first)) = template.parts().first()
        && (first.starts_with(['-', '_', '+']) || first == "." || first == "..")
    {
        return Err(format!(
            "`{text}` is not a valid index name: it cannot start with `-`, `_` or `+`"
        ));
    }
    Ok(template)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> ElasticsearchConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_make_daily_indices_with_event_ids_on_every_endpoint() {
        let c = config("endpoints: [http://a:9200, 'https://b:9200/es']")
            .check()
            .unwrap();
        let urls: Vec<&str> = c.http.endpoints.iter().map(|u| u.as_str()).collect();
        assert_eq!(urls, ["http://a:9200/_bulk", "https://b:9200/es/_bulk"]);
        assert_eq!(c.bases[1].as_str(), "https://b:9200/es/");
        let layout = c.http.bulk.unwrap();
        assert!(layout.ids && layout.timestamp_field && !layout.index_op);
        assert_eq!(
            layout.index,
            Some(Template::parse_dated("logcatch-{pipeline}-%Y.%m.%d").unwrap())
        );
        assert_eq!(c.healthcheck, Healthcheck::Optional);
        assert_eq!(c.http.max_body_bytes, 10 << 20);
        let ds = config("endpoints: [http://a:9200]\nmode: data_stream\nid: none")
            .check()
            .unwrap();
        let layout = ds.http.bulk.unwrap();
        assert!(!layout.ids);
        assert_eq!(
            layout.index,
            Some(Template::parse("logs-{pipeline}-default").unwrap())
        );
    }

    #[test]
    fn credentials_become_one_hidden_header() {
        let basic = config("endpoints: [http://a]\nauth: {user: elastic, password: s3cret}")
            .check()
            .unwrap();
        let value = &basic.http.headers[AUTHORIZATION];
        assert!(value.is_sensitive());
        // base64("elastic:s3cret")
        assert_eq!(value, "Basic ZWxhc3RpYzpzM2NyZXQ=");
        assert!(!format!("{basic:?}").contains("ZWxhc3RpYzpzM2NyZXQ"));
        let key = config("endpoints: [http://a]\nauth: {api_key: 'aWQ6a2V5'}")
            .check()
            .unwrap();
        assert_eq!(key.http.headers[AUTHORIZATION], "ApiKey aWQ6a2V5");
    }

    #[test]
    fn bad_options_name_their_field_and_hide_credentials() {
        let err = |yaml: &str| config(yaml).check().unwrap_err();
        assert_eq!(err("endpoints: []").field, "endpoints");
        assert_eq!(
            err("endpoints: [http://a, 'ftp://b']").field,
            "endpoints[1]"
        );
        assert_eq!(err("endpoints: ['http://a/?x=1']").field, "endpoints[0]");
        let e = err("endpoints: [http://a]\nindex: 'logs-{level}'");
        assert_eq!(e.field, "index");
        assert!(e.message.contains("unknown placeholder"), "{}", e.message);
        for bad in ["Logs", "logs app", "logs*", "_logs", "logs-%q"] {
            assert_eq!(
                err(&format!("endpoints: [http://a]\nindex: '{bad}'")).field,
                "index",
                "{bad}"
            );
        }
        assert_eq!(
            err("endpoints: [http://a]\nmode: data_stream\naction: index").field,
            "action"
        );
        let e = err("endpoints: [http://a]\nauth: {user: u, password: hunter2, api_key: k}");
        assert_eq!(e.field, "auth.api_key");
        assert!(!e.message.contains("hunter2"));
        assert_eq!(
            err("endpoints: [http://a]\nauth: {user: u}").field,
            "auth.password"
        );
        let e = err("endpoints: [http://a]\nauth: {api_key: \"hunter\\n2\"}");
        assert_eq!(e.field, "auth");
        assert!(!e.message.contains("hunter"));
        assert_eq!(
            err("endpoints: [http://a]\nbulk: {max_bytes: 0}").field,
            "bulk.max_bytes"
        );
    }
}
