//! LaunchDarkly audit log: every entry of a time window, exactly once, newest first.
//!
//! API facts: `../shared/reference/launchdarkly-audit-log.md`; the design, with figures, in
//! `docs/sources/launchdarkly.md`. In short:
//!
//! - the window is cut into disjoint time ranges that workers page concurrently
//!   ([`schedule`]); an idle worker takes the older half of the range with most work left;
//! - each range is paged backwards with the tie-safe recipe ([`paging`]), each entry assigned
//!   to one range on the client, so neither ties nor the server's boundary behaviour can drop
//!   or repeat an entry;
//! - all workers share one [`RateLimiter`]: `X-Ratelimit-*-Remaining` reaching what is already
//!   in flight pauses everyone until `X-Ratelimit-Reset`, and a 429 pauses everyone for
//!   `Retry-After` / the reset (the shared HTTP layer does both);
//! - rows stream to the report in order; rows of ranges whose turn has not come wait in
//!   temporary files ([`merge`]), so memory does not grow with the number of entries.

mod entry;
mod merge;
mod paging;
mod schedule;

pub use entry::{COLUMNS, LIMIT};

use super::{Fetch, Plan, Source, SourceContext, SourceError, SourceOutput};
use super::{check_env_name, parse_base_url};
use crate::config::duration::{deserialize_duration, deserialize_optional_duration};
use crate::config::{ConfigError, Environment, HttpSpec, KeyPath, Problems};
use crate::http::{
    BodyError, Call, HttpClient, HttpError, RateLimiter, join_path, read_json, snippet,
};
use crate::report::manifest::Window;
use crate::time::RunClock;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use entry::{Entry, Listing};
use merge::{Msg, OrderedWriter};
use paging::Cursor;
use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use schedule::Schedule;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// LaunchDarkly's commercial instance; federal: `https://app.launchdarkly.us`, EU:
/// `https://app.eu.launchdarkly.com`.
pub const DEFAULT_BASE_URL: &str = "https://app.launchdarkly.com";
const AUDIT_LOG_PATH: &str = "api/v2/auditlog";
/// The only version the API still accepts; set explicitly so a token's own default version
/// cannot change the answers.
pub const API_VERSION: &str = "20240415";
const DEFAULT_LOOKBACK: Duration = Duration::from_secs(30 * 24 * 3600);
const MAX_LOOKBACK: Duration = Duration::from_secs(3650 * 24 * 3600);
/// More concurrent requests buy nothing but 429s: the rate limit is per account.
const MAX_CONCURRENCY: usize = 16;
/// A page is 20 entries; anything near this size is not an audit-log page.
const BODY_LIMIT: usize = 8 * 1024 * 1024;
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Dates of tie bursts listed in the findings (their count is always complete).
const LISTED_BURSTS: usize = 100;

/// `kind: launchdarkly_audit_log`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchDarklySpec {
    /// Unique name of this source; used in object keys and logs.
    pub name: String,
    /// API base URL. Default `https://app.launchdarkly.com`; federal instance
    /// `https://app.launchdarkly.us`, EU instance `https://app.eu.launchdarkly.com`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Environment variable holding the access token (or `<it>_FILE` naming a file). Default
    /// `LD_API_TOKEN`. Sent as `Authorization: <token>`, without `Bearer`.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// How far back from `end` the window reaches. Default `30d`; not with `start`.
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    pub lookback: Option<Duration>,
    /// First instant of the window (included): RFC 3339, or a date for UTC midnight.
    #[serde(default, deserialize_with = "deserialize_optional_instant")]
    pub start: Option<DateTime<Utc>>,
    /// End of the window (excluded): RFC 3339, or a date for UTC midnight. Default: the run's
    /// "now".
    #[serde(default, deserialize_with = "deserialize_optional_instant")]
    pub end: Option<DateTime<Utc>>,
    /// Text search passed to the API as `q` (full or partial resource name).
    #[serde(default)]
    pub q: Option<String>,
    /// Resource specifier passed to the API as `spec`, e.g. `proj/*:env/production:flag/*`.
    #[serde(default, rename = "spec")]
    pub resource_spec: Option<String>,
    /// Time ranges fetched at once, 1 to 16. Default 4: the rate limit is shared with every
    /// other integration of the account.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Allow plain `http://` to a host that is not loopback.
    #[serde(default)]
    pub allow_http: bool,
    /// Time allowed for one page request. Default 60s.
    #[serde(
        default = "default_request_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub request_timeout: Duration,
    /// Deadline of this source's whole fetch. Default: the job's `source_timeout`.
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    pub timeout: Option<Duration>,
}

