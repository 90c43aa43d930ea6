//! The admin HTTP API: health, the pipelines' status, Prometheus metrics, and reloads.
//!
//! | endpoint | answer |
//! | --- | --- |
//! | `GET /health` | `{"status":"ok"}` |
//! | `GET /pipelines` | each pipeline's state, counters, last reload and last error ([`pipelines`]) |
//! | `GET /metrics` | the Prometheus text exposition ([`prometheus`]) |
//! | `POST /reload` | reloads the config now: 200 with what changed, 422 if it was refused |
//! | `GET /` | the status page: one embedded file, no outside requests ([`PAGE`]) |
//! | `GET /events` | the page's live feed, server-sent events ([`events`]) |
//! | `GET /tap` | the events at one point of a pipeline, JSON lines ([`tap`]) |
//!
//! The API only reads the shared [`Status`]; a reload is a request to the daemon over a
//! channel, answered when the daemon has applied or refused it. Every error is short JSON.
//!
//! It stays in control of its own resources whatever clients do: at most
//! [`MAX_CONNECTIONS`] at once (fewer under a low descriptor limit; more are closed at once,
//! logged), a request's headers must arrive within [`HEADER_TIMEOUT`], and a connection
//! lasts at most [`CONNECTION_LIFETIME`]. With `api.token` set (required beyond loopback),
//! every endpoint but `/health` wants `Authorization: Bearer <token>`. The page, which
//! holds no data, is also served to a browser without it (with 401), so it can ask for the
//! token and keep it in the tab; everything it shows comes from requests that carry it.

pub mod events;
pub mod pipelines;
pub mod prometheus;
pub mod tap;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::Secret;
use crate::log_limit::LogLimit;
use crate::status::{Changes, ReloadOutcome, Status};
use pipelines::PipelinesDoc;
use prometheus::Exporter;

/// A reload asked for through `POST /reload`: the daemon answers on `reply`.
#[derive(Debug)]
pub struct ReloadRequest {
    /// Where the daemon sends the outcome once the reload is applied or refused.
    pub reply: oneshot::Sender<ReloadOutcome>,
}

/// Errors starting the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The listening socket could not be opened.
    #[error("admin API: cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Every endpoint, as `(method, path)`: for the routes' 404 and 405 answers.
pub const ENDPOINTS: [(&str, &str); 7] = [
    ("GET", "/health"),
    ("GET", "/pipelines"),
    ("GET", "/metrics"),
    ("POST", "/reload"),
    ("GET", "/"),
    ("GET", "/events"),
    ("GET", "/tap"),
];

/// The status page: HTML, its style and its script in one file, embedded in the binary.
pub const PAGE: &str = include_str!("console/index.html");

/// What the page may load: only itself and this API (no outside request of any kind).
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How long a stream (`/events`, `/tap`) lasts: it ends itself, cleanly, before the
/// connection's lifetime would cut it; the page reconnects, `logcatch tap` taps again.
pub const STREAM_LIFETIME: Duration = Duration::from_secs(290);

/// Opens the API's listening socket on `addr` (`host:port`; port 0 picks a free one).
pub async fn bind(addr: &str) -> Result<TcpListener, ApiError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ApiError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Most connections served at once (a quarter of the descriptor limit, if that is less).
pub const MAX_CONNECTIONS: usize = 128;
/// Longest a client may take to send a request's headers (idle keep-alive included).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest one connection lasts.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);

/// Serves the API on `listener` until `shutdown` is cancelled, then returns (requests in
/// flight finish on their own). `token`, if set, guards every endpoint but `/health`.
pub async fn serve(
    listener: TcpListener,
    status: Arc<Status>,
    reloads: mpsc::Sender<ReloadRequest>,
    token: Option<Secret>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, auth = token.is_some(), "admin API listening");
    }
    let app = router(status, reloads, token);
    let cap = MAX_CONNECTIONS
        .min((crate::fd_limit::soft() / 4) as usize)
        .max(4);
    let slots = Arc::new(tokio::sync::Semaphore::new(cap));
    let mut refused = LogLimit::new(Duration::from_secs(10));
    let mut failed = LogLimit::new(Duration::from_secs(10));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors, most likely: say so, and let the others go first.
                if let Some(held) = failed.allow(Instant::now()) {
                    tracing::error!(
                        similar_errors_held_back = held,
                        "admin API: cannot accept a connection: {e}"
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if let Some(held) = refused.allow(Instant::now()) {
                tracing::warn!(%peer, limit = cap, similar_warnings_held_back = held, "admin API: connection limit reached; closing new connections until one ends");
            }
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
                Ok(Ok(())) | Err(_) => {}
                Ok(Err(e)) => tracing::debug!(%peer, "admin API connection ended: {e}"),
            }
        });
    }
    tracing::debug!("admin API stopped");
    Ok(())
}

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    status: Arc<Status>,
    exporter: Arc<Exporter>,
    reloads: mpsc::Sender<ReloadRequest>,
}

