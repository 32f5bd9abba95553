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
//! - an OpenBao-like server: every `sys/internal/counters` path answers 404 `unsupported path`;
//! - the login routes (`POST /v1/auth/<mount>/login`, kubernetes, jwt, approle) and
//!   `POST /v1/auth/token/revoke-self`, answering as OpenBao 2.7.2 did (rollcall's tests compare
//!   them), or relayed to a real server with [`AuthBackend::Upstream`], which then also decides
//!   whether a token is valid and has `read` (+ `sudo` for the export) on what it asks for;
//! - `GET sys/health` (the version of the fake's [`Version`], OpenBao's when `openbao`),
//!   `auth/token/lookup-self` (the token's `ttl`) and `POST sys/capabilities-self` (`read`,
//!   plus `sudo` when `sudo`, on the export; `read` on the counts and the configuration as
//!   `counts_read` and `config_read` say), for `rollcall check`;
//! - every route also under [`PATH_PREFIX`] (a Vault behind a path-routing proxy);
//! - a request path with `//`, `/./` or `/../` refused with a 400, as Vault 2.0 (and 1.19.16+,
//!   1.20.10+, 1.21.5+) does; OpenBao accepts such paths, so only the fake can catch them.

use crate::chassis::{Canned, Checker, InFlight, Log, Seen, Server, TlsIdentity, lock};
use crate::openapi::Contract;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub const EXPORT_PATH: &str = "/v1/sys/internal/counters/activity/export";
pub const COUNTS_PATH: &str = "/v1/sys/internal/counters/activity";
pub const CONFIG_PATH: &str = "/v1/sys/internal/counters/config";
pub const UNSUPPORTED_PATH: &str =
    "{\"errors\":[\"1 error occurred:\\n\\t* unsupported path\\n\\n\"]}\n";
/// The fake also answers under this prefix, like a Vault behind a path-routing proxy.
pub const PATH_PREFIX: &str = "/vault";
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
    /// Seconds the token has left, as `auth/token/lookup-self` says; 0 never expires (root).
    pub token_ttl: u64,
    /// `billing_start_timestamp`; `None` answers Go's zero time, as Community does.
    pub billing_start: Option<DateTime<Utc>>,
    /// Answer every `sys/internal/counters` path with OpenBao's 404 `unsupported path`.
    pub openbao: bool,
    /// Who answers logins and revocations.
    pub auth: AuthBackend,
    /// Tokens issued by the local login routes and not revoked.
    pub issued: BTreeSet<String>,
}

/// Where the fake's `/v1/auth/...` requests are answered.
#[derive(Debug, Clone)]
pub enum AuthBackend {
    /// Here, for the mounts configured, keyed by `(namespace, mount)` (`""` is the root).
    Local(BTreeMap<(String, String), FakeMount>),
    /// Relayed verbatim to a real server (an OpenBao base URL), which also vouches for export
    /// tokens (`auth/token/lookup-self` and `sys/capabilities-self`).
    Upstream(String),
}

