//! A tiny blocking HTTP/1.1 client for the admin API tests (one request per connection,
//! `Connection: close`), and a strict parser of the Prometheus / OpenMetrics text format that
//! `GET /metrics` answers.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{Daemon, wait_until};

/// How long one request may take, connect to last byte.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "response (status {}) is not JSON: {e}\n{}",
                self.status, self.body
            )
        })
    }
}

/// `METHOD path` on `addr` (`127.0.0.1:PORT`) with `body`; the whole response.
pub fn request(addr: &str, method: &str, path: &str, body: &[u8]) -> io::Result<Response> {
    request_with(addr, method, path, &[], body)
}

/// [`request`] with extra request headers.
pub fn request_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let sock = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{addr}: no address")))?;
    let mut stream = TcpStream::connect_timeout(&sock, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: logcatch-tests\r\nAccept: */*\r\n"
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw).map_err(|e| {
        io::Error::other(format!(
            "{method} {path}: {e}\n{}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

/// Parses a whole HTTP/1.1 response (read to EOF): status line, headers, and a body framed by
/// `Content-Length`, `Transfer-Encoding: chunked` or the end of the connection.
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| format!("headers: {e}"))?;
    let mut rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("no status line")?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let find = |n: &str| {
        headers
            .iter()
            .find(|(h, _)| h == n)
            .map(|(_, v)| v.as_str())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let eol = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("chunk size line not ended")?;
            let size_line = std::str::from_utf8(&rest[..eol]).map_err(|e| e.to_string())?;
            let size_hex = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|e| format!("chunk size {size_line:?}: {e}"))?;
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            if rest.len() < size + 2 || &rest[size..size + 2] != b"\r\n" {
                return Err(format!("chunk of {size} bytes cut short"));
            }
            body.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .parse()
            .map_err(|e| format!("content-length {len:?}: {e}"))?;
        if rest.len() < len {
            return Err(format!("body cut short: {} of {len} bytes", rest.len()));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body: String::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?,
    })
}

/// `GET path`: (status, body). Panics when the request fails.
pub fn get(addr: &str, path: &str) -> (u16, String) {
    let r = request(addr, "GET", path, b"").unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (r.status, r.body)
}

/// `POST path` with `body`: (status, body). Panics when the request fails.
pub fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    let r =
        request(addr, "POST", path, body.as_bytes()).unwrap_or_else(|e| panic!("POST {path}: {e}"));
    (r.status, r.body)
}

/// `GET path`, 200 expected, as JSON.
pub fn get_json(addr: &str, path: &str) -> serde_json::Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}\n{body}"))
}

/// The admin API's address, from the daemon's `admin API listening ... addr=127.0.0.1:PORT`
/// line (waits up to `timeout` for it; panics with the log when it does not come).
pub fn api_addr(daemon: &Daemon, timeout: Duration) -> String {
    let mut addr = None;
    let found = wait_until(timeout, || {
        addr = daemon
            .log()
            .lines()
            .filter(|l| l.contains("admin API listening"))
            .find_map(|l| field(l, "addr"));
        addr.is_some()
    });
    assert!(
        found,
        "no `admin API listening ... addr=` line within {timeout:?}:\n{}",
        daemon.log()
    );
    addr.unwrap()
}

/// The value of field `name` (`name=value` or `name="value"`) in a text log line.
pub fn field(line: &str, name: &str) -> Option<String> {
    let key = format!("{name}=");
    let mut from = 0;
    while let Some(i) = line[from..].find(&key) {
        let at = from + i;
        // A whole field name: at the start or after a space (not `xaddr=`).
        if at == 0 || line[..at].ends_with(' ') {
            let v = &line[at + key.len()..];
            return Some(if let Some(q) = v.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = q.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        c => out.push(c),
                    }
                }
                out
            } else {
                v.split(' ').next().unwrap_or_default().to_owned()
            });
        }
        from = at + key.len();
    }
    None
}

// --- Prometheus / OpenMetrics text --------------------------------------------------------

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition: every sample in order, and each family's `# TYPE` and `# HELP`.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub samples: Vec<Sample>,
    /// Family name → type (`counter`, `gauge`, `histogram`, ...).
    pub types: HashMap<String, String>,
    /// Family name → help text.
    pub help: HashMap<String, String>,
    /// Whether the text ended with `# EOF` (OpenMetrics).
    pub openmetrics: bool,
}

/// Sample name suffixes a family of each type may use (besides the bare family name).
fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created"],
        "histogram" => &["_bucket", "_count", "_sum", "_created"],
        "gaugehistogram" => &["_bucket", "_gcount", "_gsum"],
        "summary" => &["_count", "_sum", "_created"],
        "info" => &["_info"],
        _ => &[],
    }
}

const TYPES: [&str; 9] = [
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
    "unknown",
    "untyped",
];

fn valid_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_' || x == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
            && s.chars().any(|c| c.is_ascii_digit()) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

/// Parses `text` strictly: every line is `# HELP`, `# TYPE`, `# UNIT`, `# EOF` (last) or a
/// sample of a family whose `# TYPE` came before it; families are not interleaved; names,
/// label names, quoting and escapes, values are checked; no sample (name + labels) appears
/// twice; histogram buckets are cumulative, end with `le="+Inf"` and equal `_count`.
pub fn parse_metrics(text: &str) -> Result<Metrics, String> {
    let mut m = Metrics::default();
    let mut seen_samples = std::collections::HashSet::new();
    let mut current: Option<String> = None; // the family whose lines we are in
    let mut finished = std::collections::HashSet::new(); // families that ended
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    } else if !text.is_empty() {
        return Err("the text does not end with a newline".into());
    }
    let n = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let err = |msg: String| format!("line {}: {msg}: {line:?}", i + 1);
        if m.openmetrics {
            return Err(err("text after `# EOF`".into()));
        }
        if line.is_empty() {
            return Err(err("empty line".into()));
        }
        let mut enter = |family: &str, current: &mut Option<String>| -> Result<(), String> {
            if current.as_deref() != Some(family) {
                if finished.contains(family) {
                    return Err(err(format!("family {family} is interleaved with others")));
                }
                if let Some(c) = current.take() {
                    finished.insert(c);
                }
                *current = Some(family.to_owned());
            }
            Ok(())
        };
        if let Some(comment) = line.strip_prefix('#') {
            if comment == " EOF" {
                if i + 1 != n {
                    return Err(err("`# EOF` is not the last line".into()));
                }
                m.openmetrics = true;
                continue;
            }
            let comment = comment
                .strip_prefix(' ')
                .ok_or_else(|| err("comment without a space after #".into()))?;
            let (kw, rest) = comment
                .split_once(' ')
                .ok_or_else(|| err("bare comment".into()))?;
            let (family, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            if !valid_metric_name(family) {
                return Err(err(format!("bad metric name {family:?}")));
            }
            enter(family, &mut current)?;
            match kw {
                "TYPE" => {
                    if !TYPES.contains(&arg) {
                        return Err(err(format!("unknown type {arg:?}")));
                    }
                    if m.types.insert(family.to_owned(), arg.to_owned()).is_some() {
                        return Err(err(format!("second # TYPE for {family}")));
                    }
                }
                "HELP" => {
                    if m.help.insert(family.to_owned(), arg.to_owned()).is_some() {
                        return Err(err(format!("second # HELP for {family}")));
                    }
                }
                "UNIT" => {}
                _ => return Err(err(format!("unknown comment keyword {kw:?}"))),
            }
            continue;
        }
        // A sample: name, optional {labels}, value, optional timestamp.
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| err("no value".into()))?;
        let name = &line[..name_end];
        if !valid_metric_name(name) {
            return Err(err(format!("bad metric name {name:?}")));
        }
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(r) = rest.strip_prefix('{') {
            let mut r = r;
            loop {
                if let Some(after) = r.strip_prefix('}') {
                    r = after;
                    break;
                }
                let eq = r.find('=').ok_or_else(|| err("label without `=`".into()))?;
                let lname = &r[..eq];
                if !valid_label_name(lname) {
                    return Err(err(format!("bad label name {lname:?}")));
                }
                r = r[eq + 1..]
                    .strip_prefix('"')
                    .ok_or_else(|| err("label value not quoted".into()))?;
                let mut value = String::new();
                let mut chars = r.char_indices();
                let close = loop {
                    match chars.next() {
                        None => return Err(err("label value not closed".into())),
                        Some((j, '"')) => break j,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\\')) => value.push('\\'),
                            Some((_, '"')) => value.push('"'),
                            Some((_, 'n')) => value.push('\n'),
                            other => {
                                return Err(err(format!("bad escape {other:?} in label value")));
                            }
                        },
                        Some((_, '\n')) => return Err(err("newline in label value".into())),
                        Some((_, c)) => value.push(c),
                    }
                };
                if labels.insert(lname.to_owned(), value).is_some() {
                    return Err(err(format!("label {lname} twice")));
                }
                r = &r[close + 1..];
                if let Some(after) = r.strip_prefix(',') {
                    r = after;
                } else if !r.starts_with('}') {
                    return Err(err("expected `,` or `}` after a label".into()));
                }
            }
            rest = r;
        }
        let rest = rest
            .strip_prefix(' ')
            .ok_or_else(|| err("expected one space before the value".into()))?;
        let mut fields = rest.split(' ');
        let value_s = fields.next().unwrap_or_default();
        let value = parse_value(value_s).ok_or_else(|| err(format!("bad value {value_s:?}")))?;
        if let Some(ts) = fields.next()
            && parse_value(ts).is_none()
        {
            return Err(err(format!("bad timestamp {ts:?}")));
        }
        if fields.next().is_some() {
            return Err(err("unexpected text after the value (exemplar?)".into()));
        }
        // Its family: declared by a # TYPE before it.
        let family = std::iter::once(name)
            .chain(
                [
                    "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
                ]
                .iter()
                .filter_map(|s| name.strip_suffix(s)),
            )
            .find(|f| {
                m.types.get(*f).is_some_and(|t| {
                    *f == name || suffixes(t).iter().any(|s| name == format!("{f}{s}"))
                })
            })
            .ok_or_else(|| err(format!("sample {name} has no # TYPE before it")))?
            .to_owned();
        enter(&family, &mut current)?;
        let kind = m.types[&family].as_str();
        if matches!(kind, "histogram" | "gaugehistogram") && name == family {
            return Err(err("a histogram sample without a suffix".into()));
        }
        if name.ends_with("_bucket") && matches!(kind, "histogram" | "gaugehistogram") {
            let le = labels
                .get("le")
                .ok_or_else(|| err("bucket without `le`".into()))?;
            parse_value(le).ok_or_else(|| err(format!("bad le {le:?}")))?;
        }
        if kind == "counter" && (value.is_nan() || value < 0.0) {
            return Err(err("negative or NaN counter".into()));
        }
        let key = format!("{name}{labels:?}");
        if !seen_samples.insert(key) {
            return Err(err("the same sample twice".into()));
        }
        m.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    check_histograms(&m)?;
    Ok(m)
}

/// Each histogram series: buckets cumulative in `le` order, the last `+Inf`, equal to `_count`.
fn check_histograms(m: &Metrics) -> Result<(), String> {
    for (family, kind) in &m.types {
        if kind != "histogram" {
            continue;
        }
        let bucket = format!("{family}_bucket");
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in m.samples.iter().filter(|s| s.name == bucket) {
            let mut key = s.labels.clone();
            let le = parse_value(&key.remove("le").unwrap()).unwrap();
            series
                .entry(format!("{key:?}"))
                .or_default()
                .push((le, s.value));
        }
        for (key, buckets) in series {
            if !buckets.windows(2).all(|w| w[0].0 < w[1].0) {
                return Err(format!(
                    "{family}{key}: buckets not in increasing `le` order"
                ));
            }
            if !buckets.windows(2).all(|w| w[0].1 <= w[1].1) {
                return Err(format!(
                    "{family}{key}: buckets not cumulative: {buckets:?}"
                ));
            }
            let last = buckets.last().unwrap();
            if last.0 != f64::INFINITY {
                return Err(format!("{family}{key}: no le=\"+Inf\" bucket"));
            }
            let count = m
                .samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && format!("{:?}", s.labels) == key)
                .ok_or_else(|| format!("{family}{key}: no _count"))?;
            if count.value != last.1 {
                return Err(format!(
                    "{family}{key}: _count {} != +Inf bucket {}",
                    count.value, last.1
                ));
            }
        }
    }
    Ok(())
}

impl Metrics {
    /// Samples named `name` whose labels include every one of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The one sample named `name` matching `labels`; panics if there is none or several.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = self.find(name, labels);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one sample {name}{labels:?}, found {found:?}"
        );
        found[0].value
    }

    /// Like [`Metrics::value`], `None` when there is no such sample.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.find(name, labels);
        assert!(
            found.len() <= 1,
            "several samples {name}{labels:?}: {found:?}"
        );
        found.first().map(|s| s.value)
    }
}

/// Counter `name` of the source of `pipeline`, from the daemon's `/pipelines`.
pub fn source_counter(addr: &str, pipeline: &str, name: &str) -> u64 {
    let doc = get_json(addr, "/pipelines");
    let components = doc["pipelines"][pipeline]["components"].as_array().unwrap();
    let source = components.iter().find(|c| c["role"] == "source").unwrap();
    source["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name} in {source}"))
}
