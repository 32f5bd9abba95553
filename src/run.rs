//! The orchestrator: load and check the spec, prepare every source (nothing fetched yet), run
//! them all concurrently under their deadlines, make each successful source's reports visible,
//! write the manifest last, and decide the exit status.
//!
//! A failing source never stops or loses the others (ripgrep's rule: report per item, go on,
//! tell the truth at the end). Cancellation (SIGTERM, SIGINT) drops in-flight work; unfinished
//! uploads are aborted and no manifest is written, so nothing looks complete that is not.

mod continuous;
mod finish;
mod prepare;
mod publish;

use crate::config::{ConfigError, Environment};
use crate::http::HttpClient;
use crate::job::{self, JobSpec};
use crate::metrics::{self, MetricsSpec};
use crate::output::{KeyValues, Output, OutputError, StoreRetries};
use crate::report::manifest::{
    Manifest, NotRemoved, ReportEntry, RunStatus, SCHEMA_VERSION, ShardInfo, SourceEntry,
    SourceStatus, SummaryKeys, Window,
};
use crate::report::summary::{RunView, SourceFacts};
use crate::report::{CsvReport, ReportMeta};
use crate::sources::vault::Logins;
use crate::sources::{Exclusive, Source, SourceContext, SourceError, SourceSpec};
use crate::time::RunClock;
use chrono::{DateTime, Utc};
use continuous::{LEASE_MARGIN, OpenWindow};
use finish::failed_entry;
pub use finish::{FinishFailed, finish_reports};
use prepare::prepare;
pub use prepare::{prepare_with_retries, validate};
use publish::{publish_summary, push_metrics};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio::time::Instant;
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

/// What to run; built by the CLI from flags and `ROLLCALL_*` settings.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: PathBuf,
    /// Only these sources (by name); empty means all.
    pub only: Vec<String>,
    /// Replaces the spec's `output.url`.
    pub output: Option<String>,
    pub run_id: Option<String>,
    pub clock: RunClock,
    pub env: Environment,
    pub shard: Option<Shard>,
}

/// One slice of the sources, for running a job as an Indexed Job across pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `INDEX/COUNT`, e.g. `0/3`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not INDEX/COUNT, e.g. 0/3"))?;
        let index: u32 = index
            .trim()
            .parse()
            .map_err(|_| format!("`{index}` is not a shard index"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{count}` is not a shard count"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count} is out of range: the index counts from 0 and must be below the count"
            ));
        }
        Ok(Self { index, count })
    }

    /// Stable assignment: the same source name lands on the same shard in every run, whatever
    /// the order or number of other sources (FNV-1a of the name, modulo the count).
    pub fn owns(&self, source_name: &str) -> bool {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in source_name.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash % u64::from(self.count) == u64::from(self.index)
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
                settle_windows(windows, None, started_at).await;
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
    tokio::select! {
        written = publish_summary(&output, &view) => match written {
            Ok(keys) => manifest.summary = Some(keys),
            Err(problem) => {
                manifest.findings.insert("summary".into(), problem.into());
            }
        },
        signal = wait_cancel(&cancel) => return Err(RunError::Interrupted(signal)),
    }
    if let Some(metrics) = &spec.metrics {
        tokio::select! {
            pushed = push_metrics(&http, metrics, &view) => if let Err(problem) = pushed {
                manifest.findings.insert("metrics_push".into(), problem.into());
            },
            signal = wait_cancel(&cancel) => return Err(RunError::Interrupted(signal)),
        }
    }
    let written = tokio::select! {
        written = output.put_new(&manifest_key, manifest.to_json()) => written.map_err(RunError::from),
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

/// The run's times: its "now" (possibly pinned by `ROLLCALL_NOW`) plus the time elapsed since
/// it started, so each source's start and end are its own, on the same time line as the run's.
#[derive(Debug, Clone, Copy)]
struct RunTimer {
    started_at: DateTime<Utc>,
    since: Instant,
}

impl RunTimer {
    fn start(started_at: DateTime<Utc>) -> Self {
        Self {
            started_at,
            since: Instant::now(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.started_at + chrono::Duration::from_std(self.since.elapsed()).unwrap_or_default()
    }
}

/// Settles every claimed window: committed when the written manifest lists its source as
/// succeeded or incomplete, released otherwise (`exported` is `None` when no manifest was written).
async fn settle_windows(
    windows: Vec<Option<OpenWindow>>,
    exported: Option<&[SourceEntry]>,
    now: DateTime<Utc>,
) {
    let settling = windows
        .into_iter()
        .enumerate()
        .filter_map(|(index, window)| {
            let covered = exported
                .and_then(|entries| entries.get(index))
                .is_some_and(|entry| entry.status.exported_its_window());
            window.map(|window| window.settle(covered, now))
        });
    futures::future::join_all(settling).await;
}

async fn wait_cancel(cancel: &CancellationToken) -> &'static str {
    cancel.cancelled().await;
    "a termination signal"
}

fn default_run_id(now: DateTime<Utc>) -> String {
    let suffix: u32 = rand::random();
    format!("{}-{suffix:08x}", now.format("%Y%m%dT%H%M%SZ"))
}

/// One source of the run, ready to fetch: its place in the spec, and the window the run
/// claimed for it when it is continuous.
struct SourceTask {
    index: usize,
    source: Source,
    window: Option<Window>,
}

async fn run_source(
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

#[cfg(test)]
mod tests;
