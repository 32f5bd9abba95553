//! A fake Vault serving `GET /v1/sys/internal/counters/activity/export`, faithful to
//! `docs/reference/vault.md`:
//!
//! - `X-Vault-Token` checked; a bad or missing token, or a policy without `sudo`, gets 403 with
//!   Vault's multi-error body;
//! - `start_time`/`end_time` parsed as RFC 3339 or epoch seconds only (a date alone is a 400),
//!   `start_time` after `end_time` is a 400, `format` must be `json` or `csv`;
//! - months are selected by their segment key (the month's first instant) inside the range,
//!   inclusive at both ends and *without* normalising a mid-month start (older Vaults drop that
//!   month), so an off-by-one in the client shows up as a wrong month;
//! - a client appears once per call, from the earliest month of the range;
//! - NDJSON streamed in chunks, one record per line, `\n`-terminated (knobs: CRLF, no final newline);
//! - no data: 204 (1.18+), 400 or 500 with "no data to export" (1.17 and older);
//! - one export at a time per node: a call arriving while another runs (for its `delay`, say)
//!   gets 400 "existing export in progress" at once;
//! - injected answers (429 with Retry-After, 503 sealed, HTML from a proxy...) for the first
//!   requests, a body that breaks off mid-stream, and one that ends early at a record boundary
//!   with a 200 and no error (Vault at its 10-minute export limit);
//! - `GET /v1/sys/internal/counters/activity`: start and end normalised to whole months,
//!   `months[]` with each month's distinct clients by type in the namespace and its children
//!   (`counts: null` for a month without activity, `[]` when no month has any), 403 without
//!   `read`; `GET /v1/sys/internal/counters/config` in the root namespace only, with
//!   `billing_start_timestamp` (Go's zero time when there is no licence, as in Community);
//! - an OpenBao-like server: every `sys/internal/counters` path answers 404 `unsupported path`.

use crate::chassis::{Canned, Checker, InFlight, Log, Seen, Server, TlsIdentity, lock, read_body};
use crate::openapi::Contract;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub const EXPORT_PATH: &str = "/v1/sys/internal/counters/activity/export";
pub const COUNTS_PATH: &str = "/v1/sys/internal/counters/activity";
pub const CONFIG_PATH: &str = "/v1/sys/internal/counters/config";
pub const UNSUPPORTED_PATH: &str =
    "{\"errors\":[\"1 error occurred:\\n\\t* unsupported path\\n\\n\"]}\n";
pub const PERMISSION_DENIED: &str =
    "{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}\n";

/// Which Vault the fake pretends to be; decides record shapes and the no-data answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 1.11–1.17: integer `timestamp`, `omitempty` fields; no data is an error (400).
    V1_17,
    /// Same shapes, but no data comes back as a 500 multi-error (seen on ~1.12).
    V1_12,
    /// 1.18–1.20: 16 keys always present, RFC 3339 `timestamp`; no data is 204.
    V1_18,
    /// 1.21+: `token_creation_time` and `client_first_used_time` instead of `timestamp`.
    V1_21,
}

/// A UTC calendar month: the unit Vault keeps activity in (one segment per month, keyed by the
/// month's first instant). The fake's own, so a mistake in rollcall's calendar cannot hide here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Months since January of year 0: orders and shifts months with plain integer arithmetic.
    index: i64,
}

impl Month {
    /// `None` unless `month` is 1..=12.
    pub fn new(year: i32, month: u32) -> Option<Self> {
        (1..=12).contains(&month).then(|| Self {
            index: i64::from(year) * 12 + i64::from(month) - 1,
        })
    }

    /// The month `instant` falls in, in UTC.
    pub fn of(instant: DateTime<Utc>) -> Self {
        Self {
            index: i64::from(instant.year()) * 12 + i64::from(instant.month0()),
        }
    }

    pub fn year(&self) -> i32 {
        self.index.div_euclid(12) as i32
    }

    /// 1..=12
    pub fn month(&self) -> u32 {
        self.index.rem_euclid(12) as u32 + 1
    }

    /// This month shifted by `delta` months (negative goes back).
    pub fn plus(&self, delta: i64) -> Self {
        Self {
            index: self.index + delta,
        }
    }

