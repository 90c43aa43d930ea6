//! A real HTTP server for the sink tests: axum on 127.0.0.1 in a thread of its own, which
//! records every request and answers as the test decides; stopped when dropped.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    pub at: Instant,
    pub path: String,
    pub headers: HeaderMap,
    /// The body, gunzipped when it came with `Content-Encoding: gzip`.
    pub body: Vec<u8>,
    /// What the server answered.
    pub status: u16,
}

impl Request {
    /// A header's value, if it has one and it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The answer to a request: status, extra headers, body.
pub type Reply = (u16, Vec<(&'static str, &'static str)>, &'static str);
/// Decides the answer to request number `n` (0-based) with (decoded) body `body`.
pub type Answer = dyn Fn(usize, &[u8]) -> Reply + Send + Sync;
/// An answer whose body is made for the request (e.g. a `_bulk` answer naming each item).
pub type OwnedReply = (u16, Vec<(&'static str, &'static str)>, String);
/// Decides an [`OwnedReply`] to request number `n` (0-based) with (decoded) body `body`.
pub type OwnedAnswer = dyn Fn(usize, &[u8]) -> OwnedReply + Send + Sync;

struct ServerState {
    requests: Mutex<Vec<Request>>,
    answer: Box<OwnedAnswer>,
}

/// The server; dropping it stops it.
pub struct Server {
    pub addr: SocketAddr,
    state: Arc<ServerState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// A server on a free port answering with `answer`.
    pub fn start(answer: impl Fn(usize, &[u8]) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), Box::new(answer))
    }

    /// A server on `listener` (bound by the test, e.g. to start late on a known port).
    pub fn start_on(listener: TcpListener, answer: Box<Answer>) -> Server {
        let answer = move |n: usize, body: &[u8]| {
            let (status, extra, text) = answer(n, body);
            (status, extra, text.to_owned())
        };
        Server::start_owned_on(listener, Box::new(answer))
    }

    /// A server on a free port whose answers' bodies `answer` makes for each request.
    pub fn start_owned(
        answer: impl Fn(usize, &[u8]) -> OwnedReply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Server::start_owned_on(listener, Box::new(answer))
    }

    /// [`start_owned`](Self::start_owned) on `listener`.
    fn start_owned_on(listener: TcpListener, answer: Box<OwnedAnswer>) -> Server {
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ServerState {
            requests: Mutex::new(Vec::new()),
            answer,
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .fallback(record)
            .with_state(state.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Server {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn record(
    State(state): State<Arc<ServerState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .expect("a gzip body");
        out
    } else {
        body.to_vec()
    };
    let mut requests = state.requests.lock().unwrap();
    let (status, extra, text) = (state.answer)(requests.len(), &body);
    requests.push(Request {
        at: Instant::now(),
        path: uri.path().to_owned(),
        headers,
        body,
        status,
    });
    let mut response = (StatusCode::from_u16(status).unwrap(), text).into_response();
    for (name, value) in extra {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}
