//! The orchestrator: load and check the spec, prepare every source (nothing fetched yet), run
//! them all concurrently under their deadlines, make each successful source's reports visible,
//! write the manifest last, and decide the exit status.
//!
//! A failing source never stops or loses the others (ripgrep's rule: report per item, go on,
//! tell the truth at the end). Cancellation (SIGTERM, SIGINT) drops in-flight work; unfinished
//! uploads are aborted and no manifest is written, so nothing looks complete that is not.

mod continuous;
mod describe;
mod finish;
mod options;
mod prepare;
mod publish;
mod source_task;

use crate::config::ConfigError;
use crate::http::HttpClient;
use crate::job::{self, JobSpec};
use crate::metrics::{self, MetricsSpec};
use crate::output::{KeyValues, Output, OutputError, StoreRetries};
use crate::report::manifest::{
    Manifest, NotRemoved, RunStatus, SCHEMA_VERSION, ShardInfo, SourceEntry, SourceStatus,
    SummaryKeys,
};
use crate::report::summary::{RunView, SourceFacts};
use crate::report::{CsvReport, ReportMeta};
use crate::sources::vault::Logins;
use crate::sources::{Exclusive, Source, SourceError, SourceSpec};
use crate::time::RunClock;
use chrono::{DateTime, Utc};
use continuous::{LEASE_MARGIN, OpenWindow, settle_windows};
pub use describe::describe;
use finish::failed_entry;
pub use finish::{FinishFailed, finish_reports};
pub use options::{RunOptions, Shard};
use prepare::prepare;
pub use prepare::{prepare_with_retries, validate};
use publish::{publish_summary, push_metrics};
use source_task::{RunTimer, SourceTask, run_source};
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Exit codes, documented in the README and used by the chart's `podFailurePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every source succeeded.
    Success = 0,
    /// Unexpected error, interrupted run, or every source failed at runtime.
    Failure = 1,
    /// Configuration or credentials invalid; Kubernetes should not retry.
    Config = 2,
    /// Some sources failed or are incomplete; the others' reports were written.
    Partial = 3,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Why a run could not complete in the normal way.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Output(#[from] OutputError),
    #[error("interrupted by {0}; unfinished uploads were aborted and no manifest was written")]
    Interrupted(&'static str),
}

impl RunError {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            RunError::Config(_) => ExitStatus::Config,
            RunError::Output(e) if e.retry_cannot_fix() => ExitStatus::Config,
            RunError::Output(_) | RunError::Interrupted(_) => ExitStatus::Failure,
        }
    }
}

/// The outcome of a completed run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub manifest: Manifest,
    pub manifest_key: String,
    pub output: String,
    pub status: ExitStatus,
    /// Each source's name and headline finding, in the manifest's order.
    pub headlines: Vec<(String, String)>,
}

