//! Subject templates: `logs.{pipeline}.{attributes.level}` becomes one subject per event, each
//! placeholder filled from the event and sanitized into exactly one valid subject token.

use logcatch_core::batch::{AttrValue, EventRef};

/// One part of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text copied as is.
    Literal(String),
    /// The pipeline's name.
    Pipeline,
    /// The event's source (a file path).
    Source,
    /// An attribute of the event.
    Attribute(String),
}

/// A parsed subject template.
#[derive(Debug, Clone)]
pub struct SubjectTemplate {
    parts: Vec<Part>,
    /// What a missing or empty value becomes.
    missing: String,
}

impl SubjectTemplate {
    /// Parses `text`; `missing` replaces a value the event does not have (already a valid token).
    pub fn parse(text: &str, missing: &str) -> Result<Self, String> {
        if !is_token(missing) {
            return Err(format!(
                "`{missing}` is not a valid subject token (no `.`, `*`, `>`, spaces or control characters, not empty)"
            ));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| "a `{` is not closed by `}`".to_owned())?
                + open;
            let name = &rest[open + 1..close];
            parts.push(match name {
                "pipeline" => Part::Pipeline,
                "source" => Part::Source,
                _ => match name.strip_prefix("attributes.") {
                    Some(key) if !key.is_empty() => Part::Attribute(key.to_owned()),
                    _ => {
                        return Err(format!(
                            "unknown placeholder `{{{name}}}`: use {{pipeline}}, {{source}} or {{attributes.KEY}}"
                        ));
                    }
                },
            });
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err("a `}` has no matching `{`".to_owned());
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        let template = SubjectTemplate {
            parts,
            missing: missing.to_owned(),
        };
        // Every placeholder renders as one valid token, so checking the template with each
        // placeholder replaced by `x` checks every subject it can produce.
        let sample = template.render_with(|_| "x".to_owned());
        if !is_subject(&sample) {
            return Err(format!(
                "`{text}` does not make valid subjects: tokens separated by `.`, none empty, no spaces or wildcards"
            ));
        }
        Ok(template)
    }

    /// The subject for `event` of pipeline `pipeline`.
    pub fn render(&self, pipeline: &str, event: &EventRef<'_>) -> String {
        self.render_with(|part| match part {
            Part::Pipeline => pipeline.to_owned(),
            Part::Source => event.source().to_owned(),
            Part::Attribute(key) => match event.attr(key) {
                None => String::new(),
                Some(AttrValue::Text(s)) => s.to_owned(),
                Some(AttrValue::Int(i)) => i.to_string(),
                Some(AttrValue::Float(f)) => f.to_string(),
                Some(AttrValue::Bool(b)) => b.to_string(),
            },
            Part::Literal(_) => unreachable!("literals are copied"),
        })
    }

    /// The subjects filter that covers every subject the template makes: each token that holds
    /// a placeholder becomes `*` (for a stream created by the sink).
    pub fn wildcard(&self, pipeline: &str) -> String {
        // A placeholder's mark: a character no sanitized value or literal holds.
        const MARK: char = '*';
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => text.push_str(s),
                Part::Pipeline => text.push_str(&sanitize(pipeline, &self.missing)),
                _ => text.push(MARK),
            }
        }
        text.split('.')
            .map(|t| if t.contains(MARK) { "*" } else { t })
            .collect::<Vec<_>>()
            .join(".")
    }

    fn render_with(&self, value: impl Fn(&Part) -> String) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                other => out.push_str(&sanitize(&value(other), &self.missing)),
            }
        }
        out
    }
}

/// `value` as one subject token: `.`, `*`, `>`, whitespace and control characters become `_`;
/// an empty value becomes `missing`.
pub fn sanitize(value: &str, missing: &str) -> String {
    if value.is_empty() {
        return missing.to_owned();
    }
    value
        .chars()
        .map(|c| {
            if matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// True for one valid, wildcard-free subject token.
fn is_token(t: &str) -> bool {
    !t.is_empty()
        && !t
            .chars()
            .any(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control())
}

/// True for a valid subject to publish to: tokens separated by `.`, none empty, no wildcards.
pub fn is_subject(s: &str) -> bool {
    s.split('.').all(is_token)
}

/// True for a valid subject filter: like a subject, but `*` may stand for a token and `>` for
/// the rest (last token only).
pub fn is_filter(s: &str) -> bool {
    let tokens: Vec<&str> = s.split('.').collect();
    tokens
        .iter()
        .enumerate()
        .all(|(i, t)| *t == "*" || (*t == ">" && i + 1 == tokens.len()) || is_token(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcatch_core::ack::Ack;
    use logcatch_core::batch::BatchBuilder;

    #[test]
    fn placeholders_fill_and_sanitize_into_one_token_each() {
        let t = SubjectTemplate::parse("logs.{pipeline}.{attributes.level}.{source}", "_").unwrap();
        let mut b = BatchBuilder::with_capacity(2, 64);
        let src = b.source("/var/log/app.log");
        b.push("a", src, 0, 0);
        b.attr("level", AttrValue::Text("warn ing*>"));
        b.push("b", src, 2, 0);
        let batch = b.finish(Ack::none());
        assert_eq!(
            t.render("web.v2", &batch.get(0)),
            "logs.web_v2.warn_ing__./var/log/app_log"
        );
        assert_eq!(t.render("p", &batch.get(1)), "logs.p._./var/log/app_log");
        assert!(is_subject(&t.render("p", &batch.get(1))));
        assert_eq!(t.wildcard("web.v2"), "logs.web_v2.*.*");
        let fixed = SubjectTemplate::parse("logs.{pipeline}", "_").unwrap();
        assert_eq!(fixed.wildcard("p"), "logs.p");
        let partial = SubjectTemplate::parse("logs.app-{attributes.level}", "none").unwrap();
        assert_eq!(partial.wildcard("p"), "logs.*");
        assert_eq!(partial.render("p", &batch.get(1)), "logs.app-none");
    }

    #[test]
    fn bad_templates_are_refused() {
        let bad = |t: &str, m: &str| SubjectTemplate::parse(t, m).unwrap_err();
        assert!(bad("logs.{level}", "_").contains("unknown placeholder"));
        assert!(bad("logs.{attributes.}", "_").contains("unknown placeholder"));
        assert!(bad("logs.{pipeline", "_").contains("not closed"));
        assert!(bad("logs.}", "_").contains("no matching"));
        assert!(bad("logs..x", "_").contains("valid subjects"));
        assert!(bad("logs.*", "_").contains("valid subjects"));
        assert!(bad("logs x", "_").contains("valid subjects"));
        assert!(bad("", "_").contains("valid subjects"));
        assert!(bad("logs", "a.b").contains("not a valid subject token"));
        assert!(bad("logs", "").contains("not a valid subject token"));
    }

    #[test]
    fn filters_allow_wildcards() {
        assert!(is_filter("logs.*.error"));
        assert!(is_filter("logs.>"));
        assert!(!is_filter("logs.>.x"));
        assert!(!is_filter("logs..x"));
        assert!(!is_filter("logs x"));
    }
}
