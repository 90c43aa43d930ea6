//! `GET /events`: the status page's live feed, as server-sent events.
//!
//! - `status`: the whole [`PipelinesDoc`], first on connect, then whenever anything but the
//!   counters changed (a pipeline added or removed, a state, an error, a reload, a swapped
//!   plugin), checked every [`FRAME_EVERY`].
//! - `counters`: every [`FRAME_EVERY`], only the numbers ([`CountersFrame`]); the page
//!   computes rates from two frames. 50 pipelines cost a few KB a second, not the whole
//!   document.
//!
//! The stream ends itself before the connection's lifetime cuts it, and the page reconnects.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;

use super::pipelines::{ComponentDoc, PipelinesDoc};
use crate::status::Status;

/// How often counters are sent and the state is checked for changes.
pub const FRAME_EVERY: Duration = Duration::from_secs(1);

/// The numbers of every pipeline at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountersFrame {
    /// When they were read (Unix milliseconds).
    pub at_ms: u64,
    /// Each pipeline's, by name.
    pub pipelines: BTreeMap<String, PipelineCounters>,
}

/// One pipeline's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineCounters {
    /// Its checkpoint lag, in seconds.
    pub lag: f64,
    /// Per component, in the order of the last `status`: events in, events out, events
    /// dropped, bytes in, bytes out, dead-lettered, errors, restarts, traps, plugin call
    /// nanoseconds.
    pub c: Vec<[u64; 10]>,
}

impl CountersFrame {
    /// The counters of `doc`, read at `at`.
    pub fn of(doc: &PipelinesDoc, at: SystemTime) -> CountersFrame {
        CountersFrame {
            at_ms: at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64,
            pipelines: doc
                .pipelines
                .iter()
                .map(|(name, p)| {
                    let c = p.components.iter().map(numbers).collect();
                    let counters = PipelineCounters {
                        lag: p.checkpoint_lag_seconds,
                        c,
                    };
                    (name.clone(), counters)
                })
                .collect(),
        }
    }
}

/// One component's numbers, in the frame's order.
fn numbers(c: &ComponentDoc) -> [u64; 10] {
    [
        c.events_in,
        c.events_out,
        c.events_dropped,
        c.bytes_in,
        c.bytes_out,
        c.dead_lettered,
        c.errors,
        c.restarts,
        c.traps,
        (c.call_seconds * 1e9).round() as u64,
    ]
}

/// `doc` without the numbers that `counters` frames carry: two documents with the same
/// shape differ only in counters.
pub fn shape(doc: &PipelinesDoc) -> String {
    let mut doc = doc.clone();
    for p in doc.pipelines.values_mut() {
        p.checkpoint_lag_seconds = 0.0;
        p.restarts = 0;
        for c in &mut p.components {
            for n in [
                &mut c.events_in,
                &mut c.events_out,
                &mut c.events_dropped,
                &mut c.bytes_in,
                &mut c.bytes_out,
                &mut c.bytes_dropped,
                &mut c.dead_lettered,
                &mut c.errors,
                &mut c.restarts,
                &mut c.traps,
            ] {
                *n = 0;
            }
            c.call_seconds = 0.0;
            c.counters.clear();
        }
    }
    serde_json::to_string(&doc).unwrap_or_default()
}

/// What the stream remembers between two frames.
struct Feed {
    status: Arc<Status>,
    tick: tokio::time::Interval,
    shape: Option<String>,
    until: Instant,
}

