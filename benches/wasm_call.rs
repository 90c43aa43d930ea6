//! Micro-benchmark of the WASM call itself: events/s through one filter call per batch, for
//! batch sizes 64 to 4096, with 0 and 4 attributes per event, on lines with random levels.
//! Run: `cargo bench --bench wasm_call` (builds the guests first). Figures depend on the machine: compare rows of one
//! run with each other, not with another machine's.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use logcatch_core::ack::Ack;
use logcatch_core::batch::{AttrValue, Batch, BatchBuilder};
use logcatch_core::config::LimitsConfig;
use logcatch_core::wasm::{PluginSpec, WasmFilter};

fn guest(name: &str) -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(repo.join("scripts/build-guests"))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run scripts/build-guests");
    assert!(status.success(), "scripts/build-guests failed");
    repo.join("target/guests/wasm32-wasip2/release")
        .join(format!("{name}.wasm"))
}

/// A batch of `events` lines like `bench/gen.py`'s, levels drawn at random (30% DEBUG, 45%
/// INFO, 15% WARN, 10% ERROR) from `seed`: a filter's branches on them are as unpredictable
/// as on real logs (a repeating pattern would let the CPU learn them and flatter the figures).
fn batch(events: usize, attrs: usize, seed: u64) -> Batch {
    let mut b = BatchBuilder::with_capacity(events, events * 110);
    let src = b.source("/var/log/app.log");
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in 0..events {
        // xorshift64: deterministic, so every run measures the same lines.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let level = match rng % 100 {
            0..30 => "DEBUG",
            30..75 => "INFO ",
            75..90 => "WARN ",
            _ => "ERROR",
        };
        b.push_with(src, i as u64 * 100, 0, |s| {
            use std::fmt::Write;
            let _ = write!(s, "2026-11-25T08:00:00.000Z {level} checkout-api request completed path=/api/orders/{i} status=200");
        });
        for a in 0..attrs {
            match a {
                0 => b.attr("host", AttrValue::Text("web-1")),
                1 => b.attr("status", AttrValue::Int(200)),
                2 => b.attr("ratio", AttrValue::Float(0.25)),
                _ => b.attr("cached", AttrValue::Bool(true)),
            }
        }
    }
    b.finish(Ack::none())
}

/// Distinct batches each measurement cycles through (about 7 MB of lines at 1024 events):
/// the data comes from memory as in a pipeline, not from a cache it was just read into.
const BATCHES: usize = 64;

fn main() {
    let cache = tempfile::tempdir().unwrap();
    let plugins = [("noop", "{}"), ("drop_debug", r#"{"levels":["DEBUG"]}"#)];
    println!(
        "{:<11} {:>6} {:>5} {:>12} {:>9} {:>10}",
        "plugin", "batch", "attrs", "events/s", "ns/event", "us/call"
    );
    for (name, config) in plugins {
        let spec = PluginSpec {
            path: guest(name),
            embedded: None,
            config_json: config.to_owned(),
            limits: LimitsConfig::default(),
            allow_hosts: std::sync::Arc::new([]),
        };
        let filter = WasmFilter::load(spec, cache.path()).unwrap_or_else(|e| panic!("{e}"));
        let mut instance = filter.instantiate().unwrap_or_else(|e| panic!("{e}"));
        for attrs in [0, 4] {
            for size in [64, 256, 1024, 4096] {
                let batches: Vec<Batch> = (0..BATCHES as u64)
                    .map(|seed| batch(size, attrs, seed))
                    .collect();
                let mut next = batches.iter().cycle();
                // Warm up, then run for about half a second.
                for b in next.by_ref().take(BATCHES) {
                    filter.process(&mut instance, b).unwrap();
                }
                let (mut calls, started) = (0u64, Instant::now());
                while started.elapsed() < Duration::from_millis(500) {
                    for b in next.by_ref().take(10) {
                        std::hint::black_box(filter.process(&mut instance, b).unwrap());
                    }
                    calls += 10;
                }
                let secs = started.elapsed().as_secs_f64();
                let events = (calls * size as u64) as f64;
                println!(
                    "{name:<11} {size:>6} {attrs:>5} {:>12.0} {:>9.1} {:>10.2}",
                    events / secs,
                    secs * 1e9 / events,
                    secs * 1e6 / calls as f64
                );
            }
        }
        // A new instance (instantiate and `init`): paid at start, after a trap, at a swap.
        let (mut made, started) = (0u64, Instant::now());
        while started.elapsed() < Duration::from_millis(300) {
            drop(std::hint::black_box(filter.instantiate().unwrap()));
            made += 1;
        }
        println!(
            "{name:<11} new instance: {:.1} us",
            started.elapsed().as_secs_f64() * 1e6 / made as f64
        );
    }
}
