//! A fake Trend Vision One serving `GET /v3.0/iam/accounts` and `GET /v3.0/audit/logs`,
//! faithful to `docs/reference/vision-one.md` and at least as strict (Trend publishes no OpenAPI
//! document a fake could be checked against, so every rule below is kept by hand):
//!
//! - `Authorization: Bearer <token>` checked on every request (401 with Trend's error document);
//!   an API key without the audit permission gets 403 on the audit log;
//! - `top` only 50, 100 or 200; unknown or repeated query parameters are a 400 (a client that
//!   re-appends its first query to a `nextLink` repeats them); `startDateTime`/`endDateTime`
//!   only as `YYYY-MM-DDTHH:MM:SSZ`, never older than the 180-day retention; `orderBy`,
//!   `labels` and `dateTimeTarget` only their documented values;
//! - `TMV1-Filter` parsed (`eq`, `and`, `or`, `not`, parentheses, `''` inside literals), only the
//!   documented fields, at most 256 (accounts) or 1024 (audit) characters, applied to the data;
//! - pages of at most `top` items (or fewer, when the server caps them), an absolute `nextLink`
//!   on the real host (`https://api.xdr.trendmicro.com/...?skipToken=...`), optionally carrying
//!   the first query with raw spaces; a page request must re-send the same `TMV1-Filter`; the
//!   last page omits `nextLink` (or sends `null` or `""`); an empty page may say `items: null`;
//! - `loggedDateTime` as `YYYY-MM-DDTHH:MM:SSZ`, with a fraction, or as `YYYY-MM-DD HH:MM:SS`;
//!   `result` as a string or a boolean; `loggedUserId`/`loggedUserMailAddress` may be absent
//!   (older API versions);
//! - a request budget enforced like Trend's ("requests Trend Vision One gets within 60 seconds",
//!   rejected ones included): 429 `TooManyRequests`, with or without `Retry-After`;
//! - injected answers (429s, HTML error pages from a gateway, malformed bodies) for chosen
//!   requests or pages, and a per-request latency for benchmarks.
//!
//! The 401/403/400 error codes (`Unauthorized`, `AccessDenied`, `BadRequest`) are assumptions
//! inside the documented envelope `{"error":{"code","message"}}`; `TooManyRequests` is verified.

use crate::chassis::{Canned, Log, Seen, Server, lock};
use crate::openapi::Violations;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, NaiveDateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ACCOUNTS_PATH: &str = "/v3.0/iam/accounts";
pub const AUDIT_PATH: &str = "/v3.0/audit/logs";
/// Where Trend's own `nextLink`s point, whatever host the client called.
pub const REAL_HOST: &str = "https://api.xdr.trendmicro.com";
/// The filter the client must send on every audit page.
pub const LOGON_FILTER: &str = "(category eq 'Logon and Logoff') and (activity eq 'Log on')";
/// The filter of the scan for accounts added or invited in the window.
pub const ARRIVALS_FILTER: &str = "(category eq 'Account Management') and ((activity eq 'Add user account') or (activity eq 'Invite user account'))";
pub const RETENTION_DAYS: i64 = 180;
pub const ACCOUNT_FIELDS: &[&str] = &["id", "email", "authType", "status"];
pub const AUDIT_FIELDS: &[&str] = &[
    "loggedUser",
    "loggedRole",
    "loggedUserId",
    "loggedUserMailAddress",
    "accessType",
    "category",
    "activity",
    "result",
];

/// Which list a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Which {
    Accounts,
    Audit,
}

impl Which {
    fn path(self) -> &'static str {
        match self {
            Which::Accounts => ACCOUNTS_PATH,
            Which::Audit => AUDIT_PATH,
        }
    }
}

/// One IAM account as the API lists it.
#[derive(Debug, Clone)]
pub struct FakeAccount {
    pub id: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    pub auth_type: String,
    pub status: String,
    /// A display name, sent as `name` only when set: not among the documented fields, so the
    /// tenant of most tests does not send it.
    pub name: Option<String>,
}

impl FakeAccount {
    pub fn user(id: &str, email: &str) -> Self {
        Self {
            id: Some(id.to_owned()),
            email: Some(email.to_owned()),
            role: Some("Analyst".to_owned()),
            auth_type: "local".to_owned(),
            status: "enabled".to_owned(),
            name: None,
        }
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// A SAML group mapping: its email is a distribution address nobody logs on with.
    pub fn group(id: &str, email: &str) -> Self {
        Self {
            auth_type: "samlGroup".to_owned(),
            ..Self::user(id, email)
        }
    }

    pub fn invited(id: &str, email: &str) -> Self {
        Self {
            status: "invited".to_owned(),
            ..Self::user(id, email)
        }
    }

    pub fn role(mut self, role: Option<&str>) -> Self {
        self.role = role.map(str::to_owned);
        self
    }

    pub fn status(mut self, status: &str) -> Self {
        self.status = status.to_owned();
        self
    }

    fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "authType": self.auth_type,
            "status": self.status,
            "description": "",
        });
        if let Some(id) = &self.id {
            v["id"] = id.clone().into();
        }
        if let Some(email) = &self.email {
            v["email"] = email.clone().into();
        }
        if let Some(role) = &self.role {
            v["role"] = role.clone().into();
        }
        if let Some(name) = &self.name {
            v["name"] = name.clone().into();
        }
        v
    }

    fn field(&self, name: &str) -> Option<String> {
        match name {
            "id" => self.id.clone(),
            "email" => self.email.clone(),
            "authType" => Some(self.auth_type.clone()),
            "status" => Some(self.status.clone()),
            _ => None,
        }
    }
}

