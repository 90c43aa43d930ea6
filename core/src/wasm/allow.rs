//! Outgoing HTTP for sink plugins, only to the hosts a pipeline grants (`allow_hosts:`).
//!
//! wasi:http is linked for sinks only. Every request a guest sends passes through
//! [`HttpGrant`]'s `send_request` hook: a request to an authority not in the grant is refused
//! with `HTTP-request-denied` (the guest sees that error code) and a warning naming the plugin
//! and the host; an allowed one is sent with connect and read timeouts that end at the
//! call's deadline, so a silent server cannot hold a call past its time limit.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// One `allow_hosts` entry: a host name or IP, with an optional port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowedHost {
    /// Lower-case host name or IP address (IPv6 without brackets).
    host: String,
    /// The one port allowed; without one, only the scheme's default (80 or 443).
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`; no scheme, path or user.
    pub fn parse(entry: &str) -> Result<AllowedHost, String> {
        let bad = |why: &str| {
            format!(
                "`{entry}` is not a host or host:port ({why}), e.g. es.example.com or 127.0.0.1:9200"
            )
        };
        if entry.is_empty() {
            return Err(bad("empty"));
        }
        if entry.contains("://") || entry.contains(['/', '@', '?', '#', ' ', '*']) {
            return Err(bad("no scheme, path, user or wildcard"));
        }
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (v6, after) = rest.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            match after {
                "" => (v6, None),
                p => (
                    v6,
                    Some(p.strip_prefix(':').ok_or_else(|| bad("junk after `]`"))?),
                ),
            }
        } else {
            match entry.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => return Err(bad("write IPv6 as [addr]:port")),
                Some((h, p)) => (h, Some(p)),
                None => (entry, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| bad("the port must be 1-65535"))?,
            ),
        };
        Ok(AllowedHost {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn allows(&self, host: &str, port: u16, default_port: u16) -> bool {
        self.host.eq_ignore_ascii_case(host) && self.port.unwrap_or(default_port) == port
    }
}

/// The hosts one sink may reach, in the form its store hooks wasi:http with.
#[derive(Debug, Clone, Default)]
pub struct HttpGrant {
    plugin: Arc<str>,
    hosts: Arc<[AllowedHost]>,
    /// When the call in progress must end: no request waits past it.
    deadline: Option<Instant>,
}

impl HttpGrant {
    /// A grant of `hosts` to `plugin`.
    pub fn new(plugin: Arc<str>, hosts: Arc<[AllowedHost]>) -> Self {
        HttpGrant {
            plugin,
            hosts,
            deadline: None,
        }
    }

    /// Requests sent from now on time out at `deadline` (the end of the call's budget).
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// Whether a request to `uri` may go out.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let default_port = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            443
        } else {
            80
        };
        let port = uri.port_u16().unwrap_or(default_port);
        self.hosts
            .iter()
            .any(|h| h.allows(host, port, default_port))
    }
}

type Sent = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for HttpGrant {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        drop(fut);
        if !self.allows(request.uri()) {
            let host = request
                .uri()
                .authority()
                .map_or_else(|| "(none)".to_owned(), |a| a.to_string());
            tracing::warn!(
                plugin = &*self.plugin,
                host,
                "outgoing HTTP request refused: the host is not in this sink's allow_hosts"
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let mut options = options.unwrap_or_default();
        if let Some(deadline) = self.deadline {
            // At least a millisecond: a zero timeout would mean none to some layers.
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            for t in [
                &mut options.connect_timeout,
                &mut options.first_byte_timeout,
                &mut options.between_bytes_timeout,
            ] {
                *t = Some(t.map_or(left, |asked| asked.min(left)));
            }
        }
        Box::new(async move {
            let (res, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            let io: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send> = Box::new(io);
            Ok((res.map(BodyExt::boxed_unsync), io))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(entries: &[&str]) -> HttpGrant {
        let hosts: Vec<AllowedHost> = entries
            .iter()
            .map(|e| AllowedHost::parse(e).unwrap())
            .collect();
        HttpGrant::new("t".into(), hosts.into())
    }

    fn allows(g: &HttpGrant, uri: &str) -> bool {
        g.allows(&uri.parse().unwrap())
    }

    #[test]
    fn a_host_with_a_port_allows_that_port_only() {
        let g = grant(&["127.0.0.1:9200"]);
        assert!(allows(&g, "http://127.0.0.1:9200/_bulk"));
        assert!(!allows(&g, "http://127.0.0.1:9201/_bulk"));
        assert!(!allows(&g, "http://127.0.0.1/_bulk"));
        assert!(!allows(&g, "http://localhost:9200/_bulk"));
    }

    #[test]
    fn a_host_without_a_port_allows_the_default_ports() {
        let g = grant(&["ES.example.com"]);
        assert!(allows(&g, "https://es.example.com/_bulk"));
        assert!(allows(&g, "http://es.example.com:80/"));
        assert!(!allows(&g, "https://es.example.com:9200/"));
        assert!(!allows(&g, "https://es.example.com.evil.net/"));
    }

    #[test]
    fn ipv6_and_nothing_granted() {
        assert!(allows(&grant(&["[::1]:8080"]), "http://[::1]:8080/"));
        assert!(!allows(&HttpGrant::default(), "http://127.0.0.1/"));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "",
            "http://x",
            "x/y",
            "x:0",
            "x:99999",
            "::1",
            "*.example.com",
            ":80",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }
}
