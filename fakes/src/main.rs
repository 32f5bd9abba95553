//! `rollcall-fakes serve`: the three fake APIs on loopback with their demo data, until Ctrl-C,
//! so anyone can point a spec of their own at them. Prints where they listen, their tokens, the
//! environment lines and a spec to start from.

use rollcall_fakes::{launchdarkly, vault, vision_one};
use std::process::ExitCode;

const USAGE: &str = "usage: rollcall-fakes serve

Starts fake Vault, Trend Vision One and LaunchDarkly APIs on 127.0.0.1 (free ports), with demo
data, and prints their addresses, tokens and a job spec that uses them. Ctrl-C stops them.";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve"] => serve().await,
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn serve() -> ExitCode {
    let (vault, vault_item, vault_env) = vault::demo(chrono::Utc::now()).await;
    let (trend, trend_item, trend_env) = vision_one::demo().await;
    let (ld, ld_item, ld_env) = launchdarkly::demo().await;

    println!("rollcall-fakes: three fake APIs on loopback, with demo data. Ctrl-C stops them.");
    println!();
    println!(
        "  vault         {}  token {}",
        vault.url(),
        vault::DEMO_TOKEN
    );
    println!(
        "  vision_one    {}  token {}",
        trend.url(),
        vision_one::DEMO_TOKEN
    );
    println!(
        "  launchdarkly  {}  token {}",
        ld.url(),
        launchdarkly::DEMO_TOKEN
    );
    println!();
    println!("Environment for rollcall (these tokens are the fakes' own, not secrets):");
    for (name, value) in vault_env.iter().chain(&trend_env).chain(&ld_env) {
        println!("  export {name}={value}");
    }
    println!();
    println!(
        "A job spec that uses them (save as job.yaml, then `rollcall run --config job.yaml`):"
    );
    println!();
    println!("job: fakes\noutput:\n  url: ./reports\nsources:\n{vault_item}{trend_item}{ld_item}");

    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("rollcall-fakes: cannot wait for Ctrl-C ({e}); stopping");
        return ExitCode::FAILURE;
    }
    // Requests the vendors' OpenAPI documents say the real APIs would refuse were answered
    // with 400 as they happened; list them once more so they are not missed.
    let refused: Vec<String> = [
        vault.server.take_violations(),
        ld.server.take_violations(),
        trend.server.take_violations(),
    ]
    .concat();
    if refused.is_empty() {
        println!("rollcall-fakes: stopped");
        return ExitCode::SUCCESS;
    }
    eprintln!("rollcall-fakes: requests the real APIs would refuse:");
    for problem in &refused {
        eprintln!("  {problem}");
    }
    ExitCode::FAILURE
}
