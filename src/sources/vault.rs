//! HashiCorp Vault client activity: one export per calendar month, the month each client was
//! last active, when it rolls off the trailing window, and a forecast of the client count.
//!
//! API facts: `../shared/reference/vault-activity-export.md`. The export is NDJSON, parsed line
//! by line as it streams; memory grows with distinct clients, never with bytes fetched.

use super::{
    Fetch, Plan, Source, SourceContext, SourceError, SourceOutput, check_env_name, parse_base_url,
};
use crate::config::duration::{deserialize_duration, deserialize_optional_duration};
use crate::config::{ConfigError, Environment, HttpSpec, KeyPath, Problems, Secret};
use crate::http::{BodyError, Call, HttpClient, HttpError, Verdict, join_path};
use crate::report::manifest::Window;
use crate::time::{Month, RunClock, rfc3339_seconds};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Columns of `{source}.csv`: the old script's three first, then the detail.
pub const CLIENT_COLUMNS: &[&str] = &[
    "client_id",
    "last_auth_timestamp",
    "roll_off_month",
    "last_active_month",
    "months_active",
    "client_type",
    "namespace_path",
    "mount_path",
    "mount_type",
    "entity_name",
];

/// Columns of `{source}-forecast.csv`.
pub const FORECAST_COLUMNS: &[&str] = &[
    "month",
    "clients_counted",
    "rolling_off",
    "licensed_clients",
    "over_licence",
];

const EXPORT_PATH: &str = "v1/sys/internal/counters/activity/export";

/// `kind: vault_client_activity`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSpec {
    /// Unique name of this source; used in object keys and logs.
    pub name: String,
    /// Vault address, e.g. `https://vault.example.com:8200`. Default: `VAULT_ADDR`.
    #[serde(default)]
    pub address: Option<String>,
    /// Namespace to export (children included), sent as `X-Vault-Namespace`.
    /// Default: `VAULT_NAMESPACE`; none means the root namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Environment variable holding the token (or `<it>_FILE` naming a file). Default `VAULT_TOKEN`.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// PEM bundle of extra CAs to trust (an internal CA). Default: `VAULT_CACERT`.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// Calendar months (UTC) to export, up to and including the current one. Default 12.
    #[serde(default = "twelve")]
    pub months: u32,
    /// Months after a client's last active month until it stops counting. Default 12.
    #[serde(default = "twelve")]
    pub roll_off_months: u32,
    /// Clients the licence allows; forecast months above it are flagged.
    #[serde(default)]
    pub licensed_clients: Option<u64>,
    /// Allow plain `http://` to a host that is not loopback.
    #[serde(default)]
    pub allow_http: bool,
    /// Time allowed for one month's export. Vault itself allows an export 10 minutes.
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
    "VAULT_TOKEN".to_owned()
}
fn twelve() -> u32 {
    12
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(15 * 60)
}

impl VaultSpec {
    pub(super) fn validate(&self, at: &KeyPath, problems: &mut Problems<'_>) {
        if !(1..=60).contains(&self.months) {
            problems.add(&at.key("months"), "must be between 1 and 60");
        }
        if !(1..=120).contains(&self.roll_off_months) {
            problems.add(&at.key("roll_off_months"), "must be between 1 and 120");
        }
        if self.licensed_clients == Some(0) {
            problems.add(&at.key("licensed_clients"), "must be positive");
        }
        if self.request_timeout < Duration::from_secs(1) {
            problems.add(&at.key("request_timeout"), "must be at least 1s");
        }
        check_env_name(problems, &at.key("token_env"), &self.token_env);
        if let Some(address) = &self.address
            && let Err(message) = parse_base_url(address, self.allow_http)
        {
            problems.add(&at.key("address"), message);
        }
    }

