//! The run summary in a real browser and the run's metrics in a real Pushgateway: first the
//! renderers and the push on a fixed view of a run, then the real binary on the demo's fakes.

use crate::support::{chromium, pushgateway};

use chrono::{DateTime, TimeZone, Utc};
use rollcall::metrics::{MetricsSpec, PushError};
use rollcall::report::manifest::{RunStatus, SourceStatus, Window};
use rollcall::report::summary::*;
use std::collections::BTreeMap;
use std::time::Duration;

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .single()
        .expect("a valid time")
}

fn count(label: &str, count: u64) -> Count {
    Count {
        label: label.into(),
        count,
    }
}

fn source(name: &str, kind: &str, status: SourceStatus, minutes: u32) -> SourceView {
    SourceView {
        name: name.into(),
        kind: kind.into(),
        status,
        started_at: at(22, 3, 0),
        finished_at: at(22, 3, minutes),
        window: Some(Window {
            start: at(1, 0, 0),
            end: at(22, 3, 0),
        }),
        thresholds: BTreeMap::new(),
        error: None,
        missing: None,
        reports: vec![ReportLink {
            name: name.into(),
            href: format!("{name}.csv"),
            rows: 10,
        }],
        rows: 10,
        facts: SourceFacts {
            requests: Some(40),
            rate_limited: Some(3),
            details: None,
        },
    }
}

/// A run like the demo's: one source of each kind, the LaunchDarkly one incomplete.
fn demo_like_run() -> RunView {
    let mut vault = source(
        "vault-prod",
        "vault_client_activity",
        SourceStatus::Succeeded,
        1,
    );
    vault.facts.requests = None;
    vault.facts.rate_limited = None;
    vault.facts.details = Some(KindDetails::Vault(VaultDetails {
        licensed_clients: Some(500),
        clients: 560,
        trailing_window: (0..12)
            .map(|i| MonthCount {
                month: format!("{}-{:02}", 2026 + (10 + i) / 12, (10 + i) % 12 + 1),
                counted: 560 - i * 30,
                rolling_off: if i == 0 { 0 } else { 30 },
            })
            .collect(),
        billing_period: Some(BillingPeriod {
            period_start: at(1, 0, 0),
            next_period_start: at(1, 0, 0) + chrono::Duration::days(365),
            counted_in_period: 530,
            rolling_off_at_next_start: 200,
        }),
        by_type: vec![count("entity", 400), count("non-entity-token", 160)],
        by_namespace: vec![
            count("root", 200),
            count("admin/", 250),
            count("admin/team-a/", 110),
        ],
    }));
    let mut trend = source(
        "vision-one",
        "vision_one_inactive_accounts",
        SourceStatus::Succeeded,
        2,
    );
    trend.facts.details = Some(KindDetails::VisionOne(VisionOneDetails {
        accounts: 30,
        by_reason: vec![
            DecisionCount {
                decision: "keep".into(),
                reason: "active".into(),
                count: 17,
            },
            DecisionCount {
                decision: "remove".into(),
                reason: "last_logon_too_old".into(),
                count: 8,
            },
            DecisionCount {
                decision: "remove".into(),
                reason: "no_logon_in_window".into(),
                count: 4,
            },
            DecisionCount {
                decision: "skip".into(),
                reason: "saml_group".into(),
                count: 1,
            },
        ],
        by_role: vec![
            RoleDecisions {
                role: "Analyst".into(),
                keep: 10,
                remove: 9,
                skip: 0,
            },
            RoleDecisions {
                role: "Master Administrator".into(),
                keep: 7,
                remove: 3,
                skip: 1,
            },
        ],
        to_remove: (0..12)
            .map(|i| AccountToRemove {
                email: format!("user{i}@example.com"),
                role: "Analyst".into(),
                last_logon: (i % 2 == 0).then(|| "2026-07-01T09:00:00Z".to_owned()),
                reason: "last_logon_too_old".into(),
            })
            .collect(),
        to_remove_total: 12,
    }));
    let mut ld = source(
        "launchdarkly",
        "launchdarkly_audit_log",
        SourceStatus::Incomplete,
        3,
    );
    ld.missing = Some("2026-11-20T10:00:00.123Z: 4 entries could not be listed".into());
    ld.facts.details = Some(KindDetails::LaunchDarkly(LaunchDarklyDetails {
        entries: 62_000,
        per_day: (1u32..=21)
            .map(|d| DayKinds {
                day: format!("2026-11-{d:02}"),
                by_kind: vec![
                    count("flag", 2_000 + u64::from(d) * 10),
                    count("segment", 500),
                    count("project", 100),
                    count("environment", 60),
                    count("member", 40),
                    count("token", 20),
                    count("webhook", 10),
                ],
            })
            .collect(),
        top_members: vec![
            count("ada@example.com", 30_000),
            count("grace@example.com", 20_000),
        ],
        top_tokens: vec![count("ci-deploy", 12_000)],
        completeness: Completeness::Missing { entries: 4 },
    }));
    RunView {
        job: "compliance-nightly".into(),
        run_id: "20261122T030000Z-1a2b3c4d".into(),
        started_at: at(22, 3, 0),
        finished_at: at(22, 3, 3),
        status: RunStatus::Partial,
        exit_code: 3,
        shard: None,
        sources: vec![vault, trend, ld],
    }
}

