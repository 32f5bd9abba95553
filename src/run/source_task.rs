//! One source's task within the run: its context, its deadline, its reports made visible or
//! aborted, and the manifest entry that says how it went.

use super::finish::{FinishFailed, failed_entry, finish_reports};
use crate::job::JobSpec;
use crate::output::Output;
use crate::report::manifest::{ReportEntry, SourceEntry, SourceStatus, Window};
use crate::report::summary::SourceFacts;
use crate::sources::{Exclusive, Source, SourceContext, SourceError};
use crate::time::RunClock;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// The run's times: its "now" (possibly pinned by `ROLLCALL_NOW`) plus the time elapsed since
/// it started, so each source's start and end are its own, on the same time line as the run's.
#[derive(Debug, Clone, Copy)]
pub(super) struct RunTimer {
    started_at: DateTime<Utc>,
    since: Instant,
}

impl RunTimer {
    pub fn start(started_at: DateTime<Utc>) -> Self {
        Self {
            started_at,
            since: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.started_at + chrono::Duration::from_std(self.since.elapsed()).unwrap_or_default()
    }
}

/// One source of the run, ready to fetch: its place in the spec, and the window the run
/// claimed for it when it is continuous.
pub(super) struct SourceTask {
    pub index: usize,
    pub source: Source,
    pub window: Option<Window>,
}

/// Fetches one source under its deadline and makes its reports visible (or aborts them),
/// answering its manifest entry and its facts for the summary.
pub(super) async fn run_source(
    spec: &JobSpec,
    task: SourceTask,
    output: Output,
    clock: RunClock,
    exclusive: Exclusive,
    timer: RunTimer,
) -> (SourceEntry, SourceFacts) {
    let SourceTask {
        index,
        source,
        window,
    } = task;
    let source_spec = &spec.sources[index];
    let name = source_spec.name().to_owned();
    let started = timer.now();
    let wall = Instant::now();
    let deadline = spec.deadline_of(source_spec);
    let mut ctx = SourceContext::new(
        name.clone(),
        clock,
        tokio::time::Instant::now() + deadline,
        exclusive,
        output,
        spec.reports.formula_escape,
    );
    if let Some(window) = window {
        ctx = ctx.with_window(window);
    }
    tracing::info!(source = %name, kind = source_spec.kind(), deadline_s = deadline.as_secs(), "Source started.");
    let result = match tokio::time::timeout(deadline, source.fetch(&ctx)).await {
        Ok(Ok(out)) => finish_reports(out.reports)
            .await
            .map(|metas| (metas, out.findings, out.facts, out.missing, out.failure)),
        Ok(Err(e)) => Err(FinishFailed {
            error: e,
            not_removed: Vec::new(),
        }),
        Err(_) => Err(FinishFailed {
            error: SourceError::Deadline(deadline),
            not_removed: Vec::new(),
        }),
    };
    let finished = timer.now();
    match result {
        Ok((metas, findings, facts, _, Some(error))) => {
            // The source refused to publish its actionable report, and wrote the ones that say why.
            let message = format!("source `{name}`: {error}");
            tracing::error!(source = %name, error = %message, reports = metas.len(), "Source failed.");
            let mut entry = failed_entry(source_spec, &clock, started, finished, message);
            entry.retry_cannot_fix = error.retry_cannot_fix();
            entry.findings = findings;
            entry.reports = metas.into_iter().map(ReportEntry::from).collect();
            (entry, facts)
        }
        Ok((metas, findings, facts, missing, None)) => {
            let rows: u64 = metas.iter().map(|m| m.rows).sum();
            let elapsed_ms = wall.elapsed().as_millis() as u64;
            let status = match &missing {
                None => {
                    tracing::info!(source = %name, rows, reports = metas.len(), elapsed_ms, "Source succeeded.");
                    SourceStatus::Succeeded
                }
                Some(what) => {
                    tracing::warn!(source = %name, rows, reports = metas.len(), elapsed_ms, missing = %what, "Source incomplete: reports written, but the API would not give every entry.");
                    SourceStatus::Incomplete
                }
            };
            let plan = source_spec.plan(&clock);
            let entry = SourceEntry {
                name,
                kind: source_spec.kind().to_owned(),
                status,
                started_at: started,
                finished_at: finished,
                window: plan.window,
                thresholds: plan.thresholds,
                findings,
                reports: metas.into_iter().map(ReportEntry::from).collect(),
                reports_not_removed: Vec::new(),
                error: None,
                missing,
                continuity: None,
                retry_cannot_fix: false,
            };
            (entry, facts)
        }
        Err(FinishFailed { error, not_removed }) => {
            let message = format!("source `{name}`: {error}");
            tracing::error!(source = %name, error = %message, "Source failed.");
            let mut entry = failed_entry(source_spec, &clock, started, finished, message);
            entry.retry_cannot_fix = error.retry_cannot_fix();
            entry.reports_not_removed = not_removed;
            (entry, SourceFacts::default())
        }
    }
}
