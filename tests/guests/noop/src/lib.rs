//! Baseline guest for the call micro-benchmark (`benches/wasm_call.rs`): keeps every event
//! without looking at it, so what is measured is the cost of crossing into WebAssembly.

wit_bindgen::generate!({ path: "../../../wit", world: "filter-plugin" });

use exports::logcatch::plugin::filter::Guest;
use logcatch::plugin::types::{EventBatch, Verdict};

struct Noop;

impl Guest for Noop {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn process(_batch: EventBatch) -> Result<Verdict, String> {
        Ok(Verdict::KeepAll)
    }
}

export!(Noop);
