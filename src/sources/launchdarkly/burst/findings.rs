//! What the full milliseconds of a run come to, in the manifest: totals, the newest ones by
//! date, every one that could not be fetched whole, and the `missing` sentence.

use super::{Burst, Bursts};
use crate::sources::launchdarkly::rfc3339_ms;
use serde::Serialize;

/// Milliseconds listed by date in the findings (their totals are always complete).
const LISTED: usize = 100;

impl Burst {
    fn report(&self) -> BurstReport {
        BurstReport {
            date: rfc3339_ms(self.ms),
            date_ms: self.ms,
            fetched: self.fetched,
            counted: self.counted,
            missing: self.missing(),
            complete: self.complete(),
            uncounted_because: self.uncounted.clone(),
            unsplit_parts: self.unsplit.clone(),
            requests: self.requests,
        }
    }
}

/// One full millisecond in the manifest.
#[derive(Debug, Serialize)]
pub struct BurstReport {
    /// RFC 3339 with milliseconds.
    pub date: String,
    pub date_ms: i64,
    /// Distinct entries of it in the report.
    pub fetched: u64,
    /// The account's own count of it; `null` when it would not count.
    pub counted: Option<u64>,
    /// `counted - fetched`; `null` when there is no count and a part was still full.
    pub missing: Option<u64>,
    pub complete: bool,
    /// Why there is no count.
    pub uncounted_because: Option<String>,
    /// Parts that still returned a full page and could not be split further.
    pub unsplit_parts: Vec<String>,
    /// Requests it cost (counts and searches).
    pub requests: u64,
}

/// The full milliseconds of a run, for the manifest.
#[derive(Debug, Default, Serialize)]
pub struct BurstFindings {
    /// Milliseconds that filled a whole page (20).
    pub full_milliseconds: u64,
    /// Of those, the ones fetched whole.
    pub full_milliseconds_complete: u64,
    /// Requests the counts and splits cost.
    pub burst_requests: u64,
    /// The first 100 full milliseconds, newest first.
    pub bursts: Vec<BurstReport>,
    /// Every millisecond that could not be fetched whole.
    pub incomplete_milliseconds: Vec<BurstReport>,
    /// Entries known to be missing (counted minus fetched), summed.
    pub missing_entries: u64,
    /// Short milliseconds without a count: how many of their entries are missing is unknown.
    pub milliseconds_missing_unknown: u64,
}

impl Bursts {
    /// Findings for the manifest, and the `missing` sentence when any millisecond is short.
    pub fn findings(&self) -> (BurstFindings, Option<String>) {
        let all = self.all();
        let short: Vec<&Burst> = all.iter().filter(|b| !b.complete()).collect();
        let missing = (!short.is_empty()).then(|| {
            let list: Vec<String> = short
                .iter()
                .take(10)
                .map(|b| match b.missing() {
                    Some(n) => format!("{} ({n} of {} missing)", rfc3339_ms(b.ms), n + b.fetched),
                    None => format!(
                        "{} ({} fetched, how many more exist is unknown: {})",
                        rfc3339_ms(b.ms),
                        b.fetched,
                        b.uncounted.as_deref().unwrap_or("no count")
                    ),
                })
                .collect();
            format!(
                "{} millisecond(s) hold more audit-log entries than LaunchDarkly would list even split by resource: {}{}; findings.incomplete_milliseconds has each one",
                short.len(),
                list.join(", "),
                if short.len() > 10 { ", …" } else { "" }
            )
        });
        let findings = BurstFindings {
            full_milliseconds: all.len() as u64,
            full_milliseconds_complete: (all.len() - short.len()) as u64,
            burst_requests: all.iter().map(|b| b.requests).sum(),
            bursts: all.iter().take(LISTED).map(Burst::report).collect(),
            incomplete_milliseconds: short.iter().map(|b| b.report()).collect(),
            missing_entries: short.iter().filter_map(|b| b.missing()).sum(),
            milliseconds_missing_unknown: short.iter().filter(|b| b.missing().is_none()).count()
                as u64,
        };
        (findings, missing)
    }
}
