//! The run manifest: written last, after every report, so consumers can trigger on it.
//!
//! Schema version 3 (see `docs/manifest.md` for what changed in each). Fields are only ever
//! added within a version; a field's meaning never changes within one.

use super::ReportMeta;
pub use crate::output::ledger::Gap;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: u32 = 3;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every source succeeded.
    Succeeded,
    /// Some sources failed or are incomplete; the others' reports were written.
    Partial,
    /// Every source failed.
    Failed,
}

impl RunStatus {
    pub const ALL: [RunStatus; 3] = [RunStatus::Succeeded, RunStatus::Partial, RunStatus::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Complete: every row the API holds for the window is in the reports.
    Succeeded,
    /// Reports written, but the API would not give everything; `missing` says exactly what.
    Incomplete,
    /// Nothing of the source is visible.
    Failed,
}

impl SourceStatus {
    pub const ALL: [SourceStatus; 3] = [
        SourceStatus::Succeeded,
        SourceStatus::Incomplete,
        SourceStatus::Failed,
    ];

    /// Whether the reports cover the window as far as the API can give it, so a continuous
    /// window is committed: an incomplete source names what is missing, and fetching the same
    /// window again would not bring it (and would stall the chain of windows).
    pub fn exported_its_window(self) -> bool {
        matches!(self, SourceStatus::Succeeded | SourceStatus::Incomplete)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Succeeded => "succeeded",
            SourceStatus::Incomplete => "incomplete",
            SourceStatus::Failed => "failed",
        }
    }
}

/// The time range a source's data covers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// This run's slice of the sources when the job is split across pods.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub job: String,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: RunStatus,
    /// Where the keys below live (the output URL, without credentials).
    pub output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// Keys of the run summary (`summary.html`, `summary.md`), when it was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<SummaryKeys>,
    /// Facts about the run itself a consumer may want (`summary`, `metrics_push`: what failed).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub findings: BTreeMap<String, serde_json::Value>,
    pub sources: Vec<SourceEntry>,
}

/// Where the run summary was written, relative to the output's prefix.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SummaryKeys {
    pub html: String,
    pub md: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceEntry {
    pub name: String,
    pub kind: String,
    pub status: SourceStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub window: Option<Window>,
    /// The thresholds the reports were computed with (`inactive_days`, `roll_off_months`...).
    pub thresholds: BTreeMap<String, serde_json::Value>,
    /// Facts found while fetching that a consumer may act on (`months_over_licence`...).
    pub findings: serde_json::Map<String, serde_json::Value>,
    pub reports: Vec<ReportEntry>,
    /// Reports of this (failed) source that had become visible before a sibling failed and
    /// could not be removed again: delete them by hand, they are not to be acted on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reports_not_removed: Vec<NotRemoved>,
    pub error: Option<String>,
    /// For an `incomplete` source: what the reports lack, in words (details in `findings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// For a source with `window: continuous`: how its window follows on from the last run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuity: Option<Continuity>,
    /// The source failed in a way no retry can fix: its credential was refused, or the spec
    /// cannot work as written (drives exit code 2).
    #[serde(skip)]
    pub retry_cannot_fix: bool,
}

/// A report left visible beside a failed source, and why it could not be removed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NotRemoved {
    pub key: String,
    pub error: String,
}

/// How a continuous window follows on from the last successful run (`docs/manifest.md`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Continuity {
    /// The window ledger's generation this run claimed (`rollcall-ledger/{job}/{source}/`).
    pub generation: u64,
    /// The run whose window this one continues; `null` on the first run.
    pub previous_run_id: Option<String>,
    /// That run's window: its `end` is this window's `start`, unless there is a `gap`.
    pub previous_window: Option<Window>,
    /// Time that no run exported, because catching up was bounded by `max_catch_up` or the
    /// plan's history retention; `null` when the windows join.
    pub gap: Option<Gap>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportEntry {
    #[serde(flatten)]
    pub meta: ReportMeta,
    /// Always `written`: a report that was not fully written is not listed.
    pub status: &'static str,
}

impl From<ReportMeta> for ReportEntry {
    fn from(meta: ReportMeta) -> Self {
        Self {
            meta,
            status: "written",
        }
    }
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain data into memory cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}
