use super::*;
use chrono::TimeZone;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .single()
        .expect("a valid fixture time")
}

fn base(name: &str, kind: &str, status: SourceStatus) -> SourceView {
    SourceView {
        name: name.into(),
        kind: kind.into(),
        status,
        started_at: at(22, 3),
        finished_at: at(22, 3) + chrono::Duration::seconds(42),
        window: Some(Window {
            start: at(1, 0),
            end: at(30, 23),
        }),
        thresholds: BTreeMap::new(),
        error: None,
        missing: None,
        reports: Vec::new(),
        rows: 0,
        facts: Default::default(),
    }
}

fn count(label: &str, count: u64) -> Count {
    Count {
        label: label.into(),
        count,
    }
}

/// API text a hostile or careless tenant could send, in every place API text reaches.
const HOSTILE: &str = "<script>alert(1)</script>|*x*_[y](z)&amp;\n# h";

fn fixture() -> RunView {
    let mut vault = base(
        "vault-prod",
        "vault_client_activity",
        SourceStatus::Succeeded,
    );
    vault.rows = 640;
    vault.reports = vec![ReportLink {
        name: "vault-prod".into(),
        href: "vault-prod.csv".into(),
        rows: 620,
    }];
    vault
        .thresholds
        .insert("licensed_clients".into(), 500.into());
    vault.facts.details = Some(KindDetails::Vault(VaultDetails {
        licensed_clients: Some(500),
        clients: 620,
        trailing_window: vec![
            MonthCount {
                month: "2026-11".into(),
                counted: 620,
                rolling_off: 0,
            },
            MonthCount {
                month: "2026-12".into(),
                counted: 540,
                rolling_off: 80,
            },
            MonthCount {
                month: "2027-01".into(),
                counted: 410,
                rolling_off: 130,
            },
        ],
        billing_period: Some(BillingPeriod {
            period_start: at(1, 0),
            next_period_start: at(1, 0) + chrono::Duration::days(365),
            counted_in_period: 600,
            rolling_off_at_next_start: 150,
        }),
        by_type: vec![count("entity", 400), count("non-entity-token", 220)],
        by_namespace: vec![count("root", 300), count(HOSTILE, 320)],
    }));

    let mut trend = base(
        "vision-one",
        "vision_one_inactive_accounts",
        SourceStatus::Succeeded,
    );
    trend.facts.requests = Some(31);
    trend.facts.rate_limited = Some(2);
    trend.facts.details = Some(KindDetails::VisionOne(VisionOneDetails {
        accounts: 14,
        by_reason: vec![
            DecisionCount {
                decision: "keep".into(),
                reason: "active".into(),
                count: 1,
            },
            DecisionCount {
                decision: "remove".into(),
                reason: "last_logon_too_old".into(),
                count: 12,
            },
            DecisionCount {
                decision: "skip".into(),
                reason: "saml_group".into(),
                count: 1,
            },
        ],
        by_role: vec![RoleDecisions {
            role: "Master Administrator".into(),
            keep: 1,
            remove: 12,
            skip: 1,
        }],
        to_remove: vec![AccountToRemove {
            email: HOSTILE.into(),
            role: "Analyst".into(),
            last_logon: None,
            reason: "no_logon_in_window".into(),
        }],
        to_remove_total: 12,
    }));

    let mut ld = base(
        "launchdarkly",
        "launchdarkly_audit_log",
        SourceStatus::Incomplete,
    );
    ld.missing = Some("2026-11-20T10:00:00.123Z: 4 entries".into());
    ld.facts.details = Some(KindDetails::LaunchDarkly(LaunchDarklyDetails {
        entries: 62_000,
        per_day: vec![
            DayKinds {
                day: "2026-11-20".into(),
                by_kind: vec![count("flag", 30_000), count("segment", 1_000)],
            },
            DayKinds {
                day: "2026-11-21".into(),
                by_kind: vec![count("flag", 30_000), count(HOSTILE, 1_000)],
            },
        ],
        top_members: vec![count("ada@example.com", 40_000)],
        top_tokens: vec![count("ci-token", 22_000)],
        completeness: Completeness::Missing { entries: 4 },
    }));

    let mut failed = base("vault-dr", "vault_client_activity", SourceStatus::Failed);
    failed.error = Some(format!("source `vault-dr`: Vault said {HOSTILE}"));

    RunView {
        job: "compliance-nightly".into(),
        run_id: "20261122T030000Z-1a2b3c4d".into(),
        started_at: at(22, 3),
        finished_at: at(22, 3) + chrono::Duration::seconds(161),
        status: RunStatus::Partial,
        exit_code: 3,
        shard: None,
        sources: vec![vault, trend, ld, failed],
    }
}

