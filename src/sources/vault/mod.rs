//! HashiCorp Vault client activity: one export per calendar month, the month each client was
//! last active, when it rolls off the trailing window, and a forecast of the client count.
//!
//! API facts: `docs/reference/vault.md`. The export is NDJSON, parsed
//! line by line as it streams ([`export`]); memory grows with distinct clients
//! ([`clients`]), never with bytes fetched.
//!
//! Three things keep the reports complete (`docs/sources/vault.md`):
//! - a node runs one export at a time, so exports to one address take turns across the run's
//!   sources ([`SourceContext::exclusive`]), and another client's export is waited out for as
//!   long as Vault lets an export run ([`export::SlotWait`]);
//! - a 200 export can end early at a record boundary without an error, so each finished month's
//!   distinct clients are checked against Vault's own count of that month; a count that cannot
//!   be had leaves the month *unchecked* in the manifest, never passed;
//! - the forecast needs every month a client can still count in: `months` must reach back
//!   `roll_off_months` (a spec error otherwise), and the billing-period view the whole period.

mod api;
pub mod auth;
mod check;
mod clients;
mod export;
mod spec;

pub use auth::Logins;
pub use export::ExportParser;
pub use spec::VaultSpec;

use crate::config::Secret;
use crate::http::{Call, HttpClient, HttpError, describe_body, join_path, read_json};
use crate::report::summary::{
    self, Count, KindDetails, MonthCount, SourceFacts, VaultDetails, top_counts,
};
use crate::report::{Column, CsvReport};
use crate::sources::{Fetch, Refusal, SourceContext, SourceError, SourceOutput};
use crate::time::{Month, rfc3339_seconds};
use api::{CONFIG_PATH, COUNTS_PATH, ConfigAnswer, CountsAnswer, parse_time};
use auth::Session;
use chrono::{DateTime, Datelike, Utc};
use clients::{Clients, billing_period, counted_now, forecast};
use export::SlotWait;
use reqwest::{StatusCode, Url};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A counts or config answer is a few KiB per namespace.
const SMALL_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Columns of `{source}.csv`: the old script's three first, then the detail.
pub const CLIENT_COLUMNS: &[Column] = &[
    Column::identifier("client_id"),
    Column::time("last_auth_timestamp"),
    Column::time("roll_off_month"),
    Column::time("last_active_month"),
    Column::number("months_active"),
    Column::enumeration("client_type"),
    Column::identifier("namespace_path"),
    Column::identifier("mount_path"),
    Column::identifier("mount_type"),
    Column::free_text("entity_name"),
];

/// Columns of `{source}-forecast.csv`.
pub const FORECAST_COLUMNS: &[Column] = &[
    Column::time("month"),
    Column::number("clients_counted"),
    Column::number("rolling_off"),
    Column::number("licensed_clients"),
    Column::enumeration("over_licence"),
];

/// Columns of `{source}-billing.csv` (with `billing_forecast: true`).
pub const BILLING_COLUMNS: &[Column] = &[
    Column::time("month"),
    Column::number("clients_counted"),
    Column::number("new_clients"),
    Column::number("licensed_clients"),
    Column::enumeration("over_licence"),
    Column::enumeration("basis"),
];

/// What a Vault source reports in the manifest.
#[derive(Debug, Serialize)]
pub struct VaultFindings {
    /// Distinct clients active in any exported month.
    pub clients: u64,
    /// Clients that count now: their roll-off month is still to come.
    pub clients_counted_now: u64,
    /// The licence given in the spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licensed_clients: Option<u64>,
    /// Whether any forecast month counts more clients than the licence allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_licence: Option<bool>,
    /// The forecast months over the licence, as `YYYY-MM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub months_over_licence: Option<Vec<String>>,
    /// Months whose distinct clients matched Vault's own count.
    pub months_checked: u64,
    /// Months not compared (`YYYY-MM`): always the current one, and every month whose count
    /// Vault would not give. Unchecked is never a pass.
    pub months_unchecked: Vec<String>,
    /// Every month: its distinct clients, Vault's count, and the outcome.
    pub month_checks: Vec<MonthCheck>,
    /// The billing-period view, with `billing_forecast: true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_period: Option<BillingPeriod>,
}

