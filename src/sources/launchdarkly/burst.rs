//! A millisecond holding a whole page of entries (20): `before`/`limit` cannot show more of it,
//! so it is counted and fetched in parts.
//!
//! 1. **Count** it with `POST /api/v2/auditlog/counts` over a 2 ms range cut into 1 ms buckets,
//!    taking the bucket that starts at the millisecond (so the undocumented bounds of `after`
//!    and `before` do not matter). A count no larger than what was already seen ends it.
//! 2. **Split** it with `POST /api/v2/auditlog` statement lists: one part per resource kind
//!    plus a `notResources` catch-all holding everything the kinds do not; a part that still
//!    returns a full page is split again, by project (keys from `GET /api/v2/projects`), then
//!    by environment, each level with its own catch-all (allow the parent, deny the children),
//!    so nothing falls between the parts. An entry may match several statements (several
//!    `accesses`), so entries are merged by `_id`.
//! 3. The millisecond is **complete** when the count is reached, or, with no count to be had,
//!    when no part is left returning a full page. Otherwise what is missing is exact (count
//!    minus entries found) or, without a count, unknown; the source is then `incomplete`.
//!
//! With `spec` set, the parts are refinements of that specifier (its `proj/*` and `env/*`
//! replaced by keys) so nothing outside it is fetched; with `q` set, the search carries it but
//! the counts endpoint cannot, so such a millisecond is never counted.

use super::api::API_VERSION;
use super::entry::{Entry, LIMIT};
use super::{Pager, rfc3339_ms};
use crate::http::{BodyError, Call, HttpError, read_json, snippet};
use crate::sources::SourceError;
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Resource kinds of the first split, in LaunchDarkly's resource specifier syntax. Anything
/// not listed (a kind added later, say) falls to the catch-all part.
pub const KINDS: &[&str] = &[
    "acct",
    "application/*",
    "code-reference-repository/*",
    "domain-verification/*",
    "integration/*",
    "member/*",
    "member/*:token/*",
    "pending-request/*",
    "proj/*",
    "proj/*:ai-config/*",
    "proj/*:context-kind/*",
    "proj/*:env/*",
    "proj/*:env/*:destination/*",
    "proj/*:env/*:experiment/*",
    "proj/*:env/*:flag/*",
    "proj/*:env/*:segment/*",
    "proj/*:layer/*",
    "proj/*:metric/*",
    "proj/*:metric-group/*",
    "proj/*:release-pipeline/*",
    "relay-proxy-config/*",
    "role/*",
    "service-token/*",
    "team/*",
    "template/*",
    "webhook/*",
];

/// Requests one millisecond may cost before it is left incomplete: a burst spread over
/// hundreds of projects must not hold the whole export.
const MAX_REQUESTS_PER_BURST: u64 = 400;
/// Most project and environment pages read (20 a page): a bound against a server that never
/// stops paging.
const MAX_CATALOG_PAGES: u64 = 500;
/// Milliseconds listed by date in the findings (their totals are always complete).
const LISTED: usize = 100;
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// One element of a `StatementPostList`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Statement {
    pub effect: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(rename = "notResources", skip_serializing_if = "Vec::is_empty")]
    pub not_resources: Vec<String>,
    pub actions: Vec<&'static str>,
}

impl Statement {
    fn allow(resources: Vec<String>) -> Self {
        Self {
            effect: "allow",
            resources,
            not_resources: Vec::new(),
            actions: vec!["*"],
        }
    }

    fn allow_all_but(not_resources: Vec<String>) -> Self {
        Self {
            effect: "allow",
            resources: Vec::new(),
            not_resources,
            actions: vec!["*"],
        }
    }

    fn deny(resources: Vec<String>) -> Self {
        Self {
            effect: "deny",
            resources,
            not_resources: Vec::new(),
            actions: vec!["*"],
        }
    }
}

/// One part of a millisecond: what its statement list allows, minus what it denies.
#[derive(Debug, Clone)]
struct Part {
    /// The resource specifier it allows; `None` for the catch-all of the first split.
    resource: Option<String>,
    /// Specifiers taken out (the siblings of a catch-all).
    deny: Vec<String>,
    /// A catch-all is not split again: its specifier is its parent's.
    refinable: bool,
}

