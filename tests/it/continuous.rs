//! LaunchDarkly's `window: continuous` through the real binary: a sequence of scheduled runs,
//! each with its own pinned "now", against the fake LaunchDarkly, with output to a local folder
//! and to s3s-fs. Checked entry by entry: the reports of the runs' manifests, together, hold
//! every entry of the log from the first window's start to the last window's end exactly once,
//! across missed schedules, a failed run, a late entry and a racing run.

use crate::support::s3::{S3Server, SECRET_KEY, start_s3};
use crate::support::{Ran, Workspace, csv_rows, rollcall, vars, wait_until};
use rollcall_fakes::launchdarkly::{FakeEntry, FakeLaunchDarkly};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const TOKEN: &str = "api-5a1d-continuous-token-0042";
const SOURCE: &str = "ld-audit";
const MINUTE: i64 = 60_000;

fn ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Where the runs write, and how to read back what they wrote.
enum Out {
    Local,
    S3(S3Server),
}

struct Job {
    ws: Workspace,
    out: Out,
    fake: FakeLaunchDarkly,
}

impl Job {
    async fn new(out: Out) -> Self {
        let fake = FakeLaunchDarkly::start(TOKEN).await;
        let ws = Workspace::new();
        let output = match &out {
            Out::Local => format!("output:\n  url: {}\n", ws.reports().display()),
            Out::S3(s3) => s3.output_yaml("compliance"),
        };
        ws.spec_text(&format!(
            "job: audit\n{output}http:\n  max_retries: 0\nsources:\n  - name: {SOURCE}\n    kind: launchdarkly_audit_log\n    base_url: {}\n    window: continuous\n    lookback: 2d\n    settle: 5m\n    max_catch_up: 10d\n",
            fake.url()
        ));
        Self { ws, out, fake }
    }

    fn env(&self, run_id: &str, now: &str, token: &str) -> Vec<(String, String)> {
        let mut env = vars(&[
            ("LD_API_TOKEN", token),
            ("ROLLCALL_NOW", now),
            ("ROLLCALL_RUN_ID", run_id),
        ]);
        if let Out::S3(_) = self.out {
            env.extend(S3Server::env(SECRET_KEY));
        }
        env
    }

    async fn run(&self, run_id: &str, now: &str) -> Ran {
        self.run_with_token(run_id, now, TOKEN).await
    }

    async fn run_with_token(&self, run_id: &str, now: &str, token: &str) -> Ran {
        let spec = self.ws.path().join("job.yaml");
        self.ws
            .rollcall("run", &spec, &self.env(run_id, now, token))
            .await
    }

    async fn objects(&self) -> BTreeMap<String, String> {
        match &self.out {
            Out::Local => self.ws.objects(),
            Out::S3(s3) => s3
                .objects()
                .await
                .into_iter()
                .map(|(k, v)| (k.trim_start_matches("compliance/").to_owned(), v))
                .collect(),
        }
    }

    /// The source's entry in the manifest of `run_id`.
    async fn source_entry(&self, run_id: &str) -> Value {
        let objects = self.objects().await;
        let manifest = objects
            .iter()
            .find(|(k, _)| k.ends_with(&format!("/{run_id}/manifest.json")))
            .map(|(_, v)| serde_json::from_str::<Value>(v).unwrap())
            .unwrap_or_else(|| panic!("no manifest of {run_id}: {:?}", objects.keys()));
        manifest["sources"][0].clone()
    }

    /// Entry ids in the report of `run_id`, as written.
    async fn exported(&self, run_id: &str) -> Vec<String> {
        let entry = self.source_entry(run_id).await;
        let key = entry["reports"][0]["key"].as_str().unwrap().to_owned();
        let objects = self.objects().await;
        let rows = csv_rows(&objects[&key]);
        let id = rows[0].iter().position(|c| c == "id").expect("id column");
        rows[1..].iter().map(|row| row[id].clone()).collect()
    }

    async fn claim_exists(&self, generation: u64) -> bool {
        let name = format!("rollcall-ledger/audit/{SOURCE}/{generation:012}.claim.json");
        self.objects().await.contains_key(&name)
    }
}

