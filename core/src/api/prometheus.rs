//! `GET /metrics`: the Prometheus text exposition (format 0.0.4) of the daemon's status.
//!
//! One [`Collector`] reads the shared [`Status`] and the components' atomic counters at scrape
//! time, so counting an event costs the pipelines nothing beyond their own atomics. Counter
//! families are described without their `_total` suffix: the encoder appends it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, MetricEncoder,
    NoLabelSet, prometheus_text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::pipelines::ComponentDoc;
use crate::ComponentId;
use crate::metrics::{COUNTERS, Counters, Export};
use crate::status::Status;

/// The `Content-Type` of the exposition: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Renders the daemon's metrics; built once, rendered on every scrape.
#[derive(Debug)]
pub struct Exporter {
    registry: Registry,
}

impl Exporter {
    /// An exporter of `status`.
    pub fn new(status: Arc<Status>) -> Exporter {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(StatusCollector { status }));
        Exporter { registry }
    }

    /// The exposition text as of now.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Reads [`Status`] on each scrape.
#[derive(Debug)]
struct StatusCollector {
    status: Arc<Status>,
}

/// One component as of the scrape: its mapped counters and, for sinks, its latency histogram.
struct ComponentRow {
    pipeline: String,
    doc: ComponentDoc,
    counters: Arc<Counters>,
}

/// What one scrape reads under the status lock, encoded after it is released.
struct Scrape {
    components: Vec<ComponentRow>,
    /// (pipeline, source id, lag).
    lags: Vec<(String, String, Duration)>,
    /// (pipeline, state).
    pipelines: Vec<(String, &'static str)>,
}

impl Scrape {
    /// Copies everything the exposition needs from `status`.
    fn read(status: &Status) -> Scrape {
        let state = status.read();
        let mut scrape = Scrape {
            components: Vec::new(),
            lags: Vec::new(),
            pipelines: Vec::new(),
        };
        for (name, p) in &state.pipelines {
            scrape.pipelines.push((name.clone(), p.shown_state()));
            for (i, ledger) in p.ledgers.iter().enumerate() {
                scrape.lags.push((
                    name.clone(),
                    ComponentId::source(i).to_string(),
                    ledger.lag(),
                ));
            }
            for c in &p.components {
                scrape.components.push(ComponentRow {
                    pipeline: name.clone(),
                    doc: ComponentDoc::from_status(c),
                    counters: c.counters.clone(),
                });
            }
        }
        scrape
    }
}

/// A flow family over components: its name (without `_total`), help and value. The flow
/// counters ([`Export::Flow`]) are exported only through these, mapped by role.
type FlowFamily = (&'static str, &'static str, fn(&ComponentDoc) -> u64);

/// What went in, out and was dropped, for every component.
const FLOW_FAMILIES: [FlowFamily; 6] = [
    ("logcatch_events_in", "Events received.", |d| d.events_in),
    (
        "logcatch_events_out",
        "Events emitted (sources, filters) or delivered (sinks).",
        |d| d.events_out,
    ),
    ("logcatch_events_dropped", "Events a filter dropped.", |d| {
        d.events_dropped
    }),
    ("logcatch_bytes_in", "Message bytes received.", |d| {
        d.bytes_in
    }),
    (
        "logcatch_bytes_out",
        "Message bytes emitted or delivered.",
        |d| d.bytes_out,
    ),
    (
        "logcatch_bytes_dropped",
        "Message bytes a filter dropped.",
        |d| d.bytes_dropped,
    ),
];

impl Collector for StatusCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let scrape = Scrape::read(&self.status);
        encode_components(&mut encoder, &scrape)?;
        encode_pipelines(&mut encoder, &scrape)?;
        encode_daemon(&mut encoder, &self.status)
    }
}

/// The per-component families: the flow families, every other counter of [`COUNTERS`] for
/// the components it applies to, latency for sinks.
fn encode_components(e: &mut DescriptorEncoder, scrape: &Scrape) -> Result<(), std::fmt::Error> {
    let rows = &scrape.components;
    for (name, help, value) in FLOW_FAMILIES {
        let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
        for row in rows {
            counter(&mut family, &labels(row), &value(&row.doc))?;
        }
    }
    for c in COUNTERS {
        let (name, seconds) = match c.export {
            Export::Flow => continue,
            Export::Count(name) => (name, false),
            Export::Seconds(name) => (name, true),
        };
        let mut family = e.encode_descriptor(name, c.help, None, MetricType::Counter)?;
        for row in rows {
            let Some(&n) = row.doc.counters.get(c.key) else {
                continue;
            };
            if seconds {
                counter(
                    &mut family,
                    &labels(row),
                    &Duration::from_nanos(n).as_secs_f64(),
                )?;
            } else {
                counter(&mut family, &labels(row), &n)?;
            }
        }
    }
    let mut family = e.encode_descriptor(
        "logcatch_batch_latency_seconds",
        "Time from a batch's cut at its source to its delivery by a sink.",
        None,
        MetricType::Histogram,
    )?;
    for row in rows.iter().filter(|r| r.doc.role == "sink") {
        let (buckets, count, sum) = per_bucket(&row.counters);
        family
            .encode_family(&labels(row))?
            .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
    }
    Ok(())
}

