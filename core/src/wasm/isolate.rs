//! What a filter may return, and the search for the events a batch fails on.
//!
//! A filter's output for one input batch is bounded ([`Bound`]): at most `batch.max_growth`
//! times the pipeline's batch limits (events, and text bytes counted per reference, since
//! a plugin may point many events at the same bytes), or what it was given if that is more.
//! An output beyond it is a fault of the plugin, like a trap.
//!
//! When a batch fails twice, [`isolate`] splits it in halves, recursively, and calls the
//! filter on each part: parts that pass keep their output, parts that fail are split again
//! until single events remain, which are the ones the filter fails on. A batch that fails
//! whole while every event passes alone (a limit that depends on the batch's size) thus
//! comes out whole, in smaller calls. The search is bounded in time: once `budget` is
//! spent, every event not yet cleared fails with the reason. Parts are copied with their own
//! text only, and the output is assembled once, in input order, so the search costs memory
//! in proportion to the batch, whatever the number of failures.

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::config::BatchConfig;

/// The most text bytes an output may reference: offsets into a batch's arena are `u32`,
/// and an output must stay assemblable with its input's events.
const TEXT_CAP: u64 = 2 << 30;
/// Attributes per event an output may carry on average.
const ATTRS_PER_EVENT: usize = 64;

/// How much a filter may return for one input batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Most events.
    pub events: usize,
    /// Most attributes, over all events.
    pub attrs: usize,
    /// Most text bytes referenced (messages and text attributes, per reference).
    pub text: u64,
    /// Largest arena (the bytes a plugin hands back, referenced or not).
    pub arena: u64,
}

impl Bound {
    /// The bound for `input` in a pipeline cutting batches at `batch`.
    pub fn for_input(input: &Batch, batch: &BatchConfig) -> Bound {
        let growth = batch.max_growth as u64;
        let events = input
            .len()
            .max((growth as usize).saturating_mul(batch.max_events));
        let room = growth.saturating_mul(batch.max_bytes).min(TEXT_CAP);
        Bound {
            events,
            attrs: input
                .attr_count()
                .max(events.saturating_mul(ATTRS_PER_EVENT)),
            text: input.text_bytes().max(room),
            arena: (input.columns().arena.len() as u64 + room).min(u32::MAX as u64),
        }
    }

    /// Why an output of `events` events with `attrs` attributes and an `arena`-byte arena
    /// is over the bound, checked before the output is even validated.
    pub fn check_shape(&self, events: usize, attrs: usize, arena: usize) -> Result<(), String> {
        if events > self.events {
            return Err(format!(
                "the plugin returned {events} events, more than the {} allowed (batch.max_growth)",
                self.events
            ));
        }
        if attrs > self.attrs {
            return Err(format!(
                "the plugin returned {attrs} attributes, more than the {} allowed",
                self.attrs
            ));
        }
        if arena as u64 > self.arena {
            return Err(format!(
                "the plugin returned a {arena}-byte arena, more than the {} allowed (batch.max_growth)",
                self.arena
            ));
        }
        Ok(())
    }

    /// Why a valid output referencing `text` bytes is over the bound.
    pub fn check_text(&self, text: u64) -> Result<(), String> {
        if text > self.text {
            return Err(format!(
                "the plugin returned events with {text} bytes of text, more than the {} allowed (batch.max_growth)",
                self.text
            ));
        }
        Ok(())
    }
}

/// A filter's answer for a batch, checked (in range, within the bound).
#[derive(Debug)]
pub enum Output {
    /// Every event, unchanged.
    KeepAll,
    /// The events at these ascending indices, unchanged.
    Keep(Vec<u32>),
    /// A new batch in place of the input's events.
    Replace(Box<Batch>),
}

/// Why a call gave no output.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The filter failed on this input (trap, limit, its own error, an invalid or
    /// oversized verdict).
    Batch(String),
    /// No instance could be started: no call can succeed now, whatever the input.
    Start(String),
}

/// The result of a search: the output assembled in input order (without an ack) and the
/// input events that failed, with why.
#[derive(Debug)]
pub struct Isolated {
    /// What the filter made of the events it did not fail on; with `pass`, the failed
    /// events too, unfiltered, in their place.
    pub out: Batch,
    /// Indices (into the input) of the events that failed, ascending, each with its reason.
    pub failed: Vec<(usize, String)>,
}

