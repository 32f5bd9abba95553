//! Making a source's reports visible all together, or none of them.

use super::*;

/// A source's reports could not all be made visible: what went wrong, and the reports already
/// visible that could not be taken back (listed in the manifest so someone removes them).
#[derive(Debug)]
pub struct FinishFailed {
    pub error: SourceError,
    pub not_removed: Vec<NotRemoved>,
}

/// Makes a source's reports visible all together or not at all. Each is staged first (every
/// byte handed to the store, parts in flight uploaded); only then is each made visible. If one
/// fails, the ones already visible are removed again and the rest aborted, so a cleanup file
/// can never stand alone beside a failed sibling.
pub async fn finish_reports(reports: Vec<CsvReport>) -> Result<Vec<ReportMeta>, FinishFailed> {
    let mut staged = Vec::with_capacity(reports.len());
    let mut pending = reports.into_iter();
    while let Some(mut report) = pending.next() {
        if let Err(e) = report.stage().await {
            report.abort().await;
            for rest in staged.into_iter().chain(pending) {
                rest.abort().await;
            }
            return Err(FinishFailed {
                error: e.into(),
                not_removed: Vec::new(),
            });
        }
        staged.push(report);
    }
    let mut metas = Vec::with_capacity(staged.len());
    let mut visible = Vec::with_capacity(staged.len());
    let mut pending = staged.into_iter();
    while let Some(report) = pending.next() {
        match report.finish().await {
            Ok((meta, handle)) => {
                metas.push(meta);
                visible.push(handle);
            }
            Err(e) => {
                for rest in pending {
                    rest.abort().await;
                }
                let mut not_removed = Vec::new();
                for handle in visible {
                    let key = handle.key().to_owned();
                    if let Err(removal) = handle.remove().await {
                        tracing::error!(key = %key, error = %removal, "A report of a failed source could not be removed; remove it by hand.");
                        not_removed.push(NotRemoved {
                            key,
                            error: removal.to_string(),
                        });
                    }
                }
                return Err(FinishFailed {
                    error: e.into(),
                    not_removed,
                });
            }
        }
    }
    Ok(metas)
}

pub(super) fn failed_entry(
    spec: &SourceSpec,
    clock: &RunClock,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
    error: String,
) -> SourceEntry {
    let plan = spec.plan(clock);
    SourceEntry {
        name: spec.name().to_owned(),
        kind: spec.kind().to_owned(),
        status: SourceStatus::Failed,
        started_at: started,
        finished_at: finished,
        window: plan.window,
        thresholds: plan.thresholds,
        findings: Default::default(),
        reports: Vec::new(),
        reports_not_removed: Vec::new(),
        error: Some(error),
        missing: None,
        continuity: None,
        retry_cannot_fix: false,
    }
}