impl Part {
    fn statements(&self) -> Vec<Statement> {
        let mut list = vec![match &self.resource {
            Some(r) => Statement::allow(vec![r.clone()]),
            None => Statement::allow_all_but(KINDS.iter().map(|k| (*k).to_owned()).collect()),
        }];
        if !self.deny.is_empty() {
            list.push(Statement::deny(self.deny.clone()));
        }
        list
    }

    fn label(&self) -> String {
        let base = self
            .resource
            .clone()
            .unwrap_or_else(|| "every other resource".to_owned());
        if self.deny.is_empty() {
            base
        } else {
            format!("{base} (the rest)")
        }
    }
}

/// The first split: the user's specifier alone, or one part per kind plus the catch-all.
fn first_parts(spec: Option<&str>) -> Vec<Part> {
    match spec {
        Some(spec) => vec![Part {
            resource: Some(spec.to_owned()),
            deny: Vec::new(),
            refinable: true,
        }],
        None => KINDS
            .iter()
            .map(|k| Part {
                resource: Some((*k).to_owned()),
                deny: Vec::new(),
                refinable: true,
            })
            .chain(std::iter::once(Part {
                resource: None,
                deny: Vec::new(),
                refinable: false,
            }))
            .collect(),
    }
}

/// The statement list that covers every part of the first split, for the count.
fn whole(spec: Option<&str>) -> Vec<Statement> {
    match spec {
        Some(spec) => vec![Statement::allow(vec![spec.to_owned()])],
        None => vec![
            Statement::allow(KINDS.iter().map(|k| (*k).to_owned()).collect()),
            Statement::allow_all_but(KINDS.iter().map(|k| (*k).to_owned()).collect()),
        ],
    }
}

/// A project and its environment keys, all the split needs of the catalogue.
#[derive(Debug, Clone)]
pub struct Project {
    pub key: String,
    pub environments: Vec<String>,
}

/// The next split of a full part: its first `proj/*` replaced by each project key, else its
/// first `env/*` (under a known project) by each environment key, plus a catch-all holding
/// the rest (projects deleted since, say). `None` when there is nothing left to split on.
fn refine(part: &Part, projects: &[Project]) -> Option<Vec<Part>> {
    if !part.refinable {
        return None;
    }
    let resource = part.resource.as_deref()?;
    let segments: Vec<&str> = resource.split(':').collect();
    let (index, keys): (usize, Vec<String>) =
        if let Some(i) = segments.iter().position(|s| *s == "proj/*") {
            (i, projects.iter().map(|p| p.key.clone()).collect())
        } else {
            let project = segments.iter().find_map(|s| s.strip_prefix("proj/"))?;
            let i = segments.iter().position(|s| *s == "env/*")?;
            let envs = &projects.iter().find(|p| p.key == project)?.environments;
            (i, envs.clone())
        };
    if keys.is_empty() {
        return None;
    }
    let kind = segments[index].trim_end_matches("/*");
    let children: Vec<String> = keys
        .iter()
        .map(|key| {
            let mut s = segments.clone();
            let replaced = format!("{kind}/{key}");
            s[index] = &replaced;
            s.join(":")
        })
        .collect();
    let mut parts: Vec<Part> = children
        .iter()
        .map(|child| Part {
            resource: Some(child.clone()),
            deny: part.deny.clone(),
            refinable: true,
        })
        .collect();
    let mut rest_deny = part.deny.clone();
    rest_deny.extend(children);
    parts.push(Part {
        resource: part.resource.clone(),
        deny: rest_deny,
        refinable: false,
    });
    Some(parts)
}

/// `CountBucketsResult`; `totalCount` is optional in the spec and not used: only the bucket of
/// the millisecond itself is exact whatever the bounds.
#[derive(Debug, Deserialize)]
struct CountBuckets {
    buckets: Vec<CountBucket>,
    #[serde(rename = "bucketIntervalMs")]
    bucket_interval_ms: i64,
}

