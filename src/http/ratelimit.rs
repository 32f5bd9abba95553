//! A client-side request budget shared by every request of one source, and a shared pause that
//! the server can impose through rate-limit headers.
//!
//! Hand-written rather than governor because it must run on tokio's clock (tests pause and
//! advance it) and must also obey server-announced pauses (`X-Ratelimit-*-Remaining: 0` until
//! `X-Ratelimit-Reset`), which a pure token bucket knows nothing of.

use super::retry::{header_str, reset_wait};
use rand::Rng;
use reqwest::header::HeaderMap;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// At most `requests` requests in any window of length `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub requests: u32,
    pub per: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Start times of the requests inside the current window, oldest first.
    recent: VecDeque<Instant>,
    /// No request may start before this instant.
    paused_until: Option<Instant>,
    /// Requests made and server-imposed pauses, for progress logs and benchmarks.
    requests: u64,
    pauses: u64,
    /// Requests sent through [`RateLimiter::begin`] whose answer has not been observed yet.
    in_flight: u64,
    /// 429 answers seen by requests sharing this limiter.
    rate_limited: u64,
    /// What the server said is left of its current window, and what of it is still ours.
    quota: Option<Quota>,
}

/// The server's quota for one rate-limit window, as reported by `X-Ratelimit-*-Remaining`.
#[derive(Debug, Clone, Copy)]
struct Quota {
    /// `X-Ratelimit-Reset` as sent: it names the window.
    reset: u64,
    reset_at: Instant,
    /// Lowest remaining count reported for this window (answers may arrive out of order).
    remaining: i64,
    /// Requests that may still start in this window: `remaining` less the requests in flight
    /// when it was reported, less those started since.
    allowance: i64,
}

/// Shared by all workers of a source (wrap it in an `Arc`).
#[derive(Debug)]
pub struct RateLimiter {
    budget: Option<Budget>,
    /// Extra random wait after a server-announced reset, so workers do not stampede.
    reset_jitter: Duration,
    /// Longest pause a server's reset header may impose: a server clock far ahead (or a bogus
    /// header) must not stall the run until its deadline.
    max_pause: Duration,
    state: Mutex<State>,
}

/// Counters for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimiterStats {
    pub requests: u64,
    pub pauses: u64,
    /// 429 answers, as recorded by [`RateLimiter::record_rate_limited`].
    pub rate_limited: u64,
}

/// A request under way, from [`RateLimiter::begin`] until its answer's headers were observed
/// (or it failed). While it lives, [`RateLimiter::observe`] counts it as spending the quota.
#[derive(Debug)]
pub struct InFlight<'a> {
    limiter: &'a RateLimiter,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
    }
}

impl RateLimiter {
    pub fn new(budget: Option<Budget>) -> Self {
        Self {
            budget,
            reset_jitter: Duration::from_millis(250),
            max_pause: Duration::from_secs(120),
            state: Mutex::new(State::default()),
        }
    }

    /// Caps the pause a reset header can impose (use the HTTP policy's `backoff_max`).
    pub fn with_max_pause(mut self, max: Duration) -> Self {
        self.max_pause = max;
        self
    }

    pub fn with_reset_jitter(mut self, jitter: Duration) -> Self {
        self.reset_jitter = jitter;
        self
    }

    /// Waits until a request may start without breaking the budget or a pause, then counts it.
    pub async fn acquire(&self) {
        self.wait_turn(false).await;
    }