/// How an event's `loggedDateTime` is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeForm {
    /// `2026-08-24T03:00:00Z`, the documented form.
    Zulu,
    /// `2026-08-24T03:00:00.123Z`.
    Fraction,
    /// `2026-08-24 03:00:00`, as Elastic's pipeline also accepts.
    Space,
    /// Exactly this text, whatever the instant (a broken value).
    Raw(String),
}

/// `result` as a string (documented) or a boolean (some API versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Successful,
    Unsuccessful,
    True,
    False,
}

/// One audit log entry.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub form: TimeForm,
    pub logged_user: Option<String>,
    pub logged_user_id: Option<String>,
    pub logged_user_mail_address: Option<String>,
    pub logged_role: String,
    pub access_type: String,
    pub category: String,
    pub activity: String,
    pub result: Outcome,
    /// `details` as sent; `None` gives a logon's (`IP address`, `name`).
    pub details: Option<serde_json::Value>,
}

/// The administrator who adds and invites accounts in the tests' tenants.
pub const ADMIN: (&str, &str) = ("4d5d11b1-84d3-403f-8bfd-a0000000000a", "admin@example.com");

impl Event {
    /// A successful console logon at `at` with no identity yet; add one with the setters.
    pub fn logon(at: DateTime<Utc>) -> Self {
        Self {
            at,
            form: TimeForm::Zulu,
            logged_user: None,
            logged_user_id: None,
            logged_user_mail_address: None,
            logged_role: "Analyst".to_owned(),
            access_type: "Console".to_owned(),
            category: "Logon and Logoff".to_owned(),
            activity: "Log on".to_owned(),
            result: Outcome::Successful,
            details: None,
        }
    }

    /// An `Account Management` entry of the administrator adding (`Add user account`) or
    /// inviting (`Invite user account`) an account, which `details."User account"` names by
    /// its email or display name, as Vision One's CEF forwarding of these events shows (the
    /// only shape on record); `None` names no target at all.
    pub fn arrival(at: DateTime<Utc>, activity: &str, target: Option<&str>) -> Self {
        let details = match target {
            Some(target) => serde_json::json!({ "User account": target, "Role": "Analyst" }),
            None => serde_json::json!({ "Role": "Analyst" }),
        };
        Self {
            category: "Account Management".to_owned(),
            activity: activity.to_owned(),
            logged_role: "Master Administrator".to_owned(),
            details: Some(details),
            ..Self::logon_of(at, ADMIN.0, ADMIN.1)
        }
    }

    /// A logon naming the user in all three fields, as current API versions do.
    pub fn logon_of(at: DateTime<Utc>, id: &str, email: &str) -> Self {
        Self::logon(at).id(id).mail(email).user(email)
    }

    pub fn id(mut self, id: &str) -> Self {
        self.logged_user_id = Some(id.to_owned());
        self
    }

    pub fn mail(mut self, mail: &str) -> Self {
        self.logged_user_mail_address = Some(mail.to_owned());
        self
    }

    pub fn user(mut self, user: &str) -> Self {
        self.logged_user = Some(user.to_owned());
        self
    }

    pub fn form(mut self, form: TimeForm) -> Self {
        self.form = form;
        self
    }

    pub fn result(mut self, result: Outcome) -> Self {
        self.result = result;
        self
    }

    pub fn activity(mut self, activity: &str) -> Self {
        self.activity = activity.to_owned();
        self
    }

    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    pub fn category(mut self, category: &str) -> Self {
        self.category = category.to_owned();
        self
    }

    fn logged_date_time(&self) -> String {
        match &self.form {
            TimeForm::Zulu => self.at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            TimeForm::Fraction => self.at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            TimeForm::Space => self.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            TimeForm::Raw(text) => text.clone(),
        }
    }

    fn result_text(&self) -> &'static str {
        match self.result {
            Outcome::Successful | Outcome::True => "Successful",
            Outcome::Unsuccessful | Outcome::False => "Unsuccessful",
        }
    }

    fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "loggedDateTime": self.logged_date_time(),
            "loggedUser": self.logged_user.clone().unwrap_or_default(),
            "loggedRole": self.logged_role,
            "accessType": self.access_type,
            "category": self.category,
            "activity": self.activity,
            "details": self.details.clone().unwrap_or_else(|| serde_json::json!({
                "IP address": "198.51.100.7",
                "name": self.logged_user.clone().unwrap_or_default(),
            })),
        });
        v["result"] = match self.result {
            Outcome::Successful | Outcome::Unsuccessful => self.result_text().into(),
            Outcome::True => true.into(),
            Outcome::False => false.into(),
        };
        if let Some(id) = &self.logged_user_id {
            v["loggedUserId"] = id.clone().into();
        }
        if let Some(mail) = &self.logged_user_mail_address {
            v["loggedUserMailAddress"] = mail.clone().into();
        }
        v
    }

    fn field(&self, name: &str) -> Option<String> {
        match name {
            "loggedUser" => self.logged_user.clone(),
            "loggedRole" => Some(self.logged_role.clone()),
            "loggedUserId" => self.logged_user_id.clone(),
            "loggedUserMailAddress" => self.logged_user_mail_address.clone(),
            "accessType" => Some(self.access_type.clone()),
            "category" => Some(self.category.clone()),
            "activity" => Some(self.activity.clone()),
            "result" => Some(self.result_text().to_owned()),
            _ => None,
        }
    }
}