/// An entry every 37 minutes over the two weeks the runs cover, plus entries exactly on window
/// boundaries and three that share one millisecond on a boundary.
fn log() -> Vec<FakeEntry> {
    let mut entries: Vec<FakeEntry> = (0..)
        .map(|i| ms("2026-10-30T00:00:00Z") + i * 37 * MINUTE + i % 7)
        .take_while(|date| *date < ms("2026-11-11T00:00:00Z"))
        .enumerate()
        .map(|(i, date)| FakeEntry::flag(&format!("e{i:05}"), date))
        .collect();
    // The end of run-1's window (the start of run-2's), and one millisecond before it.
    let boundary = ms("2026-11-02T23:58:00Z");
    entries.push(FakeEntry::flag("edge-before", boundary - 1));
    for tie in ["tie-a", "tie-b", "tie-c"] {
        entries.push(FakeEntry::flag(tie, boundary));
    }
    entries
}

/// The windows of the successful runs, in order; each must start where the previous ended.
async fn chained_windows(job: &Job, runs: &[&str]) -> (i64, i64) {
    let mut previous: Option<(String, Value)> = None;
    for run in runs {
        let entry = job.source_entry(run).await;
        assert_eq!(entry["status"], "succeeded", "{run}: {entry:#}");
        let continuity = &entry["continuity"];
        assert_eq!(continuity["gap"], Value::Null, "{run}");
        match &previous {
            None => assert_eq!(continuity["previous_run_id"], Value::Null, "{run}"),
            Some((previous_run, previous_window)) => {
                assert_eq!(
                    continuity["previous_run_id"],
                    *previous_run.as_str(),
                    "{run}"
                );
                assert_eq!(continuity["previous_window"], *previous_window, "{run}");
                assert_eq!(entry["window"]["start"], previous_window["end"], "{run}");
            }
        }
        previous = Some((run.to_string(), entry["window"].clone()));
    }
    let first = job.source_entry(runs[0]).await;
    let last = job.source_entry(runs[runs.len() - 1]).await;
    let at = |v: &Value| ms(v.as_str().unwrap());
    (at(&first["window"]["start"]), at(&last["window"]["end"]))
}

