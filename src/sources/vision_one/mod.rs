//! Trend Vision One inactive accounts: every IAM account, one paged scan of the logon events in
//! the window, and for each account its latest logon, a decision and the reason for it.
//!
//! API facts: `docs/reference/vision-one.md`. The old script queried the audit log
//! once per user and flagged a user `Remove` whenever its query failed; here the logons of the
//! whole window come from one scan, and if any page cannot be fetched the source fails and
//! writes nothing, so an error can never turn into a removal request.

mod api;
mod attribution;
mod scan;
mod spec;

pub use spec::{RateLimitSpec, Region, VisionOneSpec};

use crate::config::Secret;
use crate::http::{HttpClient, LimiterStats, RateLimitPatience, RateLimiter, join_path};
use crate::report::Column;
use crate::report::summary::{
    AccountToRemove, DecisionCount, KindDetails, LISTED_ACCOUNTS, RoleDecisions, SourceFacts,
    VisionOneDetails,
};
use crate::sources::{Fetch, SourceContext, SourceError, SourceOutput};
use crate::time::rfc3339_seconds;
use api::{ACCOUNTS_PATH, AUDIT_PATH, Account, AuditEntry, LOGON_FILTER, PAGE_SIZE};
use attribution::{Decision, Logons, attribute, decide};
use chrono::{DateTime, Utc};
use reqwest::Url;
use scan::{ACCOUNTS, AUDIT};
use serde::Serialize;
use spec::{cutoff, scan_window};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// Columns of `{source}.csv`, the cleanup request file: exactly the old script's.
pub const CLEANUP_COLUMNS: &[Column] = &[
    Column::identifier("UserId"),
    // A role's display name, which a console admin may type freely.
    Column::free_text("RoleName"),
    Column::enumeration("RequestType"),
];

/// Columns of `{source}-accounts.csv`: every account, its latest logon and the decision.
pub const ACCOUNT_COLUMNS: &[Column] = &[
    Column::identifier("account_id"),
    Column::identifier("email"),
    Column::free_text("role"),
    Column::enumeration("auth_type"),
    Column::enumeration("status"),
    Column::time("last_logon"),
    Column::number("days_since_logon"),
    Column::enumeration("decision"),
    Column::enumeration("reason"),
    Column::enumeration("matched_by"),
];

/// A Vision One source ready to run. The token's `Debug` is redacted.
#[derive(Debug)]
pub struct VisionOneSource {
    name: String,
    base: Url,
    token: Secret,
    token_env: String,
    http: HttpClient,
    /// One budget for every request of the source, accounts and audit log alike.
    limiter: RateLimiter,
    /// How long to wait after a 429, fitted to Trend's window.
    patience: RateLimitPatience,
    inactive_days: u32,
    lookback: Duration,
    count_unsuccessful: bool,
    request_timeout: Duration,
}

impl Fetch for VisionOneSource {
    async fn fetch(&self, ctx: &SourceContext) -> Result<SourceOutput, SourceError> {
        let now = ctx.clock.now();
        let (start, end) = scan_window(now, self.lookback);
        let mut accounts: Vec<Account> = Vec::new();
        let mut seen_ids: HashSet<String> = HashSet::new();
        let mut duplicates = 0u64;
        let mut logons = Logons::default();
        let count_unsuccessful = self.count_unsuccessful;

        let mut first_accounts = join_path(&self.base, ACCOUNTS_PATH);
        first_accounts
            .query_pairs_mut()
            .append_pair("top", &PAGE_SIZE.to_string());
        let mut first_audit = join_path(&self.base, AUDIT_PATH);
        first_audit
            .query_pairs_mut()
            .append_pair("startDateTime", &rfc3339_seconds(start))
            .append_pair("endDateTime", &rfc3339_seconds(end))
            .append_pair("dateTimeTarget", "loggedDateTime")
            .append_pair("orderBy", "loggedDateTime desc")
            .append_pair("top", &PAGE_SIZE.to_string())
            .append_pair("labels", "all");

        // Two independent scans, one shared budget; either failing fails the source.
        let accounts_scan = self.scan(ACCOUNTS, first_accounts, None, |items: Vec<Account>| {
            for account in items {
                let account = account.tidy();
                if let Some(id) = &account.id
                    && !seen_ids.insert(id.clone())
                {
                    // Data changing while paging can repeat an account; list it once.
                    duplicates += 1;
                    continue;
                }
                accounts.push(account);
            }
            Ok(())
        });
        let audit_scan = self.scan(
            AUDIT,
            first_audit,
            Some(LOGON_FILTER),
            |items: Vec<AuditEntry>| {
                for entry in items {
                    logons
                        .add(entry, count_unsuccessful)
                        .map_err(SourceError::Data)?;
                }
                Ok(())
            },
        );
        let (account_pages, audit_pages) = tokio::try_join!(accounts_scan, audit_scan)?;
        if duplicates > 0 {
            tracing::warn!(
                source = %self.name,
                duplicates,
                "Some accounts were listed twice while paging; each is reported once."
            );
        }
        let stats = self.limiter.stats();
        tracing::info!(
            source = %self.name,
            accounts = accounts.len(),
            account_pages = account_pages.pages,
            audit_pages = audit_pages.pages,
            audit_entries = audit_pages.items,
            logons = logons.counted,
            requests = stats.requests,
            rate_limit_pauses = stats.pauses,
            "Fetched accounts and logons."
        );
        self.write_reports(ctx, now, &accounts, &logons, &stats)
            .await
    }
}