/// How one month's export compares with Vault's own count of that month.
#[derive(Debug, Clone, Serialize)]
pub struct MonthCheck {
    /// `YYYY-MM`.
    pub month: String,
    /// Distinct clients in the month's export.
    pub exported_clients: u64,
    /// Vault's `counts.clients` for the month, when it gave one.
    pub vault_count: Option<u64>,
    /// `matched` or `unchecked`.
    pub check: &'static str,
    /// Why the month is unchecked.
    pub unchecked_because: Option<String>,
}

impl MonthCheck {
    fn matched(month: Month, exported: u64) -> Self {
        Self {
            month: month.to_string(),
            exported_clients: exported,
            vault_count: Some(exported),
            check: "matched",
            unchecked_because: None,
        }
    }

    fn unchecked(month: Month, exported: u64, counted: Option<u64>, why: String) -> Self {
        Self {
            month: month.to_string(),
            exported_clients: exported,
            vault_count: counted,
            check: "unchecked",
            unchecked_because: Some(why),
        }
    }

    fn is_unchecked(&self) -> bool {
        self.unchecked_because.is_some()
    }
}

/// The current billing period, in the manifest.
#[derive(Debug, Serialize)]
pub struct BillingPeriod {
    pub billing_start_timestamp: String,
    pub period_start: String,
    pub next_period_start: String,
    /// Distinct clients active in the period so far.
    pub clients_counted: u64,
    /// Every client of this period stops counting when the next one starts, unless it is
    /// active again by then.
    pub rolling_off_at_next_period_start: u64,
    pub licensed_clients: Option<u64>,
    pub over_licence: Option<bool>,
    pub months_over_licence: Vec<String>,
}

/// Where a source's Vault token comes from.
#[derive(Debug)]
enum VaultToken {
    /// The token of `token_env`; never revoked, it is not the run's.
    Static(Secret),
    /// A login of the run, shared with the sources that ask for the same one.
    Login(Arc<Session>),
}

impl VaultToken {
    async fn get(&self, source: &str) -> Result<Secret, SourceError> {
        match self {
            VaultToken::Static(token) => Ok(token.clone()),
            VaultToken::Login(session) => session.token(source).await,
        }
    }
}

/// A Vault source ready to run.
pub struct VaultSource {
    name: String,
    /// Key of the run-wide slot that exports to this address take turns on.
    export_slot: String,
    address: Url,
    namespace: Option<String>,
    token: VaultToken,
    token_env: String,
    http: HttpClient,
    months: u32,
    roll_off_months: u32,
    licensed_clients: Option<u64>,
    billing_forecast: bool,
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

impl Fetch for VaultSource {
    async fn fetch(&self, ctx: &SourceContext) -> Result<SourceOutput, SourceError> {
        let current = Month::of(ctx.clock.now());
        let first = current.plus(-(i64::from(self.months) - 1));
        let clients = Mutex::new(Clients::new(first));
        let mut checks = Vec::with_capacity(self.months as usize);
        // Sequential on purpose: Vault runs one export per node at a time.
        for offset in 0..i64::from(self.months) {
            let month = first.plus(offset);
            let records = self.export_month(ctx, month, &clients).await?;
            let exported = export::lock(&clients).in_month(month);
            let check = self.check_month(month, current, exported).await?;
            tracing::info!(
                source = %self.name,
                month = %month,
                records,
                exported_clients = exported,
                vault_count = check.vault_count,
                checked = !check.is_unchecked(),
                clients = export::lock(&clients).len(),
                "Fetched month."
            );
            checks.push(check);
        }
        let billing_start = if self.billing_forecast {
            Some(self.billing_start().await?)
        } else {
            None
        };
        let clients = clients.into_inner().unwrap_or_else(|e| e.into_inner());
        self.write_reports(ctx, current, clients, checks, billing_start)
            .await
    }
}

impl VaultSource {
    /// The token as a header; a login's is made (once per run) on first use.
    async fn token(&self) -> Result<reqwest::header::HeaderValue, SourceError> {
        self.token
            .get(&self.name)
            .await?
            .header_value("")
            .map_err(SourceError::Credentials)
    }

