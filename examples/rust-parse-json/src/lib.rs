//! logcatch filter `parse_json`: parses JSON log lines into typed attributes, the same way
//! as the JavaScript example `examples/js-parse-json` (the two are held to the same expected
//! output). Lines that are not JSON objects pass unchanged, with a `json_error` attribute
//! saying why. See README.md.

mod js;

use logcatch_plugin::{Batch, BatchBuilder, Filter, Verdict};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The attribute that marks a line that is not a JSON object.
pub const ERROR_KEY: &str = "json_error";

/// What to do with a field whose value is an object or an array.
#[derive(Debug, Default, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Nested {
    /// One text attribute holding the value's JSON.
    #[default]
    Json,
    /// One attribute per leaf of an object, under a dotted key (`host.disk.pct`); arrays
    /// and empty objects stay JSON text.
    Flatten,
}

/// The plugin's `config:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// Fields that may hold the event's message, in order: the first one holding a string
    /// becomes the message (and is not also an attribute).
    message_keys: Vec<String>,
    /// Objects and arrays: `json` or `flatten`.
    nested: Nested,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            message_keys: vec!["message".into(), "msg".into()],
            nested: Nested::Json,
        }
    }
}

/// The filter: its config.
pub struct ParseJson {
    message_keys: Vec<String>,
    flatten: bool,
}

/// The line's JSON object, or why it is not one (the words the JavaScript example uses).
pub fn parse_line(line: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(format!("not a JSON object but {}", kind_of(&other))),
        Err(_) => Err("not JSON".to_owned()),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Object(_) => "an object",
    }
}

/// Sets attribute `key` of the event added last from a JSON value: strings are text,
/// whole numbers within ±(2^53 - 1) ints, other numbers floats, `null` is left out.
fn set_field(out: &mut BatchBuilder, key: &str, value: &Value, flatten: bool) {
    match value {
        Value::Null => {}
        Value::String(s) => {
            out.attr(key, s.as_str());
        }
        Value::Bool(b) => {
            out.attr(key, *b);
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if x.fract() == 0.0 && x.abs() <= js::MAX_SAFE_INTEGER {
                out.attr(key, x as i64);
            } else {
                out.attr(key, x);
            }
        }
        Value::Object(object) if flatten && !object.is_empty() => {
            for (k, v) in js::keys_in_order(object) {
                set_field(out, &format!("{key}.{k}"), v, flatten);
            }
        }
        Value::Object(_) | Value::Array(_) => {
            out.attr(key, js::stringify(value).as_str());
        }
    }
}

impl Filter for ParseJson {
    fn init(config: &str) -> Result<Self, String> {
        let c: Config = logcatch_plugin::config(config)?;
        if c.message_keys.iter().any(String::is_empty) {
            return Err("message_keys: give field names (non-empty strings)".into());
        }
        Ok(ParseJson {
            message_keys: c.message_keys,
            flatten: c.nested == Nested::Flatten,
        })
    }

    fn process(&mut self, batch: &Batch) -> Result<Verdict, String> {
        let mut out = BatchBuilder::sized_for(batch);
        for event in batch {
            let object = match parse_line(event.message()) {
                Ok(object) => object,
                Err(why) => {
                    out.push_event(&event).attr(ERROR_KEY, why.as_str());
                    continue;
                }
            };
            let message_key = self
                .message_keys
                .iter()
                .find(|k| matches!(object.get(k.as_str()), Some(Value::String(_))));
            match message_key.and_then(|k| object.get(k.as_str())) {
                Some(Value::String(m)) => out.push_event_with_message(&event, m),
                _ => out.push_event(&event),
            };
            for (k, v) in js::keys_in_order(&object) {
                if Some(k) != message_key {
                    set_field(&mut out, k, v, self.flatten);
                }
            }
        }
        Ok(Verdict::replace(out))
    }
}

logcatch_plugin::export_filter!(ParseJson);

#[cfg(test)]
mod tests {
    use super::*;
    use logcatch_plugin::AttrValue::{Bool, Float, Int, Text};

    /// Runs the filter with `config` over `lines`; each output event's message and its
    /// attributes as `key=value` (values in their `Debug` form, which shows the kind).
    fn run(config: &str, lines: &[&str]) -> Vec<(String, Vec<String>)> {
        let mut f = ParseJson::init(config).unwrap();
        let input = Batch::from_messages(lines);
        let out = f.process(&input).unwrap().apply(&input);
        out.iter()
            .map(|e| {
                let attrs = e.attrs().map(|(k, v)| format!("{k}={v:?}")).collect();
                (e.message().to_owned(), attrs)
            })
            .collect()
    }

    #[test]
    fn fields_become_typed_attributes_and_msg_the_message() {
        let got = run(
            "{}",
            &[r#"{"msg":"hi","n":3,"x":1.5,"ok":true,"none":null,"big":1e3,"o":{"a":1}}"#],
        );
        assert_eq!(got[0].0, "hi");
        let want = [
            format!("n={:?}", Int(3)),
            format!("x={:?}", Float(1.5)),
            format!("ok={:?}", Bool(true)),
            format!("big={:?}", Int(1000)),
            format!("o={:?}", Text("{\"a\":1}")),
        ];
        assert_eq!(got[0].1, want);
    }

    #[test]
    fn flatten_makes_dotted_keys_and_the_first_string_message_key_wins() {
        let got = run(
            r#"{"message_keys":["message","msg"],"nested":"flatten"}"#,
            &[r#"{"message":42,"msg":"m","h":{"d":{"p":9.5},"e":{}},"t":[1]}"#],
        );
        assert_eq!(got[0].0, "m");
        let want = [
            format!("message={:?}", Int(42)),
            format!("h.d.p={:?}", Float(9.5)),
            format!("h.e={:?}", Text("{}")),
            format!("t={:?}", Text("[1]")),
        ];
        assert_eq!(got[0].1, want);
    }

    #[test]
    fn lines_that_are_not_objects_pass_with_the_reason() {
        let lines = ["plain text", "[1]", "\"s\"", "null", "7", "{\"a\": tru"];
        let got = run("{}", &lines);
        let reasons = [
            "not JSON",
            "not a JSON object but an array",
            "not a JSON object but a string",
            "not a JSON object but null",
            "not a JSON object but a number",
            "not JSON",
        ];
        for ((line, (message, attrs)), why) in lines.iter().zip(&got).zip(reasons) {
            assert_eq!(message, line);
            assert_eq!(attrs, &[format!("json_error={:?}", Text(why))]);
        }
    }

    #[test]
    fn bad_config_is_refused() {
        assert!(ParseJson::init(r#"{"nested":"deep"}"#).is_err());
        assert!(ParseJson::init(r#"{"message_keys":[""]}"#).is_err());
        assert!(ParseJson::init(r#"{"typo":1}"#).is_err());
    }
}
