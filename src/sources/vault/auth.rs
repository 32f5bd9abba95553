//! How a Vault source gets its token: the static token of `token_env` (the default), or a login
//! with the pod's service account (`kubernetes`), a JWT from a file (`jwt`) or an AppRole.
//!
//! A login is made once per run for every source that shares the address, the namespace and
//! the login itself ([`Logins`], owned by the run), at the first request that needs it, and the
//! token it yields is revoked when the run ends. The token, the JWT, the role ID and the secret
//! ID are secrets: they never reach a log, an error or `Debug`.
//!
//! API facts (observed against OpenBao 2.7.2, shared with Vault): `POST /v1/auth/<mount>/login`
//! answers `auth.client_token`; an unknown role is a 400 (`role "x" could not be found` for jwt,
//! `invalid role name "x"` for kubernetes), a wrong audience or an unbound service account a
//! 403, a bad JWT signature a 400, a wrong AppRole secret a 400 `invalid role or secret ID`; an
//! unauthenticated request to a mount that does not exist is a 403 `permission denied`.

use crate::config::{ConfigError, Environment, KeyPath, Problems, Secret, check_env_name};
use crate::http::{Call, HttpClient, HttpError, join_path, read_secret_json, snippet};
use crate::sources::SourceError;
use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

mod spec;

pub use spec::AuthSpec;
use spec::*;

/// Where Kubernetes mounts a pod's service-account token.
pub const DEFAULT_SERVICE_ACCOUNT_TOKEN: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// A login answer is a small JSON document.
const LOGIN_BODY_LIMIT: usize = 1024 * 1024;
/// Time one login or revoke request may take.
const AUTH_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Time all revocations together may take at the end of a run (a pod being stopped has about
/// 30 s before it is killed).
const REVOKE_ALL_TIMEOUT: Duration = Duration::from_secs(15);
const REVOKE_SELF_PATH: &str = "v1/auth/token/revoke-self";

/// A login, resolved from the spec and the environment; its secrets are redacted in `Debug`.
#[derive(Debug, Clone)]
pub struct LoginSpec {
    mount: String,
    namespace: Option<String>,
    method: LoginMethod,
}

#[derive(Debug, Clone)]
enum LoginMethod {
    Kubernetes {
        role: String,
        token_file: PathBuf,
    },
    Jwt {
        role: String,
        token_file: PathBuf,
    },
    AppRole {
        role_id_env: String,
        role_id: Secret,
        secret_id_env: String,
        secret_id: Secret,
    },
}

impl LoginMethod {
    fn name(&self) -> &'static str {
        match self {
            LoginMethod::Kubernetes { .. } => "kubernetes",
            LoginMethod::Jwt { .. } => "jwt",
            LoginMethod::AppRole { .. } => "approle",
        }
    }

    fn role(&self) -> Option<&str> {
        match self {
            LoginMethod::Kubernetes { role, .. } | LoginMethod::Jwt { role, .. } => Some(role),
            LoginMethod::AppRole { .. } => None,
        }
    }
}

/// What makes two sources' logins the same one: the server, the namespace and every setting
/// of the login. Secret values are compared through the variables that hold them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LoginKey {
    address: String,
    ca_cert: Option<PathBuf>,
    mount: String,
    namespace: Option<String>,
    method: &'static str,
    role: Option<String>,
    token_file: Option<PathBuf>,
    role_id_env: Option<String>,
    secret_id_env: Option<String>,
}

impl LoginKey {
    fn of(address: &Url, ca_cert: Option<&Path>, login: &LoginSpec) -> Self {
        let (token_file, role_id_env, secret_id_env) = match &login.method {
            LoginMethod::Kubernetes { token_file, .. } | LoginMethod::Jwt { token_file, .. } => {
                (Some(token_file.clone()), None, None)
            }
            LoginMethod::AppRole {
                role_id_env,
                secret_id_env,
                ..
            } => (None, Some(role_id_env.clone()), Some(secret_id_env.clone())),
        };
        Self {
            address: address.as_str().trim_end_matches('/').to_owned(),
            ca_cert: ca_cert.map(Path::to_path_buf),
            mount: login.mount.clone(),
            namespace: login.namespace.clone(),
            method: login.method.name(),
            role: login.method.role().map(str::to_owned),
            token_file,
            role_id_env,
            secret_id_env,
        }
    }
}