/// A service account's token, as TokenReview would vouch for it.
#[derive(Debug, Clone)]
pub struct KubernetesLogin {
    pub jwt: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// An auth method mounted on the fake, with what it accepts.
#[derive(Debug, Clone)]
pub enum FakeMount {
    /// role → the one service-account token it accepts.
    Kubernetes(BTreeMap<String, KubernetesLogin>),
    /// role → the one JWT it accepts.
    Jwt(BTreeMap<String, String>),
    AppRole {
        role: String,
        role_id: String,
        secret_id: String,
    },
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
            token_ttl: 0,
            billing_start: None,
            openbao: false,
            auth: AuthBackend::Local(BTreeMap::new()),
            issued: BTreeSet::new(),
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
        let api = Router::new()
            .route(EXPORT_PATH, get(export))
            .route(COUNTS_PATH, get(counts))
            .route(CONFIG_PATH, get(config))
            .route("/v1/sys/health", get(token_route))
            .route("/v1/sys/capabilities-self", post(token_route))
            .route("/v1/auth/token/lookup-self", get(token_route))
            .route("/v1/auth/token/revoke-self", post(auth_request))
            .route("/v1/auth/{*rest}", post(auth_request));
        // Also under a path prefix, as behind a reverse proxy that serves Vault at `/vault`.
        let router = api
            .clone()
            .nest(PATH_PREFIX, api)
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                refuse_uncleaned_paths,
            ))
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

    /// Mounts an auth method on the fake (`namespace` `""` for the root).
    pub fn mount(&self, namespace: &str, mount: &str, fake: FakeMount) {
        let mut state = self.state();
        if let AuthBackend::Local(mounts) = &mut state.auth {
            mounts.insert((namespace.to_owned(), mount.to_owned()), fake);
        }
    }

    pub fn add(&self, month: Month, activity: Activity) {
        self.state().months.entry(month).or_default().push(activity);
    }

    /// Adds `count` entity clients active mid-`month`, with ids `{prefix}0`, `{prefix}1`, ...
    pub fn add_entities(&self, month: Month, prefix: &str, count: usize) {
        for i in 0..count {
            self.add(month, Activity::entity(&format!("{prefix}{i}"), mid(month)));
        }
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
    // Judged now, answered where Vault parses the fields: after the token check.
    let (parts, _body, refusal) = match shared.checker.read_and_check(request).await {
        Ok(checked) => checked,
        Err(too_large) => return too_large,
    };
    let mut seen = Seen::of(
        "GET",
        &full_path(&parts.uri, &parts.extensions),
        parts.uri.query(),
        &parts.headers,
    );
    let upstream = match &lock(&shared.state).auth {
        AuthBackend::Upstream(url) => Some(url.clone()),
        AuthBackend::Local(_) => None,
    };
    let vouched = match upstream {
        Some(url) => upstream_allows_export(&url, &parts.headers).await,
        None => false,
    };
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
        answer(&shared, &parts.headers, &seen.query, refusal, vouched)
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

/// Whether the request's token may `read` `path`: the fake's token or one its logins issued,
/// or, with an upstream, whatever the upstream grants.
async fn token_allowed(shared: &Shared, headers: &HeaderMap, path: &str) -> bool {
    let upstream = match &lock(&shared.state).auth {
        AuthBackend::Upstream(url) => Some(url.clone()),
        AuthBackend::Local(_) => None,
    };
    if let Some(url) = upstream {
        return upstream_grants(&url, headers, path, false).await;
    }
    let state = lock(&shared.state);
    headers
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t == state.token || state.issued.contains(t))
}

