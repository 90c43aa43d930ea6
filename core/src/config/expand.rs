//! `${VAR}` and `${VAR:-default}` expansion of the config text, before parsing.
//!
//! `$$` stands for a literal `$`. Full-line comments are left as they are, so a commented-out
//! reference to an unset variable is not an error. Expansion never adds lines, so line numbers
//! of later errors still match the file.
//!
//! A value is only ever text: inside a quoted string it is escaped for that quoting; outside
//! quotes it may not hold a line break or YAML syntax (flow punctuation, a comment, `: `, an
//! indicator at its start), which would let the environment add keys to the config. Such a value is refused,
//! naming the variable, never the value, and the fix: quote the reference.

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
                    Some(value) => match quoting(&line[..at]) {
                        Quoting::Double => escape_double(&value, &mut out),
                        Quoting::Single if value.contains(['\n', '\r']) => {
                            return Err(err(
                                at,
                                format!(
                                    "environment variable `{name}` holds a line break, which a '…' string cannot: use \"${{{name}}}\""
                                ),
                            ));
                        }
                        Quoting::Single => out.push_str(&value.replace('\'', "''")),
                        Quoting::Plain if !plain_safe(&value) => {
                            return Err(err(
                                at,
                                format!(
                                    "environment variable `{name}` holds a line break or YAML syntax, which could add to the config: quote the reference (\"${{{name}}}\")"
                                ),
                            ));
                        }
                        Quoting::Plain => out.push_str(&value),
                    },
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

/// The quoting in force at the end of `before` (the line up to a reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    Plain,
    Single,
    Double,
}

fn quoting(before: &str) -> Quoting {
    let mut q = Quoting::Plain;
    let mut escaped = false;
    for c in before.chars() {
        q = match (q, c) {
            (Quoting::Double, '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Quoting::Double, '"') if !escaped => Quoting::Plain,
            (Quoting::Single, '\'') => Quoting::Plain,
            (Quoting::Plain, '"') => Quoting::Double,
            (Quoting::Plain, '\'') => Quoting::Single,
            (q, _) => q,
        };
        escaped = false;
    }
    q
}

/// Appends `value` escaped for a YAML double-quoted string.
fn escape_double(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}

/// Whether `value`, written outside quotes, stays one plain scalar: no line break or other
/// control character, no flow punctuation (`{ } [ ] ,`), no comment (` #`) or key (`: `),
/// and no indicator that starts something else (`& * ! | > ' " % @` and a backquote, `- `,
/// `? `) at its start. `@`, `%`, `:` inside it (a URL with credentials) are fine.
fn plain_safe(value: &str) -> bool {
    let starts_badly = value.starts_with(['&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', '#'])
        || value.starts_with("- ")
        || value.starts_with("? ");
    !starts_badly
        && !value.contains(|c: char| c.is_control() || "{}[],".contains(c))
        && !value.contains(" #")
        && !value.contains(": ")
        && !value.ends_with(':')
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
    fn values_cannot_add_to_the_config() {
        let evil = |name: &str| match name {
            "NL" => Some("x\nevil: 1".to_owned()),
            "FLOW" => Some("a, X-Evil: b".to_owned()),
            "QUOTE" => Some("say \"hi\" \\ o'k".to_owned()),
            _ => None,
        };
        for reference in ["k: ${NL}\n", "k: { a: ${FLOW} }\n"] {
            let e = expand_env(reference, &evil).unwrap_err();
            assert!(e.message.contains("quote the reference"), "{}", e.message);
            assert!(
                !e.message.contains("evil") && !e.message.contains("X-Evil"),
                "{}",
                e.message
            );
        }
        // Quoted, the value is text, escaped for its quoting: YAML reads it back whole.
        for (text, want) in [
            ("k: \"${NL}\"\n", "x\nevil: 1"),
            ("k: \"${FLOW}\"\n", "a, X-Evil: b"),
            ("k: \"${QUOTE}\"\n", "say \"hi\" \\ o'k"),
            ("k: '${QUOTE}'\n", "say \"hi\" \\ o'k"),
            ("k: 'a ${FLOW} b'\n", "a a, X-Evil: b b"),
        ] {
            let yaml = expand_env(text, &evil).unwrap();
            let v: std::collections::BTreeMap<String, String> =
                serde_yaml::from_str(&yaml).unwrap();
            assert_eq!(v.len(), 1, "{yaml}");
            assert_eq!(v["k"], want, "{yaml}");
        }
        assert!(
            expand_env("k: '${NL}'\n", &evil).is_err(),
            "no line break in '...'"
        );
        let url = |_: &str| Some("https://u:p%40ss@es.example:9200/x".to_owned());
        assert_eq!(
            expand_env("url: ${U}\n", &url).unwrap(),
            "url: https://u:p%40ss@es.example:9200/x\n",
            "a URL with credentials stays plain"
        );
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
