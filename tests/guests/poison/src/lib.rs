//! Hostile guest: panics (panic = abort, so the instance traps) on any batch that holds a
//! message containing `POISON`; otherwise keeps every event. The host must isolate exactly
//! the poison events.

wit_bindgen::generate!({ path: "../../../wit", world: "filter-plugin" });

use exports::logcatch::plugin::filter::Guest;
use logcatch::plugin::types::{EventBatch, Verdict};

struct Poison;

impl Guest for Poison {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn process(batch: EventBatch) -> Result<Verdict, String> {
        for (i, (&off, &len)) in batch.msg_off.iter().zip(&batch.msg_len).enumerate() {
            let msg = &batch.arena[off as usize..(off + len) as usize];
            if msg.windows(6).any(|w| w == b"POISON") {
                panic!("poison event at index {i}");
            }
        }
        Ok(Verdict::KeepAll)
    }
}

export!(Poison);
