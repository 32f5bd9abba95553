//! The Trend Vision One source end to end: the real binary against the fake Trend API, which
//! adds 20 ms to every request and enforces Trend's 500 requests a minute (429 beyond it,
//! without `Retry-After`, as Trend documents none). Prints requests made, elapsed time, 429s
//! received and the most requests that arrived within any 60 seconds.
//!
//! Two runs: the 2,000 accounts and 50,000 logon events (about 261 requests, which fit
//! in one minute's budget), and 150,000 events (about 761 requests), where the client's own
//! budget must hold requests back for the rest of the minute.
//!
//! `cargo bench --bench vision_one`

#[path = "../tests/it/support/driver.rs"]
mod driver;

use chrono::{DateTime, Utc};
use driver::{Workspace, csv_rows, rollcall};
use rollcall_fakes::vision_one::benchmark_tenant;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-vision-one-token";
const NOW: &str = "2026-11-22T03:00:00Z";
const ACCOUNTS: usize = 2_000;
/// Accounts with no logon in the window; the rest share the events.
const INACTIVE: usize = 500;
const LATENCY: Duration = Duration::from_millis(20);
const LIMIT: usize = 500;
const MINUTE: Duration = Duration::from_secs(60);

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
    runtime.block_on(async {
        scenario(50_000).await;
        scenario(150_000).await;
    });
}

async fn scenario(events: usize) {
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(NOW)
        .expect("valid NOW")
        .with_timezone(&Utc);
    let fake = benchmark_tenant(TOKEN, now, ACCOUNTS, INACTIVE, events).await;
    let ws = Workspace::new();
    let spec = ws.spec(&[format!(
        "  - name: vision-one\n    kind: vision_one_inactive_accounts\n    base_url: {}\n",
        fake.url()
    )]);
    let env = vec![
        ("TREND_VISION_ONE_TOKEN".to_owned(), TOKEN.to_owned()),
        ("ROLLCALL_NOW".to_owned(), NOW.to_owned()),
    ];
    let started = Instant::now();
    let ran = rollcall(
        &["run", "--config", spec.to_str().expect("utf-8 path")],
        &env,
        ws.path(),
    )
    .await;
    let elapsed = started.elapsed();
    if ran.code != 0 {
        eprintln!("the run failed: {ran:#?}");
        std::process::exit(1);
    }
    let requests = fake.log.count();
    // The scan for accounts added or invited in the window costs one page here (none are).
    let arrival_pages = fake.arrival_requests().len();
    let floor = events.div_ceil(200) + ACCOUNTS.div_ceil(200) + 1;
    let too_many = fake.too_many_count();
    let busiest = fake.max_in_window(MINUTE);
    let cleanup = ws
        .object("/vision-one.csv")
        .map(|t| csv_rows(&t).len() - 1)
        .unwrap_or_default();
    let detail = ws
        .object("/vision-one-accounts.csv")
        .map(|t| csv_rows(&t).len() - 1)
        .unwrap_or_default();
    println!(
        "vision_one: {ACCOUNTS} accounts, {events} logon events, {} ms a request, limit {LIMIT}/60s",
        LATENCY.as_millis()
    );
    println!(
        "  requests made:      {requests} (⌈events/200⌉ + ⌈accounts/200⌉ + 1 arrivals page = {floor}; arrival pages: {arrival_pages})"
    );
    println!("  elapsed:            {:.1} s", elapsed.as_secs_f64());
    println!("  429s received:      {too_many}");
    println!("  most in any 60 s:   {busiest} (limit {LIMIT})");
    println!("  reports:            {cleanup} removal requests, {detail} accounts");
    let mut wrong = Vec::new();
    if requests > floor + 2 {
        wrong.push(format!("{requests} requests, expected about {floor}"));
    }
    if too_many > 0 || busiest > LIMIT {
        wrong.push(format!(
            "the budget was exceeded: {too_many} 429s, {busiest} in 60 s"
        ));
    }
    if cleanup != INACTIVE || detail != ACCOUNTS {
        wrong.push(format!("reports: {cleanup} removals, {detail} accounts"));
    }
    if !wrong.is_empty() {
        eprintln!("FAILED: {}", wrong.join("; "));
        std::process::exit(1);
    }
}
