//! How the terminal consoles reach an agent's admin API: where it listens and its token,
//! from the flags, the environment or the agent's config file, and one HTTP client for
//! JSON documents and line streams.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use logcatch_core::config;

/// The address the API listens on when nothing else says.
const DEFAULT_API: &str = "http://127.0.0.1:9420";

/// Longest a request may wait for the agent to answer (a stream's lines may come later).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which agent to watch, and how to get in.
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// The agent's admin API (default: `api.listen` of -c, else http://127.0.0.1:9420).
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// The agent's config file: its `api.listen` and `api.token` are used.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The API token (default: $LOGCATCH_API_TOKEN, else `api.token` of -c).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// A client of one agent's admin API.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// An answer that was not a success, as the API words it.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {status}: {message}")]
pub struct ApiRefused {
    /// What was asked for.
    pub url: String,
    /// The HTTP status.
    pub status: reqwest::StatusCode,
    /// The API's `error`, or the body.
    pub message: String,
}

impl Client {
    /// The client `args` describe.
    pub fn new(args: &ApiArgs) -> anyhow::Result<Client> {
        let file = match &args.config {
            Some(path) => Some(
                config::load_file(path)
                    .map_err(|errors| anyhow::anyhow!("{}", errors.to_string().trim_end()))?,
            ),
            None => None,
        };
        let file_api = file.as_ref().and_then(|l| l.config.api.clone());
        if let Some(path) = &args.config
            && file_api.is_none()
            && args.api.is_none()
        {
            bail!(
                "{}: no `api:` section: the agent serves no admin API (add `api: {{listen: 127.0.0.1:9420}}`)",
                path.display()
            );
        }
        let base = match (&args.api, &file_api) {
            (Some(url), _) => url.clone(),
            (None, Some(api)) => format!("http://{}", api.listen),
            (None, None) => DEFAULT_API.to_string(),
        };
        let base = base.trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("--api {base}: give a URL such as http://127.0.0.1:9420");
        }
        let token = args
            .token
            .clone()
            .or_else(|| std::env::var("LOGCATCH_API_TOKEN").ok())
            .filter(|t| !t.is_empty())
            .or_else(|| file_api.and_then(|a| a.token.map(|t| t.expose().to_string())));
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Client { base, token, http })
    }

    /// The API's base URL (`http://host:port`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `GET path` and checks the answer is a success.
    async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{}: cannot reach the agent's admin API", self.base))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or(body);
        let message = if status == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
            format!("{message} (give it with --token, $LOGCATCH_API_TOKEN or -c FILE)")
        } else {
            message
        };
        Err(ApiRefused {
            url,
            status,
            message,
        }
        .into())
    }

    /// `GET path` as a JSON document, within `timeout`.
    pub async fn json(&self, path: &str, timeout: Duration) -> anyhow::Result<serde_json::Value> {
        let body = tokio::time::timeout(timeout, async {
            self.get(path)
                .await?
                .bytes()
                .await
                .map_err(anyhow::Error::from)
        })
        .await
        .with_context(|| format!("{}: no answer within {timeout:?}", self.base))??;
        serde_json::from_slice(&body).with_context(|| format!("{}{path}: not JSON", self.base))
    }

    /// `GET path` as a stream of lines: `on_line` gets each whole line (without its newline)
    /// until it returns false or the stream ends. Memory is bounded: a line longer than
    /// `max_line` bytes is an error.
    pub async fn lines(
        &self,
        path: &str,
        max_line: usize,
        mut on_line: impl FnMut(&str) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let mut response = self.get(path).await?;
        let mut pending: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.context("the stream broke")? {
            pending.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(end) = memchr_newline(&pending[start..]) {
                let line = String::from_utf8_lossy(&pending[start..start + end]);
                start += end + 1;
                if !on_line(&line)? {
                    return Ok(());
                }
            }
            pending.drain(..start);
            if pending.len() > max_line {
                bail!("{}{path}: a line longer than {max_line} bytes", self.base);
            }
        }
        Ok(())
    }
}

/// The position of the first newline in `bytes`.
fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}
