//! The search and the assembly against a scripted filter: random batches (multi-byte text,
//! attributes of every kind, several sources), random poison events, random verdicts (keep
//! all, keep some, replace with a clean or a junk-laden arena), filters that fail on size
//! alone. The output is always a valid batch holding exactly the expected events, in order.

use super::*;
use crate::ack::Ack;
use crate::batch::{AttrValue, BatchBuilder};

const CHARS: [&str; 8] = ["a", "b", "Z", " ", "é", "日", "🙂", "\u{0301}"];

fn text(rng: &mut fastrand::Rng, max: usize) -> String {
    (0..rng.usize(0..=max))
        .map(|_| CHARS[rng.usize(..CHARS.len())])
        .collect()
}

/// A random batch; offsets are unique (7 per event) and name the events.
fn batch(rng: &mut fastrand::Rng, n: usize) -> Batch {
    let mut b = BatchBuilder::with_capacity(n, n * 20);
    let sources: Vec<u32> = ["/var/log/a.log", "b", "日本.log"]
        .iter()
        .map(|s| b.source(s))
        .collect();
    for i in 0..n {
        let src = sources[rng.usize(..sources.len())];
        b.push(&text(rng, 30), src, i as u64 * 7, rng.u64(..));
        for _ in 0..rng.usize(0..3) {
            let value = match rng.u8(0..4) {
                0 => AttrValue::Text(&text(rng, 8)).to_owned_text(),
                1 => OwnedAttr::Int(rng.i64(..)),
                2 => OwnedAttr::Float(rng.f64()),
                _ => OwnedAttr::Bool(rng.bool()),
            };
            let key = ["k", "level", "ключ"][rng.usize(..3)];
            b.attr(key, value.as_ref());
        }
    }
    b.finish(Ack::none())
}

/// An attribute value that owns its text, to build events from computed strings.
#[derive(Debug, Clone, PartialEq)]
enum OwnedAttr {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl OwnedAttr {
    fn as_ref(&self) -> AttrValue<'_> {
        match self {
            OwnedAttr::Text(s) => AttrValue::Text(s),
            OwnedAttr::Int(i) => AttrValue::Int(*i),
            OwnedAttr::Float(f) => AttrValue::Float(*f),
            OwnedAttr::Bool(b) => AttrValue::Bool(*b),
        }
    }
}

trait ToOwnedText {
    fn to_owned_text(self) -> OwnedAttr;
}

impl ToOwnedText for AttrValue<'_> {
    fn to_owned_text(self) -> OwnedAttr {
        match self {
            AttrValue::Text(s) => OwnedAttr::Text(s.to_owned()),
            AttrValue::Int(i) => OwnedAttr::Int(i),
            AttrValue::Float(f) => OwnedAttr::Float(f),
            AttrValue::Bool(b) => OwnedAttr::Bool(b),
        }
    }
}

/// An event as compared: message, source, offset, timestamp, attributes.
type View = (String, String, u64, u64, Vec<(String, OwnedAttr)>);

fn view_of(e: crate::batch::EventRef<'_>) -> View {
    (
        e.message().to_owned(),
        e.source().to_owned(),
        e.offset(),
        e.timestamp_ns(),
        e.attrs()
            .map(|(k, v)| (k.to_owned(), v.to_owned_text()))
            .collect(),
    )
}

fn views(b: &Batch) -> Vec<View> {
    b.iter().map(view_of).collect()
}

/// What the scripted filter makes of one event: dropped (offset % 3 == 0), rewritten
/// (offset % 5 == 0: upper-cased, with an attribute), or kept as it is.
fn script(v: &View) -> Option<View> {
    if v.2 % 3 == 0 {
        return None;
    }
    if v.2 % 5 == 0 {
        let mut out = v.clone();
        out.0 = format!("<{}>", v.0.to_uppercase());
        out.4.push(("seen".into(), OwnedAttr::Bool(true)));
        return Some(out);
    }
    Some(v.clone())
}

