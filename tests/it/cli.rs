//! The command line on the real binary: exit codes, validate, flags versus environment, logs.

use crate::support::{Workspace, assert_contains_all, csv_rows, rollcall, vars, wait_until};
use rollcall_fakes::vault::{Activity, FakeVault, Version, mid, month};
use std::time::Duration;

const TOKEN: &str = "hvs.cli-secret-token-81d0";
const NOW: &str = "2026-11-22T03:00:00Z";

fn vault_item(name: &str, url: &str) -> String {
    format!("  - name: {name}\n    kind: vault_client_activity\n    address: {url}\n")
}

fn env() -> Vec<(String, String)> {
    vars(&[("VAULT_TOKEN", TOKEN), ("ROLLCALL_NOW", NOW)])
}

async fn healthy_vault() -> FakeVault {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.add(month(2026, 11), Activity::entity("a", mid(month(2026, 11))));
    fake
}

#[tokio::test(flavor = "multi_thread")]
async fn help_shows_examples_and_exit_codes_and_version_prints() {
    let ws = Workspace::new();
    let ran = rollcall(&["--help"], &[], ws.path()).await;
    assert_eq!(ran.code, 0);
    assert_contains_all(&ran.stdout, &["Examples:", "Exit codes:"]);
    assert!(ran.stdout.contains("validate") && ran.stdout.contains("run"));
    let ran = rollcall(&["--version"], &[], ws.path()).await;
    assert_eq!(ran.code, 0);
    assert!(ran.stdout.starts_with("rollcall "), "{}", ran.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_0_when_every_source_succeeds_with_a_final_summary_event() {
    let fake = healthy_vault().await;
    let ws = Workspace::new();
    let spec = ws.spec(&[vault_item("v", &fake.url())]);
    let ran = ws.rollcall("run", &spec, &env()).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    // Logs are JSON lines on stderr; the last one is the run summary.
    let last: serde_json::Value = serde_json::from_str(ran.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["message"], "Run finished.");
    assert_eq!(last["rows"], 1 + 13);
    for line in ran.stderr.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    assert_contains_all(&ran.stdout, &["manifest.json", "v.csv"]);
    assert!(!ran.all_output().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_3_when_one_source_fails_and_the_other_is_written() {
    let good = healthy_vault().await;
    let bad = FakeVault::start(TOKEN, Version::V1_18).await;
    bad.add(month(2026, 11), Activity::entity("a", mid(month(2026, 11))));
    bad.state().garbage = Some((month(2026, 11), "<html>oops</html>".into()));
    let ws = Workspace::new();
    let spec = ws.spec(&[
        vault_item("good", &good.url()),
        vault_item("bad", &bad.url()),
    ]);
    let ran = ws.rollcall("run", &spec, &env()).await;
    assert_eq!(ran.code, 3, "{ran:#?}");
    assert_eq!(csv_rows(&ws.object("/good.csv").unwrap()).len(), 2);
    assert!(ws.object("/bad.csv").is_none());
    let manifest = ws.manifest().unwrap();
    assert_eq!(manifest["status"], "partial");
    let sources = manifest["sources"].as_array().unwrap();
    assert_eq!(sources[0]["name"], "good");
    assert_eq!(sources[0]["status"], "succeeded");
    assert_eq!(sources[1]["status"], "failed");
    assert!(
        sources[1]["error"]
            .as_str()
            .unwrap()
            .contains("source `bad`")
    );
    assert!(ran.stdout.contains("bad FAILED"), "{}", ran.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_2_for_a_bad_spec_naming_file_line_and_key_and_nothing_is_fetched() {
    let fake = healthy_vault().await;
    let ws = Workspace::new();
    let spec = ws.spec(&[format!(
        "  - name: v\n    kind: vault_client_activity\n    address: {}\n    months: 0\n    roll_of_months: 3\n",
        fake.url()
    )]);
    for command in ["run", "validate"] {
        let ran = ws.rollcall(command, &spec, &env()).await;
        assert_eq!(ran.code, 2, "{command}: {ran:#?}");
        assert!(
            ran.stderr
                .contains("job.yaml:9:5: `sources[0].roll_of_months`: unknown field"),
            "{}",
            ran.stderr
        );
    }
    let spec = ws.spec(&[format!(
        "  - name: v\n    kind: vault_client_activity\n    address: {}\n    months: 0\n",
        fake.url()
    )]);
    let ran = ws.rollcall("validate", &spec, &env()).await;
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr
            .contains("job.yaml:8:5: `sources[0].months`: must be between 1 and 60"),
        "{}",
        ran.stderr
    );
    assert_eq!(fake.log.count(), 0, "nothing fetched on a bad spec");
    assert!(ws.objects().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_2_for_a_missing_secret_or_spec_file() {
    let fake = healthy_vault().await;
    let ws = Workspace::new();
    let spec = ws.spec(&[vault_item("v", &fake.url())]);
    let ran = ws
        .rollcall("run", &spec, &vars(&[("ROLLCALL_NOW", NOW)]))
        .await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert_contains_all(&ran.stderr, &["source `v`", "VAULT_TOKEN_FILE"]);
    assert_eq!(fake.log.count(), 0);

    let ran = rollcall(&["validate", "--config", "nope.yaml"], &env(), ws.path()).await;
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("cannot read job spec nope.yaml"),
        "{}",
        ran.stderr
    );

    let ran = rollcall(&["run"], &env(), ws.path()).await;
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("ROLLCALL_CONFIG"), "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_2_when_every_source_refuses_its_credentials() {
    let fake = healthy_vault().await;
    fake.state().token = "rotated".into();
    let ws = Workspace::new();
    let spec = ws.spec(&[vault_item("v", &fake.url())]);
    let ran = ws.rollcall("run", &spec, &env()).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert_eq!(ws.manifest().unwrap()["status"], "failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_checks_secrets_without_fetching() {
    let fake = healthy_vault().await;
    let ws = Workspace::new();
    let spec = ws.spec(&[vault_item("v", &fake.url())]);
    let ran = ws.rollcall("validate", &spec, &env()).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert!(ran.stdout.contains("valid"), "{}", ran.stdout);
    // It says plainly what it did not check, and what does.
    assert!(
        ran.stdout.contains(
            "Not checked: the output's credentials and the sources' tokens against their servers"
        ) && ran.stdout.contains("`rollcall check`"),
        "{}",
        ran.stdout
    );
    assert_eq!(fake.log.count(), 0);
    assert!(ws.objects().is_empty());

    let ran = rollcall(&["validate", "--help"], &[], ws.path()).await;
    assert_contains_all(&ran.stdout, &["connects to nothing", "`rollcall check`"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_help_lists_the_settings_it_takes_from_the_environment() {
    let ws = Workspace::new();
    let ran = rollcall(&["run", "--help"], &[], ws.path()).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_contains_all(
        &ran.stdout,
        &[
            "ROLLCALL_RUN_ID",
            "ROLLCALL_NOW",
            "ROLLCALL_CONFIG",
            "ROLLCALL_OUTPUT",
            "ROLLCALL_SHARD_COUNT",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn text_logs_carry_no_colour_codes_when_stderr_is_not_a_terminal() {
    let fake = healthy_vault().await;
    let ws = Workspace::new();
    let spec = ws.spec(&[vault_item("v", &fake.url())]);
    let mut vars = env();
    vars.push(("ROLLCALL_LOG_FORMAT".into(), "text".into()));
    let ran = ws.rollcall("run", &spec, &vars).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert!(ran.stderr.contains("Run started."), "{ran:#?}");
    assert!(
        !ran.stderr.contains('\u{1b}'),
        "ANSI escape in {:?}",
        ran.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_selects_sources_and_flags_beat_the_environment() {
    let a = healthy_vault().await;
    let b = healthy_vault().await;
    let ws = Workspace::new();
    let spec = ws.spec(&[vault_item("a", &a.url()), vault_item("b", &b.url())]);
    let elsewhere = ws.path().join("elsewhere");
    let flagged = ws.path().join("flagged");
    let mut vars = env();
    vars.push(("ROLLCALL_CONFIG".into(), spec.to_str().unwrap().into()));
    vars.push(("ROLLCALL_OUTPUT".into(), elsewhere.to_str().unwrap().into()));
    vars.push(("ROLLCALL_RUN_ID".into(), "fixed-run".into()));
    let ran = rollcall(
        &["run", "--only", "b", "--output", flagged.to_str().unwrap()],
        &vars,
        ws.path(),
    )
    .await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(a.log.count(), 0);
    assert_eq!(b.log.count(), 12);
    assert!(flagged.join("test-job/2026-11-22/fixed-run/b.csv").exists());
    assert!(!elsewhere.exists());

    let ran = rollcall(&["run", "--only", "c"], &vars, ws.path()).await;
    assert_eq!(ran.code, 2);
    assert_contains_all(&ran.stderr, &["--only c", "a, b"]);

    // The same run id again: the manifest exists, nothing is fetched or overwritten.
    let ran = rollcall(
        &["run", "--only", "b", "--output", flagged.to_str().unwrap()],
        &vars,
        ws.path(),
    )
    .await;
    // A reused run id is for a person to change: exit 2, not retried.
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert_contains_all(
        &ran.stderr,
        &[
            "a manifest already exists at test-job/2026-11-22/fixed-run/manifest.json",
            "this run id was used before",
            "ROLLCALL_RUN_ID",
        ],
    );
    assert_eq!(b.log.count(), 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifest_states_what_an_auditor_checks() {
    let fake = healthy_vault().await;
    let ws = Workspace::new();
    // A relative output folder, as a person types it.
    let spec = ws.spec_text(&format!(
        "job: test-job\noutput:\n  url: ./reports\nsources:\n{}",
        vault_item("v", &fake.url())
    ));
    let ran = ws.rollcall("run", &spec, &env()).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let manifest = ws.manifest().expect("a manifest");
    assert_eq!(manifest["schema_version"], 3);
    let folder = std::fs::canonicalize(ws.reports()).unwrap();
    assert_eq!(
        manifest["output"],
        format!("file://{}/", folder.display()),
        "the output as an absolute URL"
    );
    assert_eq!(manifest["started_at"], NOW);
    let source = &manifest["sources"][0];
    let time =
        |v: &serde_json::Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    // The source's own times, after the run's start (the output was checked in between).
    assert!(
        time(&source["started_at"]) > time(&manifest["started_at"]),
        "{source:#}"
    );
    assert!(time(&source["finished_at"]) >= time(&source["started_at"]));
    assert!(time(&manifest["finished_at"]) >= time(&source["finished_at"]));
    // Vault's window ends at the run's "now", not at the end of the month.
    assert_eq!(source["window"]["start"], "2025-12-01T00:00:00Z");
    assert_eq!(source["window"]["end"], NOW);
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_split_the_sources_between_runs() {
    let fakes = [
        healthy_vault().await,
        healthy_vault().await,
        healthy_vault().await,
    ];
    let ws = Workspace::new();
    let items: Vec<String> = fakes
        .iter()
        .enumerate()
        .map(|(i, f)| vault_item(&format!("vault-{i}"), &f.url()))
        .collect();
    let spec = ws.spec(&items);
    for index in 0..2 {
        let mut vars = env();
        vars.push(("JOB_COMPLETION_INDEX".into(), index.to_string()));
        vars.push(("ROLLCALL_SHARD_COUNT".into(), "2".into()));
        let ran = ws.rollcall("run", &spec, &vars).await;
        assert_eq!(ran.code, 0, "{ran:#?}");
    }
    // Every source ran exactly once across the two shards, each shard wrote its own manifest.
    for fake in &fakes {
        assert_eq!(fake.log.count(), 12);
    }
    let manifests = ws
        .objects()
        .keys()
        .filter(|k| k.ends_with("manifest.json"))
        .count();
    assert_eq!(manifests, 2);
    let ran = rollcall(
        &["run", "--config", spec.to_str().unwrap(), "--shard", "2/2"],
        &env(),
        ws.path(),
    )
    .await;
    assert_eq!(ran.code, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn free_text_is_neutralised_unless_turned_off_and_identifiers_never_are() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    let mut a = Activity::entity("=HYPERLINK(\"http://x\")", mid(month(2026, 11)));
    a.entity_name = "@SUM(1+1)".into();
    fake.add(month(2026, 11), a);
    // A non-entity client id is base64: about one in 64 starts with `+`, and it must still
    // match Vault's own data.
    let mut b = Activity::entity("+44PUxYzQ1w2e3r4t5y6u7i8o9p0=", mid(month(2026, 11)));
    b.client_type = "non-entity-token".into();
    b.entity_name = "-".into();
    fake.add(month(2026, 11), b);
    let ws = Workspace::new();
    let spec = ws.spec(&[vault_item("v", &fake.url())]);
    let ran = ws.rollcall("run", &spec, &env()).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = csv_rows(&ws.object("/v.csv").unwrap());
    let of = |id: &str| rows.iter().find(|r| r[0] == id).unwrap().clone();
    assert_eq!(of("=HYPERLINK(\"http://x\")")[9], "'@SUM(1+1)");
    assert_eq!(of("+44PUxYzQ1w2e3r4t5y6u7i8o9p0=")[9], "'-");
    let manifest = ws.manifest().unwrap();
    let reports = &manifest["sources"][0]["reports"];
    assert_eq!(reports[0]["name"], "v");
    assert_eq!(reports[0]["neutralised_cells"], 2, "{manifest:#}");
    assert_eq!(reports[1]["neutralised_cells"], 0, "{manifest:#}");

    let ws = Workspace::new();
    let spec = ws.spec_text(&format!(
        "job: j\noutput:\n  url: {}\nreports:\n  formula_escape: false\nsources:\n{}",
        ws.reports().display(),
        vault_item("v", &fake.url())
    ));
    let ran = ws.rollcall("run", &spec, &env()).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = csv_rows(&ws.object("/v.csv").unwrap());
    let of = |id: &str| rows.iter().find(|r| r[0] == id).unwrap().clone();
    assert_eq!(of("=HYPERLINK(\"http://x\")")[9], "@SUM(1+1)");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_promptly_leaving_nothing_and_the_next_run_starts_clean() {
    let fake = healthy_vault().await;
    // Every export takes a minute: the run is surely in flight when the signal arrives.
    fake.state().delay = std::time::Duration::from_secs(60);
    let ws = Workspace::new();
    let spec = ws.spec(&[vault_item("v", &fake.url())]);
    let running = ws.start_run(&spec, &env());
    wait_until("no request arrived", || fake.max_concurrent() > 0).await;
    let signalled = std::time::Instant::now();
    let stopped = running.terminate(Duration::from_secs(10)).await;
    assert!(signalled.elapsed() < Duration::from_secs(5));
    assert_eq!(stopped.code, 1, "{stopped:#?}");
    assert!(stopped.stderr.contains("interrupted"), "{stopped:#?}");
    assert!(ws.objects().is_empty(), "{:?}", ws.objects().keys());

    fake.state().delay = std::time::Duration::ZERO;
    let ran = ws.rollcall("run", &spec, &env()).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_or_invalid_ca_bundle_is_a_configuration_error() {
    let fake = healthy_vault().await;
    let ws = Workspace::new();
    let junk = ws.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    for (ca, needle) in [
        ("/nonexistent/ca.pem", "cannot read CA bundle"),
        (junk.to_str().unwrap(), "holds no certificate"),
    ] {
        let spec = ws.spec(&[format!(
            "{}    ca_cert: {ca}\n",
            vault_item("v", &fake.url())
        )]);
        let ran = ws.rollcall("validate", &spec, &env()).await;
        assert_eq!(ran.code, 2, "{ran:#?}");
        assert!(ran.stderr.contains(needle), "{}", ran.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_past_its_deadline_fails_alone() {
    let good = healthy_vault().await;
    let slow = healthy_vault().await;
    slow.state().delay = std::time::Duration::from_secs(30);
    let ws = Workspace::new();
    let spec = ws.spec(&[
        vault_item("good", &good.url()),
        format!("{}    timeout: 1s\n", vault_item("slow", &slow.url())),
    ]);
    let started = std::time::Instant::now();
    let ran = ws.rollcall("run", &spec, &env()).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(ran.code, 3, "{ran:#?}");
    let error = ws.source_error(1);
    assert_contains_all(&error, &["deadline of 1s", "timeout"]);
    assert!(ws.object("/good.csv").is_some());
    assert!(ws.object("/slow.csv").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_of_one_run_share_a_folder_with_a_manifest_each() {
    let fakes = [healthy_vault().await, healthy_vault().await];
    let ws = Workspace::new();
    let spec = ws.spec_text(&format!(
        "job: j\noutput:\n  url: {}\n  manifest_template: \"{{job}}/{{date}}/{{run_id}}/manifest-{{shard}}.json\"\nsources:\n{}{}",
        ws.reports().display(),
        vault_item("vault-a", &fakes[0].url()),
        vault_item("vault-b", &fakes[1].url()),
    ));
    for index in 0..2 {
        let mut vars = env();
        vars.push(("ROLLCALL_RUN_ID".into(), "job-1234".into()));
        let shard = format!("{index}/2");
        let ran = rollcall(
            &["run", "--config", spec.to_str().unwrap(), "--shard", &shard],
            &vars,
            ws.path(),
        )
        .await;
        assert_eq!(ran.code, 0, "{ran:#?}");
    }
    let keys: Vec<String> = ws.objects().into_keys().collect();
    assert!(
        keys.contains(&"j/2026-11-22/job-1234/manifest-0-of-2.json".to_owned()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"j/2026-11-22/job-1234/manifest-1-of-2.json".to_owned()),
        "{keys:?}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&ws.objects()["j/2026-11-22/job-1234/manifest-1-of-2.json"]).unwrap();
    assert_eq!(
        manifest["shard"],
        serde_json::json!({"index": 1, "count": 2})
    );
}

/// All or none: a source's first report must not stay visible when the second cannot be
/// written; the manifest says the source failed and lists no report of it.
#[tokio::test(flavor = "multi_thread")]
async fn a_source_whose_second_report_cannot_be_written_leaves_no_report_at_all() {
    let failing = healthy_vault().await;
    let healthy = healthy_vault().await;
    let ws = Workspace::new();
    let spec = ws.spec(&[
        vault_item("v", &failing.url()),
        vault_item("ok", &healthy.url()),
    ]);
    let run_dir = ws.reports().join("test-job/2026-11-22/fixed-run");
    // A folder where the forecast must go: the store refuses to create the object there.
    std::fs::create_dir_all(run_dir.join("v-forecast.csv")).unwrap();
    let mut vars = env();
    vars.push(("ROLLCALL_RUN_ID".into(), "fixed-run".into()));
    let ran = ws.rollcall("run", &spec, &vars).await;
    assert_eq!(ran.code, 3, "{ran:#?}");
    assert!(
        !run_dir.join("v.csv").exists(),
        "the first report stayed visible beside its failed sibling"
    );
    assert!(run_dir.join("ok.csv").exists() && run_dir.join("ok-forecast.csv").exists());
    let manifest = ws.manifest().unwrap();
    let v = &manifest["sources"][0];
    assert_eq!(v["name"], "v");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["reports"], serde_json::json!([]), "{manifest:#}");
    assert!(v.get("reports_not_removed").is_none(), "{manifest:#}");
    assert!(
        v["error"].as_str().unwrap().contains("v-forecast"),
        "{manifest:#}"
    );
}