    pub(super) fn plan(&self, clock: &RunClock) -> Plan {
        let current = Month::of(clock.now());
        let first = current.plus(-(i64::from(self.months) - 1));
        let mut thresholds = BTreeMap::new();
        thresholds.insert("months".into(), self.months.into());
        thresholds.insert("roll_off_months".into(), self.roll_off_months.into());
        if let Some(licensed) = self.licensed_clients {
            thresholds.insert("licensed_clients".into(), licensed.into());
        }
        Plan {
            window: Some(Window {
                start: first.start(),
                end: current.end(),
            }),
            thresholds,
        }
    }

    pub(super) fn prepare(
        &self,
        env: &Environment,
        shared: &HttpClient,
        http: &HttpSpec,
    ) -> Result<VaultSource, ConfigError> {
        let fail = |message: String| ConfigError::Source {
            source_name: self.name.clone(),
            message,
        };
        let address = self
            .address
            .clone()
            .or_else(|| env.get("VAULT_ADDR").map(str::to_owned))
            .ok_or_else(|| {
                fail("no Vault address: set `address` in the spec or VAULT_ADDR".into())
            })?;
        let address =
            parse_base_url(&address, self.allow_http).map_err(|m| fail(format!("address {m}")))?;
        let ca = self
            .ca_cert
            .clone()
            .or_else(|| env.get("VAULT_CACERT").map(PathBuf::from));
        let client = match &ca {
            Some(path) => HttpClient::new(http, Some(path)).map_err(|e| fail(e.to_string()))?,
            None => shared.clone(),
        };
        let namespace = self
            .namespace
            .clone()
            .or_else(|| env.get("VAULT_NAMESPACE").map(str::to_owned))
            .map(|ns| ns.trim_matches('/').to_owned())
            .filter(|ns| !ns.is_empty());
        let token = env.secret(&self.name, &self.token_env)?;
        token
            .header_value("")
            .map_err(|m| fail(format!("{}: {m}", self.token_env)))?;
        Ok(VaultSource {
            name: self.name.clone(),
            address,
            namespace,
            token,
            http: client,
            months: self.months,
            roll_off_months: self.roll_off_months,
            licensed_clients: self.licensed_clients,
            request_timeout: self.request_timeout,
        })
    }
}

/// A Vault source ready to run.
pub struct VaultSource {
    name: String,
    address: Url,
    namespace: Option<String>,
    token: Secret,
    http: HttpClient,
    months: u32,
    roll_off_months: u32,
    licensed_clients: Option<u64>,
    request_timeout: Duration,
}

impl std::fmt::Debug for VaultSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSource")
            .field("name", &self.name)
            .field("address", &self.address.as_str())
            .field("namespace", &self.namespace)
            .field("token", &self.token)
            .finish()
    }
}

impl From<VaultSource> for Source {
    fn from(s: VaultSource) -> Self {
        Source::Vault(s)
    }
}

/// Vault signals some transient conditions in 4xx/5xx bodies.
fn classify_export(status: StatusCode, body: &str) -> Option<Verdict> {
    if body.contains("existing export in progress") {
        // One export per node at a time: someone else's will finish.
        return Some(Verdict::Retry);
    }
    if body.contains("no data to export") {
        return Some(Verdict::Fail);
    }
    let _ = status;
    None
}

impl Fetch for VaultSource {
    async fn fetch(&self, ctx: &SourceContext) -> Result<SourceOutput, SourceError> {
        let current = Month::of(ctx.clock.now());
        let first = current.plus(-(i64::from(self.months) - 1));
        let clients = Mutex::new(Clients::default());
        // Sequential on purpose: Vault runs one export per node at a time.
        for offset in 0..i64::from(self.months) {
            let month = first.plus(offset);
            let records = self.fetch_month(month, &clients).await?;
            tracing::info!(
                source = %self.name,
                month = %month,
                records,
                clients = lock(&clients).len(),
                "Fetched month."
            );
        }
        let clients = clients.into_inner().unwrap_or_else(|e| e.into_inner());
        self.write_reports(ctx, current, clients).await
    }
}

