//! Hostile sink: never returns from a `write` whose batch holds a message containing
//! `SPIN` (the host must stop it with its timeout, keep the batch and hold the pipeline);
//! accepts every other batch.

wit_bindgen::generate!({ path: "../../../wit", world: "sink-plugin" });

use exports::logcatch::plugin::sink::Guest;
use logcatch::plugin::types::EventBatch;

struct StuckSink;

impl Guest for StuckSink {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn write(batch: EventBatch) -> Result<(), String> {
        for (&off, &len) in batch.msg_off.iter().zip(&batch.msg_len) {
            let msg = &batch.arena[off as usize..(off + len) as usize];
            if msg.windows(4).any(|w| w == b"SPIN") {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
        }
        Ok(())
    }
}

export!(StuckSink);