    /// The segment key: the 1st at 00:00:00 UTC.
    pub fn start(&self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(self.year(), self.month(), 1, 0, 0, 0)
            .single()
            .expect("the 1st of a month at midnight UTC exists")
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

/// One client's activity in one month.
#[derive(Debug, Clone)]
pub struct Activity {
    pub client_id: String,
    pub client_type: String,
    pub namespace_path: String,
    pub mount_path: String,
    pub mount_type: String,
    pub entity_name: String,
    /// Token creation time (`timestamp` / `token_creation_time`).
    pub token_created: DateTime<Utc>,
    /// First use in the month (1.21+ only).
    pub first_used: Option<DateTime<Utc>>,
}

impl Activity {
    pub fn entity(id: &str, token_created: DateTime<Utc>) -> Self {
        Self {
            client_id: id.to_owned(),
            client_type: "entity".into(),
            namespace_path: String::new(),
            mount_path: "auth/userpass/".into(),
            mount_type: "userpass".into(),
            entity_name: format!("name-{id}"),
            token_created,
            first_used: None,
        }
    }

    fn line(&self, version: Version) -> String {
        match version {
            Version::V1_17 | Version::V1_12 => {
                let mut v = serde_json::json!({
                    "client_id": self.client_id,
                    "namespace_id": "root",
                    "timestamp": self.token_created.timestamp(),
                    "mount_accessor": "auth_userpass_bb52979d",
                });
                if self.client_type == "non-entity-token" {
                    v["non_entity"] = true.into();
                }
                v.to_string()
            }
            Version::V1_18 | Version::V1_21 => {
                let mut v = serde_json::json!({
                    "entity_name": self.entity_name,
                    "entity_alias_name": self.entity_name,
                    "local_entity_alias": false,
                    "client_id": self.client_id,
                    "client_type": self.client_type,
                    "namespace_id": if self.namespace_path.is_empty() { "root" } else { "aBcDe" },
                    "namespace_path": self.namespace_path,
                    "mount_accessor": "auth_userpass_a005db73",
                    "mount_type": self.mount_type,
                    "mount_path": self.mount_path,
                });
                let ts = self.token_created.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                if version == Version::V1_18 {
                    v["timestamp"] = ts.into();
                } else {
                    v["token_creation_time"] = ts.into();
                    v["client_first_used_time"] = self
                        .first_used
                        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                        .unwrap_or_default()
                        .into();
                }
                v["policies"] = serde_json::json!(["default"]);
                v["entity_metadata"] = serde_json::json!({});
                v["entity_alias_metadata"] = serde_json::json!({});
                v["entity_alias_custom_metadata"] = serde_json::json!({});
                v["entity_group_ids"] = serde_json::json!([]);
                // Go's encoder escapes <, > and & in strings.
                v.to_string()
                    .replace('<', "\\u003c")
                    .replace('>', "\\u003e")
                    .replace('&', "\\u0026")
            }
        }
    }
}

/// Vault's error body: `{"errors":[message]}`.
pub fn error(status: u16, message: &str) -> Canned {
    Canned::json(
        status,
        &format!("{}\n", serde_json::json!({ "errors": [message] })),
    )
}

/// A 429 from a rate-limit quota, with `Retry-After` in seconds.
pub fn rate_limited(retry_after_secs: u64) -> Canned {
    error(
        429,
        "request path \"sys/internal/counters/activity/export\": rate limit quota exceeded",
    )
    .with_header("retry-after", retry_after_secs.to_string())
}

/// The answer to an export while another one runs.
pub fn export_in_progress() -> Canned {
    error(400, "existing export in progress")
}

/// Vault's OpenAPI document (a cut, see `fakes/openapi/README.md`); Vault answers a request it
/// cannot route or parse with 400 and its multi-error body.
pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        Contract::new(
            "Vault",
            "/v1",
            include_str!("../openapi/vault.json"),
            |problem| error(400, &format!("1 error occurred:\n\t* {problem}\n\n")).response(),
        )
    })
}