/// What a `nextLink` carries besides the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStyle {
    /// `...?skipToken=...`, as in Trend's documentation.
    TokenOnly,
    /// The first query again, with raw spaces (`orderBy=loggedDateTime desc`), then the token.
    WithQuery,
}

/// How the last page says there is no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastPage {
    /// No `nextLink` key, as documented.
    Omitted,
    /// `"nextLink": null`.
    Null,
    /// `"nextLink": ""`.
    Empty,
}

/// Trend's error document `{"error":{"code","message"}}` with `status`.
pub fn error(status: u16, code: &str, message: &str) -> Canned {
    Canned::json(
        status,
        &serde_json::json!({ "error": { "code": code, "message": message } }).to_string(),
    )
}

/// Trend's 429: no `Retry-After`, no rate-limit header, as the real API answers.
pub fn too_many() -> Canned {
    error(429, "TooManyRequests", "Too many API requests")
}

/// Serve `answer` instead of the real one for requests matching `which` (any list if `None`)
/// and page (any page if `None`; the first request of a scan is page 0), `times` times.
#[derive(Debug, Clone)]
pub struct Fault {
    pub which: Option<Which>,
    pub page: Option<usize>,
    pub times: usize,
    pub answer: Canned,
}

impl Fault {
    pub fn first_request(answer: Canned) -> Self {
        Self {
            which: None,
            page: None,
            times: 1,
            answer,
        }
    }

    /// Every request for this page of this list, forever.
    pub fn page_always(which: Which, page: usize, answer: Canned) -> Self {
        Self {
            which: Some(which),
            page: Some(page),
            times: usize::MAX,
            answer,
        }
    }
}

/// Trend's request limit: at most `requests` in any `per`, counting rejected requests too.
/// Once refused, every request is refused until the window that filled up has passed ("does
/// not process requests until the rate falls below the limit"); no 429 says how long.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub requests: usize,
    pub per: Duration,
}

/// The fake's data and behaviour; change it through [`FakeVisionOne::state`].
#[derive(Debug)]
pub struct TrendState {
    pub token: String,
    /// The server's clock for the retention check; `None` is the system clock.
    pub now: Option<DateTime<Utc>>,
    pub accounts: Vec<FakeAccount>,
    pub events: Vec<Event>,
    /// Scheme and host of `nextLink`s.
    pub link_host: String,
    pub link_style: LinkStyle,
    pub last_page: LastPage,
    /// Write `"items": null` instead of `[]` for an empty page.
    pub null_items: bool,
    /// The server returns at most this many items a page, whatever `top` says.
    pub page_cap: Option<usize>,
    /// The API key's role lacks Audit Logs permissions.
    pub audit_forbidden: bool,
    /// Audit `nextLink`s point back at the first page (a broken server).
    pub loop_audit_pages: bool,
    pub faults: Vec<Fault>,
    pub limit: Option<Limit>,
    /// Added before each answer.
    pub latency: Duration,
    /// The next this-many successful pages break off half-way through the body.
    pub break_bodies: usize,
}

/// A scan started by a first-page request, continued through its skipTokens.
#[derive(Debug)]
struct Scan {
    which: Which,
    filter: Option<String>,
    /// The first request's parameters, for `WithQuery` links and checks.
    params: Vec<(String, String)>,
    /// Indices into the accounts or events, in page order.
    rows: Vec<usize>,
    page_len: usize,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<TrendState>>,
    scans: Arc<Mutex<HashMap<u64, Scan>>>,
    next_scan: Arc<AtomicU64>,
    log: Log,
    arrivals: Arc<Mutex<Vec<(Instant, u16)>>>,
    window: Arc<Mutex<VecDeque<Instant>>>,
    /// After a refusal, no request is served before this instant.
    blocked_until: Arc<Mutex<Option<Instant>>>,
    /// Held from answering to logging, so the log's order is the order of answers.
    order: Arc<Mutex<()>>,
}

pub struct FakeVisionOne {
    pub server: Server,
    pub log: Log,
    state: Arc<Mutex<TrendState>>,
    arrivals: Arc<Mutex<Vec<(Instant, u16)>>>,
}

