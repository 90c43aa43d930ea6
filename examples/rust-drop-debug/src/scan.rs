//! Finding the words of a message's first tokens, fast.
//!
//! A token is a run of bytes between separators (ASCII whitespace and commas); its *word*
//! is the token without the punctuation around it and, for `key=value` or `key:value`,
//! only the value: `[DEBUG]` → `DEBUG`, `level=debug,` → `debug`, `"level":"warn"` →
//! `warn`. [`first_word`] hands the words of the first [`TOKENS`] tokens to a callback.
//!
//! The scalar way (kept as the reference, and for tokens longer than a window) looks at each
//! byte a few times. The fast way classifies 32 bytes at once into three bit masks
//! (separator, alphanumeric, `=`/`:`), with WebAssembly SIMD when built with `+simd128`,
//! and then finds tokens and words with bit arithmetic; when the tokens go on past the
//! window, the next window starts where they do. Most levels sit in the first 32 bytes
//! (after a timestamp), so most lines cost one window, and nothing is allocated.

/// How many leading tokens of a message may hold its level.
pub const TOKENS: usize = 4;

/// Bytes classified at once (a window); one bit per byte in a `u32` mask.
const WINDOW: usize = 32;

/// Calls `f` with the word of each of the first [`TOKENS`] tokens of `m` that has one (a
/// token of punctuation only has none), in order, until `f` returns `Some`.
#[inline]
pub fn first_word<T>(m: &[u8], mut f: impl FnMut(&[u8]) -> Option<T>) -> Option<T> {
    let mut base = 0; // where the window starts in `m`
    let mut left = TOKENS; // tokens still to look at
    'windows: loop {
        let rest = &m[base..];
        let n = rest.len().min(WINDOW);
        let mut short = [0u8; WINDOW];
        let window: &[u8; WINDOW] = match rest.first_chunk() {
            Some(first) => first,
            None => {
                short[..n].copy_from_slice(rest);
                &short
            }
        };
        let c = classify(window);
        // Token ends: separators, and every position past the message.
        let ends = c.sep | if n == WINDOW { 0 } else { !0u32 << n };
        // Token starts: a byte that is no end, after an end or at the window's start.
        let mut starts = !ends & ((ends << 1) | 1);
        loop {
            if starts == 0 {
                // Only separators left in the window: on to the next, if there is one.
                if rest.len() <= WINDOW {
                    return None;
                }
                base += WINDOW;
                continue 'windows;
            }
            let s = starts.trailing_zeros();
            starts &= starts - 1;
            let after = ends & (!0u32 << s);
            if after == 0 {
                // The token runs on past the window: look again from its start, or, when it
                // is longer than a window, one byte at a time.
                if s == 0 {
                    return words_scalar(rest, left, f);
                }
                base += s as usize;
                continue 'windows;
            }
            let e = after.trailing_zeros();
            let alnum = c.alnum & ((1u32 << e) - 1) & (!0u32 << s);
            if alnum != 0 {
                let mut ws = alnum.trailing_zeros();
                let we = 32 - alnum.leading_zeros();
                let kv = c.kv & (!0u32 << ws) & (!0u32 >> (32 - we));
                if kv != 0 {
                    let last_kv = 31 - kv.leading_zeros();
                    // The token's last byte is alphanumeric, so the value is not empty.
                    ws = (alnum & (!0u32 << (last_kv + 1))).trailing_zeros();
                }
                if let Some(t) = f(&rest[ws as usize..we as usize]) {
                    return Some(t);
                }
            }
            left -= 1;
            if left == 0 {
                return None;
            }
        }
    }
}

/// [`first_word`], one byte at a time: the reference the tests hold the fast way to.
#[cfg(test)]
fn first_word_scalar<T>(m: &[u8], f: impl FnMut(&[u8]) -> Option<T>) -> Option<T> {
    words_scalar(m, TOKENS, f)
}

/// The words of the first `tokens` tokens of `m`, one byte at a time: the way for tokens
/// longer than the window.
fn words_scalar<T>(m: &[u8], tokens: usize, mut f: impl FnMut(&[u8]) -> Option<T>) -> Option<T> {
    m.split(|&b| is_separator(b))
        .filter(|t| !t.is_empty())
        .take(tokens)
        .map(bare)
        .filter(|w| !w.is_empty())
        .find_map(&mut f)
}

/// Token separators: ASCII whitespace and commas.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b',' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The word of a token (see the module docs).
fn bare(token: &[u8]) -> &[u8] {
    let token = trim_punct(token);
    match token.iter().rposition(|&b| b == b'=' || b == b':') {
        Some(i) => trim_punct(&token[i + 1..]),
        None => token,
    }
}

/// `t` without the non-alphanumeric bytes at either end.
fn trim_punct(t: &[u8]) -> &[u8] {
    let start = t
        .iter()
        .position(u8::is_ascii_alphanumeric)
        .unwrap_or(t.len());
    let end = t
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .map_or(start, |i| i + 1);
    &t[start..end]
}

/// One bit per byte of the window for each class.
#[derive(Debug, Default, PartialEq)]
struct Classes {
    sep: u32,
    alnum: u32,
    kv: u32,
}

