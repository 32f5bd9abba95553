//! HashiCorp Vault client activity: one export per calendar month, the month each client was
//! last active, when it rolls off the trailing window, and a forecast of the client count.
//!
//! API facts: `docs/reference/vault.md`. The export is NDJSON, parsed
//! line by line as it streams ([`export`]); memory grows with distinct clients
//! ([`clients`]), never with bytes fetched.

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
use crate::http::{Call, HttpClient, HttpError, describe_body, join_path};
use crate::report::Column;
use crate::report::summary::{
    Count, KindDetails, MonthCount, SourceFacts, VaultDetails, top_counts,
};
use crate::sources::{Fetch, Refusal, SourceContext, SourceError, SourceOutput};
use crate::time::{Month, rfc3339_seconds};
use auth::Session;
use clients::{Clients, counted_now, forecast};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    address: Url,
    namespace: Option<String>,
    token: VaultToken,
    token_env: String,
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
                clients = export::lock(&clients).len(),
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
        let mut url = join_path(&self.address, api::EXPORT_PATH);
        url.query_pairs_mut()
            .append_pair("start_time", &rfc3339_seconds(month.start()))
            .append_pair("end_time", &rfc3339_seconds(month.end()))
            .append_pair("format", "json");
        let token = self
            .token
            .get(&self.name)
            .await?
            .header_value("")
            .map_err(SourceError::Credentials)?;
        let mut call = Call::get(&self.name, url)
            .header("x-vault-token", token)
            .timeout(self.request_timeout)
            .classify(api::classify_export);
        if let Some(ns) = &self.namespace {
            let value = reqwest::header::HeaderValue::from_str(ns).map_err(|_| {
                SourceError::Data(format!("namespace `{ns}` is not a valid header value"))
            })?;
            call = call.header("x-vault-namespace", value);
        }
        let result = self
            .http
            .fetch(&call, |response| {
                export::parse_export(response, month, clients)
            })
            .await;
        match result {
            Ok(records) => Ok(records),
            Err(HttpError::Status { status, body, .. })
                if api::is_no_data_answer(status, &body) =>
            {
                Ok(0)
            }
            // A login's token is not a variable's: say what to fix on the role. A static token
            // goes the common way below.
            Err(HttpError::Status { status, body, .. })
                if (status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED)
                    && matches!(self.token, VaultToken::Login(_)) =>
            {
                let login = match &self.token {
                    VaultToken::Login(session) => session.describe(),
                    VaultToken::Static(_) => String::new(),
                };
                Err(SourceError::Credentials(format!(
                    "Vault refused the export of {month} (GET /{}: HTTP {status}, {}) to the token of the {login}. The role's policies need `read` and `sudo` on sys/internal/counters/activity/export{}; a token whose TTL ran out during the run is refused too (give the role a token_ttl longer than the run)",
                    api::EXPORT_PATH,
                    describe_body(&body),
                    self.namespace_note(),
                )))
            }
            Err(error) => Err(SourceError::from_http(
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
                        "export of {month}: {e}; before Vault 1.18 the export exists only in the root namespace: remove `namespace` (and VAULT_NAMESPACE) for such a Vault"
                    ),
                    _ => format!("export of {month}: {e}"),
                },
            )),
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

        let findings = VaultFindings {
            clients: schedule.len() as u64,
            clients_counted_now: counted_now(&schedule, current),
            licensed_clients: self.licensed_clients,
            over_licence: self.licensed_clients.map(|_| !over.is_empty()),
            months_over_licence: self.licensed_clients.map(|_| over),
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
            billing_period: None,
            by_type: top_counts(counts(by_type, "(none)"), usize::MAX),
            by_namespace: counts(by_namespace, "root"),
        };
        Ok(
            SourceOutput::new(vec![report, forecast_report], &findings).with_facts(SourceFacts {
                details: Some(KindDetails::Vault(details)),
                requests: None,
                rate_limited: None,
            }),
        )
    }
}