fn log_query(shared: &Shared, request: &Request, status: u16) {
    let mut seen = Seen::of(
        "GET",
        &full_path(request.uri(), request.extensions()),
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
    let token_ok =
        token_allowed(&shared, request.headers(), "sys/internal/counters/activity").await;
    let response = counts_answer(&shared, request.headers(), &query, refusal, token_ok);
    log_query(&shared, &request, response.status().as_u16());
    response
}

fn counts_answer(
    shared: &Shared,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
    refusal: Option<Response>,
    token_ok: bool,
) -> Response {
    let state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    if state.openbao {
        return unsupported_path();
    }
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
    let token_ok = token_allowed(&shared, request.headers(), "sys/internal/counters/config").await;
    let response = {
        let state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
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
    vouched_by_upstream: bool,
) -> Response {
    let mut state = lock(&shared.state);
    if let Some(injected) = state.inject.pop_front() {
        return injected.response();
    }
    let token_ok = vouched_by_upstream
        || headers
            .get("x-vault-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == state.token || state.issued.contains(t));
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

/// Vault 2.0 refuses a request path that is not clean. The status is Vault's; the exact error
/// text of that release was not observed, so tests match on the status and on "path".
async fn refuse_uncleaned_paths(
    State(shared): State<Shared>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let uncleaned = path.contains("//")
        || path.contains("/./")
        || path.contains("/../")
        || path.ends_with("/.")
        || path.ends_with("/..");
    if !uncleaned {
        return next.run(request).await;
    }
    let response = json_error(
        StatusCode::BAD_REQUEST,
        &format!("invalid request path {path:?}: the path must be clean (no //, /./ or /../)"),
    );
    let mut seen = Seen::of(
        request.method().as_str(),
        &path,
        request.uri().query(),
        request.headers(),
    );
    seen.status = response.status().as_u16();
    shared.log.push(seen);
    response
}

/// The path as the client sent it: a nested route sees it without [`PATH_PREFIX`].
fn full_path(uri: &axum::http::Uri, extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<axum::extract::OriginalUri>()
        .map(|original| original.0.path())
        .unwrap_or(uri.path())
        .to_owned()
}

/// Whether the upstream server knows the export's token and grants it `read` and `sudo` on the
/// export path (or `root`).
async fn upstream_allows_export(upstream: &str, headers: &HeaderMap) -> bool {
    upstream_grants(
        upstream,
        headers,
        "sys/internal/counters/activity/export",
        true,
    )
    .await
}

/// Whether the upstream server knows the request's token and grants it `read` on `path`
/// (and `sudo` when `sudo`), or `root`.
async fn upstream_grants(upstream: &str, headers: &HeaderMap, path: &str, sudo: bool) -> bool {
    let Some(token) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("{upstream}/v1/sys/capabilities-self"))
        .header("x-vault-token", token)
        .json(&serde_json::json!({ "paths": [path] }));
    if let Some(ns) = headers
        .get("x-vault-namespace")
        .and_then(|v| v.to_str().ok())
    {
        request = request.header("x-vault-namespace", ns);
    }
    let Ok(response) = request.send().await else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    let Ok(body) = response.json::<serde_json::Value>().await else {
        return false;
    };
    let capabilities: Vec<&str> = body[path]
        .as_array()
        .map(|c| c.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    capabilities.contains(&"root")
        || (capabilities.contains(&"read") && (!sudo || capabilities.contains(&"sudo")))
}

/// `POST /v1/auth/...`: relayed upstream, or answered here as OpenBao 2.7.2 answers.
async fn auth_request(State(shared): State<Shared>, request: Request) -> Response {
    // The login payloads are in Vault's OpenAPI document: a request Vault would refuse is a
    // violation even when the fake could answer it. The check sees the path without a prefix.
    let (parts, body, refusal) = match shared.checker.read_and_check(request).await {
        Ok(checked) => checked,
        Err(too_large) => return too_large,
    };
    let path = full_path(&parts.uri, &parts.extensions);
    let mut seen = Seen::of(
        parts.method.as_str(),
        &path,
        parts.uri.query(),
        &parts.headers,
    );
    let backend = lock(&shared.state).auth.clone();
    let response = match (refusal, backend) {
        (Some(refusal), _) => refusal,
        (None, AuthBackend::Upstream(url)) => relay(&url, &parts, body).await,
        (None, AuthBackend::Local(mounts)) => local_auth(&shared, &mounts, &parts, &body),
    };
    seen.status = response.status().as_u16();
    shared.log.push(seen);
    response
}

/// `GET sys/health` (unauthenticated), `POST sys/capabilities-self` and `GET
/// auth/token/lookup-self`, which `rollcall check` reads: relayed upstream, or answered from
/// the fake's token, version and policy flags.
async fn token_route(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body, refusal) = match shared.checker.read_and_check(request).await {
        Ok(checked) => checked,
        Err(too_large) => return too_large,
    };
    let mut seen = Seen::of(
        parts.method.as_str(),
        &full_path(&parts.uri, &parts.extensions),
        parts.uri.query(),
        &parts.headers,
    );
    let backend = lock(&shared.state).auth.clone();
    let response = match (refusal, backend) {
        (Some(refusal), _) => refusal,
        (None, AuthBackend::Upstream(url)) => relay(&url, &parts, body).await,
        (None, AuthBackend::Local(_)) => answer_token_route(&shared, &parts, &body),
    };
    seen.status = response.status().as_u16();
    shared.queries.push(seen);
    response
}

fn answer_token_route(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Response {
    let state = lock(&shared.state);
    let ok = |body: serde_json::Value| {
        (
            StatusCode::OK,
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response()
    };
    if parts.uri.path().ends_with("/sys/health") {
        let version = match (state.openbao, state.version) {
            (true, _) => "2.7.2",
            (false, Version::V1_12) => "1.12.11",
            (false, Version::V1_17) => "1.17.6",
            (false, Version::V1_18) => "1.18.5",
            (false, Version::V1_21) => "1.21.2",
        };
        return ok(serde_json::json!({
            "initialized": true,
            "sealed": false,
            "standby": false,
            "performance_standby": false,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": Utc::now().timestamp(),
            "version": version,
            "cluster_name": "vault-cluster-fake",
        }));
    }
    let token = parts
        .headers
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if token != state.token && !state.issued.contains(&token) {
        return permission_denied();
    }
    if parts.uri.path().ends_with("/lookup-self") {
        return ok(serde_json::json!({
            "request_id": "5d3b2f7e-0000-4000-8000-000000000003",
            "data": {
                "accessor": "fake-accessor",
                "id": token,
                "policies": ["rollcall"],
                "ttl": state.token_ttl,
                "type": "service",
            },
        }));
    }
    let Ok(query) = serde_json::from_slice::<serde_json::Value>(body) else {
        return json_error(StatusCode::BAD_REQUEST, "failed to parse JSON input");
    };
    let mut granted = serde_json::Map::new();
    for path in query["paths"].as_array().into_iter().flatten() {
        let Some(path) = path.as_str() else { continue };
        let capabilities: &[&str] = match path.trim_matches('/') {
            "sys/internal/counters/activity/export" if state.sudo => &["read", "sudo"],
            "sys/internal/counters/activity/export" => &["read"],
            "sys/internal/counters/activity" if state.counts_read => &["read"],
            "sys/internal/counters/config" if state.config_read => &["read"],
            _ => &["deny"],
        };
        granted.insert(path.to_owned(), serde_json::json!(capabilities));
    }
    // Vault repeats each path's capabilities at the top level.
    let mut answer = granted.clone();
    answer.insert("data".into(), serde_json::Value::Object(granted));
    ok(serde_json::Value::Object(answer))
}

async fn relay(upstream: &str, parts: &axum::http::request::Parts, body: Bytes) -> Response {
    let client = reqwest::Client::new();
    let mut request = client
        .request(parts.method.clone(), format!("{upstream}{}", parts.uri))
        .body(body);
    for name in ["content-type", "x-vault-token", "x-vault-namespace"] {
        if let Some(value) = parts.headers.get(name) {
            request = request.header(name, value.as_bytes());
        }
    }
    let Ok(answer) = request.send().await else {
        return json_error(StatusCode::BAD_GATEWAY, "fake vault: upstream unreachable");
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer.headers().get("content-type").cloned();
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut response = (status, bytes).into_response();
    if let Some(ct) = content_type
        && let Ok(v) = HeaderValue::from_bytes(ct.as_bytes())
    {
        response.headers_mut().insert("content-type", v);
    }
    response
}

/// Tokens issued by every fake of the process, so no two are alike.
static ISSUED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The answers OpenBao 2.7.2 gave to each login and revoke case (see the comparison test).
fn local_auth(
    shared: &Shared,
    mounts: &BTreeMap<(String, String), FakeMount>,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Response {
    let mut state = lock(&shared.state);
    let path = parts.uri.path();
    let namespace = parts
        .headers
        .get("x-vault-namespace")
        .and_then(|v| v.to_str().ok())
        .map(|ns| ns.trim_matches('/').to_owned())
        .unwrap_or_default();
    if !namespace.is_empty() && !mounts.keys().any(|(ns, _)| *ns == namespace) {
        return json_error(StatusCode::NOT_FOUND, "namespace not found");
    }
    if path == "/v1/auth/token/revoke-self" {
        let token = parts
            .headers
            .get("x-vault-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return if state.issued.remove(token) {
            (
                StatusCode::NO_CONTENT,
                [("content-type", "application/json")],
            )
                .into_response()
        } else {
            json_error(StatusCode::FORBIDDEN, "permission denied")
        };
    }
    let mount = path
        .strip_prefix("/v1/auth/")
        .and_then(|rest| rest.strip_suffix("/login"));
    let Some(fake) = mount.and_then(|m| mounts.get(&(namespace.clone(), m.to_owned()))) else {
        // Unauthenticated, to a path with no handler: OpenBao says only this.
        return json_error(StatusCode::FORBIDDEN, "permission denied");
    };
    let is_json = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "failed to parse JSON input: invalid character",
        );
    };
    if !is_json {
        // OpenBao parses the body as JSON whatever its type; rollcall must still say it is JSON.
        return json_error(
            StatusCode::BAD_REQUEST,
            "fake vault: login body without Content-Type: application/json",
        );
    }
    let field = |name: &str| payload[name].as_str().unwrap_or("").to_owned();
    let metadata = match fake {
        FakeMount::AppRole {
            role,
            role_id,
            secret_id,
        } => {
            if field("role_id").is_empty() {
                return json_error(StatusCode::BAD_REQUEST, "missing role_id");
            }
            if field("secret_id").is_empty() {
                return json_error(StatusCode::BAD_REQUEST, "missing secret_id");
            }
            if field("role_id") != *role_id || field("secret_id") != *secret_id {
                return json_error(StatusCode::BAD_REQUEST, "invalid role or secret ID");
            }
            serde_json::json!({ "role_name": role })
        }
        FakeMount::Kubernetes(roles) => {
            let role = field("role");
            if role.is_empty() {
                return json_error(StatusCode::BAD_REQUEST, "missing role");
            }
            if field("jwt").is_empty() {
                return json_error(StatusCode::BAD_REQUEST, "missing jwt");
            }
            let Some(account) = roles.get(&role) else {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!("invalid role name \"{role}\""),
                );
            };
            if field("jwt") != account.jwt {
                return json_error(StatusCode::FORBIDDEN, "permission denied");
            }
            serde_json::json!({
                "role": role,
                "service_account_name": account.name,
                "service_account_namespace": account.namespace,
                "service_account_secret_name": "",
                "service_account_uid": account.uid,
            })
        }
        FakeMount::Jwt(roles) => {
            let role = field("role");
            if field("jwt").is_empty() {
                return json_error(StatusCode::BAD_REQUEST, "missing token");
            }
            let Some(jwt) = roles.get(&role) else {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!("role \"{role}\" could not be found"),
                );
            };
            if field("jwt") != *jwt {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "error validating token: error verifying token signature: no known key successfully validated the token signature",
                );
            }
            serde_json::json!({ "role": role })
        }
    };
    let suffix = if namespace.is_empty() {
        String::new()
    } else {
        ".Ns0001".to_owned()
    };
    let serial = ISSUED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let token = format!("s.fake{serial:020}{suffix}");
    state.issued.insert(token.clone());
    let body = serde_json::json!({
        "request_id": "00000000-0000-0000-0000-000000000000",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": null,
        "wrap_info": null,
        "warnings": null,
        "auth": {
            "client_token": token,
            "accessor": format!("fakeaccessor{serial:012}{suffix}"),
            "policies": ["default", "rollcall"],
            "token_policies": ["default", "rollcall"],
            "metadata": metadata,
            "lease_duration": 600,
            "renewable": true,
            "entity_id": "00000000-0000-0000-0000-000000000001",
            "token_type": "service",
            "orphan": true,
            "mfa_requirement": null,
            "num_uses": 0,
        },
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
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
