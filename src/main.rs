//! The `rollcall` command: parse arguments, start logging, call the library, map the outcome to
//! an exit code. Nothing else lives here.

use clap::{Args, Parser, Subcommand};
use rollcall::config::env::LogFormat;
use rollcall::config::{Environment, Settings};
use rollcall::run::{self, ExitStatus, RunOptions, Shard};
use rollcall::time::RunClock;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

const EXAMPLES: &str = "\
Examples:
  rollcall validate --config job.yaml
  rollcall check --config job.yaml
  rollcall run --config job.yaml
  rollcall run --config job.yaml --only vault-prod --output ./reports
  ROLLCALL_CONFIG=/etc/rollcall/job.yaml rollcall run

Exit codes:
  0  every source succeeded
  1  unexpected error, interrupted, or every source failed
  2  configuration or credentials invalid, or nothing a retry can fix (do not retry)
  3  partial: some sources failed or are incomplete, the others were written";

/// Scheduled compliance exports: who still has access, who still counts against a licence.
#[derive(Parser, Debug)]
#[command(name = "rollcall", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format; default from ROLLCALL_LOG_FORMAT, else JSON unless stderr is a terminal.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// Log filter such as `info` or `rollcall=debug`; default from ROLLCALL_LOG, else `info`.
    #[arg(long, global = true)]
    log: Option<String>,
}

/// The settings `run` takes from the environment when no flag gives them.
const RUN_ENVIRONMENT: &str = "\
Environment:
  ROLLCALL_CONFIG       the job spec, when --config is not given
  ROLLCALL_OUTPUT       replaces the spec's output.url, when --output is not given
  ROLLCALL_RUN_ID       the run id in object keys (default: start time plus a random suffix);
                        a run id already used is refused, as its manifest exists
  ROLLCALL_NOW          the run's \"now\" as RFC 3339 (e.g. 2026-11-01T00:00:00Z), to re-run a
                        missed period; every window is computed from it
  ROLLCALL_SHARD_COUNT  with Kubernetes' JOB_COMPLETION_INDEX, runs one shard, when --shard is not given
  ROLLCALL_LOG, ROLLCALL_LOG_FORMAT
                        log filter and format, when --log and --log-format are not given
  Each source's token comes from the variable its token_env names, or <it>_FILE.";

/// What `validate` does not do, said where its result is read.
const VALIDATE_SCOPE: &str = "\
validate reads the spec and the environment only: it connects to nothing, so it checks neither
the output's credentials nor the sources' tokens against their servers. `rollcall check` does.";

#[derive(Subcommand, Debug)]
enum Command {
    /// Fetch every source and write the reports and the manifest.
    #[command(after_help = RUN_ENVIRONMENT)]
    Run(RunArgs),
    /// Check the spec and that every source's secret is set; connect to nothing.
    #[command(after_help = VALIDATE_SCOPE)]
    Validate(SpecArgs),
    /// Print the JSON Schema of the job spec, for editors and the Helm chart.
    Schema,
    /// Validate, then make one minimal live call per source and to the output.
    #[command(after_help = CHECK_HELP)]
    Check(SpecArgs),
}

const CHECK_HELP: &str = "\
Everything `validate` does, then one minimal live call per target, fetching nothing beyond it:
  Vault         the server's health and version, the login (when `auth` is set) and the
                token, its capabilities on the export
                path (read, and sudo from Vault 1.18) and on the paths the cross-checks read,
                its remaining TTL against the source's deadline, and whether the server has
                the activity export at all
  Vision One    one page of IAM accounts and one page of logon events of the last hour
  LaunchDarkly  one audit-log entry (limit=1)
  output        list it, create a probe object create-only where the run writes, delete it

One line per target: its result code, what was checked or what failed, and the fix.

Result codes:
  ok            the target works as the run will use it
  unreachable   no answer (DNS, refused connection, timeout)
  tls           the TLS certificate is not trusted
  unauthorized  the credential was refused (missing, wrong or expired)
  forbidden     the credential is valid but lacks a permission the run needs
  not_found     what the spec points at does not exist (an API path, a bucket, the export)
  other         an answer the check does not recognise

Exit codes:
  0  every target ok
  1  a target is unreachable or answered something unexpected (and nothing below applies)
  2  a credential, permission or setting is wrong (tls, unauthorized, forbidden, not_found), or
     the spec or environment is invalid";

