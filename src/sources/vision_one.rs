//! Trend Vision One inactive accounts: every IAM account, one paged scan of the logon events in
//! the window, and for each account its latest logon, a decision and the reason for it.
//!
//! API facts: `../shared/reference/trend-vision-one.md`. The old script queried the audit log
//! once per user and flagged a user `Remove` whenever its query failed; here the logons of the
//! whole window come from one scan, and if any page cannot be fetched the source fails and
//! writes nothing, so an error can never turn into a removal request.

use super::{Fetch, Plan, Source, SourceContext, SourceError, SourceOutput};
use super::{check_env_name, parse_base_url};
use crate::config::duration::{deserialize_duration, deserialize_optional_duration};
use crate::config::{ConfigError, Environment, HttpSpec, KeyPath, Problems, Secret};
use crate::http::{
    BodyError, Budget, Call, HttpClient, HttpError, RateLimiter, html_title, join_path, read_json,
    snippet,
};
use crate::report::manifest::Window;
use crate::time::{RunClock, rfc3339_seconds};
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Columns of `{source}.csv`, the cleanup request file: exactly the old script's.
pub const CLEANUP_COLUMNS: &[&str] = &["UserId", "RoleName", "RequestType"];

/// Columns of `{source}-accounts.csv`: every account, its latest logon and the decision.
pub const ACCOUNT_COLUMNS: &[&str] = &[
    "account_id",
    "email",
    "role",
    "auth_type",
    "status",
    "last_logon",
    "days_since_logon",
    "decision",
    "reason",
    "matched_by",
];

pub const ACCOUNTS_PATH: &str = "/v3.0/iam/accounts";
pub const AUDIT_PATH: &str = "/v3.0/audit/logs";
/// Logon events only; whether unsuccessful ones count is decided here, not on the server
/// (`result` has been a boolean in some API versions, so a server-side filter on it could
/// silently match nothing and turn every account into a removal).
pub const LOGON_FILTER: &str = "(category eq 'Logon and Logoff') and (activity eq 'Log on')";
/// The largest page both endpoints allow (`top` takes only 50, 100 or 200).
pub const PAGE_SIZE: u32 = 200;
/// The audit log keeps 180 days; an older `startDateTime` is refused.
pub const RETENTION: Duration = Duration::from_secs(180 * 86_400);
/// The scan never starts closer than this to the retention limit: the server judges the limit
/// by its own clock when the request arrives, which is later than the run's "now".
pub const RETENTION_MARGIN: Duration = Duration::from_secs(3_600);
/// A page of 200 entries is a few hundred KiB; anything far larger is not a page.
const MAX_PAGE_BYTES: usize = 32 * 1024 * 1024;
/// Rhythm of progress logs on long scans.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Trend Vision One data centres, as Trend's own clients map them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Us,
    Eu,
    Sg,
    Au,
    In,
    Mea,
    Jp,
}

impl Region {
    /// The API host of the region (`jp` is not `api.jp...`: Trend fixed that in its own client).
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.xdr.trendmicro.com",
            Region::Eu => "https://api.eu.xdr.trendmicro.com",
            Region::Sg => "https://api.sg.xdr.trendmicro.com",
            Region::Au => "https://api.au.xdr.trendmicro.com",
            Region::In => "https://api.in.xdr.trendmicro.com",
            Region::Mea => "https://api.mea.xdr.trendmicro.com",
            Region::Jp => "https://api.xdr.trendmicro.co.jp",
        }
    }
}

/// `kind: vision_one_inactive_accounts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionOneSpec {
    /// Unique name of this source; used in object keys and logs.
    pub name: String,
    /// Data centre of the Vision One tenant: `us`, `eu`, `sg`, `au`, `in`, `mea` or `jp`.
    /// Exactly one of `region` and `base_url` is required.
    #[serde(default)]
    pub region: Option<Region>,
    /// API base URL instead of a region (a proxy, a test server), e.g. `https://proxy/trend`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Allow a plain `http://` base URL to a host that is not loopback.
    #[serde(default)]
    pub allow_http: bool,
    /// Environment variable holding the API key (or `<it>_FILE` naming a file).
    /// Default `TREND_VISION_ONE_TOKEN`.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// An account whose latest counted logon is older than this many days, or absent, is
    /// inactive and requested for removal. Default 90; at most 179 (the audit log keeps 180).
    #[serde(default = "default_inactive_days")]
    pub inactive_days: u32,
    /// How far back the logon scan reaches, e.g. `180d`. Default: `inactive_days`. Longer shows
    /// older last logons in the detail report at the cost of more pages; at most `180d`.
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    pub lookback: Option<Duration>,
    /// Count unsuccessful logon attempts as activity. Default false: a failed attempt is not a
    /// logon.
    #[serde(default)]
    pub count_unsuccessful_logons: bool,
    /// Client-side request budget shared by every request of this source. Default 500 per 60s,
    /// the limit Trend's API is known to enforce. Requests are paced on a window 2% longer than
    /// `per`, so network jitter cannot push Trend's own count over the limit.
    #[serde(default)]
    pub rate_limit: RateLimitSpec,
    /// Time allowed for one page, first byte to last. Trend ends its own requests at 60s.
    #[serde(
        default = "default_request_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub request_timeout: Duration,
    /// Deadline of this source's whole fetch. Default: the job's `source_timeout`.
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    pub timeout: Option<Duration>,
}

/// `rate_limit: {requests: 500, per: 60s}`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Requests allowed in any window of length `per`. Default 500.
    #[serde(default = "default_requests")]
    pub requests: u32,
    /// Length of the window. Default `60s`.
    #[serde(default = "default_per", deserialize_with = "deserialize_duration")]
    pub per: Duration,
}

impl Default for RateLimitSpec {
    fn default() -> Self {
        Self {
            requests: default_requests(),
            per: default_per(),
        }
    }
}

