//! Reading an Elasticsearch/OpenSearch `_bulk` answer. A 200 may still hold failed items
//! (`"errors": true`, one item per action line, in request order): each is taken as delivered,
//! worth sending again, refused for good, or (a `create` answered 409) already there.
//!
//! A clean answer is recognised from its top-level `errors` alone, which both servers write
//! before `items`: the items of a clean answer are not read. The check is structural, not a
//! substring search: keys are decoded JSON strings and the values before `errors` are skipped
//! by a JSON parser, so an `"errors":false` inside a document id or a reason cannot fool it,
//! and `"errors" : true` (a `?pretty` answer) is not missed.

use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::IgnoredAny;

use std::collections::BTreeMap;

use super::config::StatusAction;
use super::retry::{Class, classify};

/// Longest item reason kept (it goes to the log and the dead-letter file).
const REASON_MAX: usize = 512;
/// How many nested `caused_by` an item reason follows.
const CAUSES_MAX: usize = 3;

/// What a `_bulk` answer says about the events of its request, by their position in it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Items worth sending again (408, 429, 5xx), with why.
    pub retry: Vec<(usize, String)>,
    /// Items refused for good (any other failure), with why.
    pub rejected: Vec<(usize, String)>,
    /// `create` items answered 409: the document is already there (an earlier attempt put it
    /// there and its answer was lost), so they count as delivered.
    pub duplicates: usize,
}

/// Reads the 2xx answer to a `_bulk` request of `actions` actions. `Err` says why it cannot
/// be read: which items got in is then unknown, and the caller sends the request again.
pub fn read(
    body: &[u8],
    actions: usize,
    on_status: &BTreeMap<u16, StatusAction>,
) -> Result<Outcome, String> {
    if errors_flag(body) == Some(false) {
        return Ok(Outcome::default());
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| format!("the _bulk answer cannot be read: {e}"))?;
    let items = answer
        .items
        .ok_or("the _bulk answer has no `items` (is the URL a `_bulk` endpoint?)")?;
    if items.len() != actions {
        return Err(format!(
            "the _bulk answer has {} items for {actions} actions",
            items.len()
        ));
    }
    Ok(sort(items, on_status))
}

/// The parts of a `_bulk` answer read when it is not clean.
#[derive(Deserialize)]
struct Answer {
    items: Option<Vec<Item>>,
}

/// One item: the action it answers, and how it went.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Item {
    Create(ItemResult),
    Index(ItemResult),
    Update(ItemResult),
    Delete(ItemResult),
}

/// An item's status, and its error when it failed.
#[derive(Deserialize)]
struct ItemResult {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Sorts the items by what happens to their events next.
fn sort(items: Vec<Item>, on_status: &BTreeMap<u16, StatusAction>) -> Outcome {
    let mut out = Outcome::default();
    for (position, item) in items.into_iter().enumerate() {
        let (create, result) = match item {
            Item::Create(r) => (true, r),
            Item::Index(r) | Item::Update(r) | Item::Delete(r) => (false, r),
        };
        let class = StatusCode::from_u16(result.status).map(|s| classify(s, on_status));
        match class {
            Ok(Class::Delivered) => {}
            _ if create && result.status == 409 => out.duplicates += 1,
            // A missing index, a refused credential: not the document's fault.
            Ok(Class::Retry | Class::Hold) => out.retry.push((position, reason(&result))),
            // Anything else, a 413 for one document and a status that is no status included.
            _ => out.rejected.push((position, reason(&result))),
        }
    }
    out
}

/// An item's failure on one line: `400 mapper_parsing_exception: failed to parse ...; caused
/// by illegal_argument_exception: ...`, at most `REASON_MAX` characters.
fn reason(result: &ItemResult) -> String {
    let mut text = result.status.to_string();
    let mut error = result.error.as_ref();
    for depth in 0..CAUSES_MAX {
        let sep = if depth == 0 { " " } else { "; caused by " };
        match error {
            Some(serde_json::Value::Object(e)) => {
                let field = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("?");
                text += &format!("{sep}{}: {}", field("type"), field("reason"));
                error = e.get("caused_by");
            }
            // Elasticsearch 1.x gave the error as one string.
            Some(serde_json::Value::String(s)) => {
                text += &format!("{sep}{s}");
                break;
            }
            _ => break,
        }
    }
    one_line(&text, REASON_MAX)
}

/// `text` with control characters as spaces, cut to `max` characters (`...` marks a cut).
fn one_line(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push_str("...");
    }
    out
}

/// The answer's top-level `errors` flag, read without building the values before it (and
/// without reading anything after it). `None` when the answer is not an object with a
/// boolean `errors`.
pub fn errors_flag(body: &[u8]) -> Option<bool> {
    let mut scan = Scan { body, pos: 0 };
    if !scan.take(b'{') {
        return None;
    }
    loop {
        let key: String = scan.value()?;
        if !scan.take(b':') {
            return None;
        }
        if key == "errors" {
            return scan.value();
        }
        scan.value::<IgnoredAny>()?;
        if !scan.take(b',') {
            return None;
        }
    }
}

