//! A fake LaunchDarkly serving `GET` and `POST /api/v2/auditlog`, `POST
//! /api/v2/auditlog/counts` and `GET /api/v2/projects` (with `expand=environments`) and
//! `/api/v2/projects/{key}/environments`, faithful to `docs/reference/launchdarkly.md` and the v22
//! OpenAPI, and no kinder:
//!
//! - `POST /api/v2/auditlog` takes `after`, `before`, `limit`, `q` and a `StatementPostList`
//!   body; `POST …/counts` takes `after` (required), `before` (default now), `buckets` (default
//!   50, 1..=500) and a required statement list, and answers
//!   `{buckets:[{timestamp,count}],totalCount,bucketIntervalMs}` with buckets of
//!   `(before - after) / buckets` ms from `after`, under the same bounds as the listing;
//! - a statement list allows an entry when an `allow` statement matches one of its `accesses`
//!   and no `deny` statement does; `resources` and `notResources` are resource specifiers
//!   matched segment by segment (`proj/*` names projects, not their flags; a `*` never crosses
//!   `:`), and one must be given, not both; an entry with several accesses matches several
//!   statements; knobs make the counts endpoint answer 404 or 403;
//! - projects page 20 at a time by `limit`/`offset` with `totalCount`, the embedded
//!   environments are themselves a page (of `env_page` entries) with their own `totalCount`,
//!   and carry the SDK and mobile keys the real API sends;
//! - `Authorization: <token>` exactly; anything else, `Bearer <token>` included, is a 401
//!   `{"code":"unauthorized","message":"Invalid access token"}`; an `LD-API-Version` other than
//!   `20240415` is a 400;
//! - `after`, `before` decimal integers, `limit` 1..=20 (default 10), anything else a 400
//!   `invalid_request`; `q` (resource name, case-insensitive) and `spec` (glob on the accessed
//!   resources) filter;
//! - strictly `after < date < before` by default (knobs make either bound inclusive, as the
//!   undocumented server might be), newest first, ties in a stable order of the fake's choice
//!   (by `_id` descending by default): 20 entries of one millisecond are all a client can see;
//! - `{"items":[…],"_links":{"self":…,"next":…}}` with a relative `next` (parameters in
//!   alphabetical order, `before` = the last item's date, as lossy as the real one may be);
//! - rate limits per fixed window aligned on the epoch (LaunchDarkly's reset every ten seconds):
//!   `X-Ratelimit-Route-Remaining` / `X-Ratelimit-Global-Remaining`, `X-Ratelimit-Route-Limit`,
//!   `X-Ratelimit-Reset` in epoch milliseconds, and a 429 `rate_limited` body once spent;
//!   refused requests count against the budget too;
//! - knobs for a 429 storm (with `Retry-After`, the reset, or neither), injected answers (5xx,
//!   429 without headers, proxies' HTML), a malformed page, latency, and a server that
//!   ignores `before`;
//! - counters: requests, statuses, peak concurrency; a per-request log that can be turned off
//!   when a benchmark sends 50,000 requests.
//!
//! Data is either stored entries or a generated log of any size: entry `i` is computed from
//! `i` and dates are monotone in `i`, so a page is two binary searches and nothing is stored.
//!
//! HTTP header names are case-insensitive and hyper writes them in lower case, so the header
//! case variations seen in the wild cannot reach a client through this fake (nor matter to one).

use crate::chassis::{Canned, Checker, InFlight, Seen, Server, lock};
use crate::openapi::Contract;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const PATH: &str = "/api/v2/auditlog";
pub const COUNTS_PATH: &str = "/api/v2/auditlog/counts";
pub const PROJECTS_PATH: &str = "/api/v2/projects";
pub const API_VERSION: &str = "20240415";
pub const RATE_LIMITED: &str =
    r#"{"code":"rate_limited","message":"You've exceeded the API rate limit. Try again later."}"#;
pub const UNAUTHORIZED: &str = r#"{"code":"unauthorized","message":"Invalid access token"}"#;

/// How entries of one millisecond are ordered in answers (the API documents no order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ties {
    IdDescending,
    IdAscending,
    /// Stable, unrelated to the id.
    Scrambled,
}

/// One stored entry: its date and id for filtering, and the JSON the API sends.
#[derive(Debug, Clone)]
pub struct FakeEntry {
    pub id: String,
    pub date: i64,
    pub json: Value,
}

impl FakeEntry {
    /// A realistic flag change by a member, with every field the spec lists.
    pub fn flag(id: &str, date: i64) -> Self {
        Self::from_json(realistic(id, date, fnv(id)))
    }

    /// A realistic entry that accessed exactly these `(action, resource)` pairs.
    pub fn accessing(id: &str, date: i64, accesses: &[(&str, &str)]) -> Self {
        let mut json = realistic(id, date, fnv(id));
        json["accesses"] = accesses
            .iter()
            .map(|(action, resource)| json!({"action": action, "resource": resource}))
            .collect();
        json["target"]["resources"] = accesses.iter().map(|(_, r)| json!(r)).collect();
        Self::from_json(json)
    }

    /// Any JSON object; `_id` and `date` are read from it when present.
    pub fn from_json(json: Value) -> Self {
        let id = json["_id"].as_str().unwrap_or_default().to_owned();
        let date = match &json["date"] {
            Value::Number(n) => n.as_i64().unwrap_or_default(),
            Value::String(s) => s.parse().unwrap_or_default(),
            _ => 0,
        };
        Self { id, date, json }
    }
}

fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A generated log: `n` entries, entry `i` dated by a monotone function of `i`, with
/// activity shaped by per-segment weights; the first `ties` entries of every hundred share a
/// millisecond (bulk changes), and dense segments bring more ties of their own.
#[derive(Debug, Clone)]
pub struct Generated {
    pub n: u64,
    pub start_ms: i64,
    seg_ms: i64,
    /// Entries before segment k; `cum[segments] == n`.
    cum: Vec<u64>,
    pub ties: u64,
}

impl Generated {
    /// Entries spread by `weights` over equal segments of `[start_ms, start_ms + span_ms)`.
    pub fn weighted(n: u64, start_ms: i64, span_ms: i64, weights: &[u64], ties: u64) -> Self {
        let total: u64 = weights.iter().sum::<u64>().max(1);
        let mut cum = Vec::with_capacity(weights.len() + 1);
        cum.push(0);
        let mut acc = 0u128;
        for w in weights {
            acc += u128::from(*w);
            cum.push((acc * u128::from(n) / u128::from(total)) as u64);
        }
        Self {
            n,
            start_ms,
            seg_ms: span_ms / weights.len().max(1) as i64,
            cum,
            ties: ties.min(100),
        }
    }

    pub fn uniform(n: u64, start_ms: i64, span_ms: i64, ties: u64) -> Self {
        Self::weighted(n, start_ms, span_ms, &[1], ties)
    }

    /// Office hours weigh 10, nights and weekends 1, and two bursty afternoons (a migration,
    /// a bulk SCIM sync) 200: equal-time ranges get very unequal work. Ties of 5 per hundred.
    pub fn bursty(n: u64, start_ms: i64, days: i64) -> Self {
        let mut weights = Vec::new();
        for day in 0..days {
            for hour in 0..24 {
                let weekday = day % 7 < 5;
                let w = if (day == days / 3 || day == days * 3 / 4) && (14..16).contains(&hour) {
                    200
                } else if weekday && (9..18).contains(&hour) {
                    10
                } else {
                    1
                };
                weights.push(w);
            }
        }
        Self::weighted(n, start_ms, days * 24 * 3_600_000, &weights, 5)
    }

    pub fn date(&self, i: u64) -> i64 {
        let block = i - i % 100;
        let leader = if i - block < self.ties { block } else { i };
        let k = self.cum.partition_point(|c| *c <= leader).saturating_sub(1);
        let k = k.min(self.cum.len().saturating_sub(2));
        let count = (self.cum[k + 1] - self.cum[k]).max(1);
        let local = leader - self.cum[k];
        self.start_ms
            + k as i64 * self.seg_ms
            + (i128::from(local) * i128::from(self.seg_ms) / i128::from(count)) as i64
    }

    pub fn id(i: u64) -> String {
        format!("{i:024x}")
    }

    pub fn index_of(id: &str) -> Option<u64> {
        u64::from_str_radix(id, 16).ok()
    }