fn default_token_env() -> String {
    "TREND_VISION_ONE_TOKEN".to_owned()
}
fn default_inactive_days() -> u32 {
    90
}
fn default_requests() -> u32 {
    500
}
fn default_per() -> Duration {
    Duration::from_secs(60)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(90)
}

const DAY: Duration = Duration::from_secs(86_400);

impl VisionOneSpec {
    pub(super) fn validate(&self, at: &KeyPath, problems: &mut Problems<'_>) {
        let regions = "us, eu, sg, au, in, mea or jp";
        match (&self.region, &self.base_url) {
            (Some(_), Some(_)) => problems.add(
                &at.key("base_url"),
                "set either `region` or `base_url`, not both",
            ),
            (None, None) => problems.add(
                at,
                format!("needs `region` ({regions}) or `base_url`; the token must only go to the tenant's own data centre"),
            ),
            (None, Some(url)) => {
                if let Err(message) = parse_base_url(url, self.allow_http) {
                    problems.add(&at.key("base_url"), message);
                }
            }
            (Some(_), None) => {}
        }
        let max_days = (RETENTION.as_secs() / 86_400) as u32 - 1;
        if !(1..=max_days).contains(&self.inactive_days) {
            problems.add(
                &at.key("inactive_days"),
                format!("must be between 1 and {max_days}: the audit log keeps 180 days, and the whole threshold must fit in the scan"),
            );
        }
        if let Some(lookback) = self.lookback {
            let threshold = DAY * self.inactive_days;
            if lookback < threshold {
                problems.add(
                    &at.key("lookback"),
                    format!(
                        "must be at least `inactive_days` ({} days): a shorter scan would miss logons that keep an account active",
                        self.inactive_days
                    ),
                );
            }
            if lookback > RETENTION {
                problems.add(
                    &at.key("lookback"),
                    "must be at most 180d: the audit log keeps 180 days",
                );
            }
        }
        if self.rate_limit.requests == 0 {
            problems.add(&at.key("rate_limit").key("requests"), "must be positive");
        }
        if self.rate_limit.per < Duration::from_secs(1) {
            problems.add(&at.key("rate_limit").key("per"), "must be at least 1s");
        }
        if self.request_timeout < Duration::from_secs(1) {
            problems.add(&at.key("request_timeout"), "must be at least 1s");
        }
        check_env_name(problems, &at.key("token_env"), &self.token_env);
    }

    fn lookback(&self) -> Duration {
        self.lookback.unwrap_or(DAY * self.inactive_days)
    }

    pub(super) fn plan(&self, clock: &RunClock) -> Plan {
        let now = clock.now();
        let (start, end) = scan_window(now, self.lookback());
        let mut thresholds = BTreeMap::new();
        thresholds.insert("inactive_days".into(), self.inactive_days.into());
        thresholds.insert(
            "inactive_before".into(),
            rfc3339_seconds(cutoff(now, self.inactive_days)).into(),
        );
        thresholds.insert(
            "count_unsuccessful_logons".into(),
            self.count_unsuccessful_logons.into(),
        );
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
    ) -> Result<VisionOneSource, ConfigError> {
        let fail = |message: String| ConfigError::Source {
            source_name: self.name.clone(),
            message,
        };
        let base =
            match (&self.base_url, self.region) {
                (Some(url), _) => parse_base_url(url, self.allow_http)
                    .map_err(|m| fail(format!("base_url {m}")))?,
                (None, Some(region)) => parse_base_url(region.base_url(), false)
                    .map_err(|m| fail(format!("region {m}")))?,
                (None, None) => return Err(fail("needs `region` or `base_url`".into())),
            };
        let token = env.secret(&self.name, &self.token_env)?;
        token
            .header_value("Bearer ")
            .map_err(|m| fail(format!("{}: {m}", self.token_env)))?;
        Ok(VisionOneSource {
            name: self.name.clone(),
            base,
            token,
            token_env: self.token_env.clone(),
            http: shared.clone(),
            limiter: RateLimiter::new(Some(paced(self.rate_limit))),
            inactive_days: self.inactive_days,
            lookback: self.lookback(),
            count_unsuccessful: self.count_unsuccessful_logons,
            request_timeout: self.request_timeout,
        })
    }
}

/// Trend counts a request when it arrives, rollcall when it leaves; latency varies, so two
/// requests `per` apart here can land a little closer there. Pacing on a window 2% longer keeps
/// that jitter from squeezing one request too many into Trend's window.
pub fn paced(limit: RateLimitSpec) -> Budget {
    Budget {
        requests: limit.requests,
        per: limit.per + limit.per / 50,
    }
}

/// The scan covers `[now - lookback, now]` in whole seconds (start rounded down, end up, so no
/// logon inside the window is cut off), never closer than an hour to the retention limit.
pub fn scan_window(now: DateTime<Utc>, lookback: Duration) -> (DateTime<Utc>, DateTime<Utc>) {
    let earliest = now - chrono_duration(RETENTION) + chrono_duration(RETENTION_MARGIN);
    let start = (now - chrono_duration(lookback))
        .max(earliest)
        .trunc_subsecs(0);
    let whole = now.trunc_subsecs(0);
    let end = if whole < now {
        whole + chrono::Duration::seconds(1)
    } else {
        whole
    };
    (start, end)
}

