//! A baseline for `bench/kafka.sh`: what this broker takes from a minimal librdkafka
//! producer with no logcatch around it, configured as the `kafka` sink configures its own
//! (idempotent, `acks=all`, lz4, `linger.ms=5`, a 64 MiB queue) and with a 22-byte id header
//! on each message, as the sink's `logcatch-id`, so the sink's figure can be read against
//! the broker-and-client limit measured in the same run.
//!
//! ```sh
//! cargo run --release -p logcatch-plugins --example kafka_baseline -- BROKER TOPIC FILE
//! ```
//! Produces every line of FILE as one message (a JSON object about the size of the sink's
//! event JSON) and waits until every one is confirmed. Prints one line:
//! `messages seconds messages/s`.

use std::io::BufRead;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [broker, topic, file] = &args[..] else {
        return Err("usage: kafka_baseline BROKER TOPIC FILE".into());
    };
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "0")
        .set("queue.buffering.max.kbytes", "65536")
        .create()?;
    let lines: Vec<String> = std::io::BufReader::new(std::fs::File::open(file)?)
        .lines()
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut value = String::new();
    let (mut id, mut n) = (String::new(), 0u64);
    for line in &lines {
        value.clear();
        value.push_str("{\"message\":");
        value.push_str(&serde_json::to_string(line)?);
        value.push_str(",\"timestamp\":\"2026-01-01T00:00:00.000000Z\",\"source\":\"input.log\",\"offset\":0,\"attributes\":{}}");
        id.clear();
        use std::fmt::Write;
        let _ = write!(id, "{n:022}");
        n += 1;
        let headers = OwnedHeaders::new_with_capacity(1).insert(Header {
            key: "logcatch-id",
            value: Some(id.as_bytes()),
        });
        let mut record = BaseRecord::<(), str>::to(topic)
            .payload(value.as_str())
            .headers(headers);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    producer.flush(Duration::from_secs(600))?;
    let secs = started.elapsed().as_secs_f64();
    println!("{} {secs:.3} {:.0}", lines.len(), lines.len() as f64 / secs);
    Ok(())
}
