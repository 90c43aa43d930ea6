//! The check at start: `GET /` on the endpoints until one answers, which says what the
//! cluster is (Elasticsearch or OpenSearch, and its version) for the log and `/pipelines`.

use serde::Deserialize;

use crate::sinks::http::{describe, excerpt, read_capped};

/// Bytes of a `GET /` answer read (it is a few hundred).
const ROOT_READ: usize = 64 * 1024;

/// What a cluster says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `Elasticsearch` or `OpenSearch`.
    pub flavour: &'static str,
    /// Its version, as it gives it (`8.15.0`).
    pub version: String,
}

impl Server {
    /// `Elasticsearch 8.15.0`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.flavour, self.version)
    }

    /// The major version, when it is a number.
    pub fn major(&self) -> Option<u32> {
        self.version.split('.').next()?.parse().ok()
    }
}

#[derive(Deserialize)]
struct Root {
    version: Version,
}

#[derive(Deserialize)]
struct Version {
    number: String,
    #[serde(default)]
    distribution: Option<String>,
}

/// Reads a `GET /` answer's body.
pub fn parse_root(body: &[u8]) -> Result<Server, String> {
    let root: Root = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the answer to GET / is not a cluster's (no version.number: {e}){}",
            excerpt(body)
        )
    })?;
    let flavour = match root.version.distribution.as_deref() {
        Some(d) if d.eq_ignore_ascii_case("opensearch") => "OpenSearch",
        _ => "Elasticsearch",
    };
    Ok(Server {
        flavour,
        version: root.version.number,
    })
}

/// Asks `base` (an endpoint's base URL) what it is.
pub async fn check(
    client: &reqwest::Client,
    headers: &reqwest::header::HeaderMap,
    base: &reqwest::Url,
    timeout: std::time::Duration,
) -> Result<Server, String> {
    let mut request_headers = headers.clone();
    request_headers.remove(reqwest::header::CONTENT_TYPE);
    let response = client
        .get(base.clone())
        .headers(request_headers)
        .send()
        .await
        .map_err(|e| describe(&e, timeout))?;
    let status = response.status();
    let (body, _) = read_capped(response, ROOT_READ)
        .await
        .map_err(|e| format!("HTTP {status}, then {}", describe(&e, timeout)))?;
    if !status.is_success() {
        let hint = match status.as_u16() {
            401 | 403 => " (check `auth`)",
            _ => "",
        };
        return Err(format!("HTTP {status}{hint}{}", excerpt(&body)));
    }
    parse_root(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flavour_and_version_come_from_the_root_answer() {
        let es = parse_root(br#"{"name":"n","version":{"number":"8.15.0","build_flavor":"default"},"tagline":"You Know, for Search"}"#).unwrap();
        assert_eq!(es.describe(), "Elasticsearch 8.15.0");
        assert_eq!(es.major(), Some(8));
        let os =
            parse_root(br#"{"version":{"distribution":"opensearch","number":"2.11.0"}}"#).unwrap();
        assert_eq!(os.describe(), "OpenSearch 2.11.0");
        let err = parse_root(b"<html>proxy</html>").unwrap_err();
        assert!(err.contains("<html>proxy</html>"), "{err}");
    }
}
