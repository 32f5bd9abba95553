//! LaunchDarkly audit log export: speed against latency, speed under a rate limit, and memory.
//!
//! Each scenario runs the real `rollcall` binary (release build) as a child process against the
//! fake LaunchDarkly on loopback, which generates its entries from their index instead of
//! storing them. Every report is then read back and checked: each entry of the window exactly
//! once, in order (newest first, ties by `_id`). Peak RSS is the child's own (`VmHWM` from
//! `/proc/<pid>/status`, polled every 10 ms), so the fake's memory is not counted.
//!
//! `cargo bench --bench launchdarkly`; `LD_BENCH_SKIP_SEQUENTIAL=1` skips the concurrency-1
//! run of scenario 1 (about five minutes at 100 ms a request); `LD_BENCH_ONLY=1,3` runs only
//! the scenarios listed. Run by `cargo test --benches` (without `--bench`), it is a quick smoke
//! run at a fiftieth of the sizes with short latencies and windows, checking correctness only.

#[path = "../tests/it/support/driver.rs"]
mod driver;

use driver::Workspace;
use rollcall_fakes::launchdarkly::{Budget, FakeLaunchDarkly, Generated};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOKEN: &str = "api-bench-0000-fake-token";
const NOW: &str = "2026-11-22T03:00:00Z";
const DAY_MS: i64 = 24 * 3_600_000;
const PAGE: u64 = 20;

struct Outcome {
    elapsed: Duration,
    code: i32,
    peak_rss_kib: u64,
    rows: u64,
    requests: u64,
    rate_limited: u64,
    stderr: String,
}

fn now_ms() -> i64 {
    chrono::DateTime::parse_from_rfc3339(NOW)
        .map(|t| t.timestamp_millis())
        .unwrap_or_default()
}

fn find_report(dir: &Path) -> Option<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with("/ld.csv") {
                return Some(path);
            }
        }
    }
    None
}

/// Reads the report back: every entry of `[start, end)` exactly once, newest first, ties by id.
fn verify(report: &Path, data: &Generated, start: i64, end: i64) -> Result<u64, String> {
    let first = data.first_at_or_after(start);
    let last = data.first_at_or_after(end);
    let mut seen = vec![false; (last - first) as usize];
    let mut reader = csv::Reader::from_path(report).map_err(|e| e.to_string())?;
    let mut previous: Option<(i64, String)> = None;
    let mut rows = 0u64;
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let id = record.get(0).unwrap_or_default().to_owned();
        let date: i64 = record
            .get(2)
            .and_then(|d| d.parse().ok())
            .ok_or("bad date_ms")?;
        let index = Generated::index_of(&id).ok_or_else(|| format!("unknown id {id}"))?;
        if index < first || index >= last {
            return Err(format!("{id} is outside the window"));
        }
        if data.date(index) != date {
            return Err(format!("{id} has the wrong date"));
        }
        let slot = &mut seen[(index - first) as usize];
        if *slot {
            return Err(format!("{id} written twice"));
        }
        *slot = true;
        if let Some((pd, pid)) = &previous
            && !(*pd > date || (*pd == date && *pid < id))
        {
            return Err(format!("{id} out of order after {pid}"));
        }
        previous = Some((date, id));
        rows += 1;
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(format!(
            "{} of {} entries missing, e.g. {}",
            seen.iter().filter(|s| !**s).count(),
            seen.len(),
            Generated::id(first + missing as u64)
        ));
    }
    Ok(rows)
}

async fn run(fake: &FakeLaunchDarkly, extra: &str) -> Outcome {
    let ws = Workspace::new();
    let spec = ws.spec(&[format!(
        "  - name: ld\n    kind: launchdarkly_audit_log\n    base_url: {}\n{extra}",
        fake.url()
    )]);
    let requests_before = fake.requests();
    let limited_before = fake.status_count(429);
    let started = Instant::now();
    let env =
        [("ROLLCALL_NOW", NOW), ("LD_API_TOKEN", TOKEN)].map(|(k, v)| (k.to_owned(), v.to_owned()));
    let (ran, peak) = driver::rollcall_measured(
        &["run", "--config", spec.to_str().expect("utf-8 path")],
        &env,
        ws.path(),
    )
    .await;
    let elapsed = started.elapsed();
    let data = match &fake.state().data {
        rollcall_fakes::launchdarkly::Data::Generated(g) => g.clone(),
        _ => panic!("benchmarks use generated data"),
    };
    let (start, end) = (now_ms() - 30 * DAY_MS, now_ms());
    let rows = match find_report(&ws.reports()) {
        Some(path) => match verify(&path, &data, start, end) {
            Ok(rows) => rows,
            Err(e) => panic!("the report is wrong: {e}"),
        },
        None => 0,
    };
    Outcome {
        elapsed,
        code: ran.code,
        peak_rss_kib: peak,
        rows,
        requests: fake.requests() - requests_before,
        rate_limited: fake.status_count(429) - limited_before,
        stderr: ran.stderr,
    }
}

