//! Human units in configs: durations (`5ms`, `1s`, `2m`) and byte sizes (`64KiB`, `1MiB`,
//! or a plain number of bytes).

use std::time::Duration;

use serde::{Deserialize, Deserializer, de};

/// Deserializes a duration written as `250ms`, `1s`, `1m 30s`, or a number of milliseconds.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Millis(u64),
        Text(String),
    }
    match Raw::deserialize(d)
        .map_err(|_| de::Error::custom("expected a duration such as `250ms`, `5s` or `1m`"))?
    {
        Raw::Millis(ms) => Ok(Duration::from_millis(ms)),
        Raw::Text(s) => humantime::parse_duration(&s).map_err(|e| {
            de::Error::custom(format!(
                "`{s}` is not a duration ({e}); write e.g. `250ms`, `5s`"
            ))
        }),
    }
}

/// Deserializes a byte size written as a number, or with a unit: `B`, `KB`/`KiB`, `MB`/`MiB`,
/// `GB`/`GiB` (both spellings mean powers of 1024, as in most log shippers).
pub fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(d)
        .map_err(|_| de::Error::custom("expected a size such as `1048576`, `64KiB` or `1MiB`"))?
    {
        Raw::Number(n) => Ok(n),
        Raw::Text(s) => parse_bytes(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "`{s}` is not a size; write e.g. `65536`, `64KiB`, `1MiB`"
            ))
        }),
    }
}

/// Parses `64KiB`, `1 MB`, `100`.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_bytes("100"), Some(100));
        assert_eq!(parse_bytes("64KiB"), Some(65536));
        assert_eq!(parse_bytes("1 MB"), Some(1 << 20));
        assert_eq!(parse_bytes("2gib"), Some(2 << 30));
        assert_eq!(parse_bytes("1.5MB"), None);
        assert_eq!(parse_bytes("MB"), None);
    }
}
