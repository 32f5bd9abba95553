//! The run summary and the metrics push: written and sent after the reports, before the manifest.

use super::*;

/// Writes `summary.html` and `summary.md`, create-only like every object. A failure is logged
/// and returned in words for the manifest; the run goes on.
pub(super) async fn publish_summary(
    output: &Output,
    view: &RunView,
) -> Result<SummaryKeys, String> {
    let keys = SummaryKeys {
        html: output.summary_key("html"),
        md: output.summary_key("md"),
    };
    let rendered = view
        .to_html()
        .and_then(|html| Ok((html, view.to_markdown()?)));
    let result = match rendered {
        Ok((html, md)) => {
            let html_written = output.put_new(&keys.html, html.into_bytes()).await;
            match html_written {
                Ok(()) => output
                    .put_new(&keys.md, md.into_bytes())
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(()) => Ok(keys),
        Err(error) => {
            let problem = format!(
                "the run summary was not written ({error}); the reports and this manifest are complete"
            );
            tracing::warn!(error = %problem, "Summary not written.");
            Err(problem)
        }
    }
}

/// Pushes the run's metrics within the spec's short timeout. A failure is logged and returned
/// in words for the manifest; the exit code never depends on it.
pub(super) async fn push_metrics(
    http: &HttpClient,
    spec: &MetricsSpec,
    view: &RunView,
) -> Result<(), String> {
    match metrics::push(http.reqwest(), spec, view).await {
        Ok(()) => {
            tracing::info!(groups = view.sources.len() + 1, "Metrics pushed.");
            Ok(())
        }
        Err(errors) => {
            let problem = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            tracing::warn!(error = %problem, "Metrics not pushed.");
            Err(problem)
        }
    }
}