fn default_token_env() -> String {
    "LD_API_TOKEN".to_owned()
}
fn default_concurrency() -> usize {
    4
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}

fn deserialize_optional_instant<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<String>::deserialize(de)?
        .map(|text| parse_instant(&text).map_err(serde::de::Error::custom))
        .transpose()
}

/// RFC 3339, or `YYYY-MM-DD` meaning midnight UTC.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    let trimmed = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Some(t) = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "`{text}` is not a time; write it as RFC 3339 (`2026-10-01T00:00:00Z`) or a UTC date (`2026-10-01`)"
    ))
}

/// The window settings, resolved against the run's clock when needed.
#[derive(Debug, Clone, Copy)]
struct WindowSpec {
    lookback: Option<Duration>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
}

impl WindowSpec {
    /// `[start, end)`.
    fn resolve(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let end = self.end.unwrap_or(now);
        let start = self.start.unwrap_or_else(|| {
            let lookback = self.lookback.unwrap_or(DEFAULT_LOOKBACK).min(MAX_LOOKBACK);
            end - chrono::Duration::from_std(lookback).unwrap_or(chrono::Duration::days(30))
        });
        (start, end)
    }
}

impl LaunchDarklySpec {
    fn window_spec(&self) -> WindowSpec {
        WindowSpec {
            lookback: self.lookback,
            start: self.start,
            end: self.end,
        }
    }

    pub(super) fn validate(&self, at: &KeyPath, problems: &mut Problems<'_>) {
        check_env_name(problems, &at.key("token_env"), &self.token_env);
        if let Some(url) = &self.base_url
            && let Err(message) = parse_base_url(url, self.allow_http)
        {
            problems.add(&at.key("base_url"), message);
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            problems.add(
                &at.key("concurrency"),
                format!(
                    "must be between 1 and {MAX_CONCURRENCY}; the rate limit is shared by the whole account, so more only brings 429s"
                ),
            );
        }
        if let Some(lookback) = self.lookback {
            if self.start.is_some() {
                problems.add(
                    &at.key("lookback"),
                    "set either `lookback` or `start`, not both",
                );
            } else if lookback < Duration::from_millis(1) || lookback > MAX_LOOKBACK {
                problems.add(&at.key("lookback"), "must be between 1ms and 3650d");
            }
        }
        if let (Some(start), Some(end)) = (self.start, self.end)
            && start >= end
        {
            problems.add(&at.key("end"), "must be later than `start`");
        }
        for (key, value) in [("q", &self.q), ("spec", &self.resource_spec)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                problems.add(
                    &at.key(key),
                    "must not be empty; leave it out to export every entry",
                );
            }
        }
        if self.request_timeout < Duration::from_secs(1) {
            problems.add(&at.key("request_timeout"), "must be at least 1s");
        }
    }

    pub(super) fn plan(&self, clock: &RunClock) -> Plan {
        let (start, end) = self.window_spec().resolve(clock.now());
        let mut thresholds = BTreeMap::new();
        thresholds.insert("page_size".into(), (LIMIT as u64).into());
        thresholds.insert("concurrency".into(), (self.concurrency as u64).into());
        thresholds.insert("api_version".into(), API_VERSION.into());
        if self.start.is_none() {
            let lookback = self.lookback.unwrap_or(DEFAULT_LOOKBACK);
            thresholds.insert(
                "lookback".into(),
                humantime::format_duration(lookback).to_string().into(),
            );
        }
        if let Some(q) = &self.q {
            thresholds.insert("q".into(), q.clone().into());
        }
        if let Some(spec) = &self.resource_spec {
            thresholds.insert("spec".into(), spec.clone().into());
        }
        Plan {
            window: Some(Window { start, end }),
            thresholds,
        }
    }

    pub(super) fn prepare(
        &self,
        env: &Environment,
        shared: &HttpClient,
        _http: &HttpSpec,
    ) -> Result<LaunchDarklySource, ConfigError> {
        let fail = |message: String| ConfigError::Source {
            source_name: self.name.clone(),
            message,
        };
        let base = self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let base =
            parse_base_url(base, self.allow_http).map_err(|m| fail(format!("base_url {m}")))?;
        let token = env.secret(&self.name, &self.token_env)?;
        let header = token
            .header_value("")
            .map_err(|m| fail(format!("{}: {m}", self.token_env)))?;
        if token
            .expose()
            .trim_start()
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("bearer "))
        {
            return Err(fail(format!(
                "the token in {} starts with `Bearer `; LaunchDarkly takes the bare access token in `Authorization` and refuses a Bearer token with 401: remove the prefix",
                self.token_env
            )));
        }
        Ok(LaunchDarklySource {
            name: self.name.clone(),
            url: join_path(&base, AUDIT_LOG_PATH),
            token_env: self.token_env.clone(),
            token: header,
            http: shared.clone(),
            window: self.window_spec(),
            q: self.q.clone(),
            resource_spec: self.resource_spec.clone(),
            concurrency: self.concurrency.clamp(1, MAX_CONCURRENCY),
            request_timeout: self.request_timeout,
        })
    }
}

