//! The whole job end to end against the fake APIs on loopback, for anyone trying rollcall
//! without credentials: `cargo run --example demo`. Reports and the manifest land in `./reports`.
//!
//! It runs the same library entry point as `rollcall run`, with the spec written to a temp file
//! and the fakes' tokens passed as the environment.

use rollcall::config::Environment;
use rollcall::config::env::LogFormat;
use rollcall::run::{self, RunOptions};
use rollcall::time::RunClock;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    rollcall::logging::init(LogFormat::Text, Some("info"));
    let clock = RunClock::system();
    let (_vault, vault_item, vault_env) = rollcall_fakes::vault::demo(clock.now()).await;
    let (_trend, trend_item, trend_env) = rollcall_fakes::vision_one::demo().await;
    let (_launchdarkly, ld_item, ld_env) = rollcall_fakes::launchdarkly::demo().await;

    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("demo: cannot make a temp folder: {e}");
            return ExitCode::FAILURE;
        }
    };
    let spec = dir.path().join("demo.yaml");
    let text = format!(
        "job: demo\noutput:\n  url: ./reports\nsources:\n{vault_item}{trend_item}{ld_item}"
    );
    if let Err(e) = std::fs::write(&spec, text) {
        eprintln!("demo: cannot write the spec: {e}");
        return ExitCode::FAILURE;
    }
    let options = RunOptions {
        config: spec,
        only: Vec::new(),
        output: None,
        run_id: None,
        clock,
        env: Environment::from_pairs(vault_env.into_iter().chain(trend_env).chain(ld_env)),
        shard: None,
    };
    match run::run(options, CancellationToken::new()).await {
        Ok(summary) => {
            println!("{}", run::describe(&summary));
            let folder = std::env::current_dir()
                .map(|d| d.join("reports").display().to_string())
                .unwrap_or_else(|_| "./reports".into());
            println!("demo: open the reports under {folder}");
            ExitCode::from(summary.status.code())
        }
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::from(e.exit_status().code())
        }
    }
}