async fn a_schedule_of_runs_exports_every_entry_exactly_once(out: Out) {
    let job = Job::new(out).await;
    let mut entries = log();
    job.fake.set_entries(entries.clone());

    // Daily at midnight, with the jitter a CronJob has.
    let first = job.run("run-1", "2026-11-03T00:03:00Z").await;
    assert_eq!(first.code, 0, "{first:#?}");
    let entry = job.source_entry("run-1").await;
    assert_eq!(
        entry["window"]["start"], "2026-10-31T23:58:00Z",
        "first run: lookback 2d"
    );
    assert_eq!(
        entry["window"]["end"], "2026-11-02T23:58:00Z",
        "ends settle (5m) before now"
    );
    let exported = job.exported("run-1").await;
    assert!(exported.contains(&"edge-before".to_owned()));
    assert!(
        !exported.iter().any(|id| id.starts_with("tie-")),
        "{exported:?}"
    );

    let second = job.run("run-2", "2026-11-04T00:09:30Z").await;
    assert_eq!(second.code, 0, "{second:#?}");
    let exported = job.exported("run-2").await;
    for tie in ["tie-a", "tie-b", "tie-c"] {
        assert!(
            exported.contains(&tie.to_owned()),
            "{tie} in run-2: {exported:?}"
        );
    }

    // The 5th and 6th were missed (the cluster was down): the 7th catches up in one go.
    let caught_up = job.run("run-3", "2026-11-07T00:01:00Z").await;
    assert_eq!(caught_up.code, 0, "{caught_up:#?}");
    let entry = job.source_entry("run-3").await;
    assert_eq!(entry["window"]["start"], "2026-11-04T00:04:30Z");
    assert_eq!(entry["window"]["end"], "2026-11-06T23:56:00Z");

    // The 8th fails (a revoked token): nothing of it counts, and its window is not lost.
    let failed = job
        .run_with_token("run-4", "2026-11-08T00:02:00Z", "api-revoked")
        .await;
    assert_eq!(failed.code, 2, "{failed:#?}");
    assert_eq!(job.source_entry("run-4").await["status"], "failed");

    let recovered = job.run("run-5", "2026-11-09T00:04:00Z").await;
    assert_eq!(recovered.code, 0, "{recovered:#?}");
    let entry = job.source_entry("run-5").await;
    assert_eq!(entry["continuity"]["previous_run_id"], "run-3");
    assert_eq!(entry["window"]["start"], "2026-11-06T23:56:00Z");

    // An entry dated a minute before run-5 started shows up only after it ran: it is later than
    // run-5's window (which ended settle before now), so the next run exports it.
    let late = FakeEntry::flag("late", ms("2026-11-09T00:03:00Z"));
    entries.push(late.clone());
    job.fake.set_entries(entries.clone());

    // A manual Job started beside the scheduled one while the scheduled one is still paging:
    // it finds the window claimed and stops without fetching.
    // Slow enough pages that the scheduled run still holds its claim when the manual one
    // starts, even on a loaded machine.
    job.fake.state().latency = Duration::from_secs(6);
    let scheduled = {
        let spec = job.ws.path().join("job.yaml");
        let env = job.env("run-6", "2026-11-10T00:03:00Z", TOKEN);
        let cwd = job.ws.path().to_owned();
        tokio::spawn(async move {
            rollcall(&["run", "--config", spec.to_str().unwrap()], &env, &cwd).await
        })
    };
    while !job.claim_exists(6).await {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let manual = job.run("run-6-manual", "2026-11-10T00:04:00Z").await;
    assert_eq!(manual.code, 1, "{manual:#?}");
    let error = job.source_entry("run-6-manual").await["error"].clone();
    let error = error.as_str().unwrap();
    assert!(
        error.contains("run run-6 claimed the window from 2026-11-08 23:59:00 UTC"),
        "{error}"
    );
    assert!(
        !manual.stderr.contains("Fetching the audit log."),
        "the manual run fetched nothing: {}",
        manual.stderr
    );
    let scheduled = scheduled.await.unwrap();
    assert_eq!(scheduled.code, 0, "{scheduled:#?}");
    job.fake.state().latency = Duration::ZERO;
    assert!(job.exported("run-6").await.contains(&"late".to_owned()));

    // Entry by entry: the successful runs' windows join, and their reports are the log.
    let runs = ["run-1", "run-2", "run-3", "run-5", "run-6"];
    let (start, end) = chained_windows(&job, &runs).await;
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for run in runs {
        for id in job.exported(run).await {
            if let Some(earlier) = seen.insert(id.clone(), run) {
                panic!("{id} exported by {earlier} and again by {run}");
            }
        }
    }
    let expected: BTreeSet<String> = entries
        .iter()
        .filter(|e| start <= e.date && e.date < end)
        .map(|e| e.id.clone())
        .collect();
    let got: BTreeSet<String> = seen.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "from {} to {}: missing {missing:?}, outside the windows {extra:?}",
        rfc3339(start),
        rfc3339(end)
    );
    assert!(expected.len() > 300, "{} entries", expected.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_runs_into_a_local_folder_export_every_entry_exactly_once() {
    a_schedule_of_runs_exports_every_entry_exactly_once(Out::Local).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_runs_into_s3_export_every_entry_exactly_once() {
    a_schedule_of_runs_exports_every_entry_exactly_once(Out::S3(start_s3())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn catching_up_further_than_max_catch_up_records_the_gap_loudly() {
    let job = Job::new(Out::Local).await;
    job.fake.set_entries(log());
    assert_eq!(job.run("run-1", "2026-10-31T00:05:00Z").await.code, 0);
    // Eleven days later; max_catch_up is 10d.
    let late = job.run("run-2", "2026-11-11T00:05:00Z").await;
    // No run will ever export the skipped day: the source is incomplete, the run exits 3.
    assert_eq!(late.code, 3, "{late:#?}");
    let entry = job.source_entry("run-2").await;
    assert_eq!(entry["status"], "incomplete", "{entry:#}");
    assert!(
        entry["missing"].as_str().unwrap().starts_with(
            "GAP: nothing exported from 2026-10-31T00:00:00.000Z to 2026-11-01T00:00:00.000Z"
        ),
        "{entry:#}"
    );
    let gap = &entry["continuity"]["gap"];
    assert_eq!(gap["start"], "2026-10-31T00:00:00Z", "{entry:#}");
    assert_eq!(gap["end"], "2026-11-01T00:00:00Z", "{entry:#}");
    assert!(
        gap["reason"]
            .as_str()
            .unwrap()
            .contains("max_catch_up (10days)"),
        "{gap}"
    );
    assert_eq!(entry["window"]["start"], "2026-11-01T00:00:00Z");
    assert!(
        late.stdout.contains(
            "INCOMPLETE: GAP: nothing exported from 2026-10-31T00:00:00.000Z to 2026-11-01T00:00:00.000Z"
        ),
        "{}",
        late.stdout
    );
    assert!(
        late.stderr
            .contains("GAP: entries between these times are not exported")
    );
    // The incomplete run's window is committed all the same (fetching it again would not bring
    // the skipped day back): the next run continues where it ended, complete.
    let next = job.run("run-3", "2026-11-12T00:05:00Z").await;
    assert_eq!(next.code, 0, "{next:#?}");
    let entry = job.source_entry("run-3").await;
    assert_eq!(entry["status"], "succeeded", "{entry:#}");
    assert_eq!(
        entry["window"]["start"], "2026-11-11T00:00:00Z",
        "{entry:#}"
    );
    assert_eq!(entry["continuity"]["previous_run_id"], "run-2", "{entry:#}");
    assert_eq!(entry["continuity"]["gap"], Value::Null, "{entry:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_run_releases_its_window_for_the_next_run() {
    let job = Job::new(Out::Local).await;
    job.fake.set_entries(log());
    job.fake.state().latency = Duration::from_secs(60);
    let spec = job.ws.path().join("job.yaml");
    let running = job
        .ws
        .start_run(&spec, &job.env("run-1", "2026-11-03T00:03:00Z", TOKEN));
    wait_until("no request arrived", || job.fake.requests() > 0).await;
    assert!(job.claim_exists(1).await);
    let stopped = running.terminate(Duration::from_secs(10)).await;
    assert_eq!(stopped.code, 1, "{stopped:#?}");
    let end = job.objects().await[&format!("rollcall-ledger/audit/{SOURCE}/000000000001.end.json")]
        .clone();
    let end: Value = serde_json::from_str(&end).unwrap();
    assert_eq!(end["outcome"], "released", "{end:#}");

    // The next run takes the same window at once, without waiting for the claim's lease.
    job.fake.state().latency = Duration::ZERO;
    let next = job.run("run-2", "2026-11-03T00:04:00Z").await;
    assert_eq!(next.code, 0, "{next:#?}");
    let entry = job.source_entry("run-2").await;
    assert_eq!(entry["continuity"]["generation"], 2);
    assert_eq!(entry["continuity"]["previous_run_id"], Value::Null);
    assert_eq!(entry["window"]["start"], "2026-10-31T23:59:00Z");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incomplete_window_is_committed_and_the_next_run_follows_on() {
    let job = Job::new(Out::Local).await;
    let mut entries = log();
    // 30 changes of one flag in one millisecond of run-1's window: 20 are all the API lists,
    // and nothing is left to split on.
    let burst = ms("2026-11-02T12:00:00.123Z");
    entries.extend((0..30).map(|i| {
        FakeEntry::accessing(
            &format!("burst-{i:02}"),
            burst,
            &[("updateOn", "proj/web:env/production:flag/checkout")],
        )
    }));
    job.fake.set_entries(entries);
    let first = job.run("run-1", "2026-11-03T00:03:00Z").await;
    assert_eq!(first.code, 3, "{first:#?}");
    let entry = job.source_entry("run-1").await;
    assert_eq!(entry["status"], "incomplete", "{entry:#}");
    assert!(
        entry["missing"].as_str().unwrap().contains(&rfc3339(burst)),
        "{entry:#}"
    );

    // Fetching run-1's window again would not bring the missing ten back: the window is
    // committed, and run-2 starts where it ended instead of stalling on it.
    let second = job.run("run-2", "2026-11-04T00:03:00Z").await;
    assert_eq!(second.code, 0, "{second:#?}");
    let next = job.source_entry("run-2").await;
    assert_eq!(next["continuity"]["previous_run_id"], "run-1", "{next:#}");
    assert_eq!(next["window"]["start"], entry["window"]["end"], "{next:#}");
    let exported = job.exported("run-2").await;
    assert!(!exported.iter().any(|id| id.starts_with("burst-")));
}
