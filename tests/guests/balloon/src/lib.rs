//! Hostile guest: `process` allocates and touches memory without bound when a message
//! contains `BALLOON` (the host's memory limit must stop it); otherwise keeps every event.

wit_bindgen::generate!({ path: "../../../wit", world: "filter-plugin" });

use std::sync::Mutex;

use exports::logcatch::plugin::filter::Guest;
use logcatch::plugin::types::{EventBatch, Verdict};

/// Kept forever, so nothing is ever freed.
static HOARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

struct Balloon;

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

impl Guest for Balloon {
    fn init(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn process(batch: EventBatch) -> Result<Verdict, String> {
        if any_message_contains(&batch, b"BALLOON") {
            let mut hoard = HOARD.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                // 1 MiB, every page written, so the memory is really used.
                let mut chunk = vec![0u8; 1 << 20];
                for page in chunk.chunks_mut(4096) {
                    page[0] = 1;
                }
                hoard.push(std::hint::black_box(chunk));
            }
        }
        Ok(Verdict::KeepAll)
    }
}

export!(Balloon);