impl VaultSource {
    async fn fetch_month(
        &self,
        month: Month,
        clients: &Mutex<Clients>,
    ) -> Result<u64, SourceError> {
        let mut url = join_path(&self.address, EXPORT_PATH);
        url.query_pairs_mut()
            .append_pair("start_time", &rfc3339_seconds(month.start()))
            .append_pair("end_time", &rfc3339_seconds(month.end()))
            .append_pair("format", "json");
        let token = self
            .token
            .header_value("")
            .map_err(SourceError::Credentials)?;
        let mut call = Call::get(&self.name, url)
            .header("x-vault-token", token)
            .timeout(self.request_timeout)
            .classify(classify_export);
        if let Some(ns) = &self.namespace {
            let value = reqwest::header::HeaderValue::from_str(ns).map_err(|_| {
                SourceError::Data(format!("namespace `{ns}` is not a valid header value"))
            })?;
            call = call.header("x-vault-namespace", value);
        }
        let result = self
            .http
            .fetch(&call, |response| parse_export(response, month, clients))
            .await;
        match result {
            Ok(records) => Ok(records),
            Err(HttpError::Status { status, body, .. })
                if (status == StatusCode::BAD_REQUEST
                    || status == StatusCode::INTERNAL_SERVER_ERROR)
                    && body.contains("no data to export") =>
            {
                // Vault before 1.18 says "no data" with an error; 1.18+ answers 204.
                Ok(0)
            }
            Err(HttpError::Status { status, body, .. })
                if status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED =>
            {
                Err(SourceError::Credentials(format!(
                    "Vault refused the export of {month} (HTTP {status}: {}). The token needs `read` and `sudo` on sys/internal/counters/activity/export{}, and must be valid and unexpired",
                    crate::http::snippet(&body),
                    self.namespace
                        .as_ref()
                        .map(|ns| format!(" in namespace {ns}"))
                        .unwrap_or_default()
                )))
            }
            Err(e @ HttpError::Status { status, .. })
                if status == StatusCode::NOT_FOUND && self.namespace.is_some() =>
            {
                Err(SourceError::Data(format!(
                    "export of {month}: {e}; before Vault 1.18 the export exists only in the root namespace: remove `namespace` (and VAULT_NAMESPACE) for such a Vault"
                )))
            }
            Err(e) => Err(SourceError::Data(format!("export of {month}: {e}"))),
        }
    }

    async fn write_reports(
        &self,
        ctx: &SourceContext,
        current: Month,
        clients: Clients,
    ) -> Result<SourceOutput, SourceError> {
        let roll_off = i64::from(self.roll_off_months);
        let mut rows: Vec<(Month, &str, &ClientState)> = clients
            .by_id
            .iter()
            .map(|(id, c)| (c.last_active.plus(roll_off), id.as_ref(), c))
            .collect();
        // Soonest roll-off first, so the report reads as a schedule; ties by id for determinism.
        rows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));

        let mut report = ctx.report("", CLIENT_COLUMNS)?;
        let mut roll_offs: BTreeMap<Month, u64> = BTreeMap::new();
        for (roll_off_month, id, c) in &rows {
            *roll_offs.entry(*roll_off_month).or_default() += 1;
            report
                .write_row([
                    *id,
                    &c.last_auth.map(rfc3339_seconds).unwrap_or_default(),
                    &roll_off_month.to_string(),
                    &c.last_active.to_string(),
                    &c.months_active.to_string(),
                    &c.client_type,
                    &c.namespace_path,
                    &c.mount_path,
                    &c.mount_type,
                    &c.entity_name,
                ])
                .await?;
        }

        let mut forecast = ctx.report("-forecast", FORECAST_COLUMNS)?;
        let mut over = Vec::new();
        let mut counted = rows.iter().filter(|(r, _, _)| *r > current).count() as u64;
        let last = roll_offs
            .keys()
            .next_back()
            .copied()
            .unwrap_or(current)
            .max(current);
        let mut month = current;
        let mut peak = 0u64;
        loop {
            let rolling_off = roll_offs.get(&month).copied().unwrap_or(0);
            if month > current {
                counted -= rolling_off.min(counted);
            }
            peak = peak.max(counted);
            let over_licence = self.licensed_clients.map(|l| counted > l);
            if over_licence == Some(true) {
                over.push(month.to_string());
            }
            forecast
                .write_row([
                    month.to_string(),
                    counted.to_string(),
                    rolling_off.to_string(),
                    self.licensed_clients
                        .map(|l| l.to_string())
                        .unwrap_or_default(),
                    over_licence.map(|o| o.to_string()).unwrap_or_default(),
                ])
                .await?;
            if month >= last {
                break;
            }
            month = month.plus(1);
        }

        let mut findings = BTreeMap::new();
        findings.insert("clients".into(), (rows.len() as u64).into());
        findings.insert(
            "clients_counted_now".into(),
            peak_now(&rows, current).into(),
        );
        if let Some(licensed) = self.licensed_clients {
            findings.insert("licensed_clients".into(), licensed.into());
            findings.insert("over_licence".into(), (!over.is_empty()).into());
            findings.insert("months_over_licence".into(), over.into());
        }
        Ok(SourceOutput {
            reports: vec![report, forecast],
            findings,
        })
    }
}