#[derive(Args, Debug)]
struct SpecArgs {
    /// The job spec (YAML). Default from ROLLCALL_CONFIG.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Only this source (repeatable).
    #[arg(long = "only", value_name = "NAME")]
    only: Vec<String>,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    spec: SpecArgs,
    /// Where to write, replacing the spec's output.url: s3://bucket/prefix, file:///dir or a path.
    /// Default from ROLLCALL_OUTPUT.
    #[arg(long)]
    output: Option<String>,
    /// Run only this shard of the sources, as INDEX/COUNT (e.g. 0/4). Default: from
    /// JOB_COMPLETION_INDEX and ROLLCALL_SHARD_COUNT when Kubernetes runs an Indexed Job.
    #[arg(long)]
    shard: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Environment::from_process();
    let settings = match env.settings() {
        Ok(s) => s,
        Err(e) => return fail_config(&e.to_string()),
    };
    rollcall::logging::init(
        cli.log_format
            .or(settings.log_format)
            .unwrap_or(LogFormat::Auto),
        cli.log.as_deref().or(settings.log.as_deref()),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rollcall: cannot start the async runtime: {e}");
            return ExitCode::from(ExitStatus::Failure.code());
        }
    };
    runtime.block_on(dispatch(cli.command, settings, env))
}

async fn dispatch(command: Command, settings: Settings, env: Environment) -> ExitCode {
    match command {
        Command::Schema => {
            // Pretty-printing a JSON value into memory cannot fail.
            let text = serde_json::to_string_pretty(&rollcall::job::schema()).unwrap_or_default();
            println!("{text}");
            ExitCode::SUCCESS
        }
        Command::Validate(args) => {
            let options = match options(&args, None, None, &settings, env) {
                Ok(o) => o,
                Err(message) => return fail_config(&message),
            };
            match run::validate(&options) {
                Ok((spec, sources)) => {
                    println!(
                        "{}: valid; job `{}` with {} source(s): {}\n\
                         Not checked: the output's credentials and the sources' tokens against their \
                         servers (validate connects to nothing); `rollcall check` tests them.",
                        options.config.display(),
                        spec.job,
                        sources.len(),
                        spec.sources
                            .iter()
                            .map(|s| s.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail_config(&e.to_string()),
            }
        }
        Command::Check(args) => {
            let options = match options(&args, None, None, &settings, env) {
                Ok(o) => o,
                Err(message) => return fail_config(&message),
            };
            match rollcall::check::check(&options).await {
                Ok(report) => {
                    println!("{}", report.render());
                    ExitCode::from(report.status().code())
                }
                Err(e) => fail_config(&e.to_string()),
            }
        }
        Command::Run(args) => {
            let shard = match shard(args.shard.as_deref(), &env) {
                Ok(s) => s,
                Err(message) => return fail_config(&message),
            };
            let options = match options(&args.spec, args.output, shard, &settings, env) {
                Ok(o) => o,
                Err(message) => return fail_config(&message),
            };
            let cancel = CancellationToken::new();
            tokio::spawn(cancel_on_signal(cancel.clone()));
            match run::run(options, cancel).await {
                Ok(summary) => {
                    println!("{}", rollcall::run::describe(&summary));
                    ExitCode::from(summary.status.code())
                }
                Err(e) => {
                    tracing::error!(error = %e, "Run failed.");
                    eprintln!("rollcall: {e}");
                    ExitCode::from(e.exit_status().code())
                }
            }
        }
    }
}

fn options(
    args: &SpecArgs,
    output: Option<String>,
    shard: Option<Shard>,
    settings: &Settings,
    env: Environment,
) -> Result<RunOptions, String> {
    let config = args
        .config
        .clone()
        .or_else(|| settings.config.clone())
        .ok_or("no job spec: pass --config FILE or set ROLLCALL_CONFIG")?;
    let clock = match &settings.now {
        Some(text) => RunClock::fixed(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|e| format!("ROLLCALL_NOW `{text}` is not an RFC 3339 time: {e}"))?
                .with_timezone(&chrono::Utc),
        ),
        None => RunClock::system(),
    };
    Ok(RunOptions {
        config,
        only: args.only.clone(),
        output: output.or_else(|| settings.output.clone()),
        run_id: settings.run_id.clone(),
        clock,
        env,
        shard,
    })
}

/// `--shard`, else Kubernetes' Indexed Job index with the shard count from the environment.
fn shard(flag: Option<&str>, env: &Environment) -> Result<Option<Shard>, String> {
    if let Some(text) = flag {
        return Shard::parse(text)
            .map(Some)
            .map_err(|e| format!("--shard: {e}"));
    }
    match (
        env.get("JOB_COMPLETION_INDEX"),
        env.get("ROLLCALL_SHARD_COUNT"),
    ) {
        (Some(index), Some(count)) => Shard::parse(&format!("{index}/{count}"))
            .map(Some)
            .map_err(|e| format!("JOB_COMPLETION_INDEX/ROLLCALL_SHARD_COUNT: {e}")),
        _ => Ok(None),
    }
}

fn fail_config(message: &str) -> ExitCode {
    eprintln!("rollcall: configuration error:\n{message}");
    ExitCode::from(ExitStatus::Config.code())
}

async fn cancel_on_signal(cancel: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    cancel.cancel();
}
