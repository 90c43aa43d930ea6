//! Subject templates: `logs.{pipeline}.{attributes.level}` becomes one subject per event, each
//! placeholder filled from the event and sanitized into exactly one valid subject token.

use logcatch_core::batch::EventRef;

use crate::sinks::template::{Part, Template};

/// A parsed subject template.
#[derive(Debug, Clone)]
pub struct SubjectTemplate {
    template: Template,
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
        let template = SubjectTemplate {
            template: Template::parse(text)?,
            missing: missing.to_owned(),
        };
        // Every placeholder renders as one valid token, so checking the template with each
        // placeholder replaced by `x` checks every subject it can produce.
        let mut sample = String::new();
        for part in template.template.parts() {
            match part {
                Part::Literal(s) => sample.push_str(s),
                _ => sample.push('x'),
            }
        }
        if !is_subject(&sample) {
            return Err(format!(
                "`{text}` does not make valid subjects: tokens separated by `.`, none empty, no spaces or wildcards"
            ));
        }
        Ok(template)
    }

    /// The subject for `event` of pipeline `pipeline`.
    pub fn render(&self, pipeline: &str, event: &EventRef<'_>) -> String {
        let mut out = String::new();
        self.template
            .render_into(&mut out, pipeline, event, |v, out| {
                out.push_str(&sanitize(v, &self.missing))
            });
        out
    }

    /// The subjects filter that covers every subject the template makes: each token that holds
    /// a placeholder becomes `*` (for a stream created by the sink).
    pub fn wildcard(&self, pipeline: &str) -> String {
        // A placeholder's mark: a character no sanitized value or literal holds.
        const MARK: char = '*';
        let mut text = String::new();
        for part in self.template.parts() {
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
    use logcatch_core::batch::{AttrValue, BatchBuilder};

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
