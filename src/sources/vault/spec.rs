//! `kind: vault_client_activity`: its settings, their checks, the plan, and preparing a source.

use super::auth::{AuthSpec, LoginSpec, Logins};
use super::{VaultSource, VaultToken};
use crate::config::{ConfigError, Environment, KeyPath, Problems, Secret, parse_base_url};
use crate::http::{HttpClient, HttpSpec, RateLimiter};
use crate::report::manifest::Window;
use crate::sources::{CommonSpec, Plan, SourceKind};
use crate::time::{Month, RunClock};
use chrono::SubsecRound;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The settings of a Vault source beyond those every source has.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultSpec {
    /// Vault address, e.g. `https://vault.example.com:8200`. Default: `VAULT_ADDR`.
    #[serde(default)]
    pub address: Option<String>,
    /// Namespace to export (children included), sent as `X-Vault-Namespace`.
    /// Default: `VAULT_NAMESPACE`; none means the root namespace.
    #[serde(default)]
    pub namespace: Option<String>,
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
    /// Also forecast by billing period (self-managed Enterprise is billed per period, from
    /// `billing_start_timestamp`): writes `{source}-billing.csv`. Needs `read` on
    /// `sys/internal/counters/config` in the root namespace.
    #[serde(default)]
    pub billing_forecast: bool,
    /// How to log in: `method: token` (the default: the token of `token_env`), `kubernetes`,
    /// `jwt` or `approle`. A login is made once per run and its token revoked at the end.
    #[serde(default)]
    pub auth: Option<AuthSpec>,
}

/// How a prepared source will get its token.
enum Credential {
    Login(LoginSpec),
    Static(Secret),
}

fn twelve() -> u32 {
    12
}