/// One event of the feed: its name and its data (JSON).
pub type Frame = (&'static str, String);

/// The feed for one client, ending after `lifetime`.
pub fn stream(status: Arc<Status>, lifetime: Duration) -> impl Stream<Item = Frame> {
    let mut tick = tokio::time::interval(FRAME_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        status,
        tick,
        shape: None,
        until: Instant::now() + lifetime,
    };
    let frames = futures::stream::unfold(feed, |mut feed| async move {
        feed.tick.tick().await;
        if Instant::now() >= feed.until {
            return None;
        }
        let doc = PipelinesDoc::read(&feed.status);
        let mut events = Vec::with_capacity(2);
        let now = shape(&doc);
        if feed.shape.as_ref() != Some(&now) {
            events.push(json_event("status", &doc));
            feed.shape = Some(now);
        }
        events.push(json_event(
            "counters",
            &CountersFrame::of(&doc, SystemTime::now()),
        ));
        Some((futures::stream::iter(events), feed))
    });
    futures::StreamExt::flatten(frames)
}

/// A frame named `name` whose data is `value` as JSON.
fn json_event(name: &'static str, value: &impl Serialize) -> Frame {
    (
        name,
        serde_json::to_string(value).unwrap_or_else(|_| "null".into()),
    )
}

/// The response: the stream, with a comment every 15 s to keep proxies from closing it.
pub fn response(
    status: Arc<Status>,
    lifetime: Duration,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = futures::StreamExt::map(stream(status, lifetime), |(name, data)| {
        Ok(Event::default().event(name).data(data))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use futures::StreamExt;

    use super::*;
    use crate::api::pipelines::tests::sample_status;

    #[test]
    fn a_frame_carries_every_components_numbers_in_order() {
        let (status, _dir) = sample_status();
        let doc = PipelinesDoc::read(&status);
        let frame = CountersFrame::of(&doc, UNIX_EPOCH + Duration::from_millis(5));
        assert_eq!(frame.at_ms, 5);
        let app = &frame.pipelines["app"];
        assert_eq!(app.c.len(), 3);
        let filter = &doc.pipelines["app"].components[1];
        assert_eq!(app.c[1][0], filter.events_in);
        assert_eq!(app.c[1][2], 40, "dropped");
        assert_eq!(app.c[1][9], 1_500_000_000, "call time");
    }

    #[test]
    fn counters_do_not_change_the_shape_and_a_state_does() {
        let (status, _dir) = sample_status();
        let before = shape(&PipelinesDoc::read(&status));
        let app = status.read().pipelines["app"].clone();
        Counters::add(&app.components[0].counters.events, 1000);
        Counters::add(&app.components[2].counters.restarts, 1);
        assert_eq!(shape(&PipelinesDoc::read(&status)), before);
        app.components[2]
            .counters
            .state
            .set(crate::health::ComponentState::Blocked);
        assert_ne!(shape(&PipelinesDoc::read(&status)), before);
        assert!(app.components[0].counters.events.load(Ordering::Relaxed) >= 1000);
    }

    use crate::metrics::Counters;

    #[tokio::test(start_paused = true)]
    async fn the_feed_sends_the_status_once_then_counters_and_ends_after_its_lifetime() {
        let (status, _dir) = sample_status();
        let app = status.read().pipelines["app"].clone();
        let frames: Vec<Frame> = stream(status.clone(), Duration::from_millis(3500))
            .collect()
            .await;
        let names: Vec<_> = frames.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            ["status", "counters", "counters", "counters", "counters"]
        );
        let doc: serde_json::Value = serde_json::from_str(&frames[0].1).unwrap();
        assert_eq!(
            doc["pipelines"]["app"]["components"][1]["events_dropped"],
            40
        );
        let counters: serde_json::Value = serde_json::from_str(&frames[1].1).unwrap();
        assert_eq!(counters["pipelines"]["app"]["c"][1][2], 40);
        // A state that changes brings the whole document again, at the next frame.
        let changer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            app.components[0]
                .counters
                .state
                .set(crate::health::ComponentState::Restarting);
        });
        let frames: Vec<Frame> = stream(status, Duration::from_millis(3500)).collect().await;
        changer.await.unwrap();
        let names: Vec<_> = frames.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "status", "counters", "counters", "status", "counters", "counters"
            ]
        );
        assert!(frames[3].1.contains("restarting"));
    }
}
