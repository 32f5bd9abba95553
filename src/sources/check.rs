//! The vocabulary of `rollcall check`: what one target's live check found. Each kind's own
//! check (in its folder) makes one minimal call per thing the run needs and answers with a
//! [`Checked`]; the command (`crate::check`) runs them and prints one line per target.

use crate::http::{HttpError, snippet};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use std::fmt;
use std::future::Future;
use std::time::Duration;

/// A check's result code, in the spirit of CloudQuery's `test-connection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckCode {
    Ok,
    /// No answer: DNS, connection refused, timeout.
    Unreachable,
    /// The TLS handshake failed: an untrusted or wrong certificate.
    Tls,
    /// The credential itself was refused (missing, wrong, expired).
    Unauthorized,
    /// The credential is valid but lacks a permission the run needs.
    Forbidden,
    /// What the spec points at does not exist: a path, a bucket, an API.
    NotFound,
    /// Anything else: an answer the check does not recognise.
    Other,
}

impl CheckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckCode::Ok => "ok",
            CheckCode::Unreachable => "unreachable",
            CheckCode::Tls => "tls",
            CheckCode::Unauthorized => "unauthorized",
            CheckCode::Forbidden => "forbidden",
            CheckCode::NotFound => "not_found",
            CheckCode::Other => "other",
        }
    }

    /// Whether fixing it is configuration work (a credential, a permission, a setting) rather
    /// than waiting for a target to come back.
    pub fn is_configuration(self) -> bool {
        matches!(
            self,
            CheckCode::Tls | CheckCode::Unauthorized | CheckCode::Forbidden | CheckCode::NotFound
        )
    }
}

impl fmt::Display for CheckCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What checking one target found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub code: CheckCode,
    /// What was checked (when ok) or what failed, in words.
    pub summary: String,
    /// What to do about it; `None` when ok.
    pub fix: Option<String>,
    /// Facts worth knowing that do not fail the check.
    pub notes: Vec<String>,
}

impl Checked {
    pub fn ok(summary: impl Into<String>) -> Self {
        Self {
            code: CheckCode::Ok,
            summary: summary.into(),
            fix: None,
            notes: Vec::new(),
        }
    }

    pub fn failed(code: CheckCode, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            code,
            summary: summary.into(),
            fix: Some(fix.into()),
            notes: Vec::new(),
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// A failed HTTP call, classified by what the answer says; `fixes` gives the kind's own
    /// advice for each code (called only for failures).
    pub fn from_http(error: &HttpError, fixes: impl Fn(CheckCode) -> String) -> Self {
        let code = code_of(error);
        let summary = match error {
            HttpError::Status {
                method,
                path,
                status,
                body,
                ..
            } => format!("{method} {path} answered HTTP {status}: {}", snippet(body)),
            other => other.to_string(),
        };
        Self::failed(code, summary, fixes(code))
    }
}

/// The code an HTTP failure means, before any kind-specific reading of the answer.
pub fn code_of(error: &HttpError) -> CheckCode {
    match error {
        HttpError::Status { status, .. } => match *status {
            StatusCode::UNAUTHORIZED => CheckCode::Unauthorized,
            StatusCode::FORBIDDEN => CheckCode::Forbidden,
            StatusCode::NOT_FOUND => CheckCode::NotFound,
            _ => CheckCode::Other,
        },
        HttpError::Transport { .. } if error.is_certificate_problem() => CheckCode::Tls,
        HttpError::Transport { .. } => CheckCode::Unreachable,
        HttpError::InvalidBody { .. } | HttpError::WaitTooLong { .. } | HttpError::Setup(_) => {
            CheckCode::Other
        }
    }
}

/// Advice shared by every kind for the codes that mean the same thing everywhere.
pub fn common_fix(code: CheckCode, what: &str, setting: &str) -> String {
    match code {
        CheckCode::Unreachable => format!(
            "check that {what} is reachable from here (DNS, firewall, proxy) and that `{setting}` is right"
        ),
        CheckCode::Tls => format!(
            "the TLS certificate of {what} is not trusted: check `{setting}`, and give an internal CA with the source's CA setting or SSL_CERT_FILE"
        ),
        CheckCode::NotFound => {
            format!("check `{setting}`: it should point at {what} itself, with no extra path")
        }
        _ => format!(
            "check `{setting}` and that nothing between here and {what} (a proxy) changes the answers"
        ),
    }
}

/// `rollcall check` for a prepared source: one minimal live call per thing its run needs,
/// fetching nothing beyond it. Lives in each kind's `check.rs`.
pub trait Check {
    fn check(&self, ctx: &CheckContext) -> impl Future<Output = Checked> + Send;
}

/// What a kind's check gets from the command.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext {
    /// The source's deadline in a run (its `timeout` or the job's `source_timeout`).
    pub deadline: Duration,
    /// The run's "now".
    pub now: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Method;

    fn status(code: u16) -> HttpError {
        HttpError::Status {
            method: Method::GET,
            path: "/x".into(),
            status: StatusCode::from_u16(code).unwrap(),
            body: "{\"message\":\"no\"}".into(),
            attempts: 1,
        }
    }

    fn transport(cause: &str) -> HttpError {
        HttpError::Transport {
            method: Method::GET,
            path: "/x".into(),
            cause: cause.into(),
            attempts: 1,
        }
    }

    #[test]
    fn answers_map_to_codes_and_configuration_problems_are_told_apart() {
        assert_eq!(code_of(&status(401)), CheckCode::Unauthorized);
        assert_eq!(code_of(&status(403)), CheckCode::Forbidden);
        assert_eq!(code_of(&status(404)), CheckCode::NotFound);
        assert_eq!(code_of(&status(500)), CheckCode::Other);
        assert_eq!(
            code_of(&transport("error sending request: connection refused")),
            CheckCode::Unreachable
        );
        assert_eq!(
            code_of(&transport("invalid peer certificate: UnknownIssuer")),
            CheckCode::Tls
        );
        for code in [
            CheckCode::Tls,
            CheckCode::Unauthorized,
            CheckCode::Forbidden,
            CheckCode::NotFound,
        ] {
            assert!(code.is_configuration(), "{code}");
        }
        for code in [CheckCode::Ok, CheckCode::Unreachable, CheckCode::Other] {
            assert!(!code.is_configuration(), "{code}");
        }
        let checked = Checked::from_http(&status(403), |code| format!("fix {code}"));
        assert_eq!(checked.fix.as_deref(), Some("fix forbidden"));
        assert!(checked.summary.contains("HTTP 403"), "{}", checked.summary);
    }
}
