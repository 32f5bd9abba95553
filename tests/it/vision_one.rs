//! The Trend Vision One source through the real binary, against the fake Trend API.

use crate::support::matrix::{Case, MatrixSource};
use crate::support::{Ran, Workspace, assert_contains_all, csv_rows, vars};
use chrono::{DateTime, Utc};
use rollcall_fakes::Canned;
use rollcall_fakes::vault::{Activity, FakeVault, Version, mid, month};
use rollcall_fakes::vision_one::{
    ACCOUNT_FIELDS, AUDIT_FIELDS, Event, FakeAccount, FakeVisionOne, Fault, Filter, LOGON_FILTER,
    LastPage, Limit, LinkStyle, Outcome, TimeForm, Which, decode_token, encode_token,
};
use std::time::{Duration, Instant};

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.fake-trend-key.c2lnbmF0dXJl";
/// The tests' "now"; the 90-day threshold falls on 2026-08-24T03:00:00Z.
const NOW: &str = "2026-11-22T03:00:00Z";
const NAME: &str = "trend-test";
/// A 3 s window: after a 429 (Trend sends no `Retry-After`) the source waits 0.5 s, doubling,
/// instead of the 10 s Trend's real 60 s window calls for.
const FAST_PATIENCE: &str = "    rate_limit: {requests: 500, per: 3s}\n";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&Utc)
}

/// `days` days and `secs` seconds before the tests' "now".
fn ago(days: i64, secs: i64) -> DateTime<Utc> {
    now() - chrono::Duration::days(days) - chrono::Duration::seconds(secs)
}

async fn fake() -> FakeVisionOne {
    FakeVisionOne::start(TOKEN, Some(now())).await
}

/// Adds the users `{prefix}0`, `{prefix}1`, ... (email `{prefix}{i}@example.com`), user `i`
/// with a logon `days` ago for each of `logons(i)`.
fn add_users(fake: &FakeVisionOne, prefix: &str, count: i64, logons: impl Fn(i64) -> Vec<i64>) {
    for i in 0..count {
        let (id, email) = (format!("{prefix}{i}"), format!("{prefix}{i}@example.com"));
        fake.add_account(FakeAccount::user(&id, &email));
        for days in logons(i) {
            fake.add_event(Event::logon_of(ago(days, 0), &id, &email));
        }
    }
}

fn item(fake: &FakeVisionOne, extra: &str) -> String {
    format!(
        "  - name: {NAME}\n    kind: vision_one_inactive_accounts\n    base_url: {}\n{extra}",
        fake.url()
    )
}

fn env() -> Vec<(String, String)> {
    vars(&[("TREND_VISION_ONE_TOKEN", TOKEN), ("ROLLCALL_NOW", NOW)])
}

/// Runs a spec of the given source items, with fast retries so failure tests stay quick.
async fn run_items(items: &[String], env: &[(String, String)]) -> (Workspace, Ran) {
    run_items_retrying(items, env, 2).await
}

/// [`run_items`] with `max_retries` retries of a failed request.
async fn run_items_retrying(
    items: &[String],
    env: &[(String, String)],
    max_retries: u32,
) -> (Workspace, Ran) {
    let ws = Workspace::new();
    let spec = ws.spec_text(&format!(
        "job: test-job\nhttp:\n  max_retries: {max_retries}\n  backoff_base: 20ms\noutput:\n  url: {}\nsources:\n{}",
        ws.reports().display(),
        items.join("")
    ));
    let ran = ws.rollcall("run", &spec, env).await;
    assert!(
        !ran.all_output().contains(TOKEN),
        "the token leaked: {ran:#?}"
    );
    (ws, ran)
}

async fn run_trend(fake: &FakeVisionOne, extra: &str) -> (Workspace, Ran) {
    run_items(&[item(fake, extra)], &env()).await
}

fn cleanup(ws: &Workspace) -> Vec<Vec<String>> {
    csv_rows(&ws.object(&format!("/{NAME}.csv")).expect("cleanup file"))
}

fn detail(ws: &Workspace) -> Vec<Vec<String>> {
    csv_rows(
        &ws.object(&format!("/{NAME}-accounts.csv"))
            .expect("accounts report"),
    )
}

/// The detail row of the account with this email.
fn row<'r>(rows: &'r [Vec<String>], email: &str) -> &'r [String] {
    rows.iter()
        .find(|r| r[1] == email)
        .unwrap_or_else(|| panic!("no row for {email}: {rows:#?}"))
}

/// `(decision, reason, matched_by)` of one account.
fn verdict<'r>(rows: &'r [Vec<String>], email: &str) -> (&'r str, &'r str, &'r str) {
    let r = row(rows, email);
    (&r[7], &r[8], &r[9])
}

/// Checks the `(decision, reason, matched_by)` of each account, by email.
fn assert_verdicts(rows: &[Vec<String>], expected: &[(&str, (&str, &str, &str))]) {
    for (email, expected) in expected {
        assert_eq!(verdict(rows, email), *expected, "the verdict on {email}");
    }
}

struct TrendMatrix {
    fake: FakeVisionOne,
    rows: usize,
}

impl MatrixSource for TrendMatrix {
    const NAME: &str = NAME;
    const SECRET: &str = TOKEN;
    const SECRET_VARIABLE: &str = "TREND_VISION_ONE_TOKEN";
    const NOW: &str = NOW;

