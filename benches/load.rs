//! Every source at benchmark size in one run of the real binary, as a nightly job would be:
//! Vault (12 months x 100,000 clients, 10,000 new a month), Trend Vision One (2,000 accounts,
//! 50,000 logons, 20 ms latency, 500 requests a minute enforced) and LaunchDarkly (62,000
//! entries over 30 days with bursty activity, 100 ms latency, concurrency 8).
//! Prints elapsed time, requests and 429s per source, rollcall's peak RSS, and checks every row.
//!
//! `cargo bench --bench load`

#[path = "../tests/it/support/driver.rs"]
mod driver;

use chrono::{DateTime, Utc};
use driver::{Workspace, csv_rows, rollcall_measured};
use rollcall_fakes::launchdarkly::{FakeLaunchDarkly, Generated};
use rollcall_fakes::vault::Month;
use rollcall_fakes::vault::{Activity, FakeVault, Version};
use rollcall_fakes::vision_one::benchmark_tenant;
use std::time::{Duration, Instant};

const NOW: &str = "2026-11-22T03:00:00Z";
const VAULT_TOKEN: &str = "bench-vault-token";
const TREND_TOKEN: &str = "bench-trend-token";
const VAULT_CLIENTS: u64 = 100_000;
const VAULT_CHURN: u64 = 10_000;
const TREND_ACCOUNTS: usize = 2_000;
const TREND_INACTIVE: usize = 500;
const TREND_EVENTS: usize = 50_000;
const LD_TOKEN: &str = "api-bench-load-token";
const LD_ENTRIES: u64 = 62_000;

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(run());
}

async fn vault(now: DateTime<Utc>) -> (FakeVault, u64) {
    let fake = FakeVault::start(VAULT_TOKEN, Version::V1_18).await;
    let current = Month::of(now);
    {
        let mut state = fake.state();
        for m in 0..12i64 {
            let month = current.plus(m - 11);
            let start = m as u64 * VAULT_CHURN;
            let at = month.start() + chrono::Duration::days(9);
            let activities = state.months.entry(month).or_default();
            for id in start..start + VAULT_CLIENTS {
                activities.push(Activity::entity(
                    &format!("{id:08x}-7210-98e8-1f0d-e6a39ffb29c6"),
                    at,
                ));
            }
        }
    }
    (fake, VAULT_CLIENTS + 11 * VAULT_CHURN)
}

/// Entries generated from their index (not stored), spread over the 30-day window.
async fn launchdarkly(now: DateTime<Utc>) -> (FakeLaunchDarkly, u64) {
    let fake = FakeLaunchDarkly::start(LD_TOKEN).await;
    let end = now.timestamp_millis();
    let start = end - 30 * 86_400_000;
    let data = Generated::bursty(LD_ENTRIES, start, 30);
    let in_window = data.first_at_or_after(end) - data.first_at_or_after(start);
    fake.generate(data);
    {
        let mut state = fake.state();
        state.latency = Duration::from_millis(100);
        state.record = false;
    }
    (fake, in_window)
}

async fn run() {
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(NOW)
        .expect("valid NOW")
        .with_timezone(&Utc);
    let (vault, vault_clients) = vault(now).await;
    let trend = benchmark_tenant(
        TREND_TOKEN,
        now,
        TREND_ACCOUNTS,
        TREND_INACTIVE,
        TREND_EVENTS,
    )
    .await;
    let (ld, ld_entries) = launchdarkly(now).await;
    let ws = Workspace::new();
    let spec = ws.spec_text(&format!(
        "job: load\noutput:\n  url: {}\nsources:\n  - name: vault\n    kind: vault_client_activity\n    address: {}\n  - name: trend\n    kind: vision_one_inactive_accounts\n    base_url: {}\n  - name: ld\n    kind: launchdarkly_audit_log\n    base_url: {}\n    concurrency: 8\n",
        ws.reports().display(),
        vault.url(),
        trend.url(),
        ld.url(),
    ));
    let env = vec![
        ("VAULT_TOKEN".to_owned(), VAULT_TOKEN.to_owned()),
        ("TREND_VISION_ONE_TOKEN".to_owned(), TREND_TOKEN.to_owned()),
        ("LD_API_TOKEN".to_owned(), LD_TOKEN.to_owned()),
        ("ROLLCALL_NOW".to_owned(), NOW.to_owned()),
    ];
    let started = Instant::now();
    let (ran, peak_kib) = rollcall_measured(
        &["run", "--config", spec.to_str().expect("utf-8")],
        &env,
        ws.path(),
    )
    .await;
    let elapsed = started.elapsed();
    if ran.code != 0 {
        eprintln!("load: rollcall exited {}: {}", ran.code, ran.stderr);
        std::process::exit(1);
    }
    let vault_rows = csv_rows(&ws.object("/vault.csv").expect("vault report")).len() - 1;
    let trend_rows = csv_rows(&ws.object("/trend-accounts.csv").expect("trend report")).len() - 1;
    let count = |statuses: Vec<u16>, s: u16| statuses.iter().filter(|x| **x == s).count();
    println!(
        "load: all sources in one run: elapsed {:.1} s, rollcall peak RSS {:.1} MiB",
        elapsed.as_secs_f64(),
        peak_kib as f64 / 1024.0
    );
    println!(
        "load: vault  requests {:>4} (exports {}, monthly count checks {}), 429s {}, clients {vault_rows} of {vault_clients} {}",
        vault.log.count() + vault.queries.count(),
        vault.log.count(),
        vault.queries.count(),
        count(vault.log.statuses(), 429),
        if vault_rows as u64 == vault_clients {
            "(all accounted for)"
        } else {
            "(MISMATCH)"
        }
    );
    println!(
        "load: trend  requests {:>4}, 429s {}, accounts {trend_rows} of {TREND_ACCOUNTS} {}",
        trend.log.count(),
        trend.too_many_count(),
        if trend_rows == TREND_ACCOUNTS {
            "(all accounted for)"
        } else {
            "(MISMATCH)"
        }
    );
    let ld_rows = csv_rows(&ws.object("/ld.csv").expect("launchdarkly report")).len() as u64 - 1;
    println!(
        "load: ld     requests {:>4}, 429s {}, entries {ld_rows} of {ld_entries} {}",
        ld.requests(),
        ld.status_count(429),
        if ld_rows == ld_entries {
            "(all accounted for)"
        } else {
            "(MISMATCH)"
        }
    );
    if vault_rows as u64 != vault_clients || trend_rows != TREND_ACCOUNTS || ld_rows != ld_entries {
        std::process::exit(1);
    }
}
