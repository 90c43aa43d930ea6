//! The `http` sink's YAML options and their checks: the URL, the headers (values never echoed
//! back, they may hold secrets), time limits and sizes.

use std::collections::BTreeMap;
use std::time::Duration;

use logcatch_core::config::{Secret, units};
use logcatch_core::plugin::OptionsError;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::body::BulkLayout;

/// `type: http` options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    /// Where each batch is POSTed: an `http://` or `https://` URL.
    pub url: String,
    /// How events are laid out in a request body.
    #[serde(default)]
    pub format: BodyFormat,
    /// Whether request bodies are compressed.
    #[serde(default)]
    pub compression: Compression,
    /// `es_bulk` only: give each document the event's stable id as `_id`, so a request sent
    /// again (after a lost answer, or a re-read after a crash) stores nothing twice.
    #[serde(default)]
    pub generate_id: bool,
    /// Extra request headers (`${VAR}` in the config is expanded from the environment);
    /// their values are never shown, in errors or logs.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// What to do with an answer of a given status, over the defaults (see [`StatusAction`]),
    /// e.g. `{ 404: dead_letter }` to refuse events for good on 404.
    #[serde(default)]
    pub on_status: BTreeMap<u16, StatusAction>,
    /// Which 307/308 redirects are followed.
    #[serde(default)]
    pub redirects: Redirects,
    /// Most bytes of an answer read: a `_bulk` answer needs all of its items (raise it for
    /// very large requests); of any other answer only the start is kept, to explain it.
    #[serde(
        default = "default_max_response_bytes",
        deserialize_with = "units::bytes"
    )]
    pub max_response_bytes: u64,
    /// Longest one request may take, connecting to reading the whole response.
    #[serde(default = "default_timeout", deserialize_with = "units::duration")]
    pub timeout: Duration,
    /// Largest uncompressed body of one request: a bigger batch is sent in several requests
    /// (an event bigger than this alone goes in a request of its own).
    #[serde(default = "default_max_body_bytes", deserialize_with = "units::bytes")]
    pub max_body_bytes: u64,
    /// First delay before retrying a failed request; doubles with each failure.
    #[serde(
        default = "default_initial_backoff",
        deserialize_with = "units::duration"
    )]
    pub retry_initial_backoff: Duration,
    /// Longest delay between two attempts of our own choosing.
    #[serde(default = "default_max_backoff", deserialize_with = "units::duration")]
    pub retry_max_backoff: Duration,
    /// Longest wait a server's `Retry-After` (on 429, 503, ...) is honoured for.
    #[serde(
        default = "default_retry_after_max",
        deserialize_with = "units::duration"
    )]
    pub retry_after_max: Duration,
}

/// How events are laid out in a request body; every event is the same JSON object as the
/// `file` sink's `format: json` writes.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// One JSON object per line (`application/x-ndjson`).
    #[default]
    Ndjson,
    /// One JSON array of objects (`application/json`).
    JsonArray,
    /// Elasticsearch/OpenSearch `_bulk`: a `{"create":{}}` line before each object
    /// (`{"create":{"_id":"..."}}` with `generate_id`).
    EsBulk,
}

impl BodyFormat {
    /// The `Content-Type` sent unless the headers set one.
    pub fn content_type(self) -> &'static str {
        match self {
            BodyFormat::Ndjson | BodyFormat::EsBulk => "application/x-ndjson",
            BodyFormat::JsonArray => "application/json",
        }
    }
}

/// What an answer's status makes the sink do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusAction {
    /// Keep the batch and send it again after a backoff, holding the pipeline (`blocked`).
    /// The default for 408, 429 and 5xx (the server may take it later) and for 401, 403,
    /// 404, 407, 421 and a redirect not followed (credentials or routing: a configuration
    /// or server state, not the data; logged as errors).
    Retry,
    /// The server refuses the data itself: its events go to the dead-letter file. The
    /// default for every other 4xx (400, 422, a 413 of a single event).
    DeadLetter,
}

/// Which redirects (307 and 308 only: they keep the request body) are followed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redirects {
    /// To the same scheme, host and port only (the configured headers, which may carry
    /// credentials, go nowhere else).
    #[default]
    SameOrigin,
    /// To any host, never from `https` to `http`.
    AnyHost,
    /// None: a redirect is held and retried like any routing error (or as `on_status` says).
    None,
}

/// Request body compression.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Bodies are sent as they are.
    #[default]
    None,
    /// Bodies are gzipped and sent with `Content-Encoding: gzip`.
    Gzip,
}