/// A cursor over JSON text, one value or punctuation mark at a time.
struct Scan<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    /// Skips JSON whitespace, then takes `byte` if it comes next.
    fn take(&mut self, byte: u8) -> bool {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.body.get(self.pos) {
            self.pos += 1;
        }
        let hit = self.body.get(self.pos) == Some(&byte);
        self.pos += usize::from(hit);
        hit
    }

    /// Parses the next JSON value as a `T`.
    fn value<T: Deserialize<'a>>(&mut self) -> Option<T> {
        let rest: &'a [u8] = &self.body[self.pos..];
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<T>();
        let value = values.next()?.ok()?;
        self.pos += values.byte_offset();
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> Outcome {
        Outcome::default()
    }

    #[test]
    fn a_clean_answer_is_read_from_its_errors_flag_alone() {
        let ok = br#"{"took":30,"errors":false,"items":[{"create":{"_index":"logs","_id":"a","status":201}}]}"#;
        assert_eq!(read(ok, 1, &BTreeMap::new()), Ok(clean()));
        // The items of a clean answer are not read: neither their count nor their syntax.
        assert_eq!(
            read(
                br#"{"took":1,"errors":false,"items":[oops"#,
                5,
                &BTreeMap::new()
            ),
            Ok(clean())
        );
        // Whitespace and escapes are JSON's, not a substring's.
        let pretty = b"{\n  \"took\" : 3,\n  \"errors\" : false,\n  \"items\" : [ ]\n}";
        assert_eq!(read(pretty, 2, &BTreeMap::new()), Ok(clean()));
        assert_eq!(
            read(br#"{"err\u006frs":false}"#, 3, &BTreeMap::new()),
            Ok(clean())
        );
        // Values before the flag are skipped whole, whatever they hold.
        let nested = br#"{"x":{"errors":true,"s":"\"errors\":true"},"errors":false}"#;
        assert_eq!(errors_flag(nested), Some(false));
    }

    #[test]
    fn the_flag_is_found_where_it_is_and_only_at_the_top() {
        assert_eq!(errors_flag(br#"{"errors":true,"items":[]}"#), Some(true));
        assert_eq!(errors_flag(br#"{"items":[],"errors":false}"#), Some(false));
        // A document id holding `"errors":false`: a substring search would call it clean.
        let tricky =
            br#"{"items":[{"create":{"_id":"\"errors\":false","status":429}}],"errors":true}"#;
        assert_eq!(errors_flag(tricky), Some(true));
        assert_eq!(read(tricky, 1, &BTreeMap::new()).unwrap().retry.len(), 1);
        for no in [
            &b""[..],
            b"[]",
            b"{}",
            b"{\"errors\":\"false\"}",
            b"{\"errors\":falsey}",
            b"{\"a\":1}",
            b"{\"a\" 1,\"errors\":false}",
            b"<html>",
        ] {
            assert_eq!(errors_flag(no), None, "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn failed_items_are_sorted_by_what_happens_next() {
        let body = br#"{"took":5,"errors":true,"items":[
            {"create":{"_index":"logs","status":201}},
            {"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}},
            {"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] of type [long]","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"x\""}}}},
            {"create":{"status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}},
            {"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[a]: version conflict, document already exists"}}},
            {"index":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[b]: version conflict"}}},
            {"create":{"status":408}},
            {"index":{"status":200}},
            {"create":{"status":413,"error":"document too large"}}
        ]}"#;
        let out = read(body, 9, &BTreeMap::new()).unwrap();
        assert_eq!(
            out.retry,
            vec![
                (
                    1,
                    "429 es_rejected_execution_exception: rejected execution of coordinating operation".to_owned()
                ),
                (
                    3,
                    "503 unavailable_shards_exception: primary shard is not active".to_owned()
                ),
                (6, "408".to_owned()),
            ]
        );
        assert_eq!(
            out.rejected,
            vec![
                (
                    2,
                    "400 mapper_parsing_exception: failed to parse field [n] of type [long]; caused by illegal_argument_exception: For input string: \"x\"".to_owned()
                ),
                (5, "409 version_conflict_engine_exception: [b]: version conflict".to_owned()),
                (8, "413 document too large".to_owned()),
            ]
        );
        assert_eq!(
            out.duplicates, 1,
            "a 409 on `create`: the document is there"
        );
    }

    #[test]
    fn answers_that_cannot_be_read_say_why() {
        let err = |body: &[u8], n| read(body, n, &BTreeMap::new()).unwrap_err();
        assert!(err(b"<html>bad gateway</html>", 1).contains("cannot be read"));
        assert!(err(b"", 1).contains("cannot be read"));
        assert!(err(b"{}", 1).contains("no `items`"));
        assert!(err(br#"{"errors":true}"#, 1).contains("no `items`"));
        assert_eq!(
            err(br#"{"errors":true,"items":[{"create":{"status":201}}]}"#, 2),
            "the _bulk answer has 1 items for 2 actions"
        );
        assert!(
            err(br#"{"errors":true,"items":[{"upsert":{"status":201}}]}"#, 1)
                .contains("cannot be read")
        );
        assert!(err(br#"{"errors":true,"items":[{"create":{}}]}"#, 1).contains("status"));
        // Without the flag, the items decide.
        assert_eq!(
            read(
                br#"{"items":[{"create":{"status":201}}]}"#,
                1,
                &BTreeMap::new()
            ),
            Ok(clean())
        );
    }

    #[test]
    fn reasons_are_one_bounded_line() {
        let long = "x".repeat(2000);
        let body = format!(
            r#"{{"errors":true,"items":[{{"create":{{"status":400,"error":{{"type":"t","reason":"a\nb {long}"}}}}}}]}}"#
        );
        let out = read(body.as_bytes(), 1, &BTreeMap::new()).unwrap();
        let why = &out.rejected[0].1;
        assert!(why.starts_with("400 t: a b xxx"), "{why}");
        assert!(why.ends_with("..."));
        assert_eq!(why.chars().count(), REASON_MAX + 3);
    }
}