#[derive(Debug, Deserialize)]
struct CountBucket {
    timestamp: i64,
    count: u64,
}

/// `Projects` with `expand=environments`. The answer also carries each environment's SDK and
/// mobile keys: they are not read into anything, so they are never kept or logged.
#[derive(Debug, Deserialize)]
struct ProjectsPage {
    items: Vec<ProjectItem>,
    #[serde(rename = "totalCount", default)]
    total_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct ProjectItem {
    key: String,
    #[serde(default)]
    environments: Option<EnvironmentsPage>,
}

#[derive(Debug, Deserialize)]
struct EnvironmentsPage {
    items: Vec<EnvironmentItem>,
    #[serde(rename = "totalCount", default)]
    total_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct EnvironmentItem {
    key: String,
}

#[derive(Debug, Deserialize)]
struct Listing {
    items: Vec<Entry>,
}

/// What became of one full millisecond; one per millisecond in the findings.
#[derive(Debug, Clone)]
pub struct Burst {
    pub ms: i64,
    /// Distinct entries of the millisecond now in the report.
    pub fetched: u64,
    /// The account's count of it, when it answered one.
    pub counted: Option<u64>,
    /// Why there is no count, when there is none.
    pub uncounted: Option<String>,
    /// Parts that still returned a full page and could not be split further.
    pub unsplit: Vec<String>,
    pub requests: u64,
}

impl Burst {
    pub fn complete(&self) -> bool {
        match self.counted {
            Some(counted) => counted <= self.fetched,
            None => self.unsplit.is_empty(),
        }
    }

    /// Entries known to be missing; `None` when there is no count to tell.
    pub fn missing(&self) -> Option<u64> {
        match self.counted {
            Some(counted) => Some(counted.saturating_sub(self.fetched)),
            None if self.unsplit.is_empty() => Some(0),
            None => None,
        }
    }

    fn report(&self) -> BurstReport {
        BurstReport {
            date: rfc3339_ms(self.ms),
            date_ms: self.ms,
            fetched: self.fetched,
            counted: self.counted,
            missing: self.missing(),
            complete: self.complete(),
            uncounted_because: self.uncounted.clone(),
            unsplit_parts: self.unsplit.clone(),
            requests: self.requests,
        }
    }
}

/// One full millisecond in the manifest.
#[derive(Debug, Serialize)]
pub struct BurstReport {
    /// RFC 3339 with milliseconds.
    pub date: String,
    pub date_ms: i64,
    /// Distinct entries of it in the report.
    pub fetched: u64,
    /// The account's own count of it; `null` when it would not count.
    pub counted: Option<u64>,
    /// `counted - fetched`; `null` when there is no count and a part was still full.
    pub missing: Option<u64>,
    pub complete: bool,
    /// Why there is no count.
    pub uncounted_because: Option<String>,
    /// Parts that still returned a full page and could not be split further.
    pub unsplit_parts: Vec<String>,
    /// Requests it cost (counts and searches).
    pub requests: u64,
}

/// The full milliseconds of a run, for the manifest.
#[derive(Debug, Default, Serialize)]
pub struct BurstFindings {
    /// Milliseconds that filled a whole page (20).
    pub full_milliseconds: u64,
    /// Of those, the ones fetched whole.
    pub full_milliseconds_complete: u64,
    /// Requests the counts and splits cost.
    pub burst_requests: u64,
    /// The first 100 full milliseconds, newest first.
    pub bursts: Vec<BurstReport>,
    /// Every millisecond that could not be fetched whole.
    pub incomplete_milliseconds: Vec<BurstReport>,
    /// Entries known to be missing (counted minus fetched), summed.
    pub missing_entries: u64,
    /// Short milliseconds without a count: how many of their entries are missing is unknown.
    pub milliseconds_missing_unknown: u64,
}

/// Shared by the workers: the project catalogue (read once, when first needed) and the
/// outcome of every full millisecond.
#[derive(Debug, Default)]
pub struct Bursts {
    catalogue: OnceCell<Result<Arc<Vec<Project>>, String>>,
    done: std::sync::Mutex<Vec<Burst>>,
}

/// New entries of the millisecond, for the report.
pub struct Resolved {
    pub entries: Vec<Entry>,
}

impl Bursts {
    fn record(&self, burst: Burst) {
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(burst);
    }

