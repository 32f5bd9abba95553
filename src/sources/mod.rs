//! Source kinds: the enum every spec item becomes, and the one trait every source implements.
//!
//! Adding a kind means one file here, one arm in [`SourceSpec`] and [`Source`], and a fake in
//! `tests/support/` that runs the shared source test matrix.

pub mod launchdarkly;
pub mod vault;
pub mod vision_one;

use crate::config::{ConfigError, Environment, KeyPath, Problems};
use crate::http::{HttpClient, HttpError, check_scheme};
use crate::output::Output;
use crate::report::manifest::Window;
use crate::report::{CsvReport, ReportError};
use crate::time::RunClock;
use reqwest::Url;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// Every source kind, as written in the spec (`kind: vault_client_activity`).
#[derive(Debug)]
pub enum SourceSpec {
    VaultClientActivity(vault::VaultSpec),
    VisionOneInactiveAccounts(vision_one::VisionOneSpec),
    LaunchDarklyAuditLog(launchdarkly::LaunchDarklySpec),
}

/// The `kind` values, for messages.
pub const KINDS: &[&str] = &[
    "vault_client_activity",
    "vision_one_inactive_accounts",
    "launchdarkly_audit_log",
];

impl SourceSpec {
    /// Reads one `sources[i]` item; records problems (with lines) instead of failing fast.
    pub(crate) fn from_yaml(
        value: serde_yaml::Value,
        at: &KeyPath,
        problems: &mut Problems<'_>,
    ) -> Option<Self> {
        let serde_yaml::Value::Mapping(mut map) = value else {
            problems.add(
                at,
                "must be a mapping with `name`, `kind` and the kind's settings",
            );
            return None;
        };
        let kind = match map.remove("kind") {
            Some(serde_yaml::Value::String(kind)) => kind,
            Some(_) => {
                problems.add(&at.key("kind"), "must be a string");
                return None;
            }
            None => {
                problems.add(
                    at,
                    format!("has no `kind`; use one of {}", KINDS.join(", ")),
                );
                return None;
            }
        };
        let value = serde_yaml::Value::Mapping(map);
        let spec = match kind.as_str() {
            "vault_client_activity" => {
                read_spec::<vault::VaultSpec>(value, at, problems).map(Self::VaultClientActivity)
            }
            "vision_one_inactive_accounts" => {
                read_spec::<vision_one::VisionOneSpec>(value, at, problems)
                    .map(Self::VisionOneInactiveAccounts)
            }
            "launchdarkly_audit_log" => {
                read_spec::<launchdarkly::LaunchDarklySpec>(value, at, problems)
                    .map(Self::LaunchDarklyAuditLog)
            }
            other => {
                problems.add(
                    &at.key("kind"),
                    format!(
                        "unknown source kind `{other}`; use one of {}",
                        KINDS.join(", ")
                    ),
                );
                None
            }
        }?;
        spec.validate(at, problems);
        Some(spec)
    }

    pub fn name(&self) -> &str {
        match self {
            Self::VaultClientActivity(s) => &s.name,
            Self::VisionOneInactiveAccounts(s) => &s.name,
            Self::LaunchDarklyAuditLog(s) => &s.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::VaultClientActivity(_) => "vault_client_activity",
            Self::VisionOneInactiveAccounts(_) => "vision_one_inactive_accounts",
            Self::LaunchDarklyAuditLog(_) => "launchdarkly_audit_log",
        }
    }

    /// This source's own deadline, if it sets one.
    pub fn timeout(&self) -> Option<Duration> {
        match self {
            Self::VaultClientActivity(s) => s.timeout,
            Self::VisionOneInactiveAccounts(s) => s.timeout,
            Self::LaunchDarklyAuditLog(s) => s.timeout,
        }
    }

    fn validate(&self, at: &KeyPath, problems: &mut Problems<'_>) {
        crate::config::check_name(problems, &at.key("name"), self.name());
        match self {
            Self::VaultClientActivity(s) => s.validate(at, problems),
            Self::VisionOneInactiveAccounts(s) => s.validate(at, problems),
            Self::LaunchDarklyAuditLog(s) => s.validate(at, problems),
        }
    }

    /// The window and thresholds the reports will use; recorded in the manifest even when the
    /// source fails.
    pub fn plan(&self, clock: &RunClock) -> Plan {
        match self {
            Self::VaultClientActivity(s) => s.plan(clock),
            Self::VisionOneInactiveAccounts(s) => s.plan(clock),
            Self::LaunchDarklyAuditLog(s) => s.plan(clock),
        }
    }