    async fn start(case: Case) -> Self {
        let fake = fake().await;
        let mut rows = 0;
        match case {
            Case::Happy | Case::RateLimitedOnce | Case::Unauthorized | Case::Malformed => {
                fake.add_account(FakeAccount::user("a", "a@example.com"));
                fake.add_account(FakeAccount::user("b", "b@example.com"));
                fake.add_account(FakeAccount::user("c", "c@example.com"));
                fake.add_account(FakeAccount::user("d", "d@example.com"));
                fake.add_account(FakeAccount::group("g", "soc@example.com"));
                fake.add_event(Event::logon_of(ago(1, 0), "a", "a@example.com"));
                fake.add_event(Event::logon_of(ago(30, 0), "b", "b@example.com"));
                // Outside the 90-day scan: d is inactive, as is c who never logged on.
                fake.add_event(Event::logon_of(ago(120, 0), "d", "d@example.com"));
                rows = 2;
            }
            Case::Paginated => {
                add_users(&fake, "p", 7, |i| {
                    if i < 4 { vec![2 + i, 20 + i] } else { vec![] }
                });
                fake.add_event(Event::logon_of(ago(3, 0), "p0", "p0@example.com"));
                fake.state().page_cap = Some(2);
                rows = 3;
            }
            Case::Empty => {
                fake.state().null_items = true;
            }
        }
        match case {
            Case::RateLimitedOnce => fake
                .state()
                .faults
                .push(Fault::first_request(rollcall_fakes::vision_one::too_many())),
            Case::Unauthorized => fake.state().token = "another-tenant's-key".into(),
            Case::Malformed => fake.state().faults.push(Fault::page_always(
                Which::Audit,
                0,
                Canned::text(
                    200,
                    "<!DOCTYPE html><html><head><title>Sign in</title></head><body>proxy login</body></html>",
                    "text/html",
                ),
            )),
            _ => {}
        }
        Self { fake, rows }
    }
    fn source_item(&self) -> String {
        item(&self.fake, FAST_PATIENCE)
    }
    fn expected_rows(&self) -> usize {
        self.rows
    }
    fn statuses(&self) -> Vec<u16> {
        self.fake.log.statuses()
    }
}