fn peak_now(rows: &[(Month, &str, &ClientState)], current: Month) -> u64 {
    rows.iter().filter(|(r, _, _)| *r > current).count() as u64
}

fn lock(clients: &Mutex<Clients>) -> std::sync::MutexGuard<'_, Clients> {
    clients.lock().unwrap_or_else(|e| e.into_inner())
}

/// What is kept per client: a few small fields, with repeated strings shared.
#[derive(Debug)]
struct ClientState {
    last_auth: Option<DateTime<Utc>>,
    last_active: Month,
    months_active: u32,
    client_type: Arc<str>,
    namespace_path: Arc<str>,
    mount_path: Arc<str>,
    mount_type: Arc<str>,
    entity_name: Arc<str>,
}

/// Hash maps keyed by attacker-independent data (ids from our own Vault), so a fast non-DoS-
/// resistant hasher is fine; SipHash was a third of the parse time.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
struct Clients {
    by_id: FastMap<Box<str>, ClientState>,
    /// Namespaces, mounts and types repeat across clients; store each once.
    strings: FastSet<Arc<str>>,
}

impl Clients {
    fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Folds one record of `month` in. Months arrive in order; re-applying a month's records
    /// (after a retried download) changes nothing.
    fn add(&mut self, month: Month, record: ExportRecord<'_>) {
        let seen = record.seen_at();
        let Self { by_id, strings } = self;
        match by_id.get_mut(record.client_id.as_ref()) {
            Some(state) => {
                state.last_auth = state.last_auth.max(seen);
                // A later month: count it and describe the client as it was last seen. The same
                // month again (a duplicate line, or a re-fetched month) changes nothing.
                if month > state.last_active {
                    state.last_active = month;
                    state.months_active += 1;
                    refresh(&mut state.client_type, &record.client_type(), strings);
                    refresh(
                        &mut state.namespace_path,
                        text(&record.namespace_path),
                        strings,
                    );
                    refresh(&mut state.mount_path, text(&record.mount_path), strings);
                    refresh(&mut state.mount_type, text(&record.mount_type), strings);
                    refresh(&mut state.entity_name, text(&record.entity_name), strings);
                }
            }
            None => {
                let state = ClientState {
                    last_auth: seen,
                    last_active: month,
                    months_active: 1,
                    client_type: intern(strings, &record.client_type()),
                    namespace_path: intern(strings, text(&record.namespace_path)),
                    mount_path: intern(strings, text(&record.mount_path)),
                    mount_type: intern(strings, text(&record.mount_type)),
                    entity_name: intern(strings, text(&record.entity_name)),
                };
                by_id.insert(record.client_id.as_ref().into(), state);
            }
        }
    }
}

fn text<'r>(value: &'r Option<Cow<'_, str>>) -> &'r str {
    value.as_deref().unwrap_or("")
}

fn intern(strings: &mut FastSet<Arc<str>>, value: &str) -> Arc<str> {
    if let Some(existing) = strings.get(value) {
        return existing.clone();
    }
    let shared: Arc<str> = Arc::from(value);
    strings.insert(shared.clone());
    shared
}