/// A logon at or after this instant keeps the account active.
pub fn cutoff(now: DateTime<Utc>, inactive_days: u32) -> DateTime<Utc> {
    now - chrono::Duration::days(i64::from(inactive_days))
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A Vision One source ready to run. The token's `Debug` is redacted.
#[derive(Debug)]
pub struct VisionOneSource {
    name: String,
    base: Url,
    token: Secret,
    token_env: String,
    http: HttpClient,
    /// One budget for every request of the source, accounts and audit log alike.
    limiter: RateLimiter,
    inactive_days: u32,
    lookback: Duration,
    count_unsuccessful: bool,
    request_timeout: Duration,
}

impl From<VisionOneSource> for Source {
    fn from(s: VisionOneSource) -> Self {
        Source::VisionOne(s)
    }
}

/// One list page of either endpoint. `items` must be present (the documented envelope); `null`
/// means none, as in Trend's own SDK.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct Page<T> {
    #[serde(deserialize_with = "null_as_empty")]
    items: Vec<T>,
    #[serde(default, rename = "nextLink")]
    next_link: Option<String>,
    /// Some clients in the wild read this OData spelling; accepted as a fallback.
    #[serde(default, rename = "@odata.nextLink")]
    odata_next_link: Option<String>,
}

impl<T> Page<T> {
    fn next(&self) -> Option<&str> {
        [&self.next_link, &self.odata_next_link]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
    }
}

fn null_as_empty<'de, D, T>(de: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(de)?.unwrap_or_default())
}

/// An IAM account; every field optional, unknown fields ignored (the schema is not published).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    /// `local`, `saml` or `samlGroup`.
    #[serde(default)]
    pub auth_type: Option<String>,
    /// `enabled`, `disabled` or `invited`.
    #[serde(default)]
    pub status: Option<String>,
}

impl Account {
    fn tidy(mut self) -> Self {
        for field in [
            &mut self.id,
            &mut self.email,
            &mut self.role,
            &mut self.auth_type,
            &mut self.status,
        ] {
            *field = field
                .take()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
        }
        self
    }

    fn is_group(&self) -> bool {
        self.auth_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("samlGroup"))
    }

    fn is_invited(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("invited"))
    }
}

/// One audit entry, only the fields used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    #[serde(default)]
    pub logged_date_time: Option<String>,
    #[serde(default)]
    pub logged_user: Option<String>,
    #[serde(default)]
    pub logged_user_id: Option<String>,
    #[serde(default)]
    pub logged_user_mail_address: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub activity: Option<String>,
    /// `Successful`/`Unsuccessful`; a boolean in some API versions.
    #[serde(default)]
    pub result: Option<LogonResult>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum LogonResult {
    Flag(bool),
    Text(String),
}

impl LogonResult {
    /// Only an explicit failure counts as unsuccessful: an unknown value must not make an
    /// account look inactive.
    fn unsuccessful(&self) -> bool {
        match self {
            LogonResult::Flag(ok) => !ok,
            LogonResult::Text(t) => {
                let t = t.trim();
                t.eq_ignore_ascii_case("unsuccessful") || t.eq_ignore_ascii_case("failed")
            }
        }
    }
}

/// `loggedDateTime`: RFC 3339 (with or without fraction or offset), or `YYYY-MM-DD HH:MM:SS`
/// (also with `T` or a fraction) taken as UTC.
pub fn parse_logged_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

/// Who performed a logon, as the entry names them; normalised for matching.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Identity {
    id: Option<Box<str>>,
    mail: Option<Box<str>>,
    user: Option<Box<str>>,
}

fn norm_email(value: Option<&str>) -> Option<Box<str>> {
    value
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

/// Latest counted logon per identity, folded page by page; memory grows with distinct
/// identities, never with events.
#[derive(Debug, Default)]
struct Logons {
    latest: HashMap<Identity, DateTime<Utc>>,
    counted: u64,
    unsuccessful_ignored: u64,
    other_ignored: u64,
    anonymous: u64,
}

impl Logons {
    fn add(&mut self, entry: AuditEntry, count_unsuccessful: bool) -> Result<(), String> {
        // The server filters on these already; a server that ignored the filter must not make
        // log-offs count as logons.
        let off_topic = entry
            .category
            .as_deref()
            .is_some_and(|c| !c.trim().eq_ignore_ascii_case("Logon and Logoff"))
            || entry
                .activity
                .as_deref()
                .is_some_and(|a| !a.trim().eq_ignore_ascii_case("Log on"));
        if off_topic {
            self.other_ignored += 1;
            return Ok(());
        }
        if !count_unsuccessful && entry.result.as_ref().is_some_and(LogonResult::unsuccessful) {
            self.unsuccessful_ignored += 1;
            return Ok(());
        }
        let identity = Identity {
            id: entry
                .logged_user_id
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(Into::into),
            mail: norm_email(entry.logged_user_mail_address.as_deref()),
            user: norm_email(entry.logged_user.as_deref()),
        };
        if identity.id.is_none() && identity.mail.is_none() && identity.user.is_none() {
            // Nobody to credit it to, so nothing to decide on, whatever its time says.
            self.anonymous += 1;
            return Ok(());
        }
        let when = entry.logged_date_time.as_deref().unwrap_or("");
        let Some(when) = parse_logged_time(when) else {
            // Guessing would decide someone's removal on a value we cannot read.
            return Err(format!(
                "a logon entry of {} has loggedDateTime `{}`, which is not a timestamp",
                identity
                    .mail
                    .as_deref()
                    .or(identity.user.as_deref())
                    .or(identity.id.as_deref())
                    .unwrap_or("an unnamed user"),
                snippet(when)
            ));
        };
        self.counted += 1;
        let latest = self.latest.entry(identity).or_insert(when);
        if when > *latest {
            *latest = when;
        }
        Ok(())
    }
}

/// How a logon was tied to an account, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchedBy {
    UserId,
    MailAddress,
    LoggedUser,
}

impl MatchedBy {
    fn as_str(self) -> &'static str {
        match self {
            MatchedBy::UserId => "logged_user_id",
            MatchedBy::MailAddress => "logged_user_mail_address",
            MatchedBy::LoggedUser => "logged_user",
        }
    }
}

/// An account's latest logon and how it was matched.
type LastLogon = (DateTime<Utc>, MatchedBy);

