//! The monthly cross-check: a 200 export can end early at a record boundary without an
//! error, so each finished month's distinct clients are compared with Vault's own count of
//! that month. A count that cannot be had leaves the month unchecked, never passed.

use super::api::{COUNTS_PATH, CountsAnswer, parse_time};
use super::{SMALL_BODY_LIMIT, VaultSource};
use crate::http::{HttpError, describe_body, join_path, read_json};
use crate::sources::SourceError;
use crate::time::{Month, rfc3339_seconds};
use reqwest::StatusCode;
use serde::Serialize;

/// How one month's export compares with Vault's own count of that month.
#[derive(Debug, Clone, Serialize)]
pub struct MonthCheck {
    /// `YYYY-MM`.
    pub month: String,
    /// Distinct clients in the month's export.
    pub exported_clients: u64,
    /// Vault's `counts.clients` for the month, when it gave one.
    pub vault_count: Option<u64>,
    /// `matched` or `unchecked`.
    pub check: &'static str,
    /// Why the month is unchecked.
    pub unchecked_because: Option<String>,
}

impl MonthCheck {
    pub(super) fn matched(month: Month, exported: u64) -> Self {
        Self {
            month: month.to_string(),
            exported_clients: exported,
            vault_count: Some(exported),
            check: "matched",
            unchecked_because: None,
        }
    }

    pub(super) fn unchecked(
        month: Month,
        exported: u64,
        counted: Option<u64>,
        why: String,
    ) -> Self {
        Self {
            month: month.to_string(),
            exported_clients: exported,
            vault_count: counted,
            check: "unchecked",
            unchecked_because: Some(why),
        }
    }

    pub(super) fn is_unchecked(&self) -> bool {
        self.unchecked_because.is_some()
    }
}

impl VaultSource {
    /// Compares a finished month's distinct clients with Vault's count of that month. The
    /// count comes from the same segments the export reads, filtered to the same namespace and
    /// its children, and counts every client type the export lists; the current month is
    /// still being written (the count includes activity the export does not have yet), so it
    /// is left unchecked.
    pub(super) async fn check_month(
        &self,
        month: Month,
        current: Month,
        exported: u64,
    ) -> Result<MonthCheck, SourceError> {
        let check = |counted: Option<u64>, unchecked: Option<String>| match unchecked {
            None => MonthCheck::matched(month, exported),
            Some(why) => MonthCheck::unchecked(month, exported, counted, why),
        };
        if month == current {
            return Ok(check(
                None,
                Some("the current month is still being recorded: Vault's count includes activity its export does not hold yet".into()),
            ));
        }
        let mut url = join_path(&self.address, COUNTS_PATH);
        url.query_pairs_mut()
            .append_pair("start_time", &rfc3339_seconds(month.start()))
            .append_pair("end_time", &rfc3339_seconds(month.end()));
        let call = self.call(url, true).await?;
        let answer = self
            .http
            .fetch(&call, |response| async move {
                if response.status() == StatusCode::NO_CONTENT {
                    return Ok(None);
                }
                read_json::<CountsAnswer>(response, SMALL_BODY_LIMIT, "Vault's client counts")
                    .await
                    .map(Some)
            })
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(HttpError::Status { status, body, .. })
                if status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND =>
            {
                let why = if status == StatusCode::FORBIDDEN {
                    "the token may not read Vault's client counts: give it `read` on sys/internal/counters/activity to have every month checked"
                } else {
                    "this server does not answer sys/internal/counters/activity"
                };
                return Ok(check(
                    None,
                    Some(format!("{why} (HTTP {status}: {})", describe_body(&body))),
                ));
            }
            Err(error) => {
                return Err(SourceError::Fetch {
                    message: format!(
                        "Vault's client count of {month} (to check the export): {error}"
                    ),
                    error,
                });
            }
        };
        let months = answer.and_then(|a| a.data.months).unwrap_or_default();
        let counted = if months.is_empty() {
            // No month with activity in the range.
            0
        } else {
            let entry = months
                .iter()
                .find(|m| parse_time(&m.timestamp).is_some_and(|t| Month::of(t) == month));
            match entry {
                Some(m) => m.counts.as_ref().map_or(0, |c| c.clients),
                None => {
                    return Ok(check(
                        None,
                        Some("Vault's answer holds no entry for the month".into()),
                    ));
                }
            }
        };
        if counted == exported {
            return Ok(check(Some(counted), None));
        }
        if counted == 0 {
            // A count of nothing next to an export with clients is a missing count, not a
            // short export: Vault computes past months' counts when a month ends.
            return Ok(check(
                Some(0),
                Some("Vault has no count for the month (0) though its export lists clients".into()),
            ));
        }
        Err(SourceError::Data(format!(
            "the export of {month} holds {exported} distinct clients but Vault counts {counted} for that month (sys/internal/counters/activity){}; run again, and if it repeats raise VAULT_ACTIVITY_EXPORT_DURATION on the Vault servers",
            if exported < counted {
                ": the export ended early without an error, as Vault does when an export hits its 10-minute limit or a storage error"
            } else {
                ""
            }
        )))
    }
}
