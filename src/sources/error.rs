//! How a source fails, by meaning; and the one place an HTTP failure becomes such a failure.

use crate::http::HttpError;
use crate::report::ReportError;
use reqwest::StatusCode;
use std::time::Duration;

/// Why a source failed. The run records the message in the manifest; a failure no retry can
/// fix also decides the exit status (2 when no source can succeed by running again).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The API refused the credential: fixing it is configuration work, not a retry.
    #[error("credentials rejected: {0}")]
    Credentials(String),
    /// A request failed after every retry the HTTP layer allows; `message` says what was being
    /// fetched and what to do.
    #[error("{message}")]
    Fetch {
        message: String,
        #[source]
        error: HttpError,
    },
    /// The API answered with data the source cannot use, or cannot trust.
    #[error("{0}")]
    Data(String),
    /// The spec cannot work as written, or the data rules out a safe result (an empty window,
    /// a cleanup file withheld): a retry would end the same way.
    #[error("{0}")]
    Unfixable(String),
    /// The fetch did not finish within the source's deadline.
    #[error(
        "did not finish within its deadline of {}; raise `timeout` on the source or `source_timeout`",
        humantime::format_duration(*.0)
    )]
    Deadline(Duration),
    /// A report could not be written to the output.
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// Said of every request that found no server to talk to, whichever the source.
const UNREACHABLE_HINT: &str = "; check that the server is reachable from here: its address in the spec, DNS, a firewall or a proxy on the way";

/// What a source says when its API refuses the credential. [`SourceError::from_http`] puts it
/// in the same words for every source.
pub struct Refusal<'a> {
    /// The API as its users name it, e.g. `Vault`.
    pub api: &'static str,
    /// What was refused, e.g. `the export of 2026-03`.
    pub refused: String,
    /// The environment variable the token came from.
    pub token_env: &'a str,
    /// What the token must be, or be allowed to do.
    pub needs: String,
}

impl SourceError {
    /// The one place an HTTP failure becomes a source error, for every source:
    ///
    /// - HTTP 401 and 403 mean the credential was refused: the message names the request, the
    ///   answer (`detail` describes the error body in the API's own terms), the token variable
    ///   and what the source says the token needs ([`Refusal`]);
    /// - a body that is not what the API documents is bad data;
    /// - a connection that could not be made gets the same reachability hint for every source;
    /// - anything else failed after every retry; `failed` says what was being fetched.
    pub fn from_http<'a>(
        error: HttpError,
        detail: fn(&str) -> String,
        refusal: impl FnOnce() -> Refusal<'a>,
        failed: impl FnOnce(&HttpError) -> String,
    ) -> Self {
        match &error {
            HttpError::Status {
                method,
                path,
                status,
                body,
                ..
            } if *status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN => {
                let Refusal {
                    api,
                    refused,
                    token_env,
                    needs,
                } = refusal();
                SourceError::Credentials(format!(
                    "{api} refused {refused} ({method} {path}: HTTP {status}, {}). Check {token_env} (or {token_env}_FILE): {needs}",
                    detail(body)
                ))
            }
            HttpError::InvalidBody { .. } => SourceError::Data(failed(&error)),
            HttpError::Transport { .. } => SourceError::Fetch {
                message: format!("{}{UNREACHABLE_HINT}", failed(&error)),
                error,
            },
            _ => SourceError::Fetch {
                message: failed(&error),
                error,
            },
        }
    }

    /// Only a person can fix this (the credential, the spec, the data): Kubernetes should not
    /// retry.
    pub fn retry_cannot_fix(&self) -> bool {
        matches!(
            self,
            SourceError::Credentials(_) | SourceError::Unfixable(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::describe_body;
    use reqwest::Method;

    fn status(status: u16, body: &str) -> HttpError {
        HttpError::Status {
            method: Method::GET,
            path: "/v1/export".into(),
            status: StatusCode::from_u16(status).unwrap(),
            body: body.into(),
            attempts: 1,
        }
    }

    fn source_error(error: HttpError, token_env: &str) -> SourceError {
        SourceError::from_http(
            error,
            describe_body,
            || Refusal {
                api: "Vault",
                refused: "the export".into(),
                token_env,
                needs: "a valid token".into(),
            },
            |e| format!("export: {e}"),
        )
    }

    #[test]
    fn every_source_words_the_same_failure_the_same_way() {
        let page = "<!DOCTYPE html><html><head><title>Sign in - Corp SSO</title></head><body>...";
        for error in [status(502, page), status(401, page)] {
            let message = source_error(error, "VAULT_TOKEN").to_string();
            assert!(
                message.contains("an HTML page (`Sign in - Corp SSO`), likely from a proxy"),
                "{message}"
            );
            assert!(!message.contains("<html"), "{message}");
        }

        let refused = source_error(status(403, "{\"errors\":[]}"), "VAULT_B_TOKEN");
        assert!(matches!(refused, SourceError::Credentials(_)));
        assert!(
            refused
                .to_string()
                .contains("Check VAULT_B_TOKEN (or VAULT_B_TOKEN_FILE): a valid token"),
            "{refused}"
        );

        let unreachable = source_error(
            HttpError::Transport {
                method: Method::GET,
                path: "/v1/export".into(),
                cause: "could not connect: Connection refused".into(),
                attempts: 6,
            },
            "VAULT_TOKEN",
        );
        assert_eq!(
            unreachable.to_string(),
            format!(
                "export: GET /v1/export failed after 6 attempt(s): could not connect: Connection refused{UNREACHABLE_HINT}"
            )
        );
    }
}