/// Longest one request may take, by default: 30 s.
pub fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
/// Largest uncompressed body, by default: 10 MiB.
pub fn default_max_body_bytes() -> u64 {
    10 << 20
}
/// First retry delay, by default: 100 ms.
pub fn default_initial_backoff() -> Duration {
    Duration::from_millis(100)
}
/// Longest retry delay of our own, by default: 30 s.
pub fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}
/// Longest `Retry-After` honoured, by default: 5 minutes.
pub fn default_retry_after_max() -> Duration {
    Duration::from_secs(300)
}
/// Most bytes of an answer read, by default: 8 MiB.
pub fn default_max_response_bytes() -> u64 {
    8 << 20
}

/// The limits the `http` and `elasticsearch` sinks share, with the names of the two size
/// fields (`max_body_bytes`, or `bulk.max_bytes`), to check them in one place.
pub struct Limits<'a> {
    /// Per request.
    pub timeout: Duration,
    /// Largest uncompressed body: field, value.
    pub max_body: (&'static str, u64),
    /// Most bytes of an answer read: field, value.
    pub max_response: (&'static str, u64),
    /// First retry delay.
    pub initial_backoff: Duration,
    /// Cap on our own retry delays.
    pub max_backoff: Duration,
    /// Status actions set over the defaults.
    pub on_status: &'a BTreeMap<u16, StatusAction>,
}

/// Checks `limits`; an error names the field.
pub fn check_limits(limits: &Limits<'_>) -> Result<(), OptionsError> {
    if limits.timeout.is_zero() {
        return Err(OptionsError::new("timeout", "must be more than zero"));
    }
    if limits.max_body.1 == 0 {
        return Err(OptionsError::new(
            limits.max_body.0,
            "must be at least 1 byte",
        ));
    }
    if limits.max_response.1 < 512 {
        return Err(OptionsError::new(
            limits.max_response.0,
            "must be at least 512 bytes",
        ));
    }
    if limits.initial_backoff.is_zero() {
        return Err(OptionsError::new(
            "retry_initial_backoff",
            "must be more than zero",
        ));
    }
    if limits.max_backoff < limits.initial_backoff {
        return Err(OptionsError::new(
            "retry_max_backoff",
            "must not be less than retry_initial_backoff",
        ));
    }
    if let Some((&status, _)) = limits
        .on_status
        .iter()
        .find(|(s, _)| !(300..=599).contains(*s))
    {
        return Err(OptionsError::new(
            format!("on_status.{status}"),
            "only 3xx, 4xx and 5xx answers can be given an action",
        ));
    }
    Ok(())
}

/// Headers the sink sets itself: a config may not override them.
const RESERVED: [&str; 4] = [
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "host",
];

/// The checked options, ready to send with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where requests go: requests take turns over several (the nodes of a cluster).
    pub endpoints: Vec<reqwest::Url>,
    /// Body layout.
    pub format: BodyFormat,
    /// Body compression.
    pub compression: Compression,
    /// How `_bulk` documents are named (`Some` for `format: es_bulk`).
    pub bulk: Option<BulkLayout>,
    /// Every header sent (configured ones marked sensitive, plus `Content-Type`).
    pub headers: HeaderMap,
    /// Per request.
    pub timeout: Duration,
    /// Largest uncompressed body.
    pub max_body_bytes: usize,
    /// First retry delay.
    pub initial_backoff: Duration,
    /// Cap on our own retry delays.
    pub max_backoff: Duration,
    /// Cap on a server's `Retry-After`.
    pub retry_after_max: Duration,
    /// Status actions set over the defaults.
    pub on_status: BTreeMap<u16, StatusAction>,
    /// Redirects followed.
    pub redirects: Redirects,
    /// Most bytes of an answer read.
    pub max_response_bytes: usize,
}

impl HttpSinkConfig {
    /// Checks every option; an error names the field, never a header's value.
    pub fn check(self) -> Result<Settings, OptionsError> {
        let url = parse_url("url", &self.url)?;
        let headers = parse_headers(&self.headers, self.format)?;
        if self.generate_id && self.format != BodyFormat::EsBulk {
            return Err(OptionsError::new(
                "generate_id",
                "is only for `format: es_bulk` (document ids)",
            ));
        }
        check_limits(&Limits {
            timeout: self.timeout,
            max_body: ("max_body_bytes", self.max_body_bytes),
            max_response: ("max_response_bytes", self.max_response_bytes),
            initial_backoff: self.retry_initial_backoff,
            max_backoff: self.retry_max_backoff,
            on_status: &self.on_status,
        })?;
        Ok(Settings {
            endpoints: vec![url],
            format: self.format,
            compression: self.compression,
            bulk: (self.format == BodyFormat::EsBulk).then(|| BulkLayout {
                ids: self.generate_id,
                ..BulkLayout::default()
            }),
            headers,
            timeout: self.timeout,
            max_body_bytes: usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX),
            initial_backoff: self.retry_initial_backoff,
            max_backoff: self.retry_max_backoff,
            retry_after_max: self.retry_after_max,
            on_status: self.on_status,
            redirects: self.redirects,
            max_response_bytes: usize::try_from(self.max_response_bytes).unwrap_or(usize::MAX),
        })
    }
}

