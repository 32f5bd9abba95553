//! `rollcall check` for Vault: the server's version and seal state (`sys/health`), the login when
//! an auth method is set, the token itself and its remaining TTL against the source's
//! deadline (`auth/token/lookup-self`), its capabilities on the export path (`read` and `sudo`)
//! and on the paths the cross-checks read (`sys/capabilities-self`), then a probe of the export
//! path that Vault refuses before doing any work (a range that ends before it starts): it proves
//! that this server has the export at all, and exports nothing.

use super::VaultSource;
use super::api::{
    CAPABILITIES_SELF_PATH, CROSS_CHECK_ACL_PATHS, Capabilities, EXPORT_ACL_PATH, EXPORT_PATH,
    HEALTH_PATH, HEALTH_QUERY, Health, LOOKUP_SELF_PATH, Lookup,
};
use crate::http::{Call, HttpError, join_path, read_json, read_secret_json};
use crate::sources::SourceError;
use crate::sources::check::{Check, CheckCode, CheckContext, Checked, common_fix};
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use std::time::Duration;

/// An inverted range long ago: Vault answers 400 `start_time is later than end_time` before it
/// looks at any data; a server that ignored the order would still find nothing to export.
const PROBE_START: &str = "2000-01-02T00:00:00Z";
const PROBE_END: &str = "2000-01-01T00:00:00Z";
/// None of these calls does any work on the server.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Answers are a few KiB.
const BODY_LIMIT: usize = 256 * 1024;

