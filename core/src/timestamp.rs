//! An event timestamp as RFC 3339 text (`2026-01-02T03:04:05.678901Z`), written straight into
//! a buffer: the encoder writes one per event, so this is integer arithmetic and a fixed
//! 27-byte pattern, without `fmt` or a clock.

/// Length of the text [`push_rfc3339_micros`] appends.
pub const LEN: usize = 27;

/// Appends `ns` (nanoseconds since the Unix epoch) as UTC RFC 3339 with microseconds, the
/// same text as `humantime::format_rfc3339_micros` (a `u64` of nanoseconds ends in 2554).
pub fn push_rfc3339_micros(out: &mut Vec<u8>, ns: u64) {
    let (secs, micros) = (ns / 1_000_000_000, ns % 1_000_000_000 / 1_000);
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    digits(&mut text[0..4], year);
    digits(&mut text[5..7], month);
    digits(&mut text[8..10], day);
    digits(&mut text[11..13], of_day / 3_600);
    digits(&mut text[14..16], of_day / 60 % 60);
    digits(&mut text[17..19], of_day % 60);
    digits(&mut text[20..26], micros);
    out.extend_from_slice(&text);
}

/// The UTC (year, month, day, hour) of `ns` (nanoseconds since the Unix epoch): what daily
/// and hourly destination names (`logs-%Y.%m.%d`) are made of.
pub fn date_hour(ns: u64) -> (u64, u64, u64, u64) {
    let secs = ns / 1_000_000_000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    (year, month, day, secs % 86_400 / 3_600)
}

/// Writes `n` as decimal digits filling `slot` (zero-padded on the left).
pub fn digits(slot: &mut [u8], mut n: u64) {
    for d in slot.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// (year, month, day) of the day `days` after 1970-01-01 in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn ours(ns: u64) -> String {
        let mut out = Vec::new();
        push_rfc3339_micros(&mut out, ns);
        assert_eq!(out.len(), LEN);
        String::from_utf8(out).unwrap()
    }

    fn humantime(ns: u64) -> String {
        humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
    }

    #[test]
    fn matches_humantime_on_edges_and_a_sweep() {
        let day = 86_400 * 1_000_000_000u64;
        let mut cases = vec![
            0,
            999,
            1_000,
            1_700_000_000_123_456_789,
            // 2000-02-29 and 2100-03-01 (2100 is not a leap year), 1999-12-31T23:59:59.999999
            951_782_400 * 1_000_000_000,
            4_107_542_400 * 1_000_000_000,
            946_684_799_999_999_000,
            u64::MAX,
        ];
        // Every 7 days and 13 hours until 2554, with a changing sub-second part.
        let mut ns = 0u64;
        while ns < u64::MAX - 8 * day {
            cases.push(ns);
            ns += 7 * day + 13 * 3_600_000_000_000 + 123_457_001;
        }
        for ns in cases {
            let text = humantime(ns);
            assert_eq!(ours(ns), text, "at {ns} ns");
            let (y, m, d, h) = date_hour(ns);
            assert_eq!(
                format!("{y:04}-{m:02}-{d:02}T{h:02}"),
                text[..13],
                "at {ns} ns"
            );
        }
    }
}
