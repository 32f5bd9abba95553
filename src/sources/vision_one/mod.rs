//! Trend Vision One inactive accounts: every IAM account, one paged scan of the logon events in
//! the window, and for each account its latest logon, a decision and the reason for it.
//!
//! API facts: `docs/reference/vision-one.md`. The old script queried the audit log
//! once per user and flagged a user `Remove` whenever its query failed; here the logons of the
//! whole window come from one scan, and if any page cannot be fetched the source fails and
//! writes nothing, so an error can never turn into a removal request.

mod api;
mod arrivals;
mod attribution;
mod check;
mod scan;
mod spec;

pub use arrivals::{ARRIVALS_FILTER, Arrival};
pub use spec::{RateLimitSpec, Region, VisionOneSpec};

use crate::config::Secret;
use crate::http::{HttpClient, LimiterStats, RateLimitPatience, RateLimiter, join_path, snippet};
use crate::report::Column;
use crate::report::summary::{
    AccountToRemove, DecisionCount, KindDetails, LISTED_ACCOUNTS, RoleDecisions, SourceFacts,
    VisionOneDetails,
};
use crate::sources::{Fetch, SourceContext, SourceError, SourceOutput};
use crate::time::rfc3339_seconds;

use api::{ACCOUNTS_PATH, AUDIT_PATH, Account, AuditEntry, LOGON_FILTER, PAGE_SIZE};
use arrivals::{ArrivalEntry, Arrivals};
use attribution::{Decision, Evidence, LogonAttribution, Logons, attribute, decide};
use chrono::{DateTime, Utc};
use reqwest::Url;
use scan::{ACCOUNTS, ARRIVALS, AUDIT};
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
    Column::time("added_at"),
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
    max_remove_ratio: f64,
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
        let mut arrivals = Arrivals::default();
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
        // The same window and order for the arrivals: one who arrived in the window had less
        // than the whole window to log on.
        let first_arrivals = first_audit.clone();

        // Independent scans, one shared budget; any failing fails the source.
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
        let arrivals_scan = self.scan(
            ARRIVALS,
            first_arrivals,
            Some(ARRIVALS_FILTER),
            |items: Vec<ArrivalEntry>| {
                for entry in items {
                    arrivals.add(entry).map_err(SourceError::Data)?;
                }
                Ok(())
            },
        );
        // The arrivals (usually one page) follow the logons rather than adding a third request
        // to the opening burst, which Trend counts on arrival.
        let audit_scans = async { Ok::<_, SourceError>((audit_scan.await?, arrivals_scan.await?)) };
        let (account_pages, (audit_pages, arrival_pages)) =
            tokio::try_join!(accounts_scan, audit_scans)?;
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
            arrival_pages = arrival_pages.pages,
            arrivals = arrivals.events,
            requests = stats.requests,
            rate_limit_pauses = stats.pauses,
            "Fetched accounts, logons and arrivals."
        );
        let fetched = Fetched {
            accounts,
            logons,
            arrivals,
            traffic: stats,
        };
        self.write_reports(ctx, now, fetched).await
    }
}

/// What the scans brought back.
struct Fetched {
    accounts: Vec<Account>,
    logons: Logons,
    arrivals: Arrivals,
    traffic: LimiterStats,
}

/// While logons were seen, fewer than this share of the (non-group) accounts having one means
/// the logons name people in a way the accounts list does not, not that everyone left.
const ATTRIBUTION_FLOOR: f64 = 0.05;
/// The findings list at most this many unmatched names, most frequent first.
const LISTED: usize = 50;