/// The logins of one run, shared by the sources that ask for the same one. The run owns it,
/// hands it to the sources as they are prepared, and calls [`Logins::revoke_all`] at the end.
#[derive(Debug, Default)]
pub struct Logins {
    sessions: Mutex<HashMap<LoginKey, Arc<Session>>>,
}

impl Logins {
    /// The session of this login at this address: the existing one if another source asked
    /// for the same, else a new one. Nothing is sent until a source needs the token.
    pub fn session(
        &self,
        address: &Url,
        ca_cert: Option<&Path>,
        http: &HttpClient,
        login: LoginSpec,
    ) -> Arc<Session> {
        let key = LoginKey::of(address, ca_cert, &login);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Session {
                    address: address.clone(),
                    http: http.clone(),
                    login,
                    token: OnceCell::new(),
                })
            })
            .clone()
    }

    /// Revokes every token this run obtained (`auth/token/revoke-self`), best effort: a
    /// failure is logged, never fatal, and the whole takes at most a few seconds.
    pub async fn revoke_all(&self) {
        let sessions: Vec<Arc<Session>> = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let revocations = futures::future::join_all(sessions.iter().map(|s| s.revoke()));
        if tokio::time::timeout(REVOKE_ALL_TIMEOUT, revocations)
            .await
            .is_err()
        {
            tracing::warn!(
                timeout_s = REVOKE_ALL_TIMEOUT.as_secs(),
                "Revoking the run's Vault tokens took too long; the unrevoked ones expire with their TTL."
            );
        }
    }
}

/// One login of the run, made at most once.
pub struct Session {
    address: Url,
    http: HttpClient,
    login: LoginSpec,
    token: OnceCell<Result<Secret, LoginFailure>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("address", &self.address.as_str())
            .field("login", &self.login)
            .field("logged_in", &self.token.initialized())
            .finish()
    }
}

/// Why a login gave no token; kept so every source sharing the login gets the same answer.
#[derive(Debug, Clone)]
enum LoginFailure {
    /// Vault refused: a configuration problem no retry fixes.
    Refused(String),
    /// Vault could not be asked (unreachable, 5xx after retries, a malformed answer).
    Unavailable(String),
}

impl Session {
    /// The Vault token, logging in on first use; `source` names who asks, for logs.
    pub async fn token(&self, source: &str) -> Result<Secret, SourceError> {
        let result = self.token.get_or_init(|| self.login(source)).await;
        match result {
            Ok(token) => Ok(token.clone()),
            Err(LoginFailure::Refused(message)) => Err(SourceError::Credentials(message.clone())),
            Err(LoginFailure::Unavailable(message)) => Err(SourceError::Data(message.clone())),
        }
    }