impl FakeVisionOne {
    /// Starts a fake accepting `token`, its clock at `now` (`None`: the system clock).
    pub async fn start(token: &str, now: Option<DateTime<Utc>>) -> Self {
        let state = Arc::new(Mutex::new(TrendState {
            token: token.to_owned(),
            now,
            accounts: Vec::new(),
            events: Vec::new(),
            link_host: REAL_HOST.to_owned(),
            link_style: LinkStyle::TokenOnly,
            last_page: LastPage::Omitted,
            null_items: false,
            page_cap: None,
            audit_forbidden: false,
            loop_audit_pages: false,
            faults: Vec::new(),
            limit: None,
            latency: Duration::ZERO,
            break_bodies: 0,
        }));
        let log = Log::default();
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            state: state.clone(),
            scans: Arc::new(Mutex::new(HashMap::new())),
            next_scan: Arc::new(AtomicU64::new(1)),
            log: log.clone(),
            arrivals: arrivals.clone(),
            window: Arc::new(Mutex::new(VecDeque::new())),
            blocked_until: Arc::new(Mutex::new(None)),
            order: Arc::new(Mutex::new(())),
        };
        let router = Router::new()
            .route(
                ACCOUNTS_PATH,
                get(|s: State<Shared>, r: Request| handle(s, r, Which::Accounts)),
            )
            .route(
                AUDIT_PATH,
                get(|s: State<Shared>, r: Request| handle(s, r, Which::Audit)),
            )
            .fallback(not_found)
            .with_state(shared);
        Self {
            server: Server::start(router, Violations::default()).await,
            log,
            state,
            arrivals,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, TrendState> {
        lock(&self.state)
    }

    pub fn add_account(&self, account: FakeAccount) {
        self.state().accounts.push(account);
    }

    pub fn add_event(&self, event: Event) {
        self.state().events.push(event);
    }

    /// Requests seen for one list, in arrival order.
    pub fn requests(&self, which: Which) -> Vec<Seen> {
        self.log
            .all()
            .into_iter()
            .filter(|s| s.path == which.path())
            .collect()
    }

    /// Audit log requests of the logon scan, in arrival order.
    pub fn logon_requests(&self) -> Vec<Seen> {
        self.audit_requests_with(LOGON_FILTER)
    }

    /// Audit log requests of the scan for added and invited accounts, in arrival order.
    pub fn arrival_requests(&self) -> Vec<Seen> {
        self.audit_requests_with(ARRIVALS_FILTER)
    }

    fn audit_requests_with(&self, filter: &str) -> Vec<Seen> {
        self.requests(Which::Audit)
            .into_iter()
            .filter(|s| s.headers.get("tmv1-filter").map(String::as_str) == Some(filter))
            .collect()
    }

    /// Answers with status 429.
    pub fn too_many_count(&self) -> usize {
        self.log.statuses().iter().filter(|s| **s == 429).count()
    }

    /// The most requests that arrived within any interval shorter than `per`.
    pub fn max_in_window(&self, per: Duration) -> usize {
        let mut times: Vec<Instant> = self
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(t, _)| *t)
            .collect();
        times.sort();
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| t.duration_since(times[i]) < per)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }
}

async fn not_found(request: Request) -> Response {
    error(
        404,
        "NotFound",
        &format!("The resource {} does not exist", request.uri().path()),
    )
    .response()
}

fn bad_request(message: &str) -> Response {
    error(400, "BadRequest", message).response()
}

async fn handle(State(shared): State<Shared>, request: Request, which: Which) -> Response {
    let arrived = Instant::now();
    let raw_query = request.uri().query().unwrap_or("").to_owned();
    let headers = request.headers().clone();
    let limited = rate_check(&shared, arrived);
    let latency = lock(&shared.state).latency;
    crate::chassis::pause(latency).await;
    let order = lock(&shared.order);
    let response = match limited {
        Some(answer) => answer.response(),
        None => answer(&shared, which, &raw_query, &headers),
    };
    let status = response.status().as_u16();
    let break_body = {
        let mut state = lock(&shared.state);
        let now = status == 200 && state.break_bodies > 0;
        if now {
            state.break_bodies -= 1;
        }
        now
    };
    let mut seen = Seen::of("GET", which.path(), Some(&raw_query), &headers);
    seen.status = status;
    shared.log.push(seen);
    lock(&shared.arrivals).push((arrived, status));
    drop(order);
    if break_body {
        return crate::chassis::break_body(response).await;
    }
    response
}

/// Counts the request against the limit; a 429 if the window is already full.
fn rate_check(shared: &Shared, arrived: Instant) -> Option<Canned> {
    let limit = lock(&shared.state).limit?;
    let mut window = lock(&shared.window);
    while window
        .front()
        .is_some_and(|t| arrived.duration_since(*t) >= limit.per)
    {
        window.pop_front();
    }
    let mut blocked_until = lock(&shared.blocked_until);
    let blocked = blocked_until.is_some_and(|until| arrived < until);
    let full = window.len() >= limit.requests;
    let window_end = window.front().map(|oldest| *oldest + limit.per);
    window.push_back(arrived);
    if !(full || blocked) {
        return None;
    }
    if let Some(end) = window_end {
        *blocked_until = Some(blocked_until.map_or(end, |until| until.max(end)));
    }
    Some(too_many())
}

