//! Destination templates, one parser for every sink that names its destination per event:
//! `logs.{pipeline}.{attributes.level}` (a NATS subject), `logs-{pipeline}` (a Kafka topic),
//! `{attributes.host}` (a Kafka key), `logs-{pipeline}-%Y.%m.%d` (an Elasticsearch index,
//! dated by the event's own timestamp). Each sink says how a value is sanitized for it.

use logcatch_core::batch::{AttrValue, EventRef};
use logcatch_core::timestamp;
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
    /// A field of the event's timestamp (UTC), in a dated template.
    Date(DateField),
}

/// A field of an event's timestamp in a dated template (`%Y`, `%m`, `%d`, `%H`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    /// `%Y`: the year, four digits.
    Year,
    /// `%m`: the month, two digits.
    Month,
    /// `%d`: the day of the month, two digits.
    Day,
    /// `%H`: the hour, two digits.
    Hour,
}

/// Nanoseconds in an hour and in a day.
const HOUR_NS: u64 = 3_600_000_000_000;
const DAY_NS: u64 = 24 * HOUR_NS;

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

    /// Parses `text` as [`Template::parse`] does, and `%Y`, `%m`, `%d`, `%H` (`%%` for a
    /// `%`) in its text as the fields of the event's timestamp: daily or hourly names.
    pub fn parse_dated(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        for part in Template::parse(text)?.parts {
            let Part::Literal(literal) = part else {
                parts.push(part);
                continue;
            };
            let mut run = String::new();
            let mut chars = literal.chars();
            while let Some(c) = chars.next() {
                if c != '%' {
                    run.push(c);
                    continue;
                }
                let field = match chars.next() {
                    Some('%') => {
                        run.push('%');
                        continue;
                    }
                    Some('Y') => DateField::Year,
                    Some('m') => DateField::Month,
                    Some('d') => DateField::Day,
                    Some('H') => DateField::Hour,
                    Some(other) => {
                        return Err(format!(
                            "unknown date field `%{other}`: use %Y, %m, %d, %H (or %% for a `%`)"
                        ));
                    }
                    None => return Err("a `%` ends the template: write %% for a `%`".to_owned()),
                };
                if !run.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut run)));
                }
                parts.push(Part::Date(field));
            }
            if !run.is_empty() {
                parts.push(Part::Literal(run));
            }
        }
        Ok(Template { parts })
    }

    /// Whether the text depends on the event's source or attributes (not only on the
    /// pipeline and the event's time).
    pub fn per_event(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Source | Part::Attribute(_)))
    }

    /// The span of time over which the text stays the same for events that differ only in
    /// their timestamps, in nanoseconds: an hour with `%H`, a day with another date field,
    /// `None` without any.
    pub fn time_span_ns(&self) -> Option<u64> {
        let dates = self.parts.iter().filter_map(|p| match p {
            Part::Date(f) => Some(*f),
            _ => None,
        });
        dates
            .map(|f| {
                if f == DateField::Hour {
                    HOUR_NS
                } else {
                    DAY_NS
                }
            })
            .min()
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
                Part::Source | Part::Attribute(_) | Part::Date(_) => return None,
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
                Part::Date(field) => {
                    let (year, month, day, hour) = timestamp::date_hour(event.timestamp_ns());
                    let mut text = *b"0000";
                    let (value, width) = match field {
                        DateField::Year => (year, 4),
                        DateField::Month => (month, 2),
                        DateField::Day => (day, 2),
                        DateField::Hour => (hour, 2),
                    };
                    timestamp::digits(&mut text[..width], value);
                    out.push_str(std::str::from_utf8(&text[..width]).expect("digits are ASCII"));
                }
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
    fn dated_templates_take_the_events_own_day_and_hour() {
        let t = Template::parse_dated("logs-{pipeline}-%Y.%m.%d-%%").unwrap();
        assert!(!t.per_event());
        assert_eq!(t.time_span_ns(), Some(DAY_NS));
        let mut b = BatchBuilder::with_capacity(2, 64);
        let src = b.source("a.log");
        b.push("m", src, 0, 1_700_000_000_000_000_000); // 2023-11-14T22:13:20Z
        b.push("m", src, 1, 0);
        let batch = b.finish(Ack::none());
        let render = |t: &Template, i: usize| {
            let mut out = String::new();
            t.render_into(&mut out, "web", &batch.get(i), verbatim);
            out
        };
        assert_eq!(render(&t, 0), "logs-web-2023.11.14-%");
        assert_eq!(render(&t, 1), "logs-web-1970.01.01-%");
        let hourly = Template::parse_dated("x-%Y%m%d%H-{attributes.k}").unwrap();
        assert_eq!(render(&hourly, 0), "x-2023111422-");
        assert_eq!(hourly.time_span_ns(), Some(HOUR_NS));
        assert!(hourly.per_event());
        assert_eq!(t.fixed("web", verbatim), None);
        let plain = Template::parse("50%Y").unwrap();
        assert_eq!(plain.fixed("p", verbatim).as_deref(), Some("50%Y"));
        assert_eq!(plain.time_span_ns(), None);
        let bad = |t: &str| Template::parse_dated(t).unwrap_err();
        assert!(bad("logs-%Q").contains("unknown date field `%Q`"));
        assert!(bad("logs-%").contains("%%"));
        assert!(bad("logs-{day}").contains("unknown placeholder"));
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
