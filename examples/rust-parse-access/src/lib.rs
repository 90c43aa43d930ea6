//! logcatch filter `parse_access`: parses nginx/Apache access log lines (combined or common
//! format) into typed attributes. Unparsable lines pass unchanged, with a `parse_error`
//! attribute saying why. See README.md.

use logcatch_plugin::{Batch, BatchBuilder, Filter, Verdict};
use serde::Deserialize;

/// The plugin's `config:`: nothing to set yet, but unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

/// One access log line, as slices of the line.
#[derive(Debug, PartialEq)]
pub struct Access<'a> {
    /// `%h`: the client address.
    pub client: &'a str,
    /// `%l`: the identd name, when not `-`.
    pub ident: Option<&'a str>,
    /// `%u`: the authenticated user, when not `-`.
    pub user: Option<&'a str>,
    /// `%t`: the time, as written, without its brackets.
    pub time: &'a str,
    /// `%r`: the request line.
    pub request: Request<'a>,
    /// `%>s`: the status code.
    pub status: i64,
    /// `%b`: the response size (`-` is 0).
    pub bytes: i64,
    /// The `Referer` header, when present and not `-` (combined format).
    pub referrer: Option<&'a str>,
    /// The `User-Agent` header, when present and not `-` (combined format).
    pub user_agent: Option<&'a str>,
}

/// The request line of an access log entry.
#[derive(Debug, PartialEq)]
pub enum Request<'a> {
    /// `METHOD PATH [PROTOCOL]`.
    Parsed {
        /// `GET`, `POST`, ...
        method: &'a str,
        /// The request target, as sent.
        path: &'a str,
        /// `HTTP/1.1`, ...; absent for HTTP/0.9 requests.
        protocol: Option<&'a str>,
    },
    /// Anything else (`-`, a TLS handshake sent to a plain-text port, ...), as written.
    Raw(&'a str),
}

/// Parses one line of the combined (`%h %l %u %t "%r" %>s %b "%{Referer}i"
/// "%{User-agent}i"`) or common (without the last two) log format. Fields past the user
/// agent (nginx setups often add some) are ignored. The error is a short reason.
pub fn parse(line: &str) -> Result<Access<'_>, &'static str> {
    let mut c = Cursor { s: line, pos: 0 };
    c.skip_spaces();
    let client = c.word().ok_or("empty line")?;
    let ident = c.word().ok_or("missing ident")?;
    let user = c.word().ok_or("missing user")?;
    let time = c.delimited(b'[', b']').ok_or("expected [time]")?;
    let request = c.quoted().ok_or("expected \"request\"")?;
    let status = c.word().ok_or("missing status")?;
    if status.len() != 3 || !status.bytes().all(|b| b.is_ascii_digit()) {
        return Err("status is not a 3-digit number");
    }
    let bytes = match c.word().ok_or("missing bytes")? {
        "-" => 0,
        b if b.bytes().all(|d| d.is_ascii_digit()) => {
            b.parse().map_err(|_| "bytes out of range")?
        }
        _ => return Err("bytes is not a number"),
    };
    let (referrer, user_agent) = if c.at_end() {
        (None, None)
    } else {
        let referrer = c.quoted().ok_or("expected \"referrer\"")?;
        let agent = c.quoted().ok_or("expected \"user agent\"")?;
        (Some(referrer), Some(agent))
    };
    let present = |v: &'_ str| v != "-";
    Ok(Access {
        client,
        ident: Some(ident).filter(|v| present(v)),
        user: Some(user).filter(|v| present(v)),
        time,
        request: parse_request(request),
        status: status.parse().expect("three digits"),
        bytes,
        referrer: referrer.filter(|v| present(v)),
        user_agent: user_agent.filter(|v| present(v)),
    })
}

/// Splits `METHOD PATH PROTOCOL` (the path may hold spaces in malformed requests).
fn parse_request(r: &str) -> Request<'_> {
    let Some((method, rest)) = r.split_once(' ') else {
        return Request::Raw(r);
    };
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    {
        return Request::Raw(r);
    }
    let (path, protocol) = match rest.rsplit_once(' ') {
        Some((path, proto)) if proto.starts_with("HTTP/") => (path, Some(proto)),
        _ => (rest, None),
    };
    if path.is_empty() {
        return Request::Raw(r);
    }
    Request::Parsed {
        method,
        path,
        protocol,
    }
}

