//! The environment: the binary's own `ROLLCALL_*` settings (read with envy) and each source's
//! secret, from the variable its spec names or from the file named by `<that variable>_FILE`.

use super::ConfigError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A snapshot of the process environment, taken once so tests can pass their own.
#[derive(Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

// Values may be secrets: Debug lists names only.
impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human text on a terminal, JSON lines otherwise.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// The binary's settings from `ROLLCALL_*` variables. A command-line flag beats each of them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Settings {
    /// `ROLLCALL_CONFIG`: path of the job spec.
    pub config: Option<PathBuf>,
    /// `ROLLCALL_LOG_FORMAT`: `auto` (default), `json` or `text`.
    pub log_format: Option<LogFormat>,
    /// `ROLLCALL_LOG`: a tracing filter such as `info` or `rollcall=debug`. Default `info`.
    pub log: Option<String>,
    /// `ROLLCALL_OUTPUT`: replaces the spec's `output.url`.
    pub output: Option<String>,
    /// `ROLLCALL_RUN_ID`: the run id used in keys (default: start time plus random suffix).
    pub run_id: Option<String>,
    /// `ROLLCALL_NOW`: pin the run's "now" (RFC 3339), to re-run a missed period or for tests.
    pub now: Option<String>,
}

impl Environment {
    /// Snapshot of this process's environment. Variables whose name or value is not UTF-8 are
    /// skipped: none that rollcall reads can be such.
    pub fn from_process() -> Self {
        Self::from_pairs(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value; an empty value counts as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// All variables, for crates that read the standard environment themselves (AWS_*).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The `ROLLCALL_*` settings.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        envy::prefixed("ROLLCALL_")
            .from_iter::<_, Settings>(
                self.vars
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.clone())),
            )
            .map_err(|e| {
                ConfigError::Environment(format!(
                    "a ROLLCALL_* variable is invalid: {e} (ROLLCALL_LOG_FORMAT takes auto, json or text)"
                ))
            })
    }

    /// Reads a source's secret from `var`, or from the file named by `<var>_FILE`.
    pub fn secret(&self, source: &str, var: &str) -> Result<Secret, ConfigError> {
        let file_var = format!("{var}_FILE");
        let fail = |message: String| ConfigError::Source {
            source_name: source.to_owned(),
            message,
        };
        let value = match (self.get(var), self.get(&file_var)) {
            (Some(_), Some(_)) => {
                return Err(fail(format!(
                    "both {var} and {file_var} are set; set only one"
                )));
            }
            (Some(value), None) => value.to_owned(),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    fail(format!(
                        "cannot read the secret file {path} named by {file_var}: {e}"
                    ))
                })?;
                text.trim_end_matches(['\n', '\r']).to_owned()
            }
            (None, None) => {
                return Err(fail(format!(
                    "the credential is missing: set {var}, or {file_var} to a file holding it"
                )));
            }
        };
        if value.is_empty() {
            return Err(fail(format!(
                "the credential in {var} or {file_var} is empty"
            )));
        }
        // A header can't carry control characters; say so without echoing the value.
        if value.chars().any(|c| c.is_control()) {
            return Err(fail(format!(
                "the credential in {var} or {file_var} contains a control character or line break"
            )));
        }
        Ok(Secret(SecretString::from(value)))
    }
}

/// A credential. Its `Debug` and `Display` never show the value.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The value as an HTTP header marked sensitive, so reqwest and hyper never print it.
    pub fn header_value(&self, prefix: &str) -> Result<reqwest::header::HeaderValue, String> {
        let mut value =
            reqwest::header::HeaderValue::from_str(&format!("{prefix}{}", self.expose()))
                .map_err(|_| "the credential is not a valid HTTP header value".to_owned())?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_from_variable_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let env = Environment::from_pairs([
            ("A_TOKEN", "direct"),
            ("B_TOKEN_FILE", file.to_str().unwrap()),
        ]);
        assert_eq!(env.secret("s", "A_TOKEN").unwrap().expose(), "direct");
        assert_eq!(env.secret("s", "B_TOKEN").unwrap().expose(), "from-file");
        let missing = env.secret("s", "C_TOKEN").unwrap_err().to_string();
        assert!(missing.contains("C_TOKEN_FILE"), "{missing}");
    }

    #[test]
    fn secrets_never_print() {
        let env = Environment::from_pairs([("T", "hunter2-very-secret")]);
        let secret = env.secret("s", "T").unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{env:?}").contains("hunter2"));
        let both = Environment::from_pairs([("T", "hunter2"), ("T_FILE", "/x")]);
        assert!(
            !both
                .secret("s", "T")
                .unwrap_err()
                .to_string()
                .contains("hunter2")
        );
        let bad = Environment::from_pairs([("T", "line\nbreak-hunter2")]);
        assert!(
            !bad.secret("s", "T")
                .unwrap_err()
                .to_string()
                .contains("hunter2")
        );
    }

    #[test]
    fn settings_from_rollcall_variables() {
        let env = Environment::from_pairs([
            ("ROLLCALL_CONFIG", "/etc/rollcall/job.yaml"),
            ("ROLLCALL_LOG_FORMAT", "json"),
            ("ROLLCALL_OUTPUT", ""),
        ]);
        let s = env.settings().unwrap();
        assert_eq!(s.config.unwrap(), PathBuf::from("/etc/rollcall/job.yaml"));
        assert_eq!(s.log_format, Some(LogFormat::Json));
        assert!(s.output.is_none());
        let bad = Environment::from_pairs([("ROLLCALL_LOG_FORMAT", "xml")]);
        assert!(bad.settings().is_err());
    }
}