/// Each logon identity goes to the accounts its `loggedUserId` names; failing that, to those
/// whose email is its `loggedUserMailAddress`; failing that, to those whose email is its
/// `loggedUser`. Returns each account's latest logon and the number of identities that matched
/// no account (API keys, the root account, people since deleted).
fn attribute(
    accounts: &[Account],
    logons: &HashMap<Identity, DateTime<Utc>>,
) -> (Vec<Option<LastLogon>>, u64) {
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_email: HashMap<Box<str>, Vec<usize>> = HashMap::new();
    for (i, account) in accounts.iter().enumerate() {
        if let Some(id) = account.id.as_deref() {
            by_id.entry(id).or_default().push(i);
        }
        if let Some(email) = norm_email(account.email.as_deref()) {
            by_email.entry(email).or_default().push(i);
        }
    }
    let mut latest: Vec<Option<LastLogon>> = vec![None; accounts.len()];
    let mut unmatched = 0u64;
    for (identity, when) in logons {
        let hit = identity
            .id
            .as_deref()
            .and_then(|id| by_id.get(id))
            .map(|v| (v, MatchedBy::UserId))
            .or_else(|| {
                identity
                    .mail
                    .as_ref()
                    .and_then(|m| by_email.get(m))
                    .map(|v| (v, MatchedBy::MailAddress))
            })
            .or_else(|| {
                identity
                    .user
                    .as_ref()
                    .and_then(|u| by_email.get(u))
                    .map(|v| (v, MatchedBy::LoggedUser))
            });
        let Some((targets, how)) = hit else {
            unmatched += 1;
            continue;
        };
        for &i in targets {
            // Later wins; on a tie the stronger match names it, whatever the map's order.
            let better = match latest[i] {
                None => true,
                Some((t, h)) => *when > t || (*when == t && how < h),
            };
            if better {
                latest[i] = Some((*when, how));
            }
        }
    }
    (latest, unmatched)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Keep,
    Remove,
    Skip,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Keep => "keep",
            Decision::Remove => "remove",
            Decision::Skip => "skip",
        }
    }
}

/// The decision on one account and its reason (a snake_case word, documented).
pub fn decide(
    account: &Account,
    last: Option<DateTime<Utc>>,
    cutoff: DateTime<Utc>,
) -> (Decision, &'static str) {
    if account.is_group() {
        // A group mapping, not a person: its members log on under their own names.
        return (Decision::Skip, "saml_group");
    }
    match last {
        Some(t) if t >= cutoff => (Decision::Keep, "active"),
        Some(_) => (Decision::Remove, "last_logon_too_old"),
        None if account.is_invited() => (Decision::Remove, "invited_never_logged_on"),
        None => (Decision::Remove, "no_logon_in_window"),
    }
}

/// Rebuilds a page link on the configured base: only its path (from `/v3.0/` on) and query are
/// kept, so the token never goes to a host a response names. Spaces and other characters not
/// allowed in a URL are percent-encoded by the parser; the query is otherwise kept as sent.
pub fn rebase_next_link(base: &Url, endpoint: &str, link: &str) -> Result<Url, String> {
    let shown = snippet(link);
    let resolved = join_path(base, endpoint)
        .join(link.trim())
        .map_err(|e| format!("nextLink `{shown}` is not a URL: {e}"))?;
    let path = resolved.path();
    let api_path = path
        .find("/v3.0/")
        .map(|at| &path[at..])
        .ok_or_else(|| format!("nextLink `{shown}` does not point into /v3.0/"))?;
    if api_path.trim_end_matches('/') != endpoint {
        return Err(format!(
            "nextLink `{shown}` leads to {api_path}, not to the endpoint being paged ({endpoint})"
        ));
    }
    let mut url = join_path(base, api_path);
    url.set_query(resolved.query());
    Ok(url)
}

/// Which list is being paged, for requests and messages.
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    path: &'static str,
    label: &'static str,
}

const ACCOUNTS: Endpoint = Endpoint {
    path: ACCOUNTS_PATH,
    label: "IAM accounts",
};
const AUDIT: Endpoint = Endpoint {
    path: AUDIT_PATH,
    label: "audit log",
};

#[derive(Debug, Default, Clone, Copy)]
struct Paged {
    pages: u64,
    items: u64,
}

impl Fetch for VisionOneSource {
    async fn fetch(&self, ctx: &SourceContext) -> Result<SourceOutput, SourceError> {
        let now = ctx.clock.now();
        let (start, end) = scan_window(now, self.lookback);
        let mut accounts: Vec<Account> = Vec::new();
        let mut seen_ids: HashSet<String> = HashSet::new();
        let mut duplicates = 0u64;
        let mut logons = Logons::default();
        let count_unsuccessful = self.count_unsuccessful;

        let mut first_accounts = join_path(&self.base, ACCOUNTS_PATH);
        first_accounts
            .query_pairs_mut()
            .append_pair("top", &PAGE_SIZE.to_string());
        let mut first_audit = join_path(&self.base, AUDIT_PATH);
        first_audit
            .query_pairs_mut()
            .append_pair("startDateTime", &rfc3339_seconds(start))
            .append_pair("endDateTime", &rfc3339_seconds(end))
            .append_pair("dateTimeTarget", "loggedDateTime")
            .append_pair("orderBy", "loggedDateTime desc")
            .append_pair("top", &PAGE_SIZE.to_string())
            .append_pair("labels", "all");

        // Two independent scans, one shared budget; either failing fails the source.
        let accounts_scan = self.scan(ACCOUNTS, first_accounts, None, |items: Vec<Account>| {
            for account in items {
                let account = account.tidy();
                if let Some(id) = &account.id
                    && !seen_ids.insert(id.clone())
                {
                    // Data changing while paging can repeat an account; list it once.
                    duplicates += 1;
                    continue;
                }
                accounts.push(account);
            }
            Ok(())
        });
        let audit_scan = self.scan(
            AUDIT,
            first_audit,
            Some(LOGON_FILTER),
            |items: Vec<AuditEntry>| {
                for entry in items {
                    logons
                        .add(entry, count_unsuccessful)
                        .map_err(SourceError::Data)?;
                }
                Ok(())
            },
        );
        let (account_pages, audit_pages) = tokio::try_join!(accounts_scan, audit_scan)?;
        if duplicates > 0 {
            tracing::warn!(
                source = %self.name,
                duplicates,
                "Some accounts were listed twice while paging; each is reported once."
            );
        }
        let stats = self.limiter.stats();
        tracing::info!(
            source = %self.name,
            accounts = accounts.len(),
            account_pages = account_pages.pages,
            audit_pages = audit_pages.pages,
            audit_entries = audit_pages.items,
            logons = logons.counted,
            requests = stats.requests,
            rate_limit_waits = stats.pauses,
            "Fetched accounts and logons."
        );
        self.write_reports(ctx, now, &accounts, &logons, stats.requests, stats.pauses)
            .await
    }
}

