//! What `logcatch top` shows, computed from two consecutive fetches of `/pipelines`: rates
//! (the change of a counter over the time between the fetches), the rows of the pipelines'
//! and of one pipeline's components' tables, their order, and how numbers are written.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use super::doc::{Doc, Pipeline};

/// One fetch of `/pipelines`: the document and when its answer arrived.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When the answer arrived.
    pub at: Instant,
    /// The document.
    pub doc: Doc,
}

/// A row of the pipelines table.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRow {
    /// The pipeline's name.
    pub name: String,
    /// Its state.
    pub state: String,
    /// Events per second entering it (its sources'), `None` before there are two fetches.
    pub in_rate: Option<f64>,
    /// Events per second delivered (summed over its sinks).
    pub out_rate: Option<f64>,
    /// Events its filters dropped.
    pub dropped: u64,
    /// Events dead-lettered.
    pub dead_lettered: u64,
    /// Failed attempts.
    pub errors: u64,
    /// Restarts of its components.
    pub restarts: u64,
    /// Its checkpoint lag, in seconds.
    pub checkpoint_lag: f64,
    /// The last reload that touched it (RFC 3339).
    pub last_reload: Option<String>,
}

/// A row of one pipeline's components table.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentRow {
    /// Its id (`sources[0]`).
    pub id: String,
    /// Its type, or a filter's plugin name.
    pub kind: String,
    /// Its state.
    pub state: String,
    /// Events per second received.
    pub in_rate: Option<f64>,
    /// Events per second emitted or delivered.
    pub out_rate: Option<f64>,
    /// Events dropped.
    pub dropped: u64,
    /// Events dead-lettered.
    pub dead_lettered: u64,
    /// Failed attempts.
    pub errors: u64,
    /// Restarts.
    pub restarts: u64,
    /// The hash of the plugin it runs, if it runs one.
    pub plugin_hash: Option<String>,
    /// Milliseconds spent in plugin calls per second.
    pub call_ms_per_s: Option<f64>,
}

/// The order of the pipelines table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Most events per second in first (then out), ties by name.
    #[default]
    Throughput,
    /// By name.
    Name,
    /// Most errors first (then dead-lettered), ties by name.
    Errors,
}

impl SortBy {
    /// The next order (what `s` switches to).
    pub fn next(self) -> SortBy {
        match self {
            SortBy::Throughput => SortBy::Name,
            SortBy::Name => SortBy::Errors,
            SortBy::Errors => SortBy::Throughput,
        }
    }

    /// Its name on screen.
    pub fn label(self) -> &'static str {
        match self {
            SortBy::Throughput => "throughput",
            SortBy::Name => "name",
            SortBy::Errors => "errors",
        }
    }
}

/// Per second, how much a counter went from `prev` to `cur` in `elapsed`. A counter that
/// went down (its pipeline was restarted with fresh counters) is 0, as is an empty interval.
pub fn rate(prev: u64, cur: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 || cur < prev {
        return 0.0;
    }
    (cur - prev) as f64 / secs
}

/// [`rate`] of a counter of seconds (time spent in plugin calls), in milliseconds per second.
pub fn ms_per_s(prev: f64, cur: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 || cur.is_nan() || prev.is_nan() || cur < prev {
        return 0.0;
    }
    (cur - prev) * 1000.0 / secs
}

/// The time between two samples, if there are two.
fn elapsed(prev: Option<&Sample>, cur: &Sample) -> Option<Duration> {
    prev.map(|p| cur.at.saturating_duration_since(p.at))
}

/// Every pipeline of `cur`, with rates from `prev` (none without it, or for a pipeline that
/// was not in it), in the document's order (by name).
pub fn pipeline_rows(prev: Option<&Sample>, cur: &Sample) -> Vec<PipelineRow> {
    let elapsed = elapsed(prev, cur);
    cur.doc
        .pipelines
        .iter()
        .map(|(name, p)| {
            let before = prev.and_then(|s| s.doc.pipelines.get(name));
            let per_s =
                |count: fn(&Pipeline) -> u64| Some(rate(count(before?), count(p), elapsed?));
            PipelineRow {
                name: name.clone(),
                state: p.state.clone(),
                in_rate: per_s(Pipeline::events_in),
                out_rate: per_s(Pipeline::events_out),
                dropped: p.dropped(),
                dead_lettered: p.dead_lettered(),
                errors: p.errors(),
                restarts: p.restarts,
                checkpoint_lag: p.checkpoint_lag_seconds,
                last_reload: p.last_reload.clone(),
            }
        })
        .collect()
}