/// Builds a batch of `events`; with `junk`, the arena gets bytes that are not UTF-8 before,
/// between and after the strings (which a guest may leave), checked by `from_columns`.
fn build(events: &[View], junk: bool) -> Batch {
    let mut b = BatchBuilder::with_capacity(events.len(), 64);
    for (msg, src, off, ts, attrs) in events {
        let s = b.source(src);
        b.push(msg, s, *off, *ts);
        for (k, v) in attrs {
            b.attr(k, v.as_ref());
        }
    }
    let clean = b.finish(Ack::none());
    if !junk {
        return clean;
    }
    let mut cols = clean.columns().clone();
    let pad = [0xff, 0xfe, 0x80];
    let mut arena = pad.to_vec();
    arena.extend_from_slice(&cols.arena);
    arena.extend_from_slice(&pad);
    cols.arena = arena;
    for off in &mut cols.msg_off {
        *off += pad.len() as u32;
    }
    for (kind, val) in cols.attr_kind.iter().zip(&mut cols.attr_val) {
        if *kind == 0 {
            *val += (pad.len() as u64) << 32;
        }
    }
    Batch::from_columns(cols, Ack::none()).expect("a valid batch with junk around its strings")
}

/// The scripted filter on `part`: fails if it holds a poison event (by offset) or more
/// than `fail_above` events; otherwise answers with a verdict in a form drawn from `rng`.
fn filter(
    part: &Batch,
    poison: &[u64],
    fail_above: usize,
    rng: &mut fastrand::Rng,
) -> Result<Output, Failure> {
    if part.iter().any(|e| poison.contains(&e.offset())) {
        return Err(Failure::Batch("poison".into()));
    }
    if part.len() > fail_above {
        return Err(Failure::Batch(format!(
            "{} events are too many",
            part.len()
        )));
    }
    let input = views(part);
    let out: Vec<View> = input.iter().filter_map(script).collect();
    let unchanged = out.iter().all(|v| input.contains(v));
    Ok(match rng.u8(0..3) {
        0 if unchanged && out.len() == input.len() => Output::KeepAll,
        1 if unchanged => Output::Keep(
            input
                .iter()
                .enumerate()
                .filter(|(_, v)| script(v).as_ref() == Some(*v))
                .map(|(i, _)| i as u32)
                .collect(),
        ),
        _ => Output::Replace(Box::new(build(&out, rng.bool()))),
    })
}

/// Every span of `b` is in its arena and valid UTF-8, and its columns pass the checks made
/// on a plugin's batch.
fn assert_valid(b: &Batch) {
    let c = b.columns();
    for (&off, &len) in c.msg_off.iter().zip(&c.msg_len) {
        let span = &c.arena[off as usize..(off + len) as usize];
        assert!(std::str::from_utf8(span).is_ok());
    }
    Batch::from_columns(c.clone(), Ack::none()).expect("the output is a valid batch");
}

fn unbounded() -> Bound {
    Bound {
        events: usize::MAX,
        attrs: usize::MAX,
        text: TEXT_CAP,
        arena: u32::MAX as u64,
    }
}

#[test]
fn random_batches_verdicts_and_splits_give_exactly_the_expected_events() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut searched = 0;
    for round in 0..400 {
        let n = rng.usize(0..70);
        let input = batch(&mut rng, n);
        let rate = [0.0, 0.02, 0.2, 0.6, 1.0][rng.usize(..5)];
        let poison: Vec<u64> = (0..n as u64)
            .map(|i| i * 7)
            .filter(|_| rng.f64() < rate)
            .collect();
        let fail_above = if rng.bool() {
            usize::MAX
        } else {
            rng.usize(1..8)
        };
        let pass = rng.bool();
        let mut calls = fastrand::Rng::with_seed(round);
        // The search starts from a batch that failed whole.
        let Err(Failure::Batch(error)) = filter(&input, &poison, fail_above, &mut calls) else {
            continue;
        };
        let iso = isolate(
            &input,
            error,
            pass,
            Duration::from_secs(3600),
            &unbounded(),
            |part| filter(part, &poison, fail_above, &mut calls),
        );
        assert_valid(&iso.out);
        let want: Vec<View> = views(&input)
            .into_iter()
            .filter_map(|v| {
                if poison.contains(&v.2) {
                    pass.then_some(v)
                } else {
                    script(&v)
                }
            })
            .collect();
        assert_eq!(views(&iso.out), want, "round {round}");
        let failed: Vec<u64> = iso
            .failed
            .iter()
            .map(|&(i, _)| input.get(i).offset())
            .collect();
        assert_eq!(failed, poison, "round {round}: failed events");
        assert!(iso.failed.iter().all(|(_, why)| why == "poison"));
        searched += 1;
    }
    assert!(searched > 250, "only {searched} rounds searched");
}