impl VisionOneSource {
    /// Pages through one list from `first`, following `nextLink` on the configured host until
    /// it is absent, null or empty; `on_items` gets each page's items.
    async fn scan<T, F>(
        &self,
        endpoint: Endpoint,
        first: Url,
        filter: Option<&'static str>,
        mut on_items: F,
    ) -> Result<Paged, SourceError>
    where
        T: DeserializeOwned + Send,
        F: FnMut(Vec<T>) -> Result<(), SourceError>,
    {
        let token = self
            .token
            .header_value("Bearer ")
            .map_err(SourceError::Credentials)?;
        let mut url = first;
        let mut visited: HashSet<Url> = HashSet::new();
        let mut paged = Paged::default();
        let mut last_log = tokio::time::Instant::now();
        loop {
            visited.insert(url.clone());
            let page_no = paged.pages + 1;
            let mut call = Call::get(&self.name, url)
                .header("authorization", token.clone())
                .header("accept", HeaderValue::from_static("application/json"))
                .timeout(self.request_timeout)
                .limiter(&self.limiter);
            if let Some(filter) = filter {
                // Every page, not just the first: the server does not keep it in the skipToken.
                call = call.header("tmv1-filter", HeaderValue::from_static(filter));
            }
            let page: Page<T> = self
                .http
                .fetch(&call, read_page::<T>)
                .await
                .map_err(|e| self.failure(e, endpoint, page_no))?;
            paged.pages = page_no;
            paged.items += page.items.len() as u64;
            let next = page.next().map(str::to_owned);
            on_items(page.items).map_err(|e| match e {
                SourceError::Data(m) => SourceError::Data(format!(
                    "{} page {page_no}: {m}; no report was written",
                    endpoint.label
                )),
                other => other,
            })?;
            if last_log.elapsed() >= PROGRESS_EVERY {
                last_log = tokio::time::Instant::now();
                let stats = self.limiter.stats();
                tracing::info!(
                    source = %self.name,
                    list = endpoint.label,
                    pages = paged.pages,
                    items = paged.items,
                    requests = stats.requests,
                    rate_limit_waits = stats.pauses,
                    "Paging."
                );
            }
            let Some(next) = next else {
                return Ok(paged);
            };
            let next_url = rebase_next_link(&self.base, endpoint.path, &next).map_err(|m| {
                SourceError::Data(format!(
                    "{} page {page_no}: {m}; no report was written",
                    endpoint.label
                ))
            })?;
            if visited.contains(&next_url) {
                return Err(SourceError::Data(format!(
                    "{} page {page_no}: nextLink leads back to a page already read; the server's paging is broken, no report was written",
                    endpoint.label
                )));
            }
            url = next_url;
        }
    }