/// A position in a line; fields are separated by one or more spaces.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn skip_spaces(&mut self) {
        let b = self.s.as_bytes();
        while self.pos < b.len() && (b[self.pos] == b' ' || b[self.pos] == b'\t') {
            self.pos += 1;
        }
    }

    /// The next run of non-space bytes, then the spaces after it.
    fn word(&mut self) -> Option<&'a str> {
        let b = self.s.as_bytes();
        let start = self.pos;
        while self.pos < b.len() && b[self.pos] != b' ' && b[self.pos] != b'\t' {
            self.pos += 1;
        }
        let w = &self.s[start..self.pos];
        self.skip_spaces();
        (!w.is_empty()).then_some(w)
    }

    /// `open ... close` (no nesting), without the delimiters, then the spaces after it.
    fn delimited(&mut self, open: u8, close: u8) -> Option<&'a str> {
        let b = self.s.as_bytes();
        if b.get(self.pos) != Some(&open) {
            return None;
        }
        let start = self.pos + 1;
        let end = start + b[start..].iter().position(|&c| c == close)?;
        self.pos = end + 1;
        let inner = &self.s[start..end];
        self.skip_spaces();
        Some(inner)
    }

    /// `"..."` where `\"` and `\\` are escapes, as written (not unescaped), then the
    /// spaces after it.
    fn quoted(&mut self) -> Option<&'a str> {
        let b = self.s.as_bytes();
        if b.get(self.pos) != Some(&b'"') {
            return None;
        }
        let start = self.pos + 1;
        let mut i = start;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    let inner = &self.s[start..i];
                    self.skip_spaces();
                    return Some(inner);
                }
                _ => i += 1,
            }
        }
        None
    }
}

/// The filter (stateless).
pub struct ParseAccess;

impl Filter for ParseAccess {
    fn init(config: &str) -> Result<Self, String> {
        let _: Config = logcatch_plugin::config(config)?;
        Ok(ParseAccess)
    }

    fn process(&mut self, batch: &Batch) -> Result<Verdict, String> {
        let mut out = BatchBuilder::sized_for(batch);
        for event in batch {
            out.push_event(&event);
            match parse(event.message()) {
                Ok(a) => {
                    out.attr("client", a.client);
                    if let Some(ident) = a.ident {
                        out.attr("ident", ident);
                    }
                    if let Some(user) = a.user {
                        out.attr("user", user);
                    }
                    out.attr("time", a.time);
                    match a.request {
                        Request::Parsed {
                            method,
                            path,
                            protocol,
                        } => {
                            out.attr("method", method).attr("path", path);
                            if let Some(protocol) = protocol {
                                out.attr("protocol", protocol);
                            }
                        }
                        Request::Raw(raw) => {
                            out.attr("request", raw);
                        }
                    }
                    out.attr("status", a.status).attr("bytes", a.bytes);
                    if let Some(referrer) = a.referrer {
                        out.attr("referrer", referrer);
                    }
                    if let Some(agent) = a.user_agent {
                        out.attr("user_agent", agent);
                    }
                }
                Err(reason) => {
                    out.attr("parse_error", reason);
                }
            }
        }
        Ok(Verdict::replace(out))
    }
}

logcatch_plugin::export_filter!(ParseAccess);

#[cfg(test)]
mod tests {
    use super::*;
    use logcatch_plugin::AttrValue::{self, Int, Text};

    const COMBINED: &str = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    const COMMON: &str =
        r#"10.1.2.3 - - [10/Oct/2000:13:55:36 -0700] "POST /login HTTP/1.1" 302 -"#;

    #[test]
    fn parses_the_combined_format() {
        assert_eq!(
            parse(COMBINED).unwrap(),
            Access {
                client: "127.0.0.1",
                ident: None,
                user: Some("frank"),
                time: "10/Oct/2000:13:55:36 -0700",
                request: Request::Parsed {
                    method: "GET",
                    path: "/apache_pb.gif",
                    protocol: Some("HTTP/1.0")
                },
                status: 200,
                bytes: 2326,
                referrer: Some("http://www.example.com/start.html"),
                user_agent: Some("Mozilla/4.08 [en] (Win98; I ;Nav)"),
            }
        );
    }

    #[test]
    fn parses_the_common_format_with_dash_bytes() {
        let a = parse(COMMON).unwrap();
        assert_eq!(
            (a.client, a.user, a.status, a.bytes),
            ("10.1.2.3", None, 302, 0)
        );
        assert_eq!((a.referrer, a.user_agent), (None, None));
    }