    /// A GET with the token, and the namespace when `namespaced`.
    async fn call(&self, url: Url, namespaced: bool) -> Result<Call<'_>, SourceError> {
        let mut call = Call::get(&self.name, url)
            .header("x-vault-token", self.token().await?)
            .timeout(self.request_timeout);
        if namespaced && let Some(ns) = &self.namespace {
            let value = reqwest::header::HeaderValue::from_str(ns).map_err(|_| {
                SourceError::Data(format!("namespace `{ns}` is not a valid header value"))
            })?;
            call = call.header("x-vault-namespace", value);
        }
        Ok(call)
    }

    /// One month's export, taking turns with the run's other exports to this address and
    /// waiting out another client's export.
    async fn export_month(
        &self,
        ctx: &SourceContext,
        month: Month,
        clients: &Mutex<Clients>,
    ) -> Result<u64, SourceError> {
        let mut slot = SlotWait::new(ctx.deadline);
        loop {
            let held = ctx.exclusive.hold(&self.export_slot).await;
            let result = self.fetch_month(month, clients).await?;
            drop(held);
            match result {
                Err(HttpError::Status { body, .. }) if api::is_export_in_progress(&body) => {
                    tracing::info!(
                        source = %self.name,
                        month = %month,
                        "Another export is running on this Vault node (one at a time); waiting for it to finish."
                    );
                    if let Err(waited) = slot.wait().await {
                        return Err(SourceError::Data(format!(
                            "export of {month}: another client's export kept Vault's single export slot busy for {} (Vault allows an export 10 minutes); run again later, or raise `timeout` if the source's deadline cut the wait short",
                            humantime::format_duration(Duration::from_secs(waited.as_secs()))
                        )));
                    }
                }
                Err(HttpError::Status { status, body, .. })
                    if api::is_no_data_answer(status, &body) =>
                {
                    return Ok(0);
                }
                Err(error) => return Err(self.export_error(month, error)),
                Ok(records) => return Ok(records),
            }
        }
    }

    /// The export of one month; the outer error is a request that cannot be built.
    async fn fetch_month(
        &self,
        month: Month,
        clients: &Mutex<Clients>,
    ) -> Result<Result<u64, HttpError>, SourceError> {
        let mut url = join_path(&self.address, api::EXPORT_PATH);
        url.query_pairs_mut()
            .append_pair("start_time", &rfc3339_seconds(month.start()))
            .append_pair("end_time", &rfc3339_seconds(month.end()))
            .append_pair("format", "json");
        let call = self.call(url, true).await?.classify(api::classify_export);
        Ok(self
            .http
            .fetch(&call, |response| {
                export::parse_export(response, month, clients)
            })
            .await)
    }

    /// What a failed export means, in the user's terms.
    fn export_error(&self, month: Month, error: HttpError) -> SourceError {
        // A login's token is not a variable's: say what to fix on the role. A static token
        // goes the common way below.
        if let (HttpError::Status { status, body, .. }, VaultToken::Login(session)) =
            (&error, &self.token)
            && (*status == StatusCode::FORBIDDEN || *status == StatusCode::UNAUTHORIZED)
        {
            return SourceError::Credentials(format!(
                "Vault refused the export of {month} (GET /{}: HTTP {status}, {}) to the token of the {}. The role's policies need `read` and `sudo` on sys/internal/counters/activity/export{}; a token whose TTL ran out during the run is refused too (give the role a token_ttl longer than the run)",
                api::EXPORT_PATH,
                describe_body(body),
                session.describe(),
                self.namespace_note(),
            ));
        }
        SourceError::from_http(
            error,
            describe_body,
            || Refusal {
                api: "Vault",
                refused: format!("the export of {month}"),
                token_env: &self.token_env,
                needs: format!(
                    "the token needs `read` and `sudo` on sys/internal/counters/activity/export{}, and must be valid and unexpired",
                    self.namespace_note()
                ),
            },
            |e| match e.status() {
                Some(StatusCode::NOT_FOUND) if self.namespace.is_some() => format!(
                    "export of {month}: {e}; before Vault 1.18 the export exists only in the root namespace: remove `namespace` (and VAULT_NAMESPACE) for such a Vault. OpenBao has no activity export at all"
                ),
                Some(StatusCode::NOT_FOUND) => format!(
                    "the server at {} has no client-activity export (HTTP 404 for sys/internal/counters/activity/export): OpenBao, and Vault before 1.11, do not have one. Point `address` at a HashiCorp Vault 1.11 or later",
                    self.address.as_str().trim_end_matches('/')
                ),
                _ => format!("export of {month}: {e}"),
            },
        )
    }

