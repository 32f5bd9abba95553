//! The run summary people read: `summary.html` (one self-contained page with inline SVG charts)
//! and `summary.md` (the same facts as tables), written beside the manifest.
//!
//! The run and each source fill the typed view model below from data they already hold; the
//! renderers only lay it out. Every string that came from an API is escaped by the template
//! engine (HTML in the page, Markdown in the tables); the charts escape their own text.

mod charts;
mod html;
mod markdown;
mod sections;
#[cfg(test)]
mod tests;

use crate::report::manifest::{Manifest, RunStatus, ShardInfo, SourceStatus, Window};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Most accounts listed by name in the "to remove" table; the cleanup CSV has them all.
pub const LISTED_ACCOUNTS: usize = 200;
/// Most rows in a "by namespace", "most active" or similar ranking.
pub const RANKED_ROWS: usize = 15;

/// Why a summary could not be rendered. Rendering plain data should not fail; if it does, the
/// run writes the reports and the manifest anyway and says so.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("cannot lay out the summary page: {0}")]
    Template(#[from] askama::Error),
    #[error("cannot draw the chart `{chart}`: {message}")]
    Chart { chart: String, message: String },
}

/// One run, as the summary shows it.
#[derive(Debug, Clone)]
pub struct RunView {
    pub job: String,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: RunStatus,
    pub exit_code: u8,
    pub shard: Option<ShardInfo>,
    pub sources: Vec<SourceView>,
}

/// One source of the run: what it covered, how it ended, where its reports are, and what it found.
#[derive(Debug, Clone)]
pub struct SourceView {
    pub name: String,
    pub kind: String,
    pub status: SourceStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub window: Option<Window>,
    pub thresholds: BTreeMap<String, serde_json::Value>,
    /// What failed and what to do (a failed source).
    pub error: Option<String>,
    /// What the reports lack, in words (an incomplete source).
    pub missing: Option<String>,
    pub reports: Vec<ReportLink>,
    /// Rows written over all reports.
    pub rows: u64,
    /// What the source gathered while it ran; empty when it failed before it had any.
    pub facts: SourceFacts,
}

/// What a source hands the summary and the metrics, beside its manifest findings: gathered
/// while it wrote its reports, never by a second pass over the data.
#[derive(Debug, Clone, Default)]
pub struct SourceFacts {
    /// The kind's own findings.
    pub details: Option<KindDetails>,
    /// HTTP requests sent.
    pub requests: Option<u64>,
    /// Answers that were HTTP 429 (rate limited).
    pub rate_limited: Option<u64>,
}

/// A link from the summary to one report.
#[derive(Debug, Clone)]
pub struct ReportLink {
    pub name: String,
    /// The report's key relative to the summary's own key (see [`relative_key`]).
    pub href: String,
    pub rows: u64,
}

/// What each source kind found, in the shape its section needs.
#[derive(Debug, Clone)]
pub enum KindDetails {
    Vault(VaultDetails),
    VisionOne(VisionOneDetails),
    LaunchDarkly(LaunchDarklyDetails),
}

/// Vault client activity: the count against the licence, now and in the coming months.
#[derive(Debug, Clone, Default)]
pub struct VaultDetails {
    pub licensed_clients: Option<u64>,
    /// Distinct clients seen in the exported months.
    pub clients: u64,
    /// Clients counted in the trailing window per month, from the current month on.
    pub trailing_window: Vec<MonthCount>,
    /// The forecast by billing period, where the cluster reports its billing start.
    pub billing_period: Option<BillingPeriod>,
    /// Clients by `client_type` (entity, non-entity, acme, secret-sync...).
    pub by_type: Vec<Count>,
    /// Clients by namespace path, largest first.
    pub by_namespace: Vec<Count>,
}

/// One month of the trailing-window forecast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthCount {
    /// `YYYY-MM`.
    pub month: String,
    pub counted: u64,
    /// Clients whose last active month leaves the window at the start of this month.
    pub rolling_off: u64,
}

/// The billing-period view: the current period's count and what the next period starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingPeriod {
    pub period_start: DateTime<Utc>,
    pub next_period_start: DateTime<Utc>,
    pub counted_in_period: u64,
    /// Clients of the current period that stop counting when the next one starts: all of
    /// them, as Vault starts each period's count afresh, unless they are active again.
    pub rolling_off_at_next_start: u64,
}

/// A label and how many things carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub label: String,
    pub count: u64,
}