    #[test]
    fn odd_but_valid_lines() {
        let a = parse(r#"::1 id - [t] "-" 400 0 "-" "-" "extra nginx field" 0.003"#).unwrap();
        assert_eq!(
            (a.ident, a.request, a.referrer, a.user_agent),
            (Some("id"), Request::Raw("-"), None, None)
        );
        let a = parse(r#"h - - [t] "GET /a b HTTP/1.1" 404 12 "-" "say \"hi\"""#).unwrap();
        assert_eq!(
            a.request,
            Request::Parsed {
                method: "GET",
                path: "/a b",
                protocol: Some("HTTP/1.1")
            }
        );
        assert_eq!(a.user_agent, Some(r#"say \"hi\""#));
        let a = parse(r#"h - - [t] "GET /old" 200 5"#).unwrap();
        assert_eq!(
            a.request,
            Request::Parsed {
                method: "GET",
                path: "/old",
                protocol: None
            }
        );
        assert_eq!(
            parse(r#"h - - [t] "\x16\x03\x01" 400 0"#).unwrap().request,
            Request::Raw(r"\x16\x03\x01")
        );
    }

    #[test]
    fn unparsable_lines_say_why() {
        for (line, reason) in [
            ("", "empty line"),
            ("host", "missing ident"),
            ("h - -", "expected [time]"),
            ("h - - [unclosed", "expected [time]"),
            ("h - - [t] GET", "expected \"request\""),
            (r#"h - - [t] "GET / HTTP/1.1"#, "expected \"request\""),
            (r#"h - - [t] "GET / HTTP/1.1""#, "missing status"),
            (
                r#"h - - [t] "GET / HTTP/1.1" OK 1"#,
                "status is not a 3-digit number",
            ),
            (r#"h - - [t] "GET / HTTP/1.1" 200"#, "missing bytes"),
            (
                r#"h - - [t] "GET / HTTP/1.1" 200 12kB"#,
                "bytes is not a number",
            ),
            (
                r#"h - - [t] "GET / HTTP/1.1" 200 99999999999999999999"#,
                "bytes out of range",
            ),
            (
                r#"h - - [t] "GET / HTTP/1.1" 200 1 ref"#,
                "expected \"referrer\"",
            ),
            (
                r#"h - - [t] "GET / HTTP/1.1" 200 1 "ref""#,
                "expected \"user agent\"",
            ),
        ] {
            assert_eq!(parse(line), Err(reason), "{line:?}");
        }
    }

    fn attrs(batch: &Batch, i: usize) -> Vec<(String, AttrValue<'_>)> {
        batch
            .get(i)
            .unwrap()
            .attrs()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    #[test]
    fn the_filter_adds_typed_attributes_and_marks_failures() {
        let mut b = BatchBuilder::new();
        b.push(COMBINED, "/var/log/nginx/access.log", 0, 5)
            .attr("host", "web-1");
        b.push("garbage", "/var/log/nginx/access.log", 200, 6);
        b.push(COMMON, "/var/log/nginx/access.log", 208, 7);
        let input = b.build();
        let mut f = ParseAccess::init("{}").unwrap();
        let out = f.process(&input).unwrap().apply(&input);
        assert_eq!(out.len(), 3);
        for (i, o) in input.iter().zip(out.iter()) {
            assert_eq!(
                (i.message(), i.source(), i.offset(), i.timestamp_ns()),
                (o.message(), o.source(), o.offset(), o.timestamp_ns())
            );
        }
        let s = |k: &str, v| (k.to_owned(), v);
        assert_eq!(
            attrs(&out, 0),
            [
                s("host", Text("web-1")),
                s("client", Text("127.0.0.1")),
                s("user", Text("frank")),
                s("time", Text("10/Oct/2000:13:55:36 -0700")),
                s("method", Text("GET")),
                s("path", Text("/apache_pb.gif")),
                s("protocol", Text("HTTP/1.0")),
                s("status", Int(200)),
                s("bytes", Int(2326)),
                s("referrer", Text("http://www.example.com/start.html")),
                s("user_agent", Text("Mozilla/4.08 [en] (Win98; I ;Nav)")),
            ]
        );
        assert_eq!(attrs(&out, 1), [s("parse_error", Text("missing ident"))]);
        assert_eq!(out.get(2).unwrap().attr("bytes"), Some(Int(0)));
        assert_eq!(out.get(2).unwrap().attr("referrer"), None);
    }

    #[test]
    fn config_must_be_empty() {
        assert!(ParseAccess::init("{}").is_ok());
        assert!(
            ParseAccess::init(r#"{"format": "combined"}"#)
                .err()
                .unwrap()
                .contains("unknown field")
        );
    }
}