/// The fake's data and behaviour; change it between requests through [`FakeVault::state`].
#[derive(Debug)]
pub struct VaultState {
    pub token: String,
    pub version: Version,
    /// Without `sudo`, 1.18+ refuses the export with 403.
    pub sudo: bool,
    pub months: BTreeMap<Month, Vec<Activity>>,
    pub crlf: bool,
    pub final_newline: bool,
    /// Served, in order, before any real answer.
    pub inject: VecDeque<Canned>,
    /// A line appended to the given month's export as is (malformed data tests).
    pub garbage: Option<(Month, String)>,
    /// Raw bytes appended as a line to the given month's export (not UTF-8, say).
    pub raw_line: Option<(Month, Vec<u8>)>,
    /// Break the connection after this many lines, this many times.
    pub break_after_lines: Option<(usize, usize)>,
    /// Delay before each answer (a slow export holds the single export slot meanwhile).
    pub delay: Duration,
    /// The export of this month ends after this many lines: a 200, no error, short.
    pub truncate: Option<(Month, usize)>,
    /// The token's policy has `read` on `sys/internal/counters/activity` (else 403).
    pub counts_read: bool,
    /// The token's policy has `read` on `sys/internal/counters/config` (else 403).
    pub config_read: bool,
    /// `billing_start_timestamp`; `None` answers Go's zero time, as Community does.
    pub billing_start: Option<DateTime<Utc>>,
    /// Answer every `sys/internal/counters` path with OpenBao's 404 `unsupported path`.
    pub openbao: bool,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<VaultState>>,
    log: Log,
    queries: Log,
    in_flight: InFlight,
    checker: Checker,
}

pub struct FakeVault {
    pub server: Server,
    /// Export requests.
    pub log: Log,
    /// Counts and config requests.
    pub queries: Log,
    state: Arc<Mutex<VaultState>>,
    in_flight: InFlight,
}

impl FakeVault {
    pub async fn start(token: &str, version: Version) -> Self {
        Self::start_with(token, version, None).await
    }

    /// Serves HTTPS with `tls` (a certificate from a test CA).
    pub async fn start_tls(token: &str, version: Version, tls: &TlsIdentity) -> Self {
        Self::start_with(token, version, Some(tls)).await
    }