    /// Turns a failed page into a source error naming the list, the page and what to do.
    fn failure(&self, error: HttpError, endpoint: Endpoint, page: u64) -> SourceError {
        match error {
            HttpError::Status {
                method,
                path,
                status,
                body,
                attempts,
            } => {
                let detail = trend_error_detail(&body);
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    SourceError::Credentials(format!(
                        "Trend Vision One refused the API key on {} page {page} ({method} {path}: HTTP {status}, {detail}). Check {var} (or {var}_FILE) holds a valid, unexpired key of this tenant's region, and that its role has User Accounts: View and Audit Logs: View, filter, and search",
                        endpoint.label,
                        var = self.token_env,
                    ))
                } else {
                    let hint = if status == StatusCode::TOO_MANY_REQUESTS {
                        "; lower `rate_limit` if other clients share this tenant's API limit, or raise http.max_retries"
                    } else if status.is_server_error() {
                        "; Trend or a gateway in front of it kept failing, run again later"
                    } else {
                        ""
                    };
                    SourceError::Data(format!(
                        "{} page {page}: {method} {path} answered HTTP {status} after {attempts} attempt(s), {detail}; no report was written, as no account is judged on incomplete data{hint}",
                        endpoint.label
                    ))
                }
            }
            other => SourceError::Data(format!(
                "{} page {page}: {other}; no report was written, as no account is judged on incomplete data",
                endpoint.label
            )),
        }
    }

    async fn write_reports(
        &self,
        ctx: &SourceContext,
        now: DateTime<Utc>,
        accounts: &[Account],
        logons: &Logons,
        requests: u64,
        rate_limit_waits: u64,
    ) -> Result<SourceOutput, SourceError> {
        let cutoff = cutoff(now, self.inactive_days);
        let (latest, unmatched) = attribute(accounts, &logons.latest);
        let mut cleanup = ctx.report("", CLEANUP_COLUMNS)?;
        let mut detail = ctx.report("-accounts", ACCOUNT_COLUMNS)?;
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        let (mut keep, mut remove, mut skip) = (0u64, 0u64, 0u64);
        for (account, last) in accounts.iter().zip(&latest) {
            let (decision, reason) = decide(account, last.map(|(t, _)| t), cutoff);
            *counts.entry(reason).or_default() += 1;
            match decision {
                Decision::Keep => keep += 1,
                Decision::Remove => remove += 1,
                Decision::Skip => skip += 1,
            }
            let text = |v: &Option<String>| v.clone().unwrap_or_default();
            let (last_logon, days) = match last {
                Some((t, _)) => (
                    rfc3339_seconds(*t),
                    (now - *t).num_days().max(0).to_string(),
                ),
                None => (String::new(), String::new()),
            };
            detail
                .write_row([
                    text(&account.id),
                    text(&account.email),
                    text(&account.role),
                    text(&account.auth_type),
                    text(&account.status),
                    last_logon,
                    days,
                    decision.as_str().to_owned(),
                    reason.to_owned(),
                    last.map(|(_, how)| how.as_str().to_owned())
                        .unwrap_or_default(),
                ])
                .await?;
            if decision == Decision::Remove {
                let unknown = |v: &Option<String>| v.as_deref().unwrap_or("Unknown").to_owned();
                cleanup
                    .write_row([
                        unknown(&account.email),
                        unknown(&account.role),
                        "Remove".into(),
                    ])
                    .await?;
            }
        }
        let mut findings = BTreeMap::new();
        findings.insert("accounts".into(), (accounts.len() as u64).into());
        findings.insert("active".into(), keep.into());
        findings.insert("inactive".into(), remove.into());
        findings.insert("skipped_saml_groups".into(), skip.into());
        findings.insert(
            "invited_never_logged_on".into(),
            counts
                .get("invited_never_logged_on")
                .copied()
                .unwrap_or(0)
                .into(),
        );
        findings.insert("logons_counted".into(), logons.counted.into());
        findings.insert(
            "unsuccessful_logons_ignored".into(),
            logons.unsuccessful_ignored.into(),
        );
        findings.insert(
            "other_entries_ignored".into(),
            (logons.other_ignored + logons.anonymous).into(),
        );
        findings.insert("unmatched_logon_identities".into(), unmatched.into());
        findings.insert("requests".into(), requests.into());
        findings.insert("rate_limit_waits".into(), rate_limit_waits.into());
        Ok(SourceOutput {
            reports: vec![cleanup, detail],
            findings,
        })
    }
}

/// Reads one page; a body that is not the documented envelope is an error naming what came.
async fn read_page<T: DeserializeOwned>(response: reqwest::Response) -> Result<Page<T>, BodyError> {
    read_json(
        response,
        MAX_PAGE_BYTES,
        "a JSON page with `items` and `nextLink`",
    )
    .await
}

