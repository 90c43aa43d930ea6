//! Destination templates, one parser for every sink that names its destination per event:
//! `logs.{pipeline}.{attributes.level}` (a NATS subject), `logs-{pipeline}` (a Kafka topic),
//! `{attributes.host}` (a Kafka key). Each sink says how a value is sanitized for it.

use logcatch_core::batch::{AttrValue, EventRef};
use std::fmt::Write;

/// One part of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text copied as is.
    Literal(String),
    /// The pipeline's name.
    Pipeline,
    /// The event's source (a file path).
    Source,
    /// An attribute of the event.
    Attribute(String),
}

/// A parsed template: literals and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`: `{pipeline}`, `{source}` and `{attributes.KEY}` are placeholders.
    pub fn parse(text: &str) -> Result<Self, String> {
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
        Ok(Template { parts })
    }

    /// Its parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The text, if it has no placeholder that depends on the event (`{pipeline}` is
    /// filled with `pipeline`, through `clean`): one destination for every event.
    pub fn fixed(&self, pipeline: &str, clean: impl Fn(&str, &mut String)) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Pipeline => clean(pipeline, &mut out),
                Part::Source | Part::Attribute(_) => return None,
            }
        }
        Some(out)
    }

    /// Appends the text for `event` of pipeline `pipeline` to `out`: literals as they are,
    /// each value through `clean` (which appends it sanitized; a missing attribute is "").
    /// Allocates nothing but what `out` grows by.
    pub fn render_into(
        &self,
        out: &mut String,
        pipeline: &str,
        event: &EventRef<'_>,
        clean: impl Fn(&str, &mut String),
    ) {
        let mut number = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Pipeline => clean(pipeline, out),
                Part::Source => clean(event.source(), out),
                Part::Attribute(key) => match event.attr(key) {
                    None => clean("", out),
                    Some(AttrValue::Text(s)) => clean(s, out),
                    Some(other) => {
                        number.clear();
                        let _ = match other {
                            AttrValue::Int(i) => write!(number, "{i}"),
                            AttrValue::Float(f) => write!(number, "{f}"),
                            AttrValue::Bool(b) => write!(number, "{b}"),
                            AttrValue::Text(_) => unreachable!("matched above"),
                        };
                        clean(&number, out)
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logcatch_core::ack::Ack;
    use logcatch_core::batch::BatchBuilder;

    fn verbatim(v: &str, out: &mut String) {
        out.push_str(v);
    }

    #[test]
    fn placeholders_are_filled_from_the_event() {
        let t = Template::parse("{pipeline}/{source}/{attributes.code}/{attributes.x}").unwrap();
        let mut b = BatchBuilder::with_capacity(1, 64);
        let src = b.source("a.log");
        b.push("m", src, 0, 0);
        b.attr("code", AttrValue::Int(503));
        let batch = b.finish(Ack::none());
        let mut out = String::new();
        t.render_into(&mut out, "p", &batch.get(0), verbatim);
        assert_eq!(out, "p/a.log/503/");
        assert_eq!(t.fixed("p", verbatim), None);
        let fixed = Template::parse("logs-{pipeline}").unwrap();
        assert_eq!(fixed.fixed("web", verbatim).as_deref(), Some("logs-web"));
    }

    #[test]
    fn bad_templates_are_refused() {
        let bad = |t: &str| Template::parse(t).unwrap_err();
        assert!(bad("logs.{level}").contains("unknown placeholder"));
        assert!(bad("logs.{attributes.}").contains("unknown placeholder"));
        assert!(bad("logs.{pipeline").contains("not closed"));
        assert!(bad("logs.}").contains("no matching"));
    }
}