    /// Compares a finished month's distinct clients with Vault's count of that month. The
    /// count comes from the same segments the export reads, filtered to the same namespace and
    /// its children, and counts every client type the export lists; the current month is
    /// still being written (the count includes activity the export does not have yet), so it
    /// is left unchecked.
    async fn check_month(
        &self,
        month: Month,
        current: Month,
        exported: u64,
    ) -> Result<MonthCheck, SourceError> {
        let check = |counted: Option<u64>, unchecked: Option<String>| match unchecked {
            None => MonthCheck::matched(month, exported),
            Some(why) => MonthCheck::unchecked(month, exported, counted, why),
        };
        if month == current {
            return Ok(check(
                None,
                Some("the current month is still being recorded: Vault's count includes activity its export does not hold yet".into()),
            ));
        }
        let mut url = join_path(&self.address, COUNTS_PATH);
        url.query_pairs_mut()
            .append_pair("start_time", &rfc3339_seconds(month.start()))
            .append_pair("end_time", &rfc3339_seconds(month.end()));
        let call = self.call(url, true).await?;
        let answer = self
            .http
            .fetch(&call, |response| async move {
                if response.status() == StatusCode::NO_CONTENT {
                    return Ok(None);
                }
                read_json::<CountsAnswer>(response, SMALL_BODY_LIMIT, "Vault's client counts")
                    .await
                    .map(Some)
            })
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(HttpError::Status { status, body, .. })
                if status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND =>
            {
                let why = if status == StatusCode::FORBIDDEN {
                    "the token may not read Vault's client counts: give it `read` on sys/internal/counters/activity to have every month checked"
                } else {
                    "this server does not answer sys/internal/counters/activity"
                };
                return Ok(check(
                    None,
                    Some(format!("{why} (HTTP {status}: {})", describe_body(&body))),
                ));
            }
            Err(error) => {
                return Err(SourceError::Fetch {
                    message: format!(
                        "Vault's client count of {month} (to check the export): {error}"
                    ),
                    error,
                });
            }
        };
        let months = answer.and_then(|a| a.data.months).unwrap_or_default();
        let counted = if months.is_empty() {
            // No month with activity in the range.
            0
        } else {
            let entry = months
                .iter()
                .find(|m| parse_time(&m.timestamp).is_some_and(|t| Month::of(t) == month));
            match entry {
                Some(m) => m.counts.as_ref().map_or(0, |c| c.clients),
                None => {
                    return Ok(check(
                        None,
                        Some("Vault's answer holds no entry for the month".into()),
                    ));
                }
            }
        };
        if counted == exported {
            return Ok(check(Some(counted), None));
        }
        if counted == 0 {
            // A count of nothing next to an export with clients is a missing count, not a
            // short export: Vault computes past months' counts when a month ends.
            return Ok(check(
                Some(0),
                Some("Vault has no count for the month (0) though its export lists clients".into()),
            ));
        }
        Err(SourceError::Data(format!(
            "the export of {month} holds {exported} distinct clients but Vault counts {counted} for that month (sys/internal/counters/activity){}; run again, and if it repeats raise VAULT_ACTIVITY_EXPORT_DURATION on the Vault servers",
            if exported < counted {
                ": the export ended early without an error, as Vault does when an export hits its 10-minute limit or a storage error"
            } else {
                ""
            }
        )))
    }

    /// Start of the current billing period: `billing_start_timestamp` from
    /// `sys/internal/counters/config` (a root-namespace path, asked without the namespace).
    async fn billing_start(&self) -> Result<DateTime<Utc>, SourceError> {
        let call = self
            .call(join_path(&self.address, CONFIG_PATH), false)
            .await?;
        let answer = self
            .http
            .fetch(&call, |r| {
                read_json::<ConfigAnswer>(r, SMALL_BODY_LIMIT, "Vault's client-count configuration")
            })
            .await
            .map_err(|e| match &e {
                HttpError::Status { status, .. } if *status == StatusCode::FORBIDDEN => {
                    SourceError::Credentials(format!(
                        "Vault refused its client-count configuration, which `billing_forecast` needs ({e}): give the token `read` on sys/internal/counters/config in the root namespace, or remove `billing_forecast`"
                    ))
                }
                HttpError::Status { status, .. } if *status == StatusCode::NOT_FOUND => {
                    SourceError::Data(format!(
                        "the server has no client-count configuration for `billing_forecast` ({e}): OpenBao has none; remove `billing_forecast`"
                    ))
                }
                _ => SourceError::Data(format!(
                    "Vault's client-count configuration, for `billing_forecast`: {e}"
                )),
            })?;
        let raw = answer.data.billing_start_timestamp.unwrap_or_default();
        match parse_time(&raw) {
            // Community edition has no licence and answers Go's zero time.
            Some(t) if t.year() > 1 => Ok(t),
            _ => Err(SourceError::Data(format!(
                "Vault reports no billing start (`billing_start_timestamp` is `{raw}`); Community edition has no billing period: remove `billing_forecast`"
            ))),
        }
    }

    /// ` in namespace NS` when the source has one.
    fn namespace_note(&self) -> String {
        self.namespace
            .as_ref()
            .map(|ns| format!(" in namespace {ns}"))
            .unwrap_or_default()
    }

    async fn write_reports(
        &self,
        ctx: &SourceContext,
        current: Month,
        clients: Clients,
        checks: Vec<MonthCheck>,
        billing_start: Option<DateTime<Utc>>,
    ) -> Result<SourceOutput, SourceError> {
        let schedule = clients.by_roll_off(self.roll_off_months);
        let mut report = ctx.report("", CLIENT_COLUMNS)?;
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_namespace: BTreeMap<&str, u64> = BTreeMap::new();
        for row in &schedule {
            let c = row.client;
            *by_type.entry(&c.client_type).or_default() += 1;
            *by_namespace.entry(&c.namespace_path).or_default() += 1;
            report
                .write_row([
                    row.id,
                    &c.last_auth.map(rfc3339_seconds).unwrap_or_default(),
                    &row.month.to_string(),
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

        let mut forecast_report = ctx.report("-forecast", FORECAST_COLUMNS)?;
        let mut over = Vec::new();
        let mut trailing_window = Vec::new();
        for month in forecast(&schedule, current, self.licensed_clients) {
            if month.over_licence == Some(true) {
                over.push(month.month.to_string());
            }
            trailing_window.push(MonthCount {
                month: month.month.to_string(),
                counted: month.counted,
                rolling_off: month.rolling_off,
            });
            forecast_report
                .write_row([
                    month.month.to_string(),
                    month.counted.to_string(),
                    month.rolling_off.to_string(),
                    self.licensed_clients
                        .map(|l| l.to_string())
                        .unwrap_or_default(),
                    month
                        .over_licence
                        .map(|o| o.to_string())
                        .unwrap_or_default(),
                ])
                .await?;
        }

        let mut reports = vec![report, forecast_report];
        let (billing_period, summary_period) = match billing_start {
            Some(start) => {
                let (billing, period, summary_period) =
                    self.write_billing(ctx, current, &clients, start).await?;
                reports.push(billing);
                (Some(period), Some(summary_period))
            }
            None => (None, None),
        };
        let months_unchecked: Vec<String> = checks
            .iter()
            .filter(|c| c.is_unchecked())
            .map(|c| c.month.clone())
            .collect();
        let findings = VaultFindings {
            clients: schedule.len() as u64,
            clients_counted_now: counted_now(&schedule, current),
            licensed_clients: self.licensed_clients,
            over_licence: self.licensed_clients.map(|_| !over.is_empty()),
            months_over_licence: self.licensed_clients.map(|_| over),
            months_checked: (checks.len() - months_unchecked.len()) as u64,
            months_unchecked,
            month_checks: checks,
            billing_period,
        };
        // Vault leaves these empty for the root namespace and for some record shapes.
        let counts = |map: BTreeMap<&str, u64>, empty: &str| -> Vec<Count> {
            map.into_iter()
                .map(|(label, count)| Count {
                    label: if label.is_empty() {
                        empty.into()
                    } else {
                        label.into()
                    },
                    count,
                })
                .collect()
        };
        let details = VaultDetails {
            licensed_clients: self.licensed_clients,
            clients: findings.clients,
            trailing_window,
            billing_period: summary_period,
            by_type: top_counts(counts(by_type, "(none)"), usize::MAX),
            by_namespace: counts(by_namespace, "root"),
        };
        Ok(
            SourceOutput::new(reports, &findings).with_facts(SourceFacts {
                details: Some(KindDetails::Vault(details)),
                requests: None,
                rate_limited: None,
            }),
        )
    }

    /// The billing-period view: a client active in any month of the period counts for the
    /// whole period, and stops counting at the next period start unless active again. Months
    /// are whole UTC months, as Vault counts a period. Rows run from the period's first month
    /// to the month before the one holding the next start; months still to come hold what is
    /// counted so far, which new activity can only raise (`basis` = `at_least`).
    async fn write_billing(
        &self,
        ctx: &SourceContext,
        current: Month,
        clients: &Clients,
        billing_start: DateTime<Utc>,
    ) -> Result<(CsvReport, BillingPeriod, summary::BillingPeriod), SourceError> {
        let now = ctx.clock.now();
        let (start, next) = billing_period(billing_start, now).ok_or_else(|| {
            SourceError::Data(format!(
                "Vault's billing start {} is after the run's time {}; the billing period has not begun: remove `billing_forecast` until it has",
                rfc3339_seconds(billing_start),
                rfc3339_seconds(now)
            ))
        })?;
        let first_month = Month::of(start);
        let window_first = current.plus(-(i64::from(self.months) - 1));
        if first_month < window_first {
            let needed = first_month.months_until(current) + 1;
            return Err(SourceError::Data(format!(
                "the billing period began {}, before the {} fetched months: set `months` to at least {needed} so every client of the period is counted",
                rfc3339_seconds(start),
                self.months
            )));
        }
        let new_by_month = clients.first_active_since(first_month);
        let mut report = ctx.report("-billing", BILLING_COLUMNS)?;
        let mut counted = 0u64;
        let mut over = Vec::new();
        // Vault starts a period's count at the first of its month, so the month holding the
        // next start belongs to the next period.
        let last_month = Month::of(next).plus(-1);
        let mut month = first_month;
        while month <= last_month {
            let past = month <= current;
            let new = if past {
                new_by_month.get(&month).copied().unwrap_or(0)
            } else {
                0
            };
            counted += new;
            let over_licence = self.licensed_clients.map(|l| counted > l);
            if over_licence == Some(true) {
                over.push(month.to_string());
            }
            report
                .write_row([
                    month.to_string(),
                    counted.to_string(),
                    if past { new.to_string() } else { String::new() },
                    self.licensed_clients
                        .map(|l| l.to_string())
                        .unwrap_or_default(),
                    over_licence.map(|o| o.to_string()).unwrap_or_default(),
                    if past { "actual" } else { "at_least" }.to_owned(),
                ])
                .await?;
            month = month.plus(1);
        }
        let period = BillingPeriod {
            billing_start_timestamp: rfc3339_seconds(billing_start),
            period_start: rfc3339_seconds(start),
            next_period_start: rfc3339_seconds(next),
            clients_counted: counted,
            rolling_off_at_next_period_start: counted,
            licensed_clients: self.licensed_clients,
            over_licence: self.licensed_clients.map(|l| counted > l),
            months_over_licence: over,
        };
        let summary_period = summary::BillingPeriod {
            period_start: start,
            next_period_start: next,
            counted_in_period: counted,
            rolling_off_at_next_start: counted,
        };
        Ok((report, period, summary_period))
    }
}
