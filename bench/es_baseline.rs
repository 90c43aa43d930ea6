//! A baseline for `bench/elasticsearch.sh`: what the search server takes from a minimal
//! `_bulk` client with no logcatch around it, sending what the `elasticsearch` sink sends
//! (each line as a document about the size of the sink's, `create` with an `_index` and a
//! 22-character `_id`, 1,024 documents per request as a pipeline's default batch, one request
//! in flight), so the sink's figure can be read against the server's limit in the same run.
//!
//! ```sh
//! cargo run --release -p logcatch-plugins --example es_baseline -- URL INDEX FILE
//! ```
//! Indexes every line of FILE and checks each answer says `"errors":false`. Prints one line:
//! `documents seconds documents/s`.

use std::io::BufRead;
use std::time::Instant;

/// Which document ids the baseline sends.
#[derive(Clone, Copy)]
enum Ids {
    /// 22 characters spread over the key space, as the sink's (the default).
    Hashed,
    /// 22 digits in increasing order.
    Sequential,
    /// None: the server generates them.
    None,
}

/// Appends a 22-character base64url id for `offset`: a hash, so ids spread over the key space
/// as the sink's do (sequential ids would be cheaper for the server to index).
fn push_id(offset: u64, out: &mut Vec<u8>) {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut n = xxhash_rust::xxh3::xxh3_128(&offset.to_le_bytes());
    for _ in 0..22 {
        out.push(DIGITS[(n & 63) as usize]);
        n >>= 6;
    }
}

/// Documents per request: a pipeline's default `batch.max_events`.
const PER_REQUEST: usize = 1024;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (ids, args) = match args.first().map(String::as_str) {
        Some("--ids=none") => (Ids::None, &args[1..]),
        Some("--ids=sequential") => (Ids::Sequential, &args[1..]),
        _ => (Ids::Hashed, &args[..]),
    };
    let [url, index, file] = args else {
        return Err("usage: es_baseline [--ids=none|sequential] URL INDEX FILE".into());
    };
    let bulk = format!("{}/_bulk", url.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let lines: Vec<String> = std::io::BufReader::new(std::fs::File::open(file)?)
        .lines()
        .collect::<Result<_, _>>()?;
    let source = serde_json::to_string(file)?;
    let started = Instant::now();
    let mut body = Vec::with_capacity(1 << 20);
    let mut offset = 0u64;
    for chunk in lines.chunks(PER_REQUEST) {
        body.clear();
        for line in chunk {
            body.extend_from_slice(format!("{{\"create\":{{\"_index\":\"{index}\"").as_bytes());
            match ids {
                Ids::None => {}
                Ids::Hashed => {
                    body.extend_from_slice(b",\"_id\":\"");
                    push_id(offset, &mut body);
                    body.push(b'"');
                }
                Ids::Sequential => {
                    body.extend_from_slice(format!(",\"_id\":\"{offset:022}\"").as_bytes())
                }
            }
            body.extend_from_slice(b"}}\n");
            body.extend_from_slice(b"{\"message\":");
            serde_json::to_writer(&mut body, line)?;
            body.extend_from_slice(
                format!(",\"timestamp\":\"2026-12-03T00:00:00.000000Z\",\"source\":{source},\"offset\":{offset},\"attributes\":{{}},\"@timestamp\":\"2026-12-03T00:00:00.000000Z\"}}\n")
                    .as_bytes(),
            );
            offset += line.len() as u64 + 1;
        }
        let answer = client
            .post(&bulk)
            .header("Content-Type", "application/x-ndjson")
            .body(body.clone())
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let head = &answer[..answer.len().min(64)];
        if !String::from_utf8_lossy(head).contains("\"errors\":false") {
            return Err(format!(
                "the server refused some documents: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(512)])
            )
            .into());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{} {secs:.3} {:.0}", lines.len(), lines.len() as f64 / secs);
    Ok(())
}
