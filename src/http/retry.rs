//! What is worth retrying, and how long to wait before the next attempt.

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bounded exponential backoff with full jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Ceiling of the first backoff; doubles each retry.
    pub base: Duration,
    /// Longest single wait, whether from backoff or from a server's instruction.
    pub max: Duration,
}

impl RetryPolicy {
    /// Full jitter: a uniformly random wait in `[0, min(max, base * 2^retry)]`, so clients that
    /// failed together do not come back together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.min(30)))
            .min(self.max);
        let millis = ceiling.as_millis().min(u128::from(u64::MAX)) as u64;
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

/// How the server's answer is to be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Hand the response to the caller.
    Success,
    /// Try again after a wait.
    Retry,
    /// Stop and report the failure; the caller may still interpret it (e.g. "no data").
    Fail,
}

/// The default classification of a status, after lychee's small classifier: timeouts, rate
/// limits and server errors are transient; other client errors will not fix themselves.
pub fn classify_status(status: StatusCode) -> Verdict {
    if status.is_success() {
        Verdict::Success
    } else if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Verdict::Retry
    } else {
        Verdict::Fail
    }
}

/// Transport failures that a new attempt may fix.
pub fn is_transient(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_timeout() || error.is_request() || error.is_body()
}

/// The wait a server asked for: `Retry-After` (seconds or HTTP-date), else `X-Ratelimit-Reset`
/// (epoch milliseconds, epoch seconds, or seconds from now, told apart by size).
pub fn server_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(value) = header_str(headers, "retry-after") {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(when) = httpdate::parse_http_date(value) {
            return Some(when.duration_since(now).unwrap_or_default());
        }
    }
    let reset = header_str(headers, "x-ratelimit-reset")?
        .parse::<u64>()
        .ok()?;
    Some(reset_wait(reset, now))
}

/// Time until a rate-limit reset value, whatever unit the server used.
pub fn reset_wait(reset: u64, now: SystemTime) -> Duration {
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    if reset >= 100_000_000_000 {
        Duration::from_millis(reset.saturating_sub(now_ms))
    } else if reset >= 1_000_000_000 {
        Duration::from_millis((reset * 1000).saturating_sub(now_ms))
    } else {
        Duration::from_secs(reset)
    }
}

pub fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn statuses_are_classified_like_lychee() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                classify_status(StatusCode::from_u16(s).unwrap()),
                Verdict::Retry,
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 409, 422] {
            assert_eq!(
                classify_status(StatusCode::from_u16(s).unwrap()),
                Verdict::Fail,
                "{s}"
            );
        }
        assert_eq!(classify_status(StatusCode::NO_CONTENT), Verdict::Success);
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for retry in 0..40 {
            let wait = p.backoff(retry);
            assert!(wait <= Duration::from_secs(1));
            assert!(wait <= Duration::from_millis(100) * 2u32.saturating_pow(retry.min(30)));
        }
    }

    #[test]
    fn retry_after_in_both_forms_and_reset_in_every_unit() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(server_wait(&h, now), Some(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert("retry-after", HeaderValue::from_str(&date).unwrap());
        assert_eq!(server_wait(&h, now), Some(Duration::from_secs(30)));
        let mut h = HeaderMap::new();
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_static("1700000002500"),
        );
        assert_eq!(server_wait(&h, now), Some(Duration::from_millis(2500)));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000004"));
        assert_eq!(server_wait(&h, now), Some(Duration::from_secs(4)));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("9"));
        assert_eq!(server_wait(&h, now), Some(Duration::from_secs(9)));
        assert_eq!(server_wait(&HeaderMap::new(), now), None);
    }
}