    async fn start_with(token: &str, version: Version, tls: Option<&TlsIdentity>) -> Self {
        let state = Arc::new(Mutex::new(VaultState {
            token: token.to_owned(),
            version,
            sudo: true,
            months: BTreeMap::new(),
            crlf: false,
            final_newline: true,
            inject: VecDeque::new(),
            garbage: None,
            raw_line: None,
            break_after_lines: None,
            delay: Duration::ZERO,
            truncate: None,
            counts_read: true,
            config_read: true,
            billing_start: None,
            openbao: false,
        }));
        let log = Log::default();
        let queries = Log::default();
        let shared = Shared {
            state: state.clone(),
            log: log.clone(),
            queries: queries.clone(),
            in_flight: InFlight::default(),
            checker: Checker::new(contract()),
        };
        let violations = shared.checker.violations();
        let in_flight = shared.in_flight.clone();
        let router = Router::new()
            .route(EXPORT_PATH, get(export))
            .route(COUNTS_PATH, get(counts))
            .route(CONFIG_PATH, get(config))
            .fallback(not_found)
            .with_state(shared);
        let server = match tls {
            Some(tls) => Server::start_tls(router, violations, tls).await,
            None => Server::start(router, violations).await,
        };
        Self {
            server,
            log,
            queries,
            state,
            in_flight,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn https_url(&self) -> String {
        self.server.https_url()
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, VaultState> {
        lock(&self.state)
    }

    pub fn add(&self, month: Month, activity: Activity) {
        self.state().months.entry(month).or_default().push(activity);
    }

    /// Most exports that were ever running at once.
    pub fn max_concurrent(&self) -> usize {
        self.in_flight.peak()
    }
}

async fn not_found(State(shared): State<Shared>, request: Request) -> Response {
    shared
        .checker
        .unknown_path(request.method().as_str(), request.uri().path());
    (
        StatusCode::NOT_FOUND,
        [("content-type", "application/json")],
        "{\"errors\":[]}\n",
    )
        .into_response()
}

async fn export(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(refusal) => return *refusal,
    };
    // Judged now, answered where Vault parses the fields: after the token check.
    let refusal = shared.checker.check(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &body,
    );
    let mut seen = Seen::of("GET", parts.uri.path(), parts.uri.query(), &parts.headers);
    let (running, guard) = shared.in_flight.enter();
    let (delay, openbao) = {
        let state = lock(&shared.state);
        (state.delay, state.openbao)
    };
    // Vault takes the node's export slot (a compare-and-swap) before anything else and
    // refuses a second export at once; the first holds it for as long as it runs.
    let response = if openbao {
        unsupported_path()
    } else if running > 1 {
        export_in_progress().response()
    } else {
        crate::chassis::pause(delay).await;
        answer(&shared, &parts.headers, &seen.query, refusal)
    };
    seen.status = response.status().as_u16();
    shared.log.push(seen);
    drop(guard);
    response
}

fn unsupported_path() -> Response {
    (
        StatusCode::NOT_FOUND,
        [("content-type", "application/json")],
        UNSUPPORTED_PATH,
    )
        .into_response()
}

fn permission_denied() -> Response {
    (
        StatusCode::FORBIDDEN,
        [("content-type", "application/json")],
        PERMISSION_DENIED,
    )
        .into_response()
}

fn log_query(shared: &Shared, request: &Request, status: u16) {
    let mut seen = Seen::of(
        "GET",
        request.uri().path(),
        request.uri().query(),
        request.headers(),
    );
    seen.status = status;
    shared.queries.push(seen);
}

/// What Vault's OpenAPI document says of a GET without a body; `None` when it accepts it.
fn check_get(shared: &Shared, request: &Request) -> Option<Response> {
    shared.checker.check(
        "GET",
        request.uri().path(),
        request.uri().query(),
        request.headers(),
        b"",
    )
}

/// The namespace of a request, as `path/` (`None` for the root namespace).
fn request_namespace(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-vault-namespace")
        .and_then(|v| v.to_str().ok())
        .map(|ns| format!("{}/", ns.trim_matches('/')))
        .filter(|ns| ns != "/")
}

/// `GET sys/internal/counters/activity`: each month's distinct clients, as Vault computes
/// them from the same segments the export reads.
async fn counts(State(shared): State<Shared>, request: Request) -> Response {
    let refusal = check_get(&shared, &request);
    let query = Seen::of("GET", "", request.uri().query(), request.headers()).query;
    let response = counts_answer(&shared, request.headers(), &query, refusal);
    log_query(&shared, &request, response.status().as_u16());
    response
}

fn counts_answer(
    shared: &Shared,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
    refusal: Option<Response>,
) -> Response {
    let state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    if state.openbao {
        return unsupported_path();
    }
    let token_ok = headers
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t == state.token);
    if !token_ok || !state.counts_read {
        return permission_denied();
    }
    if let Some(refusal) = refusal {
        return refusal;
    }
    let (Some(start), Some(end)) = (
        query.get("start_time").and_then(|t| parse_time(t)),
        query.get("end_time").and_then(|t| parse_time(t)),
    ) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "1 error occurred:\n\t* error converting input for field \"start_time\": could not parse string as date and time\n\n",
        );
    };
    if start > end {
        return json_error(StatusCode::BAD_REQUEST, "start_time is later than end_time");
    }
    let namespace = request_namespace(headers);
    // Whole months, as handleQuery normalises them.
    let (first, last) = (Month::of(start), Month::of(end));
    let mut months = Vec::new();
    let mut any = false;
    let mut total = 0u64;
    let mut month = first;
    while month <= last {
        let mut by_type: BTreeMap<String, HashSet<String>> = BTreeMap::new();
        for activity in state.months.get(&month).into_iter().flatten() {
            let in_namespace = namespace
                .as_ref()
                .is_none_or(|ns| activity.namespace_path.starts_with(ns.as_str()));
            if in_namespace {
                by_type
                    .entry(activity.client_type.clone())
                    .or_default()
                    .insert(activity.client_id.clone());
            }
        }
        let n = |t: &str| by_type.get(t).map_or(0, HashSet::len) as u64;
        let clients: u64 = by_type.values().map(|s| s.len() as u64).sum();
        total += clients;
        let counts = (clients > 0).then(|| {
            any = true;
            serde_json::json!({
                "entity_clients": n("entity"),
                "non_entity_clients": n("non-entity-token"),
                "secret_syncs": n("secret-sync"),
                "acme_clients": n("pki-acme"),
                "clients": clients,
            })
        });
        months.push(serde_json::json!({
            "timestamp": month.start().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "counts": counts,
            "namespaces": if counts.is_some() { serde_json::json!([]) } else { serde_json::Value::Null },
            "new_clients": serde_json::Value::Null,
        }));
        month = month.plus(1);
    }
    if !any {
        // No month with activity: Vault's month list stays empty.
        months.clear();
    }
    let body = serde_json::json!({
        "request_id": "5d3b2f7e-0000-4000-8000-000000000001",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": {
            "start_time": first.start().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "end_time": (last.plus(1).start() - chrono::Duration::seconds(1))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
            "by_namespace": [],
            "total": {"clients": total},
            "months": months,
        },
        "wrap_info": null,
        "warnings": null,
        "auth": null,
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `GET sys/internal/counters/config`: root namespace only.
async fn config(State(shared): State<Shared>, request: Request) -> Response {
    let refusal = check_get(&shared, &request);
    let response = {
        let state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let token_ok = request
            .headers()
            .get("x-vault-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == state.token);
        if state.openbao || request_namespace(request.headers()).is_some() {
            unsupported_path()
        } else if !token_ok || !state.config_read {
            permission_denied()
        } else if let Some(refusal) = refusal {
            refusal
        } else {
            let billing = state
                .billing_start
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
            let body = serde_json::json!({
                "request_id": "5d3b2f7e-0000-4000-8000-000000000002",
                "data": {
                    "retention_months": 48,
                    "enabled": "default-enabled",
                    "queries_available": true,
                    "reporting_enabled": state.billing_start.is_some(),
                    "billing_start_timestamp": billing,
                    "minimum_retention_months": 48,
                },
                "warnings": null,
            });
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response()
        }
    };
    log_query(&shared, &request, response.status().as_u16());
    response
}

fn json_error(status: StatusCode, message: &str) -> Response {
    error(status.as_u16(), message).response()
}

/// `parseutil.ParseAbsoluteTime`: RFC 3339 (with or without fraction) or epoch seconds.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    text.parse::<i64>()
        .ok()
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
}

fn answer(
    shared: &Shared,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
    refusal: Option<Response>,
) -> Response {
    let mut state = lock(&shared.state);
    if let Some(injected) = state.inject.pop_front() {
        return injected.response();
    }
    let token_ok = headers
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t == state.token);
    let modern = matches!(state.version, Version::V1_18 | Version::V1_21);
    if !token_ok || (modern && !state.sudo) {
        return (
            StatusCode::FORBIDDEN,
            [("content-type", "application/json")],
            PERMISSION_DENIED,
        )
            .into_response();
    }
    if let Some(refusal) = refusal {
        return refusal;
    }
    let (Some(start), Some(end)) = (query.get("start_time"), query.get("end_time")) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "start_time and end_time are required by this fake (Vault Community requires start_time)",
        );
    };
    let (Some(start), Some(end)) = (parse_time(start), parse_time(end)) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "1 error occurred:\n\t* error converting input for field \"start_time\": could not parse string as date and time\n\n",
        );
    };
    if start > end {
        return json_error(StatusCode::BAD_REQUEST, "start_time is later than end_time");
    }
    let format = query.get("format").map(String::as_str).unwrap_or("json");
    // 1.18+ filters to the requested namespace and its children; before 1.18 the path exists
    // only in the root namespace.
    let namespace = request_namespace(headers);
    if namespace.is_some() && !modern {
        return json_error(
            StatusCode::NOT_FOUND,
            "1 error occurred:\n\t* unsupported path\n\n",
        );
    }
    // Segment keys are month starts; inclusive range check, no normalisation of `start`.
    let selected: Vec<Month> = state
        .months
        .keys()
        .copied()
        .filter(|m| m.start() >= start && m.start() <= end)
        .collect();
    let mut seen = HashSet::new();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for month in &selected {
        let mut written = 0;
        for activity in &state.months[month] {
            let in_namespace = namespace
                .as_ref()
                .is_none_or(|ns| activity.namespace_path.starts_with(ns.as_str()));
            if in_namespace && seen.insert(activity.client_id.clone()) {
                if state
                    .truncate
                    .is_some_and(|(m, after)| m == *month && written >= after)
                {
                    // The export deadline passed: the rest of the body is never written.
                    break;
                }
                lines.push(activity.line(state.version).into_bytes());
                written += 1;
            }
        }
        if let Some((garbage_month, garbage)) = &state.garbage
            && garbage_month == month
        {
            lines.push(garbage.clone().into_bytes());
        }
        if let Some((raw_month, raw)) = &state.raw_line
            && raw_month == month
        {
            lines.push(raw.clone());
        }
    }
    if lines.is_empty() {
        return match state.version {
            Version::V1_18 | Version::V1_21 => (
                StatusCode::NO_CONTENT,
                [("content-type", "application/json")],
            )
                .into_response(),
            Version::V1_17 => json_error(
                StatusCode::BAD_REQUEST,
                "no data to export in provided time range",
            ),
            Version::V1_12 => json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "1 error occurred:\n\t* no data to export in provided time range\n\n",
            ),
        };
    }
    if format != "json" && format != "csv" {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("invalid format: {format}"),
        );
    }
    if format == "csv" {
        return json_error(StatusCode::BAD_REQUEST, "this fake serves format=json only");
    }
    let newline = if state.crlf { "\r\n" } else { "\n" };
    let count = lines.len();
    let mut chunks: Vec<Result<Bytes, std::io::Error>> = lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let last = i + 1 == count;
            let end = if last && !state.final_newline {
                ""
            } else {
                newline
            };
            let mut bytes = line;
            bytes.extend_from_slice(end.as_bytes());
            Ok(Bytes::from(bytes))
        })
        .collect();
    if let Some((after, times)) = state.break_after_lines
        && times > 0
    {
        state.break_after_lines = Some((after, times - 1));
        chunks.truncate(after);
        chunks.push(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fake vault: connection reset mid-body",
        )));
    }
    let first = selected
        .last()
        .map(|m| m.start().timestamp())
        .unwrap_or_default();
    let mut response = Response::new(Body::from_stream(futures::stream::iter(chunks)));
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"activity_export_{first}_to_{}.json\"",
        end.timestamp()
    )) {
        h.insert("content-disposition", v);
    }
    response
}