/// An absolute `http`/`https` URL with a host (the option `field`). The URL is not echoed in errors (it may carry
/// credentials); the error's line points at it.
pub fn parse_url(field: &str, text: &str) -> Result<reqwest::Url, OptionsError> {
    let err = |why: String| OptionsError::new(field, why);
    let url = reqwest::Url::parse(text).map_err(|e| err(format!("not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(err(format!(
            "scheme `{}` is not supported: use http:// or https://",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err("the URL has no host".to_owned()));
    }
    Ok(url)
}

/// The headers of every request: `Content-Type` for `format`, then the configured ones (each
/// checked, marked sensitive so it is never shown).
pub fn parse_headers(
    map: &BTreeMap<String, Secret>,
    format: BodyFormat,
) -> Result<HeaderMap, OptionsError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    for (name, value) in map {
        let field = format!("headers.{name}");
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| OptionsError::new(&field, format!("`{name}` is not a header name")))?;
        if RESERVED.contains(&header.as_str()) {
            return Err(OptionsError::new(
                &field,
                format!("`{name}` is set by the sink itself"),
            ));
        }
        let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
            OptionsError::new(
                &field,
                "the value is not a valid header value (control characters or non-ASCII?)",
            )
        })?;
        value.set_sensitive(true);
        headers.insert(header, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> HttpSinkConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_and_headers() {
        let s = config("url: https://es.example:9200/_bulk\nheaders: {Authorization: Bearer x}")
            .check()
            .unwrap();
        assert_eq!(s.format, BodyFormat::Ndjson);
        assert_eq!(s.compression, Compression::None);
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.headers["content-type"], "application/x-ndjson");
        assert!(s.headers["authorization"].is_sensitive());
        assert!(!format!("{:?}", s.headers).contains("Bearer"));
    }

    #[test]
    fn bad_options_name_their_field_and_hide_values() {
        let err = |yaml: &str| config(yaml).check().unwrap_err();
        assert_eq!(err("url: ftp://x/y").field, "url");
        assert_eq!(err("url: /relative").field, "url");
        assert_eq!(err("url: 'http://'").field, "url");
        let e = err("url: http://h\nheaders: {X-Token: \"sec\\nret\"}");
        assert_eq!(e.field, "headers.X-Token");
        assert!(!e.message.contains("sec"), "{}", e.message);
        assert_eq!(
            err("url: http://h\nheaders: {Content-Length: '1'}").field,
            "headers.Content-Length"
        );
        assert_eq!(err("url: http://h\ntimeout: 0").field, "timeout");
        assert_eq!(
            err("url: http://h\ngenerate_id: true").field,
            "generate_id",
            "document ids are for es_bulk only"
        );
        assert!(
            config("url: http://h\nformat: es_bulk\ngenerate_id: true")
                .check()
                .unwrap()
                .bulk
                .unwrap()
                .ids
        );
        assert_eq!(
            err("url: http://h\nretry_initial_backoff: 2s\nretry_max_backoff: 1s").field,
            "retry_max_backoff"
        );
        assert_eq!(
            err("url: http://h\non_status: {200: retry}").field,
            "on_status.200"
        );
    }

    #[test]
    fn a_numeric_header_value_is_taken_as_text_and_never_shown() {
        // Unquoted, YAML reads it as a number; serde's error used to echo it.
        let s = config("url: http://h\nheaders: {X-Api-Key: 8734625348762534}")
            .check()
            .unwrap();
        assert_eq!(s.headers["x-api-key"], "8734625348762534");
        let parsed: Result<HttpSinkConfig, _> =
            serde_yaml::from_str("url: http://h\nheaders: {X-Api-Key: [8734625348762534]}");
        let err = parsed.unwrap_err().to_string();
        assert!(!err.contains("8734625348762534"), "{err}");
    }
}