    /// Every full millisecond so far, newest first.
    pub fn all(&self) -> Vec<Burst> {
        let mut all = self.done.lock().unwrap_or_else(|e| e.into_inner()).clone();
        all.sort_by_key(|b| std::cmp::Reverse(b.ms));
        all
    }

    /// Findings for the manifest, and the `missing` sentence when any millisecond is short.
    pub fn findings(&self) -> (BurstFindings, Option<String>) {
        let all = self.all();
        let short: Vec<&Burst> = all.iter().filter(|b| !b.complete()).collect();
        let missing = (!short.is_empty()).then(|| {
            let list: Vec<String> = short
                .iter()
                .take(10)
                .map(|b| match b.missing() {
                    Some(n) => format!("{} ({n} of {} missing)", rfc3339_ms(b.ms), n + b.fetched),
                    None => format!(
                        "{} ({} fetched, how many more exist is unknown: {})",
                        rfc3339_ms(b.ms),
                        b.fetched,
                        b.uncounted.as_deref().unwrap_or("no count")
                    ),
                })
                .collect();
            format!(
                "{} millisecond(s) hold more audit-log entries than LaunchDarkly would list even split by resource: {}{}; findings.incomplete_milliseconds has each one",
                short.len(),
                list.join(", "),
                if short.len() > 10 { ", …" } else { "" }
            )
        });
        let findings = BurstFindings {
            full_milliseconds: all.len() as u64,
            full_milliseconds_complete: (all.len() - short.len()) as u64,
            burst_requests: all.iter().map(|b| b.requests).sum(),
            bursts: all.iter().take(LISTED).map(Burst::report).collect(),
            incomplete_milliseconds: short.iter().map(|b| b.report()).collect(),
            missing_entries: short.iter().filter_map(|b| b.missing()).sum(),
            milliseconds_missing_unknown: short.iter().filter(|b| b.missing().is_none()).count()
                as u64,
        };
        (findings, missing)
    }
}

impl Pager {
    /// Fetches every entry of the full millisecond `ms` that is not in `seen`, and records
    /// whether that is all of it.
    pub(super) async fn resolve_burst(
        &self,
        ms: i64,
        seen: &HashSet<String>,
    ) -> Result<Resolved, SourceError> {
        let mut ids = seen.clone();
        let mut found: HashMap<String, Entry> = HashMap::new();
        let mut burst = Burst {
            ms,
            fetched: seen.len() as u64,
            counted: None,
            uncounted: None,
            unsplit: Vec::new(),
            requests: 0,
        };
        let spec = self.resource_spec.as_deref();
        match self.count_ms(ms, spec, &mut burst.requests).await? {
            Ok(counted) => burst.counted = Some(counted),
            Err(why) => burst.uncounted = Some(why),
        }
        if burst.counted.is_none_or(|c| c > burst.fetched) {
            let mut queue: VecDeque<Part> = first_parts(spec).into();
            while let Some(part) = queue.pop_front() {
                if burst.requests >= MAX_REQUESTS_PER_BURST {
                    burst.unsplit.push(format!(
                        "{} and {} more parts (over {MAX_REQUESTS_PER_BURST} requests)",
                        part.label(),
                        queue.len()
                    ));
                    break;
                }
                let items = match self.search_ms(ms, &part, &mut burst.requests).await? {
                    Ok(items) => items,
                    Err(why) => {
                        burst.unsplit.push(format!("{}: {why}", part.label()));
                        continue;
                    }
                };
                let full = items.len() >= LIMIT;
                for entry in items {
                    if entry.date == ms && ids.insert(entry.id.clone()) {
                        found.insert(entry.id.clone(), entry);
                    }
                }
                if burst
                    .counted
                    .is_some_and(|c| c <= seen.len() as u64 + found.len() as u64)
                {
                    // Counted and found: the remaining parts cannot add anything.
                    break;
                }
                if full {
                    match self.split(&part).await {
                        Some(children) => queue.extend(children),
                        None => burst.unsplit.push(part.label()),
                    }
                }
            }
        }
        burst.fetched = (seen.len() + found.len()) as u64;
        if burst.complete() {
            tracing::info!(
                source = %self.name,
                date = %rfc3339_ms(ms),
                entries = burst.fetched,
                requests = burst.requests,
                "A millisecond held a full page of audit-log entries; fetched all of it in parts."
            );
        } else {
            tracing::warn!(
                source = %self.name,
                date = %rfc3339_ms(ms),
                fetched = burst.fetched,
                counted = ?burst.counted,
                unsplit = ?burst.unsplit,
                "A millisecond holds more audit-log entries than LaunchDarkly will list, even in parts; the source will be incomplete."
            );
        }
        self.bursts.record(burst);
        let mut entries: Vec<Entry> = found.into_values().collect();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Resolved { entries })
    }