impl SourceKind for VaultSpec {
    const KIND: &'static str = "vault_client_activity";
    const DEFAULT_TOKEN_ENV: &'static str = "VAULT_TOKEN";
    /// One month's export; Vault itself allows an export 10 minutes.
    const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15 * 60);
    /// `-billing` only with `billing_forecast`, but reserved always: turning it on must not
    /// make two sources' reports collide.
    const REPORT_SUFFIXES: &'static [&'static str] = &["", "-forecast", "-billing"];
    const BEARER_PREFIX_CONSEQUENCE: &'static str =
        "Vault takes the bare token in `X-Vault-Token` and would refuse it";
    type Source = VaultSource;

    fn validate(&self, common: &CommonSpec, at: &KeyPath, problems: &mut Problems<'_>) {
        if !(1..=60).contains(&self.months) {
            problems.add(&at.key("months"), "must be between 1 and 60");
        }
        if !(1..=120).contains(&self.roll_off_months) {
            problems.add(&at.key("roll_off_months"), "must be between 1 and 120");
        } else if self.months < self.roll_off_months && (1..=60).contains(&self.months) {
            // A client last active before the fetched months still counts for up to
            // roll_off_months: it would be missing from the forecast, which is then too low.
            problems.add(
                &at.key("months"),
                format!(
                    "is {} but roll_off_months is {}: clients last active before the fetched months still count against the licence and would be missing from the forecast; set months to at least {} (at most 60)",
                    self.months, self.roll_off_months, self.roll_off_months
                ),
            );
        }
        if self.licensed_clients == Some(0) {
            problems.add(&at.key("licensed_clients"), "must be positive");
        }
        if let Some(address) = &self.address
            && let Err(message) = parse_base_url(address, common.allow_http)
        {
            problems.add(&at.key("address"), message);
        }
        if let Some(auth) = &self.auth {
            auth.validate(&at.key("auth"), problems);
        }
    }

    fn plan(&self, _common: &CommonSpec, clock: &RunClock) -> Plan {
        let current = Month::of(clock.now());
        let first = current.plus(-(i64::from(self.months) - 1));
        let mut thresholds = BTreeMap::new();
        thresholds.insert("months".into(), self.months.into());
        thresholds.insert("roll_off_months".into(), self.roll_off_months.into());
        if let Some(licensed) = self.licensed_clients {
            thresholds.insert("licensed_clients".into(), licensed.into());
        }
        if self.billing_forecast {
            thresholds.insert("billing_forecast".into(), true.into());
        }
        // The current month is exported up to the run's "now" (in Vault's whole seconds), not
        // to its end: activity after the run cannot be in the reports.
        Plan {
            window: Some(Window {
                start: first.start(),
                end: clock.now().trunc_subsecs(0),
            }),
            thresholds,
        }
    }

    fn prepare(
        &self,
        common: &CommonSpec,
        env: &Environment,
        shared: &HttpClient,
        http: &HttpSpec,
        logins: &Logins,
    ) -> Result<VaultSource, ConfigError> {
        // Address, CA bundle and token are independent: say everything wrong with them at once.
        let address = self
            .address
            .clone()
            .or_else(|| env.get("VAULT_ADDR").map(str::to_owned))
            .ok_or_else(|| "no Vault address: set `address` in the spec or VAULT_ADDR".to_owned())
            .and_then(|address| {
                parse_base_url(&address, common.allow_http).map_err(|m| format!("address {m}"))
            });
        let ca = self
            .ca_cert
            .clone()
            .or_else(|| env.get("VAULT_CACERT").map(PathBuf::from));
        let client = match &ca {
            Some(path) => HttpClient::new(http, Some(path)).map_err(|e| e.to_string()),
            None => Ok(shared.clone()),
        };
        let namespace = self
            .namespace
            .clone()
            .or_else(|| env.get("VAULT_NAMESPACE").map(str::to_owned))
            .map(|ns| ns.trim_matches('/').to_owned())
            .filter(|ns| !ns.is_empty());
        let message = |e: ConfigError| match e {
            ConfigError::Source { message, .. } => message,
            other => other.to_string(),
        };
        // A login's credentials, or else the static token of `token_env`.
        let credential = match &self.auth {
            Some(auth) => auth
                .prepare(&common.name, env, namespace.as_deref())
                .map_err(message),
            None => Ok(None),
        }
        .and_then(|login| match login {
            Some(login) => Ok(Credential::Login(login)),
            None => env
                .secret(&common.name, &common.token_env)
                .map_err(message)
                .and_then(|token| {
                    token
                        .header_value("")
                        .map(|_| Credential::Static(token))
                        .map_err(|m| format!("{}: {m}", common.token_env))
                }),
        });
        // Sent as `X-Vault-Namespace` on every call: a value no header can carry is a spec
        // error now, not a failure of each request.
        let header = match &namespace {
            Some(ns) if reqwest::header::HeaderValue::from_str(ns).is_err() => Err(format!(
                "namespace `{ns}` cannot be sent as the X-Vault-Namespace header (control characters or non-ASCII)"
            )),
            _ => Ok(()),
        };
        let (address, client, credential) = match (address, client, credential, header) {
            (Ok(address), Ok(client), Ok(credential), Ok(())) => (address, client, credential),
            (address, client, credential, header) => {
                let messages: Vec<String> =
                    [address.err(), client.err(), credential.err(), header.err()]
                        .into_iter()
                        .flatten()
                        .collect();
                return Err(common.error(messages.join("; ")));
            }
        };
        let token = match credential {
            Credential::Login(login) => {
                VaultToken::Login(logins.session(&address, ca.as_deref(), &client, login))
            }
            Credential::Static(token) => VaultToken::Static(token),
        };
        Ok(VaultSource {
            name: common.name.clone(),
            // One export at a time per node: the address names the node (or its load balancer).
            export_slot: format!("vault export {}", address.as_str().trim_end_matches('/')),
            address,
            namespace,
            token,
            token_env: common.token_env.clone(),
            http: client,
            months: self.months,
            roll_off_months: self.roll_off_months,
            licensed_clients: self.licensed_clients,
            billing_forecast: self.billing_forecast,
            request_timeout: common.request_timeout,
            traffic: RateLimiter::new(None),
        })
    }
}