    /// First index whose date is not below `ms` (dates are monotone in the index).
    pub fn first_at_or_after(&self, ms: i64) -> u64 {
        let (mut lo, mut hi) = (0u64, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.date(mid) < ms {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// The entry JSON the real API sends, varied by `seed`: changes by members, by a token and by
/// SCIM (no `member`); `comment` absent, empty or set; multi-line Markdown; extra fields.
pub fn realistic(id: &str, date: i64, seed: u64) -> Value {
    let flags = [
        "checkout-v2",
        "new-onboarding",
        "dark-mode",
        "search, ranked",
        "Zürich pricing",
    ];
    let flag = flags[(seed % flags.len() as u64) as usize];
    let key = flag.to_lowercase().replace([' ', ','], "-");
    let env = ["production", "staging", "dev"][(seed / 7 % 3) as usize];
    let resource = format!("proj/default:env/{env}:flag/{key}");
    let mut v = json!({
        "_links": {
            "canonical": {"href": format!("/api/v2/flags/default/{key}"), "type": "application/json"},
            "parent": {"href": "/api/v2/auditlog", "type": "application/json"},
            "self": {"href": format!("/api/v2/auditlog/{id}"), "type": "application/json"},
            "site": {"href": format!("/default/{env}/features/{key}"), "type": "text/html"}
        },
        "_id": id,
        "_accountId": "5f3a9d0c2b1e4a0008c3e2d1",
        "date": date,
        "accesses": [{"action": "updateOn", "resource": resource}],
        "kind": "flag",
        "name": flag,
        "description": format!("* Turned on the flag\n* Changed the default rule to serve `true` in `{env}`\n"),
        "shortDescription": "",
        "subject": {"_links": {}, "name": "Ariel Flores", "avatarUrl": "https://example.invalid/a.png"},
        "titleVerb": "turned on the flag",
        "title": format!("[Ariel Flores](mailto:ariel@example.com) turned on the flag [{flag}](https://app.launchdarkly.com/default/{env}/features/{key}) in `{env}`"),
        "target": {"_links": {}, "name": flag, "resources": [resource]},
        "parent": {"_links": {}, "name": env, "resource": format!("proj/default:env/{env}")},
        "newField2026": {"ignored": true}
    });
    match seed % 5 {
        0 => {
            v["comment"] = json!("Rollout approved in CHG-1042, \"phase 2\"");
        }
        1 => {
            v["comment"] = json!("");
        }
        _ => {}
    }
    match seed % 4 {
        0 => {
            // SCIM / OAuth app change: no member.
            v["kind"] = json!("member");
            v["name"] = json!("Renée O'Brien");
            v["accesses"] =
                json!([{"action": "deactivateScimMember", "resource": "member/64b7f2e1a9"}]);
            v["app"] = json!({"_links": {}, "_id": "oauth-app-1", "isScim": true, "name": "Okta SCIM", "maintainerName": "okta"});
            v["titleVerb"] = json!("deactivated the member");
            v["title"] = json!("Deactivated the member Renée O'Brien \\(via API\\)");
            v["target"] =
                json!({"_links": {}, "name": "Renée O'Brien", "resources": ["member/64b7f2e1a9"]});
            if let Some(o) = v.as_object_mut() {
                o.remove("parent");
            }
        }
        1 => {
            v["token"] = json!({"_links": {}, "_id": "tok-1", "name": "Terraform, prod", "ending": "a1f3", "serviceToken": true});
        }
        _ => {
            v["member"] = json!({"_links": {}, "_id": "507f1f77bcf86cd799439011", "email": "ariel@example.com", "firstName": "Ariel", "lastName": "Flores"});
        }
    }
    v
}

/// The fake's data.
#[derive(Debug, Clone)]
pub enum Data {
    /// Sorted by date ascending, then by the reverse of the serving tie order (answers are
    /// read from the end).
    Stored(Vec<FakeEntry>),
    Generated(Generated),
}

impl Data {
    fn len(&self) -> u64 {
        match self {
            Data::Stored(v) => v.len() as u64,
            Data::Generated(g) => g.n,
        }
    }

    fn date(&self, i: u64) -> i64 {
        match self {
            Data::Stored(v) => v[i as usize].date,
            Data::Generated(g) => g.date(i),
        }
    }

    fn json(&self, i: u64) -> Value {
        match self {
            Data::Stored(v) => v[i as usize].json.clone(),
            Data::Generated(g) => {
                let id = Generated::id(i);
                realistic(&id, g.date(i), i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7)
            }
        }
    }

    /// First index with date > `ms` (or >= when `inclusive_of` is set).
    fn first_after(&self, ms: i64, inclusive_of: bool) -> u64 {
        let (mut lo, mut hi) = (0u64, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let d = self.date(mid);
            let before_bound = if inclusive_of { d < ms } else { d <= ms };
            if before_bound {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// A per-window request budget.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub requests: u32,
    pub window: Duration,
}

/// Every request answered 429 for a while, starting with the first one.
#[derive(Debug, Clone, Copy)]
pub struct Storm {
    pub duration: Duration,
    pub retry_after: bool,
    pub reset: bool,
}

/// LaunchDarkly's 429, with `Retry-After` in seconds.
pub fn rate_limited(retry_after_secs: u64) -> Canned {
    Canned::json(429, RATE_LIMITED).with_header("retry-after", retry_after_secs.to_string())
}

/// LaunchDarkly's OpenAPI document (a cut, see `fakes/openapi/README.md`); the API answers a
/// request it refuses with 400 `invalid_request`.
pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        Contract::new(
            "LaunchDarkly",
            "",
            include_str!("../openapi/launchdarkly.json"),
            invalid,
        )
    })
}

/// What the fake does; change it between requests through [`FakeLaunchDarkly::state`].
#[derive(Debug)]
pub struct LdState {
    pub token: String,
    pub data: Data,
    pub ties: Ties,
    pub before_inclusive: bool,
    pub after_inclusive: bool,
    /// A broken server that answers as if no `before` had been sent.
    pub ignore_before: bool,
    pub latency: Duration,
    pub route_budget: Option<Budget>,
    pub global_budget: Option<Budget>,
    pub storm: Option<Storm>,
    /// Served, in order, before any real answer (after the auth check).
    pub inject: VecDeque<Canned>,
    /// Every `n`-th request gets this status (a flaky gateway).
    pub fail_every: Option<(u64, u16)>,
    /// Served instead of the data from this page on (0 = the first).
    pub malformed: Option<(u64, String)>,
    /// Keep a log of every request (off for huge benchmarks).
    pub record: bool,
    /// The next this-many successful pages break off half-way through the body.
    pub break_bodies: usize,
    /// `POST /api/v2/auditlog/counts`: answered (0), or refused with this status.
    pub counts_status: u16,
    /// `GET /api/v2/projects`: refused with this status when set.
    pub projects_status: Option<u16>,
    /// Projects and their environment keys.
    pub projects: Vec<(String, Vec<String>)>,
    /// Environments embedded per project in `expand=environments` (the rest is paged).
    pub env_page: usize,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    answered: AtomicU64,
    pages: AtomicU64,
    searches: AtomicU64,
    in_flight: InFlight,
    statuses: Mutex<HashMap<u16, u64>>,
    log: Mutex<Vec<Seen>>,
    /// (window index, count) per budget.
    route_window: Mutex<(i64, u32)>,
    global_window: Mutex<(i64, u32)>,
    storm_started: Mutex<Option<Instant>>,
}

#[derive(Clone)]
struct Shared {
    checker: Checker,
    state: Arc<Mutex<LdState>>,
    counters: Arc<Counters>,
    started: Instant,
}

pub struct FakeLaunchDarkly {
    pub server: Server,
    state: Arc<Mutex<LdState>>,
    counters: Arc<Counters>,
}

impl FakeLaunchDarkly {
    pub async fn start(token: &str) -> Self {
        let state = Arc::new(Mutex::new(LdState {
            token: token.to_owned(),
            data: Data::Stored(Vec::new()),
            ties: Ties::IdDescending,
            before_inclusive: false,
            after_inclusive: false,
            ignore_before: false,
            latency: Duration::ZERO,
            break_bodies: 0,
            route_budget: None,
            global_budget: None,
            storm: None,
            inject: VecDeque::new(),
            fail_every: None,
            malformed: None,
            record: true,
            counts_status: 0,
            projects_status: None,
            projects: Vec::new(),
            env_page: 20,
        }));
        let counters = Arc::new(Counters::default());
        let shared = Shared {
            state: state.clone(),
            counters: counters.clone(),
            started: Instant::now(),
            checker: Checker::new(contract()),
        };
        let violations = shared.checker.violations();
        let router = Router::new()
            .route(PATH, get(audit_log).post(audit_log))
            .route(COUNTS_PATH, post(audit_log))
            .route(PROJECTS_PATH, get(audit_log))
            .route("/api/v2/projects/{key}/environments", get(audit_log))
            .fallback(not_found)
            .with_state(shared);
        Self {
            server: Server::start(router, violations).await,
            state,
            counters,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn state(&self) -> MutexGuard<'_, LdState> {
        lock(&self.state)
    }

    /// Replaces the data with these entries (any order).
    pub fn set_entries(&self, mut entries: Vec<FakeEntry>) {
        let mut state = self.state();
        sort_stored(&mut entries, state.ties);
        state.data = Data::Stored(entries);
    }

    /// Changes the tie order (re-sorting stored data).
    pub fn set_ties(&self, ties: Ties) {
        let mut state = self.state();
        state.ties = ties;
        if let Data::Stored(v) = &mut state.data {
            sort_stored(v, ties);
        }
    }

    pub fn generate(&self, generated: Generated) {
        self.state().data = Data::Generated(generated);
    }

    /// Requests received (answered or not).
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }

    /// `GET` listings answered (200 or a malformed page).
    pub fn pages(&self) -> u64 {
        self.counters.pages.load(Ordering::SeqCst)
    }

    /// `POST` searches answered with data.
    pub fn searches(&self) -> u64 {
        self.counters.searches.load(Ordering::SeqCst)
    }

    /// Requests to one path and method, from the log.
    pub fn requests_to(&self, method: &str, path: &str) -> usize {
        self.log()
            .iter()
            .filter(|s| s.method == method && s.path == path)
            .count()
    }

    pub fn status_count(&self, status: u16) -> u64 {
        lock(&self.counters.statuses)
            .get(&status)
            .copied()
            .unwrap_or(0)
    }

    pub fn max_concurrent(&self) -> usize {
        self.counters.in_flight.peak()
    }

    /// Every request seen, in order of answer (empty when recording is off).
    pub fn log(&self) -> Vec<Seen> {
        let mut log = lock(&self.counters.log).clone();
        log.sort_by_key(|s| s.seq);
        log
    }

    pub fn statuses(&self) -> Vec<u16> {
        self.log().iter().map(|s| s.status).collect()
    }

    /// `(date, id)` of stored entries in `[start_ms, end_ms)`, newest first, ties by id: the
    /// report's expected order.
    pub fn expected(&self, start_ms: i64, end_ms: i64) -> Vec<(i64, String)> {
        let state = self.state();
        let Data::Stored(entries) = &state.data else {
            panic!("expected() is for stored data");
        };
        let mut out: Vec<(i64, String)> = entries
            .iter()
            .filter(|e| e.date >= start_ms && e.date < end_ms)
            .map(|e| (e.date, e.id.clone()))
            .collect();
        out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        out
    }
}

fn sort_stored(entries: &mut [FakeEntry], ties: Ties) {
    entries.sort_by(|a, b| {
        a.date.cmp(&b.date).then_with(|| match ties {
            // Read from the end: ascending here is descending in answers.
            Ties::IdDescending => a.id.cmp(&b.id),
            Ties::IdAscending => b.id.cmp(&a.id),
            Ties::Scrambled => fnv(&a.id).cmp(&fnv(&b.id)).then_with(|| a.id.cmp(&b.id)),
        })
    });
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

fn invalid(message: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"code": "invalid_request", "message": message, "id": "5e0c2c3a-7f1b-4c1d-9a55-0c3e1f0c9d11"})
            .to_string(),
    )
}

async fn not_found(State(shared): State<Shared>, request: Request) -> Response {
    shared
        .checker
        .unknown_path(request.method().as_str(), request.uri().path());
    json_response(
        StatusCode::NOT_FOUND,
        r#"{"code":"not_found","message":"Invalid resource identifier"}"#.into(),
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// Counts a request against a budget; returns (remaining, reset epoch ms, limit).
fn spend(window: &Mutex<(i64, u32)>, budget: Budget, now: i64) -> (i64, i64, u32) {
    let len = budget.window.as_millis().max(1) as i64;
    let index = now.div_euclid(len);
    let mut w = lock(window);
    if w.0 != index {
        *w = (index, 0);
    }
    w.1 += 1;
    (
        i64::from(budget.requests) - i64::from(w.1),
        (index + 1) * len,
        budget.requests,
    )
}

async fn audit_log(State(shared): State<Shared>, request: Request) -> Response {
    let counters = shared.counters.clone();
    let arrived = Instant::now();
    let n = counters.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let (_, guard) = counters.in_flight.enter();
    // Judged now, answered where LaunchDarkly validates parameters: after authentication and
    // the rate limits, which invalid requests spend too.
    let (parts, body, refusal) = match shared.checker.read_and_check(request).await {
        Ok(checked) => checked,
        Err(too_large) => return too_large,
    };
    let mut seen = Seen::of(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
    );
    seen.at = arrived.duration_since(shared.started);
    seen.body = String::from_utf8_lossy(&body).into_owned();
    let route = Route::of(parts.method.as_str(), parts.uri.path());
    let latency = lock(&shared.state).latency;
    let text = seen.body.clone();
    let (seq, response) = answer(
        &shared,
        n,
        &parts.headers,
        &seen.query,
        &route,
        &text,
        arrived,
        refusal,
    );
    crate::chassis::pause(latency).await;
    let status = response.status().as_u16();
    *lock(&counters.statuses).entry(status).or_default() += 1;
    if lock(&shared.state).record {
        seen.seq = seq;
        seen.status = status;
        lock(&counters.log).push(seen);
    }
    drop(guard);
    let break_body = {
        let mut state = lock(&shared.state);
        let now = status == 200 && state.break_bodies > 0;
        if now {
            state.break_bodies -= 1;
        }
        now
    };
    if break_body {
        return crate::chassis::break_body(response).await;
    }
    response
}

/// Which endpoint a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    List,
    Search,
    Counts,
    Projects,
    Environments(String),
}

impl Route {
    fn of(method: &str, path: &str) -> Self {
        match (method, path) {
            ("POST", PATH) => Route::Search,
            ("POST", COUNTS_PATH) => Route::Counts,
            ("GET", PROJECTS_PATH) => Route::Projects,
            ("GET", p) if p.starts_with("/api/v2/projects/") => Route::Environments(
                p.trim_start_matches("/api/v2/projects/")
                    .trim_end_matches("/environments")
                    .to_owned(),
            ),
            _ => Route::List,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn answer(
    shared: &Shared,
    n: u64,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
    route: &Route,
    body: &str,
    arrived: Instant,
    refusal: Option<Response>,
) -> (u64, Response) {
    let mut state = lock(&shared.state);
    // Taken under the state lock: the log's order is the order answers were decided.
    let seq = shared.counters.answered.fetch_add(1, Ordering::SeqCst);
    let response = decide(
        &mut state, shared, n, headers, query, route, body, arrived, refusal,
    );
    (seq, response)
}

#[allow(clippy::too_many_arguments)]
fn decide(
    state: &mut LdState,
    shared: &Shared,
    n: u64,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
    route: &Route,
    body: &str,
    arrived: Instant,
    refusal: Option<Response>,
) -> Response {
    let now = now_ms();

    if let Some(storm) = state.storm {
        let mut started = lock(&shared.counters.storm_started);
        let began = *started.get_or_insert(arrived);
        let end = began + storm.duration;
        if arrived < end {
            let left = end - arrived;
            let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED.into());
            let h = response.headers_mut();
            if storm.retry_after {
                let secs = left.as_millis().div_ceil(1000) as u64;
                h.insert("retry-after", HeaderValue::from(secs));
            }
            if storm.reset {
                h.insert(
                    "x-ratelimit-reset",
                    HeaderValue::from(now + left.as_millis() as i64),
                );
                h.insert("x-ratelimit-route-remaining", HeaderValue::from(0));
            }
            return response;
        }
    }

    let auth_ok = headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == state.token.as_bytes());
    if !auth_ok {
        return json_response(StatusCode::UNAUTHORIZED, UNAUTHORIZED.into());
    }
    if let Some(version) = headers.get("ld-api-version")
        && version.as_bytes() != API_VERSION.as_bytes()
    {
        return invalid("Invalid API version");
    }

    let mut limit_headers: Vec<(&'static str, HeaderValue)> = Vec::new();
    let mut exhausted = false;
    for (budget, window, remaining_name, limit_name) in [
        (
            state.route_budget,
            &shared.counters.route_window,
            "x-ratelimit-route-remaining",
            "x-ratelimit-route-limit",
        ),
        (
            state.global_budget,
            &shared.counters.global_window,
            "x-ratelimit-global-remaining",
            "x-ratelimit-global-limit",
        ),
    ] {
        if let Some(budget) = budget {
            let (remaining, reset, limit) = spend(window, budget, now);
            exhausted |= remaining < 0;
            limit_headers.push((remaining_name, HeaderValue::from(remaining.max(0))));
            limit_headers.push((limit_name, HeaderValue::from(limit)));
            limit_headers.push(("x-ratelimit-reset", HeaderValue::from(reset)));
        }
    }
    let with_limits = |mut response: Response| {
        for (name, value) in &limit_headers {
            response.headers_mut().insert(*name, value.clone());
        }
        response
    };
    if exhausted {
        return with_limits(json_response(
            StatusCode::TOO_MANY_REQUESTS,
            RATE_LIMITED.into(),
        ));
    }

    if let Some(injected) = state.inject.pop_front() {
        return with_limits(injected.response());
    }
    if let Some((every, status)) = state.fail_every
        && every > 0
        && n.is_multiple_of(every)
    {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        return with_limits(json_response(
            code,
            json!({"code": "internal_server_error", "message": "fake gateway failure"}).to_string(),
        ));
    }

    if let Some(refusal) = refusal {
        return with_limits(refusal);
    }
    match route {
        Route::List | Route::Search => {}
        Route::Counts => return with_limits(counts(state, query, body, now)),
        Route::Projects => return with_limits(projects(state, query)),
        Route::Environments(key) => return with_limits(environments(state, key, query)),
    }
    let statements = if *route == Route::Search {
        match parse_statements(body, false) {
            Ok(list) => Some(list),
            Err(m) => return with_limits(invalid(&m)),
        }
    } else {
        None
    };
    let int = |name: &str| -> Result<Option<i64>, String> {
        match query.get(name) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                format!("Invalid {name} parameter: must be a Unix timestamp in milliseconds")
            }),
        }
    };
    let after = match int("after") {
        Ok(v) => v,
        Err(m) => return with_limits(invalid(&m)),
    };
    let mut before = match int("before") {
        Ok(v) => v,
        Err(m) => return with_limits(invalid(&m)),
    };
    let limit = match query.get("limit").map(|l| l.parse::<u64>()) {
        None => 10,
        Some(Ok(l)) if (1..=20).contains(&l) => l,
        Some(_) => {
            return with_limits(invalid("limit must be between 1 and 20"));
        }
    };
    if state.ignore_before {
        before = None;
    }
    let q = query.get("q").map(|q| q.to_lowercase());
    let spec = query.get("spec").cloned();
    if let Some(spec) = &spec
        && flag_without_environment(spec)
    {
        // The API's own answer to `proj/default:flag/my-flag-key` (docs/reference/launchdarkly.md).
        return with_limits(invalid(
            "invalid resource specifier: a flag specifier needs the environment level (proj/x:env/y:flag/z)",
        ));
    }

    if statements.is_none() {
        let pages_so_far = shared.counters.pages.fetch_add(1, Ordering::SeqCst);
        if let Some((from, body)) = &state.malformed
            && pages_so_far >= *from
        {
            return with_limits(json_response(StatusCode::OK, body.clone()));
        }
    } else {
        shared.counters.searches.fetch_add(1, Ordering::SeqCst);
    }

    let data = &state.data;
    let low = after.map_or(0, |a| data.first_after(a, state.after_inclusive));
    let high = before.map_or(data.len(), |b| data.first_after(b, !state.before_inclusive));
    let mut items = Vec::new();
    let mut i = high;
    let mut more = false;
    while i > low {
        i -= 1;
        let entry = data.json(i);
        if !matches(&entry, q.as_deref(), spec.as_deref()) {
            continue;
        }
        if let Some(list) = &statements
            && !allowed(&entry, list)
        {
            continue;
        }
        if items.len() as u64 == limit {
            more = true;
            break;
        }
        items.push(entry);
    }
    let mut links = serde_json::Map::new();
    let self_query: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    links.insert(
        "self".into(),
        json!({"href": format!("{PATH}?{}", self_query.join("&")), "type": "application/json"}),
    );
    if more && let Some(last) = items.last() {
        let mut next: BTreeMap<&str, String> = BTreeMap::new();
        if let Some(a) = after {
            next.insert("after", a.to_string());
        }
        next.insert("before", last["date"].to_string());
        next.insert("limit", limit.to_string());
        if let Some(q) = query.get("q") {
            next.insert("q", encode(q));
        }
        if let Some(s) = query.get("spec") {
            next.insert("spec", encode(s));
        }
        let href: Vec<String> = next.iter().map(|(k, v)| format!("{k}={v}")).collect();
        links.insert(
            "next".into(),
            json!({"href": format!("{PATH}?{}", href.join("&")), "type": "application/json"}),
        );
    }
    let body = json!({"items": items, "_links": links}).to_string();
    with_limits(json_response(StatusCode::OK, body))
}

/// One statement of a `StatementPostList`, as the fake understands it.
#[derive(Debug, Clone)]
struct Statement {
    allow: bool,
    resources: Option<Vec<String>>,
    not_resources: Option<Vec<String>>,
    actions: Option<Vec<String>>,
    not_actions: Option<Vec<String>>,
}

/// Reads a statement list; `required` makes an absent or empty body a 400 (the counts
/// endpoint), as the spec marks it.
fn parse_statements(body: &str, required: bool) -> Result<Vec<Statement>, String> {
    if body.trim().is_empty() {
        return if required {
            Err("Invalid request body: a statement list is required".into())
        } else {
            Ok(Vec::new())
        };
    }
    let value: Value = serde_json::from_str(body).map_err(|_| "Invalid request body".to_owned())?;
    let Value::Array(items) = value else {
        return Err("Invalid request body: expected an array of statements".into());
    };
    let strings = |v: &Value, key: &str| -> Result<Option<Vec<String>>, String> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("Invalid request body: {key} must hold strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("Invalid request body: {key} must be an array")),
        }
    };
    items
        .iter()
        .map(|item| {
            let allow = match item.get("effect").and_then(Value::as_str) {
                Some("allow") => true,
                Some("deny") => false,
                _ => return Err("Invalid request body: effect must be allow or deny".into()),
            };
            let statement = Statement {
                allow,
                resources: strings(item, "resources")?,
                not_resources: strings(item, "notResources")?,
                actions: strings(item, "actions")?,
                not_actions: strings(item, "notActions")?,
            };
            match (&statement.resources, &statement.not_resources) {
                (Some(_), Some(_)) => Err(
                    "Invalid request body: the resources field must be empty to use notResources"
                        .into(),
                ),
                (None, None) => {
                    Err("Invalid request body: a statement needs resources or notResources".into())
                }
                _ => Ok(statement),
            }
        })
        .collect()
}

/// A resource specifier against one accessed resource, segment by segment: `type/name` with a
/// glob on the name (`;tags` ignored), `*` alone matching any resource.
fn specifier_matches(pattern: &str, resource: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (p, r): (Vec<&str>, Vec<&str>) =
        (pattern.split(':').collect(), resource.split(':').collect());
    p.len() == r.len()
        && p.iter().zip(&r).all(|(p, r)| {
            let p = p.split(';').next().unwrap_or_default();
            match (p.split_once('/'), r.split_once('/')) {
                (Some((pt, pn)), Some((rt, rn))) => pt == rt && glob(pn, rn),
                (None, None) => p == *r,
                _ => false,
            }
        })
}

fn statement_matches(statement: &Statement, action: &str, resource: &str) -> bool {
    let resource_ok = match (&statement.resources, &statement.not_resources) {
        (Some(list), _) => list.iter().any(|p| specifier_matches(p, resource)),
        (None, Some(list)) => !list.iter().any(|p| specifier_matches(p, resource)),
        (None, None) => false,
    };
    let action_ok = match (&statement.actions, &statement.not_actions) {
        (Some(list), _) => list.iter().any(|a| a == "*" || a == action),
        (None, Some(list)) => !list.iter().any(|a| a == "*" || a == action),
        (None, None) => true,
    };
    resource_ok && action_ok
}

/// Policy evaluation: some allow statement matches an access, and no deny statement does.
fn allowed(entry: &Value, statements: &[Statement]) -> bool {
    let accesses: Vec<(String, String)> = entry["accesses"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["action"].as_str().unwrap_or_default().to_owned(),
                        x["resource"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let any = |allow: bool| {
        statements.iter().filter(|s| s.allow == allow).any(|s| {
            accesses
                .iter()
                .any(|(action, resource)| statement_matches(s, action, resource))
        })
    };
    any(true) && !any(false)
}

/// `POST /api/v2/auditlog/counts`.
fn counts(state: &LdState, query: &BTreeMap<String, String>, body: &str, now: i64) -> Response {
    if state.counts_status != 0 {
        let status = StatusCode::from_u16(state.counts_status).unwrap_or(StatusCode::NOT_FOUND);
        let body = match status.as_u16() {
            403 => {
                json!({"code": "forbidden", "message": "Forbidden. Access to the requested resource was denied."})
            }
            _ => json!({"code": "not_found", "message": "Invalid resource identifier"}),
        };
        return json_response(status, body.to_string());
    }
    let int = |name: &str| query.get(name).map(|v| v.parse::<i64>());
    let after = match int("after") {
        Some(Ok(a)) => a,
        Some(Err(_)) => {
            return invalid("Invalid after parameter: must be a Unix timestamp in milliseconds");
        }
        None => return invalid("after is required"),
    };
    let before = match int("before") {
        None => now,
        Some(Ok(b)) => b,
        Some(Err(_)) => {
            return invalid("Invalid before parameter: must be a Unix timestamp in milliseconds");
        }
    };
    let buckets = match int("buckets") {
        None => 50,
        Some(Ok(b)) if (1..=500).contains(&b) => b,
        Some(_) => return invalid("buckets must be between 1 and 500"),
    };
    if before <= after {
        return invalid("before must be later than after");
    }
    let statements = match parse_statements(body, true) {
        Ok(list) => list,
        Err(m) => return invalid(&m),
    };
    let interval = ((before - after) / buckets).max(1);
    let data = &state.data;
    let low = data.first_after(after, state.after_inclusive);
    let high = data.first_after(before, !state.before_inclusive);
    let mut counts: BTreeMap<i64, u64> = (0..buckets).map(|i| (after + i * interval, 0)).collect();
    let mut total = 0u64;
    for i in low..high {
        let entry = data.json(i);
        if !allowed(&entry, &statements) {
            continue;
        }
        let date = data.date(i);
        let bucket = after + ((date - after) / interval).min(buckets - 1) * interval;
        *counts.entry(bucket).or_default() += 1;
        total += 1;
    }
    let buckets: Vec<Value> = counts
        .into_iter()
        .map(|(timestamp, count)| json!({"timestamp": timestamp, "count": count}))
        .collect();
    json_response(
        StatusCode::OK,
        json!({"buckets": buckets, "totalCount": total, "bucketIntervalMs": interval}).to_string(),
    )
}

/// `limit` (default 20) and `offset` (default 0); the error is the 400 message.
fn page_params(query: &BTreeMap<String, String>) -> Result<(usize, usize), &'static str> {
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 20,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        Some(_) => return Err("limit must be a positive number"),
    };
    let offset = match query.get("offset").map(|o| o.parse::<usize>()) {
        None => 0,
        Some(Ok(o)) => o,
        Some(Err(_)) => return Err("offset must be a number"),
    };
    Ok((limit, offset))
}

fn environment_json(project: &str, key: &str) -> Value {
    json!({
        "_links": {"self": {"href": format!("/api/v2/projects/{project}/environments/{key}"), "type": "application/json"}},
        "_id": format!("{:024x}", fnv(&format!("{project}/{key}"))),
        "key": key,
        "name": key,
        "apiKey": format!("sdk-{:08x}-secret-sdk-key", fnv(key)),
        "mobileKey": format!("mob-{:08x}-secret-mobile-key", fnv(key)),
        "color": "F5A623",
        "defaultTtl": 0,
        "secureMode": false,
        "defaultTrackEvents": false,
        "requireComments": false,
        "confirmChanges": false,
        "tags": [],
        "critical": false
    })
}

fn environments_page(project: &str, envs: &[String], limit: usize, offset: usize) -> Value {
    let items: Vec<Value> = envs
        .iter()
        .skip(offset)
        .take(limit)
        .map(|e| environment_json(project, e))
        .collect();
    json!({
        "_links": {"self": {"href": format!("/api/v2/projects/{project}/environments?limit={limit}&offset={offset}"), "type": "application/json"}},
        "totalCount": envs.len(),
        "items": items
    })
}

/// `GET /api/v2/projects`.
fn projects(state: &LdState, query: &BTreeMap<String, String>) -> Response {
    if let Some(status) = state.projects_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        return json_response(
            status,
            json!({"code": "forbidden", "message": "Forbidden. Access to the requested resource was denied."}).to_string(),
        );
    }
    let (limit, offset) = match page_params(query) {
        Ok(p) => p,
        Err(m) => return invalid(m),
    };
    let expand = query
        .get("expand")
        .is_some_and(|e| e.split(',').any(|f| f == "environments"));
    let items: Vec<Value> = state
        .projects
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(key, envs)| {
            let mut p = json!({
                "_links": {"self": {"href": format!("/api/v2/projects/{key}"), "type": "application/json"}},
                "_id": format!("{:024x}", fnv(key)),
                "key": key,
                "name": key,
                "includeInSnippetByDefault": false,
                "tags": []
            });
            if expand {
                p["environments"] = environments_page(key, envs, state.env_page, 0);
            }
            p
        })
        .collect();
    let mut links = serde_json::Map::new();
    links.insert("self".into(), json!({"href": format!("{PROJECTS_PATH}?limit={limit}&offset={offset}"), "type": "application/json"}));
    if offset + limit < state.projects.len() {
        links.insert("next".into(), json!({"href": format!("{PROJECTS_PATH}?limit={limit}&offset={}", offset + limit), "type": "application/json"}));
    }
    json_response(
        StatusCode::OK,
        json!({"_links": links, "items": items, "totalCount": state.projects.len()}).to_string(),
    )
}