fn refresh(slot: &mut Arc<str>, value: &str, strings: &mut FastSet<Arc<str>>) {
    if **slot != *value {
        *slot = intern(strings, value);
    }
}

/// One export line, in any of the shapes Vault 1.11 to 1.21+ writes. Unknown keys are ignored:
/// the schema grows between versions.
#[derive(Debug, Deserialize)]
pub struct ExportRecord<'a> {
    #[serde(borrow)]
    pub client_id: Cow<'a, str>,
    #[serde(default, borrow)]
    pub client_type: Option<Cow<'a, str>>,
    #[serde(default)]
    pub non_entity: Option<bool>,
    #[serde(default, borrow)]
    pub namespace_path: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub mount_path: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub mount_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub entity_name: Option<Cow<'a, str>>,
    /// 1.11–1.17: integer seconds; 1.18–1.20: RFC 3339. Token creation time either way.
    #[serde(default)]
    pub timestamp: Option<RawTime<'a>>,
    /// 1.21+: replaces `timestamp`.
    #[serde(default, borrow)]
    pub token_creation_time: Option<Cow<'a, str>>,
    /// 1.21+: first use in the queried period (the docs' prose spells it `..._usage_time`).
    #[serde(default, borrow)]
    pub client_first_used_time: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub client_first_usage_time: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawTime<'a> {
    Seconds(i64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

impl ExportRecord<'_> {
    /// The best timestamp of the client's activity this record carries: first use (1.21+),
    /// else token creation time (`token_creation_time`, or `timestamp` before 1.21).
    pub fn seen_at(&self) -> Option<DateTime<Utc>> {
        let text =
            |v: &Option<Cow<'_, str>>| v.as_deref().filter(|s| !s.is_empty()).and_then(parse_time);
        text(&self.client_first_used_time)
            .or_else(|| text(&self.client_first_usage_time))
            .or_else(|| text(&self.token_creation_time))
            .or_else(|| match &self.timestamp {
                Some(RawTime::Seconds(s)) => DateTime::from_timestamp(*s, 0),
                Some(RawTime::Text(t)) => parse_time(t),
                None => None,
            })
    }

    /// `client_type`, falling back for old records that only say `non_entity`.
    pub fn client_type(&self) -> Cow<'_, str> {
        match self.client_type.as_deref() {
            Some(t) if !t.is_empty() => Cow::Borrowed(t),
            _ if self.non_entity == Some(true) => Cow::Borrowed("non-entity-token"),
            _ => Cow::Borrowed("entity"),
        }
    }
}

/// RFC 3339. Vault writes `YYYY-MM-DDTHH:MM:SSZ`; that form is read directly (the general parser
/// was a large share of parse time), anything else goes through chrono.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
    {
        let num = |range: std::ops::Range<usize>| -> Option<u32> {
            b[range].iter().try_fold(0u32, |acc, d| {
                d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
            })
        };
        let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
        let time = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
        return Some(time.and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Streams one month's NDJSON body into `clients`. Returns the number of records.
async fn parse_export(
    response: reqwest::Response,
    month: Month,
    clients: &Mutex<Clients>,
) -> Result<u64, BodyError> {
    let mut parser = LineParser::new(month);
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let mut clients = lock(clients);
        parser.feed(&chunk, &mut clients)?;
    }
    let mut clients = lock(clients);
    parser.finish(&mut clients)?;
    Ok(parser.records)
}

/// Splits a byte stream into lines (LF or CRLF, last newline optional) and parses each.
struct LineParser {
    month: Month,
    partial: Vec<u8>,
    line: u64,
    records: u64,
}

impl LineParser {
    fn new(month: Month) -> Self {
        Self {
            month,
            partial: Vec::new(),
            line: 0,
            records: 0,
        }
    }

    fn feed(&mut self, mut chunk: &[u8], clients: &mut Clients) -> Result<(), BodyError> {
        while let Some(end) = memchr(b'\n', chunk) {
            let (line, rest) = chunk.split_at(end);
            chunk = &rest[1..];
            if self.partial.is_empty() {
                self.parse_line(line, clients)?;
            } else {
                let mut joined = std::mem::take(&mut self.partial);
                joined.extend_from_slice(line);
                self.parse_line(&joined, clients)?;
            }
        }
        self.partial.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(&mut self, clients: &mut Clients) -> Result<(), BodyError> {
        if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.parse_line(&last, clients)?;
        }
        Ok(())
    }

    fn parse_line(&mut self, line: &[u8], clients: &mut Clients) -> Result<(), BodyError> {
        self.line += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let record: ExportRecord<'_> = serde_json::from_slice(line).map_err(|e| {
            let shown: String = String::from_utf8_lossy(&line[..line.len().min(120)]).into();
            BodyError::Invalid(format!(
                "malformed export record for {}, line {}: {e} (line starts `{shown}`)",
                self.month, self.line
            ))
        })?;
        if record.client_id.is_empty() {
            return Err(BodyError::Invalid(format!(
                "export record for {}, line {} has an empty client_id",
                self.month, self.line
            )));
        }
        clients.add(self.month, record);
        self.records += 1;
        Ok(())
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == needle)
}