    /// The parts a full part splits into; `None` when it cannot be split (no level left, or
    /// the project catalogue cannot be read, which is logged once per part).
    async fn split(&self, part: &Part) -> Option<Vec<Part>> {
        if !part.refinable {
            return None;
        }
        let catalogue = self
            .bursts
            .catalogue
            .get_or_init(|| async {
                let mut spent = 0;
                let result = self.read_catalogue(&mut spent).await;
                self.stats
                    .catalogue_requests
                    .fetch_add(spent, std::sync::atomic::Ordering::Relaxed);
                result
            })
            .await;
        match catalogue {
            Ok(projects) => refine(part, projects),
            Err(why) => {
                tracing::warn!(source = %self.name, reason = %why, "Cannot split a full millisecond by project.");
                None
            }
        }
    }

    fn post(&self, url: reqwest::Url, statements: &[Statement]) -> Call<'_> {
        // Serialising plain strings cannot fail.
        let body = serde_json::to_vec(statements).unwrap_or_default();
        Call::post(&self.name, url)
            .json(Bytes::from(body))
            .header("authorization", self.token.clone())
            .header("ld-api-version", HeaderValue::from_static(API_VERSION))
            .header("accept", HeaderValue::from_static("application/json"))
            .timeout(self.request_timeout)
            .limiter(&self.limiter)
    }

    /// The account's count of entries dated `ms`; the inner error says why there is none.
    async fn count_ms(
        &self,
        ms: i64,
        spec: Option<&str>,
        requests: &mut u64,
    ) -> Result<Result<u64, String>, SourceError> {
        if self.q.is_some() {
            return Ok(Err(
                "the counts endpoint cannot apply the `q` text search".into()
            ));
        }
        let mut url = self.counts_url.clone();
        url.query_pairs_mut()
            .append_pair("after", &(ms - 1).to_string())
            .append_pair("before", &(ms + 1).to_string())
            .append_pair("buckets", "2");
        *requests += 1;
        let call = self.post(url, &whole(spec));
        let result = self
            .http
            .fetch(&call, |r| {
                read_json::<CountBuckets>(r, BODY_LIMIT, "audit-log counts")
            })
            .await;
        match result {
            Ok(counts) if counts.bucket_interval_ms == 1 => {
                Ok(match counts.buckets.iter().find(|b| b.timestamp == ms) {
                    Some(bucket) => Ok(bucket.count),
                    // Buckets with nothing in them may be left out.
                    None => Ok(0),
                })
            }
            Ok(counts) => Ok(Err(format!(
                "the counts endpoint answered {} ms buckets, too coarse to count one millisecond",
                counts.bucket_interval_ms
            ))),
            Err(e) => unavailable(e, "counts"),
        }
    }