/// `GET /api/v2/projects/{key}/environments`.
fn environments(state: &LdState, key: &str, query: &BTreeMap<String, String>) -> Response {
    let (limit, offset) = match page_params(query) {
        Ok(p) => p,
        Err(m) => return invalid(m),
    };
    match state.projects.iter().find(|(k, _)| k == key) {
        Some((k, envs)) => json_response(
            StatusCode::OK,
            environments_page(k, envs, limit, offset).to_string(),
        ),
        None => json_response(
            StatusCode::NOT_FOUND,
            r#"{"code":"not_found","message":"Unknown project"}"#.into(),
        ),
    }
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `q`: case-insensitive part of the resource name; `spec`: a glob (`*`) matching one of the
/// resources the entry accessed.
fn matches(entry: &Value, q: Option<&str>, spec: Option<&str>) -> bool {
    if let Some(q) = q {
        let name = entry["name"].as_str().unwrap_or_default().to_lowercase();
        if !name.contains(q) {
            return false;
        }
    }
    if let Some(spec) = spec {
        let resources = entry["accesses"].as_array().cloned().unwrap_or_default();
        if !resources
            .iter()
            .filter_map(|a| a["resource"].as_str())
            .any(|r| glob(spec, r))
        {
            return false;
        }
    }
    true
}

/// A resource specifier naming flags with no `env/` level before them, which LaunchDarkly
/// refuses with a 400.
fn flag_without_environment(spec: &str) -> bool {
    let mut environment = false;
    for segment in spec.split(';').next().unwrap_or_default().split(':') {
        if segment.starts_with("env/") {
            environment = true;
        }
        if segment.starts_with("flag/") && !environment {
            return true;
        }
    }
    false
}

fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

pub const DEMO_TOKEN: &str = "api-demo-5b1e0c2f-0000-4000-8000-fake0launch";

/// A running fake with a realistic month of audit log (a few hundred entries, including a
/// bulk SCIM change of 12 entries in one millisecond across a page boundary), the `sources:`
/// list item for it, and the environment it needs. The window is explicit, so the demo does
/// not depend on the run's clock.
pub async fn demo() -> (FakeLaunchDarkly, String, Vec<(String, String)>) {
    let fake = FakeLaunchDarkly::start(DEMO_TOKEN).await;
    let end = now_ms() / 1000 * 1000;
    let start = end - 30 * 24 * 3_600_000;
    let mut entries = Vec::new();
    let mut date = end - 90_000;
    for i in 0..300u64 {
        // Busier on some days than others: gaps from seconds to hours.
        date -= 60_000 + (fnv(&i.to_string()) % 9_000_000) as i64;
        let id = format!("65{:022x}", 0x5eed_0000 + i);
        entries.push(FakeEntry::from_json(realistic(&id, date, i)));
        if i == 37 {
            for j in 0..12u64 {
                let id = format!("66{:022x}", 0xb01c_0000 + j);
                entries.push(FakeEntry::from_json(realistic(&id, date - 1, 4 * j)));
            }
        }
    }
    entries.retain(|e| e.date >= start);
    fake.set_entries(entries);
    // Headers as the real API sends them, with a budget the demo never exhausts.
    fake.state().route_budget = Some(Budget {
        requests: 500,
        window: Duration::from_secs(10),
    });
    let fmt = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let item = format!(
        "  - name: launchdarkly\n    kind: launchdarkly_audit_log\n    base_url: {}\n    start: {}\n    end: {}\n",
        fake.url(),
        fmt(start),
        fmt(end)
    );
    let env = vec![("LD_API_TOKEN".to_owned(), DEMO_TOKEN.to_owned())];
    (fake, item, env)
}
