//! `GET /tap?pipeline=NAME&at=POINT&limit=N&contains=TEXT&where=KEY=VALUE`: the events at
//! one point of a pipeline, as newline-delimited JSON, sampled by [`crate::tap`].
//!
//! ```text
//! {"tap":{"pipeline":"app","at":"filters[0]","points":["source","filters[0]","sinks"]}}
//! {"at":"filters[0]","message":"DEBUG x","source":"/var/log/a.log","offset":120,"timestamp":"...","attributes":{},"verdict":"dropped"}
//! {"skipped":310}
//! {"end":"limit reached"}
//! ```
//! `end` is `limit reached`, `pipeline stopped`, `pipeline restarted` (a reload changed
//! it: tap again) or `time limit` (the stream ends before the connection's lifetime does).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::status::Status;
use crate::tap::{Chunk, Condition, Tap, TapEvent, Value, Verdict, Watch};

/// How long a tap whose pipeline stopped waits for it to start again (a reload that
/// changed it) before it ends with `pipeline stopped`.
pub const RESTART_WAIT: Duration = Duration::from_secs(3);

/// The query keys `GET /tap` takes.
pub const KEYS: [&str; 5] = ["pipeline", "at", "limit", "contains", "where"];

/// A tap request, read from the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapQuery {
    /// The pipeline.
    pub pipeline: String,
    /// The point (`source` when not given).
    pub at: String,
    /// Events to show before the stream ends.
    pub limit: Option<u64>,
    /// Which events.
    pub condition: Condition,
}

impl TapQuery {
    /// Reads the query's `pairs`; the error says what is wrong with it.
    pub fn parse(pairs: &[(String, String)]) -> Result<TapQuery, String> {
        let mut query = TapQuery {
            pipeline: String::new(),
            at: "source".into(),
            limit: None,
            condition: Condition::default(),
        };
        for (key, value) in pairs {
            match key.as_str() {
                "pipeline" => query.pipeline = value.clone(),
                "at" => query.at = value.clone(),
                "limit" => {
                    let n = value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            format!("limit `{value}`: give a number of events, at least 1")
                        })?;
                    query.limit = Some(n);
                }
                "contains" => {
                    query.condition.contains = Some(value.clone()).filter(|v| !v.is_empty())
                }
                "where" => {
                    let (k, v) = value
                        .split_once('=')
                        .filter(|(k, _)| !k.is_empty())
                        .ok_or_else(|| format!("where `{value}`: write it KEY=VALUE (an attribute and the text it equals)"))?;
                    query.condition.equals.push((k.to_string(), v.to_string()));
                }
                other => {
                    return Err(format!(
                        "unknown query key `{other}`; keys: {}",
                        KEYS.join(", ")
                    ));
                }
            }
        }
        if query.pipeline.is_empty() {
            return Err("name the pipeline: /tap?pipeline=NAME".into());
        }
        Ok(query)
    }
}

/// The first line of a tap stream.
#[derive(Serialize)]
struct Header<'a> {
    tap: HeaderBody<'a>,
}

#[derive(Serialize)]
struct HeaderBody<'a> {
    pipeline: &'a str,
    at: &'a str,
    points: Vec<String>,
}

/// Why the stream ended.
#[derive(Serialize)]
struct End {
    end: &'static str,
}

/// A skipped count.
#[derive(Serialize)]
struct Skipped {
    skipped: u64,
}