/// The components of pipeline `name` in `cur` (in pipeline order), with rates from `prev`;
/// `None` if `cur` has no such pipeline.
pub fn component_rows(
    prev: Option<&Sample>,
    cur: &Sample,
    name: &str,
) -> Option<Vec<ComponentRow>> {
    let elapsed = elapsed(prev, cur);
    let pipeline = cur.doc.pipelines.get(name)?;
    let before = prev.and_then(|s| s.doc.pipelines.get(name));
    let rows = pipeline
        .components
        .iter()
        .map(|c| {
            let was = before.and_then(|b| b.component(&c.id));
            let per_s = |count: fn(&super::doc::Component) -> u64| {
                Some(rate(count(was?), count(c), elapsed?))
            };
            ComponentRow {
                id: c.id.clone(),
                kind: c.kind.clone(),
                state: c.state.clone(),
                in_rate: per_s(|c| c.events_in),
                out_rate: per_s(|c| c.events_out),
                dropped: c.events_dropped,
                dead_lettered: c.dead_lettered,
                errors: c.errors,
                restarts: c.restarts,
                plugin_hash: c.plugin.as_ref().map(|p| p.hash.clone()),
                call_ms_per_s: c
                    .plugin
                    .as_ref()
                    .and_then(|_| Some(ms_per_s(was?.call_seconds, c.call_seconds, elapsed?))),
            }
        })
        .collect();
    Some(rows)
}

/// Sorts `rows` by `by`; rows that tie are ordered by name, so the table does not shuffle.
pub fn sort_rows(rows: &mut [PipelineRow], by: SortBy) {
    let desc = |a: Option<f64>, b: Option<f64>| {
        b.unwrap_or(0.0)
            .partial_cmp(&a.unwrap_or(0.0))
            .unwrap_or(Ordering::Equal)
    };
    rows.sort_by(|a, b| {
        let first = match by {
            SortBy::Throughput => {
                desc(a.in_rate, b.in_rate).then_with(|| desc(a.out_rate, b.out_rate))
            }
            SortBy::Name => Ordering::Equal,
            SortBy::Errors => b
                .errors
                .cmp(&a.errors)
                .then_with(|| b.dead_lettered.cmp(&a.dead_lettered)),
        };
        first.then_with(|| a.name.cmp(&b.name))
    });
}

/// A rate on screen: `-` when unknown, one decimal below 1000, then `12.3k`, `4.56M`.
pub fn fmt_rate(rate: Option<f64>) -> String {
    match rate {
        None => "-".into(),
        Some(r) if r < 1000.0 => format!("{r:.1}"),
        Some(r) => scaled(r),
    }
}

/// A count on screen: exact below 100 000, then `123k`, `4.56M`.
pub fn fmt_count(n: u64) -> String {
    if n < 100_000 {
        n.to_string()
    } else {
        scaled(n as f64)
    }
}

/// `x` (at least 1000) with a k, M, G or T suffix and three significant digits.
fn scaled(x: f64) -> String {
    let mut x = x;
    for suffix in ["k", "M", "G", "T"] {
        x /= 1000.0;
        if x < 999.95 || suffix == "T" {
            return match x {
                x if x < 9.995 => format!("{x:.2}{suffix}"),
                x if x < 99.95 => format!("{x:.1}{suffix}"),
                x => format!("{x:.0}{suffix}"),
            };
        }
    }
    unreachable!("the loop returns at T")
}

/// A duration in seconds on screen: `0.25s`, `12s`, `3m05s`, `2h10m`.
pub fn fmt_seconds(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    if secs < 10.0 {
        return format!("{secs:.2}s");
    }
    let whole = secs as u64;
    match whole {
        0..60 => format!("{whole}s"),
        60..3600 => format!("{}m{:02}s", whole / 60, whole % 60),
        _ => format!("{}h{:02}m", whole / 3600, whole % 3600 / 60),
    }
}

