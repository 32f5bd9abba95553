//! LaunchDarkly audit log: every entry of a time window, exactly once, newest first.
//!
//! API facts: `docs/reference/launchdarkly.md`; the design, with figures, in
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

mod api;
mod burst;
mod check;
mod entry;
mod merge;
mod paging;
mod schedule;
mod spec;
mod tally;

pub use api::{API_VERSION, DEFAULT_BASE_URL};
pub use entry::{COLUMNS, LIMIT};
pub use spec::{LaunchDarklySpec, parse_instant};

use crate::http::{Call, HttpClient, RateLimitPatience, RateLimiter, describe_body};
use crate::report::summary::{Completeness, KindDetails, SourceFacts};
use crate::sources::{Fetch, Refusal, SourceContext, SourceError, SourceOutput};
use chrono::{DateTime, SecondsFormat};
use entry::Entry;
use merge::{Msg, OrderedWriter};
use paging::Cursor;
use reqwest::Url;
use reqwest::header::HeaderValue;
use schedule::Schedule;
use serde::Serialize;
use spec::WindowSpec;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tally::Tally;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// LaunchDarkly's limits reset every ten seconds: after a 429 that names no wait, wait a second,
/// doubling, never longer than one window.
pub const PATIENCE: RateLimitPatience = RateLimitPatience {
    floor: Duration::from_secs(1),
    ceiling: Duration::from_secs(10),
};