/// The per-pipeline gauges: checkpoint lag per source, and one `up` series per pipeline.
fn encode_pipelines(e: &mut DescriptorEncoder, scrape: &Scrape) -> Result<(), std::fmt::Error> {
    let mut family = e.encode_descriptor(
        "logcatch_checkpoint_lag_seconds",
        "How long a source's acknowledged progress has waited to be written.",
        None,
        MetricType::Gauge,
    )?;
    for (pipeline, source, lag) in &scrape.lags {
        let labels = [("pipeline", pipeline.as_str()), ("source", source.as_str())];
        gauge(&mut family, &labels, &lag.as_secs_f64())?;
    }
    let mut family = e.encode_descriptor(
        "logcatch_pipeline_up",
        "1 for each pipeline, labelled with its state (running, blocked, restarting, failed, stopping).",
        None,
        MetricType::Gauge,
    )?;
    for (pipeline, state) in &scrape.pipelines {
        let labels = [("pipeline", pipeline.as_str()), ("state", *state)];
        gauge(&mut family, &labels, &1u64)?;
    }
    Ok(())
}

/// The daemon-wide families: reloads, plugin swaps, uptime.
fn encode_daemon(e: &mut DescriptorEncoder, status: &Status) -> Result<(), std::fmt::Error> {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let families = [
        (
            "logcatch_reloads",
            "Config reloads by outcome (refused: invalid, the running config stayed).",
            [
                ("applied", load(&status.reloads_applied)),
                ("refused", load(&status.reloads_refused)),
            ],
        ),
        (
            "logcatch_plugin_swaps",
            "Plugin files swapped in while running, by outcome (failed: the old one kept running).",
            [
                ("applied", load(&status.swaps_applied)),
                ("failed", load(&status.swaps_failed)),
            ],
        ),
    ];
    for (name, help, outcomes) in families {
        let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (outcome, value) in outcomes {
            counter(&mut family, &[("outcome", outcome)], &value)?;
        }
    }
    let uptime = SystemTime::now()
        .duration_since(status.started_at)
        .unwrap_or_default();
    e.encode_descriptor(
        "logcatch_uptime_seconds",
        "Seconds since the daemon started.",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&uptime.as_secs_f64())
}

