//! A baseline for `bench/nats.sh`: what this nats-server takes from a minimal async-nats
//! publisher, with no logcatch around it, so the sink's figure can be read against the
//! server's own limit measured in the same run.
//!
//! ```sh
//! cargo run --release -p logcatch-plugins --example nats_baseline -- \
//!     URL STREAM SUBJECT FILE MODE [BATCH] [HEADERS]
//! ```
//! Publishes every line of FILE (as a JSON object about the size of the sink's event JSON)
//! as one message on SUBJECT of STREAM (created with file storage), `BATCH` messages (default
//! 1024) at a time, waiting for every ack of a batch before the next (as the sink does).
//! MODE:
//! - `ctx`: `jetstream::Context::publish_with_headers`, each ack future awaited;
//! - `inbox`: plain publishes with a reply subject of our own per message and one wildcard
//!   subscription collecting the JetStream acks;
//! - `inbox1`: the same with one reply subject per batch, the acks counted (what the sink
//!   does);
//! - `core`: plain publishes without a reply: no acks, only a flush at the end and a check
//!   that the stream holds every message (the server's intake without ack traffic).
//!
//! HEADERS: `id` (default) sends a 22-character `Nats-Msg-Id` per message (as long as the
//! sink's), `hex` a 42-character one, `short` a 5-character one, `none` none.
//! Prints one line: `mode messages seconds messages/s`.

use std::time::Instant;

use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        return Err(
            "usage: nats_baseline URL STREAM SUBJECT FILE ctx|inbox|inbox1|core [BATCH] [id|hex|short|none]"
                .into(),
        );
    }
    let (url, stream, subject, file, mode) = (&args[0], &args[1], &args[2], &args[3], &args[4]);
    let batch: usize = args.get(5).map_or(Ok(1024), |b| b.parse())?;
    let ids = args.get(6).map_or("id", |h| h.as_str()).to_owned();
    let with_id = ids != "none";

    let text = std::fs::read(file)?;
    let source = file.as_str();
    let mut messages = Vec::new();
    let mut offset = 0usize;
    for line in text.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let line = String::from_utf8_lossy(line);
        let json = format!(
            "{{\"message\":{},\"timestamp\":\"2026-01-01T00:00:00.000000Z\",\"source\":{},\"offset\":{offset},\"attributes\":{{}}}}",
            serde_json::to_string(&line)?,
            serde_json::to_string(source)?
        );
        let id = match ids.as_str() {
            "short" => format!("{offset:x}"),
            "hex" => format!(
                "{:016x}-{offset}-{:016x}",
                0x1234_5678_9abc_def0u64,
                offset * 7919
            ),
            // 22 characters, as the sink's ids (base64url of 128 bits).
            _ => format!(
                "{:022x}",
                xxhash_rust::xxh3::xxh3_128_with_seed(line.as_bytes(), offset as u64) >> 40
            ),
        };
        messages.push((Bytes::from(json), id));
        offset += line.len() + 1;
    }

    let client = async_nats::connect(url.as_str()).await?;
    let js = jetstream::new(client.clone());
    js.get_or_create_stream(jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![subject.clone()],
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let subject = async_nats::Subject::from(subject.as_str());
    let headers = |id: &str| {
        let mut h = async_nats::HeaderMap::new();
        if with_id {
            h.insert(async_nats::header::NATS_MESSAGE_ID, id);
        }
        h
    };

    let started = Instant::now();
    match mode.as_str() {
        "ctx" => {
            let js = jetstream::ContextBuilder::new()
                .max_ack_inflight(batch.max(1))
                .build(client.clone());
            for chunk in messages.chunks(batch) {
                let mut acks = FuturesUnordered::new();
                for (payload, id) in chunk {
                    let ack = js
                        .publish_with_headers(subject.clone(), headers(id), payload.clone())
                        .await?;
                    acks.push(ack.into_future());
                }
                while let Some(ack) = acks.next().await {
                    ack?;
                }
            }
        }
        "inbox" | "inbox1" => {
            let per_batch = mode == "inbox1";
            let prefix = client.new_inbox();
            let mut replies = client.subscribe(format!("{prefix}.*")).await?;
            for (n, chunk) in messages.chunks(batch).enumerate() {
                for (i, (payload, id)) in chunk.iter().enumerate() {
                    client
                        .publish_with_reply_and_headers(
                            subject.clone(),
                            if per_batch {
                                format!("{prefix}.{n}")
                            } else {
                                format!("{prefix}.{}", n * batch + i)
                            },
                            headers(id),
                            payload.clone(),
                        )
                        .await?;
                }
                let mut left = chunk.len();
                while left > 0 {
                    let reply = replies.next().await.ok_or("subscription ended")?;
                    if !reply.payload.starts_with(b"{\"stream\"") {
                        return Err(format!(
                            "not an ack: {}",
                            String::from_utf8_lossy(&reply.payload)
                        )
                        .into());
                    }
                    left -= 1;
                }
            }
        }
        "core" => {
            for (payload, id) in &messages {
                client
                    .publish_with_headers(subject.clone(), headers(id), payload.clone())
                    .await?;
            }
            client.flush().await?;
            let mut s = js.get_stream(stream).await?;
            while s.info().await?.state.messages < messages.len() as u64 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{mode} {} {secs:.3} {:.0}",
        messages.len(),
        messages.len() as f64 / secs
    );
    Ok(())
}
