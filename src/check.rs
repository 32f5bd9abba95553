//! `rollcall check`: everything `validate` does, then one minimal live call per target (each
//! source, and the output), fetching nothing beyond it. Each kind's own check lives with the
//! kind; this module runs them all at once, checks the output, prints one line per target with
//! its result code and the fix, and decides the exit status: fix a setting (2), or wait for a
//! target to come back (1).

use crate::config::ConfigError;
use crate::output::{KeyValues, Output, OutputError, StoreRetries};
use crate::run::{self, ExitStatus, RunOptions};
use crate::sources::check::{CheckCode, CheckContext, Checked};
use crate::sources::vault::Logins;
use futures::future::join_all;

/// Retries per call in a check, at most (the spec's `http.max_retries` if lower).
const CHECK_RETRIES: u32 = 1;

/// The target name of the output in the check's lines.
pub const OUTPUT_TARGET: &str = "output";

/// What was checked for one target.
#[derive(Debug, Clone)]
pub struct TargetCheck {
    /// The source's name, or `output`.
    pub target: String,
    /// The source's kind, or the output's location.
    pub what: String,
    pub checked: Checked,
}

/// Every target's result, in spec order, the output last.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub job: String,
    pub targets: Vec<TargetCheck>,
}

impl CheckReport {
    /// 0 when every target passed; 2 when any credential, permission or setting is wrong (a
    /// retry cannot fix those, so they win); 1 when a target is unreachable or answered in a way
    /// the check does not recognise.
    pub fn status(&self) -> ExitStatus {
        let codes = || self.targets.iter().map(|t| t.checked.code);
        if codes().any(CheckCode::is_configuration) {
            ExitStatus::Config
        } else if codes().any(|c| c != CheckCode::Ok) {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        }
    }