const CHARTS: &[&str] = &[
    "Clients counted per month (trailing window)",
    "Clients counted by billing period",
    "Clients by type",
    "Clients by namespace",
    "Decisions by reason",
    "Decisions by role",
    "Entries per day by kind",
    "Most active members",
    "Most active access tokens",
];

#[test]
fn summary_renders_in_chromium_with_every_chart_and_finding() {
    let run = demo_like_run();
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("summary.html");
    std::fs::write(&page, run.to_html().expect("renders")).expect("write page");
    let dom = chromium::render(&page, &dir.path().join("summary.png"), 1100, 4000);

    assert_eq!(chromium::chart_titles(&dom), CHARTS);
    for source in &run.sources {
        let finding = format!("data-source=\"{}\"", source.name);
        let at = dom
            .find(&finding)
            .unwrap_or_else(|| panic!("no finding for {}", source.name));
        let item = &dom[at..at + dom[at..].find("</li>").expect("</li>")];
        assert!(
            item.contains(&source.headline()),
            "finding of {} says `{item}`",
            source.name
        );
    }
    assert!(dom.contains("licence 500"), "the licence line's label");
    assert!(dom.contains("560 over"), "the over-licence mark");
    assert!(dom.contains("4 entries could not be listed"));
}

#[tokio::test]
async fn pushgateway_holds_every_series_and_keeps_the_last_success_of_a_failed_source() {
    let gateway = pushgateway::Pushgateway::start().await;
    let spec = MetricsSpec {
        pushgateway: gateway.url.clone(),
        timeout: Duration::from_secs(5),
    };
    let client = reqwest::Client::new();
    let run = demo_like_run();
    rollcall::metrics::push(&client, &spec, &run)
        .await
        .expect("pushed");
    let series = gateway.series().await;
    let value = |key: &str| -> f64 {
        *series
            .get(key)
            .unwrap_or_else(|| panic!("no series {key} in {series:#?}"))
    };
    let run_labels = "instance=\"\",job=\"compliance-nightly\",shard=\"all\"";
    assert_series(
        &series,
        run_labels,
        &[
            ("rollcall_run_status", ",status=\"partial\"", 1.0),
            ("rollcall_run_status", ",status=\"succeeded\"", 0.0),
            ("rollcall_run_status", ",status=\"failed\"", 0.0),
            ("rollcall_run_duration_seconds", "", 180.0),
            ("rollcall_run_exit_code", "", 3.0),
            ("rollcall_run_sources", "", 3.0),
            (
                "rollcall_run_finished_timestamp_seconds",
                "",
                at(22, 3, 3).timestamp() as f64,
            ),
        ],
    );

    let labels =
        |source: &str| format!("instance=\"\",job=\"compliance-nightly\",source=\"{source}\"");
    for (source, status) in [
        ("vault-prod", "succeeded"),
        ("vision-one", "succeeded"),
        ("launchdarkly", "incomplete"),
    ] {
        let l = labels(source);
        for each in ["succeeded", "incomplete", "failed"] {
            assert_eq!(
                value(&format!("rollcall_source_status{{{l},status=\"{each}\"}}")),
                f64::from(u8::from(each == status)),
                "{source} {each}"
            );
        }
        assert_eq!(value(&format!("rollcall_source_rows{{{l}}}")), 10.0);
        assert!(value(&format!("rollcall_source_duration_seconds{{{l}}}")) >= 60.0);
    }
    let trend = labels("vision-one");
    assert_series(
        &series,
        &trend,
        &[
            ("rollcall_source_requests", "", 40.0),
            ("rollcall_source_rate_limited_responses", "", 3.0),
            (
                "rollcall_source_last_success_timestamp_seconds",
                "",
                at(22, 3, 2).timestamp() as f64,
            ),
            ("rollcall_vision_one_accounts_to_remove", "", 12.0),
            ("rollcall_vision_one_accounts", "", 30.0),
        ],
    );
    let vault = labels("vault-prod");
    assert_series(
        &series,
        &vault,
        &[
            ("rollcall_vault_clients_counted", "", 560.0),
            ("rollcall_vault_licensed_clients", "", 500.0),
            ("rollcall_vault_clients_over_licence", "", 60.0),
            ("rollcall_vault_months_over_licence", "", 2.0),
        ],
    );
    let ld = labels("launchdarkly");
    assert_series(
        &series,
        &ld,
        &[
            ("rollcall_launchdarkly_entries", "", 62_000.0),
            ("rollcall_launchdarkly_entries_missing", "", 4.0),
        ],
    );
    assert!(
        !series.contains_key(&format!(
            "rollcall_source_last_success_timestamp_seconds{{{ld}}}"
        )),
        "an incomplete source has not succeeded"
    );

    // The next run: Trend fails. Its status flips, its last success stays where it was.
    let mut next = demo_like_run();
    next.started_at = at(23, 3, 0);
    next.finished_at = at(23, 3, 3);
    let failed = &mut next.sources[1];
    failed.status = SourceStatus::Failed;
    failed.started_at = at(23, 3, 0);
    failed.finished_at = at(23, 3, 1);
    failed.facts.details = None;
    rollcall::metrics::push(&client, &spec, &next)
        .await
        .expect("pushed");
    let series = gateway.series().await;
    // The failed run kept Trend's last success.
    assert_series(
        &series,
        &trend,
        &[
            ("rollcall_source_status", ",status=\"failed\"", 1.0),
            ("rollcall_source_status", ",status=\"succeeded\"", 0.0),
            (
                "rollcall_source_last_success_timestamp_seconds",
                "",
                at(22, 3, 2).timestamp() as f64,
            ),
        ],
    );
    assert_series(
        &series,
        &vault,
        &[(
            "rollcall_source_last_success_timestamp_seconds",
            "",
            at(22, 3, 1).timestamp() as f64,
        )],
    );
}