/// One part of the output, in input order.
enum Piece {
    /// Input events kept as they are.
    Input(Vec<usize>),
    /// What the filter made of an input range.
    New(Range<usize>, Box<Batch>),
    /// Input events that failed.
    Failed(Range<usize>, String),
}

enum Task {
    /// Call the filter on this range.
    Try(Range<usize>),
    /// This range failed as a whole, with this error: split it.
    Split(Range<usize>, String),
}

/// Searches `input` (which failed as a whole with `error`) for the events `call` fails on,
/// within `budget`; see the module docs. `pass` keeps failed events in the output.
pub fn isolate(
    input: &Batch,
    error: String,
    pass: bool,
    budget: Duration,
    bound: &Bound,
    mut call: impl FnMut(&Batch) -> Result<Output, Failure>,
) -> Isolated {
    let started = Instant::now();
    // Set once calls must stop: the reason every remaining event fails with.
    let mut stop: Option<String> = None;
    let mut pieces = Vec::new();
    let mut tasks = vec![Task::Split(0..input.len(), error)];
    while let Some(task) = tasks.pop() {
        if stop.is_none() && started.elapsed() >= budget {
            stop = Some(format!(
                "the search for the events this filter fails on ran out of its time budget ({budget:?})"
            ));
        }
        match task {
            Task::Split(range, why) if range.len() <= 1 => pieces.push(Piece::Failed(range, why)),
            Task::Split(range, why) => match &stop {
                Some(reason) => pieces.push(Piece::Failed(range, format!("{why}; {reason}"))),
                None => {
                    let mid = range.start + range.len() / 2;
                    tasks.push(Task::Try(mid..range.end));
                    tasks.push(Task::Try(range.start..mid));
                }
            },
            Task::Try(range) => {
                if let Some(reason) = &stop {
                    pieces.push(Piece::Failed(range, reason.clone()));
                    continue;
                }
                let part = input.select(range.clone());
                match call(&part) {
                    Ok(Output::KeepAll) => pieces.push(Piece::Input(range.collect())),
                    Ok(Output::Keep(idx)) => pieces.push(Piece::Input(
                        idx.iter().map(|&i| range.start + i as usize).collect(),
                    )),
                    Ok(Output::Replace(new)) => pieces.push(Piece::New(range, new)),
                    Err(Failure::Batch(why)) => tasks.push(Task::Split(range, why)),
                    Err(Failure::Start(why)) => {
                        pieces.push(Piece::Failed(range, why.clone()));
                        stop = Some(why);
                    }
                }
            }
        }
    }
    assemble(input, pieces, pass, bound)
}

/// Puts the pieces together in order. A new part that would take the output over `bound`
/// fails instead. The output's text is at most the input's plus the new parts', which is
/// kept within what `u32` offsets address, so appending cannot fail.
fn assemble(input: &Batch, pieces: Vec<Piece>, pass: bool, bound: &Bound) -> Isolated {
    const FITS: &str = "a subset of the input and parts within the bound fit in one batch";
    let room = bound
        .text
        .min((u32::MAX as u64).saturating_sub(input.text_bytes()));
    let mut out = Batch::default();
    let mut failed = Vec::new();
    let (mut new_events, mut new_attrs, mut new_text) = (0usize, 0usize, 0u64);
    for piece in pieces {
        let (range, why) = match piece {
            Piece::Input(idx) => {
                out.append_events(input, idx).expect(FITS);
                continue;
            }
            Piece::New(range, new) => {
                let (events, attrs, text) = (new.len(), new.attr_count(), new.text_bytes());
                if new_events + events <= bound.events
                    && new_attrs + attrs <= bound.attrs
                    && new_text + text <= room
                {
                    out.append_events(&new, 0..new.len()).expect(FITS);
                    (new_events, new_attrs, new_text) =
                        (new_events + events, new_attrs + attrs, new_text + text);
                    continue;
                }
                let why = format!(
                    "the plugin's output for these events would take the batch's over its bound ({} events, {} bytes of text; batch.max_growth)",
                    bound.events, room
                );
                (range, why)
            }
            Piece::Failed(range, why) => (range, why),
        };
        if pass {
            out.append_events(input, range.clone()).expect(FITS);
        }
        failed.extend(range.map(|i| (i, why.clone())));
    }
    Isolated { out, failed }
}

#[cfg(test)]
mod tests;