/// A LaunchDarkly source ready to run.
pub struct LaunchDarklySource {
    name: String,
    url: Url,
    counts_url: Url,
    projects_url: Url,
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

/// Counters shared by the workers.
#[derive(Debug, Default)]
struct Stats {
    pages: AtomicU64,
    entries: AtomicU64,
    duplicates: AtomicU64,
    outside: AtomicU64,
    /// Entries that only the split of a full millisecond brought.
    from_bursts: AtomicU64,
    burst_searches: AtomicU64,
    catalogue_requests: AtomicU64,
}

/// Everything a worker needs; shared by all of them.
struct Pager {
    name: String,
    url: Url,
    counts_url: Url,
    projects_url: Url,
    token_env: String,
    token: HeaderValue,
    http: HttpClient,
    q: Option<String>,
    resource_spec: Option<String>,
    request_timeout: Duration,
    limiter: RateLimiter,
    schedule: Schedule,
    stats: Stats,
    bursts: burst::Bursts,
}

fn rfc3339_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

impl Fetch for LaunchDarklySource {
    async fn fetch(&self, ctx: &SourceContext) -> Result<SourceOutput, SourceError> {
        let (start, end) = match &ctx.window {
            Some(window) => (window.start, window.end),
            None => self.window.resolve(ctx.clock.now()),
        };
        let (start_ms, end_ms) = (start.timestamp_millis(), end.timestamp_millis());
        if ctx.window.is_some() && start_ms >= end_ms {
            // Runs closer together than `settle`: nothing new to export yet.
            tracing::info!(source = %self.name, at = %rfc3339_ms(start_ms), "The continuous window is empty; nothing to fetch.");
            let report = ctx.report("", COLUMNS)?;
            return Ok(SourceOutput::new(
                vec![report],
                &LaunchDarklyFindings::default(),
            ));
        }
        if start_ms >= end_ms {
            return Err(SourceError::Unfixable(format!(
                "the window is empty: start {} is not before end {}; set `start` before the run's time or set `end`",
                rfc3339_ms(start_ms),
                rfc3339_ms(end_ms)
            )));
        }
        let report = ctx.report("", COLUMNS)?;
        let pager = Arc::new(Pager {
            name: self.name.clone(),
            url: self.url.clone(),
            counts_url: self.counts_url.clone(),
            projects_url: self.projects_url.clone(),
            token_env: self.token_env.clone(),
            token: self.token.clone(),
            http: self.http.clone(),
            q: self.q.clone(),
            resource_spec: self.resource_spec.clone(),
            request_timeout: self.request_timeout,
            limiter: RateLimiter::new(None).with_max_pause(self.http.policy().max),
            schedule: Schedule::new(start_ms, end_ms, self.concurrency),
            stats: Stats::default(),
            bursts: burst::Bursts::default(),
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
        let mut tally = Tally::default();
        let mut ticker = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => {
                        if let Msg::Rows { rows, .. } = &msg {
                            tally.add(rows);
                        }
                        writer.accept(msg).await?
                    }
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
        let (findings, missing) = pager.findings(report.rows());
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
        // Missing counts are exact only when every short millisecond was counted.
        let completeness = match &missing {
            Some(_) if findings.bursts.milliseconds_missing_unknown == 0 => Completeness::Missing {
                entries: findings.bursts.missing_entries,
            },
            Some(reason) => Completeness::Unknown {
                reason: reason.clone(),
            },
            None => Completeness::Complete,
        };
        let details = tally.details(report.rows(), completeness);
        let traffic = pager.limiter.stats();
        Ok(SourceOutput::new(vec![report], &findings)
            .with_facts(SourceFacts {
                details: Some(KindDetails::LaunchDarkly(details)),
                requests: Some(traffic.requests),
                rate_limited: Some(traffic.rate_limited),
            })
            .incomplete(missing))
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
                // The held entries of `ms` are released by the next page, so the rest of the
                // millisecond joins them in order.
                let resolved = pager.resolve_burst(ms, &cursor.ids_at(ms)).await?;
                let added = cursor.absorb(ms, resolved.entries).map_err(|m| {
                    SourceError::Data(format!("{m}; this is a bug, please report it"))
                })?;
                stats.entries.fetch_add(added, Ordering::Relaxed);
                stats.from_bursts.fetch_add(added, Ordering::Relaxed);
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
            .limiter(&self.limiter)
            .patience(PATIENCE);
        self.http
            .fetch(&call, api::read_listing)
            .await
            .map_err(|error| {
                SourceError::from_http(
                    error,
                    describe_body,
                    || Refusal {
                        api: "LaunchDarkly",
                        refused: "the audit log".to_owned(),
                        token_env: &self.token_env,
                        needs: format!(
                            "it must hold a valid, unexpired access token allowed to read the audit log, without `Bearer `, for the instance at {}",
                            self.url.origin().ascii_serialization()
                        ),
                    },
                    |e| {
                        format!(
                            "audit log page before {} ({before}): {e}{}",
                            rfc3339_ms(before),
                            api::hint(e)
                        )
                    },
                )
            })
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

    /// Findings for the manifest, and what is missing when a full millisecond could not be
    /// fetched whole.
    fn findings(&self, rows: u64) -> (LaunchDarklyFindings, Option<String>) {
        let limiter = self.limiter.stats();
        let progress = self.schedule.progress();
        let (bursts, missing) = self.bursts.findings();
        let findings = LaunchDarklyFindings {
            entries: rows,
            pages: self.stats.pages.load(Ordering::Relaxed),
            requests: limiter.requests,
            rate_limited: limiter.rate_limited,
            rate_limit_pauses: limiter.pauses,
            ranges: progress.ranges as u64,
            range_splits: progress.splits,
            duplicates_skipped: self.stats.duplicates.load(Ordering::Relaxed),
            entries_from_full_milliseconds: self.stats.from_bursts.load(Ordering::Relaxed),
            project_catalogue_requests: self.stats.catalogue_requests.load(Ordering::Relaxed),
            bursts,
        };
        (findings, missing)
    }
}

/// What a LaunchDarkly source reports in the manifest.
#[derive(Debug, Default, Serialize)]
pub struct LaunchDarklyFindings {
    /// Rows written: every entry of the window, once.
    pub entries: u64,
    /// Pages fetched (answers with data).
    pub pages: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Answers that were HTTP 429.
    pub rate_limited: u64,
    /// Times every request of the source was paused for the rate limit (a 429, or the quota
    /// used up).
    pub rate_limit_pauses: u64,
    /// Time ranges worked on.
    pub ranges: u64,
    /// Ranges that came from splitting a busy one.
    pub range_splits: u64,
    /// Entries fetched twice by the tie-safe overlap and written once.
    pub duplicates_skipped: u64,
    /// Entries that only the split of a full millisecond brought.
    pub entries_from_full_milliseconds: u64,
    /// Requests for the project list the split needed (once per run).
    pub project_catalogue_requests: u64,
    /// Every millisecond that filled a whole page, and what became of it.
    #[serde(flatten)]
    pub bursts: burst::BurstFindings,
}