    /// `Vault login (kubernetes on auth/kubernetes, role `rollcall`, namespace `team`)`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "Vault login ({} on auth/{}",
            self.login.method.name(),
            self.login.mount
        );
        if let Some(role) = self.login.method.role() {
            text.push_str(&format!(", role `{role}`"));
        }
        if let Some(ns) = &self.login.namespace {
            text.push_str(&format!(", namespace `{ns}`"));
        }
        text.push(')');
        text
    }

    async fn login(&self, source: &str) -> Result<Secret, LoginFailure> {
        let (body, secrets) = self.login_body().await?;
        let url = join_path(
            &self.address,
            &format!("v1/auth/{}/login", self.login.mount),
        );
        let mut call = Call::post(source, url)
            .json(body.into())
            .timeout(AUTH_REQUEST_TIMEOUT)
            .quiet_answers();
        if let Some(ns) = self.namespace_header() {
            call = call.header("x-vault-namespace", ns);
        }
        let answer = self
            .http
            .fetch(&call, |response| {
                read_secret_json::<LoginAnswer>(response, LOGIN_BODY_LIMIT, "a Vault login answer")
            })
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => return Err(self.classify(&e, &secrets)),
        };
        let Some(auth) = answer.auth.filter(|a| !a.client_token.is_empty()) else {
            return Err(LoginFailure::Unavailable(format!(
                "{}: Vault answered without a client token (`auth.client_token`); is the address a Vault server?",
                self.describe()
            )));
        };
        let token = Secret::new(auth.client_token);
        token.header_value("").map_err(|m| {
            LoginFailure::Unavailable(format!("{}: the token Vault issued: {m}", self.describe()))
        })?;
        tracing::info!(
            source,
            method = self.login.method.name(),
            mount = %self.login.mount,
            role = self.login.method.role().unwrap_or(""),
            namespace = self.login.namespace.as_deref().unwrap_or(""),
            policies = %auth.policies.join(","),
            lease_duration_s = auth.lease_duration,
            "Logged in to Vault."
        );
        Ok(token)
    }

    /// The JSON body of the login, and the secret values it carries (to keep them out of any
    /// message built from Vault's answer).
    async fn login_body(&self) -> Result<(Vec<u8>, Vec<Secret>), LoginFailure> {
        let (value, secret) = match &self.login.method {
            LoginMethod::Kubernetes { role, token_file }
            | LoginMethod::Jwt { role, token_file } => {
                let jwt = read_token_file(token_file)
                    .await
                    .map_err(|m| LoginFailure::Refused(format!("{}: {m}", self.describe())))?;
                (
                    serde_json::json!({ "role": role, "jwt": jwt.expose() }),
                    vec![jwt],
                )
            }
            LoginMethod::AppRole {
                role_id, secret_id, ..
            } => (
                serde_json::json!({ "role_id": role_id.expose(), "secret_id": secret_id.expose() }),
                vec![role_id.clone(), secret_id.clone()],
            ),
        };
        Ok((value.to_string().into_bytes(), secret))
    }

    fn namespace_header(&self) -> Option<HeaderValue> {
        // Checked when the login was prepared.
        self.login
            .namespace
            .as_deref()
            .and_then(|ns| HeaderValue::from_str(ns).ok())
    }

    fn classify(&self, error: &HttpError, secrets: &[Secret]) -> LoginFailure {
        if let HttpError::InvalidBody { .. } = error {
            // The body may hold the issued token: never quote it.
            return LoginFailure::Unavailable(format!(
                "{}: the answer is not a Vault login answer (a JSON document with `auth.client_token`); check that `address` points at Vault itself, not at a proxy or another service",
                self.describe()
            ));
        }
        let HttpError::Status { status, body, .. } = error else {
            return LoginFailure::Unavailable(redact(
                &format!("{}: {error}", self.describe()),
                secrets,
            ));
        };
        if status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS {
            return LoginFailure::Unavailable(redact(
                &format!("{}: {error}", self.describe()),
                secrets,
            ));
        }
        let said = vault_errors(body);
        let hint = self.hint(*status, &said.to_ascii_lowercase());
        LoginFailure::Refused(redact(
            &format!(
                "{} refused: HTTP {}: {said}. {hint}",
                self.describe(),
                status.as_u16()
            ),
            secrets,
        ))
    }

    /// What to check, from what Vault said.
    fn hint(&self, status: StatusCode, said: &str) -> String {
        let mount = &self.login.mount;
        let role = self.login.method.role().unwrap_or_default();
        let method = &self.login.method;
        let in_namespace = self
            .login
            .namespace
            .as_ref()
            .map(|ns| format!(" in namespace `{ns}`"))
            .unwrap_or_default();
        if said.contains("could not be found") || said.contains("invalid role name") {
            return format!(
                "Vault has no role `{role}` on auth/{mount}{in_namespace}: check `auth.role`, `auth.mount` and the namespace, or create the role."
            );
        }
        if said.contains("audience") {
            return match method {
                LoginMethod::Kubernetes { .. } => format!(
                    "The service-account token's audience is not the one role `{role}` expects: project the token with the role's `audience` (the chart's `vault.auth.audience`), or change the role's audience."
                ),
                _ => format!(
                    "The JWT's audience (aud) is not in role `{role}`'s bound_audiences: issue the token for that audience, or change the role."
                ),
            };
        }
        if said.contains("signature") {
            return format!(
                "The JWT's signature does not verify against the keys of auth/{mount} (jwt_validation_pubkeys, jwks_url or oidc_discovery_url): check that `auth.token_file` holds a token from the issuer the mount trusts."
            );
        }
        if let LoginMethod::AppRole {
            role_id_env,
            secret_id_env,
            ..
        } = method
            && (said.contains("invalid role or secret id")
                || said.contains("invalid secret id")
                || said.contains("invalid role id"))
        {
            return format!(
                "Check the role ID in {role_id_env} and the secret ID in {secret_id_env} (or their _FILE): a secret ID can expire, run out of uses, or belong to another role."
            );
        }
        if said.contains("claim") {
            return format!(
                "The token's claims do not match role `{role}`'s bound claims (bound_subject, bound_claims): check the role against the token's issuer."
            );
        }
        if said.contains("could not load configuration") || said.contains("not configured") {
            return format!(
                "auth/{mount}{in_namespace} is not configured yet (kubernetes_host, or the JWT keys): configure the auth method."
            );
        }
        if status == StatusCode::FORBIDDEN {
            return match method {
                LoginMethod::Kubernetes { .. } => format!(
                    "Check that role `{role}` binds this pod's service account and namespace (bound_service_account_names, bound_service_account_namespaces), that Vault can call the cluster's TokenReview API, and that auth/{mount} exists{in_namespace}."
                ),
                _ => format!(
                    "Check that auth/{mount} exists{in_namespace} (`auth.mount`, the namespace) and that the role allows this login (bound CIDRs, bindings)."
                ),
            };
        }
        format!(
            "Check `auth.mount` (auth/{mount}){in_namespace} and the role's settings on the Vault side."
        )
    }

    /// Revokes the token if this session obtained one; logs the outcome, never the token.
    async fn revoke(&self) {
        let Some(Ok(token)) = self.token.get() else {
            return;
        };
        let Ok(token_header) = token.header_value("") else {
            return;
        };
        let url = join_path(&self.address, REVOKE_SELF_PATH);
        let mut call = Call::post("vault-auth", url)
            .header("x-vault-token", token_header)
            .timeout(AUTH_REQUEST_TIMEOUT);
        if let Some(ns) = self.namespace_header() {
            call = call.header("x-vault-namespace", ns);
        }
        match self.http.send(&call).await {
            Ok(_) => tracing::info!(
                method = self.login.method.name(),
                mount = %self.login.mount,
                namespace = self.login.namespace.as_deref().unwrap_or(""),
                "Revoked the run's Vault token."
            ),
            Err(e) => tracing::warn!(
                method = self.login.method.name(),
                mount = %self.login.mount,
                namespace = self.login.namespace.as_deref().unwrap_or(""),
                error = %redact(&e.to_string(), std::slice::from_ref(token)),
                "Could not revoke the run's Vault token; it expires with its TTL."
            ),
        }
    }
}

