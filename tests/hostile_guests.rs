//! The filter chain against hostile guests, in this process (through
//! `logcatch_core::testing`): each test is an attack written from the contract alone, and
//! checks by the outcome that no event is corrupted, lost or stuck, and that every bound
//! holds. The guests are `tests/guests/{poison,spin,evil,noop}` (built by
//! `scripts/build-guests`).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use logcatch_core::batch::Batch;
use logcatch_core::config::BatchConfig;
use logcatch_core::config::OnError;
use logcatch_core::testing::{FilterSpec, Rig, batch_of, guest, messages};
use serde_json::Value;

use common::numbered_lines as lines;

fn rig(wasm: &str, config: &str, limits: &str, on_error: OnError, batch: BatchConfig) -> Rig {
    let filter = FilterSpec {
        wasm: guest(wasm),
        config,
        limits,
    };
    Rig::new(&[filter], on_error, batch).unwrap_or_else(|e| panic!("{e}"))
}

/// Every message span of `b` is in its arena and valid UTF-8 (read without the batch's
/// own accessors, which trust that invariant).
fn assert_valid_utf8(b: &Batch) {
    let c = b.columns();
    for (i, (&off, &len)) in c.msg_off.iter().zip(&c.msg_len).enumerate() {
        let span = c
            .arena
            .get(off as usize..(off + len) as usize)
            .unwrap_or_else(|| panic!("event {i}: span out of the arena"));
        assert!(std::str::from_utf8(span).is_ok(), "event {i}: not UTF-8");
    }
}

fn dead_messages(dead: &[Value]) -> Vec<String> {
    dead.iter()
        .map(|d| d["message"].as_str().unwrap().to_owned())
        .collect()
}

fn big_batches() -> BatchConfig {
    BatchConfig {
        max_bytes: 8 << 20,
        ..BatchConfig::default()
    }
}

#[test]
fn isolating_a_large_batch_with_a_poison_event_on_every_other_line_keeps_every_event_whole() {
    // 1,024 lines of ~5 KB (5 MiB), every other one poisoned: the output had 1,227 lines,
    // 204 of them not UTF-8, when parts were appended with the whole arena each time.
    let input = lines(1024, 5000, "POISON", true);
    let mut pass = rig("poison", "{}", "{}", OnError::Pass, big_batches());
    let out = pass.run(batch_of(&input));
    assert_valid_utf8(&out);
    assert_eq!(
        messages(&out),
        input,
        "on_error: pass delivers every line once, in place"
    );
    assert_eq!(
        out.columns().arena.len() as u64,
        out.text_bytes(),
        "the output is compact: no copies of the arena"
    );

    let mut dead = rig("poison", "{}", "{}", OnError::DeadLetter, big_batches());
    let out = dead.run(batch_of(&input));
    assert_valid_utf8(&out);
    let (poison, normal): (Vec<String>, Vec<String>) =
        input.iter().cloned().partition(|l| l.contains("POISON"));
    assert_eq!(messages(&out), normal);
    let letters = dead.dead_letters();
    assert_eq!(dead_messages(&letters), poison);
    assert!(
        letters
            .iter()
            .all(|d| d["reason"].as_str().unwrap().contains("trap"))
    );
    let c = dead.counters(0);
    assert_eq!((c.events_in, c.events, c.dead_lettered), (1024, 512, 512));
}

#[test]
fn a_batch_that_fails_whole_but_passes_in_parts_is_delivered_whole() {
    // The plugin refuses batches of more than 16 events: no event fails alone.
    let input = lines(200, 40, "", false);
    let mut r = rig(
        "evil",
        r#"{"mode":"size","n":16}"#,
        "{}",
        OnError::DeadLetter,
        BatchConfig::default(),
    );
    let out = r.run(batch_of(&input));
    assert_eq!(messages(&out), input);
    assert!(r.dead_letters().is_empty());
    let c = r.counters(0);
    assert!(c.errors >= 2, "it did fail: {c:?}");
    assert_eq!((c.events, c.dead_lettered, c.dropped), (200, 0, 0));

    // Memory that grows with the batch: 256 KiB per event against a 32 MiB limit.
    let mut r = rig(
        "evil",
        r#"{"mode":"hoard","n":256}"#,
        "{ memory: 32MiB }",
        OnError::DeadLetter,
        BatchConfig::default(),
    );
    let out = r.run(batch_of(&input));
    assert_eq!(messages(&out), input);
    assert!(r.dead_letters().is_empty());
    assert!(r.counters(0).traps >= 2);
}

