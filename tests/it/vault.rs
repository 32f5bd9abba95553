//! The Vault source through the real binary, against the fake Vault.

use crate::support::matrix::{Case, MatrixSource};
use crate::support::{Workspace, assert_contains_all, csv_rows, vars};
use rollcall_fakes::vault::Month;
use rollcall_fakes::vault::{Activity, FakeVault, Version, mid, month};

const TOKEN: &str = "hvs.fake-vault-token-6f1c9a";
/// The tests' "now": November 2026, so the 12 months run 2025-12 .. 2026-11.
const NOW: &str = "2026-11-22T03:00:00Z";

/// One Vault of each export behaviour the fake knows.
const EVERY_VERSION: [Version; 4] = [
    Version::V1_12,
    Version::V1_17,
    Version::V1_18,
    Version::V1_21,
];

fn current() -> Month {
    month(2026, 11)
}

struct VaultMatrix {
    fake: FakeVault,
    rows: usize,
}

impl MatrixSource for VaultMatrix {
    const NAME: &str = "vault-test";
    const SECRET: &str = TOKEN;
    const SECRET_VARIABLE: &str = "VAULT_TOKEN";
    const NOW: &str = NOW;

    async fn start(case: Case) -> Self {
        let fake = FakeVault::start(TOKEN, Version::V1_18).await;
        let mut rows = 0;
        match case {
            Case::Happy | Case::RateLimitedOnce | Case::Unauthorized | Case::Malformed => {
                fake.add_entities(current(), "c", 5);
                rows = 5;
            }
            Case::Paginated => {
                for m in 0..12 {
                    let month = current().plus(-m);
                    for i in 0..3 {
                        fake.add(month, Activity::entity(&format!("m{m}-c{i}"), mid(month)));
                    }
                }
                rows = 36;
            }
            Case::Empty => {}
        }
        match case {
            Case::RateLimitedOnce => fake
                .state()
                .inject
                .push_back(rollcall_fakes::vault::rate_limited(1)),
            Case::Unauthorized => fake.state().token = "another-token".into(),
            Case::Malformed => {
                fake.state().garbage = Some((current(), "{\"client_id\": \"x\", oops".into()))
            }
            _ => {}
        }
        Self { fake, rows }
    }
    fn source_item(&self) -> String {
        format!(
            "  - name: {}\n    kind: vault_client_activity\n    address: {}\n",
            Self::NAME,
            self.fake.url()
        )
    }
    fn expected_rows(&self) -> usize {
        self.rows
    }
    fn statuses(&self) -> Vec<u16> {
        self.fake.log.statuses()
    }
}

crate::support::matrix::matrix_tests!(VaultMatrix);

/// The rows of the clients report, header first.
fn clients(ws: &Workspace) -> Vec<Vec<String>> {
    csv_rows(
        &ws.object("/vault-test.csv")
            .expect("the clients report was written"),
    )
}

