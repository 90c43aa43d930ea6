//! Connecting to NATS, shared by the `nats` sink and source: the server URL(s) and the
//! credentials (user and password, a token, or a `.creds` file), checked when the config is
//! loaded. Secrets are never logged.

use logcatch_core::ComponentId;
use logcatch_core::config::Secret;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use logcatch_core::plugin::{Options, OptionsError, PluginError};

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection options as written in YAML (fields of the sink's and the source's config).
#[derive(Debug, Clone, Default)]
pub struct ConnectFields {
    /// `nats://host:port`, or several separated by commas.
    pub url: String,
    /// User name (with `password`).
    pub user: Option<String>,
    /// Password (with `user`).
    pub password: Option<Secret>,
    /// Authentication token.
    pub token: Option<Secret>,
    /// A `.creds` file (JWT and nkey seed), relative to the config file.
    pub creds: Option<PathBuf>,
}

/// Checked connection settings.
#[derive(Clone)]
pub struct Connect {
    url: String,
    auth: Auth,
}

#[derive(Clone)]
enum Auth {
    None,
    UserPassword(String, String),
    Token(String),
    Creds(PathBuf),
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match self.auth {
            Auth::None => "none",
            Auth::UserPassword(..) => "user and password",
            Auth::Token(_) => "token",
            Auth::Creds(_) => "creds file",
        };
        f.debug_struct("Connect")
            .field("url", &self.url)
            .field("auth", &auth)
            .finish()
    }
}

impl ConnectFields {
    /// Checks the fields: URLs with the `nats`, `tls` or `ws(s)` scheme and a host, at most
    /// one way to authenticate, a creds file that exists.
    pub fn check(self, options: &Options<'_>) -> Result<Connect, OptionsError> {
        if self.url.trim().is_empty() {
            return Err(OptionsError::new("url", "must not be empty"));
        }
        for url in self.url.split(',') {
            let url = url.trim();
            let (scheme, rest) = url.split_once("://").unwrap_or(("nats", url));
            if !matches!(scheme, "nats" | "tls") {
                return Err(OptionsError::new(
                    "url",
                    format!("scheme `{scheme}` is not supported: use nats:// or tls://"),
                ));
            }
            let host = rest.rsplit('@').next().unwrap_or(rest);
            if host.is_empty() || host.starts_with(':') {
                return Err(OptionsError::new("url", "the URL has no host"));
            }
        }
        let ways = [
            self.user.is_some() || self.password.is_some(),
            self.token.is_some(),
            self.creds.is_some(),
        ];
        if ways.iter().filter(|w| **w).count() > 1 {
            return Err(OptionsError::new(
                if self.creds.is_some() {
                    "creds"
                } else {
                    "token"
                },
                "give one way to authenticate: user and password, token, or creds",
            ));
        }
        let auth = match (self.user, self.password, self.token, self.creds) {
            (Some(u), Some(p), None, None) => Auth::UserPassword(u, p.expose().to_owned()),
            (Some(_), None, ..) => {
                return Err(OptionsError::new("password", "`user` needs a `password`"));
            }
            (None, Some(_), ..) => {
                return Err(OptionsError::new("user", "`password` needs a `user`"));
            }
            (None, None, Some(t), None) => Auth::Token(t.expose().to_owned()),
            (None, None, None, Some(path)) => {
                let path = options.resolve(path);
                if !path.is_file() {
                    return Err(OptionsError::new(
                        "creds",
                        format!("{} is not a readable file", path.display()),
                    ));
                }
                Auth::Creds(path)
            }
            _ => Auth::None,
        };
        Ok(Connect {
            url: self.url,
            auth,
        })
    }
}

impl Connect {
    /// Connects; afterwards the client reconnects by itself, without limit, after a loss.
    /// Connection events are logged with `pipeline` and `component`.
    pub async fn connect(
        &self,
        pipeline: &Arc<str>,
        component: ComponentId,
    ) -> Result<async_nats::Client, PluginError> {
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("logcatch {pipeline} {component}"))
            .connection_timeout(CONNECT_TIMEOUT)
            .max_reconnects(None);
        options = match &self.auth {
            Auth::None => options,
            Auth::UserPassword(u, p) => options.user_and_password(u.clone(), p.clone()),
            Auth::Token(t) => options.token(t.clone()),
            Auth::Creds(path) => options.credentials_file(path).await.map_err(|e| {
                PluginError::new(format!("cannot read creds file {}: {e}", path.display()))
            })?,
        };
        let (p, c) = (pipeline.clone(), component);
        options = options.event_callback(move |event| {
            let p = p.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!(pipeline = %p, component = %c, "connected to NATS")
                    }
                    async_nats::Event::Disconnected => {
                        tracing::warn!(pipeline = %p, component = %c, "disconnected from NATS; reconnecting")
                    }
                    other => tracing::debug!(pipeline = %p, component = %c, event = %other, "NATS event"),
                }
            }
        });
        let urls: Vec<String> = self.url.split(',').map(|u| u.trim().to_owned()).collect();
        options.connect(urls).await.map_err(|e| {
            PluginError::new(format!(
                "cannot connect to NATS at {}: {e}",
                self.url_for_logs()
            ))
        })
    }

    /// The URL(s) without any user info (which may hold a password).
    pub fn url_for_logs(&self) -> String {
        self.url
            .split(',')
            .map(|u| {
                let u = u.trim();
                match (u.split_once("://"), u.rsplit_once('@')) {
                    (Some((scheme, _)), Some((_, host))) => format!("{scheme}://{host}"),
                    (None, Some((_, host))) => host.to_owned(),
                    _ => u.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn check(fields: ConnectFields) -> Result<Connect, OptionsError> {
        let map = serde_yaml::Mapping::new();
        let options = Options {
            map: &map,
            base_dir: Path::new("/"),
            pipeline: "p",
        };
        fields.check(&options)
    }

    fn url(u: &str) -> ConnectFields {
        ConnectFields {
            url: u.to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn urls_and_credentials_are_checked() {
        assert!(check(url("nats://127.0.0.1:4222")).is_ok());
        assert!(check(url("nats://a:4222, nats://b:4222")).is_ok());
        assert!(check(url("localhost:4222")).is_ok());
        assert_eq!(check(url("http://x")).unwrap_err().field, "url");
        assert_eq!(check(url("nats://:4222")).unwrap_err().field, "url");
        assert_eq!(check(url(" ")).unwrap_err().field, "url");
        let mut f = url("nats://h");
        f.user = Some("u".into());
        assert_eq!(check(f.clone()).unwrap_err().field, "password");
        f.password = Some(Secret::new("secret"));
        let ok = check(f.clone()).unwrap();
        assert!(!format!("{ok:?}").contains("secret"));
        f.token = Some(Secret::new("t"));
        assert_eq!(check(f).unwrap_err().field, "token");
        let mut f = url("nats://h");
        f.creds = Some("/nonexistent/x.creds".into());
        assert_eq!(check(f).unwrap_err().field, "creds");
    }

    #[test]
    fn logged_urls_hide_user_info() {
        let c = check(url("nats://u:pw@h:4222,tls://t@k:1")).unwrap();
        assert_eq!(c.url_for_logs(), "nats://h:4222,tls://k:1");
    }
}