    /// Resolves secrets, addresses and TLS roots from the environment. Nothing is fetched; a
    /// failure here is a configuration error (exit 2).
    pub fn prepare(
        &self,
        env: &Environment,
        shared: &HttpClient,
        http: &crate::config::HttpSpec,
    ) -> Result<Source, ConfigError> {
        match self {
            Self::VaultClientActivity(s) => s.prepare(env, shared, http).map(Source::Vault),
            Self::VisionOneInactiveAccounts(s) => {
                s.prepare(env, shared, http).map(Source::VisionOne)
            }
            Self::LaunchDarklyAuditLog(s) => s.prepare(env, shared, http).map(Source::LaunchDarkly),
        }
    }
}

/// Environment variable names: what a shell and Kubernetes accept.
pub fn check_env_name(problems: &mut Problems<'_>, key: &KeyPath, name: &str) {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        problems.add(key, format!("`{name}` is not an environment variable name"));
    }
}

/// An API base URL: absolute, http(s), no query, and https unless allowed.
pub fn parse_base_url(text: &str, allow_http: bool) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{text}` must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "`{}` must not carry credentials; use the token variable",
            url.host_str().unwrap_or("the URL")
        ));
    }
    check_scheme(&url, allow_http)?;
    Ok(url)
}

/// Reads a source's settings from its YAML value; errors name the key path and its line.
fn read_spec<T: serde::de::DeserializeOwned>(
    value: serde_yaml::Value,
    at: &KeyPath,
    problems: &mut Problems<'_>,
) -> Option<T> {
    match serde_path_to_error::deserialize(value) {
        Ok(spec) => Some(spec),
        Err(e) => {
            // The path already ends at the offending key, unknown ones included.
            let key = at.join(&KeyPath::parse(&e.path().to_string()));
            problems.add(&key, e.inner().to_string());
            None
        }
    }
}

/// What a source will cover, known before it runs.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub window: Option<Window>,
    pub thresholds: BTreeMap<String, serde_json::Value>,
}

/// A source ready to run: spec plus resolved secrets and clients.
#[derive(Debug)]
pub enum Source {
    Vault(vault::VaultSource),
    VisionOne(vision_one::VisionOneSource),
    LaunchDarkly(launchdarkly::LaunchDarklySource),
}

impl Source {
    pub async fn fetch(&self, ctx: &SourceContext) -> Result<SourceOutput, SourceError> {
        match self {
            Self::Vault(s) => s.fetch(ctx).await,
            Self::VisionOne(s) => s.fetch(ctx).await,
            Self::LaunchDarkly(s) => s.fetch(ctx).await,
        }
    }
}

/// The common shape of every source kind.
pub trait Fetch {
    /// Fetches everything and writes the reports. Reports are handed back unfinished: the run
    /// makes them visible only if the whole source succeeded.
    fn fetch(
        &self,
        ctx: &SourceContext,
    ) -> impl Future<Output = Result<SourceOutput, SourceError>> + Send;
}

/// What a source gets from the run: its name, the run's clock, and a way to open reports.
/// Sources never see the object store itself.
pub struct SourceContext {
    pub name: String,
    pub clock: RunClock,
    output: Output,
    escape_formulas: bool,
}

impl SourceContext {
    pub fn new(name: String, clock: RunClock, output: Output, escape_formulas: bool) -> Self {
        Self {
            name,
            clock,
            output,
            escape_formulas,
        }
    }

    /// Opens the report `{source}{suffix}` (suffix `""` for the main report, `-forecast`...).
    pub fn report(
        &self,
        suffix: &str,
        columns: &'static [&'static str],
    ) -> Result<CsvReport, ReportError> {
        let report = format!("{}{suffix}", self.name);
        let key = self.output.report_key(&self.name, &report);
        CsvReport::new(
            report,
            columns,
            self.output.writer(key),
            self.escape_formulas,
        )
    }
}

/// A source's result: its reports (not yet visible) and findings for the manifest.
#[derive(Debug, Default)]
pub struct SourceOutput {
    pub reports: Vec<CsvReport>,
    pub findings: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The credential was refused: fixing it is configuration work, not a retry.
    #[error("credentials rejected: {0}")]
    Credentials(String),
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Report(#[from] ReportError),
}

impl SourceError {
    pub fn is_credentials(&self) -> bool {
        matches!(self, SourceError::Credentials(_))
    }
}