/// Runs one Vault source against `fake` with extra spec lines; returns the workspace and run.
async fn run_vault(
    fake: &FakeVault,
    extra: &str,
    env: &[(&str, &str)],
) -> (Workspace, crate::support::Ran) {
    let ws = Workspace::new();
    let spec = ws.spec(&[format!(
        "  - name: vault-test\n    kind: vault_client_activity\n    address: {}\n{extra}",
        fake.url()
    )]);
    let vars = vars(&[&[("VAULT_TOKEN", TOKEN), ("ROLLCALL_NOW", NOW)], env].concat());
    let ran = ws.rollcall("run", &spec, &vars).await;
    (ws, ran)
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_exact_sequential_and_month_aligned() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.add(month(2026, 2), Activity::entity("feb", mid(month(2026, 2))));
    let (_ws, ran) = run_vault(&fake, "    namespace: admin/team\n", &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let seen = fake.log.all();
    assert_eq!(seen.len(), 12);
    assert_eq!(
        fake.max_concurrent(),
        1,
        "months must be fetched one at a time"
    );
    for (i, request) in seen.iter().enumerate() {
        let m = month(2025, 12).plus(i as i64);
        assert_eq!(request.path, "/v1/sys/internal/counters/activity/export");
        assert_eq!(request.query["start_time"], format!("{m}-01T00:00:00Z"));
        assert_eq!(request.query["format"], "json");
        assert_eq!(request.headers["x-vault-token"], TOKEN);
        assert_eq!(request.headers["x-vault-namespace"], "admin/team");
    }
    // February of a non-leap year, December's year boundary.
    assert_eq!(seen[2].query["end_time"], "2026-02-28T23:59:59Z");
    assert_eq!(seen[0].query["end_time"], "2025-12-31T23:59:59Z");

    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    let (_ws, ran) = run_vault(&fake, "", &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert!(
        fake.log
            .all()
            .iter()
            .all(|r| !r.headers.contains_key("x-vault-namespace"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn leap_february_is_requested_to_the_29th() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    let ws = Workspace::new();
    let spec = ws.spec(&[format!(
        "  - name: v\n    kind: vault_client_activity\n    address: {}\n    months: 1\n    roll_off_months: 1\n",
        fake.url()
    )]);
    let ran = ws
        .rollcall(
            "run",
            &spec,
            &vars(&[
                ("VAULT_TOKEN", TOKEN),
                ("ROLLCALL_NOW", "2028-02-15T00:00:00Z"),
            ]),
        )
        .await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(fake.log.all()[0].query["end_time"], "2028-02-29T23:59:59Z");
}

#[tokio::test(flavor = "multi_thread")]
async fn report_uses_last_active_month_for_roll_off_across_versions() {
    for version in EVERY_VERSION {
        let fake = FakeVault::start(TOKEN, version).await;
        // A long-lived token created in 2023, used in Dec 2025 and again in Mar 2026.
        let old_token = chrono::DateTime::parse_from_rfc3339("2023-05-01T08:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut a = Activity::entity("long-lived", old_token);
        a.first_used = Some(mid(month(2025, 12)));
        fake.add(month(2025, 12), a.clone());
        a.first_used = Some(mid(month(2026, 3)));
        a.mount_path = "auth/kubernetes/".into();
        fake.add(month(2026, 3), a);
        let mut n = Activity::entity("token-x", mid(month(2026, 11)));
        n.client_type = "non-entity-token".into();
        fake.add(month(2026, 11), n);
        let (ws, ran) = run_vault(&fake, "", &[]).await;
        assert_eq!(ran.code, 0, "{version:?}: {ran:#?}");
        let rows = clients(&ws);
        assert_eq!(
            rows[0],
            [
                "client_id",
                "last_auth_timestamp",
                "roll_off_month",
                "last_active_month",
                "months_active",
                "client_type",
                "namespace_path",
                "mount_path",
                "mount_type",
                "entity_name"
            ]
        );
        let long = rows.iter().find(|r| r[0] == "long-lived").unwrap();
        // Roll-off from the last active month (2026-03), not from the 2023 token time.
        assert_eq!(long[2], "2027-03", "{version:?}");
        assert_eq!(long[3], "2026-03", "{version:?}");
        assert_eq!(long[4], "2", "{version:?}");
        let expected_auth = if version == Version::V1_21 {
            "2026-03-10T12:00:00Z"
        } else {
            "2023-05-01T08:00:00Z"
        };
        assert_eq!(long[1], expected_auth, "{version:?}");
        let token = rows.iter().find(|r| r[0] == "token-x").unwrap();
        assert_eq!(token[2], "2027-11");
        assert_eq!(token[5], "non-entity-token", "{version:?}");
        if matches!(version, Version::V1_18 | Version::V1_21) {
            assert_eq!(long[7], "auth/kubernetes/", "described as last seen");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_data_months_are_empty_in_every_version() {
    for version in EVERY_VERSION {
        let fake = FakeVault::start(TOKEN, version).await;
        fake.add(
            month(2026, 6),
            Activity::entity("only", mid(month(2026, 6))),
        );
        let (ws, ran) = run_vault(&fake, "", &[]).await;
        assert_eq!(ran.code, 0, "{version:?}: {ran:#?}");
        assert_eq!(
            fake.log.count(),
            12,
            "no retries of a no-data answer: {version:?}"
        );
        let rows = clients(&ws);
        assert_eq!(rows.len(), 2, "{version:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn export_in_progress_and_sealed_are_retried() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.add(current(), Activity::entity("a", mid(current())));
    {
        let mut state = fake.state();
        state
            .inject
            .push_back(rollcall_fakes::vault::export_in_progress());
        state
            .inject
            .push_back(rollcall_fakes::vault::export_in_progress());
        state
            .inject
            .push_back(rollcall_fakes::vault::error(503, "Vault is sealed"));
    }
    let (ws, ran) = run_vault(&fake, "", &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(fake.log.count(), 15);
    assert_eq!(&fake.log.statuses()[..3], &[400, 400, 503]);
    assert_eq!(clients(&ws).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_sudo_fails_naming_the_policy() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.state().sudo = false;
    let (ws, ran) = run_vault(&fake, "", &[]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    let error = ws.source_error(0);
    assert_contains_all(
        &error,
        &[
            "sudo",
            "sys/internal/counters/activity/export",
            "permission denied",
        ],
    );
    assert_eq!(fake.log.count(), 1, "a 403 is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn crlf_and_missing_final_newline_are_tolerated() {
    let fake = FakeVault::start(TOKEN, Version::V1_21).await;
    fake.add_entities(current(), "c", 4);
    fake.state().crlf = true;
    fake.state().final_newline = false;
    let (ws, ran) = run_vault(&fake, "", &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(clients(&ws).len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_line_names_month_and_line_and_writes_nothing() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.add(month(2026, 4), Activity::entity("a", mid(month(2026, 4))));
    fake.state().garbage = Some((month(2026, 4), "not json".into()));
    let (ws, ran) = run_vault(&fake, "", &[]).await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    let error = ws.source_error(0);
    assert_contains_all(&error, &["2026-04", "line 2"]);
    assert!(ws.object("/vault-test.csv").is_none());
    assert!(ws.object("/vault-test-forecast.csv").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_broken_mid_stream_is_fetched_again_without_double_counting() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    for i in 0..10 {
        fake.add(
            current(),
            Activity::entity(&format!("c{i}"), mid(current())),
        );
        fake.add(
            current().plus(-1),
            Activity::entity(&format!("c{i}"), mid(current())),
        );
    }
    fake.state().break_after_lines = Some((4, 1));
    let (ws, ran) = run_vault(&fake, "", &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = clients(&ws);
    assert_eq!(rows.len(), 11);
    assert!(
        rows[1..].iter().all(|r| r[4] == "2"),
        "months_active counted once per month: {rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forecast_counts_down_and_flags_months_over_licence() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    // 3 clients last active in 2026-01, 2 in 2026-06, 1 now (2026-11).
    fake.add_entities(month(2026, 1), "jan", 3);
    fake.add_entities(month(2026, 6), "jun", 2);
    fake.add(current(), Activity::entity("nov", mid(current())));
    let (ws, ran) = run_vault(&fake, "    licensed_clients: 4\n", &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = csv_rows(&ws.object("/vault-test-forecast.csv").unwrap());
    assert_eq!(
        rows[0],
        [
            "month",
            "clients_counted",
            "rolling_off",
            "licensed_clients",
            "over_licence"
        ]
    );
    let by_month = |m: &str| rows.iter().find(|r| r[0] == m).unwrap().clone();
    assert_eq!(by_month("2026-11"), ["2026-11", "6", "0", "4", "true"]);
    assert_eq!(by_month("2026-12"), ["2026-12", "6", "0", "4", "true"]);
    assert_eq!(by_month("2027-01"), ["2027-01", "3", "3", "4", "false"]);
    assert_eq!(by_month("2027-06"), ["2027-06", "1", "2", "4", "false"]);
    assert_eq!(
        rows.last().unwrap().clone(),
        ["2027-11", "0", "1", "4", "false"]
    );
    let manifest = ws.manifest().unwrap();
    let findings = &manifest["sources"][0]["findings"];
    assert_eq!(findings["over_licence"], true);
    assert_eq!(
        findings["months_over_licence"],
        serde_json::json!(["2026-11", "2026-12"])
    );
    assert_eq!(manifest["sources"][0]["thresholds"]["licensed_clients"], 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_from_file_and_vault_cli_variables() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.add(current(), Activity::entity("a", mid(current())));
    let ws = Workspace::new();
    let token_file = ws.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    // No address in the spec: VAULT_ADDR; the token from VAULT_TOKEN_FILE.
    let spec = ws.spec(&["  - name: v\n    kind: vault_client_activity\n".to_owned()]);
    let ran = ws
        .rollcall(
            "run",
            &spec,
            &vars(&[
                ("VAULT_ADDR", &fake.url()),
                ("VAULT_TOKEN_FILE", token_file.to_str().unwrap()),
                ("ROLLCALL_NOW", NOW),
            ]),
        )
        .await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(fake.log.all()[0].headers["x-vault-token"], TOKEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_strings_survive_a_csv_round_trip() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    let huge = "x".repeat(1 << 20);
    let nasty = [
        "line\nbreak, \"quoted\"\r\nand\ttab",
        "=cmd|' /C calc'!A0",
        "-1+1",
        "\u{0}\u{1}\u{1b}[31mred\u{7f}",
        "名前 émoji 🎉 <script>&amp;",
        huge.as_str(),
    ];
    for (i, name) in nasty.iter().enumerate() {
        let mut a = Activity::entity(&format!("c{i}"), mid(current()));
        a.entity_name = (*name).to_owned();
        a.mount_path = (*name).to_owned();
        fake.add(current(), a);
    }
    let (ws, ran) = run_vault(&fake, "", &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = clients(&ws);
    assert_eq!(rows.len(), nasty.len() + 1);
    for (i, name) in nasty.iter().enumerate() {
        let row = rows.iter().find(|r| r[0] == format!("c{i}")).unwrap();
        let expected = if rollcall::report::needs_formula_escape(name) {
            format!("'{name}")
        } else {
            (*name).to_owned()
        };
        assert_eq!(row.len(), 10);
        assert_eq!(row[9], expected, "entity_name {i}");
        // A mount path is an identifier Vault matches on: verbatim, whatever it starts with.
        assert_eq!(row[7], *name, "mount_path {i}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn non_utf8_bytes_fail_the_source_naming_the_line() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.add(current(), Activity::entity("ok", mid(current())));
    // A Latin-1 é inside a JSON string: not UTF-8, so not JSON; never written as mojibake.
    fake.state().raw_line = Some((current(), b"{\"client_id\":\"caf\xe9\"}".to_vec()));
    let (ws, ran) = run_vault(&fake, "", &[]).await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    let error = ws.source_error(0);
    assert!(error.contains("2026-11, line 2"), "{error}");
    assert!(ws.object("/vault-test.csv").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_namespace_exports_itself_and_its_children_only() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    for (id, ns) in [
        ("root-client", ""),
        ("team", "admin/team/"),
        ("child", "admin/team/ci/"),
        ("other", "admin/other/"),
    ] {
        let mut a = Activity::entity(id, mid(current()));
        a.namespace_path = ns.to_owned();
        fake.add(current(), a);
    }
    let (ws, ran) = run_vault(&fake, "    namespace: admin/team\n", &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = clients(&ws);
    let mut ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["child", "team"]);

    // Before 1.18 the endpoint lives only in the root namespace.
    let old = FakeVault::start(TOKEN, Version::V1_17).await;
    old.add(current(), Activity::entity("a", mid(current())));
    let (ws, ran) = run_vault(&old, "    namespace: admin\n", &[]).await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    let error = ws.source_error(0);
    assert_contains_all(&error, &["404", "unsupported path"]);
    assert!(error.contains("only in the root namespace"), "{error}");
}

/// Two sources of the same job, each a namespace of one cluster (as `namespace:` invites).
fn two_namespaces(fake: &FakeVault) -> Vec<String> {
    ["team-a", "team-b"]
        .iter()
        .map(|ns| {
            format!(
                "  - name: vault-{ns}\n    kind: vault_client_activity\n    address: {}\n    namespace: {ns}\n",
                fake.url()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sources_for_two_namespaces_of_one_cluster_take_turns_and_both_succeed() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    for (i, ns) in ["team-a/", "team-b/"].iter().enumerate() {
        for m in 0..12 {
            let month = current().plus(-m);
            let mut a = Activity::entity(&format!("{ns}c{i}-{m}"), mid(month));
            a.namespace_path = (*ns).into();
            fake.add(month, a);
        }
    }
    // Each export holds the node's single slot a while, so overlapping ones would collide.
    fake.state().delay = std::time::Duration::from_millis(60);
    let ws = Workspace::new();
    let spec = ws.spec(&two_namespaces(&fake));
    let ran = ws
        .rollcall(
            "run",
            &spec,
            &vars(&[("VAULT_TOKEN", TOKEN), ("ROLLCALL_NOW", NOW)]),
        )
        .await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(fake.max_concurrent(), 1, "never two exports at once");
    assert!(
        fake.log.statuses().iter().all(|s| *s == 200),
        "no export was refused as in progress: {:?}",
        fake.log.statuses()
    );
    assert_eq!(fake.log.count(), 24);
    for ns in ["team-a", "team-b"] {
        let rows = csv_rows(&ws.object(&format!("/vault-{ns}.csv")).unwrap());
        assert_eq!(rows.len(), 13, "{ns}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_cut_short_without_an_error_fails_naming_the_month_and_both_numbers() {
    let fake = FakeVault::start(TOKEN, Version::V1_21).await;
    let cut = current().plus(-3);
    for m in 0..12 {
        let month = current().plus(-m);
        for i in 0..5 {
            fake.add(month, Activity::entity(&format!("c{m}-{i}"), mid(month)));
        }
    }
    fake.state().truncate = Some((cut, 3));
    let (ws, ran) = run_vault(&fake, "", &[]).await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    let manifest = ws.manifest().unwrap();
    let source = &manifest["sources"][0];
    assert_eq!(source["status"], "failed");
    let error = source["error"].as_str().unwrap();
    assert!(
        error.contains(&cut.to_string())
            && error.contains("holds 3 distinct clients")
            && error.contains("Vault counts 5"),
        "{error}"
    );
    assert!(ws.object("/vault-test.csv").is_none(), "nothing written");
    // The check is one count per finished month, with the token and month bounds.
    let queries = fake.queries.all();
    let first = &queries[0];
    assert_eq!(first.path, "/v1/sys/internal/counters/activity");
    assert_eq!(first.query["start_time"], "2025-12-01T00:00:00Z");
    assert_eq!(first.query["end_time"], "2025-12-31T23:59:59Z");
    assert_eq!(first.headers["x-vault-token"], TOKEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_finished_month_is_checked_and_a_refused_count_leaves_it_unchecked() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    for m in 0..12 {
        let month = current().plus(-m);
        for i in 0..(m % 3) {
            let mut a = Activity::entity(&format!("c{m}-{i}"), mid(month));
            if i == 1 {
                a.client_type = "non-entity-token".into();
                a.client_id = format!("+44PU{m}/token=");
            }
            fake.add(month, a);
        }
    }
    let (ws, ran) = run_vault(&fake, "", &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let f = &ws.manifest().unwrap()["sources"][0]["findings"];
    assert_eq!(f["months_checked"], 11);
    assert_eq!(
        f["months_unchecked"],
        serde_json::json!([current().to_string()])
    );
    let checks = f["month_checks"].as_array().unwrap();
    assert_eq!(checks.len(), 12);
    assert!(
        checks[..11]
            .iter()
            .all(|c| c["check"] == "matched" && c["exported_clients"] == c["vault_count"])
    );
    assert!(
        checks[11]["unchecked_because"]
            .as_str()
            .unwrap()
            .contains("still being recorded")
    );
    assert_eq!(
        fake.queries.count(),
        11,
        "the current month costs no request"
    );

    // Without `read` on the counts: written, succeeded, every month unchecked and why.
    fake.state().counts_read = false;
    let (ws, ran) = run_vault(&fake, "", &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let source = &ws.manifest().unwrap()["sources"][0];
    assert_eq!(source["status"], "succeeded");
    let f = &source["findings"];
    assert_eq!(f["months_checked"], 0);
    assert_eq!(f["months_unchecked"].as_array().unwrap().len(), 12);
    let why = f["month_checks"][0]["unchecked_because"].as_str().unwrap();
    assert_contains_all(why, &["read", "sys/internal/counters/activity", "403"]);
    assert!(f["month_checks"][0]["vault_count"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn fewer_months_than_roll_off_months_is_a_spec_error() {
    let ws = Workspace::new();
    let spec = ws.spec(&[
        "  - name: v\n    kind: vault_client_activity\n    address: https://vault.example.com\n    months: 6\n    roll_off_months: 12\n".to_owned(),
    ]);
    let ran = ws
        .rollcall("validate", &spec, &[("VAULT_TOKEN".into(), TOKEN.into())])
        .await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(
        ran.stderr.contains("sources[0].months")
            && ran.stderr.contains("set months to at least 12")
            && ran.stderr.contains("job.yaml:"),
        "{ran:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_billing_forecast_counts_the_current_period_against_the_licence() {
    let fake = FakeVault::start(TOKEN, Version::V1_21).await;
    // Billing year from 2026-03-15 (rolled forward from a 2024 licence start).
    fake.state().billing_start = Some(
        chrono::DateTime::parse_from_rfc3339("2024-03-15T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    // Before the period only: b. In it: a (Jan and Apr), c (May, Jun), d (Nov).
    for (m, id) in [
        (month(2026, 1), "a"),
        (month(2026, 4), "a"),
        (month(2026, 2), "b"),
        (month(2026, 5), "c"),
        (month(2026, 6), "c"),
        (month(2026, 11), "d"),
    ] {
        fake.add(m, Activity::entity(id, mid(m)));
    }
    let (ws, ran) = run_vault(
        &fake,
        "    billing_forecast: true\n    licensed_clients: 2\n",
        &[],
    )
    .await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = csv_rows(&ws.object("/vault-test-billing.csv").unwrap());
    assert_eq!(
        rows[0],
        [
            "month",
            "clients_counted",
            "new_clients",
            "licensed_clients",
            "over_licence",
            "basis"
        ]
    );
    // March 2026 (the period's first, whole month) to February 2027.
    assert_eq!(rows.len(), 13);
    assert_eq!(rows[1], ["2026-03", "0", "0", "2", "false", "actual"]);
    assert_eq!(rows[2], ["2026-04", "1", "1", "2", "false", "actual"]);
    assert_eq!(rows[3], ["2026-05", "2", "1", "2", "false", "actual"]);
    assert_eq!(rows[9], ["2026-11", "3", "1", "2", "true", "actual"]);
    assert_eq!(rows[12], ["2027-02", "3", "", "2", "true", "at_least"]);
    let f = &ws.manifest().unwrap()["sources"][0]["findings"]["billing_period"];
    assert_eq!(f["period_start"], "2026-03-15T00:00:00Z");
    assert_eq!(f["next_period_start"], "2027-03-15T00:00:00Z");
    assert_eq!(f["clients_counted"], 3);
    assert_eq!(f["rolling_off_at_next_period_start"], 3);
    assert_eq!(f["over_licence"], true);
    let config = fake
        .queries
        .all()
        .into_iter()
        .find(|q| q.path == "/v1/sys/internal/counters/config")
        .unwrap();
    assert!(!config.headers.contains_key("x-vault-namespace"));

    // Community edition has no billing start: said plainly, before any export is spent, and
    // as a setting to change (exit 2), which a retry of the Job would not fix.
    fake.state().billing_start = None;
    let exports_before = fake.log.count();
    let (ws, ran) = run_vault(&fake, "    billing_forecast: true\n", &[]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    let error = ws.source_error(0);
    assert_contains_all(&error, &["no billing start", "remove `billing_forecast`"]);
    assert_eq!(
        fake.log.count(),
        exports_before,
        "no export for a run that cannot finish"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_the_activity_export_is_named_as_such() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.state().openbao = true;
    let (ws, ran) = run_vault(&fake, "", &[]).await;
    assert_ne!(ran.code, 0, "{ran:#?}");
    let error = ws.source_error(0);
    assert_contains_all(&error, &["has no client-activity export", "OpenBao"]);
    assert_eq!(fake.log.count(), 1, "a 404 is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn findings_count_every_request_and_each_429() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.add(month(2026, 2), Activity::entity("feb", mid(month(2026, 2))));
    fake.state()
        .inject
        .push_back(rollcall_fakes::vault::rate_limited(1));
    fake.state().billing_start = Some(mid(month(2026, 3)));
    let (ws, ran) = run_vault(&fake, "    billing_forecast: true\n", &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let findings = &ws.manifest().unwrap()["sources"][0]["findings"];
    // Twelve exports plus the retry of the 429, the counts of the eleven complete months (the
    // current one is still being recorded), and the configuration.
    let sent = fake.log.count() + fake.queries.count();
    assert_eq!(sent, 12 + 1 + 11 + 1, "{findings:#}");
    assert_eq!(findings["requests"], sent as u64, "{findings:#}");
    assert_eq!(findings["rate_limited"], 1, "{findings:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_namespace_no_header_can_carry_is_a_spec_error_before_any_request() {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    let (_ws, ran) = run_vault(&fake, "    namespace: \"team\\x01\"\n", &[]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(
        ran.stderr
            .contains("cannot be sent as the X-Vault-Namespace header"),
        "{ran:#?}"
    );
    assert_eq!(fake.log.count(), 0, "nothing was sent");
}
