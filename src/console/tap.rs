//! `logcatch tap`: the events at one point of a pipeline, from an agent's `GET /tap`, as
//! JSON lines on stdout (one per event, ready for `jq`); what the stream says about itself
//! (the point watched, events skipped, why it ended) goes to stderr. A stream that ends for
//! its time limit, or because a reload restarted the pipeline, is tapped again.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use super::client::{ApiArgs, Client};

/// The longest line the tap takes from the agent (an event is cut at 16 KiB of message and
/// of each attribute; this leaves room for many attributes).
const MAX_LINE: usize = 4 << 20;

/// What to tap.
#[derive(Debug, Clone)]
pub struct TapRequest {
    /// The pipeline.
    pub pipeline: String,
    /// The point.
    pub at: String,
    /// Events to show, then stop.
    pub limit: Option<u64>,
    /// Only events whose message contains this.
    pub contains: Option<String>,
    /// Only events whose attributes equal these (`KEY=VALUE`).
    pub conditions: Vec<String>,
}

impl TapRequest {
    /// The `/tap?...` path asking for `limit` more events.
    pub fn path(&self, limit: Option<u64>) -> String {
        let mut url = reqwest::Url::parse("http://agent/tap").expect("a valid URL");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("pipeline", &self.pipeline);
            q.append_pair("at", &self.at);
            if let Some(n) = limit {
                q.append_pair("limit", &n.to_string());
            }
            if let Some(text) = &self.contains {
                q.append_pair("contains", text);
            }
            for c in &self.conditions {
                q.append_pair("where", c);
            }
        }
        format!("/tap?{}", url.query().unwrap_or_default())
    }
}

/// How one stream ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Tap again (time limit, pipeline restarted).
    Again,
    /// Done: exit 0.
    Done,
}

/// Runs the tap until its limit, the pipeline's stop or a closed stdout.
pub fn run(api: &ApiArgs, request: &TapRequest) -> ExitCode {
    for c in &request.conditions {
        if !c.contains('=') || c.starts_with('=') {
            eprintln!("--where {c}: write it KEY=VALUE (an attribute and the text it equals)");
            return ExitCode::from(2);
        }
    }
    let client = match Client::new(api) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut left = request.limit;
    loop {
        match rt.block_on(stream_once(&client, request, &mut left)) {
            Ok(Ended::Done) => return ExitCode::SUCCESS,
            Ok(Ended::Again) => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                eprintln!("{e:#}");
                return ExitCode::FAILURE;
            }
        }
    }
}

/// Reads one tap stream, printing its events; `left` counts down with a limit.
async fn stream_once(
    client: &Client,
    request: &TapRequest,
    left: &mut Option<u64>,
) -> anyhow::Result<Ended> {
    let mut stdout = std::io::stdout().lock();
    let mut ended = None;
    let mut stdout_closed = false;
    client
        .lines(&request.path(*left), MAX_LINE, |line| {
            let value: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(_) => anyhow::bail!("the agent sent a line that is not JSON: {line:.200}"),
            };
            match classify(&value) {
                Line::Header(text) => eprintln!("{text}"),
                Line::Skipped(n) => eprintln!("… {n} matching events skipped (the tap samples)"),
                Line::End(why) => {
                    ended = Some(why.to_string());
                    return Ok(false);
                }
                Line::Event => {
                    if writeln!(stdout, "{line}")
                        .and_then(|_| stdout.flush())
                        .is_err()
                    {
                        stdout_closed = true;
                        return Ok(false);
                    }
                    if let Some(n) = left {
                        *n = n.saturating_sub(1);
                    }
                }
            }
            Ok(true)
        })
        .await?;
    if stdout_closed {
        return Ok(Ended::Done);
    }
    let why = ended.unwrap_or_else(|| "the agent closed the stream".into());
    Ok(match why.as_str() {
        "limit reached" | "pipeline stopped" => {
            eprintln!("tap ended: {why}");
            Ended::Done
        }
        "pipeline restarted" => {
            eprintln!("the pipeline was restarted by a reload; tapping the new one");
            Ended::Again
        }
        _ => Ended::Again,
    })
}

/// What one line of a tap stream is.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    /// The first line, as a sentence.
    Header(String),
    /// Events skipped.
    Skipped(u64),
    /// The end, with why.
    End(&'a str),
    /// An event.
    Event,
}

/// Tells the kinds of line apart.
fn classify(value: &serde_json::Value) -> Line<'_> {
    if let Some(tap) = value.get("tap") {
        let field = |k: &str| {
            tap.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_string()
        };
        return Line::Header(format!(
            "tapping pipeline `{}` at {} (points: {})",
            field("pipeline"),
            field("at"),
            tap.get("points")
                .and_then(|p| p.as_array())
                .map(|p| p
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        ));
    }
    if let Some(n) = value.get("skipped").and_then(|v| v.as_u64()) {
        return Line::Skipped(n);
    }
    if let Some(why) = value.get("end").and_then(|v| v.as_str()) {
        return Line::End(why);
    }
    Line::Event
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_path_encodes_every_part() {
        let r = TapRequest {
            pipeline: "web app".into(),
            at: "filters[0]".into(),
            limit: None,
            contains: Some("a&b=c".into()),
            conditions: vec!["level=ERROR".into()],
        };
        assert_eq!(
            r.path(Some(7)),
            "/tap?pipeline=web+app&at=filters%5B0%5D&limit=7&contains=a%26b%3Dc&where=level%3DERROR"
        );
    }

    #[test]
    fn lines_are_told_apart() {
        let header =
            json!({"tap": {"pipeline": "p", "at": "sinks", "points": ["source", "sinks"]}});
        assert_eq!(
            classify(&header),
            Line::Header("tapping pipeline `p` at sinks (points: source, sinks)".into())
        );
        assert_eq!(classify(&json!({"skipped": 3})), Line::Skipped(3));
        assert_eq!(
            classify(&json!({"end": "time limit"})),
            Line::End("time limit")
        );
        assert_eq!(
            classify(&json!({"message": "x", "skipped": "no"})),
            Line::Event
        );
    }
}