/// Trend Vision One inactive accounts: every decision, and why.
#[derive(Debug, Clone, Default)]
pub struct VisionOneDetails {
    pub accounts: u64,
    /// Each decision (`keep`, `remove`, `skip`) with its reason, and how many accounts got it.
    pub by_reason: Vec<DecisionCount>,
    /// Per role: how many accounts are kept, removed and skipped.
    pub by_role: Vec<RoleDecisions>,
    /// Accounts the cleanup file asks to remove (the first [`LISTED_ACCOUNTS`]).
    pub to_remove: Vec<AccountToRemove>,
    /// All accounts the cleanup file asks to remove.
    pub to_remove_total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionCount {
    pub decision: String,
    pub reason: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleDecisions {
    pub role: String,
    pub keep: u64,
    pub remove: u64,
    pub skip: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountToRemove {
    pub email: String,
    pub role: String,
    /// RFC 3339, or none when no logon was seen in the window.
    pub last_logon: Option<String>,
    pub reason: String,
}

/// LaunchDarkly audit log: the changes of the window, who made them, and whether all are there.
#[derive(Debug, Clone, Default)]
pub struct LaunchDarklyDetails {
    pub entries: u64,
    /// Per UTC day (`YYYY-MM-DD`, ascending): entries by resource kind.
    pub per_day: Vec<DayKinds>,
    /// Members with the most entries (by email, or id when the entry has no email).
    pub top_members: Vec<Count>,
    /// API access tokens with the most entries.
    pub top_tokens: Vec<Count>,
    pub completeness: Completeness,
}

/// Whether an export holds every entry of its window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Completeness {
    #[default]
    Complete,
    /// The API counted entries that could not be fetched.
    Missing { entries: u64 },
    /// The API cannot say whether entries are missing, and why (in words).
    Unknown { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayKinds {
    pub day: String,
    pub by_kind: Vec<Count>,
}

impl DayKinds {
    pub fn total(&self) -> u64 {
        self.by_kind.iter().map(|k| k.count).sum()
    }
}

impl RunView {
    /// The view of a finished run: its manifest (without the summary's own keys), the exit code,
    /// each source's facts (in the manifest's order), and the key the summary is written at,
    /// which report links are relative to.
    pub fn new(
        manifest: &Manifest,
        exit_code: u8,
        facts: Vec<SourceFacts>,
        summary_key: &str,
    ) -> Self {
        let sources = manifest
            .sources
            .iter()
            .zip(
                facts
                    .into_iter()
                    .chain(std::iter::repeat_with(SourceFacts::default)),
            )
            .map(|(entry, facts)| SourceView {
                name: entry.name.clone(),
                kind: entry.kind.clone(),
                status: entry.status,
                started_at: entry.started_at,
                finished_at: entry.finished_at,
                window: entry.window.clone(),
                thresholds: entry.thresholds.clone(),
                error: entry.error.clone(),
                missing: entry.missing.clone(),
                reports: entry
                    .reports
                    .iter()
                    .map(|r| ReportLink {
                        name: r.meta.name.clone(),
                        href: relative_key(summary_key, &r.meta.key),
                        rows: r.meta.rows,
                    })
                    .collect(),
                rows: entry.reports.iter().map(|r| r.meta.rows).sum(),
                facts,
            })
            .collect();
        Self {
            job: manifest.job.clone(),
            run_id: manifest.run_id.clone(),
            started_at: manifest.started_at,
            finished_at: manifest.finished_at,
            status: manifest.status,
            exit_code,
            shard: manifest.shard,
            sources,
        }
    }

    /// `summary.html`: one page, no script, nothing fetched.
    pub fn to_html(&self) -> Result<String, SummaryError> {
        html::render(self)
    }

    /// `summary.md`: the same facts as Markdown tables.
    pub fn to_markdown(&self) -> Result<String, SummaryError> {
        markdown::render(self)
    }
}

impl SourceView {
    /// The one line a person needs first: the source's headline finding, or why there is none.
    pub fn headline(&self) -> String {
        match self.status {
            SourceStatus::Failed => {
                return format!(
                    "failed: {}",
                    self.error.as_deref().unwrap_or("no reason recorded")
                );
            }
            SourceStatus::Incomplete | SourceStatus::Succeeded => {}
        }
        let finding = match &self.facts.details {
            Some(KindDetails::Vault(v)) => v.headline(),
            Some(KindDetails::VisionOne(v)) => v.headline(),
            Some(KindDetails::LaunchDarkly(v)) => v.headline(),
            None => format!("{} rows", group_digits(self.rows)),
        };
        match self.status {
            SourceStatus::Incomplete => format!("incomplete: {finding}"),
            _ => finding,
        }
    }

    /// Seconds from start to finish, never negative.
    pub fn duration_seconds(&self) -> f64 {
        seconds_between(self.started_at, self.finished_at)
    }
}

impl RunView {
    pub fn duration_seconds(&self) -> f64 {
        seconds_between(self.started_at, self.finished_at)
    }
}

fn seconds_between(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    ((end - start).num_milliseconds().max(0) as f64) / 1000.0
}

impl VaultDetails {
    /// Clients counted in the current month.
    pub fn counted_now(&self) -> u64 {
        self.trailing_window.first().map_or(0, |m| m.counted)
    }

    /// Forecast months whose count is above the licence.
    pub fn months_over_licence(&self) -> Vec<&MonthCount> {
        match self.licensed_clients {
            Some(licensed) => self
                .trailing_window
                .iter()
                .filter(|m| m.counted > licensed)
                .collect(),
            None => Vec::new(),
        }
    }

    /// How far the worst forecast month is above the licence (0 when within it or unlicensed).
    pub fn clients_over_licence(&self) -> u64 {
        let Some(licensed) = self.licensed_clients else {
            return 0;
        };
        self.trailing_window
            .iter()
            .map(|m| m.counted.saturating_sub(licensed))
            .max()
            .unwrap_or(0)
    }

    fn headline(&self) -> String {
        let now = group_digits(self.counted_now());
        let Some(licensed) = self.licensed_clients else {
            return format!("{now} clients counted now (no licence set)");
        };
        let over = self.months_over_licence();
        match (over.first(), over.last()) {
            (Some(first), Some(last)) => format!(
                "{now} clients counted now, licence {}: over it in {} month(s), {} to {}",
                group_digits(licensed),
                over.len(),
                first.month,
                last.month
            ),
            _ => format!(
                "{now} clients counted now, within the licence of {}",
                group_digits(licensed)
            ),
        }
    }
}

impl VisionOneDetails {
    fn headline(&self) -> String {
        format!(
            "{} account(s) to remove of {}",
            group_digits(self.to_remove_total),
            group_digits(self.accounts)
        )
    }
}

impl LaunchDarklyDetails {
    fn headline(&self) -> String {
        let entries = group_digits(self.entries);
        match &self.completeness {
            Completeness::Complete => format!("{entries} entries, complete"),
            Completeness::Missing { entries: missing } => {
                format!("{entries} entries, {} missing", group_digits(*missing))
            }
            Completeness::Unknown { .. } => format!("{entries} entries, possibly incomplete"),
        }
    }
}

/// `12345` as `12,345`: headlines are read by people.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The key `target` as seen from the object `from` (both relative to the output prefix), so
/// links keep working wherever the run's folder is opened: from the bucket, a download or an
/// e-mail attachment saved beside the reports.
pub fn relative_key(from: &str, target: &str) -> String {
    let from_dirs: Vec<&str> = from.split('/').collect();
    let from_dirs = &from_dirs[..from_dirs.len().saturating_sub(1)];
    let target_parts: Vec<&str> = target.split('/').collect();
    let (target_dirs, file) = target_parts.split_at(target_parts.len().saturating_sub(1));
    let common = from_dirs
        .iter()
        .zip(target_dirs)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<&str> = vec![".."; from_dirs.len() - common];
    parts.extend(&target_dirs[common..]);
    parts.extend(file);
    parts.join("/")
}

/// Keeps the largest `limit` counts (ties by label) and folds the rest into one last row
/// ("12 more"), so a chart stays readable whatever the data holds.
pub fn top_counts(mut counts: Vec<Count>, limit: usize) -> Vec<Count> {
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
    if counts.len() > limit {
        let rest = counts.split_off(limit);
        counts.push(Count {
            label: format!("{} more", rest.len()),
            count: rest.iter().map(|c| c.count).sum(),
        });
    }
    counts
}

/// Thresholds as `key`, `value` lines; strings without JSON quotes.
fn threshold_lines(thresholds: &BTreeMap<String, serde_json::Value>) -> Vec<(String, String)> {
    thresholds
        .iter()
        .map(|(key, value)| {
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (key.clone(), value)
        })
        .collect()
}