    /// One line per target, `code  target (what): summary; fix: …`, then a summary line.
    pub fn render(&self) -> String {
        let width = self
            .targets
            .iter()
            .map(|t| t.target.len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for t in &self.targets {
            let c = &t.checked;
            out.push_str(&format!(
                "{:<12} {:<width$}  ({}) {}",
                c.code.as_str(),
                t.target,
                t.what,
                c.summary
            ));
            for note in &c.notes {
                out.push_str(&format!("; note: {note}"));
            }
            if let Some(fix) = &c.fix {
                out.push_str(&format!("; fix: {fix}"));
            }
            out.push('\n');
        }
        let failed: Vec<&TargetCheck> = self
            .targets
            .iter()
            .filter(|t| t.checked.code != CheckCode::Ok)
            .collect();
        let total = self.targets.len();
        if failed.is_empty() {
            out.push_str(&format!(
                "rollcall check: job `{}`: all {total} targets ok",
                self.job
            ));
        } else {
            let names: Vec<String> = failed
                .iter()
                .map(|t| format!("{} {}", t.target, t.checked.code))
                .collect();
            let next = match self.status() {
                ExitStatus::Config => "fix what is named above, then run check again",
                _ => "run check again once the unreachable targets answer",
            };
            out.push_str(&format!(
                "rollcall check: job `{}`: {} of {total} targets failed ({}); {next}",
                self.job,
                failed.len(),
                names.join(", ")
            ));
        }
        out
    }
}

/// Validates the spec and environment (a failure there is a configuration error, as for
/// `validate`), then checks every selected source and the output concurrently.
pub async fn check(options: &RunOptions) -> Result<CheckReport, ConfigError> {
    // Logins are made when a check first needs the token, and revoked once all are done.
    let logins = Logins::default();
    // A check answers in seconds: one retry rides out a blip, more would only delay the answer.
    let (spec, sources, _) = run::prepare_with_retries(options, &logins, Some(CHECK_RETRIES))?;
    let now = options.clock.now();
    let source_checks = spec.sources.iter().zip(&sources).map(|(spec_of, source)| {
        let ctx = CheckContext {
            deadline: spec.deadline_of(spec_of),
            now,
        };
        async move {
            TargetCheck {
                target: spec_of.name().to_owned(),
                what: spec_of.kind().to_owned(),
                checked: source.check(&ctx).await,
            }
        }
    });
    let values = KeyValues {
        job: spec.job.clone(),
        date: now.format("%Y-%m-%d").to_string(),
        run_id: "check".to_owned(),
        shard: "all".to_owned(),
    };
    let output_check = async {
        let retries = StoreRetries {
            max_retries: spec.http.max_retries,
            backoff_base: spec.http.backoff_base,
            backoff_max: spec.http.backoff_max,
        };
        match Output::open(&spec.output, options.output.as_deref(), values, retries) {
            Ok(output) => TargetCheck {
                target: OUTPUT_TARGET.to_owned(),
                what: output.location().to_owned(),
                checked: check_output(&output).await,
            },
            Err(e) => TargetCheck {
                target: OUTPUT_TARGET.to_owned(),
                what: options
                    .output
                    .clone()
                    .or_else(|| spec.output.url.clone())
                    .unwrap_or_else(|| "./reports".to_owned()),
                checked: output_failure(&e),
            },
        }
    };
    let (mut targets, output) = tokio::join!(join_all(source_checks), output_check);
    logins.revoke_all().await;
    targets.push(output);
    Ok(CheckReport {
        job: spec.job.clone(),
        targets,
    })
}

async fn check_output(output: &Output) -> Checked {
    match output.probe().await {
        Ok(probe) => match probe.deleted {
            Ok(()) => Checked::ok(format!(
                "listed the output, created {} create-only and deleted it again",
                probe.key
            )),
            Err(e) => Checked::ok(format!(
                "listed the output and created {} create-only, as a run writes",
                probe.key
            ))
            .with_note(format!(
                "could not delete the probe ({e}); runs never delete, so this is fine, but remove the probe by hand"
            )),
        },
        Err(e) => output_failure(&e),
    }
}

/// The code and fix of an output failure, from what the store answered.
fn output_failure(error: &OutputError) -> Checked {
    let text = error.to_string();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let code = match error {
        OutputError::Store { cause, .. } => match cause.as_ref() {
            object_store::Error::Unauthenticated { .. } => CheckCode::Unauthorized,
            object_store::Error::NotImplemented { .. } => CheckCode::Other,
            _ if has(&[
                "SignatureDoesNotMatch",
                "InvalidAccessKeyId",
                "ExpiredToken",
                "InvalidToken",
            ]) =>
            {
                CheckCode::Unauthorized
            }
            object_store::Error::PermissionDenied { .. } => CheckCode::Forbidden,
            object_store::Error::NotFound { .. } => CheckCode::NotFound,
            _ if has(&["AccessDenied", "Permission denied", "Read-only file system"]) => {
                CheckCode::Forbidden
            }
            _ if has(&["NoSuchBucket", "404 Not Found"]) => CheckCode::NotFound,
            _ if has(&["certificate", "UnknownIssuer"]) => CheckCode::Tls,
            _ if has(&[
                "error sending request",
                "onnection refused",
                "dns error",
                "timed out",
            ]) =>
            {
                CheckCode::Unreachable
            }
            _ => CheckCode::Other,
        },
        OutputError::Setup { .. } if has(&["Permission denied", "Read-only file system"]) => {
            CheckCode::Forbidden
        }
        OutputError::Setup { .. }
        | OutputError::Exists { .. }
        | OutputError::ManifestExists { .. } => CheckCode::Other,
    };
    let not_create_only = matches!(
        error,
        OutputError::Store { cause, .. } if matches!(cause.as_ref(), object_store::Error::NotImplemented { .. })
    );
    let fix = match code {
        CheckCode::Unauthorized => {
            "the store refused the credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the pod's role) and AWS_REGION"
        }
        CheckCode::Forbidden => {
            "the credentials may not write here: allow listing the bucket and putting objects under the prefix (s3:ListBucket, s3:PutObject), or for a folder make it writable by the user rollcall runs as"
        }
        CheckCode::NotFound => "the bucket does not exist: create it, or correct output.url",
        CheckCode::Tls => {
            "the store's TLS certificate is not trusted: give its CA with SSL_CERT_FILE, or check output.options.endpoint"
        }
        CheckCode::Unreachable => {
            "check output.options.endpoint and that the store is reachable from here"
        }
        _ if not_create_only => {
            "this store does not support create-only writes (If-None-Match: *); rollcall needs them so a report is never overwritten: use AWS S3, MinIO, or another store that supports them"
        }
        _ => "check output.url and output.options",
    };
    Checked::failed(code, text, fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, code: CheckCode) -> TargetCheck {
        TargetCheck {
            target: name.into(),
            what: "kind".into(),
            checked: if code == CheckCode::Ok {
                Checked::ok("fine")
            } else {
                Checked::failed(code, "broke", "mend it")
            },
        }
    }

    #[test]
    fn a_wrong_setting_outranks_an_unreachable_target() {
        let report = |codes: &[CheckCode]| CheckReport {
            job: "j".into(),
            targets: codes
                .iter()
                .enumerate()
                .map(|(i, c)| target(&format!("t{i}"), *c))
                .collect(),
        };
        assert_eq!(
            report(&[CheckCode::Ok, CheckCode::Ok]).status(),
            ExitStatus::Success
        );
        assert_eq!(
            report(&[CheckCode::Ok, CheckCode::Unreachable]).status(),
            ExitStatus::Failure
        );
        assert_eq!(
            report(&[CheckCode::Unreachable, CheckCode::Forbidden]).status(),
            ExitStatus::Config
        );
        let text = report(&[CheckCode::Ok, CheckCode::Unauthorized]).render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("ok           t0  (kind) fine"),
            "{text}"
        );
        assert!(
            lines[1].starts_with("unauthorized t1  (kind) broke; fix: mend it"),
            "{text}"
        );
        assert!(
            lines[2].contains("1 of 2 targets failed (t1 unauthorized)"),
            "{text}"
        );
    }
}
