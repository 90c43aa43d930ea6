//! Hostile guest: `process` loops forever when a message contains `SPIN` (the host's time
//! limit must interrupt it); otherwise keeps every event.

wit_bindgen::generate!({ path: "../../../wit", world: "filter-plugin" });

use exports::logcatch::plugin::filter::Guest;
use logcatch::plugin::types::{EventBatch, Verdict};

struct Spin;

fn any_message_contains(batch: &EventBatch, needle: &[u8]) -> bool {
    batch
        .msg_off
        .iter()
        .zip(&batch.msg_len)
        .any(|(&off, &len)| {
            let msg = &batch.arena[off as usize..(off + len) as usize];
            msg.windows(needle.len()).any(|w| w == needle)
        })
}

impl Guest for Spin {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn process(batch: EventBatch) -> Result<Verdict, String> {
        if any_message_contains(&batch, b"SPIN") {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Ok(Verdict::KeepAll)
    }
}

export!(Spin);