crate::support::matrix::matrix_tests!(TrendMatrix);

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_exact_and_pages_follow_next_link_with_the_filter() {
    let fake = fake().await;
    add_users(&fake, "u", 5, |i| vec![i]);
    {
        let mut state = fake.state();
        state.page_cap = Some(2);
        // Links repeat the first query with raw spaces (`orderBy=loggedDateTime desc`).
        state.link_style = LinkStyle::WithQuery;
    }
    let (ws, ran) = run_trend(&fake, "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert!(fake.log.statuses().iter().all(|s| *s == 200));

    let accounts = fake.requests(Which::Accounts);
    assert_eq!(accounts.len(), 3, "5 accounts, 2 a page");
    assert_eq!(accounts[0].raw_query, "top=200");
    for page in &accounts[1..] {
        let token = page.query["skipToken"].clone();
        assert_eq!(page.raw_query, format!("top=200&skipToken={token}"));
    }

    let audit = fake.logon_requests();
    assert_eq!(audit.len(), 3, "5 logons, 2 a page");
    // One more request: the accounts added or invited in the same window (none here).
    let arrivals = fake.arrival_requests();
    assert_eq!(arrivals.len(), 1);
    assert_eq!(
        arrivals[0].raw_query, audit[0].raw_query,
        "the same window and order"
    );
    assert_eq!(fake.requests(Which::Audit).len(), 4);
    let first = &audit[0];
    assert_eq!(first.query["startDateTime"], "2026-08-24T03:00:00Z");
    assert_eq!(first.query["endDateTime"], "2026-11-22T03:00:00Z");
    assert_eq!(first.query["orderBy"], "loggedDateTime desc");
    assert_eq!(first.query["top"], "200");
    assert_eq!(first.query["labels"], "all");
    assert_eq!(first.query["dateTimeTarget"], "loggedDateTime");
    for page in &audit[1..] {
        // The link's query exactly, its space encoded; nothing appended a second time.
        let token = page.query["skipToken"].clone();
        assert_eq!(
            page.raw_query,
            format!(
                "startDateTime=2026-08-24T03:00:00Z&endDateTime=2026-11-22T03:00:00Z&dateTimeTarget=loggedDateTime&orderBy=loggedDateTime%20desc&top=200&labels=all&skipToken={token}"
            )
        );
    }
    for request in fake.log.all() {
        assert_eq!(request.headers["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(request.headers["accept"], "application/json");
    }
    for page in &audit {
        assert_eq!(page.headers["tmv1-filter"], LOGON_FILTER);
    }
    for page in &accounts {
        assert!(!page.headers.contains_key("tmv1-filter"));
    }
    assert_eq!(detail(&ws).len(), 6);
    assert_eq!(cleanup(&ws).len(), 1, "everyone logged on recently");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_never_goes_to_a_host_a_next_link_names() {
    let fake = fake().await;
    // A second server the links point at: it must never see a request.
    let elsewhere = FakeVisionOne::start(TOKEN, Some(now())).await;
    add_users(&fake, "u", 3, |i| vec![i]);
    {
        let mut state = fake.state();
        state.page_cap = Some(1);
        state.link_host = elsewhere.url();
    }
    // The token from a mounted file this time.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let env = vars(&[
        ("TREND_VISION_ONE_TOKEN_FILE", file.to_str().unwrap()),
        ("ROLLCALL_NOW", NOW),
    ]);
    let (ws, ran) = run_items(&[item(&fake, "")], &env).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(
        elsewhere.log.count(),
        0,
        "a request went to the linked host"
    );
    assert_eq!(fake.requests(Which::Accounts).len(), 3);
    assert_eq!(fake.logon_requests().len(), 3);
    assert_eq!(fake.arrival_requests().len(), 1);
    assert_eq!(cleanup(&ws).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ninety_day_boundary_is_active_and_one_second_more_is_not() {
    let fake = fake().await;
    let accounts = [
        ("exact", ago(90, 0), TimeForm::Zulu),
        ("inside", ago(90, -1), TimeForm::Space),
        (
            "fraction",
            ago(90, 0) + chrono::Duration::milliseconds(500),
            TimeForm::Fraction,
        ),
        ("before", ago(90, 1), TimeForm::Zulu),
        ("old", ago(150, 0), TimeForm::Zulu),
    ];
    for (name, at, form) in &accounts {
        let email = format!("{name}@example.com");
        fake.add_account(FakeAccount::user(name, &email));
        fake.add_event(Event::logon_of(*at, name, &email).form(form.clone()));
    }
    // The default scan reaches exactly 90 days back.
    let (ws, ran) = run_trend(&fake, "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = detail(&ws);
    let active = ("keep", "active", "logged_user_id");
    assert_verdicts(
        &rows,
        &[
            ("exact@example.com", active),
            ("inside@example.com", active),
            ("fraction@example.com", active),
            ("before@example.com", ("remove", "no_logon_in_window", "")),
        ],
    );
    assert_eq!(row(&rows, "exact@example.com")[5], "2026-08-24T03:00:00Z");
    assert_eq!(row(&rows, "exact@example.com")[6], "90");
    assert_eq!(row(&rows, "inside@example.com")[5], "2026-08-24T03:00:01Z");
    assert_eq!(row(&rows, "before@example.com")[5], "");
    let removed = cleanup(&ws);
    let users: Vec<&str> = removed[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(users, ["before@example.com", "old@example.com"]);

    // A longer scan shows how old the last logon is; the decision does not change.
    let (ws, ran) = run_trend(&fake, "    lookback: 180d\n").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let audit = fake.requests(Which::Audit);
    assert_eq!(
        audit.last().unwrap().query["startDateTime"],
        "2026-05-26T04:00:00Z",
        "an hour inside the 180-day retention"
    );
    let rows = detail(&ws);
    assert_eq!(
        verdict(&rows, "before@example.com"),
        ("remove", "last_logon_too_old", "logged_user_id")
    );
    assert_eq!(row(&rows, "before@example.com")[5], "2026-08-24T02:59:59Z");
    assert_eq!(row(&rows, "before@example.com")[6], "90");
    assert_eq!(row(&rows, "old@example.com")[6], "150");
    assert_eq!(cleanup(&ws).len(), 3);
    let manifest = ws.manifest().unwrap();
    let source = &manifest["sources"][0];
    assert_eq!(source["window"]["start"], "2026-05-26T04:00:00Z");
    assert_eq!(source["window"]["end"], "2026-11-22T03:00:00Z");
    assert_eq!(source["thresholds"]["inactive_days"], 90);
    assert_eq!(
        source["thresholds"]["inactive_before"],
        "2026-08-24T03:00:00Z"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logons_match_by_user_id_then_mail_address_then_logged_user() {
    let fake = fake().await;
    for (id, email) in [
        ("id-a", "a@example.com"),
        ("id-b", "Bea.Berg@Example.com"),
        ("id-c", "c@example.com"),
        ("id-d", "d@example.com"),
        ("id-e", "e@example.com"),
    ] {
        fake.add_account(FakeAccount::user(id, email));
    }
    // Only the id names a: its mail and name belong to nobody.
    fake.add_event(
        Event::logon(ago(3, 0))
            .id("id-a")
            .mail("alias@example.com")
            .user("Alice A."),
    );
    // b: an id from another space (an older record), the mail in other letters.
    fake.add_event(
        Event::logon(ago(4, 0))
            .id("00000000-legacy")
            .mail("bea.berg@example.COM")
            .user("Bea Berg"),
    );
    // c: only loggedUser, as older API versions write it.
    fake.add_event(
        Event::logon(ago(5, 0))
            .user("C@Example.com")
            .form(TimeForm::Space),
    );
    // d's id with e's mail: the id decides, so e stays inactive.
    fake.add_event(Event::logon(ago(6, 0)).id("id-d").mail("e@example.com"));
    // Matches nobody: the root account and an API key.
    fake.add_event(Event::logon(ago(1, 0)).user("Root Account"));
    fake.add_event(Event::logon(ago(1, 0)).id("api-key-7").user("SIEM"));
    let (ws, ran) = run_trend(&fake, "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = detail(&ws);
    assert_verdicts(
        &rows,
        &[
            ("a@example.com", ("keep", "active", "logged_user_id")),
            (
                "Bea.Berg@Example.com",
                ("keep", "active", "logged_user_mail_address"),
            ),
            ("c@example.com", ("keep", "active", "logged_user")),
            ("d@example.com", ("keep", "active", "logged_user_id")),
            ("e@example.com", ("remove", "no_logon_in_window", "")),
        ],
    );
    assert_eq!(
        cleanup(&ws)[1..],
        [vec!["e@example.com", "Analyst", "Remove"]]
    );
    let findings = &ws.manifest().unwrap()["sources"][0]["findings"];
    assert_eq!(findings["unmatched_logon_identities"], 2);
    assert_eq!(findings["logons_counted"], 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_are_skipped_and_invited_accounts_have_their_own_reason() {
    let fake = fake().await;
    fake.add_account(FakeAccount::group("g1", "soc-team@example.com"));
    fake.add_account(FakeAccount::group("g2", "helpdesk@example.com"));
    fake.add_account(FakeAccount::invited("i1", "new.hire@example.com"));
    fake.add_account(FakeAccount::invited("i2", "accepted@example.com"));
    fake.add_account(
        FakeAccount::user("x1", "gone@example.com")
            .status("disabled")
            .role(Some("Master Administrator")),
    );
    fake.add_account(FakeAccount::user("u1", "active@example.com"));
    // Even a logon under a group's address leaves the group alone.
    fake.add_event(Event::logon(ago(2, 0)).mail("helpdesk@example.com"));
    fake.add_event(Event::logon_of(ago(2, 0), "i2", "accepted@example.com"));
    fake.add_event(Event::logon_of(ago(2, 0), "u1", "active@example.com"));
    let (ws, ran) = run_trend(&fake, "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = detail(&ws);
    assert_eq!(
        rows[0],
        [
            "account_id",
            "email",
            "role",
            "auth_type",
            "status",
            "last_logon",
            "days_since_logon",
            "decision",
            "reason",
            "matched_by",
            "added_at"
        ]
    );
    assert_verdicts(
        &rows,
        &[
            ("soc-team@example.com", ("skip", "saml_group", "")),
            (
                "helpdesk@example.com",
                ("skip", "saml_group", "logged_user_mail_address"),
            ),
            (
                "new.hire@example.com",
                ("remove", "invited_never_logged_on", ""),
            ),
            ("accepted@example.com", ("keep", "active", "logged_user_id")),
            ("gone@example.com", ("remove", "no_logon_in_window", "")),
        ],
    );
    assert_eq!(row(&rows, "soc-team@example.com")[3], "samlGroup");
    assert_eq!(row(&rows, "new.hire@example.com")[4], "invited");
    assert_eq!(
        cleanup(&ws),
        [
            vec!["UserId", "RoleName", "RequestType"],
            vec!["new.hire@example.com", "Analyst", "Remove"],
            vec!["gone@example.com", "Master Administrator", "Remove"],
        ]
    );
    let manifest = ws.manifest().unwrap();
    let source = &manifest["sources"][0];
    assert_eq!(source["findings"]["accounts"], 6);
    assert_eq!(source["findings"]["skipped_saml_groups"], 2);
    assert_eq!(source["findings"]["invited_never_logged_on"], 1);
    assert_eq!(source["findings"]["inactive"], 2);
    assert_eq!(source["findings"]["active"], 2);
    let reports: Vec<&str> = source["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(reports, [NAME, "trend-test-accounts"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn apostrophes_commas_quotes_and_formulas_survive_into_the_csv() {
    let fake = fake().await;
    fake.add_account(
        FakeAccount::user("ob", "o'brien@example.com").role(Some("Analyst, \"Tier 2\"")),
    );
    fake.add_account(
        FakeAccount::user("da", "d'arcy@example.com").role(Some("=HYPERLINK(\"http://x\")")),
    );
    fake.add_account(FakeAccount {
        id: Some("no-email".into()),
        email: None,
        role: None,
        auth_type: "local".into(),
        status: "enabled".into(),
        name: None,
    });
    // Emails may legally start with `-` or `+`: the cleanup process acts on them verbatim.
    fake.add_account(FakeAccount::user("dash", "-dash@example.com"));
    fake.add_account(FakeAccount::user("plus", "+plus@example.com"));
    // Matched by the mail address; no per-user filter literal is ever built.
    fake.add_event(
        Event::logon(ago(1, 0))
            .mail("O'Brien@example.com")
            .user("O'Brien"),
    );
    let (ws, ran) = run_trend(&fake, "    max_remove_ratio: 1\n").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    for page in fake.logon_requests() {
        assert_eq!(page.headers["tmv1-filter"], LOGON_FILTER);
    }
    let rows = detail(&ws);
    assert_eq!(
        verdict(&rows, "o'brien@example.com"),
        ("keep", "active", "logged_user_mail_address")
    );
    assert_eq!(row(&rows, "o'brien@example.com")[2], "Analyst, \"Tier 2\"");
    let text = ws.object(&format!("/{NAME}.csv")).unwrap();
    assert_eq!(
        text,
        "UserId,RoleName,RequestType\r\nd'arcy@example.com,\"'=HYPERLINK(\"\"http://x\"\")\",Remove\r\n-dash@example.com,Analyst,Remove\r\n+plus@example.com,Analyst,Remove\r\n"
    );
    // The account without an email is in the accounts report with its own reason, and in
    // no row anyone would have to act on.
    let nameless = rows.iter().find(|r| r[0] == "no-email").unwrap();
    assert_eq!(nameless[7..9], ["skip", "no_email"]);
    let manifest = ws.manifest().unwrap();
    let source = &manifest["sources"][0];
    assert_eq!(source["findings"]["skipped_no_email"], 1);
    assert_eq!(
        source["reports"][0]["neutralised_cells"], 1,
        "only the role"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_mid_scan_writes_no_cleanup_file_and_exits_3() {
    let trend = fake().await;
    add_users(
        &trend,
        "u",
        6,
        |i| if i % 2 == 0 { vec![i] } else { vec![] },
    );
    {
        let mut state = trend.state();
        state.page_cap = Some(1);
        // The second audit page fails for good, from a gateway in front of the API.
        state.faults.push(Fault::page_always(
            Which::Audit,
            1,
            Canned::html(502, "502 Bad Gateway"),
        ));
    }
    let vault = FakeVault::start("hvs.vault-token", Version::V1_18).await;
    vault.add(
        month(2026, 11),
        Activity::entity("c1", mid(month(2026, 11))),
    );
    let vault_item = format!(
        "  - name: vault-test\n    kind: vault_client_activity\n    address: {}\n    months: 1\n    roll_off_months: 1\n",
        vault.url()
    );
    let mut vars = env();
    vars.push(("VAULT_TOKEN".into(), "hvs.vault-token".into()));
    let (ws, ran) = run_items(&[vault_item, item(&trend, "")], &vars).await;
    assert_eq!(ran.code, 3, "{ran:#?}");
    assert!(
        ws.object(&format!("/{NAME}.csv")).is_none(),
        "a cleanup file was written"
    );
    assert!(ws.object(&format!("/{NAME}-accounts.csv")).is_none());
    assert_eq!(csv_rows(&ws.object("/vault-test.csv").unwrap()).len(), 2);
    let manifest = ws.manifest().unwrap();
    assert_eq!(manifest["status"], "partial");
    let source = &manifest["sources"][1];
    assert_eq!(source["status"], "failed");
    assert!(source["reports"].as_array().unwrap().is_empty());
    let error = source["error"].as_str().unwrap();
    assert_contains_all(
        error,
        &[
            "audit log page 2",
            "/v3.0/audit/logs",
            "HTTP 502",
            "3 attempt(s)",
            "`502 Bad Gateway`",
            "no report was written",
        ],
    );
    let failed = trend
        .requests(Which::Audit)
        .iter()
        .filter(|r| r.status == 502)
        .count();
    assert_eq!(
        failed, 3,
        "the failing page is retried, then the source gives up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_budget_is_never_exceeded() {
    let fake = fake().await;
    add_users(&fake, "u", 4, |i| vec![i, i + 10]);
    {
        let mut state = fake.state();
        state.page_cap = Some(1);
        // Trend's limit, counted on arrival. The budget below paces on a 2% longer window,
        // which covers latency jitter at Trend's 60 s scale (1.2 s); at this test's 1 s scale it
        // is 20 ms, less than a loaded test machine's jitter, so the fake's window is 10% short.
        state.limit = Some(Limit {
            requests: 3,
            per: Duration::from_millis(900),
        });
    }
    let started = Instant::now();
    let (ws, ran) = run_trend(&fake, "    rate_limit: {requests: 3, per: 1s}\n").await;
    let elapsed = started.elapsed();
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(fake.too_many_count(), 0, "{:?}", fake.log.statuses());
    assert_eq!(
        fake.log.count(),
        13,
        "4 account pages, 8 logon pages and 1 page of arrivals"
    );
    assert!(fake.max_in_window(Duration::from_millis(900)) <= 3);
    // 13 requests at 3 a second: the last cannot start before 4 s.
    assert!(elapsed >= Duration::from_secs(4), "{elapsed:?}");
    let findings = &ws.manifest().unwrap()["sources"][0]["findings"];
    assert_eq!(findings["requests"], 13);
    assert_eq!(findings["rate_limit_pauses"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_without_retry_after_is_backed_off_then_retried() {
    let fake = fake().await;
    fake.add_account(FakeAccount::user("a", "a@example.com"));
    fake.add_event(Event::logon_of(ago(1, 0), "a", "a@example.com"));
    fake.state().faults.push(Fault {
        which: Some(Which::Audit),
        page: None,
        times: 2,
        answer: rollcall_fakes::vision_one::too_many(),
    });
    let started = Instant::now();
    let (ws, ran) = run_trend(&fake, FAST_PATIENCE).await;
    let elapsed = started.elapsed();
    assert_eq!(ran.code, 0, "{ran:#?}");
    let mut statuses: Vec<u16> = fake
        .requests(Which::Audit)
        .iter()
        .map(|r| r.status)
        .collect();
    statuses.sort();
    assert_eq!(statuses, [200, 200, 429, 429], "logon and arrival scans");
    // A sixth of the 3 s window after the first 429, doubling: never a retry seconds apart.
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert_eq!(cleanup(&ws).len(), 1);
    let findings = &ws.manifest().unwrap()["sources"][0]["findings"];
    assert!(findings["rate_limit_pauses"].as_u64().unwrap() >= 1);
}

/// Another client shares the tenant's quota: Trend refuses every request for the rest of its
/// window, with no `Retry-After`. A retry after a few seconds' backoff would fail the source;
/// waits from a sixth of the window, doubling, outlast it.
#[tokio::test(flavor = "multi_thread")]
async fn a_quota_shared_with_another_client_is_waited_out_not_failed() {
    let fake = fake().await;
    fake.add_account(FakeAccount::user("a", "a@example.com"));
    fake.add_event(Event::logon_of(ago(1, 0), "a", "a@example.com"));
    // The other client already spent all but two requests of this 3 s window.
    fake.state().limit = Some(Limit {
        requests: 2,
        per: Duration::from_secs(3),
    });
    let started = Instant::now();
    let (_ws, ran) = run_items_retrying(&[item(&fake, FAST_PATIENCE)], &env(), 4).await;
    let elapsed = started.elapsed();
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert!(fake.too_many_count() >= 1, "{:?}", fake.log.statuses());
    assert!(
        elapsed >= Duration::from_secs(3),
        "the window was waited out: {elapsed:?}"
    );
    let statuses = fake.log.statuses();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_429s_fail_the_source_and_flag_nobody() {
    let fake = fake().await;
    fake.add_account(FakeAccount::user("a", "a@example.com"));
    fake.state().faults.push(Fault {
        which: Some(Which::Audit),
        page: None,
        times: usize::MAX,
        answer: rollcall_fakes::vision_one::too_many(),
    });
    let (ws, ran) = run_trend(&fake, FAST_PATIENCE).await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    assert!(ws.object(&format!("/{NAME}.csv")).is_none());
    let error = ws.source_error(0);
    assert_contains_all(
        &error,
        &["HTTP 429", "TooManyRequests: Too many API requests"],
    );
    let audit = fake.requests(Which::Audit).len();
    assert!(
        (3..=6).contains(&audit),
        "three attempts of a scan: {audit}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unsuccessful_logons_count_only_when_the_spec_says_so() {
    let fake = fake().await;
    for name in ["text", "flag", "ok"] {
        fake.add_account(FakeAccount::user(name, &format!("{name}@example.com")));
    }
    fake.add_event(
        Event::logon_of(ago(1, 0), "text", "text@example.com").result(Outcome::Unsuccessful),
    );
    fake.add_event(Event::logon_of(ago(1, 0), "flag", "flag@example.com").result(Outcome::False));
    fake.add_event(Event::logon_of(ago(1, 0), "ok", "ok@example.com").result(Outcome::True));
    let (ws, ran) = run_trend(&fake, "    max_remove_ratio: 1\n").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = detail(&ws);
    assert_eq!(verdict(&rows, "text@example.com").1, "no_logon_in_window");
    assert_eq!(verdict(&rows, "flag@example.com").1, "no_logon_in_window");
    assert_eq!(verdict(&rows, "ok@example.com").1, "active");
    let manifest = ws.manifest().unwrap();
    assert_eq!(
        manifest["sources"][0]["findings"]["unsuccessful_logons_ignored"],
        2
    );
    assert_eq!(
        manifest["sources"][0]["thresholds"]["count_unsuccessful_logons"],
        false
    );

    let (ws, ran) = run_trend(&fake, "    count_unsuccessful_logons: true\n").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = detail(&ws);
    for name in ["text", "flag", "ok"] {
        assert_eq!(verdict(&rows, &format!("{name}@example.com")).1, "active");
    }
    assert_eq!(cleanup(&ws).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_logon_time_fails_the_source_instead_of_guessing() {
    let fake = fake().await;
    fake.add_account(FakeAccount::user("a", "a@example.com"));
    fake.add_event(
        Event::logon_of(ago(1, 0), "a", "a@example.com").form(TimeForm::Raw("22/11/2026".into())),
    );
    let (ws, ran) = run_trend(&fake, "").await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    assert!(ws.object(&format!("/{NAME}.csv")).is_none());
    let error = ws.source_error(0);
    assert_contains_all(&error, &["a@example.com", "`22/11/2026`"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_form_of_last_page_and_null_items_end_paging() {
    for last in [LastPage::Omitted, LastPage::Null, LastPage::Empty] {
        let fake = fake().await;
        add_users(&fake, "u", 3, |_| vec![]);
        {
            let mut state = fake.state();
            state.page_cap = Some(2);
            state.last_page = last;
            state.null_items = true;
        }
        let (ws, ran) = run_trend(&fake, "    max_remove_ratio: 1\n").await;
        assert_eq!(ran.code, 0, "{last:?}: {ran:#?}");
        assert_eq!(fake.requests(Which::Accounts).len(), 2, "{last:?}");
        assert_eq!(fake.logon_requests().len(), 1, "{last:?}");
        assert_eq!(cleanup(&ws).len(), 4, "{last:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_is_not_the_documented_shape_fails_the_source() {
    for body in [
        r#"{"items":[{"id":42,"email":"a@example.com"}]}"#,
        r#"{"totalCount":1,"count":1}"#,
        r#"{"items":[{"id":"a""#,
    ] {
        let fake = fake().await;
        fake.state().faults.push(Fault::page_always(
            Which::Accounts,
            0,
            Canned::text(200, body, "application/json"),
        ));
        let (ws, ran) = run_trend(&fake, "").await;
        assert_eq!(ran.code, 1, "{body}: {ran:#?}");
        assert!(ws.object(&format!("/{NAME}.csv")).is_none(), "{body}");
        let error = ws.source_error(0);
        assert!(error.contains("IAM accounts page 1"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_next_link_that_loops_fails_the_source() {
    let fake = fake().await;
    fake.add_account(FakeAccount::user("a", "a@example.com"));
    fake.add_event(Event::logon_of(ago(1, 0), "a", "a@example.com"));
    fake.add_event(Event::logon_of(ago(2, 0), "a", "a@example.com"));
    {
        let mut state = fake.state();
        state.page_cap = Some(1);
        state.loop_audit_pages = true;
    }
    let (ws, ran) = run_trend(&fake, "").await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    let error = ws.source_error(0);
    assert!(error.contains("already read"), "{error}");
    assert!(fake.requests(Which::Audit).len() <= 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_without_audit_permission_is_a_credentials_problem() {
    let fake = fake().await;
    fake.add_account(FakeAccount::user("a", "a@example.com"));
    fake.state().audit_forbidden = true;
    let (ws, ran) = run_trend(&fake, "").await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    let error = ws.source_error(0);
    assert_contains_all(
        &error,
        &[
            "credentials rejected",
            "HTTP 403",
            "AccessDenied",
            "TREND_VISION_ONE_TOKEN",
            "Audit Logs",
        ],
    );
    assert_eq!(fake.requests(Which::Audit).len(), 1, "a 403 is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_accepts_a_region_and_refuses_both_region_and_base_url() {
    let ws = Workspace::new();
    let spec = ws.spec(&[format!(
        "  - name: {NAME}\n    kind: vision_one_inactive_accounts\n    region: jp\n    token_env: V1_KEY\n"
    )]);
    let ran = ws
        .rollcall("validate", &spec, &[("V1_KEY".into(), TOKEN.into())])
        .await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let ran = ws.rollcall("validate", &spec, &[]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(ran.all_output().contains("V1_KEY_FILE"), "{ran:#?}");

    let spec = ws.spec(&[format!(
        "  - name: {NAME}\n    kind: vision_one_inactive_accounts\n    region: eu\n    base_url: https://proxy.internal\n"
    )]);
    let ran = ws.rollcall("validate", &spec, &env()).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(
        ran.all_output().contains("job.yaml:8:") && ran.all_output().contains("not both"),
        "{ran:#?}"
    );
}

/// The fake refuses what Trend refuses; a kinder fake would let client bugs through.
#[tokio::test(flavor = "multi_thread")]
async fn the_fake_is_as_strict_as_trend() {
    let fake = fake().await;
    fake.add_account(FakeAccount::user("a", "a@example.com"));
    let client = reqwest::Client::new();
    let get = |path: &str, filter: Option<&str>, token: Option<&str>| {
        let mut request = client.get(format!("{}{path}", fake.url()));
        if let Some(f) = filter {
            request = request.header("TMV1-Filter", f);
        }
        if let Some(t) = token {
            request = request.header("Authorization", format!("Bearer {t}"));
        }
        request.send()
    };
    let audit = "/v3.0/audit/logs?startDateTime=2026-08-24T03:00:00Z&endDateTime=2026-11-22T03:00:00Z&orderBy=loggedDateTime%20desc&top=200&labels=all";
    // Path and query, filter, token, expected status, a word the body must contain.
    type Probe<'a> = (String, Option<&'a str>, Option<&'a str>, u16, &'a str);
    let cases: Vec<Probe<'_>> = vec![
        (audit.into(), Some(LOGON_FILTER), Some(TOKEN), 200, ""),
        (audit.into(), Some(LOGON_FILTER), None, 401, "Unauthorized"),
        (
            audit.into(),
            Some(LOGON_FILTER),
            Some("wrong"),
            401,
            "Unauthorized",
        ),
        (
            "/v3.0/iam/accounts?top=10".into(),
            None,
            Some(TOKEN),
            400,
            "top",
        ),
        (
            "/v3.0/iam/accounts?top=100&limit=5".into(),
            None,
            Some(TOKEN),
            400,
            "limit",
        ),
        (
            "/v3.0/iam/accounts?top=100&top=100".into(),
            None,
            Some(TOKEN),
            400,
            "Duplicate",
        ),
        (
            "/v3.0/iam/accounts".into(),
            Some("status eq 'enabled' and authType eq 'local'"),
            Some(TOKEN),
            200,
            "",
        ),
        (
            "/v3.0/iam/accounts".into(),
            Some("lastLogon eq 'x'"),
            Some(TOKEN),
            400,
            "unsupported field",
        ),
        (
            audit.into(),
            Some("(loggedUser eq 'o'brien')"),
            Some(TOKEN),
            400,
            "TMV1-Filter",
        ),
        (
            audit.into(),
            Some("(loggedUser eq 'o''brien')"),
            Some(TOKEN),
            200,
            "",
        ),
        (
            "/v3.0/audit/logs?startDateTime=2026-08-24T03:00:00.000Z".into(),
            None,
            Some(TOKEN),
            400,
            "startDateTime",
        ),
        (
            "/v3.0/audit/logs?startDateTime=2026-05-25T03:00:00Z".into(),
            None,
            Some(TOKEN),
            400,
            "retention",
        ),
        (
            "/v3.0/audit/logs?orderBy=loggedUser%20desc".into(),
            None,
            Some(TOKEN),
            400,
            "orderBy",
        ),
        (
            "/v3.0/audit/logs?skipToken=bm9wZQ==".into(),
            None,
            Some(TOKEN),
            400,
            "skipToken",
        ),
        ("/v3.0/unknown".into(), None, Some(TOKEN), 404, "NotFound"),
    ];
    for (path, filter, token, status, needle) in cases {
        let response = get(&path, filter, token).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path} {filter:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains(needle), "{path}: {body}");
    }
    let long = format!("loggedUser eq '{}'", "x".repeat(1100));
    let response = get(audit, Some(&long), Some(TOKEN)).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // A page must re-send the filter that started the scan.
    fake.state().page_cap = Some(1);
    fake.add_event(Event::logon_of(ago(1, 0), "a", "a@example.com"));
    fake.add_event(Event::logon_of(ago(2, 0), "a", "a@example.com"));
    let first: serde_json::Value = get(audit, Some(LOGON_FILTER), Some(TOKEN))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = first["nextLink"].as_str().unwrap();
    assert!(link.starts_with("https://api.xdr.trendmicro.com/v3.0/audit/logs?skipToken="));
    let query = link.split_once('?').unwrap().1;
    let next = format!("/v3.0/audit/logs?{query}");
    assert_eq!(get(&next, None, Some(TOKEN)).await.unwrap().status(), 400);
    assert_eq!(
        get(&next, Some(LOGON_FILTER), Some(TOKEN))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn fake_skip_tokens_round_trip_and_look_like_trends() {
    for (scan, offset) in [(1, 0), (12, 200), (999, 50_000)] {
        let token = encode_token(scan, offset);
        assert_eq!(decode_token(&token), Some((scan, offset)), "{token}");
    }
    assert!(encode_token(1, 20).ends_with("=="));
    assert_eq!(decode_token("%%%"), None);
}

#[test]
fn fake_filters_parse_like_trends() {
    let f = Filter::parse(LOGON_FILTER, AUDIT_FIELDS).unwrap();
    let get = |n: &str| match n {
        "category" => Some("Logon and Logoff".to_owned()),
        "activity" => Some("Log on".to_owned()),
        _ => None,
    };
    assert!(f.matches(&get));
    let f = Filter::parse("not (loggedUser eq 'o''brien')", AUDIT_FIELDS).unwrap();
    assert!(f.matches(&get));
    assert!(Filter::parse("(userName eq 'x')", AUDIT_FIELDS).is_err());
    assert!(Filter::parse("category eq 'x", AUDIT_FIELDS).is_err());
    assert!(Filter::parse("category = 'x'", AUDIT_FIELDS).is_err());
    assert!(Filter::parse("(category eq 'x'", AUDIT_FIELDS).is_err());
    assert!(
        Filter::parse(
            "status eq 'enabled' and authType eq 'local'",
            ACCOUNT_FIELDS
        )
        .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_tenant_produces_both_reports() {
    let (fake, item, env) = rollcall_fakes::vision_one::demo().await;
    let (ws, ran) = run_items(&[item], &env).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = csv_rows(&ws.object("/vision-one-accounts.csv").unwrap());
    assert!(rows.len() > 30, "{}", rows.len());
    let reasons: std::collections::BTreeSet<&str> =
        rows[1..].iter().map(|r| r[8].as_str()).collect();
    for reason in [
        "active",
        "last_logon_too_old",
        "no_logon_in_window",
        "invited_never_logged_on",
        "invited_recently",
        "saml_group",
    ] {
        assert!(reasons.contains(reason), "{reason} missing: {reasons:?}");
    }
    let cleanup = csv_rows(&ws.object("/vision-one.csv").unwrap());
    assert!(cleanup.len() > 5);
    assert!(fake.log.statuses().iter().all(|s| *s == 200));
}

/// Logons were seen, but they name people by display name only: nobody can be tied to them,
/// so every account would look inactive. The cleanup file is withheld and the source fails.
#[tokio::test(flavor = "multi_thread")]
async fn logons_that_match_no_account_fail_the_source_instead_of_removing_everyone() {
    let fake = fake().await;
    for (id, email, name) in [
        ("a", "ana.silva@example.com", "Ana Silva"),
        ("b", "ben.okafor@example.com", "Ben Okafor"),
        ("c", "chloe.martin@example.com", "Chloe Martin"),
    ] {
        fake.add_account(FakeAccount::user(id, email));
        for d in [1, 4] {
            fake.add_event(Event::logon(ago(d, 0)).user(name));
        }
    }
    let (ws, ran) = run_trend(&fake, "").await;
    assert_eq!(ran.code, 2, "no retry changes the data: {ran:#?}");
    assert!(
        ws.object(&format!("/{NAME}.csv")).is_none(),
        "a cleanup file was written"
    );
    let rows = detail(&ws);
    assert_eq!(rows.len(), 4);
    for r in &rows[1..] {
        assert_eq!(r[7..9], ["withheld", "no_logon_in_window"], "{r:?}");
    }
    let manifest = ws.manifest().unwrap();
    let source = &manifest["sources"][0];
    assert_eq!(source["status"], "failed");
    let error = source["error"].as_str().unwrap();
    assert_contains_all(
        error,
        &[
            "6 logons by 3 identities",
            "only 0 of 3 accounts",
            "No cleanup file was written",
        ],
    );
    assert_eq!(
        source["reports"].as_array().unwrap().len(),
        1,
        "{manifest:#}"
    );
    assert_eq!(source["reports"][0]["name"], "trend-test-accounts");
    let findings = &source["findings"];
    assert_eq!(findings["cleanup_withheld"], "logons_not_attributed");
    assert_eq!(findings["withheld"], 3);
    assert_eq!(
        findings["unmatched_identities"][0],
        serde_json::json!({"value": "ana silva", "count": 2, "latest": "2026-11-21T03:00:00Z"}),
        "{findings:#}"
    );
    assert_eq!(
        findings["unmatched_identities"].as_array().unwrap().len(),
        3
    );
}

/// More removals than `max_remove_ratio` allows: no cleanup file, the numbers in the error;
/// a higher limit writes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_removal_larger_than_max_remove_ratio_writes_no_cleanup_file() {
    let fake = fake().await;
    add_users(&fake, "u", 10, |i| if i < 3 { vec![1] } else { vec![] });
    let (ws, ran) = run_trend(&fake, "").await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(ws.object(&format!("/{NAME}.csv")).is_none());
    let manifest = ws.manifest().unwrap();
    let source = &manifest["sources"][0];
    let error = source["error"].as_str().unwrap();
    assert_contains_all(
        error,
        &[
            "removal of 7 of 10 accounts (70%)",
            "`max_remove_ratio: 0.5` allows (50%)",
        ],
    );
    assert_eq!(source["thresholds"]["max_remove_ratio"], 0.5);
    assert_eq!(source["findings"]["cleanup_withheld"], "max_remove_ratio");
    let withheld = detail(&ws).iter().filter(|r| r[7] == "withheld").count();
    assert_eq!(withheld, 7);

    let (ws, ran) = run_trend(&fake, "    max_remove_ratio: 0.7\n").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(cleanup(&ws).len(), 8);
}

/// Accounts added or invited within `inactive_days` are kept with their own reason; the
/// `Account Management` event names them by email or display name; one that names nobody is
/// counted, and keeps every account without a logon from removal.
#[tokio::test(flavor = "multi_thread")]
async fn accounts_added_or_invited_recently_are_kept_and_unattributed_arrivals_are_not_guessed() {
    let fake = fake().await;
    fake.add_account(FakeAccount::user("act", "active@example.com"));
    fake.add_event(Event::logon_of(ago(1, 0), "act", "active@example.com"));
    fake.add_account(FakeAccount::user("act2", "active2@example.com"));
    fake.add_event(Event::logon_of(ago(2, 0), "act2", "active2@example.com"));
    fake.add_account(FakeAccount::user("new", "new@example.com"));
    fake.add_event(Event::arrival(
        ago(3, 0),
        "Add user account",
        Some("New@Example.com"),
    ));
    fake.add_account(FakeAccount::invited("inv", "jane.doe@partner.example").named("Jane Doe"));
    fake.add_event(Event::arrival(
        ago(5, 0),
        "Invite user account",
        Some("Jane  Doe"),
    ));
    // Added long ago: it had the whole threshold to log on.
    fake.add_account(FakeAccount::user("old", "old@example.com"));
    fake.add_event(Event::arrival(
        ago(120, 0),
        "Add user account",
        Some("old@example.com"),
    ));
    let (ws, ran) = run_trend(&fake, "    lookback: 180d\n").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = detail(&ws);
    assert_verdicts(
        &rows,
        &[
            ("new@example.com", ("keep", "created_recently", "")),
            ("jane.doe@partner.example", ("keep", "invited_recently", "")),
            ("old@example.com", ("remove", "no_logon_in_window", "")),
        ],
    );
    assert_eq!(row(&rows, "new@example.com")[10], "2026-11-19T03:00:00Z");
    let removed: Vec<String> = cleanup(&ws)[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(removed, ["old@example.com"]);
    let findings = &ws.manifest().unwrap()["sources"][0]["findings"];
    assert_eq!(findings["arrival_events"], 3);
    assert_eq!(findings["kept_created_recently"], 1);
    assert_eq!(findings["kept_invited_recently"], 1);
    assert_eq!(findings["arrival_events_unattributed"], 0);
    let arrivals = fake.arrival_requests();
    assert_eq!(arrivals.len(), 1);
    assert_eq!(arrivals[0].query["startDateTime"], "2026-05-26T04:00:00Z");

    // An invitation naming someone the accounts list does not know by that name, and one
    // naming nobody: either may be any account without a logon, so none of those is removed.
    fake.add_event(Event::arrival(
        ago(2, 0),
        "Invite user account",
        Some("Sam Lee"),
    ));
    fake.add_event(Event::arrival(ago(4, 0), "Add user account", None));
    let (ws, ran) = run_trend(&fake, "    lookback: 180d\n").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = detail(&ws);
    assert_verdicts(
        &rows,
        &[
            ("old@example.com", ("skip", "possibly_added_recently", "")),
            ("new@example.com", ("keep", "created_recently", "")),
        ],
    );
    assert_eq!(cleanup(&ws).len(), 1, "nobody to remove");
    let findings = &ws.manifest().unwrap()["sources"][0]["findings"];
    assert_eq!(findings["arrival_events_unattributed"], 2);
    assert_eq!(
        findings["unattributed_arrivals"],
        serde_json::json!([
            {"value": "Sam Lee", "activity": "Invite user account", "count": 1, "latest": "2026-11-20T03:00:00Z"},
            {"value": "", "activity": "Add user account", "count": 1, "latest": "2026-11-18T03:00:00Z"},
        ]),
        "{findings:#}"
    );
}