/// The part of a login answer rollcall reads. No `Debug`: it holds the token.
#[derive(Deserialize)]
struct LoginAnswer {
    #[serde(default)]
    auth: Option<LoginAuth>,
}

#[derive(Deserialize)]
struct LoginAuth {
    client_token: String,
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    lease_duration: u64,
}

/// Reads a JWT from its file, trimmed; a missing, unreadable or empty file says which.
async fn read_token_file(path: &Path) -> Result<Secret, String> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| unreadable_token_file(path, &e))?;
    let jwt = text.trim();
    if jwt.is_empty() {
        return Err(format!(
            "the token file {} (`auth.token_file`) is empty",
            path.display()
        ));
    }
    Ok(Secret::new(jwt))
}

/// Vault's `{"errors":[...]}` as one line, or a snippet of whatever came instead.
fn vault_errors(body: &str) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<String>,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(Errors { errors }) if !errors.is_empty() => snippet(
            &errors
                .iter()
                .map(|e| {
                    // Go's multi-error text: "1 error occurred:\n\t* permission denied\n\n".
                    e.lines()
                        .map(|l| l.trim().trim_start_matches("* "))
                        .filter(|l| !l.is_empty() && !l.ends_with("error occurred:"))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Ok(_) => "(no error message)".to_owned(),
        Err(_) => snippet(body),
    }
}

/// `text` with every secret value replaced: Vault's answers should not echo a credential, but
/// a proxy's error page might.
fn redact(text: &str, secrets: &[Secret]) -> String {
    secrets
        .iter()
        .map(Secret::expose)
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |text, secret| {
            text.replace(secret, "[redacted]")
        })
}

#[cfg(test)]
mod tests;
