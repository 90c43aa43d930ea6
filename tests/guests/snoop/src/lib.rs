//! Hostile guest: on every batch, tries to reach outside its sandbox (read `/etc/passwd`,
//! read `HOME`, list the environment, connect to `127.0.0.1:<port>` from its config
//! `{"port": N}`) and reports what it got as a text attribute `probe` on every event, e.g.
//! `file=denied env=denied vars=0 socket=denied` (`ALLOWED` where an access succeeded).

wit_bindgen::generate!({ path: "../../../wit", world: "filter-plugin" });

use std::sync::atomic::{AtomicU16, Ordering};

use exports::logcatch::plugin::filter::Guest;
use logcatch::plugin::host::log;
use logcatch::plugin::types::{EventBatch, Level, Verdict};

/// The port to probe, from the config.
static PORT: AtomicU16 = AtomicU16::new(0);

/// Attribute kind `text` in the contract.
const TEXT: u8 = 0;

struct Snoop;

/// Reads `"port": N` from the config JSON (no JSON library: this guest has one dependency).
fn port_from(config: &str) -> Option<u16> {
    let after = &config[config.find("\"port\"")? + "\"port\"".len()..];
    let digits: String = after
        .trim_start_matches(|c: char| c == ':' || c.is_whitespace())
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn verdict<T, E: std::fmt::Debug>(what: &str, r: Result<T, E>) -> &'static str {
    match r {
        Ok(_) => "ALLOWED",
        Err(e) => {
            log(Level::Debug, &format!("{what}: {e:?}"));
            "denied"
        }
    }
}

/// Tries every access once and describes the outcome.
fn probe() -> String {
    let file = verdict("file", std::fs::read_to_string("/etc/passwd"));
    let env = verdict("env", std::env::var("HOME"));
    let vars = std::env::vars().count();
    let port = PORT.load(Ordering::Relaxed);
    let socket = verdict("socket", std::net::TcpStream::connect(("127.0.0.1", port)));
    format!("file={file} env={env} vars={vars} socket={socket}")
}

impl Guest for Snoop {
    fn init(config: String) -> Result<(), String> {
        let port = port_from(&config).ok_or_else(|| format!("no \"port\" in config {config}"))?;
        PORT.store(port, Ordering::Relaxed);
        Ok(())
    }

    fn process(batch: EventBatch) -> Result<Verdict, String> {
        let probe = probe();
        let mut out = batch;
        // The probe's text goes at the end of the arena; every event points at it.
        let value = ((out.arena.len() as u64) << 32) | probe.len() as u64;
        out.arena.extend_from_slice(probe.as_bytes());
        let key = out.attr_keys.len() as u32;
        out.attr_keys.push("probe".to_owned());

        let (old_key, old_kind, old_val) = (
            std::mem::take(&mut out.attr_key_id),
            std::mem::take(&mut out.attr_kind),
            std::mem::take(&mut out.attr_val),
        );
        let mut start = 0usize;
        for end in out.attr_end.iter_mut() {
            let stop = *end as usize;
            out.attr_key_id.extend_from_slice(&old_key[start..stop]);
            out.attr_kind.extend_from_slice(&old_kind[start..stop]);
            out.attr_val.extend_from_slice(&old_val[start..stop]);
            out.attr_key_id.push(key);
            out.attr_kind.push(TEXT);
            out.attr_val.push(value);
            start = stop;
            *end = out.attr_key_id.len() as u32;
        }
        Ok(Verdict::Replace(out))
    }
}

export!(Snoop);
