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

/// How patient a source kind is with `429` answers, fitted to its API's rate-limit window. Each
/// kind sets its own numbers on its calls; the retry loop is the same for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitPatience {
    /// The shortest wait after a 429, whatever the server says: retrying at once only spends a
    /// request of the quota that was just refused.
    pub floor: Duration,
    /// The longest wait of the doubling schedule used when the server names no wait (the API's
    /// window: after it the quota is whole again).
    pub ceiling: Duration,
}

impl RateLimitPatience {
    /// The wait before retry number `retry` (0 for the first) after a 429: the server's wait
    /// when it named one still ahead, never less than the floor; otherwise the floor doubling
    /// with each retry up to the ceiling. Up to a tenth more at random, so clients refused
    /// together do not come back together; never less than the schedule says.
    pub fn wait(&self, retry: u32, server: Option<Duration>) -> Duration {
        let planned = match server {
            Some(wait) => wait.max(self.floor),
            None => self
                .floor
                .saturating_mul(2u32.saturating_pow(retry.min(30)))
                .min(self.ceiling.max(self.floor)),
        };
        let spread = (planned.as_millis() / 10).min(u128::from(u64::MAX)) as u64;
        planned + Duration::from_millis(rand::rng().random_range(0..=spread))
    }
}

/// The wait a server asked for: the larger of `Retry-After` (seconds or HTTP-date) and
/// `X-Ratelimit-Reset` (epoch milliseconds, epoch seconds, or seconds from now, told apart by
/// size), so neither can send a request into a window the other says is still closed. A value
/// already past (or zero) names no wait: `None`, and the caller backs off by its own schedule
/// instead of retrying at once into a quota that was just refused.
pub fn server_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let retry_after = header_str(headers, "retry-after").and_then(|value| {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        httpdate::parse_http_date(value)
            .ok()
            .map(|when| when.duration_since(now).unwrap_or_default())
    });
    let reset = header_str(headers, "x-ratelimit-reset")
        .and_then(|value| value.parse::<u64>().ok())
        .map(|reset| reset_wait(reset, now));
    retry_after.max(reset).filter(|wait| !wait.is_zero())
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

    #[test]
    fn the_larger_of_retry_after_and_reset_wins_and_a_past_reset_names_no_wait() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_static("1700000006000"),
        );
        assert_eq!(server_wait(&h, now), Some(Duration::from_secs(6)));
        h.insert("retry-after", HeaderValue::from_static("8"));
        assert_eq!(server_wait(&h, now), Some(Duration::from_secs(8)));
        // A reset already past, or `Retry-After: 0`, is no reason to retry at once.
        let mut h = HeaderMap::new();
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_static("1699999990000"),
        );
        assert_eq!(server_wait(&h, now), None);
        h.insert("retry-after", HeaderValue::from_static("0"));
        assert_eq!(server_wait(&h, now), None);
    }

    #[test]
    fn patience_doubles_from_the_floor_to_the_ceiling_and_never_goes_below_the_floor() {
        let trend = RateLimitPatience {
            floor: Duration::from_secs(10),
            ceiling: Duration::from_secs(60),
        };
        for (retry, planned) in [(0, 10), (1, 20), (2, 40), (3, 60), (4, 60), (40, 60)] {
            let wait = trend.wait(retry, None);
            let planned = Duration::from_secs(planned);
            assert!(
                wait >= planned && wait <= planned + planned / 10,
                "{retry}: {wait:?}"
            );
        }
        // A server's wait is taken when longer than the floor, the floor otherwise.
        let wait = trend.wait(0, Some(Duration::from_secs(45)));
        assert!(wait >= Duration::from_secs(45) && wait <= Duration::from_millis(49_500));
        let wait = trend.wait(3, Some(Duration::from_millis(300)));
        assert!(wait >= Duration::from_secs(10) && wait <= Duration::from_secs(11));
    }
}