#[test]
fn a_plugin_that_multiplies_its_output_is_held_to_the_bound_and_loses_nothing() {
    // 250 lines of 4 KB, each returned 1,000 times (pointing at the same bytes): 1 GB of
    // text from 1 MB, which the file sink then built in one buffer.
    let input = lines(250, 4096, "", false);
    let limits = BatchConfig::default();
    let mut r = rig(
        "evil",
        r#"{"mode":"alias","n":1000}"#,
        "{}",
        OnError::DeadLetter,
        limits,
    );
    let out = r.run(batch_of(&input));
    let growth = limits.max_growth as u64;
    assert!(
        out.len() as u64 <= growth * limits.max_events as u64,
        "{} events",
        out.len()
    );
    assert!(
        out.text_bytes() <= growth * limits.max_bytes,
        "{} bytes of text",
        out.text_bytes()
    );
    assert_valid_utf8(&out);
    // Every event is either in the output (its copies) or a dead letter, never both.
    let delivered: BTreeSet<u64> = out.iter().map(|e| e.offset()).collect();
    let dead = r.dead_letters();
    let letters: BTreeSet<u64> = dead.iter().map(|d| d["offset"].as_u64().unwrap()).collect();
    assert!(delivered.is_disjoint(&letters));
    assert_eq!(delivered.len() + letters.len(), 250, "events lost");
    assert!(!dead.is_empty());
    assert!(
        dead.iter()
            .all(|d| d["reason"].as_str().unwrap().contains("batch.max_growth")),
        "{}",
        dead[0]
    );
}

#[test]
fn a_plugin_that_sleeps_in_a_wasi_call_is_stopped_at_its_timeout() {
    // A 20 s sleep against a 200 ms limit held the call 20 s: the deadline was only checked
    // while guest code ran.
    let mut input = lines(8, 30, "", false);
    input[5] = "this one says SLEEP".into();
    let mut r = rig(
        "evil",
        r#"{"mode":"sleep","n":20000}"#,
        "{ timeout: 200ms }",
        OnError::DeadLetter,
        BatchConfig::default(),
    );
    let started = Instant::now();
    let out = r.run(batch_of(&input));
    let took = started.elapsed();
    // Two whole-batch calls and a search of three levels: about 5 timeouts, not 5 sleeps.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let dead = r.dead_letters();
    assert_eq!(dead_messages(&dead), ["this one says SLEEP"]);
    assert!(
        dead[0]["reason"]
            .as_str()
            .unwrap()
            .contains("timed out (limits.timeout 200ms)"),
        "{}",
        dead[0]
    );
    let mut want = input.clone();
    want.remove(5);
    assert_eq!(messages(&out), want);
}

#[test]
fn the_search_for_many_looping_events_is_bounded_by_its_budget() {
    // 32 looping events among 64 took 67 s to isolate (a full batch would take half an
    // hour): each bad event cost its own timeouts.
    let input = lines(64, 30, "SPIN", true);
    let timeout = Duration::from_millis(100);
    let mut r = rig(
        "spin",
        "{}",
        "{ timeout: 100ms }",
        OnError::DeadLetter,
        BatchConfig::default(),
    );
    let started = Instant::now();
    let out = r.run(batch_of(&input));
    let took = started.elapsed();
    // Two whole-batch calls, the budget, one call past it, and slack for a loaded machine.
    let bound =
        timeout * (2 + logcatch_core::wasm::ISOLATION_TIMEOUTS + 1) + Duration::from_secs(5);
    assert!(took < bound, "took {took:?}, bound {bound:?}");
    let dead = r.dead_letters();
    let dead_msgs = dead_messages(&dead);
    // Nothing lost: every event is delivered or a dead letter, and every looping one is dead.
    let mut all: Vec<String> = messages(&out)
        .into_iter()
        .chain(dead_msgs.clone())
        .collect();
    all.sort();
    let mut want = input.clone();
    want.sort();
    assert_eq!(all, want);
    assert!(
        input
            .iter()
            .filter(|l| l.contains("SPIN"))
            .all(|l| dead_msgs.contains(l))
    );
    assert!(messages(&out).iter().all(|l| !l.contains("SPIN")));
    // The good events not cleared in time say why.
    let unsearched: Vec<&Value> = dead
        .iter()
        .filter(|d| !d["message"].as_str().unwrap().contains("SPIN"))
        .collect();
    assert!(
        unsearched
            .iter()
            .all(|d| d["reason"].as_str().unwrap().contains("time budget")),
        "{unsearched:?}"
    );
}

#[test]
fn a_bool_attribute_that_is_neither_zero_nor_one_is_an_invalid_verdict() {
    let input = lines(10, 20, "", false);
    let mut r = rig(
        "evil",
        r#"{"mode":"bool7"}"#,
        "{}",
        OnError::DeadLetter,
        BatchConfig::default(),
    );
    let out = r.run(batch_of(&input));
    assert!(out.is_empty());
    let dead = r.dead_letters();
    assert_eq!(dead_messages(&dead), input);
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("bool value 7"),
        "{}",
        dead[0]
    );
}

#[test]
fn more_instances_than_a_pool_would_hold_all_run() {
    // 300 chains of two filters each: 600 live instances (the pool held 512).
    let mut rigs: Vec<Rig> = (0..300)
        .map(|_| {
            let spec = || FilterSpec {
                wasm: guest("noop"),
                config: "{}",
                limits: "{ memory: 4MiB }",
            };
            Rig::new(
                &[spec(), spec()],
                OnError::DeadLetter,
                BatchConfig::default(),
            )
            .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    for r in &mut rigs {
        let out = r.run(batch_of(&["one", "two"]));
        assert_eq!(messages(&out), ["one", "two"]);
        assert_eq!(r.counters(1).errors, 0);
    }
}