/// The `pipeline`, `component` and `kind` labels of a component's series.
fn labels(row: &ComponentRow) -> [(&'static str, &str); 3] {
    [
        ("pipeline", row.pipeline.as_str()),
        ("component", row.doc.id.as_str()),
        ("kind", row.doc.kind.as_str()),
    ]
}

/// One counter sample of `family` with `labels`.
fn counter(
    family: &mut MetricEncoder,
    labels: &impl EncodeLabelSet,
    value: &impl EncodeCounterValue,
) -> Result<(), std::fmt::Error> {
    family
        .encode_family(labels)?
        .encode_counter::<NoLabelSet, _, u64>(value, None)
}

/// One gauge sample of `family` with `labels`.
fn gauge(
    family: &mut MetricEncoder,
    labels: &impl EncodeLabelSet,
    value: &impl EncodeGaugeValue,
) -> Result<(), std::fmt::Error> {
    family.encode_family(labels)?.encode_gauge(value)
}

/// A sink's latency histogram as the encoder wants it: per-bucket (not cumulative) counts,
/// the overflow bucket last under `+Inf` (the encoder accumulates them again), total and sum.
fn per_bucket(counters: &Counters) -> (Vec<(f64, u64)>, u64, f64) {
    let (cumulative, count, sum) = counters.latency.cumulative();
    let mut previous = 0;
    let mut buckets: Vec<(f64, u64)> = cumulative
        .into_iter()
        .map(|(le, acc)| {
            let n = acc - previous;
            previous = acc;
            (le, n)
        })
        .collect();
    buckets.push((f64::INFINITY, count - previous));
    (buckets, count, sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::pipelines::tests::sample_status;
    use crate::status::ComponentStatus;

    /// The sample lines of `family` (exact name, then `{` or a space).
    fn samples<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| {
                l.strip_prefix(family)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .collect()
    }

    /// The value of the one sample `name{labels}`.
    fn value(text: &str, series: &str) -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no series {series} in:\n{text}"));
        line[series.len() + 1..].parse().unwrap()
    }

    #[test]
    fn every_family_is_described_with_its_exact_name() {
        let (status, _dir) = sample_status();
        let text = Exporter::new(status).render().unwrap();
        let families = [
            ("logcatch_events_in_total", "counter"),
            ("logcatch_events_out_total", "counter"),
            ("logcatch_events_dropped_total", "counter"),
            ("logcatch_bytes_in_total", "counter"),
            ("logcatch_bytes_out_total", "counter"),
            ("logcatch_bytes_dropped_total", "counter"),
            ("logcatch_dead_lettered_total", "counter"),
            ("logcatch_component_errors_total", "counter"),
            ("logcatch_component_restarts_total", "counter"),
            ("logcatch_batches_total", "counter"),
            ("logcatch_lines_split_total", "counter"),
            ("logcatch_invalid_utf8_total", "counter"),
            ("logcatch_files_closed_total", "counter"),
            ("logcatch_multiline_events_total", "counter"),
            ("logcatch_copies_read_total", "counter"),
            ("logcatch_lost_in_rotation_bytes_total", "counter"),
            ("logcatch_plugin_call_seconds_total", "counter"),
            ("logcatch_plugin_traps_total", "counter"),
            ("logcatch_batch_latency_seconds", "histogram"),
            ("logcatch_checkpoint_lag_seconds", "gauge"),
            ("logcatch_pipeline_up", "gauge"),
            ("logcatch_reloads_total", "counter"),
            ("logcatch_plugin_swaps_total", "counter"),
            ("logcatch_uptime_seconds", "gauge"),
        ];
        for (name, kind) in families {
            assert!(
                text.contains(&format!("\n# TYPE {name} {kind}\n")),
                "{name} {kind} missing in:\n{text}"
            );
        }
        let described = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(described, families.len(), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
    }

    #[test]
    fn component_counters_map_in_out_and_dropped_by_role() {
        let (status, _dir) = sample_status();
        let text = Exporter::new(status).render().unwrap();
        let src = r#"{pipeline="app",component="sources[0]",kind="file"}"#;
        let flt = r#"{pipeline="app",component="filters[0]",kind="drop_debug"}"#;
        let snk = r#"{pipeline="app",component="sinks[0]",kind="stdout"}"#;
        let expect = [
            ("logcatch_events_in_total", [100.0, 100.0, 59.0]),
            ("logcatch_events_out_total", [100.0, 60.0, 59.0]),
            ("logcatch_events_dropped_total", [0.0, 40.0, 0.0]),
            ("logcatch_bytes_in_total", [5000.0, 5000.0, 2950.0]),
            ("logcatch_bytes_out_total", [5000.0, 3000.0, 2950.0]),
            ("logcatch_bytes_dropped_total", [0.0, 2000.0, 0.0]),
            ("logcatch_component_errors_total", [0.0, 0.0, 4.0]),
            ("logcatch_component_restarts_total", [2.0, 0.0, 0.0]),
        ];
        for (name, [s, f, k]) in expect {
            assert_eq!(samples(&text, name).len(), 3, "{name}");
            assert_eq!(value(&text, &format!("{name}{src}")), s, "{name}");
            assert_eq!(value(&text, &format!("{name}{flt}")), f, "{name}");
            assert_eq!(value(&text, &format!("{name}{snk}")), k, "{name}");
        }
        // Dead letters: filters and sinks.
        assert_eq!(samples(&text, "logcatch_dead_lettered_total").len(), 2);
        assert_eq!(
            value(&text, &format!("logcatch_dead_lettered_total{flt}")),
            1.0
        );
        // Source counters: sources only.
        for name in [
            "logcatch_lines_split_total",
            "logcatch_invalid_utf8_total",
            "logcatch_files_closed_total",
            "logcatch_multiline_events_total",
            "logcatch_copies_read_total",
            "logcatch_lost_in_rotation_bytes_total",
        ] {
            assert_eq!(samples(&text, name).len(), 1, "{name}");
        }
        assert_eq!(
            value(&text, &format!("logcatch_files_closed_total{src}")),
            7.0
        );
        // Plugin counters: filters (and WebAssembly sinks, below) only.
        assert_eq!(
            samples(&text, "logcatch_plugin_call_seconds_total").len(),
            1
        );
        assert_eq!(
            value(&text, &format!("logcatch_plugin_call_seconds_total{flt}")),
            1.5
        );
        assert_eq!(samples(&text, "logcatch_plugin_traps_total").len(), 1);
        assert_eq!(
            value(&text, &format!("logcatch_plugin_traps_total{flt}")),
            3.0
        );
    }

    #[test]
    fn a_wasm_sinks_plugin_counters_are_exported() {
        let (status, _dir) = sample_status();
        let sink = ComponentStatus {
            id: ComponentId::sink(1),
            kind: "wasm:my_sink".into(),
            counters: Arc::new(Counters::default()),
            plugin: None,
        };
        Counters::add(&sink.counters.traps, 2);
        Counters::add(&sink.counters.call_ns, 250_000_000);
        let app = status.read().pipelines["app"].clone();
        let mut app = app;
        app.components.push(sink);
        status.write().pipelines.insert("app".into(), app);
        let text = Exporter::new(status).render().unwrap();
        let wasm = r#"{pipeline="app",component="sinks[1]",kind="wasm:my_sink"}"#;
        assert_eq!(samples(&text, "logcatch_plugin_traps_total").len(), 2);
        assert_eq!(
            value(&text, &format!("logcatch_plugin_traps_total{wasm}")),
            2.0
        );
        assert_eq!(
            value(&text, &format!("logcatch_plugin_call_seconds_total{wasm}")),
            0.25
        );
    }

    #[test]
    fn sink_latency_histogram_is_cumulative_with_inf() {
        let (status, _dir) = sample_status();
        let text = Exporter::new(status).render().unwrap();
        let buckets = samples(&text, "logcatch_batch_latency_seconds_bucket");
        // 12 bounds plus +Inf, for the one sink only.
        assert_eq!(buckets.len(), 13, "{text}");
        assert!(
            buckets
                .iter()
                .all(|l| l.contains(r#"component="sinks[0]""#))
        );
        let le = |bound: &str| {
            value(
                &text,
                &format!(
                    r#"logcatch_batch_latency_seconds_bucket{{pipeline="app",component="sinks[0]",kind="stdout",le="{bound}"}}"#
                ),
            )
        };
        assert_eq!(le("0.001"), 1.0);
        assert_eq!(le("0.0025"), 1.0);
        assert_eq!(le("0.005"), 2.0);
        assert_eq!(le("10"), 2.0);
        assert_eq!(le("+Inf"), 3.0);
        let counts: Vec<f64> = buckets
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        let snk = r#"{pipeline="app",component="sinks[0]",kind="stdout"}"#;
        assert_eq!(
            value(&text, &format!("logcatch_batch_latency_seconds_count{snk}")),
            3.0
        );
        let sum = value(&text, &format!("logcatch_batch_latency_seconds_sum{snk}"));
        assert!((sum - 60.0035).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn pipeline_and_daemon_gauges_and_counters() {
        let (status, _dir) = sample_status();
        Status::count(&status.reloads_applied);
        Status::count(&status.reloads_applied);
        let text = Exporter::new(status).render().unwrap();
        let lag = value(
            &text,
            r#"logcatch_checkpoint_lag_seconds{pipeline="app",source="sources[0]"}"#,
        );
        assert!(lag >= 0.0);
        assert_eq!(
            value(
                &text,
                r#"logcatch_pipeline_up{pipeline="app",state="running"}"#
            ),
            1.0
        );
        assert_eq!(
            value(&text, r#"logcatch_reloads_total{outcome="applied"}"#),
            2.0
        );
        assert_eq!(
            value(&text, r#"logcatch_reloads_total{outcome="refused"}"#),
            1.0
        );
        assert_eq!(
            value(&text, r#"logcatch_plugin_swaps_total{outcome="applied"}"#),
            0.0
        );
        assert_eq!(
            value(&text, r#"logcatch_plugin_swaps_total{outcome="failed"}"#),
            1.0
        );
        assert!(value(&text, "logcatch_uptime_seconds") >= 0.0);
    }

    #[test]
    fn no_pipelines_still_describes_every_family() {
        let text = Exporter::new(Status::new(None)).render().unwrap();
        assert!(text.contains("# TYPE logcatch_events_in_total counter\n"));
        assert!(samples(&text, "logcatch_events_in_total").is_empty());
        assert_eq!(samples(&text, "logcatch_reloads_total").len(), 2);
    }
}