#[test]
fn a_spent_budget_fails_every_event_not_yet_cleared() {
    let mut rng = fastrand::Rng::with_seed(7);
    let input = batch(&mut rng, 40);
    let mut calls = 0;
    let iso = isolate(
        &input,
        "timed out".into(),
        false,
        Duration::ZERO,
        &unbounded(),
        |_| {
            calls += 1;
            Ok(Output::KeepAll)
        },
    );
    assert_eq!(calls, 0);
    assert!(iso.out.is_empty());
    assert_eq!(iso.failed.len(), 40);
    assert!(
        iso.failed[0].1.starts_with("timed out; "),
        "{}",
        iso.failed[0].1
    );
    assert!(
        iso.failed[0].1.contains("time budget"),
        "{}",
        iso.failed[0].1
    );
}

#[test]
fn a_plugin_that_cannot_start_ends_the_search() {
    let mut rng = fastrand::Rng::with_seed(8);
    let input = batch(&mut rng, 32);
    let mut calls = 0;
    let iso = isolate(
        &input,
        "trap".into(),
        true,
        Duration::from_secs(60),
        &unbounded(),
        |_| {
            calls += 1;
            match calls {
                1 => Ok(Output::KeepAll),
                _ => Err(Failure::Start("init trapped".into())),
            }
        },
    );
    assert_eq!(calls, 2, "no call after the plugin could not start");
    // The first half passed; the second failed to start: with `pass`, all are delivered.
    assert_eq!(views(&iso.out), views(&input));
    let failed: Vec<usize> = iso.failed.iter().map(|(i, _)| *i).collect();
    assert_eq!(failed, (16..32).collect::<Vec<_>>());
    assert!(iso.failed.iter().all(|(_, why)| why == "init trapped"));
}

#[test]
fn parts_whose_output_would_overflow_the_bound_fail_instead() {
    let mut rng = fastrand::Rng::with_seed(9);
    let input = batch(&mut rng, 8);
    let bound = Bound {
        events: 8 + 5,
        ..unbounded()
    };
    // Each part answers with three copies of its events.
    let iso = isolate(
        &input,
        "too big".into(),
        false,
        Duration::from_secs(60),
        &bound,
        |part| {
            let v = views(part);
            let tripled: Vec<View> = v.iter().chain(&v).chain(&v).cloned().collect();
            Ok(Output::Replace(Box::new(build(&tripled, false))))
        },
    );
    // Halves of 4 events become 12: the first fits in 13, the second does not.
    assert_eq!(iso.out.len(), 12);
    let failed: Vec<usize> = iso.failed.iter().map(|(i, _)| *i).collect();
    assert_eq!(failed, vec![4, 5, 6, 7]);
    assert!(iso.failed[0].1.contains("bound"), "{}", iso.failed[0].1);
}

#[test]
fn parts_are_copied_with_their_own_text_only() {
    // 64 events of 64 KiB: each part handed to the filter holds just its events' bytes.
    let mut b = BatchBuilder::with_capacity(64, 64 << 16);
    let src = b.source("big");
    let line = "x".repeat(64 << 10);
    for i in 0..64 {
        b.push(&line, src, i, 0);
    }
    let input = b.finish(Ack::none());
    let mut largest = 0;
    let poison = [3u64, 40];
    let iso = isolate(
        &input,
        "poison".into(),
        false,
        Duration::from_secs(60),
        &unbounded(),
        |part| {
            largest = largest.max(part.columns().arena.len());
            if part.iter().any(|e| poison.contains(&e.offset())) {
                return Err(Failure::Batch("poison".into()));
            }
            Ok(Output::KeepAll)
        },
    );
    assert_eq!(largest, 32 << 16, "a half, never the whole arena again");
    assert_eq!(iso.out.len(), 62);
    assert_eq!(
        iso.out.columns().arena.len(),
        62 << 16,
        "the output is compact"
    );
}