/// The routes, with JSON answers for unknown paths and wrong methods; behind `token` if
/// set (but `/health`).
fn router(
    status: Arc<Status>,
    reloads: mpsc::Sender<ReloadRequest>,
    token: Option<Secret>,
) -> Router {
    let state = AppState {
        exporter: Arc::new(Exporter::new(status.clone())),
        status,
        reloads,
    };
    let guarded = Router::new()
        .route("/pipelines", get(pipelines))
        .route("/metrics", get(metrics))
        .route("/reload", post(reload))
        .route("/", get(page))
        .route("/events", get(events))
        .route("/tap", get(tap));
    let guarded = match token {
        Some(token) => guarded.layer(middleware::from_fn(move |req: Request, next: Next| {
            let token = token.clone();
            async move { authorize(&token, req, next).await }
        })),
        None => guarded,
    };
    Router::new()
        .route("/health", get(health))
        .merge(guarded)
        // Must follow the routes: it applies to those already registered.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(state)
}

/// Lets a request through if it carries `Authorization: Bearer <token>` (compared in
/// constant time); 401 otherwise.
async fn authorize(token: &Secret, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same(given.as_bytes(), token.expose().as_bytes()) {
        return next.run(req).await;
    }
    if req.uri().path() == "/" && wants_html(&req) {
        // The page carries no data: it asks for the token and sends it with every request.
        let mut response = page().await;
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    let mut response = ErrorBody::new("this endpoint needs `Authorization: Bearer <api.token>`")
        .with(StatusCode::UNAUTHORIZED);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Whether the request is a browser's asking for a page.
fn wants_html(req: &Request) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// `a == b`, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `{"status":"ok"}`.
#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// A short JSON error: `error` always, the rest where it helps.
#[derive(Serialize)]
struct ErrorBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoints: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed: Option<Vec<&'static str>>,
}

impl ErrorBody {
    /// An error with only its message.
    fn new(error: impl Into<String>) -> ErrorBody {
        ErrorBody {
            ok: None,
            error: error.into(),
            endpoints: None,
            allowed: None,
        }
    }

    /// A failed action's answer: `{"ok":false,"error":...}`.
    fn not_ok(error: impl Into<String>) -> ErrorBody {
        ErrorBody {
            ok: Some(false),
            ..ErrorBody::new(error)
        }
    }

    /// The response with `code`.
    fn with(self, code: StatusCode) -> Response {
        (code, Json(self)).into_response()
    }
}

/// `POST /reload` applied: `{"ok":true, ...what changed}`.
#[derive(Serialize)]
struct ReloadApplied {
    ok: bool,
    added: Vec<String>,
    changed: Vec<String>,
    removed: Vec<String>,
    unchanged: Vec<String>,
}

async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

async fn pipelines(State(state): State<AppState>) -> Json<PipelinesDoc> {
    Json(PipelinesDoc::read(&state.status))
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.exporter.render() {
        Ok(body) => ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin API: encoding metrics failed");
            ErrorBody::new("encoding metrics failed").with(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// `GET /`: the status page.
async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /events`: the live feed of the status page.
async fn events(State(state): State<AppState>) -> Response {
    events::response(state.status.clone(), STREAM_LIFETIME).into_response()
}

/// `GET /tap?...`: the events at one point of a pipeline.
async fn tap(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let pairs = match query {
        Ok(Query(pairs)) => pairs,
        Err(e) => return ErrorBody::new(e.body_text()).with(StatusCode::BAD_REQUEST),
    };
    let query = match tap::TapQuery::parse(&pairs) {
        Ok(q) => q,
        Err(e) => return ErrorBody::new(e).with(StatusCode::BAD_REQUEST),
    };
    tracing::info!(pipeline = %query.pipeline, at = %query.at, "admin API: tap started");
    match tap::start(&state.status, query, STREAM_LIFETIME) {
        Ok(response) => response,
        Err((code, message)) => ErrorBody::new(message).with(code),
    }
}

/// Asks the daemon to reload and answers with its outcome.
async fn reload(State(state): State<AppState>) -> Response {
    tracing::info!("admin API: reload requested");
    match request_reload(&state.reloads).await {
        Some(outcome) => reload_response(outcome),
        None => {
            tracing::warn!("admin API: reload requested but the daemon is not taking requests");
            ErrorBody::not_ok("the daemon did not answer: it is shutting down")
                .with(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

/// Sends a reload request and waits for the outcome; `None` if the daemon is gone (its
/// receiver or the reply sender dropped).
async fn request_reload(reloads: &mpsc::Sender<ReloadRequest>) -> Option<ReloadOutcome> {
    let (reply, outcome) = oneshot::channel();
    reloads.send(ReloadRequest { reply }).await.ok()?;
    outcome.await.ok()
}

/// 200 with the changes, or 422 with why the new config was refused.
fn reload_response(outcome: ReloadOutcome) -> Response {
    match outcome {
        ReloadOutcome::Applied(Changes {
            added,
            changed,
            removed,
            unchanged,
        }) => Json(ReloadApplied {
            ok: true,
            added,
            changed,
            removed,
            unchanged,
        })
        .into_response(),
        ReloadOutcome::Refused(msg) => {
            ErrorBody::not_ok(msg).with(StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

/// 404 for an unknown path, listing the endpoints.
async fn not_found(uri: Uri) -> Response {
    ErrorBody {
        endpoints: Some(ENDPOINTS.iter().map(|(m, p)| format!("{m} {p}")).collect()),
        ..ErrorBody::new(format!("no such endpoint: {}", uri.path()))
    }
    .with(StatusCode::NOT_FOUND)
}

/// 405 for a known path and another method, naming the methods it takes (axum also sets
/// the `Allow` header).
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let allowed = ENDPOINTS
        .iter()
        .filter(|(_, p)| *p == path)
        .map(|(m, _)| *m)
        .collect();
    ErrorBody {
        allowed: Some(allowed),
        ..ErrorBody::new(format!("method {method} not allowed on {path}"))
    }
    .with(StatusCode::METHOD_NOT_ALLOWED)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use serde_json::{Value, json};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use pipelines::tests::sample_status;

    /// An HTTP response as the tiny test client reads it.
    struct Reply {
        status: u16,
        /// Header lines, names lowercased.
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }

        fn json(&self) -> Value {
            assert_eq!(self.header("content-type"), Some("application/json"));
            serde_json::from_str(&self.body).unwrap()
        }
    }

    /// One HTTP/1.1 request with `Connection: close`, read to the end.
    async fn http(addr: SocketAddr, method: &str, path: &str) -> Reply {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let raw = String::from_utf8(raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        Reply {
            status: status.parse().unwrap(),
            headers,
            body: body.to_string(),
        }
    }

    /// Answers reload requests: applied, refused, dropped reply; then stops taking them.
    async fn daemon(mut rx: mpsc::Receiver<ReloadRequest>) {
        let applied = ReloadOutcome::Applied(Changes {
            added: vec!["new".into()],
            changed: vec!["app".into()],
            removed: vec!["old".into()],
            unchanged: vec![],
        });
        let refused = ReloadOutcome::Refused("logcatch.yaml:3:5: pipelines.app: bad".into());
        for outcome in [applied, refused] {
            let request = rx.recv().await.unwrap();
            request.reply.send(outcome).unwrap();
        }
        drop(rx.recv().await.unwrap());
    }

    #[tokio::test]
    async fn serves_every_endpoint_over_tcp_and_stops_on_shutdown() {
        let (status, _dir) = sample_status();
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel(1);
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(listener, status, tx, None, shutdown.clone()));
        let daemon = tokio::spawn(daemon(rx));

        let r = http(addr, "GET", "/health").await;
        assert_eq!((r.status, r.json()), (200, json!({"status": "ok"})));

        let r = http(addr, "GET", "/pipelines").await;
        assert_eq!(r.status, 200);
        let doc = r.json();
        assert_eq!(
            doc["pipelines"]["app"]["components"][1]["events_dropped"],
            40
        );

        let r = http(addr, "GET", "/metrics").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(prometheus::CONTENT_TYPE));
        assert!(r.body.contains("logcatch_events_in_total{pipeline=\"app\""));

        let r = http(addr, "POST", "/reload").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.json(),
            json!({"ok": true, "added": ["new"], "changed": ["app"], "removed": ["old"], "unchanged": []})
        );

        let r = http(addr, "POST", "/reload").await;
        assert_eq!(r.status, 422);
        assert_eq!(
            r.json(),
            json!({"ok": false, "error": "logcatch.yaml:3:5: pipelines.app: bad"})
        );

        // The daemon drops the reply, then goes away: both are 503.
        let r = http(addr, "POST", "/reload").await;
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["ok"], false);
        daemon.await.unwrap();
        let r = http(addr, "POST", "/reload").await;
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["ok"], false);

        let r = http(addr, "GET", "/reload").await;
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("POST"));
        assert_eq!(
            r.json(),
            json!({"error": "method GET not allowed on /reload", "allowed": ["POST"]})
        );

        let r = http(addr, "DELETE", "/metrics").await;
        assert_eq!(r.status, 405);
        assert_eq!(r.json()["allowed"], json!(["GET"]));

        let r = http(addr, "GET", "/nope").await;
        assert_eq!(r.status, 404);
        assert_eq!(
            r.json(),
            json!({
                "error": "no such endpoint: /nope",
                "endpoints": ["GET /health", "GET /pipelines", "GET /metrics", "POST /reload", "GET /", "GET /events", "GET /tap"]
            })
        );

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn bind_error_names_the_address() {
        let taken = bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let err = bind(&addr).await.unwrap_err().to_string();
        assert!(err.contains(&addr), "{err}");
        assert!(err.starts_with("admin API: cannot listen on"), "{err}");
    }
}