impl VisionOneSource {
    async fn write_reports(
        &self,
        ctx: &SourceContext,
        now: DateTime<Utc>,
        fetched: Fetched,
    ) -> Result<SourceOutput, SourceError> {
        let Fetched {
            accounts,
            logons,
            arrivals,
            traffic,
        } = fetched;
        let cutoff = cutoff(now, self.inactive_days);
        let logon_attribution = attribute(&accounts, &logons.latest);
        let arrived = arrivals.attribute(&accounts);
        let recent_unattributed_arrival = arrived.unattributed.iter().any(|u| u.latest >= cutoff);
        let mut judged: Vec<(Decision, &'static str)> = accounts
            .iter()
            .enumerate()
            .map(|(i, account)| {
                let evidence = Evidence {
                    last_logon: logon_attribution.latest[i].map(|(t, _)| t),
                    arrived: arrived.latest[i],
                    recent_unattributed_arrival,
                };
                decide(account, evidence, cutoff)
            })
            .collect();
        let people = accounts.iter().filter(|a| !a.is_group()).count() as u64;
        let people_with_logon = accounts
            .iter()
            .zip(&logon_attribution.latest)
            .filter(|(a, last)| !a.is_group() && last.is_some())
            .count() as u64;
        let removals = judged
            .iter()
            .filter(|(d, _)| *d == Decision::Remove)
            .count() as u64;
        let withheld = self.withhold(
            &logons,
            &logon_attribution,
            people,
            people_with_logon,
            removals,
        );
        if withheld.is_some() {
            for decision in &mut judged {
                if decision.0 == Decision::Remove {
                    decision.0 = Decision::Withheld;
                }
            }
        }

        // Only a cleanup file that may be acted on is ever opened.
        let mut cleanup = match withheld {
            None => Some(ctx.report("", CLEANUP_COLUMNS)?),
            Some(_) => None,
        };
        let mut detail = ctx.report("-accounts", ACCOUNT_COLUMNS)?;
        let mut reasons: BTreeMap<&'static str, u64> = BTreeMap::new();
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        for (i, account) in accounts.iter().enumerate() {
            let (decision, reason) = judged[i];
            let last = logon_attribution.latest[i];
            *reasons.entry(reason).or_default() += 1;
            let (last_logon, days) = match last {
                Some((t, _)) => (rfc3339_seconds(t), (now - t).num_days().max(0).to_string()),
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
                    arrived.latest[i]
                        .map(|(t, _)| rfc3339_seconds(t))
                        .unwrap_or_default(),
                ])
                .await?;
            if decision == Decision::Remove
                && let (Some(cleanup), Some(email)) = (cleanup.as_mut(), account.email.as_deref())
            {
                let role = account.role.as_deref().unwrap_or("Unknown");
                cleanup.write_row([email, role, "Remove"]).await?;
            }
        }

        let count =
            |decision: Decision| judged.iter().filter(|(d, _)| *d == decision).count() as u64;
        let reason = |name: &str| reasons.get(name).copied().unwrap_or(0);
        let findings = VisionOneFindings {
            accounts: accounts.len() as u64,
            active: reason("active"),
            inactive: count(Decision::Remove),
            withheld: count(Decision::Withheld),
            cleanup_withheld: withheld.as_ref().map(|(why, _)| *why),
            skipped_saml_groups: reason("saml_group"),
            skipped_no_email: reason("no_email"),
            skipped_possibly_added_recently: reason("possibly_added_recently"),
            kept_created_recently: reason("created_recently"),
            kept_invited_recently: reason("invited_recently"),
            invited_never_logged_on: reason("invited_never_logged_on"),
            logons_counted: logons.counted,
            accounts_with_logon: people_with_logon,
            unsuccessful_logons_ignored: logons.unsuccessful_ignored,
            other_entries_ignored: logons.other_ignored + logons.anonymous + arrivals.other_ignored,
            unmatched_logon_identities: logon_attribution.unmatched.len() as u64,
            unmatched_identities: logon_attribution
                .unmatched
                .iter()
                .take(LISTED)
                .map(|u| UnmatchedName {
                    value: u.value.clone(),
                    activity: None,
                    count: u.count,
                    latest: rfc3339_seconds(u.latest),
                })
                .collect(),
            arrival_events: arrivals.events,
            arrival_events_unattributed: arrived.unattributed.iter().map(|u| u.count).sum(),
            unattributed_arrivals: arrived
                .unattributed
                .iter()
                .take(LISTED)
                .map(|u| UnmatchedName {
                    value: u.value.clone(),
                    activity: Some(u.arrival.activity()),
                    count: u.count,
                    latest: rfc3339_seconds(u.latest),
                })
                .collect(),
            requests: traffic.requests,
            rate_limit_pauses: traffic.pauses,
        };
        let details = summary_details(&accounts, &judged, &logon_attribution);
        let output = SourceOutput::new(cleanup.into_iter().chain([detail]).collect(), &findings)
            .with_facts(SourceFacts {
                details: Some(KindDetails::VisionOne(details)),
                requests: Some(traffic.requests),
                rate_limited: Some(traffic.rate_limited),
            });
        Ok(match withheld {
            Some((_, message)) => output.failed(SourceError::Unfixable(message)),
            None => output,
        })
    }

    /// Whether the cleanup file must not be written, and why: `(finding, message)`.
    fn withhold(
        &self,
        logons: &Logons,
        attribution: &LogonAttribution,
        people: u64,
        people_with_logon: u64,
        removals: u64,
    ) -> Option<(&'static str, String)> {
        if logons.counted > 0
            && people > 0
            && (people_with_logon as f64) < ATTRIBUTION_FLOOR * people as f64
        {
            let shown: Vec<String> = attribution
                .unmatched
                .iter()
                .take(3)
                .map(|u| format!("`{}` ({} logons)", snippet(&u.value), u.count))
                .collect();
            return Some((
                "logons_not_attributed",
                format!(
                    "{} logons by {} identities were seen, but only {people_with_logon} of {people} accounts could be tied to any of them (at least {:.0}% must be): the audit log names people in a way the accounts list does not (display names, ids from another id space), so every account would look inactive. No cleanup file was written; the accounts report lists every account as `withheld`, and `unmatched_identities` in the findings shows the names the logons used, most frequent first: {}",
                    logons.counted,
                    attribution.unmatched.len(),
                    ATTRIBUTION_FLOOR * 100.0,
                    shown.join(", ")
                ),
            ));
        }
        if removals > 0 && removals as f64 > self.max_remove_ratio * people as f64 {
            return Some((
                "max_remove_ratio",
                format!(
                    "the cleanup file would request the removal of {removals} of {people} accounts ({:.0}%), more than `max_remove_ratio: {}` allows ({:.0}%). No cleanup file was written, as a removal this large is more likely missing data than fact; check the accounts report (decision `withheld`), and if the removals are right raise `max_remove_ratio` for one run",
                    removals as f64 * 100.0 / people as f64,
                    self.max_remove_ratio,
                    self.max_remove_ratio * 100.0
                ),
            ));
        }
        None
    }
}

