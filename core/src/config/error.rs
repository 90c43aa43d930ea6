//! Config errors: one line each, `file:line:column: field.path: what is wrong`.

use std::fmt;

use super::locate::Locator;

/// One problem in a config, located in its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The config file (or `<embedded default>`).
    pub origin: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// Field path such as `pipelines.web.sources[0].include`, empty for the whole file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a config, in file order.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// A single error.
    pub fn one(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// An error about `path` in the document `origin` that `locator` indexes.
pub(crate) fn located(origin: &str, locator: &Locator, path: &str, message: String) -> ConfigError {
    let (line, column) = locator.find(path).unwrap_or((0, 0));
    ConfigError {
        origin: origin.to_owned(),
        line,
        column,
        path: path.to_owned(),
        message,
    }
}

/// Turns a serde error with its field path into a located config error.
pub(crate) fn from_serde(
    origin: &str,
    locator: &Locator,
    err: serde_path_to_error::Error<serde_yaml::Error>,
) -> ConfigError {
    let path = field_path(&err.path().to_string(), &err.inner().to_string());
    let inner = err.into_inner();
    let (line, column) = locator
        .find(&path)
        .or_else(|| inner.location().map(|l| (l.line(), l.column())))
        .unwrap_or((0, 0));
    ConfigError {
        origin: origin.to_owned(),
        line,
        column,
        path,
        message: clean_message(&inner),
    }
}

/// The path of the field an error is about: serde's path, plus the unknown field's own name
/// (serde reports that error before the key enters the path).
pub(crate) fn field_path(path: &str, message: &str) -> String {
    let path = if path == "." { "" } else { path };
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    match unknown {
        Some(field) if !path.ends_with(field) => {
            if path.is_empty() {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            }
        }
        _ => path.to_owned(),
    }
}

/// serde_yaml's message without the path prefix and location suffix it adds (we print our
/// own, located more precisely).
fn clean_message(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    let suffix = e
        .location()
        .map(|l| format!(" at line {} column {}", l.line(), l.column()));
    let msg = match suffix {
        Some(s) if msg.ends_with(&s) => &msg[..msg.len() - s.len()],
        _ => &msg,
    };
    match msg.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') && !path.is_empty() => rest.to_owned(),
        _ => msg.to_owned(),
    }
}