/// Checks pushed series by value: each `(metric, further labels, value)`, its labels `labels`
/// and then the further ones.
fn assert_series(
    series: &std::collections::BTreeMap<String, f64>,
    labels: &str,
    expected: &[(&str, &str, f64)],
) {
    for (metric, further, value) in expected {
        let key = format!("{metric}{{{labels}{further}}}");
        let got = series
            .get(&key)
            .unwrap_or_else(|| panic!("no series {key} in {series:#?}"));
        assert_eq!(got, value, "{key}");
    }
}

#[tokio::test]
async fn a_closed_port_fails_the_push_at_once_with_a_plain_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let spec = MetricsSpec {
        pushgateway: format!("http://127.0.0.1:{port}"),
        timeout: Duration::from_secs(5),
    };
    let errors = rollcall::metrics::push(&reqwest::Client::new(), &spec, &demo_like_run())
        .await
        .expect_err("nothing listens");
    assert_eq!(errors.len(), 4, "the run's group and one per source");
    for error in &errors {
        let message = error.to_string();
        assert!(matches!(error, PushError::Group { .. }), "{message}");
        assert!(message.contains("is unreachable"), "{message}");
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_pushgateway_that_never_answers_is_given_up_after_the_timeout() {
    // Accepts connections and reads, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let spec = MetricsSpec {
        pushgateway: format!("http://{addr}"),
        timeout: Duration::from_secs(3),
    };
    let started = tokio::time::Instant::now();
    let errors = rollcall::metrics::push(&reqwest::Client::new(), &spec, &demo_like_run())
        .await
        .expect_err("no answer");
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(errors.len(), 1);
    let message = errors[0].to_string();
    assert!(matches!(errors[0], PushError::Timeout { .. }), "{message}");
    assert!(message.contains("did not answer within 3s"), "{message}");
}

