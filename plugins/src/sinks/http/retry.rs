//! When and how long to wait before sending again: which answers are worth retrying,
//! capped exponential backoff with jitter, `Retry-After`, and a limit on retry warnings so
//! that a server that is down for an hour does not flood the log.

use std::time::{Duration, SystemTime};

use std::collections::BTreeMap;

use reqwest::StatusCode;

use super::config::StatusAction;

/// What to do after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 2xx: delivered.
    Delivered,
    /// 408, 429, 5xx: the server may take it later.
    Retry,
    /// 401, 403, 404, 407, 421, and a redirect not followed: credentials or routing, a
    /// configuration or server state rather than bad data: held and retried like
    /// [`Class::Retry`], logged as an error.
    Hold,
    /// 413: too large, worth sending in smaller parts.
    TooLarge,
    /// Any other answer: the server refuses this data; sending it again cannot help.
    Rejected,
}

/// Classifies a response status, `on_status` overriding the defaults.
pub fn classify(status: StatusCode, on_status: &BTreeMap<u16, StatusAction>) -> Class {
    let code = status.as_u16();
    let default = match code {
        200..=299 => Class::Delivered,
        408 | 429 | 500..=599 => Class::Retry,
        300..=399 | 401 | 403 | 404 | 407 | 421 => Class::Hold,
        413 => Class::TooLarge,
        _ => Class::Rejected,
    };
    match (on_status.get(&code), default) {
        (None, class) => class,
        (Some(StatusAction::Retry), Class::Retry | Class::Hold) => default,
        (Some(StatusAction::Retry), _) => Class::Hold,
        (Some(StatusAction::DeadLetter), _) => Class::Rejected,
    }
}

pub use logcatch_core::backoff::Backoff;

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (relative to `now`; a date in
/// the past means now).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

pub use logcatch_core::log_limit::LogLimit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let none = BTreeMap::new();
        let c = |n| classify(StatusCode::from_u16(n).unwrap(), &none);
        assert_eq!(c(200), Class::Delivered);
        assert_eq!(c(204), Class::Delivered);
        for n in [408, 429, 500, 502, 503, 504] {
            assert_eq!(c(n), Class::Retry, "{n}");
        }
        for n in [301, 307, 401, 403, 404, 407, 421] {
            assert_eq!(
                c(n),
                Class::Hold,
                "{n}: credentials or routing, not the data"
            );
        }
        assert_eq!(c(413), Class::TooLarge);
        for n in [400, 409, 422] {
            assert_eq!(c(n), Class::Rejected, "{n}");
        }
        let set: BTreeMap<u16, StatusAction> = [
            (404, StatusAction::DeadLetter),
            (400, StatusAction::Retry),
            (503, StatusAction::DeadLetter),
        ]
        .into();
        let c = |n| classify(StatusCode::from_u16(n).unwrap(), &set);
        assert_eq!(c(404), Class::Rejected);
        assert_eq!(c(400), Class::Hold);
        assert_eq!(c(503), Class::Rejected);
        assert_eq!(c(401), Class::Hold, "untouched");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
    }
}