    /// One part of the millisecond: at most a page, so a full answer means "maybe more".
    async fn search_ms(
        &self,
        ms: i64,
        part: &Part,
        requests: &mut u64,
    ) -> Result<Result<Vec<Entry>, String>, SourceError> {
        let mut url = self.url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("after", &(ms - 1).to_string())
                .append_pair("before", &(ms + 1).to_string())
                .append_pair("limit", &LIMIT.to_string());
            if let Some(q) = &self.q {
                query.append_pair("q", q);
            }
        }
        *requests += 1;
        self.stats
            .burst_searches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let call = self.post(url, &part.statements());
        let result = self
            .http
            .fetch(&call, |r| async move {
                let listing: Listing = read_json(r, BODY_LIMIT, "an audit-log listing").await?;
                for entry in &listing.items {
                    entry.check().map_err(BodyError::Invalid)?;
                }
                Ok(listing.items)
            })
            .await;
        match result {
            Ok(items) => Ok(Ok(items)),
            Err(e) => unavailable(e, "search"),
        }
    }

    /// Every project with its environment keys, paged 20 at a time.
    async fn read_catalogue(&self, requests: &mut u64) -> Result<Arc<Vec<Project>>, String> {
        let mut projects = Vec::new();
        let mut offset = 0u64;
        loop {
            if *requests >= MAX_CATALOG_PAGES {
                return Err(format!(
                    "more than {MAX_CATALOG_PAGES} pages of projects and environments"
                ));
            }
            let mut url = self.projects_url.clone();
            url.query_pairs_mut()
                .append_pair("limit", "20")
                .append_pair("offset", &offset.to_string())
                .append_pair("expand", "environments");
            *requests += 1;
            let page: ProjectsPage = self.get_catalogue(url, "a list of projects").await?;
            let count = page.items.len() as u64;
            for item in page.items {
                let mut environments: Vec<String> = Vec::new();
                let listed = item.environments;
                let total = listed.as_ref().and_then(|e| e.total_count);
                if let Some(listed) = listed {
                    environments.extend(listed.items.into_iter().map(|e| e.key));
                }
                // The embedded list is itself paged: read the rest when it says there is more.
                if total.is_some_and(|t| t > environments.len() as u64) {
                    environments = self.read_environments(&item.key, requests).await?;
                }
                projects.push(Project {
                    key: item.key,
                    environments,
                });
            }
            offset += count;
            let more = page.total_count.map_or(count == 20, |t| offset < t);
            if count == 0 || !more {
                break;
            }
        }
        Ok(Arc::new(projects))
    }

    async fn read_environments(
        &self,
        project: &str,
        requests: &mut u64,
    ) -> Result<Vec<String>, String> {
        let mut keys = Vec::new();
        let mut offset = 0u64;
        loop {
            if *requests >= MAX_CATALOG_PAGES {
                return Err(format!(
                    "more than {MAX_CATALOG_PAGES} pages of projects and environments"
                ));
            }
            let mut url = self.projects_url.clone();
            url.path_segments_mut()
                .map_err(|_| "the base URL cannot take a path".to_owned())?
                .push(project)
                .push("environments");
            url.query_pairs_mut()
                .append_pair("limit", "20")
                .append_pair("offset", &offset.to_string());
            *requests += 1;
            let page: EnvironmentsPage = self.get_catalogue(url, "a list of environments").await?;
            let count = page.items.len() as u64;
            keys.extend(page.items.into_iter().map(|e| e.key));
            offset += count;
            let more = page.total_count.map_or(count == 20, |t| offset < t);
            if count == 0 || !more {
                return Ok(keys);
            }
        }
    }

    async fn get_catalogue<T: serde::de::DeserializeOwned>(
        &self,
        url: reqwest::Url,
        what: &'static str,
    ) -> Result<T, String> {
        let call = Call::get(&self.name, url)
            .header("authorization", self.token.clone())
            .header("ld-api-version", HeaderValue::from_static(API_VERSION))
            .header("accept", HeaderValue::from_static("application/json"))
            .timeout(self.request_timeout)
            .limiter(&self.limiter);
        self.http
            .fetch(&call, |r| read_json::<T>(r, BODY_LIMIT, what))
            .await
            .map_err(|e| match e.status() {
                Some(StatusCode::FORBIDDEN) | Some(StatusCode::UNAUTHORIZED) => format!(
                    "the token may not read projects (HTTP {}); give it read access to projects to let rollcall split a full millisecond by project",
                    e.status().map(|s| s.as_u16()).unwrap_or_default()
                ),
                _ => format!("reading projects failed: {e}"),
            })
    }
}

