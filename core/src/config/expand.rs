//! `${VAR}` and `${VAR:-default}` expansion of the config text, before parsing.
//!
//! `$$` stands for a literal `$`. Full-line comments are left as they are, so a commented-out
//! reference to an unset variable is not an error. Expansion never adds lines, so line numbers
//! of later errors still match the file.

use super::error::ConfigError;

/// An expansion failure at a 1-based line and column.
#[derive(Debug)]
pub(crate) struct ExpandError {
    line: usize,
    column: usize,
    message: String,
}

impl ExpandError {
    pub(crate) fn into_config_error(self, origin: &str) -> ConfigError {
        ConfigError {
            origin: origin.to_owned(),
            line: self.line,
            column: self.column,
            path: String::new(),
            message: self.message,
        }
    }
}

/// Expands variables in `text`, looking names up with `lookup`.
pub(crate) fn expand_env(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') || !line.contains('$') {
            out.push_str(line);
            continue;
        }
        let err = |col: usize, message: String| ExpandError {
            line: n + 1,
            column: col + 1,
            message,
        };
        let mut rest = line;
        let mut col = 0;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let at = col + i;
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("$$") {
                out.push('$');
                col = at + 2;
                rest = after;
            } else if let Some(body) = tail.strip_prefix("${") {
                let end = body
                    .find('}')
                    .ok_or_else(|| err(at, "unterminated `${`: expected `}`".to_owned()))?;
                let expr = &body[..end];
                let (name, default) = match expr.split_once(":-") {
                    Some((n, d)) => (n, Some(d)),
                    None => (expr, None),
                };
                let valid = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(err(
                        at,
                        format!("`${{{expr}}}`: `{name}` is not a variable name"),
                    ));
                }
                match lookup(name).or_else(|| default.map(str::to_owned)) {
                    Some(value) => out.push_str(&value),
                    None => {
                        return Err(err(
                            at,
                            format!(
                                "environment variable `{name}` is not set \
                                 (write `${{{name}:-default}}` to give a fallback)"
                            ),
                        ));
                    }
                }
                col = at + 3 + end;
                rest = &body[end + 1..];
            } else {
                out.push('$');
                col = at + 1;
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_values_defaults_and_escapes() {
        let got = expand_env("a: ${HOME}/x ${NOPE:-d} $$ ${EMPTY:-z} $5\n", &env).unwrap();
        assert_eq!(got, "a: /home/u/x d $  $5\n");
    }

    #[test]
    fn comments_are_not_expanded() {
        assert_eq!(expand_env("  # ${NOPE}\n", &env).unwrap(), "  # ${NOPE}\n");
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = expand_env("a: 1\nb: x ${NOPE}\n", &env).unwrap_err();
        assert_eq!((e.line, e.column), (2, 6));
        assert!(e.message.contains("`NOPE` is not set"));
        let e = expand_env("b: ${HOME\n", &env).unwrap_err();
        assert!(e.message.contains("unterminated"));
        let e = expand_env("b: ${1X}\n", &env).unwrap_err();
        assert!(e.message.contains("not a variable name"));
    }
}