fn answer(shared: &Shared, which: Which, raw_query: &str, headers: &HeaderMap) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let token = pairs
        .iter()
        .find(|(k, _)| k == "skipToken")
        .map(|(_, v)| v.clone());
    let page_no = token
        .as_deref()
        .and_then(decode_token)
        .and_then(|(scan, offset)| {
            lock(&shared.scans)
                .get(&scan)
                .map(|s| offset / s.page_len.max(1))
        })
        .unwrap_or(0);
    let mut state = lock(&shared.state);
    if let Some(fault) = state.faults.iter_mut().find(|f| {
        f.times > 0 && f.which.is_none_or(|w| w == which) && f.page.is_none_or(|p| p == page_no)
    }) {
        fault.times -= 1;
        return fault.answer.clone().response();
    }
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", state.token));
    if !authorised {
        return error(
            401,
            "Unauthorized",
            "The authentication token is invalid or expired.",
        )
        .response();
    }
    if which == Which::Audit && state.audit_forbidden {
        return error(
            403,
            "AccessDenied",
            "Insufficient permissions to access the resource.",
        )
        .response();
    }
    // Every parameter at most once, and only documented ones.
    let allowed: &[&str] = match which {
        Which::Accounts => &["top", "skipToken"],
        Which::Audit => &[
            "startDateTime",
            "endDateTime",
            "dateTimeTarget",
            "orderBy",
            "top",
            "labels",
            "skipToken",
        ],
    };
    let mut seen: Vec<&str> = Vec::new();
    for (key, _) in &pairs {
        if !allowed.contains(&key.as_str()) {
            return bad_request(&format!("Unsupported query parameter: {key}"));
        }
        if seen.contains(&key.as_str()) {
            return bad_request(&format!("Duplicate query parameter: {key}"));
        }
        seen.push(key);
    }
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let top = match param("top") {
        None => 50,
        Some(t) => match t.parse::<usize>() {
            Ok(n @ (50 | 100 | 200)) => n,
            _ => return bad_request(&format!("Invalid top: {t}. Allowed values: 50, 100, 200")),
        },
    };
    let filter = match headers.get("tmv1-filter") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(text) => Some(text.to_owned()),
            Err(_) => return bad_request("TMV1-Filter is not valid text"),
        },
    };
    let (fields, max_len) = match which {
        Which::Accounts => (ACCOUNT_FIELDS, 256),
        Which::Audit => (AUDIT_FIELDS, 1024),
    };
    let parsed_filter = match &filter {
        None => None,
        Some(text) if text.chars().count() > max_len => {
            return bad_request(&format!("TMV1-Filter is longer than {max_len} characters"));
        }
        Some(text) => match Filter::parse(text, fields) {
            Ok(f) => Some(f),
            Err(m) => return bad_request(&format!("Invalid TMV1-Filter: {m}")),
        },
    };
    let now = state.now.unwrap_or_else(Utc::now);
    let scan_params: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "skipToken")
        .cloned()
        .collect();

    let (scan_id, offset) = match token {
        Some(token) => {
            let Some((scan_id, offset)) = decode_token(&token) else {
                return bad_request("Invalid skipToken");
            };
            let scans = lock(&shared.scans);
            let Some(scan) = scans.get(&scan_id) else {
                return bad_request("Invalid skipToken");
            };
            if scan.which != which {
                return bad_request("The skipToken belongs to another resource");
            }
            if scan.filter != filter {
                return bad_request(
                    "TMV1-Filter differs from the request that issued the skipToken",
                );
            }
            for (k, v) in &scan_params {
                if scan.params.iter().all(|(sk, sv)| sk != k || sv != v) {
                    return bad_request(&format!(
                        "{k} differs from the request that issued the skipToken"
                    ));
                }
            }
            (scan_id, offset)
        }
        None => {
            let rows = match which {
                Which::Accounts => state
                    .accounts
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| {
                        parsed_filter
                            .as_ref()
                            .is_none_or(|f| f.matches(&|n| a.field(n)))
                    })
                    .map(|(i, _)| i)
                    .collect(),
                Which::Audit => match audit_rows(&state, &pairs, now, parsed_filter.as_ref()) {
                    Ok(rows) => rows,
                    Err(m) => return bad_request(&m),
                },
            };
            let page_len = state.page_cap.map_or(top, |cap| cap.min(top));
            let scan_id = shared.next_scan.fetch_add(1, Ordering::SeqCst);
            lock(&shared.scans).insert(
                scan_id,
                Scan {
                    which,
                    filter: filter.clone(),
                    params: scan_params.clone(),
                    rows,
                    page_len,
                },
            );
            (scan_id, 0)
        }
    };

    let scans = lock(&shared.scans);
    let Some(scan) = scans.get(&scan_id) else {
        return bad_request("Invalid skipToken");
    };
    let end = (offset + scan.page_len).min(scan.rows.len());
    let items: Vec<serde_json::Value> = scan.rows[offset.min(end)..end]
        .iter()
        .filter_map(|&i| match which {
            Which::Accounts => state.accounts.get(i).map(FakeAccount::json),
            Which::Audit => state.events.get(i).map(Event::json),
        })
        .collect();
    let mut body = serde_json::Map::new();
    if which == Which::Accounts {
        body.insert("totalCount".into(), scan.rows.len().into());
        body.insert("count".into(), items.len().into());
    }
    body.insert(
        "items".into(),
        if items.is_empty() && state.null_items {
            serde_json::Value::Null
        } else {
            items.into()
        },
    );
    let next_offset = if which == Which::Audit && state.loop_audit_pages {
        Some(0)
    } else {
        (end < scan.rows.len()).then_some(end)
    };
    match next_offset {
        Some(next) => {
            let token = encode_token(scan_id, next);
            let query = match state.link_style {
                LinkStyle::TokenOnly => format!("skipToken={token}"),
                LinkStyle::WithQuery => {
                    let mut q: Vec<String> = scan
                        .params
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    q.push(format!("skipToken={token}"));
                    q.join("&")
                }
            };
            body.insert(
                "nextLink".into(),
                format!("{}{}?{query}", state.link_host, which.path()).into(),
            );
        }
        None => match state.last_page {
            LastPage::Omitted => {}
            LastPage::Null => {
                body.insert("nextLink".into(), serde_json::Value::Null);
            }
            LastPage::Empty => {
                body.insert("nextLink".into(), "".into());
            }
        },
    }
    if which == Which::Audit {
        body.insert("labels".into(), serde_json::json!({}));
    }
    let mut response = Response::new(serde_json::Value::Object(body).to_string().into());
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    state.faults.retain(|f| f.times > 0);
    response
}