/// A LaunchDarkly source ready to run.
pub struct LaunchDarklySource {
    name: String,
    url: Url,
    token_env: String,
    /// `Authorization` value, marked sensitive: its Debug prints `Sensitive`, never the token.
    token: HeaderValue,
    http: HttpClient,
    window: WindowSpec,
    q: Option<String>,
    resource_spec: Option<String>,
    concurrency: usize,
    request_timeout: Duration,
}

impl std::fmt::Debug for LaunchDarklySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaunchDarklySource")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("token", &self.token)
            .field("window", &self.window)
            .field("q", &self.q)
            .field("spec", &self.resource_spec)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl From<LaunchDarklySource> for Source {
    fn from(s: LaunchDarklySource) -> Self {
        Source::LaunchDarkly(s)
    }
}

/// Counters shared by the workers.
#[derive(Debug, Default)]
struct Stats {
    pages: AtomicU64,
    entries: AtomicU64,
    duplicates: AtomicU64,
    outside: AtomicU64,
    /// Milliseconds holding 20 or more entries (a whole page): more may exist than were seen.
    bursts: Mutex<Vec<i64>>,
}

/// Everything a worker needs; shared by all of them.
struct Pager {
    name: String,
    url: Url,
    token_env: String,
    token: HeaderValue,
    http: HttpClient,
    q: Option<String>,
    resource_spec: Option<String>,
    request_timeout: Duration,
    limiter: RateLimiter,
    schedule: Schedule,
    stats: Stats,
}

fn rfc3339_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

impl Fetch for LaunchDarklySource {
    async fn fetch(&self, ctx: &SourceContext) -> Result<SourceOutput, SourceError> {
        let (start, end) = self.window.resolve(ctx.clock.now());
        let (start_ms, end_ms) = (start.timestamp_millis(), end.timestamp_millis());
        if start_ms >= end_ms {
            return Err(SourceError::Data(format!(
                "the window is empty: start {} is not before end {}; set `start` before the run's time or set `end`",
                rfc3339_ms(start_ms),
                rfc3339_ms(end_ms)
            )));
        }
        let report = ctx.report("", COLUMNS)?;
        let pager = Arc::new(Pager {
            name: self.name.clone(),
            url: self.url.clone(),
            token_env: self.token_env.clone(),
            token: self.token.clone(),
            http: self.http.clone(),
            q: self.q.clone(),
            resource_spec: self.resource_spec.clone(),
            request_timeout: self.request_timeout,
            limiter: RateLimiter::new(None).with_max_pause(self.http.policy().max),
            schedule: Schedule::new(start_ms, end_ms, self.concurrency),
            stats: Stats::default(),
        });
        tracing::info!(
            source = %self.name,
            start = %rfc3339_ms(start_ms),
            end = %rfc3339_ms(end_ms),
            concurrency = self.concurrency,
            "Fetching the audit log."
        );
        let started = Instant::now();
        // A few batches per worker: enough to keep them busy, small enough to bound memory.
        let (tx, mut rx) = mpsc::channel::<Msg>(self.concurrency * 2 + 2);
        // Dropping the set (deadline, failure) aborts every worker.
        let mut workers = JoinSet::new();
        for _ in 0..self.concurrency {
            workers.spawn(work(pager.clone(), tx.clone()));
        }
        drop(tx);
        let mut writer = OrderedWriter::new(report, &pager.schedule);
        let mut ticker = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => writer.accept(msg).await?,
                    None => break,
                },
                Some(joined) = workers.join_next() => worker_result(joined)?,
                _ = ticker.tick() => pager.log_progress(writer.rows(), started),
            }
        }
        while let Some(joined) = workers.join_next().await {
            worker_result(joined)?;
        }
        let spilled = writer.spilled_rows();
        let report = writer.finish()?;
        let findings = pager.findings(report.rows());
        tracing::info!(
            source = %self.name,
            rows = report.rows(),
            pages = pager.stats.pages.load(Ordering::Relaxed),
            requests = pager.limiter.stats().requests,
            rate_limited = pager.limiter.stats().rate_limited,
            ranges = pager.schedule.progress().ranges,
            rows_via_temp_files = spilled,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Fetched the audit log."
        );
        Ok(SourceOutput {
            reports: vec![report],
            findings,
        })
    }
}

