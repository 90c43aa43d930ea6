//! logcatch filter `drop_debug`: drops events by log level (`DEBUG` by default).
//!
//! An event's level is its `level` attribute when a parser earlier in the chain set one
//! (text); otherwise the first level word among the first four tokens of its message
//! (separated by whitespace or commas), in any case, bare or wrapped (`DEBUG`, `debug`,
//! `[DEBUG]`, `<debug>`, `level=debug`, `"level":"debug"`, `DEBUG:`). Level words are
//! TRACE, DEBUG, INFO, WARN, WARNING (the same level as WARN), ERROR, FATAL, and any word
//! listed in `levels`. Events without a level are kept. See README.md.

use logcatch_plugin::{AttrValue, Batch, Event, Filter, Level, Verdict};
use serde::Deserialize;

mod scan;

/// Words taken for a level in a message, besides those configured.
const STANDARD_LEVELS: [&str; 7] = [
    "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL",
];

/// The plugin's `config:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Levels to drop, any case.
    #[serde(default = "default_levels")]
    levels: Vec<String>,
}

fn default_levels() -> Vec<String> {
    vec!["DEBUG".into()]
}

/// The filter: a short table of level words, each marked drop or keep.
pub struct DropDebug {
    /// Every level word (uppercase ASCII) and whether events at that level are dropped.
    words: Vec<(Vec<u8>, bool)>,
    /// [`key`] of each word, in the same order.
    keys: Vec<u64>,
    /// Every key in a slot of its own (see [`Slots`]): a lookup is one probe, with no
    /// loop whose exit depends on the word, so the CPU has nothing to mispredict.
    slots: Slots,
    /// Length range of the words, and the bytes they start with (either case): most
    /// tokens are rejected by these two checks alone.
    min_len: usize,
    max_len: usize,
    first: [bool; 256],
}

/// The first eight bytes of a word, ASCII letters uppercased, and its length (capped),
/// packed in one integer: equal keys mean equal words, ignoring ASCII case, up to eight bytes.
#[inline]
fn key(word: &[u8]) -> u64 {
    let x = match *word {
        [a, b, c, d, e, f, g, h, ..] => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
        [a, b, c, d, ..] => {
            // Two overlapping four-byte loads: bytes in both land in the same place.
            let n = word.len();
            let tail = u32::from_le_bytes(word[n - 4..].try_into().expect("4 bytes"));
            u64::from(u32::from_le_bytes([a, b, c, d])) | u64::from(tail) << (8 * (n - 4))
        }
        _ => word
            .iter()
            .enumerate()
            .fold(0, |x, (i, &b)| x | u64::from(b) << (8 * i)),
    };
    // Per byte: set the high bit of a lowercase ASCII letter, then flip its 0x20 bit.
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = x & LOW7;
    let from_a = low + 0x1f1f_1f1f_1f1f_1f1f; // high bit set when >= 'a' (0x61)
    let past_z = low + 0x0505_0505_0505_0505; // high bit set when > 'z' (0x7a)
    let lower = from_a & !past_z & !x & HIGH;
    (x ^ (lower >> 2)) ^ (word.len().min(255) as u64).rotate_right(8)
}

impl DropDebug {
    /// Builds the word table from the configured levels.
    fn new(levels: &[String]) -> Result<Self, String> {
        let mut drop: Vec<String> = Vec::with_capacity(levels.len());
        for (i, level) in levels.iter().enumerate() {
            let ok = !level.is_empty()
                && level
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                && level.as_bytes()[0].is_ascii_alphanumeric()
                && level.as_bytes()[level.len() - 1].is_ascii_alphanumeric();
            if !ok {
                return Err(format!(
                    "levels[{i}]: {level:?} is not a level word (letters, digits, `_` or `-` inside)"
                ));
            }
            drop.push(canonical(&level.to_ascii_uppercase()).to_owned());
        }
        let mut words: Vec<(Vec<u8>, bool)> = Vec::new();
        for word in STANDARD_LEVELS
            .iter()
            .copied()
            .chain(levels.iter().map(String::as_str))
        {
            let upper = word.to_ascii_uppercase();
            if words.iter().any(|(w, _)| *w == upper.as_bytes()) {
                continue;
            }
            let dropped = drop.iter().any(|d| d == canonical(&upper));
            words.push((upper.into_bytes(), dropped));
        }
        let min_len = words.iter().map(|(w, _)| w.len()).min().unwrap_or(0);
        let max_len = words.iter().map(|(w, _)| w.len()).max().unwrap_or(0);
        let mut first = [false; 256];
        for (w, _) in &words {
            first[usize::from(w[0])] = true;
            first[usize::from(w[0].to_ascii_lowercase())] = true;
        }
        let keys: Vec<u64> = words.iter().map(|(w, _)| key(w)).collect();
        let slots = Slots::new(&keys);
        Ok(DropDebug {
            words,
            keys,
            slots,
            min_len,
            max_len,
            first,
        })
    }