/// Starts a tap of `query` on the pipelines of `status`: the streaming response, or an
/// error (404 no such pipeline, 409 not running, 400 no such point) as `(code, message)`.
pub fn start(
    status: &Arc<Status>,
    query: TapQuery,
    lifetime: Duration,
) -> Result<Response, (StatusCode, String)> {
    let tap = {
        let state = status.read();
        let Some(p) = state.pipelines.get(&query.pipeline) else {
            let names: Vec<_> = state.pipelines.keys().map(String::as_str).collect();
            return Err((
                StatusCode::NOT_FOUND,
                format!(
                    "no pipeline `{}`; pipelines: {}",
                    query.pipeline,
                    names.join(", ")
                ),
            ));
        };
        p.tap.clone().ok_or_else(|| {
            (
                StatusCode::CONFLICT,
                format!(
                    "pipeline `{}` is not running: {}",
                    query.pipeline,
                    p.latest_error().unwrap_or_default()
                ),
            )
        })?
    };
    let index = tap.point(&query.at).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("pipeline `{}`: {e}", query.pipeline),
        )
    })?;
    let at = tap.points()[index].clone();
    let header = line(&Header {
        tap: HeaderBody {
            pipeline: &query.pipeline,
            at: &at,
            points: tap.points(),
        },
    });
    let watch = tap.watch(index, query.condition.clone());
    let stream = Stream {
        status: status.clone(),
        pipeline: query.pipeline,
        tap: Arc::downgrade(&tap),
        at,
        left: query.limit,
        watch: Some(watch),
        deadline: tokio::time::Instant::now() + lifetime,
    };
    drop(tap);
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body(header, stream)),
    )
        .into_response())
}

/// The state of one tap stream.
struct Stream {
    status: Arc<Status>,
    pipeline: String,
    /// The tap watched (to tell a stop from a restart).
    tap: std::sync::Weak<Tap>,
    at: String,
    /// Events still to show, with a limit.
    left: Option<u64>,
    /// `None` once the stream has ended.
    watch: Option<Watch>,
    deadline: tokio::time::Instant,
}

impl Stream {
    /// The next lines, or `None` after the end line.
    async fn next(&mut self) -> Option<Bytes> {
        let watch = self.watch.as_mut()?;
        let chunk = tokio::select! {
            chunk = watch.next() => chunk,
            _ = tokio::time::sleep_until(self.deadline) => return Some(self.end("time limit")),
        };
        let Some(chunk) = chunk else {
            let why = if self.restarted().await {
                "pipeline restarted"
            } else {
                "pipeline stopped"
            };
            return Some(self.end(why));
        };
        Some(self.lines(chunk))
    }