/// A month relative to a fixed "now" of tests.
pub fn month(year: i32, m: u32) -> Month {
    Month::new(year, m).expect("valid month")
}

/// Noon on the 10th of a month: an in-month timestamp.
pub fn mid(month: Month) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(month.year(), month.month(), 10, 12, 0, 0)
        .single()
        .expect("valid time")
}

/// The demo token; not a secret anywhere.
pub const DEMO_TOKEN: &str = "hvs.demo-token-not-a-secret";

/// A running fake Vault with a year of varied demo activity, its `sources:` item and its env.
pub async fn demo(now: DateTime<Utc>) -> (FakeVault, String, Vec<(String, String)>) {
    let fake = FakeVault::start(DEMO_TOKEN, Version::V1_21).await;
    let current = Month::of(now);
    let namespaces = ["", "team-a/", "team-b/", "platform/ci/"];
    let mounts = [
        ("auth/userpass/", "userpass"),
        ("auth/kubernetes/", "kubernetes"),
        ("auth/oidc/", "oidc"),
        ("auth/token/", "ns_token"),
    ];
    for i in 0..60u32 {
        // Each client was active for a stretch of months that ends somewhere in the year.
        let last = i64::from(i % 12);
        let length = i64::from(i % 4) + 1;
        let (mount_path, mount_type) = mounts[i as usize % mounts.len()];
        for back in last..(last + length).min(12) {
            let month = current.plus(-back);
            let mut activity = Activity::entity(
                &format!("{:08x}-demo-{i:02}", i.wrapping_mul(2_654_435_761)),
                mid(month),
            );
            activity.entity_name = format!("user{i:02}@example.com");
            activity.namespace_path = namespaces[i as usize % namespaces.len()].to_owned();
            activity.mount_path = mount_path.to_owned();
            activity.mount_type = mount_type.to_owned();
            activity.token_created = mid(month) - chrono::Duration::days(i64::from(i) * 9);
            activity.first_used = Some(mid(month));
            if mount_type == "ns_token" {
                activity.client_type = "non-entity-token".into();
                activity.entity_name = String::new();
            }
            fake.add(month, activity);
        }
    }
    let item = format!(
        "  - name: vault-demo\n    kind: vault_client_activity\n    address: {}\n    months: 12\n    roll_off_months: 12\n    licensed_clients: 40\n",
        fake.url()
    );
    let env = vec![("VAULT_TOKEN".to_owned(), DEMO_TOKEN.to_owned())];
    (fake, item, env)
}
