//! The process's wasmtime engines and the epoch ticker that enforces per-call time limits.
//!
//! Instances are allocated on demand, not from a pooling allocator: a pool has a fixed size
//! set when the engine is built, before any config is read, and once full it refuses every
//! further instance (with 250 pipelines of two filters, every reload was refused). On demand
//! costs 6-10 µs more per instantiation (38-46 µs instead of 27-40 µs, measured with
//! the example guests), paid only at start, after a trap and at a swap: instances live
//! across batches.

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Config, Engine, OptLevel};

/// How often the engine's epoch advances: the granularity of call timeouts.
pub const TICK: Duration = Duration::from_millis(10);

static PLAIN: OnceLock<Engine> = OnceLock::new();
static FUEL: OnceLock<Engine> = OnceLock::new();

/// The shared engine; `fuel` selects the one that meters fuel (its compiled code differs and
/// costs up to a third more, so only plugins that ask for fuel use it).
pub fn engine(fuel: bool) -> &'static Engine {
    let cell = if fuel { &FUEL } else { &PLAIN };
    cell.get_or_init(|| {
        let mut c = Config::new();
        c.wasm_component_model(true)
            // A call costs ~200 ns instead of ~700 ns without the concurrent machinery.
            .concurrency_support(false)
            .epoch_interruption(true)
            .consume_fuel(fuel)
            .cranelift_opt_level(OptLevel::Speed);
        let engine = Engine::new(&c).expect("a default wasmtime engine builds on supported hosts");
        start_ticker(engine.clone());
        engine
    })
}

/// Advances the epoch once per [`TICK`] of wall time, on a fixed schedule: a thread woken
/// late catches up instead of drifting (sleeping a tick after each late wake lost time on a
/// loaded machine, so a 200 ms limit counted more than 200 ms).
fn start_ticker(engine: Engine) {
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            let mut at = std::time::Instant::now();
            loop {
                at += TICK;
                std::thread::sleep(at.saturating_duration_since(std::time::Instant::now()));
                engine.increment_epoch();
            }
        })
        .expect("spawning the epoch thread");
}

/// Epoch ticks that make up `timeout` (at least one).
pub fn ticks(timeout: Duration) -> u64 {
    (timeout.as_nanos().div_ceil(TICK.as_nanos()) as u64).max(1)
}