    /// Whether `word` is a level word and, if so, whether its events are dropped.
    #[inline]
    fn lookup(&self, word: &[u8]) -> Option<bool> {
        if word.len() < self.min_len
            || word.len() > self.max_len
            || !self.first[usize::from(word[0])]
        {
            return None;
        }
        let k = key(word);
        let i = self.slots.find(k)?;
        let (w, dropped) = &self.words[i];
        // Equal keys and lengths: the same word up to eight bytes; past that, compare.
        if w.len() == word.len() && (w.len() <= 8 || w.eq_ignore_ascii_case(word)) {
            return Some(*dropped);
        }
        // Longer words can share a key: the others with it.
        self.keys
            .iter()
            .zip(&self.words)
            .find(|&(&wk, (w, _))| {
                wk == k && w.len() == word.len() && (w.len() <= 8 || w.eq_ignore_ascii_case(word))
            })
            .map(|(_, &(_, dropped))| dropped)
    }

    /// Whether the event goes: by its `level` attribute, else by its message.
    #[inline]
    fn drops(&self, event: &Event<'_>, level: Option<logcatch_plugin::AttrKey>) -> bool {
        if let Some(AttrValue::Text(level)) = level.and_then(|k| event.attr_by(k)) {
            return self.lookup(level.trim().as_bytes()).unwrap_or(false);
        }
        self.message_drops(event.message().as_bytes())
    }

    /// Whether a message goes: its first level word among its first tokens decides.
    #[inline]
    fn message_drops(&self, message: &[u8]) -> bool {
        scan::first_word(message, |word| self.lookup(word)).unwrap_or(false)
    }
}

/// A hash table with one slot per distinct key, found at set-up: slot `(key * mul) >>
/// shift` holds `(key, index + 1)` of the first word with that key, `(_, 0)` when empty.
struct Slots {
    slots: Vec<(u64, u32)>,
    mul: u64,
    shift: u32,
}

impl Slots {
    /// Tries multipliers until no two distinct keys share a slot, doubling the table every
    /// 64 tries (with `n` keys it fits at once with odds over one half once it has `n²`
    /// slots; the seven standard levels fit in 32).
    fn new(keys: &[u64]) -> Slots {
        let mut size = (keys.len() * 4).next_power_of_two().max(16);
        let mut mul: u64 = 0x9E37_79B9_7F4A_7C15;
        loop {
            for _ in 0..64 {
                let shift = 64 - size.trailing_zeros();
                let mut slots = vec![(0u64, 0u32); size];
                let fits = keys.iter().enumerate().all(|(i, &k)| {
                    let s = &mut slots[(k.wrapping_mul(mul) >> shift) as usize];
                    match s.1 {
                        0 => *s = (k, i as u32 + 1),
                        _ if s.0 != k => return false,
                        _ => {}
                    }
                    true
                });
                if fits {
                    return Slots { slots, mul, shift };
                }
                // The next odd multiplier, from a 64-bit LCG.
                mul = mul
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407)
                    | 1;
            }
            size *= 2;
        }
    }

    /// The index of the first word whose key is `k`.
    #[inline]
    fn find(&self, k: u64) -> Option<usize> {
        let (key, i) = self.slots[(k.wrapping_mul(self.mul) >> self.shift) as usize];
        (key == k && i != 0).then(|| i as usize - 1)
    }
}

/// WARN and WARNING are one level.
fn canonical(upper: &str) -> &str {
    if upper == "WARNING" { "WARN" } else { upper }
}

impl Filter for DropDebug {
    fn init(config: &str) -> Result<Self, String> {
        let config: Config = logcatch_plugin::config(config)?;
        if config.levels.is_empty() {
            logcatch_plugin::log(Level::Warn, "levels is empty: this filter drops nothing");
        }
        DropDebug::new(&config.levels)
    }

    fn process(&mut self, batch: &Batch) -> Result<Verdict, String> {
        let level = batch.attr_key("level");
        Ok(Verdict::keep_where(batch, |event| {
            !self.drops(event, level)
        }))
    }
}

logcatch_plugin::export_filter!(DropDebug);

#[cfg(test)]
mod tests {
    use super::*;
    use logcatch_plugin::BatchBuilder;

    fn kept(config: &str, lines: &[&str]) -> Vec<String> {
        let mut f = DropDebug::init(config).unwrap();
        let batch = Batch::from_messages(lines);
        let verdict = f.process(&batch).unwrap();
        verdict
            .apply(&batch)
            .iter()
            .map(|e| e.message().to_owned())
            .collect()
    }

    #[test]
    fn drops_debug_by_default_and_keeps_the_rest() {
        let lines = [
            "2026-11-25T08:00:00.000Z DEBUG checkout-api cache miss",
            "2026-11-25T08:00:00.001Z INFO checkout-api request done",
            "no level at all",
            "",
            "DEBUG at the very start",
        ];
        assert_eq!(kept("{}", &lines), [lines[1], lines[2], lines[3]]);
    }

    #[test]
    fn keeps_everything_without_a_copy_when_nothing_matches() {
        let mut f = DropDebug::init("{}").unwrap();
        let batch = Batch::from_messages(["INFO a", "WARN b"]);
        assert_eq!(f.process(&batch).unwrap(), Verdict::KeepAll);
    }