/// A refusal that leaves the millisecond unsplit or uncounted instead of failing the source:
/// the endpoint is missing (404), not allowed to this token (401, 403), or refuses this use of
/// it (400). Anything else, after the retries, fails the source like a page would.
fn unavailable<T>(error: HttpError, what: &str) -> Result<Result<T, String>, SourceError> {
    match &error {
        HttpError::Status { status, body, .. }
            if matches!(status.as_u16(), 400 | 401 | 403 | 404) =>
        {
            Ok(Err(format!(
                "the {what} endpoint answered HTTP {status}: {}",
                snippet(body)
            )))
        }
        _ => Err(SourceError::Fetch {
            message: format!("audit log {what} for a full millisecond: {error}"),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn projects() -> Vec<Project> {
        vec![
            Project {
                key: "web".into(),
                environments: vec!["production".into(), "staging".into()],
            },
            Project {
                key: "api".into(),
                environments: vec!["production".into()],
            },
        ]
    }

    #[test]
    fn the_first_split_covers_every_kind_and_a_catch_all_of_the_rest() {
        let parts = first_parts(None);
        assert_eq!(parts.len(), KINDS.len() + 1);
        let rest = parts.last().unwrap().statements();
        assert_eq!(rest.len(), 1);
        assert!(rest[0].resources.is_empty());
        assert_eq!(rest[0].not_resources.len(), KINDS.len());
        let json = serde_json::to_value(&rest).unwrap();
        assert!(json[0].get("notResources").is_some() && json[0].get("resources").is_none());
        assert_eq!(whole(None).len(), 2);
        assert_eq!(
            whole(Some("proj/web:env/*:flag/*")),
            vec![Statement::allow(vec!["proj/web:env/*:flag/*".into()])]
        );
    }

    #[test]
    fn a_full_part_splits_by_project_then_environment_with_a_remainder() {
        let flags = Part {
            resource: Some("proj/*:env/*:flag/*".into()),
            deny: Vec::new(),
            refinable: true,
        };
        let by_project = refine(&flags, &projects()).unwrap();
        let resources: Vec<String> = by_project
            .iter()
            .map(|p| p.resource.clone().unwrap())
            .collect();
        assert_eq!(
            resources,
            [
                "proj/web:env/*:flag/*",
                "proj/api:env/*:flag/*",
                "proj/*:env/*:flag/*"
            ]
        );
        let rest = by_project.last().unwrap();
        assert!(!rest.refinable);
        assert_eq!(
            rest.deny,
            ["proj/web:env/*:flag/*", "proj/api:env/*:flag/*"]
        );
        assert_eq!(rest.statements()[1].effect, "deny");
        assert!(refine(rest, &projects()).is_none());

        let web = refine(&by_project[0], &projects()).unwrap();
        let resources: Vec<String> = web.iter().map(|p| p.resource.clone().unwrap()).collect();
        assert_eq!(
            resources,
            [
                "proj/web:env/production:flag/*",
                "proj/web:env/staging:flag/*",
                "proj/web:env/*:flag/*"
            ]
        );
        // No level left to split on.
        assert!(refine(&web[0], &projects()).is_none());
        // A project-level kind has no environment level.
        let metrics = Part {
            resource: Some("proj/api:metric/*".into()),
            deny: Vec::new(),
            refinable: true,
        };
        assert!(refine(&metrics, &projects()).is_none());
    }

    #[test]
    fn completeness_follows_the_count_or_else_the_parts() {
        let mut b = Burst {
            ms: 5,
            fetched: 31,
            counted: Some(31),
            uncounted: None,
            unsplit: vec!["member/*".into()],
            requests: 9,
        };
        assert!(b.complete());
        assert_eq!(b.missing(), Some(0));
        b.counted = Some(40);
        assert!(!b.complete());
        assert_eq!(b.missing(), Some(9));
        b.counted = None;
        assert!(!b.complete());
        assert_eq!(b.missing(), None);
        b.unsplit.clear();
        assert!(b.complete());
    }
}