/// Classifies the window one byte at a time (hosts without WebAssembly SIMD, and tests).
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
fn classify_scalar(w: &[u8; WINDOW]) -> Classes {
    let mut c = Classes::default();
    for (i, &b) in w.iter().enumerate() {
        c.sep |= u32::from(is_separator(b)) << i;
        c.alnum |= u32::from(b.is_ascii_alphanumeric()) << i;
        c.kv |= u32::from(b == b'=' || b == b':') << i;
    }
    c
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use classify_scalar as classify;

/// Classifies the window 16 bytes at a time with WebAssembly SIMD.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn classify(w: &[u8; WINDOW]) -> Classes {
    use core::arch::wasm32::*;
    let splat = u8x16_splat;
    let mut c = Classes::default();
    for (k, chunk) in w.chunks_exact(16).enumerate() {
        let b: &[u8; 16] = chunk.try_into().expect("16 bytes");
        let v = u8x16(
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        );
        // Separators: space, comma, and \t \n \v \f \r (9..=13).
        let sep = v128_or(
            v128_or(u8x16_eq(v, splat(b' ')), u8x16_eq(v, splat(b','))),
            u8x16_lt(u8x16_sub(v, splat(b'\t')), splat(5)),
        );
        // Letters (either case: | 0x20 lowers them) and digits.
        let alpha = u8x16_lt(u8x16_sub(v128_or(v, splat(0x20)), splat(b'a')), splat(26));
        let digit = u8x16_lt(u8x16_sub(v, splat(b'0')), splat(10));
        let kv = v128_or(u8x16_eq(v, splat(b'=')), u8x16_eq(v, splat(b':')));
        let shift = 16 * k as u32;
        c.sep |= u32::from(u8x16_bitmask(sep)) << shift;
        c.alnum |= u32::from(u8x16_bitmask(v128_or(alpha, digit))) << shift;
        c.kv |= u32::from(u8x16_bitmask(kv)) << shift;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(m: &str, fast: bool) -> Vec<String> {
        let mut out = Vec::new();
        let collect = |w: &[u8]| {
            out.push(String::from_utf8_lossy(w).into_owned());
            None::<()>
        };
        if fast {
            first_word(m.as_bytes(), collect);
        } else {
            first_word_scalar(m.as_bytes(), collect);
        }
        out
    }

    #[test]
    fn bare_strips_wrapping() {
        for (token, word) in [
            ("[DEBUG]", "DEBUG"),
            ("level=debug,", "debug"),
            ("\"level\":\"warn\"", "warn"),
            ("12:00:00.123", "00.123"),
            ("---", ""),
            ("a=", "a"),
            ("x", "x"),
        ] {
            assert_eq!(bare(token.as_bytes()), word.as_bytes(), "{token}");
        }
    }

    #[test]
    fn words_of_the_first_tokens() {
        assert_eq!(
            words(
                "2024-03-01T12:00:00.001Z  [DEBUG] level=info,x -- tail",
                true
            ),
            ["00.001Z", "DEBUG", "info", "x"]
        );
        assert_eq!(words("  a\tb\r\nc ", true), ["a", "b", "c"]);
        assert_eq!(words("", true), Vec::<String>::new());
        assert_eq!(
            words("{\"level\":\"debug\",\"msg\":\"e\"}", true),
            ["debug", "e"]
        );
    }

    #[test]
    fn the_fast_way_agrees_with_the_scalar_way() {
        let long = "x".repeat(70);
        let mut cases: Vec<String> = vec![
            "2024-03-01T12:00:00.001Z DEBUG [api] parsed headers GET path=/v1/orders".into(),
            "a b c d e f".into(),
            "---- ,,,, DEBUG".into(),
            "a=b=c ::x:: [=] <w>".into(),
            format!("{long} DEBUG"),
            format!("DEBUG {long}"),
            format!("a b {long}"),
            format!("a b c {long}"),
            format!("{} DEBUG", " ".repeat(63)),
            format!("{} DEBUG", " ".repeat(64)),
            format!("{}DEBUG", ",".repeat(60)),
            format!("{}=DEBUG x", "k".repeat(62)),
            "é ü DEBUG ñ".into(),
            "\u{a0}DEBUG\u{a0} x".into(),
        ];
        // Tokens of every length up to past two windows, and separator runs, so that
        // tokens start, end and run on across window edges.
        for k in 1..70 {
            let t = "k".repeat(k);
            cases.push(format!("{t} [{t}] level={t} x"));
            cases.push(format!("{t},{t} DEBUG x"));
            cases.push(format!("{} {t}=DEBUG", " ".repeat(k)));
            cases.push(format!("{t}{}INFO", ",".repeat(k)));
        }
        // Every length over a few windows, with separators around their edges.
        for len in 0..140 {
            for sep_at in [0, 1, 5, 30, 31, 32, 33, 62, 63, 64, 65, 95, 96, 97] {
                let mut s: Vec<u8> = (0..len).map(|i| b"ab=:[ ,"[i % 7]).collect();
                if sep_at < len {
                    s[sep_at] = b' ';
                }
                cases.push(String::from_utf8(s).unwrap());
            }
        }
        for m in &cases {
            assert_eq!(words(m, true), words(m, false), "{m:?}");
        }
    }

    #[test]
    fn masks_mark_the_right_bytes() {
        let mut w = [0u8; WINDOW];
        w[..12].copy_from_slice(b"aZ9 ,\t=:-\n~\x0c");
        let c = classify_scalar(&w);
        assert_eq!(c.alnum, 0b111);
        assert_eq!(c.sep, 1 << 3 | 1 << 4 | 1 << 5 | 1 << 9 | 1 << 11);
        assert_eq!(c.kv, 0b1100_0000);
    }
}
