//! Outgoing HTTP for sink plugins (feature `http`), over `wasi:http`.
//!
//! logcatch lets a request through only to a host the pipeline grants the sink in
//! `allow_hosts` (`host` for ports 80/443, or `host:port`); any other fails with an error
//! naming `HttpRequestDenied`, and logcatch logs the refused host. Calls block until the
//! response has arrived; the sink's `limits.timeout` bounds them.
//!
//! ```no_run
//! let body = b"{\"create\":{}}\n{\"message\":\"hello\"}\n";
//! let headers = [("content-type", "application/x-ndjson")];
//! let response = logcatch_plugin::http::post("http://127.0.0.1:9200/_bulk", &headers, body)?;
//! if !response.is_success() {
//!     return Err(format!("status {}", response.status));
//! }
//! # Ok::<(), String>(())
//! ```

/// An HTTP response: its status and its whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The body's bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// The parts of an `http://` or `https://` URL that a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url<'a> {
    /// Whether the scheme is `https`.
    pub https: bool,
    /// `host` or `host:port`.
    pub authority: &'a str,
    /// The path and query, `/` when the URL has none.
    pub path_with_query: &'a str,
}

/// Splits `url` into scheme, authority and path; only `http` and `https` are supported.
pub fn parse_url(url: &str) -> Result<Url<'_>, String> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!(
            "`{url}`: only http:// and https:// URLs are supported"
        ));
    };
    let (authority, path_with_query) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains(['@', '?', '#']) {
        return Err(format!(
            "`{url}`: the URL needs a host, no user, and a path before any query"
        ));
    }
    Ok(Url {
        https,
        authority,
        path_with_query,
    })
}

/// Sends a `POST` of `body` to `url` with `headers`, and waits for the whole response.
/// A status that is not 2xx is still `Ok`: check [`Response::is_success`].
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, String> {
    let url = parse_url(url)?;
    send(&url, headers, body)
        .map_err(|e| format!("POST {}{}: {e}", url.authority, url.path_with_query))
}

#[cfg(target_arch = "wasm32")]
fn send(url: &Url<'_>, headers: &[(&str, &str)], body: &[u8]) -> Result<Response, String> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
    };
    use wasip2::io::streams::StreamError;

    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| format!("header {name}: {e:?}"))?;
    }
    fields
        .append("content-length", body.len().to_string().as_bytes())
        .map_err(|e| format!("header content-length: {e:?}"))?;
    let request = OutgoingRequest::new(fields);
    let invalid = |what: &str| format!("invalid {what}");
    request
        .set_method(&Method::Post)
        .map_err(|()| invalid("method"))?;
    let scheme = if url.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(url.authority))
        .map_err(|()| invalid("host"))?;
    request
        .set_path_with_query(Some(url.path_with_query))
        .map_err(|()| invalid("path"))?;
    let outgoing = request
        .body()
        .map_err(|()| "request body taken twice".to_owned())?;
    // Send first, then stream the body: the host reads it while it is written.
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    let answer = || -> Result<_, String> {
        future.subscribe().block();
        future
            .get()
            .ok_or("no response after waiting for it")?
            .map_err(|()| "response taken twice".to_owned())?
            .map_err(|e| format!("{e:?}"))
    };
    {
        let stream = outgoing
            .write()
            .map_err(|()| "request body stream taken twice".to_owned())?;
        // `blocking-write-and-flush` takes at most 4096 bytes per call.
        for chunk in body.chunks(4096) {
            if let Err(e) = stream.blocking_write_and_flush(chunk) {
                // The request failed (refused, unreachable): its error says why.
                answer()?;
                return Err(format!("writing the request body: {e:?}"));
            }
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;
    let response = answer()?;
    let status = response.status();
    let incoming = response
        .consume()
        .map_err(|()| "response body taken twice".to_owned())?;
    let mut body = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| "response body stream taken twice".to_owned())?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(bytes) => body.extend_from_slice(&bytes),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(format!("reading the response body: {e:?}")),
            }
        }
    }
    drop(IncomingBody::finish(incoming));
    Ok(Response { status, body })
}

#[cfg(not(target_arch = "wasm32"))]
fn send(_: &Url<'_>, _: &[(&str, &str)], _: &[u8]) -> Result<Response, String> {
    Err("HTTP is available to plugins running in logcatch (wasm32-wasip2) only".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_their_parts() {
        let u = parse_url("http://127.0.0.1:9200/logs/_bulk?refresh=true").unwrap();
        assert_eq!(
            (u.https, u.authority, u.path_with_query),
            (false, "127.0.0.1:9200", "/logs/_bulk?refresh=true")
        );
        let u = parse_url("https://es.example.com").unwrap();
        assert_eq!(
            (u.https, u.authority, u.path_with_query),
            (true, "es.example.com", "/")
        );
        for bad in [
            "ftp://x/",
            "es.example.com/_bulk",
            "http:///x",
            "http://u@h/",
            "https://h?x=1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