// ---- The real binary ----

const DEMO_CHARTS: &[&str] = &[
    "Clients counted per month (trailing window)",
    "Clients by type",
    "Clients by namespace",
    "Decisions by reason",
    "Decisions by role",
    "Entries per day by kind",
    "Most active members",
    "Most active access tokens",
];

/// The demo's three sources (fakes on loopback), their spec items and their environment.
struct Demo {
    _vault: rollcall_fakes::vault::FakeVault,
    _trend: rollcall_fakes::vision_one::FakeVisionOne,
    _launchdarkly: rollcall_fakes::launchdarkly::FakeLaunchDarkly,
    items: String,
    env: Vec<(String, String)>,
}

impl Demo {
    async fn start() -> Self {
        let (vault, vault_item, vault_env) = rollcall_fakes::vault::demo(Utc::now()).await;
        let (trend, trend_item, trend_env) = rollcall_fakes::vision_one::demo().await;
        let (launchdarkly, ld_item, ld_env) = rollcall_fakes::launchdarkly::demo().await;
        Self {
            _vault: vault,
            _trend: trend,
            _launchdarkly: launchdarkly,
            items: format!("{vault_item}{trend_item}{ld_item}"),
            env: vault_env
                .into_iter()
                .chain(trend_env)
                .chain(ld_env)
                .collect(),
        }
    }
}

fn manifest_of(workspace: &crate::support::Workspace) -> serde_json::Value {
    let objects = workspace.objects();
    let (_, text) = objects
        .iter()
        .find(|(key, _)| key.ends_with("manifest.json"))
        .expect("a manifest was written");
    serde_json::from_str(text).expect("the manifest is JSON")
}

