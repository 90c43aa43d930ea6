//! The `elasticsearch` sink: indexes every event into Elasticsearch (7, 8) or OpenSearch
//! through `_bulk`, as a document named by the `index` template (daily indices from the
//! event's own timestamp) or appended to a data stream, with the event's stable id as `_id`
//! so that a batch sent again, or read again after a crash, stores nothing twice.
//!
//! It is the `http` sink's transport with the cluster's conventions filled in: the same
//! retries (held while the cluster is down or busy, never dropped), gzip, item-by-item reading
//! of the `_bulk` answer (only failed items are sent again; a document the cluster refuses for
//! good, a mapping conflict, goes to the dead-letter file with its reason), requests spread
//! over the `endpoints`. At start it asks the cluster what it is (`GET /`) and shows that in
//! the log and in `/pipelines`.

mod config;
mod health;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use logcatch_core::backoff::Backoff;
use logcatch_core::batch::Batch;
use logcatch_core::plugin::{Options, OptionsError, PluginError, Sink, SinkContext, SinkWriter};

pub use config::{Action, ElasticsearchConfig, Healthcheck, IdChoice, Mode};

use crate::sinks::http;
use config::Checked;
use health::Server;

/// How often a check that found no cluster at start is tried again, at most.
const RECHECK_MAX: Duration = Duration::from_secs(30);

struct ElasticsearchSink {
    checked: Arc<Checked>,
    http: Arc<http::Settings>,
}

/// Builds an `elasticsearch` sink from its options.
pub fn build(options: &Options<'_>) -> Result<Arc<dyn Sink>, OptionsError> {
    let config: ElasticsearchConfig = options.parse()?;
    let checked = config.check()?;
    Ok(Arc::new(ElasticsearchSink {
        http: Arc::new(checked.http.clone()),
        checked: Arc::new(checked),
    }))
}

#[async_trait]
impl Sink for ElasticsearchSink {
    async fn open(&self, ctx: &SinkContext) -> Result<Box<dyn SinkWriter>, PluginError> {
        let client = http::client(&self.http)?;
        let mut checker = None;
        match self.checked.healthcheck {
            Healthcheck::Off => {}
            Healthcheck::Required => {
                let server = first_answer(&client, &self.checked).await.map_err(|why| {
                    PluginError::new(format!(
                        "healthcheck: required, and no endpoint answered ({why}); nothing is written until one does"
                    ))
                })?;
                found(ctx, &server);
            }
            Healthcheck::Optional => match first_answer(&client, &self.checked).await {
                Ok(server) => found(ctx, &server),
                Err(why) => {
                    tracing::warn!(pipeline = %ctx.pipeline, component = %ctx.component, "no endpoint answered the health check ({why}); writing anyway (retried until the cluster takes it), and checking again in the background");
                    let (client, checked, ctx) =
                        (client.clone(), self.checked.clone(), ctx.clone());
                    checker = Some(AbortOnDrop(tokio::spawn(async move {
                        recheck(client, checked, ctx).await
                    })));
                }
            },
        }
        Ok(Box::new(ElasticsearchWriter {
            inner: http::writer(self.http.clone(), client, ctx),
            _checker: checker,
        }))
    }
}

/// The `http` writer, and the background check while the cluster has not answered yet.
struct ElasticsearchWriter {
    inner: Box<dyn SinkWriter>,
    _checker: Option<AbortOnDrop>,
}

/// Stops a background task when its owner goes.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[async_trait]
impl SinkWriter for ElasticsearchWriter {
    async fn write(&mut self, batch: &Batch) -> Result<(), PluginError> {
        self.inner.write(batch).await
    }

    async fn close(&mut self) -> Result<(), PluginError> {
        self.inner.close().await
    }
}

/// What the first endpoint that answers says it is; otherwise why none did.
async fn first_answer(client: &reqwest::Client, checked: &Checked) -> Result<Server, String> {
    let mut failures = Vec::new();
    for base in &checked.bases {
        match health::check(client, &checked.http.headers, base, checked.http.timeout).await {
            Ok(server) => return Ok(server),
            Err(why) => failures.push(format!("{}: {why}", shown(base))),
        }
    }
    Err(failures.join("; "))
}

/// Logs and records what the cluster is.
fn found(ctx: &SinkContext, server: &Server) {
    let what = server.describe();
    if server.major().is_some_and(|m| m < 7) && server.flavour == "Elasticsearch" {
        tracing::warn!(pipeline = %ctx.pipeline, component = %ctx.component, "the cluster is {what}: only Elasticsearch 7 and later, and OpenSearch, are supported (older ones need a document type)");
    } else {
        tracing::info!(pipeline = %ctx.pipeline, component = %ctx.component, "the cluster is {what}");
    }
    ctx.counters.set_server(what);
}

/// Checks again, with backoff, until an endpoint answers.
async fn recheck(client: reqwest::Client, checked: Arc<Checked>, ctx: SinkContext) {
    let mut backoff = Backoff::jittered(Duration::from_secs(1), RECHECK_MAX);
    loop {
        tokio::time::sleep(backoff.step()).await;
        if let Ok(server) = first_answer(&client, &checked).await {
            found(&ctx, &server);
            return;
        }
    }
}

/// An endpoint as it may be shown: scheme, host and port (no credentials, no path).
fn shown(url: &reqwest::Url) -> String {
    match url.port() {
        Some(port) => format!("{}://{}:{port}", url.scheme(), url.host_str().unwrap_or("")),
        None => format!("{}://{}", url.scheme(), url.host_str().unwrap_or("")),
    }
}