fn check(label: &str, outcome: &Outcome, expected_rows: u64) {
    if outcome.code != 0 || outcome.rows != expected_rows {
        let tail: Vec<&str> = outcome.stderr.lines().rev().take(20).collect();
        panic!(
            "{label}: exit {}, {} rows of {expected_rows}\n{}",
            outcome.code,
            outcome.rows,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Full figures under `cargo bench`; a fiftieth, quickly, as a smoke test otherwise.
#[derive(Debug, Clone, Copy)]
struct Scale {
    full: bool,
}

impl Scale {
    fn entries(self, full: u64) -> u64 {
        if self.full { full } else { full / 50 }
    }

    fn latency(self) -> Duration {
        Duration::from_millis(if self.full { 100 } else { 5 })
    }

    /// Rate-limit window and budget.
    fn budget(self) -> Budget {
        if self.full {
            Budget {
                requests: 50,
                window: Duration::from_secs(10),
            }
        } else {
            Budget {
                requests: 5,
                window: Duration::from_secs(1),
            }
        }
    }
}

async fn latency_bound(scale: Scale) {
    let entries = scale.entries(62_000);
    let latency = scale.latency();
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    {
        let mut state = fake.state();
        state.record = false;
        state.latency = latency;
    }
    fake.generate(Generated::bursty(entries, now_ms() - 30 * DAY_MS, 30));
    let pages = entries.div_ceil(PAGE);
    let ms = latency.as_millis();
    println!(
        "1. {entries} entries over 30 days (office hours x10, two bursty afternoons x200, 5 in 100 sharing a millisecond), {ms} ms a request, no rate limit"
    );
    let sequential = std::env::var_os("LD_BENCH_SKIP_SEQUENTIAL").is_none();
    for concurrency in [1usize, 8] {
        let bound = latency * pages as u32 / concurrency as u32;
        if concurrency == 1 && !sequential {
            println!(
                "   concurrency 1: skipped (LD_BENCH_SKIP_SEQUENTIAL); bound {pages} pages x {ms} ms = {:.0} s",
                secs(bound)
            );
            continue;
        }
        let outcome = run(&fake, &format!("    concurrency: {concurrency}\n")).await;
        check("scenario 1", &outcome, entries);
        println!(
            "   concurrency {concurrency}: {:.1} s, {} requests, {} rows, peak RSS {:.1} MiB; bound {pages} pages x {ms} ms / {concurrency} = {:.1} s, ratio {:.2}",
            secs(outcome.elapsed),
            outcome.requests,
            outcome.rows,
            outcome.peak_rss_kib as f64 / 1024.0,
            secs(bound),
            secs(outcome.elapsed) / secs(bound)
        );
    }
}

async fn rate_limit_bound(scale: Scale) {
    let entries = scale.entries(10_000);
    let budget = scale.budget();
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    {
        let mut state = fake.state();
        state.record = false;
        state.latency = scale.latency();
        state.route_budget = Some(budget);
    }
    fake.generate(Generated::bursty(entries, now_ms() - 30 * DAY_MS, 30));
    let pages = entries.div_ceil(PAGE);
    let bound = budget.window * (pages / u64::from(budget.requests)) as u32;
    let (per, window, ms) = (
        budget.requests,
        budget.window.as_secs(),
        scale.latency().as_millis(),
    );
    println!(
        "2. {entries} entries over 30 days, route limit {per} requests per {window} s window, {ms} ms a request, default concurrency (4)"
    );
    let outcome = run(&fake, "").await;
    check("scenario 2", &outcome, entries);
    println!(
        "   {:.1} s, {} requests, {} rows, {} answered 429 ({:.2} %); bound {pages} pages / {per} per {window} s = {:.0} s, ratio {:.2}",
        secs(outcome.elapsed),
        outcome.requests,
        outcome.rows,
        outcome.rate_limited,
        100.0 * outcome.rate_limited as f64 / outcome.requests.max(1) as f64,
        secs(bound),
        secs(outcome.elapsed) / secs(bound)
    );
}

async fn memory_bound(scale: Scale) {
    let entries = scale.entries(1_000_000);
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    fake.state().record = false;
    fake.generate(Generated::uniform(
        entries,
        now_ms() - 30 * DAY_MS,
        30 * DAY_MS,
        5,
    ));
    println!(
        "3. {entries} entries over 30 days (5 in 100 sharing a millisecond), no latency, default concurrency (4)"
    );
    let outcome = run(&fake, "").await;
    check("scenario 3", &outcome, entries);
    let spilled = outcome
        .stderr
        .lines()
        .find(|l| l.contains("Fetched the audit log."))
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["rows_via_temp_files"].as_u64())
        .unwrap_or_default();
    println!(
        "   {:.1} s, {} requests, {} rows ({spilled} through temporary files), peak RSS {:.1} MiB (limit 100 MiB)",
        secs(outcome.elapsed),
        outcome.requests,
        outcome.rows,
        outcome.peak_rss_kib as f64 / 1024.0
    );
    if scale.full {
        assert!(outcome.peak_rss_kib < 100 * 1024, "peak RSS over 100 MiB");
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let scale = Scale {
        full: std::env::args().any(|a| a == "--bench"),
    };
    if !scale.full {
        println!(
            "Smoke run at a fiftieth of the sizes (figures: cargo bench --bench launchdarkly)."
        );
    }
    let only = std::env::var("LD_BENCH_ONLY").unwrap_or_default();
    let wanted = |n: &str| only.is_empty() || only.split(',').any(|s| s.trim() == n);
    runtime.block_on(async {
        if wanted("1") {
            latency_bound(scale).await;
        }
        if wanted("2") {
            rate_limit_bound(scale).await;
        }
        if wanted("3") {
            memory_bound(scale).await;
        }
    });
    println!("Every report held each entry of its window exactly once, in order.");
}
