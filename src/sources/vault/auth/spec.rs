//! The `auth` settings of a Vault source: the login methods, their defaults and their checks.

use super::*;

/// `auth:` of a Vault source: how rollcall logs in. Without it, the token of `token_env` is used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuthSpec {
    /// The static token of `token_env` (or its `_FILE`), as without `auth`.
    Token {},
    /// The pod's service-account token, checked by Vault with the cluster's TokenReview API.
    Kubernetes {
        /// The Vault role to log in as (`auth/<mount>/role/<role>`).
        role: String,
        /// Where the Kubernetes auth method is mounted. Default `kubernetes`.
        #[serde(default = "default_kubernetes_mount")]
        mount: String,
        /// The service-account token, read again at each login (Kubernetes rotates projected
        /// tokens). Default: the standard `/var/run/secrets/kubernetes.io/serviceaccount/token`.
        #[serde(default = "default_service_account_token")]
        token_file: PathBuf,
        /// Namespace the auth method is mounted in. Default: the source's `namespace`.
        #[serde(default)]
        namespace: Option<String>,
    },
    /// A JWT from a file (a projected service-account token, a CI identity token...), checked
    /// by Vault against the mount's keys.
    Jwt {
        /// The Vault role to log in as (`auth/<mount>/role/<role>`).
        role: String,
        /// Where the JWT auth method is mounted. Default `jwt`.
        #[serde(default = "default_jwt_mount")]
        mount: String,
        /// The file holding the JWT, read again at each login.
        token_file: PathBuf,
        /// Namespace the auth method is mounted in. Default: the source's `namespace`.
        #[serde(default)]
        namespace: Option<String>,
    },
    /// An AppRole: a role ID and a secret ID, each from a variable or its `_FILE`.
    Approle {
        /// The variable holding the role ID (or `<it>_FILE` naming a file).
        role_id_env: String,
        /// The variable holding the secret ID (or `<it>_FILE` naming a file).
        secret_id_env: String,
        /// Where the AppRole auth method is mounted. Default `approle`.
        #[serde(default = "default_approle_mount")]
        mount: String,
        /// Namespace the auth method is mounted in. Default: the source's `namespace`.
        #[serde(default)]
        namespace: Option<String>,
    },
}

pub(super) fn default_kubernetes_mount() -> String {
    "kubernetes".to_owned()
}
pub(super) fn default_jwt_mount() -> String {
    "jwt".to_owned()
}
pub(super) fn default_approle_mount() -> String {
    "approle".to_owned()
}
pub(super) fn default_service_account_token() -> PathBuf {
    PathBuf::from(DEFAULT_SERVICE_ACCOUNT_TOKEN)
}

impl AuthSpec {
    /// Checks what can be checked without the environment; `at` is the `auth` key.
    pub fn validate(&self, at: &KeyPath, problems: &mut Problems<'_>) {
        match self {
            AuthSpec::Token {} => {}
            AuthSpec::Kubernetes {
                role,
                mount,
                token_file,
                ..
            }
            | AuthSpec::Jwt {
                role,
                mount,
                token_file,
                ..
            } => {
                check_role(problems, &at.key("role"), role);
                check_mount(problems, &at.key("mount"), mount);
                if token_file.as_os_str().is_empty() {
                    problems.add(&at.key("token_file"), "must name a file");
                }
            }
            AuthSpec::Approle {
                role_id_env,
                secret_id_env,
                mount,
                ..
            } => {
                check_env_name(problems, &at.key("role_id_env"), role_id_env);
                check_env_name(problems, &at.key("secret_id_env"), secret_id_env);
                if role_id_env == secret_id_env {
                    problems.add(
                        &at.key("secret_id_env"),
                        "must differ from `role_id_env`: the role ID and the secret ID are two values",
                    );
                }
                check_mount(problems, &at.key("mount"), mount);
            }
        }
    }

    /// The login this spec asks for, with its secrets read from `env`; `None` for `token`.
    /// Nothing is sent yet. `source_namespace` is the source's own namespace (already resolved).
    pub fn prepare(
        &self,
        source: &str,
        env: &Environment,
        source_namespace: Option<&str>,
    ) -> Result<Option<LoginSpec>, ConfigError> {
        let fail = |message: String| ConfigError::Source {
            source_name: source.to_owned(),
            message,
        };
        let namespace = |own: &Option<String>| {
            own.as_deref()
                .map(|ns| ns.trim_matches('/'))
                .or(source_namespace)
                .filter(|ns| !ns.is_empty())
                .map(str::to_owned)
        };
        // Each method's own settings; the mount and namespace are read the same way for all.
        let (mount, own, method) = match self {
            AuthSpec::Token {} => return Ok(None),
            AuthSpec::Kubernetes {
                role,
                mount,
                token_file,
                namespace,
            } => {
                check_token_file(token_file).map_err(fail)?;
                let method = LoginMethod::Kubernetes {
                    role: role.clone(),
                    token_file: token_file.clone(),
                };
                (mount, namespace, method)
            }
            AuthSpec::Jwt {
                role,
                mount,
                token_file,
                namespace,
            } => {
                check_token_file(token_file).map_err(fail)?;
                let method = LoginMethod::Jwt {
                    role: role.clone(),
                    token_file: token_file.clone(),
                };
                (mount, namespace, method)
            }
            AuthSpec::Approle {
                role_id_env,
                secret_id_env,
                mount,
                namespace,
            } => {
                let method = LoginMethod::AppRole {
                    role_id_env: role_id_env.clone(),
                    role_id: env.secret(source, role_id_env)?,
                    secret_id_env: secret_id_env.clone(),
                    secret_id: env.secret(source, secret_id_env)?,
                };
                (mount, namespace, method)
            }
        };
        let login = LoginSpec {
            mount: clean_mount(mount),
            namespace: namespace(own),
            method,
        };
        if let Some(ns) = &login.namespace {
            HeaderValue::from_str(ns)
                .map_err(|_| fail(format!("namespace `{ns}` is not a valid header value")))?;
        }
        Ok(Some(login))
    }
}

pub(super) fn check_role(problems: &mut Problems<'_>, key: &KeyPath, role: &str) {
    if role.trim().is_empty() {
        problems.add(key, "must name the Vault role to log in as");
    } else if role.chars().any(char::is_control) {
        problems.add(key, "must not contain control characters");
    }
}

/// A mount is a path below `auth/`: segments of letters, digits, `-`, `_` and `.`, never `.` or
/// `..` alone (Vault 2.0 refuses such paths, and they would point at another route).
pub(super) fn check_mount(problems: &mut Problems<'_>, key: &KeyPath, mount: &str) {
    let segments: Vec<&str> = mount.split('/').filter(|s| !s.is_empty()).collect();
    let ok = !segments.is_empty()
        && segments.iter().all(|s| {
            *s != "."
                && *s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if !ok {
        problems.add(
            key,
            format!(
                "`{mount}` is not an auth mount path; give the path below auth/, e.g. `kubernetes` or `k8s/prod`"
            ),
        );
    }
}

pub(super) fn clean_mount(mount: &str) -> String {
    mount
        .split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// The file must be readable now (so `validate` catches a missing mount); it is read again at
/// the login itself.
pub(super) fn check_token_file(path: &Path) -> Result<(), String> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| unreadable_token_file(path, &e))
}

pub(super) fn unreadable_token_file(path: &Path, error: &std::io::Error) -> String {
    format!(
        "cannot read the token file {} (`auth.token_file`): {error}; in Kubernetes, mount a projected service-account token there (the chart does when `auth.method` is kubernetes or jwt)",
        path.display()
    )
}