    /// Whether the pipeline, whose tap has just let go, runs again under a new tap: a
    /// changed pipeline drains and stops before its new incarnation starts, so this waits
    /// up to [`RESTART_WAIT`] for it.
    async fn restarted(&self) -> bool {
        let until = tokio::time::Instant::now() + RESTART_WAIT;
        loop {
            let again = {
                let state = self.status.read();
                let now = state
                    .pipelines
                    .get(&self.pipeline)
                    .and_then(|p| p.tap.clone());
                now.is_some_and(|t| self.tap.upgrade().is_none_or(|old| !Arc::ptr_eq(&old, &t)))
            };
            if again || tokio::time::Instant::now() >= until {
                return again;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The lines of `chunk`, up to the limit (then the end line).
    fn lines(&mut self, chunk: Chunk) -> Bytes {
        let mut out = Vec::new();
        if chunk.skipped > 0 {
            out.extend_from_slice(&line(&Skipped {
                skipped: chunk.skipped,
            }));
        }
        for event in &chunk.events {
            if self.left == Some(0) {
                break;
            }
            out.extend_from_slice(&line(&event_json(&self.at, event)));
            if let Some(left) = &mut self.left {
                *left -= 1;
            }
        }
        if self.left == Some(0) {
            out.extend_from_slice(&self.end("limit reached"));
        }
        Bytes::from(out)
    }

    /// The end line; the watch stops.
    fn end(&mut self, why: &'static str) -> Bytes {
        self.watch = None;
        line(&End { end: why })
    }
}

/// The response body: `header`, then the stream's lines until its end line.
fn body(
    header: Bytes,
    lines: Stream,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    let rest = futures::stream::unfold(lines, |mut s| async move {
        let bytes = s.next().await?;
        Some((Ok(bytes), s))
    });
    futures::StreamExt::chain(futures::stream::iter([Ok(header)]), rest)
}

/// `value` as one JSON line.
fn line(value: &impl Serialize) -> Bytes {
    let mut v = serde_json::to_vec(value).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// One tapped event as JSON.
pub fn event_json(at: &str, e: &TapEvent) -> Json {
    let mut m = Map::new();
    m.insert("at".into(), at.into());
    m.insert("message".into(), e.message.clone().into());
    m.insert("source".into(), e.source.clone().into());
    m.insert("offset".into(), e.offset.into());
    let ts = UNIX_EPOCH + Duration::from_nanos(e.timestamp_ns);
    m.insert(
        "timestamp".into(),
        humantime::format_rfc3339_micros(ts).to_string().into(),
    );
    m.insert("attributes".into(), attributes(&e.attributes));
    match &e.verdict {
        None => {}
        Some(Verdict::Kept) => {
            m.insert("verdict".into(), "kept".into());
        }
        Some(Verdict::Dropped) => {
            m.insert("verdict".into(), "dropped".into());
        }
        Some(Verdict::Changed {
            message,
            attributes: attrs,
        }) => {
            m.insert("verdict".into(), "changed".into());
            let mut out = Map::new();
            out.insert("message".into(), message.clone().into());
            out.insert("attributes".into(), attributes(attrs));
            m.insert("output".into(), Json::Object(out));
        }
    }
    Json::Object(m)
}

/// Attributes as a JSON object (a key that repeats keeps its last value).
fn attributes(attrs: &[(String, Value)]) -> Json {
    Json::Object(
        attrs
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Text(t) => Json::from(t.clone()),
                    Value::Int(i) => Json::from(*i),
                    Value::Float(f) => Json::from(*f),
                    Value::Bool(b) => Json::from(*b),
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_query_is_read_with_every_key_and_refused_with_a_reason() {
        let q = TapQuery::parse(&pairs(&[
            ("pipeline", "app"),
            ("at", "filters[0]"),
            ("limit", "5"),
            ("contains", "disk"),
            ("where", "level=ERROR"),
            ("where", "host=a=b"),
        ]))
        .unwrap();
        assert_eq!(q.pipeline, "app");
        assert_eq!(q.at, "filters[0]");
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.condition.contains.as_deref(), Some("disk"));
        assert_eq!(
            q.condition.equals,
            [
                ("level".into(), "ERROR".into()),
                ("host".into(), "a=b".into())
            ]
        );
        let at = TapQuery::parse(&pairs(&[("pipeline", "app")])).unwrap().at;
        assert_eq!(at, "source");
        for (query, error) in [
            (vec![], "name the pipeline"),
            (vec![("pipeline", "a"), ("limit", "0")], "limit `0`"),
            (vec![("pipeline", "a"), ("limit", "x")], "limit `x`"),
            (vec![("pipeline", "a"), ("where", "level")], "where `level`"),
            (vec![("pipeline", "a"), ("where", "=x")], "where `=x`"),
            (
                vec![("pipeline", "a"), ("token", "x")],
                "unknown query key `token`",
            ),
        ] {
            let err = TapQuery::parse(&pairs(&query)).unwrap_err();
            assert!(err.contains(error), "{err}");
        }
    }

    #[test]
    fn an_event_is_shown_with_its_verdict_and_output() {
        let e = TapEvent {
            message: "WARN 10.0.0.1".into(),
            source: "/var/log/a.log".into(),
            offset: 42,
            timestamp_ns: 1_700_000_000_000_000_000,
            attributes: vec![
                ("n".into(), Value::Int(3)),
                ("ok".into(), Value::Bool(true)),
            ],
            verdict: Some(Verdict::Changed {
                message: "WARN [REDACTED]".into(),
                attributes: vec![],
            }),
        };
        assert_eq!(
            event_json("filters[0]", &e),
            serde_json::json!({
                "at": "filters[0]", "message": "WARN 10.0.0.1", "source": "/var/log/a.log",
                "offset": 42, "timestamp": "2023-11-14T22:13:20.000000Z",
                "attributes": {"n": 3, "ok": true}, "verdict": "changed",
                "output": {"message": "WARN [REDACTED]", "attributes": {}}
            })
        );
    }
}