fn worker_result(
    joined: Result<Result<(), SourceError>, tokio::task::JoinError>,
) -> Result<(), SourceError> {
    match joined {
        Ok(result) => result,
        Err(e) => Err(SourceError::Data(format!(
            "a fetch worker ended abnormally ({e}); this is a bug, please report it"
        ))),
    }
}

/// One worker: claims ranges and pages each to its end, until none is left.
async fn work(pager: Arc<Pager>, tx: mpsc::Sender<Msg>) -> Result<(), SourceError> {
    let closed = || SourceError::Data("the report writer stopped".into());
    while let Some(hi) = pager.schedule.claim().await {
        let mut cursor = Cursor::new(hi);
        loop {
            let before = cursor.before();
            let items = pager.page(before).await?;
            let applied = pager.schedule.apply(hi, &mut cursor, items).map_err(|m| {
                SourceError::Data(format!(
                    "audit log page before {} ({before}): {m}",
                    rfc3339_ms(before)
                ))
            })?;
            let stats = &pager.stats;
            stats.pages.fetch_add(1, Ordering::Relaxed);
            stats
                .entries
                .fetch_add(applied.new_in_range, Ordering::Relaxed);
            stats
                .duplicates
                .fetch_add(applied.duplicates, Ordering::Relaxed);
            stats.outside.fetch_add(applied.outside, Ordering::Relaxed);
            if let Some(ms) = applied.saturated {
                pager.note_burst(ms);
            }
            if !applied.release.is_empty() {
                let rows = applied.release.into_iter().map(Entry::into_row).collect();
                tx.send(Msg::Rows { range: hi, rows })
                    .await
                    .map_err(|_| closed())?;
            }
            if applied.done {
                tx.send(Msg::Done { range: hi })
                    .await
                    .map_err(|_| closed())?;
                break;
            }
        }
    }
    Ok(())
}