#[tokio::test]
async fn the_demo_run_writes_a_summary_chromium_renders_and_pushes_every_series() {
    let demo = Demo::start().await;
    let gateway = pushgateway::Pushgateway::start().await;
    let workspace = crate::support::Workspace::new();
    let spec = workspace.spec_text(&format!(
        "job: demo\noutput:\n  url: {}\nmetrics:\n  pushgateway: {}\nsources:\n{}",
        workspace.reports().display(),
        gateway.url,
        demo.items
    ));
    let ran = workspace.rollcall("run", &spec, &demo.env).await;
    assert_eq!(ran.code, 0, "{}", ran.all_output());

    // The manifest names both summaries; both exist beside it.
    let manifest = manifest_of(&workspace);
    let html_key = manifest["summary"]["html"]
        .as_str()
        .expect("summary.html named");
    let md_key = manifest["summary"]["md"]
        .as_str()
        .expect("summary.md named");
    assert!(html_key.ends_with("/summary.html") && md_key.ends_with("/summary.md"));
    assert!(manifest.get("findings").is_none(), "{manifest:#}");
    let objects = workspace.objects();
    let md = &objects[md_key];
    assert!(md.contains("| vault-demo | succeeded |"), "{md}");

    // One headline line per source at the end of the run.
    for source in ["vault-demo", "vision-one", "launchdarkly"] {
        let line = ran
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{source}: ")) && !l.contains("rows ->"))
            .unwrap_or_else(|| panic!("no headline for {source}: {}", ran.stdout));
        assert!(line.len() > source.len() + 10, "{line}");
    }
    assert!(
        ran.stdout.contains("clients counted now, licence 40"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("account(s) to remove of"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("entries, complete"), "{}", ran.stdout);

    // In the browser: every chart with its title, and every source's finding.
    let page = workspace.reports().join(html_key);
    let dom = chromium::render(&page, &workspace.path().join("summary.png"), 1100, 4000);
    assert_eq!(chromium::chart_titles(&dom), DEMO_CHARTS);
    for source in manifest["sources"].as_array().expect("sources") {
        let name = source["name"].as_str().expect("name");
        assert!(
            dom.contains(&format!("data-source=\"{name}\"")),
            "finding of {name}"
        );
    }
    // Report links resolve from the summary's own folder.
    let folder = page.parent().expect("the summary's folder");
    for source in manifest["sources"].as_array().expect("sources") {
        for report in source["reports"].as_array().expect("reports") {
            let name = report["name"].as_str().expect("name");
            let href = format!("href=\"{name}.csv\"");
            assert!(dom.contains(&href), "{href}");
            assert!(
                folder.join(format!("{name}.csv")).is_file(),
                "{name}.csv beside the summary"
            );
        }
    }

    // In the Pushgateway: the run's group and every source's.
    let series = gateway.series().await;
    let has = |name: &str, labels: &str| {
        assert!(
            series.contains_key(&format!("{name}{{{labels}}}")),
            "no {name}{{{labels}}} in {:#?}",
            series
                .keys()
                .filter(|k| k.starts_with("rollcall"))
                .collect::<Vec<_>>()
        );
    };
    let run = "instance=\"\",job=\"demo\",shard=\"all\"";
    has(
        "rollcall_run_status",
        &format!("{run},status=\"succeeded\""),
    );
    has("rollcall_run_duration_seconds", run);
    for source in ["vault-demo", "vision-one", "launchdarkly"] {
        let labels = format!("instance=\"\",job=\"demo\",source=\"{source}\"");
        for status in ["succeeded", "incomplete", "failed"] {
            has(
                "rollcall_source_status",
                &format!("{labels},status=\"{status}\""),
            );
        }
        for name in [
            "rollcall_source_rows",
            "rollcall_source_duration_seconds",
            "rollcall_source_last_success_timestamp_seconds",
        ] {
            has(name, &labels);
        }
    }
    let trend = "instance=\"\",job=\"demo\",source=\"vision-one\"";
    has("rollcall_source_requests", trend);
    has("rollcall_source_rate_limited_responses", trend);
    has("rollcall_vision_one_accounts_to_remove", trend);
    has(
        "rollcall_vault_clients_over_licence",
        "instance=\"\",job=\"demo\",source=\"vault-demo\"",
    );
    has(
        "rollcall_launchdarkly_entries_missing",
        "instance=\"\",job=\"demo\",source=\"launchdarkly\"",
    );
}

/// Runs the demo's Vault source with `metrics` pointing at `pushgateway` (and `timeout`).
async fn run_with_pushgateway(
    pushgateway: &str,
    timeout: &str,
) -> (crate::support::Ran, serde_json::Value, Duration) {
    let (_vault, item, env) = rollcall_fakes::vault::demo(Utc::now()).await;
    let workspace = crate::support::Workspace::new();
    let spec = workspace.spec_text(&format!(
        "job: demo\noutput:\n  url: {}\nmetrics:\n  pushgateway: {pushgateway}\n  timeout: {timeout}\nsources:\n{item}",
        workspace.reports().display(),
    ));
    let started = std::time::Instant::now();
    let ran = workspace.rollcall("run", &spec, &env).await;
    let elapsed = started.elapsed();
    let manifest = manifest_of(&workspace);
    (ran, manifest, elapsed)
}

#[tokio::test]
async fn a_down_pushgateway_leaves_the_exit_code_and_adds_a_finding() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let (ran, manifest, _) = run_with_pushgateway(&format!("http://127.0.0.1:{port}"), "5s").await;
    assert_eq!(ran.code, 0, "{}", ran.all_output());
    let finding = manifest["findings"]["metrics_push"]
        .as_str()
        .unwrap_or_else(|| panic!("no metrics_push finding: {manifest:#}"));
    assert!(finding.contains("is unreachable"), "{finding}");
    assert!(finding.contains(&format!("127.0.0.1:{port}")), "{finding}");
    assert!(ran.stderr.contains("Metrics not pushed."), "{}", ran.stderr);
    assert_eq!(manifest["status"], "succeeded");
}

#[tokio::test]
async fn a_pushgateway_that_never_answers_costs_the_run_only_its_timeout() {
    // Accepts connections and reads, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let (ran, manifest, elapsed) = run_with_pushgateway(&format!("http://{addr}"), "300ms").await;
    assert_eq!(ran.code, 0, "{}", ran.all_output());
    let finding = manifest["findings"]["metrics_push"]
        .as_str()
        .unwrap_or_else(|| panic!("no metrics_push finding: {manifest:#}"));
    assert!(finding.contains("did not answer within 300ms"), "{finding}");
    // The demo's Vault takes well under a few seconds; a push waiting for an answer would hang.
    assert!(
        elapsed < Duration::from_secs(30),
        "the run took {elapsed:?}"
    );
}