/// The export parser on its own, fed chunk by chunk as the network would deliver them; for
/// benchmarks and tests of parsing alone.
#[derive(Default)]
pub struct ExportParser {
    clients: Clients,
    month: Option<LineParser>,
}

impl ExportParser {
    /// Feeds a chunk of `month`'s export; months must come oldest first.
    pub fn feed(&mut self, month: Month, chunk: &[u8]) -> Result<(), String> {
        if self.month.as_ref().is_some_and(|p| p.month != month) {
            self.finish_month()?;
        }
        let parser = self.month.get_or_insert_with(|| LineParser::new(month));
        parser.feed(chunk, &mut self.clients).map_err(describe)
    }

    /// Ends the current month (parses a last line without a newline).
    pub fn finish_month(&mut self) -> Result<(), String> {
        match self.month.take() {
            Some(mut parser) => parser.finish(&mut self.clients).map_err(describe),
            None => Ok(()),
        }
    }

    /// Distinct clients so far.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }
}

fn describe(e: BodyError) -> String {
    match e {
        BodyError::Invalid(m) => m,
        BodyError::Transport(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(y: i32, m: u32) -> Month {
        Month::new(y, m).unwrap()
    }

    #[test]
    fn every_record_shape_parses() {
        let v111 = br#"{"client_id":"X/Yed4Oj4cqODj9tSHjKwnRy5QVSBRlX3COxjjWSXyI=","namespace_id":"root","timestamp":1653350491,"non_entity":true,"mount_accessor":"auth_token_f6f2c11c"}"#;
        let r: ExportRecord<'_> = serde_json::from_slice(v111).unwrap();
        assert_eq!(r.client_type(), "non-entity-token");
        assert_eq!(
            rfc3339_seconds(r.seen_at().unwrap()),
            "2022-05-24T00:01:31Z"
        );

        let v118 = br#"{"entity_name":"admin","entity_alias_name":"admin","local_entity_alias":false,"client_id":"3f210722","client_type":"entity","namespace_id":"root","namespace_path":"","mount_accessor":"auth_userpass_a005db73","mount_type":"userpass","mount_path":"auth/userpass/","timestamp":"2024-07-10T09:33:51Z","policies":["a"],"entity_metadata":{"k":"v"},"entity_alias_metadata":{},"entity_alias_custom_metadata":{},"entity_group_ids":[]}"#;
        let r: ExportRecord<'_> = serde_json::from_slice(v118).unwrap();
        assert_eq!(
            rfc3339_seconds(r.seen_at().unwrap()),
            "2024-07-10T09:33:51Z"
        );
        assert_eq!(r.mount_path.as_deref(), Some("auth/userpass/"));

        let v121 = br#"{"client_id":"c","client_type":"pki-acme","token_creation_time":"2020-08-21T18:47:54Z","client_first_used_time":"2025-06-21T18:47:54Z"}"#;
        let r: ExportRecord<'_> = serde_json::from_slice(v121).unwrap();
        assert_eq!(
            rfc3339_seconds(r.seen_at().unwrap()),
            "2025-06-21T18:47:54Z"
        );

        let prose = br#"{"client_id":"c","token_creation_time":"2020-08-21T18:47:54Z","client_first_usage_time":"2025-06-01T00:00:00Z"}"#;
        let r: ExportRecord<'_> = serde_json::from_slice(prose).unwrap();
        assert_eq!(
            rfc3339_seconds(r.seen_at().unwrap()),
            "2025-06-01T00:00:00Z"
        );

        let empty_first = br#"{"client_id":"c","token_creation_time":"2020-08-21T18:47:54Z","client_first_used_time":""}"#;
        let r: ExportRecord<'_> = serde_json::from_slice(empty_first).unwrap();
        assert_eq!(
            rfc3339_seconds(r.seen_at().unwrap()),
            "2020-08-21T18:47:54Z"
        );
    }

    #[test]
    fn fast_and_general_time_parsing_agree() {
        for t in [
            "2024-07-10T09:33:51Z",
            "2024-02-29T23:59:59Z",
            "2024-07-10T09:33:51.250Z",
            "2024-07-10T11:33:51+02:00",
        ] {
            let general = DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
            assert_eq!(parse_time(t), Some(general), "{t}");
        }
        for t in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-07-10T09:33:5xZ",
            "yesterday",
        ] {
            assert_eq!(parse_time(t), None, "{t}");
        }
    }

    #[test]
    fn lines_split_across_chunks_with_crlf_and_no_final_newline() {
        let body = b"{\"client_id\":\"a\"}\r\n{\"client_id\":\"b\"}\n\n{\"client_id\":\"c\"}";
        for split in 0..body.len() {
            let (x, y) = body.split_at(split);
            let mut parser = ExportParser::default();
            parser.feed(month(2025, 1), x).unwrap();
            parser.feed(month(2025, 1), y).unwrap();
            parser.finish_month().unwrap();
            assert_eq!(parser.clients(), 3, "split at {split}");
        }
    }

    #[test]
    fn a_malformed_line_names_month_and_line() {
        let body = b"{\"client_id\":\"a\"}\n{\"client_id\":\n{\"client_id\":\"c\"}\n";
        let err = ExportParser::default()
            .feed(month(2025, 3), body)
            .unwrap_err();
        assert!(err.contains("2025-03") && err.contains("line 2"), "{err}");
        let err = ExportParser::default()
            .feed(month(2025, 3), b"{\"namespace_id\":\"root\"}\n")
            .unwrap_err();
        assert!(err.contains("client_id"), "{err}");
    }

    #[test]
    fn last_active_month_and_counts_across_months() {
        let mut clients = Clients::default();
        let rec = |ts: &'static str| -> ExportRecord<'static> { serde_json::from_str(ts).unwrap() };
        clients.add(
            month(2024, 11),
            rec(r#"{"client_id":"a","timestamp":"2023-01-01T00:00:00Z"}"#),
        );
        clients.add(
            month(2024, 12),
            rec(r#"{"client_id":"a","timestamp":"2022-01-01T00:00:00Z","mount_path":"auth/x/"}"#),
        );
        // Duplicate within a month, and a retried month: no double counting.
        clients.add(
            month(2024, 12),
            rec(r#"{"client_id":"a","timestamp":"2022-01-01T00:00:00Z","mount_path":"auth/x/"}"#),
        );
        let a = &clients.by_id["a"];
        assert_eq!(a.last_active, month(2024, 12));
        assert_eq!(a.months_active, 2);
        assert_eq!(
            rfc3339_seconds(a.last_auth.unwrap()),
            "2023-01-01T00:00:00Z"
        );
        assert_eq!(&*a.mount_path, "auth/x/");
        assert_eq!(a.last_active.plus(12).to_string(), "2025-12");
    }
}