    #[test]
    fn any_case_and_wrapped_forms_count() {
        let lines = [
            "[DEBUG] a",
            "ts debug b",
            "ts host Debug: c",
            "ts host pid level=debug d",
            "{\"level\":\"debug\",\"msg\":\"e\"}",
            "<debug> f",
            "ts (DeBuG) g",
            "ts level=\"debug\" h",
            "[INFO] kept",
        ];
        assert_eq!(kept("{}", &lines), ["[INFO] kept"]);
    }

    #[test]
    fn only_the_first_four_tokens_and_the_first_level_word_count() {
        let lines = [
            "a b c d DEBUG fifth token",
            "a b c DEBUG fourth token",
            "INFO then DEBUG later",
            "debugging is not a level",
            "DEBUGGER neither",
        ];
        assert_eq!(kept("{}", &lines), [lines[0], lines[2], lines[3], lines[4]]);
    }

    #[test]
    fn configured_levels_any_case_with_warn_and_warning_as_one() {
        let lines = [
            "TRACE a",
            "debug b",
            "INFO c",
            "WARNING d",
            "warn e",
            "ERROR f",
        ];
        assert_eq!(
            kept(r#"{"levels": ["trace", "Warn"]}"#, &lines),
            ["debug b", "INFO c", "ERROR f"]
        );
        assert_eq!(
            kept(r#"{"levels": ["WARNING"]}"#, &lines),
            ["TRACE a", "debug b", "INFO c", "ERROR f"]
        );
        assert_eq!(kept(r#"{"levels": []}"#, &lines), lines);
    }

    #[test]
    fn configured_words_become_level_words() {
        let lines = ["ts NOTICE disk ok", "ts INFO NOTICE later", "ts crit x"];
        assert_eq!(
            kept(r#"{"levels": ["notice"]}"#, &lines),
            [lines[1], lines[2]]
        );
    }

    #[test]
    fn long_words_sharing_their_first_eight_bytes_stay_apart() {
        let lines = [
            "ts AUDIT_WRITE x",
            "ts AUDIT_READ y",
            "ts audit_writer z",
            "ts AUDIT_WRIT w",
        ];
        assert_eq!(
            kept(r#"{"levels": ["audit_write", "AUDIT_WRITER"]}"#, &lines),
            [lines[1], lines[3]]
        );
        assert_eq!(
            kept(r#"{"levels": ["AUDIT_READ", "AUDIT_WRITE"]}"#, &lines),
            [lines[2], lines[3]]
        );
    }

    #[test]
    fn a_word_whose_key_equals_a_level_words_but_not_its_length_is_no_level() {
        // Same first seven bytes; the eighth differs by as much as the lengths, so the
        // two keys are equal: only the length check tells them apart.
        assert_eq!(key(b"ABCDEFGA"), key(b"ABCDEFG@x"));
        let lines = ["ts ABCDEFG@x a", "ts abcdefga b"];
        assert_eq!(kept(r#"{"levels": ["ABCDEFGA"]}"#, &lines), [lines[0]]);
    }

    #[test]
    fn many_configured_levels_each_get_a_slot() {
        let levels: Vec<String> = (0..200).map(|i| format!("L{i}")).collect();
        let config = format!(r#"{{"levels": ["{}"]}}"#, levels.join("\", \""));
        let f = DropDebug::init(&config).unwrap();
        for (i, level) in levels.iter().enumerate() {
            assert_eq!(f.lookup(level.as_bytes()), Some(true), "{level}");
            assert_eq!(f.lookup(format!("l{i}").as_bytes()), Some(true), "{level}");
        }
        assert_eq!(f.lookup(b"INFO"), Some(false));
        assert_eq!(f.lookup(b"L200"), None);
    }

    #[test]
    fn the_level_attribute_wins_over_the_message() {
        let mut b = BatchBuilder::new();
        b.push("DEBUG but attr says info", "s", 0, 0)
            .attr("level", "info");
        b.push("INFO but attr says debug", "s", 1, 0)
            .attr("level", "Debug");
        b.push("DEBUG with a numeric level attr", "s", 2, 0)
            .attr("level", 7);
        b.push("DEBUG without attr", "s", 3, 0);
        b.push("INFO with an unknown level attr", "s", 4, 0)
            .attr("level", "notice");
        let batch = b.build();
        let mut f = DropDebug::init("{}").unwrap();
        assert_eq!(f.process(&batch).unwrap(), Verdict::Keep(vec![0, 4]));
    }

    #[test]
    fn bad_configs_are_refused_with_the_reason() {
        let err = |c: &str| DropDebug::init(c).err().unwrap();
        assert!(err(r#"{"level": ["DEBUG"]}"#).contains("unknown field `level`"));
        assert!(err(r#"{"levels": "DEBUG"}"#).starts_with("invalid config"));
        assert!(err(r#"{"levels": ["DEBUG", "[x]"]}"#).starts_with("levels[1]: \"[x]\""));
        assert!(err(r#"{"levels": [""]}"#).starts_with("levels[0]"));
    }
}
