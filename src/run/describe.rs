//! The run's outcome for people: the few lines `rollcall run` prints at the end.

use super::RunSummary;
use crate::report::manifest::SourceStatus;

/// A few lines for people: the headline finding of each source, where the manifest, summary
/// and reports are, and what failed.
pub fn describe(summary: &RunSummary) -> String {
    let m = &summary.manifest;
    let mut out = format!(
        "rollcall: run {} of job `{}` {}; manifest: {} in {}",
        m.run_id,
        m.job,
        m.status.as_str(),
        summary.manifest_key,
        summary.output
    );
    // A failed source's error follows below; its headline would only repeat it.
    for ((source, headline), entry) in summary.headlines.iter().zip(&m.sources) {
        if entry.status != SourceStatus::Failed {
            out.push_str(&format!("\n  {source}: {headline}"));
        }
    }
    if let Some(keys) = &m.summary {
        out.push_str(&format!("\n  summary: {} and {}", keys.html, keys.md));
    }
    for source in &m.sources {
        for report in &source.reports {
            out.push_str(&format!(
                "\n  {}: {} rows -> {}",
                report.meta.name, report.meta.rows, report.meta.key
            ));
        }
        if let Some(error) = &source.error {
            out.push_str(&format!("\n  {} FAILED: {error}", source.name));
        }
        if let Some(missing) = &source.missing {
            out.push_str(&format!("\n  {} INCOMPLETE: {missing}", source.name));
        }
    }
    out
}
