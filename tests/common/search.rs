//! A real search server for the end-to-end tests: osmem-server (the OpenSearch API, in
//! memory) or noida-db (Elasticsearch 8, data on disk, kept across a stop), installed pinned
//! by `scripts/setup`, on a free loopback port, killed when dropped. Documents are counted
//! with the server's own `_count` and `_search`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::http::request;
use super::{repo, wait_until};

/// Which search server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// osmem-server 0.1.6: OpenSearch 3.8 API, in memory.
    Osmem,
    /// noida-db 0.2.3: Elasticsearch 8.15 API, data on disk.
    Noida,
}

/// A search server on 127.0.0.1 with its data in a temp dir.
pub struct SearchServer {
    /// Which one.
    pub flavour: Flavour,
    /// Its port.
    pub port: u16,
    /// Its data and log.
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl SearchServer {
    /// Starts one and waits until it answers.
    pub fn start(flavour: Flavour) -> Self {
        let mut s = SearchServer::stopped(flavour);
        s.spawn();
        s
    }

    /// One with a free port and a data dir, not started.
    pub fn stopped(flavour: Flavour) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        SearchServer {
            flavour,
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        }
    }

    fn binary(&self) -> PathBuf {
        let name = match self.flavour {
            Flavour::Osmem => "osmem",
            Flavour::Noida => "noida",
        };
        let path = repo().join("target/test-servers").join(name).join("server");
        assert!(
            path.exists(),
            "{} not found: run scripts/setup",
            path.display()
        );
        path
    }

    /// Starts the server (again, on the same port and data) and waits until it answers.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let mut cmd = Command::new(self.binary());
        match self.flavour {
            Flavour::Osmem => cmd
                .args(["-no-stdin-watch", "-no-ja", "-addr"])
                .arg(self.addr()),
            Flavour::Noida => cmd
                .args(["start", "--data-dir"])
                .arg(self.dir.path().join("data"))
                .args(["--host", "127.0.0.1", "--only", "elasticsearch"])
                .arg("--elasticsearch-port")
                .arg(self.port.to_string()),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        assert!(
            wait_until(Duration::from_secs(30), || self.get("/").0 == 200),
            "{:?} did not come up on port {}:\n{}",
            self.flavour,
            self.port,
            self.log()
        );
    }

    /// Stops it cleanly (SIGINT, its Ctrl-C) and waits for it to exit (up to 30 s, then
    /// SIGKILL); noida-db saves its data first.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling a child process of ours that was not reaped yet.
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
            let gone = wait_until(Duration::from_secs(30), || c.try_wait().unwrap().is_some());
            if !gone {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// Kills it (SIGKILL); noida-db keeps what it had written to disk.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `GET path`: status and body (0 when it does not answer).
    pub fn get(&self, path: &str) -> (u16, String) {
        self.call("GET", path, "")
    }

    /// `METHOD path` with a JSON body: status and body (0 when it does not answer).
    pub fn call(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        match request(&self.addr(), method, path, body.as_bytes()) {
            Ok(r) => (r.status, r.body),
            Err(e) => (0, e.to_string()),
        }
    }

    /// Creates `index` with `message` as text (noida-db maps a string that starts with a date
    /// as a date otherwise) and `attributes` as the test says.
    pub fn create_index(&self, index: &str, attributes: &str) {
        let body = format!(
            r#"{{"mappings":{{"properties":{{"message":{{"type":"text"}},"attributes":{{"properties":{{{attributes}}}}}}}}}}}"#
        );
        let (status, text) = self.call("PUT", &format!("/{index}"), &body);
        assert_eq!(status, 200, "creating {index}: {text}");
    }

    /// Documents in `indices` (a name or a pattern), after a refresh; 0 when there is none.
    pub fn count(&self, indices: &str) -> u64 {
        self.call("POST", &format!("/{indices}/_refresh"), "");
        let (status, text) = self.get(&format!("/{indices}/_count"));
        if status != 200 {
            return 0;
        }
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["count"].as_u64().unwrap_or(0)
    }

    /// The documents (`_source`, with `_index` and `_id` added) of `indices` that match
    /// `query` (a JSON query), at most `size`, after a refresh.
    pub fn search(&self, indices: &str, query: &str, size: usize) -> Vec<serde_json::Value> {
        self.call("POST", &format!("/{indices}/_refresh"), "");
        let body = format!(r#"{{"size":{size},"query":{query}}}"#);
        let (status, text) = self.call("POST", &format!("/{indices}/_search"), &body);
        assert_eq!(status, 200, "searching {indices}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| {
                let mut doc = hit["_source"].clone();
                doc["_index"] = hit["_index"].clone();
                doc["_id"] = hit["_id"].clone();
                doc
            })
            .collect()
    }
}

impl Drop for SearchServer {
    fn drop(&mut self) {
        self.kill();
    }
}