impl Check for VaultSource {
    async fn check(&self, ctx: &CheckContext) -> Checked {
        let health = match self.health().await {
            Ok(health) => health,
            Err(e) => return self.failed(&e, "reading the server's health (sys/health)"),
        };
        if health.sealed {
            return Checked::failed(
                CheckCode::Other,
                format!("Vault {} at {} is sealed", health.version, self.address),
                "unseal Vault (or wait for it to be unsealed): a sealed Vault answers nothing",
            );
        }
        // The one place the check obtains the token: with an auth method, the run's login.
        let token = match self
            .token
            .get(&self.name)
            .await
            .and_then(|token| token.header_value("").map_err(SourceError::Credentials))
        {
            Ok(token) => token,
            Err(SourceError::Credentials(message)) => {
                return Checked::failed(
                    CheckCode::Unauthorized,
                    message,
                    "fix the token or the login as the message says, then run check again",
                );
            }
            Err(e) => {
                return Checked::failed(
                    CheckCode::Other,
                    e.to_string(),
                    "check that Vault is reachable and that the auth method's mount exists",
                );
            }
        };
        let ttl = match self.remaining_ttl(&token).await {
            Ok(ttl) => ttl,
            Err(e) => return self.failed(&e, "reading the token (auth/token/lookup-self)"),
        };
        let capabilities = match self.capabilities(&token).await {
            Ok(c) => c,
            Err(e) => {
                return self.failed(
                    &e,
                    "reading the token's capabilities (sys/capabilities-self)",
                );
            }
        };
        let has = |path: &str, capability: &str| {
            capabilities
                .data
                .get(path)
                .is_some_and(|granted| granted.iter().any(|g| g == capability || g == "root"))
        };
        let needed: &[&str] = if health.export_needs_sudo() {
            &["read", "sudo"]
        } else {
            &["read"]
        };
        let missing: Vec<&str> = needed
            .iter()
            .copied()
            .filter(|c| !has(EXPORT_ACL_PATH, c))
            .collect();
        if !missing.is_empty() {
            let missing = missing
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" and ");
            return Checked::failed(
                CheckCode::Forbidden,
                format!(
                    "the token lacks {missing} on {EXPORT_ACL_PATH}{}; on Vault {} the export needs {}",
                    self.in_namespace(),
                    health.version,
                    needed
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                format!(
                    "add {missing} to the token's policy: path \"{EXPORT_ACL_PATH}\" {{ capabilities = [{}] }}",
                    needed
                        .iter()
                        .map(|c| format!("\"{c}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let unchecked: Vec<&str> = CROSS_CHECK_ACL_PATHS
            .iter()
            .copied()
            .filter(|path| !has(path, "read"))
            .collect();
        if let Some(ttl) = ttl
            && ttl < ctx.deadline
        {
            return Checked::failed(
                CheckCode::Unauthorized,
                format!(
                    "the token expires in {}, before the source's deadline of {}: a long export could be cut off",
                    humantime::format_duration(ttl),
                    humantime::format_duration(ctx.deadline)
                ),
                "issue a token whose TTL covers the deadline (or lower `timeout`), or log in with an auth method so each run gets a fresh token",
            );
        }
        if let Err(checked) = self.probe_export(&token).await {
            return checked;
        }
        let ttl = ttl.map_or("does not expire".to_owned(), |t| {
            format!("has {} left", humantime::format_duration(t))
        });
        let granted = needed
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(" and ");
        let checked = Checked::ok(format!(
            "Vault {}; token valid ({ttl}), {granted} on {EXPORT_ACL_PATH}{}, and the server has the export",
            health.version,
            self.in_namespace()
        ));
        if unchecked.is_empty() {
            checked
        } else {
            checked.with_note(format!(
                "without `read` on {}, the run cannot cross-check the export and marks it unchecked: add `read` on them to the policy",
                unchecked.join(" and ")
            ))
        }
    }
}

impl VaultSource {
    /// A call to `path` with the token and namespace headers.
    fn call_with_token(
        &self,
        method: Method,
        path: &str,
        token: &HeaderValue,
    ) -> Result<Call<'_>, HttpError> {
        let call = Call {
            method,
            ..Call::get(&self.name, join_path(&self.address, path))
        };
        let mut call = call
            .header("x-vault-token", token.clone())
            .timeout(CALL_TIMEOUT.min(self.request_timeout));
        if let Some(ns) = &self.namespace {
            let value = HeaderValue::from_str(ns).map_err(|_| {
                HttpError::Setup(format!("namespace `{ns}` is not a valid header value"))
            })?;
            call = call.header("x-vault-namespace", value);
        }
        Ok(call)
    }

    /// Answered without a token, so none is sent.
    async fn health(&self) -> Result<Health, HttpError> {
        let url = join_path(&self.address, HEALTH_PATH);
        let mut call = Call::get(&self.name, url).timeout(CALL_TIMEOUT);
        call.url.set_query(Some(HEALTH_QUERY));
        self.http
            .fetch(&call, |r| read_json(r, BODY_LIMIT, "a health answer"))
            .await
    }

    async fn capabilities(&self, token: &HeaderValue) -> Result<Capabilities, HttpError> {
        let paths: Vec<&str> = std::iter::once(EXPORT_ACL_PATH)
            .chain(CROSS_CHECK_ACL_PATHS.iter().copied())
            .collect();
        // Serializing a list of strings cannot fail.
        let body = serde_json::to_vec(&serde_json::json!({ "paths": paths })).unwrap_or_default();
        let call = self
            .call_with_token(Method::POST, CAPABILITIES_SELF_PATH, token)?
            .json(body.into());
        self.http
            .fetch(&call, |r| read_json(r, BODY_LIMIT, "a capabilities answer"))
            .await
    }

    /// `None` for a token that never expires.
    async fn remaining_ttl(&self, token: &HeaderValue) -> Result<Option<Duration>, HttpError> {
        let call = self.call_with_token(Method::GET, LOOKUP_SELF_PATH, token)?;
        // The lookup's `data.id` is the token itself.
        let lookup: Lookup = self
            .http
            .fetch(&call, |r| read_secret_json(r, BODY_LIMIT, "a token lookup"))
            .await?;
        Ok((lookup.data.ttl > 0).then(|| Duration::from_secs(lookup.data.ttl)))
    }

    async fn probe_export(&self, token: &HeaderValue) -> Result<(), Checked> {
        let mut call = self
            .call_with_token(Method::GET, EXPORT_PATH, token)
            .map_err(|e| self.failed(&e, "the export"))?;
        call.url
            .query_pairs_mut()
            .append_pair("start_time", PROBE_START)
            .append_pair("end_time", PROBE_END)
            .append_pair("format", "json");
        match self.http.send(&call).await {
            // What a 204 or 200 could only mean: a server that ignored the order, with no data.
            Ok(_) => Ok(()),
            Err(HttpError::Status { status, body, .. })
                if status == StatusCode::BAD_REQUEST && body.contains("later than") =>
            {
                Ok(())
            }
            Err(HttpError::Status { status, .. }) if status == StatusCode::NOT_FOUND => {
                Err(Checked::failed(
                    CheckCode::NotFound,
                    format!(
                        "this server has no activity export: {EXPORT_PATH} answered 404{}",
                        self.in_namespace()
                    ),
                    if self.namespace.is_some() {
                        "point `address` at a Vault server: OpenBao has no activity log, and before Vault 1.18 the export exists in the root namespace only (then remove `namespace`)"
                    } else {
                        "point `address` at a Vault server: OpenBao, and Vault before 1.11, have no activity export"
                    },
                ))
            }
            Err(e) => Err(self.failed(&e, "the export")),
        }
    }

    fn failed(&self, error: &HttpError, what: &str) -> Checked {
        // Vault answers 403 both for a bad token and for a missing capability; which one it was
        // is settled by the lookup, the first call.
        let mut checked = Checked::from_http(error, |code| match code {
            CheckCode::Forbidden if what.starts_with("reading the token") => format!(
                "Vault refused the token{}: put a valid, unexpired token in the source's token variable (or its _FILE), or check the auth method's role; a valid token needs `read` on auth/token/lookup-self, which Vault's default policy grants",
                self.in_namespace()
            ),
            CheckCode::Forbidden => format!(
                "give the token's policy `read` and `sudo` on sys/internal/counters/activity/export{}",
                self.in_namespace()
            ),
            other => common_fix(other, "Vault", "address"),
        });
        if checked.code == CheckCode::Forbidden && what.starts_with("reading the token") {
            checked.code = CheckCode::Unauthorized;
        }
        checked.summary = format!("{what}: {}", checked.summary);
        checked
    }

    fn in_namespace(&self) -> String {
        self.namespace
            .as_ref()
            .map(|ns| format!(" in namespace {ns}"))
            .unwrap_or_default()
    }
}