/// The audit query's window, order and filter applied to the events.
fn audit_rows(
    state: &TrendState,
    pairs: &[(String, String)],
    now: DateTime<Utc>,
    filter: Option<&Filter>,
) -> Result<Vec<usize>, String> {
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let oldest = now - chrono::Duration::days(RETENTION_DAYS);
    let start = match param("startDateTime") {
        None => oldest,
        Some(text) => parse_request_time(text)
            .ok_or_else(|| format!("Invalid startDateTime: {text}. Use YYYY-MM-DDThh:mm:ssZ"))?,
    };
    let end = match param("endDateTime") {
        None => now,
        Some(text) => parse_request_time(text)
            .ok_or_else(|| format!("Invalid endDateTime: {text}. Use YYYY-MM-DDThh:mm:ssZ"))?,
    };
    if start < oldest {
        return Err(format!(
            "startDateTime {} is earlier than the retention period of {RETENTION_DAYS} days allows",
            start.format("%Y-%m-%dT%H:%M:%SZ")
        ));
    }
    if start > end {
        return Err("startDateTime is later than endDateTime".to_owned());
    }
    match param("dateTimeTarget") {
        None | Some("loggedDateTime") => {}
        Some(other) => {
            return Err(format!(
                "Invalid dateTimeTarget: {other}; this fake serves loggedDateTime only"
            ));
        }
    }
    let descending = match param("orderBy") {
        None | Some("loggedDateTime desc") => true,
        Some("loggedDateTime asc") | Some("loggedDateTime") => false,
        Some(other) => return Err(format!("Invalid orderBy: {other}")),
    };
    match param("labels") {
        None | Some("none" | "matched" | "all") => {}
        Some(other) => return Err(format!("Invalid labels: {other}")),
    }
    let mut picked: Vec<(usize, &Event)> = state
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.at >= start && e.at <= end)
        .filter(|(_, e)| filter.is_none_or(|f| f.matches(&|n| e.field(n))))
        .collect();
    picked.sort_by(|a, b| a.1.at.cmp(&b.1.at).then(a.0.cmp(&b.0)));
    if descending {
        picked.reverse();
    }
    Ok(picked.into_iter().map(|(i, _)| i).collect())
}

/// Query times: `YYYY-MM-DDThh:mm:ssZ` only (no fraction, no offset).
fn parse_request_time(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .map(|t| t.and_utc())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// An opaque-looking skipToken (URL-safe base64 with padding, like Trend's `Mg==`).
pub fn encode_token(scan: u64, offset: usize) -> String {
    let bytes = format!("{scan}:{offset}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn decode_token(token: &str) -> Option<(u64, usize)> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut bytes = Vec::new();
    for c in token.trim_end_matches('=').bytes() {
        let v = B64.iter().position(|b| *b == c)? as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    let text = String::from_utf8(bytes).ok()?;
    let (scan, offset) = text.split_once(':')?;
    Some((scan.parse().ok()?, offset.parse().ok()?))
}

/// A parsed `TMV1-Filter`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Eq(String, String),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
    Text(String),
}

impl Filter {
    /// Parses `(a eq 'x') and not (b eq 'y''s')`; fields outside `fields` are refused.
    pub fn parse(text: &str, fields: &[&str]) -> Result<Self, String> {
        let tokens = tokenize(text)?;
        let mut pos = 0;
        let filter = parse_or(&tokens, &mut pos, fields)?;
        if pos != tokens.len() {
            return Err(format!("unexpected {:?} at token {pos}", tokens[pos]));
        }
        Ok(filter)
    }

    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            Filter::Eq(field, value) => get(field).is_some_and(|v| v == *value),
            Filter::And(a, b) => a.matches(get) && b.matches(get),
            Filter::Or(a, b) => a.matches(get) || b.matches(get),
            Filter::Not(a) => !a.matches(get),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Tok::Open);
            i += 1;
        } else if c == ')' {
            out.push(Tok::Close);
            i += 1;
        } else if c == '\'' {
            i += 1;
            let mut literal = String::new();
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string literal".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        literal.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        literal.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Text(literal));
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let from = i;
            while chars
                .get(i)
                .is_some_and(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
            {
                i += 1;
            }
            out.push(Tok::Word(chars[from..i].iter().collect()));
        } else {
            return Err(format!("unexpected character `{c}`"));
        }
    }
    Ok(out)
}