    /// Like [`RateLimiter::acquire`], and also counts the request as in flight until the
    /// returned guard is dropped, so that [`RateLimiter::observe`] can tell how much of a
    /// server's remaining quota is already spoken for by concurrent requests.
    pub async fn begin(&self) -> InFlight<'_> {
        self.wait_turn(true).await;
        InFlight { limiter: self }
    }

    async fn wait_turn(&self, in_flight: bool) {
        loop {
            let wake = {
                let mut state = self.lock();
                let now = Instant::now();
                match state.paused_until {
                    Some(until) if until > now => Some(until),
                    _ => {
                        state.paused_until = None;
                        match self.budget {
                            None => None,
                            Some(budget) => {
                                while state
                                    .recent
                                    .front()
                                    .is_some_and(|t| now.duration_since(*t) >= budget.per)
                                {
                                    state.recent.pop_front();
                                }
                                if state.recent.len() < budget.requests as usize {
                                    None
                                } else {
                                    state.recent.front().map(|oldest| *oldest + budget.per)
                                }
                            }
                        }
                    }
                }
            };
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => {
                    let mut state = self.lock();
                    // Another task may have taken the slot or set a pause while we woke up.
                    let now = Instant::now();
                    if state.paused_until.is_some_and(|u| u > now) {
                        continue;
                    }
                    if let Some(quota) = state.quota {
                        if now >= quota.reset_at {
                            state.quota = None;
                        } else if quota.allowance <= 0 {
                            // What the server has left is spoken for: wait for its reset.
                            self.extend_pause(&mut state, quota.reset_at - now);
                            continue;
                        }
                    }
                    if let Some(budget) = self.budget {
                        if state.recent.len() >= budget.requests as usize {
                            continue;
                        }
                        state.recent.push_back(now);
                    }
                    if let Some(quota) = &mut state.quota {
                        quota.allowance -= 1;
                    }
                    state.requests += 1;
                    if in_flight {
                        state.in_flight += 1;
                    }
                    return;
                }
            }
        }
    }

    /// Pauses every worker for `wait` (plus jitter), e.g. after a 429 or an exhausted quota.
    pub fn pause_for(&self, wait: Duration) {
        let mut state = self.lock();
        self.extend_pause(&mut state, wait);
    }

    fn extend_pause(&self, state: &mut State, wait: Duration) {
        let jitter = if self.reset_jitter.is_zero() {
            Duration::ZERO
        } else {
            let max = self.reset_jitter.as_millis() as u64;
            Duration::from_millis(rand::rng().random_range(0..=max))
        };
        let until = Instant::now() + wait + jitter;
        if state.paused_until.is_none_or(|u| u < until) {
            state.paused_until = Some(until);
            state.pauses += 1;
        }
    }

    /// Reads `X-Ratelimit-{Route,Global}-Remaining` and `X-Ratelimit-Reset`; when the quota
    /// left is used up, pauses everyone until the reset. Returns the pause taken, if any.
    ///
    /// "Used up" counts the requests in flight (see [`RateLimiter::begin`]; call this while
    /// the observed request's guard is alive): they will spend part of what is left, and so
    /// will every request started before the next answer. With several workers, waiting for
    /// "remaining reached 0" is too late: the requests already sent would get 429. With no
    /// request in flight this is the plain "remaining reached 0".
    pub fn observe(&self, headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
        let remaining = [
            "x-ratelimit-route-remaining",
            "x-ratelimit-global-remaining",
        ]
        .iter()
        .filter_map(|name| header_str(headers, name).and_then(|v| v.parse::<i64>().ok()))
        .min()?;
        let reset = header_str(headers, "x-ratelimit-reset")?
            .parse::<u64>()
            .ok()?;
        let wait = reset_wait(reset, now).min(self.max_pause);
        let mut state = self.lock();
        let quota = match state.quota {
            // A later answer of the same window: the lowest count is the latest.
            Some(q) if q.reset == reset => Quota {
                remaining: q.remaining.min(remaining),
                ..q
            },
            // An answer from a window already over tells nothing about the current one.
            Some(q) if q.reset > reset => return None,
            _ => Quota {
                reset,
                reset_at: Instant::now() + wait,
                remaining,
                allowance: 0,
            },
        };
        let others = i64::try_from(state.in_flight.saturating_sub(1)).unwrap_or(i64::MAX);
        let quota = Quota {
            allowance: quota.remaining.saturating_sub(others),
            ..quota
        };
        state.quota = Some(quota);
        if quota.allowance > 0 {
            return None;
        }
        self.extend_pause(&mut state, wait);
        Some(wait)
    }

    /// Counts a 429 answer, for findings and progress logs.
    pub fn record_rate_limited(&self) {
        self.lock().rate_limited += 1;
    }

    /// How long new requests must still wait because of a pause, if one is in force.
    pub fn paused_remaining(&self) -> Option<Duration> {
        let until = self.lock().paused_until?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    pub fn stats(&self) -> LimiterStats {
        let state = self.lock();
        LimiterStats {
            requests: state.requests,
            pauses: state.pauses,
            rate_limited: state.rate_limited,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is a single step.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn never_exceeds_the_budget_in_any_window() {
        let limiter = Arc::new(RateLimiter::new(Some(Budget {
            requests: 5,
            per: Duration::from_secs(10),
        })));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                for _ in 0..5 {
                    limiter.acquire().await;
                    times.push(Instant::now());
                }
                times
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        assert_eq!(all.len(), 20);
        for (i, t) in all.iter().enumerate() {
            let in_window = all[i..]
                .iter()
                .filter(|u| u.duration_since(*t) < Duration::from_secs(10))
                .count();
            assert!(in_window <= 5, "{in_window} requests inside one window");
        }
        // 20 requests at 5 per 10 s: the last starts after 30 s, not much later.
        let elapsed = all[19].duration_since(start);
        assert!(
            elapsed >= Duration::from_secs(30) && elapsed < Duration::from_secs(31),
            "{elapsed:?}"
        );
        assert_eq!(limiter.stats().requests, 20);
    }

    #[test]
    fn a_far_away_reset_is_capped() {
        let limiter = RateLimiter::new(None)
            .with_reset_jitter(Duration::ZERO)
            .with_max_pause(Duration::from_secs(30));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-route-remaining", "0".parse().unwrap());
        // A reset a day away, as a server clock far ahead would announce.
        h.insert("x-ratelimit-reset", "1700086400000".parse().unwrap());
        assert_eq!(limiter.observe(&h, now), Some(Duration::from_secs(30)));
    }

    #[tokio::test(start_paused = true)]
    async fn exhausted_quota_pauses_everyone_until_reset() {
        let limiter = RateLimiter::new(None).with_reset_jitter(Duration::ZERO);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-route-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset", "1700000003000".parse().unwrap());
        assert_eq!(limiter.observe(&h, now), Some(Duration::from_secs(3)));
        let start = Instant::now();
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        h.insert("x-ratelimit-route-remaining", "4".parse().unwrap());
        assert_eq!(limiter.observe(&h, now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn quota_spoken_for_by_requests_in_flight_pauses_early() {
        let limiter = RateLimiter::new(None).with_reset_jitter(Duration::ZERO);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-route-remaining", "3".parse().unwrap());
        h.insert("x-ratelimit-global-remaining", "900".parse().unwrap());
        h.insert("x-ratelimit-reset", "1700000002000".parse().unwrap());
        let a = limiter.begin().await;
        let b = limiter.begin().await;
        let c = limiter.begin().await;
        // Observing a's answer: b and c may still spend 2 of the 3 left; one more fits.
        assert_eq!(limiter.observe(&h, now), None);
        let d = limiter.begin().await;
        // Now b, c and d would spend all 3: nobody else may start before the reset.
        assert_eq!(limiter.observe(&h, now), Some(Duration::from_secs(2)));
        drop((a, b, c, d));
        assert_eq!(limiter.lock().in_flight, 0);
        let start = Instant::now();
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        // The lower of the two remaining counts decides.
        h.insert("x-ratelimit-route-remaining", "50".parse().unwrap());
        h.insert("x-ratelimit-global-remaining", "0".parse().unwrap());
        assert!(limiter.observe(&h, now).is_some());
        assert_eq!(limiter.stats().requests, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limited_answers_and_pauses_are_reported() {
        let limiter = RateLimiter::new(None).with_reset_jitter(Duration::ZERO);
        assert_eq!(limiter.paused_remaining(), None);
        limiter.record_rate_limited();
        limiter.pause_for(Duration::from_secs(4));
        assert_eq!(limiter.paused_remaining(), Some(Duration::from_secs(4)));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(limiter.paused_remaining(), None);
        let stats = limiter.stats();
        assert_eq!((stats.rate_limited, stats.pauses), (1, 1));
    }

    /// Two answers observed before either of their workers starts again: what the server has
    /// left is shared between them, not granted to each.
    #[tokio::test(start_paused = true)]
    async fn one_remaining_slot_is_granted_once() {
        let limiter = RateLimiter::new(None).with_reset_jitter(Duration::ZERO);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let answer = |remaining: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-ratelimit-route-remaining", remaining.parse().unwrap());
            h.insert("x-ratelimit-reset", "1700000002000".parse().unwrap());
            h
        };
        let mut running = Vec::new();
        for _ in 0..4 {
            running.push(limiter.begin().await);
        }
        // Budget 5: the four arrived as 4, 3, 2, 1 remaining.
        assert_eq!(limiter.observe(&answer("4"), now), None);
        running.remove(0);
        assert_eq!(limiter.observe(&answer("3"), now), None);
        running.remove(0);
        // A late answer from the previous window tells nothing about this one.
        let mut stale = answer("9");
        stale.insert("x-ratelimit-reset", "1700000000500".parse().unwrap());
        assert_eq!(limiter.observe(&stale, now), None);
        let start = Instant::now();
        let fifth = limiter.begin().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        let sixth = limiter.begin().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(2),
            "waited for the reset"
        );
        drop((fifth, sixth, running));
        assert_eq!(limiter.stats().requests, 6);
    }
}
