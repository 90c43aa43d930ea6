//! Hostile guest with one misbehaviour per `mode` of its config (`{"mode": M, "n": N}`),
//! each an attack on the host written only from the contract:
//! - `alias`: returns every event `n` times, all pointing at the input's bytes (a small
//!   answer that stands for `n` times the text);
//! - `sleep`: sleeps `n` ms through the WASI clock on a batch with a message containing
//!   `SLEEP` (a blocking host call, where epoch interruption is not checked);
//! - `log`: per batch, `n` lines through `host.log` and `n` on stdout, each 8 KiB long;
//! - `bool7`: adds a bool attribute whose value is 7;
//! - `size`: refuses any batch of more than `n` events (a failure that depends on the
//!   batch's size: every event passes alone);
//! - `hoard`: allocates `n` KiB per event of the batch (a memory limit hit by big batches
//!   only).
//!
//! Any other mode keeps every event.

wit_bindgen::generate!({ path: "../../../wit", world: "filter-plugin" });

use std::sync::Mutex;

use exports::logcatch::plugin::filter::Guest;
use logcatch::plugin::host::log;
use logcatch::plugin::types::{EventBatch, Level, Verdict};

/// The mode and its number, from `init`.
static CONFIG: Mutex<(String, u64)> = Mutex::new((String::new(), 0));

/// Attribute kind `bool` in the contract.
const BOOL: u8 = 3;

/// The string value of `"key": "..."` in flat JSON (no JSON library: one dependency only).
fn string_field(json: &str, key: &str) -> Option<String> {
    let after = &json[json.find(&format!("\"{key}\""))? + key.len() + 2..];
    let start = after.find('"')? + 1;
    let len = after[start..].find('"')?;
    Some(after[start..start + len].to_owned())
}

/// The number value of `"key": N` in flat JSON.
fn number_field(json: &str, key: &str) -> Option<u64> {
    let after = &json[json.find(&format!("\"{key}\""))? + key.len() + 2..];
    let digits: String = after
        .trim_start_matches(|c: char| c == ':' || c.is_whitespace())
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

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

/// `batch` with every event repeated `n` times, the copies sharing the input's bytes.
fn aliased(batch: EventBatch, n: usize) -> EventBatch {
    let mut out = EventBatch {
        arena: batch.arena,
        msg_off: Vec::new(),
        msg_len: Vec::new(),
        timestamp_ns: Vec::new(),
        source_id: Vec::new(),
        sources: batch.sources,
        offset: Vec::new(),
        attr_end: Vec::new(),
        attr_key_id: Vec::new(),
        attr_keys: Vec::new(),
        attr_kind: Vec::new(),
        attr_val: Vec::new(),
    };
    for i in 0..batch.msg_off.len() {
        for _ in 0..n {
            out.msg_off.push(batch.msg_off[i]);
            out.msg_len.push(batch.msg_len[i]);
            out.timestamp_ns.push(batch.timestamp_ns[i]);
            out.source_id.push(batch.source_id[i]);
            out.offset.push(batch.offset[i]);
            out.attr_end.push(0);
        }
    }
    out
}

/// `batch` with a bool attribute `flag` of value 7 on every event.
fn bool7(mut batch: EventBatch) -> EventBatch {
    let key = batch.attr_keys.len() as u32;
    batch.attr_keys.push("flag".to_owned());
    let (keys, kinds, vals) = (
        std::mem::take(&mut batch.attr_key_id),
        std::mem::take(&mut batch.attr_kind),
        std::mem::take(&mut batch.attr_val),
    );
    let mut start = 0usize;
    for end in batch.attr_end.iter_mut() {
        let stop = *end as usize;
        batch.attr_key_id.extend_from_slice(&keys[start..stop]);
        batch.attr_kind.extend_from_slice(&kinds[start..stop]);
        batch.attr_val.extend_from_slice(&vals[start..stop]);
        batch.attr_key_id.push(key);
        batch.attr_kind.push(BOOL);
        batch.attr_val.push(7);
        start = stop;
        *end = batch.attr_key_id.len() as u32;
    }
    batch
}

struct Evil;

impl Guest for Evil {
    fn init(config: String) -> Result<(), String> {
        let mode = string_field(&config, "mode").ok_or("no \"mode\" in config")?;
        let n = number_field(&config, "n").unwrap_or(0);
        *CONFIG.lock().unwrap() = (mode, n);
        Ok(())
    }

    fn process(batch: EventBatch) -> Result<Verdict, String> {
        let (mode, n) = CONFIG.lock().unwrap().clone();
        match mode.as_str() {
            "alias" => return Ok(Verdict::Replace(aliased(batch, n as usize))),
            "bool7" => return Ok(Verdict::Replace(bool7(batch))),
            "sleep" if any_message_contains(&batch, b"SLEEP") => {
                std::thread::sleep(std::time::Duration::from_millis(n));
            }
            "log" => {
                let line = "L".repeat(8 << 10);
                for i in 0..n {
                    log(Level::Warn, &format!("{i} {line}"));
                    println!("{i} {line}");
                }
            }
            "size" if batch.msg_off.len() as u64 > n => {
                return Err(format!(
                    "{} events are more than this plugin takes at once",
                    batch.msg_off.len()
                ));
            }
            "hoard" => {
                let bytes = batch.msg_off.len() * n as usize * 1024;
                let mut hoard = vec![0u8; bytes];
                for page in hoard.chunks_mut(4096) {
                    page[0] = 1;
                }
                std::hint::black_box(&hoard);
            }
            _ => {}
        }
        Ok(Verdict::KeepAll)
    }
}

export!(Evil);