/// Runs the job until done or until `cancel` fires.
pub async fn run(options: RunOptions, cancel: CancellationToken) -> Result<RunSummary, RunError> {
    let started_at = options.clock.now();
    let wall_start = Utc::now();
    let timer = RunTimer::start(started_at);
    // The run's Vault logins: made at most once each, when a source first needs the token, and
    // revoked when the sources are done, however they ended.
    let logins = Logins::default();
    let (spec, sources, http) = prepare(&options, &logins)?;
    let run_id = options
        .run_id
        .clone()
        .unwrap_or_else(|| default_run_id(wall_start));
    let values = KeyValues {
        job: spec.job.clone(),
        date: started_at.format("%Y-%m-%d").to_string(),
        run_id: run_id.clone(),
        shard: options
            .shard
            .map(|s| format!("{}-of-{}", s.index, s.count))
            .unwrap_or_else(|| "all".to_owned()),
    };
    let retries = StoreRetries {
        max_retries: spec.http.max_retries,
        backoff_base: spec.http.backoff_base,
        backoff_max: spec.http.backoff_max,
    };
    let output = Output::open(&spec.output, options.output.as_deref(), values, retries)?;
    output.preflight().await?;
    let spec = Arc::new(spec);
    tracing::info!(
        job = %spec.job,
        run_id = %run_id,
        sources = sources.len(),
        output = %output.location(),
        "Run started."
    );

    let manifest_key = output.manifest_key();
    let mut entries: Vec<Option<(SourceEntry, SourceFacts)>> = vec![None; spec.sources.len()];
    // Continuous windows are claimed before anything is fetched, so a run that races another
    // for the same window stops without spending API quota.
    let lease = spec
        .sources
        .iter()
        .map(|s| spec.deadline_of(s))
        .max()
        .unwrap_or_default()
        + LEASE_MARGIN;
    let mut windows: Vec<Option<OpenWindow>> = Vec::with_capacity(spec.sources.len());
    for (index, source_spec) in spec.sources.iter().enumerate() {
        let Some(policy) = source_spec.continuous_window() else {
            windows.push(None);
            continue;
        };
        let name = source_spec.name();
        match OpenWindow::open(
            &output,
            name,
            policy,
            &run_id,
            &manifest_key,
            started_at,
            lease,
        )
        .await
        {
            Ok(window) => windows.push(Some(window)),
            Err(e) => {
                let message = format!("source `{name}`: {e}");
                tracing::error!(source = %name, error = %message, "Source failed.");
                let entry =
                    failed_entry(source_spec, &options.clock, started_at, started_at, message);
                entries[index] = Some((entry, SourceFacts::default()));
                windows.push(None);
            }
        }
    }

    let mut tasks = JoinSet::new();
    // Shared by every source of the run: two Vault sources for one cluster take turns.
    let exclusive = Exclusive::default();
    for (index, source) in sources.into_iter().enumerate() {
        if entries[index].is_some() {
            continue;
        }
        let spec = spec.clone();
        let output = output.clone();
        let clock = options.clock;
        let exclusive = exclusive.clone();
        let window = windows[index].as_ref().map(OpenWindow::window);
        tasks.spawn(async move {
            (
                index,
                run_source(
                    &spec,
                    SourceTask {
                        index,
                        source,
                        window,
                    },
                    output,
                    clock,
                    exclusive,
                    timer,
                )
                .await,
            )
        });
    }

    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(Ok((index, entry))) => entries[index] = Some(entry),
                Some(Err(e)) => {
                    // A panic in a source is a bug; the run still reports the others.
                    tracing::error!(error = %e, "A source task ended abnormally.");
                }
                None => break,
            },
            signal = wait_cancel(&cancel) => {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                logins.revoke_all().await;
                tracing::error!(signal, "Run interrupted; unfinished uploads aborted, no manifest written.");
                settle_windows(windows, None, timer.now()).await;
                return Err(RunError::Interrupted(signal));
            }
        }
    }

    logins.revoke_all().await;

    let clock_now = timer.now();
    let (mut sources, facts): (Vec<SourceEntry>, Vec<SourceFacts>) = entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            entry.unwrap_or_else(|| {
                let s = &spec.sources[index];
                let entry = failed_entry(
                    s,
                    &options.clock,
                    started_at,
                    clock_now,
                    "the source task panicked (a bug; please report it)".into(),
                );
                (entry, SourceFacts::default())
            })
        })
        .unzip();
    for (entry, window) in sources.iter_mut().zip(&windows) {
        if let Some(window) = window {
            window.record_in(entry);
        }
    }

    let failed = sources
        .iter()
        .filter(|s| s.status == SourceStatus::Failed)
        .count();
    let incomplete = sources
        .iter()
        .filter(|s| s.status == SourceStatus::Incomplete)
        .count();
    // Exit 0 promises complete data: an incomplete source makes the run partial, like a
    // failed one, though its reports are written.
    let (status, exit) = if failed == 0 && incomplete == 0 {
        (RunStatus::Succeeded, ExitStatus::Success)
    } else if failed < sources.len() {
        (RunStatus::Partial, ExitStatus::Partial)
    } else {
        (RunStatus::Failed, ExitStatus::Failure)
    };
    // Every source failed in a way no retry can fix (credentials refused, a spec that cannot
    // work): running again changes nothing until someone fixes them.
    let exit = if exit == ExitStatus::Failure && sources.iter().all(|s| s.retry_cannot_fix) {
        ExitStatus::Config
    } else {
        exit
    };

    let mut manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        job: spec.job.clone(),
        run_id,
        started_at,
        finished_at: clock_now,
        status,
        output: output.location().to_owned(),
        shard: options.shard.map(|s| ShardInfo {
            index: s.index,
            count: s.count,
        }),
        summary: None,
        findings: Default::default(),
        sources,
    };
    // The summary and the metrics come after the reports and before the manifest, so the
    // manifest can name the summary and say if either failed. Neither can fail the run.
    let view = RunView::new(&manifest, exit.code(), facts, &output.summary_key("html"));
    let headlines = view
        .sources
        .iter()
        .map(|s| (s.name.clone(), s.headline()))
        .collect();
    // Summary, metrics, then the manifest, under one watch for a signal: however the run ends
    // from here, every claimed window is settled below.
    let finishing = async {
        if let Err(problem) = publish_summary(&output, &view)
            .await
            .map(|keys| manifest.summary = Some(keys))
        {
            manifest.findings.insert("summary".into(), problem.into());
        }
        if let Some(metrics) = &spec.metrics
            && let Err(problem) = push_metrics(&http, metrics, &view).await
        {
            manifest
                .findings
                .insert("metrics_push".into(), problem.into());
        }
        output
            .put_new(&manifest_key, manifest.to_json())
            .await
            .map_err(RunError::from)
    };
    let written = tokio::select! {
        written = finishing => written,
        signal = wait_cancel(&cancel) => Err(RunError::Interrupted(signal)),
    };
    // The manifest is what proves a window exported: without it, every claim is released.
    let exported = written.is_ok().then_some(&manifest.sources[..]);
    settle_windows(windows, exported, clock_now).await;
    written?;
    let rows: u64 = manifest
        .sources
        .iter()
        .flat_map(|s| &s.reports)
        .map(|r| r.meta.rows)
        .sum();
    tracing::info!(
        job = %manifest.job,
        run_id = %manifest.run_id,
        status = manifest.status.as_str(),
        sources = manifest.sources.len(),
        failed,
        incomplete,
        rows,
        manifest = %manifest_key,
        elapsed_ms = (clock_now - started_at).num_milliseconds(),
        "Run finished."
    );
    Ok(RunSummary {
        manifest,
        manifest_key,
        output: output.location().to_owned(),
        status: exit,
        headlines,
    })
}

async fn wait_cancel(cancel: &CancellationToken) -> &'static str {
    cancel.cancelled().await;
    "a termination signal"
}

fn default_run_id(now: DateTime<Utc>) -> String {
    let suffix: u32 = rand::random();
    format!("{}-{suffix:08x}", now.format("%Y%m%dT%H%M%SZ"))
}

#[cfg(test)]
mod tests;