fn parse_or(tokens: &[Tok], pos: &mut usize, fields: &[&str]) -> Result<Filter, String> {
    let mut left = parse_and(tokens, pos, fields)?;
    while tokens.get(*pos) == Some(&Tok::Word("or".into())) {
        *pos += 1;
        let right = parse_and(tokens, pos, fields)?;
        left = Filter::Or(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_and(tokens: &[Tok], pos: &mut usize, fields: &[&str]) -> Result<Filter, String> {
    let mut left = parse_unary(tokens, pos, fields)?;
    while tokens.get(*pos) == Some(&Tok::Word("and".into())) {
        *pos += 1;
        let right = parse_unary(tokens, pos, fields)?;
        left = Filter::And(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_unary(tokens: &[Tok], pos: &mut usize, fields: &[&str]) -> Result<Filter, String> {
    match tokens.get(*pos) {
        Some(Tok::Word(w)) if w == "not" => {
            *pos += 1;
            Ok(Filter::Not(Box::new(parse_unary(tokens, pos, fields)?)))
        }
        Some(Tok::Open) => {
            *pos += 1;
            let inner = parse_or(tokens, pos, fields)?;
            if tokens.get(*pos) != Some(&Tok::Close) {
                return Err("missing `)`".into());
            }
            *pos += 1;
            Ok(inner)
        }
        Some(Tok::Word(field)) => {
            if !fields.contains(&field.as_str()) {
                return Err(format!("unsupported field `{field}`"));
            }
            if tokens.get(*pos + 1) != Some(&Tok::Word("eq".into())) {
                return Err(format!("expected `eq` after `{field}`"));
            }
            match tokens.get(*pos + 2) {
                Some(Tok::Text(value)) => {
                    *pos += 3;
                    Ok(Filter::Eq(field.clone(), value.clone()))
                }
                _ => Err(format!("expected a quoted value after `{field} eq`")),
            }
        }
        other => Err(format!("unexpected {other:?}")),
    }
}

/// The demo token; not a secret anywhere.
pub const DEMO_TOKEN: &str = "demo-vision-one-token";

/// The benchmark tenant: `accounts` accounts, the last `inactive` of them with no logon, and
/// `events` logons of the others spread over the 90-day window (a third with fractional
/// seconds), served with 20 ms latency under Trend's 500 requests a minute.
pub async fn benchmark_tenant(
    token: &str,
    now: DateTime<Utc>,
    accounts: usize,
    inactive: usize,
    events: usize,
) -> FakeVisionOne {
    let fake = FakeVisionOne::start(token, Some(now)).await;
    {
        let mut state = fake.state();
        state.latency = Duration::from_millis(20);
        state.limit = Some(Limit {
            requests: 500,
            per: Duration::from_secs(60),
        });
        let id = |i: usize| format!("4d5d11b1-84d3-403f-8bfd-{i:012x}");
        for i in 0..accounts {
            state
                .accounts
                .push(FakeAccount::user(&id(i), &format!("user{i}@example.com")));
        }
        let active = accounts - inactive;
        let step = (89 * 86_400) / events.max(1) as i64;
        for e in 0..events {
            let i = e % active;
            let at = now - chrono::Duration::seconds(60 + step * e as i64);
            let form = if e % 3 == 0 {
                TimeForm::Fraction
            } else {
                TimeForm::Zulu
            };
            state
                .events
                .push(Event::logon_of(at, &id(i), &format!("user{i}@example.com")).form(form));
        }
    }
    fake
}

/// A running fake with a realistic tenant for the demo: a few dozen people (active, inactive,
/// invited, disabled), SAML group mappings, API-key activity, log-offs and failed attempts.
/// Returns the fake, its `sources:` list item and the environment it needs. Times are relative
/// to the system clock, so run the demo without `ROLLCALL_NOW`.
pub async fn demo() -> (FakeVisionOne, String, Vec<(String, String)>) {
    let now = Utc::now();
    let fake = FakeVisionOne::start(DEMO_TOKEN, None).await;
    let days = |d: i64, h: i64| now - chrono::Duration::days(d) - chrono::Duration::hours(h);
    let people: &[(&str, &str, &str, i64)] = &[
        ("Master Administrator", "ana.silva", "local", 0),
        ("Master Administrator", "ben.okafor", "saml", 2),
        ("Senior Analyst", "chloe.martin", "saml", 5),
        ("Senior Analyst", "dmitri.ivanov", "saml", 11),
        ("Analyst", "emma.schmidt", "saml", 17),
        ("Analyst", "farid.haddad", "saml", 23),
        ("Analyst", "grace.lee", "saml", 30),
        ("Analyst", "hiro.tanaka", "saml", 41),
        ("Analyst", "isabel.garcia", "saml", 55),
        ("Analyst", "jonas.berg", "saml", 67),
        ("Operator", "kemi.adeyemi", "local", 78),
        ("Operator", "liam.o'connor", "saml", 88),
        ("Operator", "maya.cohen", "saml", 95),
        ("Operator", "nils.larsen", "saml", 104),
        ("Auditor", "olivia.rossi", "local", 121),
        ("Auditor", "pedro.alves", "saml", 133),
        ("Auditor", "quinn.murphy", "saml", 150),
        ("Auditor", "rosa.jimenez", "saml", 171),
        ("Analyst", "sam.wright", "saml", 3),
        ("Analyst", "tara.nguyen", "saml", 8),
        ("Analyst", "umar.khan", "saml", 14),
        ("Analyst", "vera.novak", "saml", 47),
        ("Operator", "will.evans", "local", 61),
        ("Operator", "xin.wang", "saml", 89),
    ];
    for (i, (role, name, auth, last)) in people.iter().enumerate() {
        let id = format!(
            "4d5d11b1-84d3-403f-8bfd-{:012x}",
            0x85af_7893_3c00u64 + i as u64
        );
        let email = format!("{name}@example.com");
        let mut account = FakeAccount::user(&id, &email).role(Some(role));
        account.auth_type = (*auth).to_owned();
        fake.add_account(account);
        // A few logons per person, the latest `last` days ago, each followed by a log-off.
        for k in 0..4 {
            let at = days(last + k * 9, (i % 7) as i64);
            let mut logon = Event::logon_of(at, &id, &email);
            logon.logged_role = (*role).to_owned();
            if i % 5 == 0 {
                logon = logon.form(TimeForm::Fraction);
            }
            fake.add_event(logon.clone());
            fake.add_event(
                logon
                    .activity("Log off")
                    .form(TimeForm::Zulu)
                    .at(at + chrono::Duration::hours(2)),
            );
        }
    }
    // Someone who only ever failed to log on lately.
    let id = "9b0c5e2a-1f4d-4c1e-9a77-0c3d2f6b8e01";
    fake.add_account(FakeAccount::user(id, "yusuf.demir@example.com").role(Some("Analyst")));
    for d in [1, 4, 9] {
        fake.add_event(
            Event::logon_of(days(d, 1), id, "yusuf.demir@example.com")
                .result(Outcome::Unsuccessful),
        );
    }
    // Older records name the user only in loggedUser, in the space-separated time form.
    fake.add_account(FakeAccount::user(
        "9b0c5e2a-1f4d-4c1e-9a77-0c3d2f6b8e02",
        "Zoe.Fischer@example.com",
    ));
    fake.add_event(
        Event::logon(days(12, 3))
            .user("zoe.fischer@example.com")
            .form(TimeForm::Space),
    );
    // No role recorded.
    fake.add_account(
        FakeAccount::user(
            "9b0c5e2a-1f4d-4c1e-9a77-0c3d2f6b8e03",
            "contractor@partner.example",
        )
        .role(None),
    );
    // Disabled and long gone.
    fake.add_account(
        FakeAccount::user(
            "9b0c5e2a-1f4d-4c1e-9a77-0c3d2f6b8e04",
            "former.admin@example.com",
        )
        .role(Some("Master Administrator"))
        .status("disabled"),
    );
    // Invitations: one never accepted, one accepted and used.
    fake.add_account(FakeAccount::invited(
        "9b0c5e2a-1f4d-4c1e-9a77-0c3d2f6b8e05",
        "new.hire@example.com",
    ));
    // An invitation from before the window, never accepted.
    fake.add_account(FakeAccount::invited(
        "9b0c5e2a-1f4d-4c1e-9a77-0c3d2f6b8e07",
        "summer.intern@example.com",
    ));
    // Invited three days ago by an administrator: too new to have logged on.
    fake.add_event(Event::arrival(
        days(3, 0),
        "Invite user account",
        Some("new.hire@example.com"),
    ));
    fake.add_account(FakeAccount::invited(
        "9b0c5e2a-1f4d-4c1e-9a77-0c3d2f6b8e06",
        "auditor@external.example",
    ));
    fake.add_event(Event::logon_of(
        days(6, 0),
        "9b0c5e2a-1f4d-4c1e-9a77-0c3d2f6b8e06",
        "auditor@external.example",
    ));
    // SAML group mappings: never logged on as such, never removed.
    for (i, group) in ["soc-team", "incident-response", "it-helpdesk"]
        .iter()
        .enumerate()
    {
        fake.add_account(
            FakeAccount::group(
                &format!("7a1e0c44-0000-4000-8000-00000000000{i}"),
                &format!("{group}@example.com"),
            )
            .role(Some("Analyst")),
        );
    }
    // API keys log on too; they are not accounts in this list.
    for d in 0..30 {
        let mut event = Event::logon(days(d, 0))
            .id("api-key-siem-connector")
            .user("SIEM connector");
        event.access_type = "API".to_owned();
        fake.add_event(event);
    }
    let item = format!(
        "  - name: vision-one\n    kind: vision_one_inactive_accounts\n    base_url: {}\n    inactive_days: 90\n    lookback: 180d\n",
        fake.url()
    );
    let env = vec![("TREND_VISION_ONE_TOKEN".to_owned(), DEMO_TOKEN.to_owned())];
    (fake, item, env)
}