impl VisionOneSource {
    async fn write_reports(
        &self,
        ctx: &SourceContext,
        now: DateTime<Utc>,
        accounts: &[Account],
        logons: &Logons,
        traffic: &LimiterStats,
    ) -> Result<SourceOutput, SourceError> {
        let cutoff = cutoff(now, self.inactive_days);
        let (latest, unmatched) = attribute(accounts, &logons.latest);
        let mut cleanup = ctx.report("", CLEANUP_COLUMNS)?;
        let mut detail = ctx.report("-accounts", ACCOUNT_COLUMNS)?;
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        let (mut keep, mut remove, mut skip) = (0u64, 0u64, 0u64);
        let mut by_reason: BTreeMap<(&'static str, &'static str), u64> = BTreeMap::new();
        let mut by_role: BTreeMap<&str, RoleDecisions> = BTreeMap::new();
        let mut to_remove = Vec::new();
        for (account, last) in accounts.iter().zip(&latest) {
            let (decision, reason) = decide(account, last.map(|(t, _)| t), cutoff);
            *counts.entry(reason).or_default() += 1;
            *by_reason.entry((decision.as_str(), reason)).or_default() += 1;
            let role = account.role.as_deref().unwrap_or("(no role)");
            let per_role = by_role.entry(role).or_insert_with(|| RoleDecisions {
                role: role.to_owned(),
                ..RoleDecisions::default()
            });
            match decision {
                Decision::Keep => per_role.keep += 1,
                Decision::Remove => per_role.remove += 1,
                Decision::Skip => per_role.skip += 1,
            }
            if decision == Decision::Remove && to_remove.len() < LISTED_ACCOUNTS {
                to_remove.push(AccountToRemove {
                    email: account.email.clone().unwrap_or_else(|| "Unknown".into()),
                    role: role.to_owned(),
                    last_logon: last.map(|(t, _)| rfc3339_seconds(t)),
                    reason: reason.to_owned(),
                });
            }
            match decision {
                Decision::Keep => keep += 1,
                Decision::Remove => remove += 1,
                Decision::Skip => skip += 1,
            }
            let text = |v: &Option<String>| v.clone().unwrap_or_default();
            let (last_logon, days) = match last {
                Some((t, _)) => (
                    rfc3339_seconds(*t),
                    (now - *t).num_days().max(0).to_string(),
                ),
                None => (String::new(), String::new()),
            };
            detail
                .write_row([
                    text(&account.id),
                    text(&account.email),
                    text(&account.role),
                    text(&account.auth_type),
                    text(&account.status),
                    last_logon,
                    days,
                    decision.as_str().to_owned(),
                    reason.to_owned(),
                    last.map(|(_, how)| how.as_str().to_owned())
                        .unwrap_or_default(),
                ])
                .await?;
            if decision == Decision::Remove {
                let unknown = |v: &Option<String>| v.as_deref().unwrap_or("Unknown").to_owned();
                cleanup
                    .write_row([
                        unknown(&account.email),
                        unknown(&account.role),
                        "Remove".into(),
                    ])
                    .await?;
            }
        }
        let findings = VisionOneFindings {
            accounts: accounts.len() as u64,
            active: keep,
            inactive: remove,
            skipped_saml_groups: skip,
            invited_never_logged_on: counts.get("invited_never_logged_on").copied().unwrap_or(0),
            logons_counted: logons.counted,
            unsuccessful_logons_ignored: logons.unsuccessful_ignored,
            other_entries_ignored: logons.other_ignored + logons.anonymous,
            unmatched_logon_identities: unmatched,
            requests: traffic.requests,
            rate_limit_pauses: traffic.pauses,
        };
        let details = VisionOneDetails {
            accounts: findings.accounts,
            by_reason: by_reason
                .into_iter()
                .map(|((decision, reason), count)| DecisionCount {
                    decision: decision.to_owned(),
                    reason: reason.to_owned(),
                    count,
                })
                .collect(),
            by_role: by_role.into_values().collect(),
            to_remove,
            to_remove_total: remove,
        };
        Ok(
            SourceOutput::new(vec![cleanup, detail], &findings).with_facts(SourceFacts {
                details: Some(KindDetails::VisionOne(details)),
                requests: Some(traffic.requests),
                rate_limited: Some(traffic.rate_limited),
            }),
        )
    }
}

/// What a Vision One source reports in the manifest.
#[derive(Debug, Serialize)]
pub struct VisionOneFindings {
    /// IAM accounts listed (each once).
    pub accounts: u64,
    /// Accounts kept: a counted logon at or after the threshold.
    pub active: u64,
    /// Accounts requested for removal: the rows of the cleanup file.
    pub inactive: u64,
    /// SAML group mappings, neither kept nor removed (their members log on by name).
    pub skipped_saml_groups: u64,
    /// Invited accounts that never logged on (counted in `inactive` too).
    pub invited_never_logged_on: u64,
    /// Logon entries that counted as activity.
    pub logons_counted: u64,
    /// Unsuccessful logon attempts left out (unless `count_unsuccessful_logons`).
    pub unsuccessful_logons_ignored: u64,
    /// Entries that were not logons, or named nobody.
    pub other_entries_ignored: u64,
    /// Logon identities that matched no account (API keys, the root account, people deleted).
    pub unmatched_logon_identities: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Times every request of the source was paused for the rate limit.
    pub rate_limit_pauses: u64,
}
