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
//!   long as Vault lets an export run ([`turns`]);
//! - a 200 export can end early at a record boundary without an error, so each finished month's
//!   distinct clients are checked against Vault's own count of that month ([`cross_check`]); a
//!   count that cannot be had leaves the month *unchecked* in the manifest, never passed;
//! - the forecast needs every month a client can still count in: `months` must reach back
//!   `roll_off_months` (a spec error otherwise), and the billing-period view the whole period.
//!
//! The reports are written in [`reports`], the billing-period view in [`billing`].

mod api;
pub mod auth;
mod billing;
mod check;
mod clients;
mod cross_check;
mod export;
mod reports;
mod spec;
mod turns;

pub use auth::Logins;
pub use billing::{BILLING_COLUMNS, BillingPeriod};
pub use cross_check::MonthCheck;
pub use export::ExportParser;
pub use reports::{CLIENT_COLUMNS, FORECAST_COLUMNS};
pub use spec::VaultSpec;

use crate::config::Secret;
use crate::http::{Call, HttpClient, HttpError, RateLimiter, describe_body, join_path};
use crate::sources::{Fetch, Refusal, SourceContext, SourceError, SourceOutput};
use crate::time::{Month, rfc3339_seconds};
use auth::Session;
use clients::Clients;
use reqwest::{StatusCode, Url};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A counts or config answer is a few KiB per namespace.
const SMALL_BODY_LIMIT: usize = 16 * 1024 * 1024;

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
    /// HTTP requests sent for the exports, counts and configuration, retries included (the
    /// login's are not counted).
    pub requests: u64,
    /// Answers that were HTTP 429 (a rate-limit quota on the Vault side).
    pub rate_limited: u64,
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
    /// Counts the source's requests and 429s (Vault's rate-limit quotas answer 429 with
    /// `Retry-After`); it sets no budget of its own.
    traffic: RateLimiter,
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
        // Before the exports, which can take many minutes: a billing period that cannot be
        // had stops the source at once.
        let billing = if self.billing_forecast {
            Some(self.billing_period(ctx.clock.now(), current).await?)
        } else {
            None
        };
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
        let clients = clients.into_inner().unwrap_or_else(|e| e.into_inner());
        self.write_reports(ctx, current, clients, checks, billing)
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
            .timeout(self.request_timeout)
            .limiter(&self.traffic);
        if namespaced && let Some(ns) = &self.namespace {
            let value = reqwest::header::HeaderValue::from_str(ns).map_err(|_| {
                SourceError::Data(format!("namespace `{ns}` is not a valid header value"))
            })?;
            call = call.header("x-vault-namespace", value);
        }
        Ok(call)
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

    /// ` in namespace NS` when the source has one.
    fn namespace_note(&self) -> String {
        self.namespace
            .as_ref()
            .map(|ns| format!(" in namespace {ns}"))
            .unwrap_or_default()
    }
}