impl Pager {
    /// One page: the newest 20 entries with `date < before`. No `after` is sent: a page that
    /// reaches below the range's start is what proves the range complete, which saves the
    /// empty request an `after` bound would need to prove the same; the range's own bounds
    /// are applied on the client anyway.
    async fn page(&self, before: i64) -> Result<Vec<Entry>, SourceError> {
        let mut url = self.url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("before", &before.to_string())
                .append_pair("limit", &LIMIT.to_string());
            if let Some(q) = &self.q {
                query.append_pair("q", q);
            }
            if let Some(spec) = &self.resource_spec {
                query.append_pair("spec", spec);
            }
        }
        let call = Call::get(&self.name, url)
            .header("authorization", self.token.clone())
            .header("ld-api-version", HeaderValue::from_static(API_VERSION))
            .header("accept", HeaderValue::from_static("application/json"))
            .timeout(self.request_timeout)
            .limiter(&self.limiter);
        match self.http.fetch(&call, read_listing).await {
            Ok(items) => Ok(items),
            Err(HttpError::Status { status, body, .. })
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN =>
            {
                Err(SourceError::Credentials(format!(
                    "LaunchDarkly refused the audit log (HTTP {status}: {}). The token in {} (or {}_FILE) must be a valid, unexpired access token allowed to read the audit log, without `Bearer `, for the instance at {}",
                    snippet(&body),
                    self.token_env,
                    self.token_env,
                    self.url.origin().ascii_serialization()
                )))
            }
            Err(e) => Err(SourceError::Data(format!(
                "audit log page before {} ({before}): {e}{}",
                rfc3339_ms(before),
                hint(&e)
            ))),
        }
    }

    fn note_burst(&self, ms: i64) {
        tracing::warn!(
            source = %self.name,
            date = %rfc3339_ms(ms),
            date_ms = ms,
            "20 or more audit-log entries share one millisecond. The API returns at most 20 a request and cannot page within a millisecond, so entries of it beyond those 20 may be missing from the report."
        );
        self.stats
            .bursts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ms);
    }

    fn log_progress(&self, rows_written: u64, started: Instant) {
        let progress = self.schedule.progress();
        let limiter = self.limiter.stats();
        let entries = self.stats.entries.load(Ordering::Relaxed);
        let seconds = started.elapsed().as_secs_f64().max(0.001);
        tracing::info!(
            source = %self.name,
            pages = self.stats.pages.load(Ordering::Relaxed),
            entries,
            rows_written,
            entries_per_s = (entries as f64 / seconds).round() as u64,
            covered_pct = (progress.covered * 1000.0).round() / 10.0,
            ranges_active = progress.active,
            range_splits = progress.splits,
            requests = limiter.requests,
            rate_limited = limiter.rate_limited,
            rate_limit_pauses = limiter.pauses,
            waiting_for_rate_limit_ms = self
                .limiter
                .paused_remaining()
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            "Fetching the audit log."
        );
    }

    fn findings(&self, rows: u64) -> BTreeMap<String, serde_json::Value> {
        let limiter = self.limiter.stats();
        let progress = self.schedule.progress();
        let mut bursts = self
            .stats
            .bursts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        bursts.sort_unstable_by(|a, b| b.cmp(a));
        let mut f = BTreeMap::new();
        f.insert("entries".into(), rows.into());
        f.insert(
            "pages".into(),
            self.stats.pages.load(Ordering::Relaxed).into(),
        );
        f.insert("requests".into(), limiter.requests.into());
        f.insert("rate_limited".into(), limiter.rate_limited.into());
        f.insert("rate_limit_pauses".into(), limiter.pauses.into());
        f.insert("ranges".into(), (progress.ranges as u64).into());
        f.insert("range_splits".into(), progress.splits.into());
        f.insert(
            "duplicates_skipped".into(),
            self.stats.duplicates.load(Ordering::Relaxed).into(),
        );
        f.insert("tie_bursts".into(), (bursts.len() as u64).into());
        f.insert(
            "tie_burst_dates".into(),
            bursts
                .iter()
                .take(LISTED_BURSTS)
                .map(|ms| rfc3339_ms(*ms))
                .collect::<Vec<_>>()
                .into(),
        );
        // 20 entries of one millisecond is all the API will show of it.
        f.insert("possibly_incomplete".into(), (!bursts.is_empty()).into());
        f
    }
}

/// What to do about a failed page, for the error message.
fn hint(error: &HttpError) -> &'static str {
    match error {
        HttpError::Status { status, .. } if *status == StatusCode::BAD_REQUEST => {
            "; check `q` and `spec` (a resource specifier such as proj/*:env/production:flag/*)"
        }
        HttpError::Status { status, .. } if *status == StatusCode::NOT_FOUND => {
            "; check base_url: https://app.launchdarkly.com, https://app.launchdarkly.us (federal) or https://app.eu.launchdarkly.com (EU)"
        }
        HttpError::Status { .. } => {
            "; LaunchDarkly kept failing or rate limiting after every retry: run again later, or raise http.max_retries"
        }
        HttpError::Transport { .. } => "; check that base_url is reachable from here",
        HttpError::InvalidBody { .. } => {
            "; the answer is not what LaunchDarkly documents: check that base_url points at the API and no proxy rewrites it"
        }
        HttpError::WaitTooLong { .. } | HttpError::Setup(_) => "",
    }
}