/// How long ago `rfc3339` was, as of `now`: `12s ago`, `3m ago`, `2h ago`, `4d ago`; the
/// text itself if it is not a time, and `in the future` for a clock ahead of this one.
pub fn fmt_ago(rfc3339: &str, now: std::time::SystemTime) -> String {
    let Ok(at) = humantime::parse_rfc3339(rfc3339) else {
        return rfc3339.to_string();
    };
    let Ok(ago) = now.duration_since(at) else {
        return "just now".into();
    };
    let s = ago.as_secs();
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

/// Why a fetch failed, in one line: what was asked and the root cause (`http://…: cannot
/// reach the agent's admin API: Connection refused (os error 111)`), not every layer between.
pub fn describe_error(e: &anyhow::Error) -> String {
    let first = e.to_string();
    let root = e.root_cause().to_string();
    let text = if e.chain().count() > 1 && !first.contains(&root) {
        format!("{first}: {root}")
    } else {
        first
    };
    one_line(&text)
}

/// `text` on one line: line breaks become `; `.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use serde_json::json;

    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    /// A sample at `at` with one pipeline per `(name, source events, sink events, errors)`.
    fn sample(at: Instant, pipelines: &[(&str, u64, u64, u64)]) -> Sample {
        let pipelines: serde_json::Map<String, serde_json::Value> = pipelines
            .iter()
            .map(|&(name, events, delivered, errors)| {
                let p = json!({
                    "state": "running",
                    "restarts": 0,
                    "components": [
                        {"id": "sources[0]", "role": "source", "kind": "demo",
                         "events_in": events, "events_out": events},
                        {"id": "filters[0]", "role": "filter", "kind": "f",
                         "events_in": events, "events_out": delivered,
                         "events_dropped": events - delivered,
                         "call_seconds": events as f64 / 1000.0,
                         "plugin": {"path": "f.wasm", "hash": "0123456789abcdef"}},
                        {"id": "sinks[0]", "role": "sink", "kind": "blackhole",
                         "events_in": delivered, "events_out": delivered, "errors": errors}
                    ]
                });
                (name.to_string(), p)
            })
            .collect();
        Sample {
            at,
            doc: serde_json::from_value(json!({ "pipelines": pipelines })).unwrap(),
        }
    }

    #[test]
    fn rate_is_the_change_per_second() {
        assert_eq!(rate(100, 300, 2 * SEC), 100.0);
        assert_eq!(rate(5, 5, SEC), 0.0);
        assert_eq!(rate(0, 1, Duration::from_millis(500)), 2.0);
    }

    #[test]
    fn a_counter_that_went_down_or_no_time_is_a_zero_rate() {
        assert_eq!(rate(1000, 10, SEC), 0.0);
        assert_eq!(rate(1, 10, Duration::ZERO), 0.0);
        assert_eq!(ms_per_s(2.0, 1.0, SEC), 0.0);
        assert_eq!(ms_per_s(1.0, 1.25, SEC), 250.0);
        assert_eq!(ms_per_s(f64::NAN, 1.0, SEC), 0.0);
    }

    #[test]
    fn pipeline_rows_have_rates_only_from_two_samples() {
        let t0 = Instant::now();
        let first = sample(t0, &[("a", 100, 80, 0)]);
        let rows = pipeline_rows(None, &first);
        assert_eq!(rows[0].in_rate, None);
        assert_eq!(rows[0].dropped, 20);

        let second = sample(t0 + 2 * SEC, &[("a", 300, 200, 1), ("new", 50, 50, 0)]);
        let rows = pipeline_rows(Some(&first), &second);
        assert_eq!(rows[0].name, "a");
        assert_eq!(rows[0].in_rate, Some(100.0));
        assert_eq!(rows[0].out_rate, Some(60.0));
        assert_eq!((rows[0].dropped, rows[0].errors), (100, 1));
        assert_eq!(rows[1].name, "new");
        assert_eq!(rows[1].in_rate, None, "not in the previous sample");
    }

    #[test]
    fn a_restarted_pipeline_shows_zero_not_a_negative_rate() {
        let t0 = Instant::now();
        let before = sample(t0, &[("a", 10_000, 10_000, 0)]);
        let after = sample(t0 + SEC, &[("a", 5, 5, 0)]);
        let row = &pipeline_rows(Some(&before), &after)[0];
        assert_eq!((row.in_rate, row.out_rate), (Some(0.0), Some(0.0)));
        let comps = component_rows(Some(&before), &after, "a").unwrap();
        assert!(comps.iter().all(|c| c.in_rate == Some(0.0)), "{comps:?}");
        assert_eq!(comps[1].call_ms_per_s, Some(0.0));
    }

    #[test]
    fn component_rows_keep_pipeline_order_with_their_rates() {
        let t0 = Instant::now();
        let before = sample(t0, &[("a", 100, 100, 0)]);
        let after = sample(t0 + SEC, &[("a", 600, 400, 3)]);
        let comps = component_rows(Some(&before), &after, "a").unwrap();
        let ids: Vec<&str> = comps.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["sources[0]", "filters[0]", "sinks[0]"]);
        assert_eq!(comps[0].out_rate, Some(500.0));
        assert_eq!(
            (comps[1].in_rate, comps[1].out_rate),
            (Some(500.0), Some(300.0))
        );
        assert_eq!(comps[1].dropped, 200);
        assert_eq!(comps[1].plugin_hash.as_deref(), Some("0123456789abcdef"));
        assert_eq!(comps[1].call_ms_per_s, Some(500.0));
        assert_eq!(comps[0].call_ms_per_s, None, "no plugin");
        assert_eq!(comps[2].errors, 3);
        assert!(component_rows(Some(&before), &after, "gone").is_none());
        assert_eq!(component_rows(None, &after, "a").unwrap()[0].in_rate, None);
    }

    fn row(name: &str, in_rate: Option<f64>, errors: u64) -> PipelineRow {
        PipelineRow {
            name: name.into(),
            state: "running".into(),
            in_rate,
            out_rate: in_rate,
            dropped: 0,
            dead_lettered: 0,
            errors,
            restarts: 0,
            checkpoint_lag: 0.0,
            last_reload: None,
        }
    }

    fn names(rows: &[PipelineRow]) -> Vec<&str> {
        rows.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn throughput_sort_is_busiest_first_and_ties_by_name() {
        let mut rows = vec![
            row("d", Some(5.0), 0),
            row("c", None, 9),
            row("b", Some(50.0), 0),
            row("a", Some(5.0), 1),
            row("e", Some(0.0), 0),
        ];
        sort_rows(&mut rows, SortBy::Throughput);
        assert_eq!(names(&rows), ["b", "a", "d", "c", "e"]);
        sort_rows(&mut rows, SortBy::Name);
        assert_eq!(names(&rows), ["a", "b", "c", "d", "e"]);
        sort_rows(&mut rows, SortBy::Errors);
        assert_eq!(names(&rows), ["c", "a", "b", "d", "e"]);
    }

    #[test]
    fn sort_cycles_through_three_orders() {
        let s = SortBy::default();
        assert_eq!(s, SortBy::Throughput);
        assert_eq!(s.next().next().next(), s);
        assert_eq!(
            [s.label(), s.next().label(), s.next().next().label()],
            ["throughput", "name", "errors"]
        );
    }

    #[test]
    fn numbers_are_short_on_screen() {
        assert_eq!(fmt_rate(None), "-");
        assert_eq!(fmt_rate(Some(0.0)), "0.0");
        assert_eq!(fmt_rate(Some(199.96)), "200.0");
        assert_eq!(fmt_rate(Some(1234.0)), "1.23k");
        assert_eq!(fmt_rate(Some(999_999.0)), "1.00M");
        assert_eq!(fmt_rate(Some(45_600.0)), "45.6k");
        assert_eq!(fmt_count(99_999), "99999");
        assert_eq!(fmt_count(123_456), "123k");
        assert_eq!(fmt_count(4_560_000_000), "4.56G");
        assert_eq!(fmt_count(u64::MAX), "18446744T");
        assert_eq!(fmt_seconds(0.25), "0.25s");
        assert_eq!(fmt_seconds(42.9), "42s");
        assert_eq!(fmt_seconds(185.0), "3m05s");
        assert_eq!(fmt_seconds(7800.0), "2h10m");
        assert_eq!(fmt_seconds(f64::NAN), "-");
    }

    #[test]
    fn ages_are_relative_to_now() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |secs_before: u64| {
            humantime::format_rfc3339_millis(now - Duration::from_secs(secs_before)).to_string()
        };
        assert_eq!(fmt_ago(&at(12), now), "12s ago");
        assert_eq!(fmt_ago(&at(185), now), "3m ago");
        assert_eq!(fmt_ago(&at(7300), now), "2h ago");
        assert_eq!(fmt_ago(&at(200_000), now), "2d ago");
        let ahead = humantime::format_rfc3339_millis(now + SEC).to_string();
        assert_eq!(fmt_ago(&ahead, now), "just now");
        assert_eq!(fmt_ago("yesterday", SystemTime::now()), "yesterday");
    }

    #[test]
    fn an_error_is_its_context_and_root_cause_on_one_line() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = anyhow::Error::new(io)
            .context("error sending request")
            .context("http://h:1: cannot reach the agent's admin API");
        assert_eq!(
            describe_error(&e),
            "http://h:1: cannot reach the agent's admin API: refused"
        );
        let plain = anyhow::anyhow!("http://h:1/pipelines: 401 Unauthorized: needs\na token");
        assert_eq!(
            describe_error(&plain),
            "http://h:1/pipelines: 401 Unauthorized: needs; a token"
        );
    }
}