#[test]
fn headlines_state_the_finding_of_each_source() {
    let run = fixture();
    let lines: Vec<String> = run.sources.iter().map(SourceView::headline).collect();
    assert_eq!(
        lines[0],
        "620 clients counted now, licence 500: over it in 2 month(s), 2026-11 to 2026-12"
    );
    assert_eq!(lines[1], "12 account(s) to remove of 14");
    assert_eq!(lines[2], "incomplete: 62,000 entries, 4 missing");
    assert!(
        lines[3].starts_with("failed: source `vault-dr`"),
        "{}",
        lines[3]
    );
}

#[test]
fn vault_figures_count_against_the_licence() {
    let run = fixture();
    let Some(KindDetails::Vault(vault)) = &run.sources[0].facts.details else {
        panic!("the fixture's first source is Vault");
    };
    assert_eq!(vault.counted_now(), 620);
    assert_eq!(vault.clients_over_licence(), 120);
    let over: Vec<&str> = vault
        .months_over_licence()
        .iter()
        .map(|m| m.month.as_str())
        .collect();
    assert_eq!(over, ["2026-11", "2026-12"]);
}

#[test]
fn html_is_one_page_with_every_chart_titled_and_no_script() {
    let html = fixture().to_html().expect("the fixture renders");
    for title in [
        "Clients counted per month (trailing window)",
        "Clients counted by billing period",
        "Clients by type",
        "Clients by namespace",
        "Decisions by reason",
        "Decisions by role",
        "Entries per day by kind",
        "Most active members",
        "Most active access tokens",
    ] {
        assert!(
            html.contains(&format!("-title\">{title}</title>")),
            "chart `{title}` missing"
        );
    }
    assert_eq!(html.matches("<svg role=\"img\"").count(), 9);
    // Nothing runs and nothing is fetched: no script, no stylesheet or image from elsewhere.
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a script element");
    for fetching in ["src=", "<link", "@import", "url("] {
        assert!(!lower.contains(fetching), "`{fetching}` in the page");
    }
    assert!(html.contains("href=\"vault-prod.csv\""));
}

#[test]
fn api_text_is_escaped_in_html() {
    let html = fixture().to_html().expect("the fixture renders");
    assert!(!html.contains("<script>alert"), "unescaped API text");
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
}

#[test]
fn html_says_each_status_in_words() {
    let html = fixture().to_html().expect("the fixture renders");
    for status in ["succeeded", "incomplete", "failed", "partial"] {
        assert!(
            html.contains(&format!("class=\"status status-{status}\">{status}</span>")),
            "{status}"
        );
    }
    assert!(html.contains("2026-11-20T10:00:00.123Z: 4 entries"));
}

#[test]
fn markdown_tables_keep_their_shape_whatever_the_api_sent() {
    let md = fixture().to_markdown().expect("the fixture renders");
    assert!(!md.contains("<script"), "raw HTML from API text");
    assert!(md.contains("\\*x\\*\\_\\[y\\]\\(z\\)&amp;amp;"), "{md}");
    // Every table row has as many unescaped cell separators as its header row.
    let mut expected: Option<usize> = None;
    for line in md.lines() {
        if !line.starts_with('|') {
            expected = None;
            continue;
        }
        let separators = unescaped_pipes(line);
        match expected {
            None => expected = Some(separators),
            Some(n) => assert_eq!(separators, n, "row `{line}`"),
        }
    }
    assert!(md.contains("| vault-prod | succeeded | 620 clients counted now"));
    assert!(md.contains("- [vault-prod.csv](vault-prod.csv) (620 rows)"));
    assert!(md.contains("### Accounts to remove"));
    assert!(md.contains("11 more are in the cleanup report."));
}

fn unescaped_pipes(line: &str) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => count += 1,
            _ => escaped = false,
        }
    }
    count
}

#[test]
fn empty_sections_render_without_charts() {
    let mut run = fixture();
    for source in &mut run.sources {
        source.facts.details = None;
    }
    let html = run.to_html().expect("renders");
    assert_eq!(html.matches("<svg role=\"img\"").count(), 0);
    let md = run.to_markdown().expect("renders");
    assert!(md.contains("| vault-prod | succeeded | 640 rows |"), "{md}");
}

#[test]
fn report_links_are_relative_to_the_summary() {
    assert_eq!(relative_key("a/b/summary.html", "a/b/x.csv"), "x.csv");
    assert_eq!(relative_key("a/b/summary.html", "a/c/x.csv"), "../c/x.csv");
    assert_eq!(relative_key("summary.html", "a/x.csv"), "a/x.csv");
    assert_eq!(relative_key("a/summary.html", "x.csv"), "../x.csv");
}

#[test]
fn rankings_fold_the_tail() {
    let counts = vec![count("a", 1), count("b", 5), count("c", 3), count("d", 2)];
    let top = top_counts(counts, 2);
    assert_eq!(top, vec![count("b", 5), count("c", 3), count("2 more", 3)]);
    assert_eq!(group_digits(62_000), "62,000");
    assert_eq!(group_digits(7), "7");
    assert_eq!(group_digits(1_234_567), "1,234,567");
}