/// Reads one listing, whole (a page is small), and checks the fields the report needs.
async fn read_listing(response: reqwest::Response) -> Result<Vec<Entry>, BodyError> {
    let listing: Listing = read_json(response, BODY_LIMIT, "an audit-log listing").await?;
    for entry in &listing.items {
        entry.check().map_err(BodyError::Invalid)?;
    }
    Ok(listing.items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::SourceSpec;

    fn spec(extra: &str) -> Result<LaunchDarklySpec, Vec<crate::config::Problem>> {
        let text =
            format!("job: j\nsources:\n  - name: ld\n    kind: launchdarkly_audit_log\n{extra}");
        crate::config::parse(&text).map(|mut s| match s.sources.remove(0) {
            SourceSpec::LaunchDarklyAuditLog(spec) => spec,
            other => panic!("wrong kind: {other:?}"),
        })
    }

    fn problems(extra: &str) -> Vec<(String, Option<usize>, String)> {
        spec(extra)
            .expect_err("should be refused")
            .into_iter()
            .map(|p| (p.key, p.line, p.message))
            .collect()
    }

    fn at(text: &str) -> DateTime<Utc> {
        parse_instant(text).unwrap()
    }

    #[test]
    fn defaults_and_window_from_the_run_clock() {
        let s = spec("").unwrap();
        assert_eq!(s.token_env, "LD_API_TOKEN");
        assert_eq!(s.concurrency, 4);
        assert!(s.base_url.is_none());
        let clock = RunClock::fixed(at("2026-11-22T03:00:00Z"));
        let plan = s.plan(&clock);
        let window = plan.window.unwrap();
        assert_eq!(window.start, at("2026-10-23T03:00:00Z"));
        assert_eq!(window.end, at("2026-11-22T03:00:00Z"));
        assert_eq!(plan.thresholds["lookback"], "30days");
        assert_eq!(plan.thresholds["page_size"], 20);
        assert_eq!(plan.thresholds["concurrency"], 4);

        let s = spec("    start: 2026-10-01\n    end: 2026-10-02T12:00:00+02:00\n    q: checkout\n    spec: proj/*:env/production:flag/*\n").unwrap();
        let plan = s.plan(&clock);
        let window = plan.window.unwrap();
        assert_eq!(window.start, at("2026-10-01T00:00:00Z"));
        assert_eq!(window.end, at("2026-10-02T10:00:00Z"));
        assert!(!plan.thresholds.contains_key("lookback"));
        assert_eq!(plan.thresholds["spec"], "proj/*:env/production:flag/*");

        let s = spec("    lookback: 7d\n    end: 2026-10-08\n").unwrap();
        assert_eq!(s.plan(&clock).window.unwrap().start, at("2026-10-01"));
    }

    #[test]
    fn bad_settings_name_their_key_and_line() {
        let p = problems("    lookback: 7d\n    start: 2026-10-01\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "sources[0].lookback");
        assert_eq!(p[0].1, Some(5));

        let p = problems("    start: 2026-10-02\n    end: 2026-10-01\n");
        assert_eq!(p[0].0, "sources[0].end", "{p:?}");
        assert!(p[0].2.contains("later than `start`"));

        let p = problems("    start: last tuesday\n");
        assert_eq!(p[0].0, "sources[0].start", "{p:?}");
        assert!(p[0].2.contains("RFC 3339"), "{p:?}");

        let p = problems(
            "    concurrency: 64\n    base_url: http://ld.internal\n    q: \"\"\n    token_env: 1X\n",
        );
        let keys: Vec<&str> = p.iter().map(|p| p.0.as_str()).collect();
        for key in ["concurrency", "base_url", "q", "token_env"] {
            assert!(
                keys.contains(&format!("sources[0].{key}").as_str()),
                "{p:?}"
            );
        }
        assert!(p.iter().all(|p| p.1.is_some()), "{p:?}");

        let p = problems("    limit: 50\n");
        assert_eq!(
            p[0].0, "sources[0].limit",
            "unknown keys are refused: {p:?}"
        );

        // An http base URL is fine on loopback, or when allowed.
        spec("    base_url: http://127.0.0.1:9\n").unwrap();
        spec("    base_url: http://ld.internal\n    allow_http: true\n").unwrap();
    }

    #[test]
    fn token_comes_from_its_variable_or_file_and_never_shows() {
        let s = spec("    token_env: LD_TOKEN\n").unwrap();
        let shared = HttpClient::new(&HttpSpec::default(), None).unwrap();
        let env = Environment::from_pairs([("LD_TOKEN", "api-0123-secret-value")]);
        let source = s.prepare(&env, &shared, &HttpSpec::default()).unwrap();
        assert_eq!(
            source.url.as_str(),
            "https://app.launchdarkly.com/api/v2/auditlog"
        );
        assert!(source.token.is_sensitive());
        assert!(!format!("{source:?}").contains("secret-value"));

        let err = s
            .prepare(&Environment::default(), &shared, &HttpSpec::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("LD_TOKEN_FILE"), "{err}");

        let env = Environment::from_pairs([("LD_TOKEN", "Bearer api-0123-secret-value")]);
        let err = s
            .prepare(&env, &shared, &HttpSpec::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Bearer") && !err.contains("secret-value"),
            "{err}"
        );

        let eu = spec("    base_url: https://app.eu.launchdarkly.com/\n").unwrap();
        let env = Environment::from_pairs([("LD_API_TOKEN", "api-x")]);
        let source = eu.prepare(&env, &shared, &HttpSpec::default()).unwrap();
        assert_eq!(
            source.url.as_str(),
            "https://app.eu.launchdarkly.com/api/v2/auditlog"
        );
    }
}
