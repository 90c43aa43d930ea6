//! JSON the way JavaScript sees it, so this filter and the JavaScript one
//! (`examples/js-parse-json`) give byte-identical output: the order of an object's keys
//! (integer-like keys first, ascending, then the others in the line's order), numbers as
//! JavaScript writes them, and `JSON.stringify`'s compact text.

use serde_json::{Map, Value};

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The fields of `object` in the order JavaScript's `Object.keys` gives them.
pub fn keys_in_order(object: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut fields: Vec<_> = object.iter().collect();
    // Stable: the other keys keep the line's order.
    fields.sort_by_key(|(k, _)| array_index(k).map_or((1, 0), |i| (0, i)));
    fields
}

/// `key` as an array index (a canonical decimal below 2^32 - 1), which JavaScript orders
/// before every other key.
fn array_index(key: &str) -> Option<u32> {
    let canonical = !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_digit())
        && (key == "0" || !key.starts_with('0'));
    match key.parse::<u32>() {
        Ok(i) if canonical && i != u32::MAX => Some(i),
        _ => None,
    }
}

/// `value` as `JSON.stringify` writes it.
pub fn stringify(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n.as_f64().unwrap_or(f64::NAN), out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(object) => {
            out.push('{');
            for (i, (k, v)) in keys_in_order(object).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_value(v, out);
            }
            out.push('}');
        }
    }
}

/// A string in quotes, escaped as `JSON.stringify` escapes it.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A number as JavaScript's `Number.prototype.toString()` writes it: the shortest digits
/// that read back the same, in plain notation from 1e-6 up to 1e21, else exponential.
pub fn write_number(x: f64, out: &mut String) {
    if x.is_nan() {
        // JSON has no NaN or infinities: `JSON.stringify` writes null.
        out.push_str("null");
        return;
    }
    if x.is_infinite() {
        out.push_str("null");
        return;
    }
    if x == 0.0 {
        out.push('0'); // -0 too
        return;
    }
    if x < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "9.725e1".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let digits: String = mantissa.chars().filter(|&c| c != '.').collect();
    let k = digits.len() as i32;
    let n = exp.parse::<i32>().expect("`{:e}` exponent is an integer") + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n - 1 < 0 { '-' } else { '+' });
        out.push_str(&(n - 1).abs().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(x: f64) -> String {
        let mut s = String::new();
        write_number(x, &mut s);
        s
    }

    #[test]
    fn numbers_read_as_javascript_writes_them() {
        // Each pair: the value, and what `String(value)` gives in node.
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (1000.0, "1000"),
            (97.25, "97.25"),
            (-7.0, "-7"),
            (0.000125, "0.000125"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e21, "1e+21"),
            (1.2345e22, "1.2345e+22"),
            (123456789012345680000.0, "123456789012345680000"),
            (12345678901234567890.0, "12345678901234567000"),
            (0.1, "0.1"),
            (f64::NAN, "null"),
        ];
        for (x, want) in cases {
            assert_eq!(num(x), want, "{x:?}");
        }
    }

    #[test]
    fn stringify_orders_keys_and_escapes_as_javascript_does() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"10":2,"2":3,"01":4,"a":[1e3,null,"x\"\u0001\n"]}"#)
                .unwrap();
        assert_eq!(
            stringify(&v),
            r#"{"2":3,"10":2,"b":1,"01":4,"a":[1000,null,"x\"\u0001\n"]}"#
        );
        assert_eq!(array_index("4294967294"), Some(4_294_967_294));
        assert_eq!(array_index("4294967295"), None);
        assert_eq!(array_index("-1"), None);
    }
}