/// Trend's error document (`{"error": {"code", "message"}}`), an HTML page's title, or the
/// start of the body.
pub fn trend_error_detail(body: &str) -> String {
    #[derive(Deserialize)]
    struct Envelope {
        error: TrendError,
    }
    #[derive(Deserialize)]
    struct TrendError {
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    if let Ok(Envelope { error }) = serde_json::from_str::<Envelope>(body) {
        return format!(
            "error {}: {}",
            error.code.as_deref().unwrap_or("(no code)"),
            snippet(error.message.as_deref().unwrap_or(""))
        );
    }
    match html_title(body) {
        Some(title) => format!("an HTML page (`{title}`), likely from a proxy or gateway"),
        None => format!("body `{}`", snippet(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn account(id: &str, email: &str) -> Account {
        Account {
            id: Some(id.into()),
            email: Some(email.into()),
            role: Some("Analyst".into()),
            auth_type: Some("local".into()),
            status: Some("enabled".into()),
        }
    }

    fn problems(text: &str) -> Vec<(String, Option<usize>, String)> {
        crate::config::parse(text)
            .map(|_| Vec::new())
            .unwrap_or_else(|p| p.into_iter().map(|p| (p.key, p.line, p.message)).collect())
    }

    #[test]
    fn spec_problems_name_the_key_and_its_line() {
        let found = problems(
            "job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n    region: eu\n    base_url: https://proxy.internal\n    inactive_days: 200\n    lookback: 181d\n    rate_limit: {requests: 0, per: 10ms}\n    token_env: 1BAD\n",
        );
        let keys: Vec<(&str, Option<usize>)> =
            found.iter().map(|(k, l, _)| (k.as_str(), *l)).collect();
        for want in [
            ("sources[0].base_url", Some(6)),
            ("sources[0].inactive_days", Some(7)),
            ("sources[0].lookback", Some(8)),
            ("sources[0].rate_limit.requests", Some(9)),
            ("sources[0].rate_limit.per", Some(9)),
            ("sources[0].token_env", Some(10)),
        ] {
            assert!(keys.contains(&want), "{want:?} not in {found:#?}");
        }
        let found = problems(
            "job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n    region: uk\n",
        );
        assert!(found[0].2.contains("unknown variant `uk`"), "{found:?}");
        let found = problems(
            "job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n    base_url: http://trend-proxy.internal\n",
        );
        assert!(found[0].2.contains("allow_http"), "{found:?}");
        let found =
            problems("job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n");
        assert!(found[0].2.contains("`region`"), "{found:?}");
        let found = problems(
            "job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n    region: us\n    inactive_day: 30\n",
        );
        assert_eq!(found[0].0, "sources[0].inactive_day", "{found:?}");
    }

    #[test]
    fn plan_records_window_and_thresholds() {
        let spec = crate::config::parse(
            "job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n    region: jp\n    lookback: 120d\n",
        )
        .unwrap();
        let plan = spec.sources[0].plan(&RunClock::fixed(t("2026-11-22T03:00:00Z")));
        let window = plan.window.unwrap();
        assert_eq!(rfc3339_seconds(window.start), "2026-07-25T03:00:00Z");
        assert_eq!(rfc3339_seconds(window.end), "2026-11-22T03:00:00Z");
        assert_eq!(plan.thresholds["inactive_days"], 90);
        assert_eq!(plan.thresholds["inactive_before"], "2026-08-24T03:00:00Z");
        assert_eq!(plan.thresholds["count_unsuccessful_logons"], false);
    }

    #[test]
    fn regions_map_to_trend_hosts() {
        let hosts: Vec<&str> = [
            Region::Us,
            Region::Eu,
            Region::Sg,
            Region::Au,
            Region::In,
            Region::Mea,
            Region::Jp,
        ]
        .iter()
        .map(|r| r.base_url())
        .collect();
        assert_eq!(
            hosts,
            [
                "https://api.xdr.trendmicro.com",
                "https://api.eu.xdr.trendmicro.com",
                "https://api.sg.xdr.trendmicro.com",
                "https://api.au.xdr.trendmicro.com",
                "https://api.in.xdr.trendmicro.com",
                "https://api.mea.xdr.trendmicro.com",
                "https://api.xdr.trendmicro.co.jp",
            ]
        );
        let r: Region = serde_yaml::from_str("in").unwrap();
        assert_eq!(r, Region::In);
        assert!(serde_yaml::from_str::<Region>("uk").is_err());
    }

    #[test]
    fn timestamps_in_every_form_parse_as_utc() {
        let want = t("2026-08-24T03:00:00Z");
        for text in [
            "2026-08-24T03:00:00Z",
            "2026-08-24T03:00:00.000Z",
            "2026-08-24T05:00:00+02:00",
            "2026-08-24 03:00:00",
            "2026-08-24T03:00:00",
            " 2026-08-24 03:00:00 ",
        ] {
            assert_eq!(parse_logged_time(text), Some(want), "{text}");
        }
        assert_eq!(
            parse_logged_time("2026-08-24T03:00:00.75Z"),
            Some(want + chrono::Duration::milliseconds(750))
        );
        assert_eq!(
            parse_logged_time("2026-08-24 03:00:00.250"),
            Some(want + chrono::Duration::milliseconds(250))
        );
        for bad in ["", "yesterday", "2026-08-24", "24/08/2026 03:00:00"] {
            assert_eq!(parse_logged_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn next_links_are_rebased_on_the_configured_host() {
        let base = Url::parse("http://127.0.0.1:9000").unwrap();
        let url = rebase_next_link(
            &base,
            AUDIT_PATH,
            "https://api.xdr.trendmicro.com/v3.0/audit/logs?skipToken=Mg==",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9000/v3.0/audit/logs?skipToken=Mg=="
        );
        // Another host, a relative link and a scheme-relative one all stay on the base.
        for link in [
            "https://evil.example:8443/v3.0/audit/logs?skipToken=x",
            "/v3.0/audit/logs?skipToken=x",
            "//evil.example/v3.0/audit/logs?skipToken=x",
        ] {
            let url = rebase_next_link(&base, AUDIT_PATH, link).unwrap();
            assert_eq!(url.host_str(), Some("127.0.0.1"), "{link}");
            assert_eq!(url.port(), Some(9000), "{link}");
            assert_eq!(url.query(), Some("skipToken=x"), "{link}");
        }
        // Stray spaces are encoded, the rest of the query kept as it is.
        let url = rebase_next_link(
            &base,
            AUDIT_PATH,
            "https://api.xdr.trendmicro.com/v3.0/audit/logs?orderBy=loggedDateTime desc&top=200&skipToken=a+b%2F",
        )
        .unwrap();
        assert_eq!(
            url.query(),
            Some("orderBy=loggedDateTime%20desc&top=200&skipToken=a+b%2F")
        );
        // A base with a path prefix keeps it.
        let proxied = Url::parse("https://proxy.internal/trend/").unwrap();
        let url = rebase_next_link(
            &proxied,
            ACCOUNTS_PATH,
            "https://api.eu.xdr.trendmicro.com/v3.0/iam/accounts?skipToken=Mg==",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://proxy.internal/trend/v3.0/iam/accounts?skipToken=Mg=="
        );
        // Links elsewhere in the API are refused.
        assert!(rebase_next_link(&base, AUDIT_PATH, "https://h/v3.0/iam/apiKeys?x=1").is_err());
        assert!(rebase_next_link(&base, AUDIT_PATH, "https://h/other?x=1").is_err());
    }

    #[test]
    fn the_threshold_day_itself_is_active() {
        let now = t("2026-11-22T03:00:00Z");
        let cut = cutoff(now, 90);
        assert_eq!(rfc3339_seconds(cut), "2026-08-24T03:00:00Z");
        let a = account("1", "a@example.com");
        assert_eq!(decide(&a, Some(cut), cut), (Decision::Keep, "active"));
        assert_eq!(
            decide(&a, Some(cut - chrono::Duration::seconds(1)), cut),
            (Decision::Remove, "last_logon_too_old")
        );
        assert_eq!(
            decide(&a, None, cut),
            (Decision::Remove, "no_logon_in_window")
        );
        let mut invited = a.clone();
        invited.status = Some("invited".into());
        assert_eq!(
            decide(&invited, None, cut),
            (Decision::Remove, "invited_never_logged_on")
        );
        assert_eq!(decide(&invited, Some(now), cut), (Decision::Keep, "active"));
        let mut group = a;
        group.auth_type = Some("samlGroup".into());
        assert_eq!(decide(&group, None, cut), (Decision::Skip, "saml_group"));
    }

    #[test]
    fn the_budget_is_paced_slightly_under_trends_limit() {
        let budget = paced(RateLimitSpec::default());
        assert_eq!(budget.requests, 500);
        assert_eq!(budget.per, Duration::from_millis(61_200));
    }

    #[test]
    fn the_window_stays_inside_retention_in_whole_seconds() {
        let now = t("2026-11-22T03:00:00.400Z");
        let (start, end) = scan_window(now, DAY * 90);
        assert_eq!(rfc3339_seconds(start), "2026-08-24T03:00:00Z");
        assert_eq!(rfc3339_seconds(end), "2026-11-22T03:00:01Z");
        let (start, _) = scan_window(now, RETENTION);
        assert_eq!(rfc3339_seconds(start), "2026-05-26T04:00:00Z");
    }

    fn entry(id: Option<&str>, mail: Option<&str>, user: Option<&str>, at: &str) -> AuditEntry {
        AuditEntry {
            logged_date_time: Some(at.into()),
            logged_user: user.map(Into::into),
            logged_user_id: id.map(Into::into),
            logged_user_mail_address: mail.map(Into::into),
            category: Some("Logon and Logoff".into()),
            activity: Some("Log on".into()),
            result: Some(LogonResult::Text("Successful".into())),
        }
    }

    #[test]
    fn logons_are_attributed_by_id_then_mail_then_user() {
        let accounts = vec![
            account("id-a", "a@example.com"),
            account("id-b", "B@Example.com"),
            account("id-c", "c@example.com"),
            account("id-d", "d@example.com"),
        ];
        let mut logons = Logons::default();
        // By id, although the mail names b: the id wins.
        logons
            .add(
                entry(
                    Some("id-a"),
                    Some("b@example.com"),
                    None,
                    "2026-11-01T00:00:00Z",
                ),
                false,
            )
            .unwrap();
        // By mail, case-insensitively; an unknown id falls through.
        logons
            .add(
                entry(
                    Some("api-key-1"),
                    Some("b@EXAMPLE.com"),
                    None,
                    "2026-11-02T00:00:00Z",
                ),
                false,
            )
            .unwrap();
        // By loggedUser only.
        logons
            .add(
                entry(None, None, Some(" C@example.com "), "2026-11-03 00:00:00"),
                false,
            )
            .unwrap();
        // Nobody's.
        logons
            .add(
                entry(None, None, Some("Root Account"), "2026-11-04T00:00:00Z"),
                false,
            )
            .unwrap();
        let (latest, unmatched) = attribute(&accounts, &logons.latest);
        assert_eq!(
            latest[0],
            Some((t("2026-11-01T00:00:00Z"), MatchedBy::UserId))
        );
        assert_eq!(
            latest[1],
            Some((t("2026-11-02T00:00:00Z"), MatchedBy::MailAddress))
        );
        assert_eq!(
            latest[2],
            Some((t("2026-11-03T00:00:00Z"), MatchedBy::LoggedUser))
        );
        assert_eq!(latest[3], None);
        assert_eq!(unmatched, 1);
    }

    #[test]
    fn only_counted_logons_count_and_bad_timestamps_fail() {
        let mut logons = Logons::default();
        let mut failed = entry(Some("x"), None, None, "2026-11-01T00:00:00Z");
        failed.result = Some(LogonResult::Text("Unsuccessful".into()));
        logons.add(failed, false).unwrap();
        let mut failed = entry(Some("x"), None, None, "2026-11-01T00:00:00Z");
        failed.result = Some(LogonResult::Flag(false));
        logons.add(failed, false).unwrap();
        let mut off = entry(Some("x"), None, None, "2026-11-01T00:00:00Z");
        off.activity = Some("Log off".into());
        logons.add(off, true).unwrap();
        assert!(logons.latest.is_empty());
        assert_eq!(logons.unsuccessful_ignored, 2);
        assert_eq!(logons.other_ignored, 1);
        let mut failed = entry(Some("x"), None, None, "2026-11-01T00:00:00Z");
        failed.result = Some(LogonResult::Text("Unsuccessful".into()));
        logons.add(failed, true).unwrap();
        assert_eq!(logons.counted, 1);
        let err = logons
            .add(
                entry(None, Some("o'brien@example.com"), None, "soon"),
                false,
            )
            .unwrap_err();
        assert!(
            err.contains("o'brien@example.com") && err.contains("soon"),
            "{err}"
        );
    }

    #[test]
    fn pages_accept_null_items_and_every_end_of_paging() {
        let p: Page<Account> = serde_json::from_str(r#"{"items":null}"#).unwrap();
        assert!(p.items.is_empty() && p.next().is_none());
        let p: Page<Account> =
            serde_json::from_str(r#"{"items":[],"nextLink":null,"totalCount":0}"#).unwrap();
        assert!(p.next().is_none());
        let p: Page<Account> = serde_json::from_str(r#"{"items":[],"nextLink":"  "}"#).unwrap();
        assert!(p.next().is_none());
        let p: Page<Account> =
            serde_json::from_str(r#"{"items":[{"id":"1","extra":{"x":1}}],"@odata.nextLink":"/v3.0/iam/accounts?skipToken=x"}"#)
                .unwrap();
        assert_eq!(p.next(), Some("/v3.0/iam/accounts?skipToken=x"));
        assert!(serde_json::from_str::<Page<Account>>(r#"{"nextLink":"x"}"#).is_err());
    }

    #[test]
    fn error_bodies_are_described_briefly() {
        assert_eq!(
            trend_error_detail(
                r#"{"error":{"code":"TooManyRequests","message":"Too many API requests"}}"#
            ),
            "error TooManyRequests: Too many API requests"
        );
        assert_eq!(
            trend_error_detail(
                "<!DOCTYPE html><html><head><title>502 Bad\n Gateway</title></head><body>x</body></html>"
            ),
            "an HTML page (`502 Bad Gateway`), likely from a proxy or gateway"
        );
        assert_eq!(
            trend_error_detail("upstream reset"),
            "body `upstream reset`"
        );
    }
}