/// What the run summary shows of the decisions: per decision and reason, per role, and the
/// first accounts the cleanup file asks to remove. Withheld removals are not in the cleanup
/// file, so they count as not acted on.
fn summary_details(
    accounts: &[Account],
    judged: &[(Decision, &'static str)],
    logons: &LogonAttribution,
) -> VisionOneDetails {
    let mut by_reason: BTreeMap<(&'static str, &'static str), u64> = BTreeMap::new();
    let mut by_role: BTreeMap<&str, RoleDecisions> = BTreeMap::new();
    let mut to_remove = Vec::new();
    let mut to_remove_total = 0u64;
    for (i, account) in accounts.iter().enumerate() {
        let (decision, reason) = judged[i];
        *by_reason.entry((decision.as_str(), reason)).or_default() += 1;
        let role = account.role.as_deref().unwrap_or("(no role)");
        let per_role = by_role.entry(role).or_insert_with(|| RoleDecisions {
            role: role.to_owned(),
            ..RoleDecisions::default()
        });
        match decision {
            Decision::Keep => per_role.keep += 1,
            Decision::Remove => per_role.remove += 1,
            Decision::Skip | Decision::Withheld => per_role.skip += 1,
        }
        if decision == Decision::Remove {
            to_remove_total += 1;
            if to_remove.len() < LISTED_ACCOUNTS {
                to_remove.push(AccountToRemove {
                    email: account.email.clone().unwrap_or_default(),
                    role: role.to_owned(),
                    last_logon: logons.latest[i].map(|(t, _)| rfc3339_seconds(t)),
                    reason: reason.to_owned(),
                });
            }
        }
    }
    VisionOneDetails {
        accounts: accounts.len() as u64,
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
        to_remove_total,
    }
}

/// A name the audit log used that no account could be tied to, for the findings.
#[derive(Debug, Serialize)]
pub struct UnmatchedName {
    /// The name as matched: a logon's mail address, else `loggedUser` (both in lower case),
    /// else its id; an arrival's `User account` as sent (empty when it named none).
    pub value: String,
    /// The arrival's activity (`Add user account`, `Invite user account`); absent for logons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<&'static str>,
    /// Entries that used it.
    pub count: u64,
    /// The latest of them, `YYYY-MM-DDTHH:MM:SSZ`.
    pub latest: String,
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
    /// Accounts that would have been requested for removal, had the cleanup file not been
    /// withheld.
    pub withheld: u64,
    /// Why the cleanup file was withheld, when it was: `logons_not_attributed` or
    /// `max_remove_ratio`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup_withheld: Option<&'static str>,
    /// SAML group mappings, neither kept nor removed (their members log on by name).
    pub skipped_saml_groups: u64,
    /// Accounts without an email, never in the cleanup file (nobody could act on the row).
    pub skipped_no_email: u64,
    /// Accounts without a logon left out because an arrival in the threshold could not be tied
    /// to any account: any of them may be the new one.
    pub skipped_possibly_added_recently: u64,
    /// Accounts added less than `inactive_days` ago, kept.
    pub kept_created_recently: u64,
    /// Accounts invited less than `inactive_days` ago, kept.
    pub kept_invited_recently: u64,
    /// Invited accounts that never logged on (counted in `inactive` too).
    pub invited_never_logged_on: u64,
    /// Logon entries that counted as activity.
    pub logons_counted: u64,
    /// Accounts (SAML groups aside) tied to at least one counted logon.
    pub accounts_with_logon: u64,
    /// Unsuccessful logon attempts left out (unless `count_unsuccessful_logons`).
    pub unsuccessful_logons_ignored: u64,
    /// Entries that were not logons or arrivals, or named nobody.
    pub other_entries_ignored: u64,
    /// Logon identities that matched no account (API keys, the root account, people deleted).
    pub unmatched_logon_identities: u64,
    /// Those identities, most logons first (at most 50).
    pub unmatched_identities: Vec<UnmatchedName>,
    /// `Add user account` and `Invite user account` entries in the window.
    pub arrival_events: u64,
    /// Of those, the entries whose target could not be tied to exactly one account.
    pub arrival_events_unattributed: u64,
    /// Those targets, most entries first (at most 50).
    pub unattributed_arrivals: Vec<UnmatchedName>,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Times every request of the source was paused for the rate limit.
    pub rate_limit_pauses: u64,
}
