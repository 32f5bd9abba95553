//! The LaunchDarkly audit log source through the real binary, against the fake LaunchDarkly.

use crate::support::matrix::{Case, MatrixSource};
use crate::support::{Ran, Workspace, assert_contains_all, csv_rows, vars};
use rollcall_fakes::Canned;
use rollcall_fakes::launchdarkly::{
    Budget, FakeEntry, FakeLaunchDarkly, Storm, Ties, UNAUTHORIZED, demo,
};
use serde_json::json;
use std::time::Duration;

const TOKEN: &str = "api-7f3e1c2a-fake-ld-token-0042";
/// The tests' "now"; the default window is the 30 days before it.
const NOW: &str = "2026-11-22T03:00:00Z";
const DAY: i64 = 24 * 3_600_000;

fn now_ms() -> i64 {
    chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp_millis()
}

fn window() -> (i64, i64) {
    (now_ms() - 30 * DAY, now_ms())
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `n` entries spread over the default window, newest `now - 1 min`, some sharing a millisecond.
fn spread(n: usize, prefix: &str) -> Vec<FakeEntry> {
    (0..n)
        .map(|i| {
            let date = now_ms() - 60_000 - (i as i64 / 3) * 7_919_000;
            FakeEntry::flag(&format!("{prefix}{i:06}"), date)
        })
        .collect()
}

struct LdMatrix {
    fake: FakeLaunchDarkly,
    rows: usize,
}

impl MatrixSource for LdMatrix {
    const NAME: &str = "ld-test";
    const SECRET: &str = TOKEN;
    const SECRET_VARIABLE: &str = "LD_API_TOKEN";
    const NOW: &str = NOW;

    async fn start(case: Case) -> Self {
        let fake = FakeLaunchDarkly::start(TOKEN).await;
        let rows = match case {
            Case::Happy | Case::RateLimitedOnce | Case::Unauthorized | Case::Malformed => 7,
            Case::Paginated => 95,
            Case::Empty => 0,
        };
        fake.set_entries(spread(rows, "m"));
        match case {
            Case::RateLimitedOnce => fake
                .state()
                .inject
                .push_back(rollcall_fakes::launchdarkly::rate_limited(1)),
            Case::Unauthorized => fake.state().token = "api-another-token".into(),
            Case::Malformed => fake.state().malformed = Some((
                0,
                r#"{"items":[{"date":1763700000000,"kind":"flag","name":"no id"}],"_links":{}}"#
                    .into(),
            )),
            _ => {}
        }
        Self { fake, rows }
    }
    fn source_item(&self) -> String {
        format!(
            "  - name: {}\n    kind: launchdarkly_audit_log\n    base_url: {}\n",
            Self::NAME,
            self.fake.url()
        )
    }
    fn expected_rows(&self) -> usize {
        self.rows
    }
    fn statuses(&self) -> Vec<u16> {
        self.fake.statuses()
    }
}

crate::support::matrix::matrix_tests!(LdMatrix);

/// Runs one LaunchDarkly source with extra spec lines (and optionally an `http:` section).
async fn run_ld(fake: &FakeLaunchDarkly, extra: &str, http: &str) -> (Workspace, Ran) {
    run_ld_env(fake, extra, http, &[("LD_API_TOKEN", TOKEN)]).await
}

async fn run_ld_env(
    fake: &FakeLaunchDarkly,
    extra: &str,
    http: &str,
    env: &[(&str, &str)],
) -> (Workspace, Ran) {
    let ws = Workspace::new();
    let spec = ws.spec_text(&format!(
        "job: test-job\noutput:\n  url: {}\n{http}sources:\n  - name: ld\n    kind: launchdarkly_audit_log\n    base_url: {}\n{extra}",
        ws.reports().display(),
        fake.url()
    ));
    let vars = vars(&[&[("ROLLCALL_NOW", NOW)], env].concat());
    let ran = ws.rollcall("run", &spec, &vars).await;
    (ws, ran)
}

fn report(ws: &Workspace) -> Vec<Vec<String>> {
    csv_rows(&ws.object("/ld.csv").expect("the report was written"))
}

/// `(date_ms, id)` of each data row, in report order.
fn keys(rows: &[Vec<String>]) -> Vec<(i64, String)> {
    rows[1..]
        .iter()
        .map(|r| (r[2].parse().unwrap(), r[0].clone()))
        .collect()
}

fn findings(ws: &Workspace) -> serde_json::Value {
    ws.manifest().unwrap()["sources"][0]["findings"].clone()
}

/// Groups of tied entries placed so that they straddle page boundaries (page = 20 entries).
fn ties_at_page_boundaries() -> Vec<FakeEntry> {
    let mut entries = Vec::new();
    let mut date = now_ms() - 3_600_000;
    let mut n = 0;
    for group in [
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 7, 1, 1, 1, 3, 19, 2, 1, 4, 1, 1,
    ] {
        for _ in 0..group {
            // Ids not in date order, so the report's own tie order is exercised.
            entries.push(FakeEntry::flag(
                &format!("{:04x}-t", (n * 7919) % 65536),
                date,
            ));
            n += 1;
        }
        date -= 1_000 + (n as i64 % 5);
    }
    entries
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_carry_the_exact_token_version_limit_and_filters() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    fake.set_entries(spread(120, "f"));
    let (ws, ran) = run_ld(
        &fake,
        "    q: Checkout\n    spec: \"proj/*:env/production:flag/*\"\n",
        "",
    )
    .await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let seen = fake.log();
    assert!(!seen.is_empty());
    for request in &seen {
        assert_eq!(request.headers["authorization"], TOKEN, "no Bearer prefix");
        assert_eq!(request.headers["ld-api-version"], "20240415");
        assert_eq!(request.query["limit"], "20");
        assert_eq!(request.query["q"], "Checkout");
        assert_eq!(request.query["spec"], "proj/*:env/production:flag/*");
        // Only `before`: a page reaching below a range's start ends it, no `after` needed.
        assert!(!request.query.contains_key("after"), "{request:?}");
        let before: i64 = request.query["before"].parse().unwrap();
        assert!(before >= window().0 && before <= window().1, "{request:?}");
        assert_eq!(request.status, 200);
    }
    assert!(fake.max_concurrent() <= 4);
    let rows = report(&ws);
    assert_eq!(
        rows[0],
        [
            "id",
            "date",
            "date_ms",
            "kind",
            "name",
            "title_verb",
            "title",
            "description",
            "short_description",
            "comment",
            "member_id",
            "member_email",
            "member_name",
            "token_name",
            "app_name",
            "actions",
            "resources",
            "target_name",
            "parent_name"
        ]
    );
    // The fake's filters: name contains "checkout", a production flag was accessed.
    assert!(rows.len() > 1);
    for row in &rows[1..] {
        assert!(row[4].to_lowercase().contains("checkout"), "{row:?}");
        assert!(row[16].contains("env/production"), "{row:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fake_is_as_strict_as_the_reference() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    let at = |i: i64| now_ms() - 10_000 + i;
    let mut entries: Vec<FakeEntry> = (0..25)
        .map(|i| FakeEntry::flag(&format!("e{i:02}"), at(i * 10)))
        .collect();
    entries.push(FakeEntry::flag("tie-a", at(100)));
    fake.set_entries(entries);
    // Requests refused for their credential or version are not counted; the others are.
    fake.state().route_budget = Some(Budget {
        requests: 6,
        window: Duration::from_secs(3600),
    });
    let client = reqwest::Client::new();
    let get = |query: &str, auth: Option<&str>, version: Option<&str>| {
        let mut request = client.get(format!("{}/api/v2/auditlog?{query}", fake.url()));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        if let Some(version) = version {
            request = request.header("ld-api-version", version);
        }
        request.send()
    };
    let r = get("limit=5", Some(&format!("Bearer {TOKEN}")), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), UNAUTHORIZED);
    assert_eq!(get("", None, None).await.unwrap().status(), 401);
    // The last: a flag specifier without its environment level.
    for bad in [
        "limit=21",
        "limit=0",
        "before=yesterday",
        "after=1.5",
        "spec=proj%2Fdefault%3Aflag%2Fcheckout",
    ] {
        let r = get(bad, Some(TOKEN), None).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "invalid_request", "{bad}");
    }
    let r = get("", Some(TOKEN), Some("20220603")).await.unwrap();
    assert_eq!(r.status(), 400);

    // Strictly after < date < before, newest first, a relative `next`, rate-limit headers.
    let query = format!("after={}&before={}&limit=3", at(100), at(200));
    let r = get(&query, Some(TOKEN), Some("20240415")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-route-remaining"], "0");
    assert!(r.headers().contains_key("x-ratelimit-reset"));
    let body: serde_json::Value = r.json().await.unwrap();
    let dates: Vec<i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["date"].as_i64().unwrap())
        .collect();
    assert_eq!(dates, [at(190), at(180), at(170)]);
    assert_eq!(
        body["_links"]["next"]["href"],
        format!(
            "/api/v2/auditlog?after={}&before={}&limit=3",
            at(100),
            at(170)
        )
    );
    // The 4 invalid requests and the page spent the budget of 5: the next one is refused.
    let r = get("limit=1", Some(TOKEN), None).await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-ratelimit-route-remaining"], "0");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");

    // Last page: no `next`.
    fake.state().route_budget = None;
    let r = get(&format!("before={}", at(20)), Some(TOKEN), None)
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    assert!(body["_links"].get("next").is_none());
    assert!(
        body["_links"]["self"]["href"]
            .as_str()
            .unwrap()
            .starts_with("/api/v2/auditlog?")
    );
    // The four invalid requests were caught by LaunchDarkly's OpenAPI document, each for its
    // own reason; taking them keeps the fake from failing the test for them when dropped.
    let caught = fake.server.take_violations();
    assert_eq!(caught.len(), 4, "{caught:#?}");
    for (problem, why) in caught.iter().zip([
        "`limit`=\"21\": value: value 21 is above the maximum 20",
        "`limit`=\"0\": value: value 0 is below the minimum 1",
        "`before`=\"yesterday\": not an integer",
        "`after`=\"1.5\": not an integer",
    ]) {
        assert!(problem.contains(why), "{problem} should say {why}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fake_search_and_counts_are_as_strict_as_the_spec() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    let ms = now_ms() - DAY;
    fake.set_entries(vec![
        FakeEntry::accessing("f1", ms, &[("updateOn", "proj/web:env/production:flag/a")]),
        FakeEntry::accessing(
            "fs",
            ms,
            &[
                ("updateOn", "proj/web:env/production:flag/b"),
                ("updateIncluded", "proj/web:env/production:segment/s"),
            ],
        ),
        FakeEntry::accessing("m1", ms, &[("updateMemberRole", "member/1")]),
        FakeEntry::accessing("p1", ms, &[("updateName", "proj/web")]),
    ]);
    let client = reqwest::Client::new();
    let post = |path: &str, query: String, body: &str| {
        client
            .post(format!("{}{path}?{query}", fake.url()))
            .header("authorization", TOKEN)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let window = format!("after={}&before={}", ms - 1, ms + 1);
    let ids = |body: serde_json::Value| -> Vec<String> {
        let mut ids: Vec<String> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let search = |statements: &'static str| {
        let window = window.clone();
        let post = &post;
        async move {
            let r = post("/api/v2/auditlog", window, statements).await.unwrap();
            assert_eq!(r.status(), 200, "{statements}");
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    // Specifiers match segment by segment: `proj/*` is projects, not their flags.
    let all = r#"[{"effect":"allow","resources":["proj/*:env/*:flag/*"],"actions":["*"]}]"#;
    assert_eq!(ids(search(all).await), ["f1", "fs"]);
    let projects = r#"[{"effect":"allow","resources":["proj/*"],"actions":["*"]}]"#;
    assert_eq!(ids(search(projects).await), ["p1"]);
    // Several accesses: one entry matches several statements.
    let segments = r#"[{"effect":"allow","resources":["proj/*:env/*:segment/*"]}]"#;
    assert_eq!(ids(search(segments).await), ["fs"]);
    // notResources holds everything else; deny takes out what it names.
    let rest = r#"[{"effect":"allow","notResources":["proj/*:env/*:flag/*","proj/*"]}]"#;
    assert_eq!(ids(search(rest).await), ["fs", "m1"]);
    let minus = r#"[{"effect":"allow","resources":["proj/*:env/*:flag/*"]},{"effect":"deny","resources":["proj/web:env/production:flag/b"]}]"#;
    assert_eq!(ids(search(minus).await), ["f1"]);
    // What the spec refuses.
    for (path, query, body) in [
        ("/api/v2/auditlog", format!("{window}&spec=proj/*"), all),
        (
            "/api/v2/auditlog",
            window.clone(),
            r#"[{"resources":["member/*"]}]"#,
        ),
        (
            "/api/v2/auditlog",
            window.clone(),
            r#"[{"effect":"allow","resources":["a"],"notResources":["b"]}]"#,
        ),
        ("/api/v2/auditlog/counts", window.clone(), ""),
        ("/api/v2/auditlog/counts", format!("before={}", ms + 1), all),
        (
            "/api/v2/auditlog/counts",
            format!("{window}&buckets=501"),
            all,
        ),
    ] {
        let r = post(path, query.clone(), body).await.unwrap();
        assert_eq!(r.status(), 400, "{path}?{query} {body}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "invalid_request");
    }
    // Counts: 1 ms buckets from `after`, under the listing's bounds.
    let r = post(
        "/api/v2/auditlog/counts",
        format!("{window}&buckets=2"),
        all,
    )
    .await
    .unwrap();
    let counts: serde_json::Value = r.json().await.unwrap();
    assert_eq!(counts["bucketIntervalMs"], 1);
    assert_eq!(counts["totalCount"], 2);
    assert_eq!(
        counts["buckets"],
        json!([{"timestamp": ms - 1, "count": 0}, {"timestamp": ms, "count": 2}])
    );
    fake.state().counts_status = 404;
    let r = post("/api/v2/auditlog/counts", window.clone(), all)
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // What LaunchDarkly's OpenAPI document refuses was caught there, the rest by the fake;
    // taking them keeps the fake from failing the test for them when dropped.
    let caught = fake.server.take_violations().join("\n");
    assert_contains_all(
        &caught,
        &[
            "query parameter `spec` is not declared",
            "required field `effect` is missing",
            "the request body is required",
            "required query parameter `after` is missing",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_spec_set_a_full_millisecond_is_split_within_that_specifier_only() {
    let (fake, burst_ms) = fake_with_burst(splittable_burst).await;
    let (ws, ran) = run_ld(&fake, "    spec: proj/*:env/*:flag/*\n", "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let burst = &findings(&ws)["bursts"][0];
    // The flags of the burst: 15 + 10 + 3 + 12; members and the rest are outside the spec.
    assert_eq!(burst["counted"], 40);
    assert_eq!(burst["fetched"], 40);
    let got = keys(&report(&ws));
    assert_eq!(got.iter().filter(|(d, _)| *d == burst_ms).count(), 40);
    for s in fake.log().iter().filter(|s| s.method == "POST") {
        assert!(
            s.body.contains(":flag/*") && !s.body.contains("member/"),
            "every part is inside the spec: {}",
            s.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ties_across_page_boundaries_are_written_exactly_once_in_order() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    fake.set_entries(ties_at_page_boundaries());
    let expected = fake.expected(window().0, window().1);
    assert_eq!(expected.len(), 80);
    let mut reports = Vec::new();
    // Every tie order, and a server whose `before` is inclusive against its documentation.
    for (ties, inclusive) in [
        (Ties::IdDescending, false),
        (Ties::IdAscending, false),
        (Ties::Scrambled, false),
        (Ties::Scrambled, true),
    ] {
        fake.set_ties(ties);
        fake.state().before_inclusive = inclusive;
        for concurrency in [1, 4] {
            let (ws, ran) = run_ld(&fake, &format!("    concurrency: {concurrency}\n"), "").await;
            assert_eq!(ran.code, 0, "{ran:#?}");
            let rows = report(&ws);
            assert_eq!(
                keys(&rows),
                expected,
                "{ties:?}, inclusive {inclusive}, concurrency {concurrency}"
            );
            assert_eq!(findings(&ws)["full_milliseconds"], 0);
            assert!(findings(&ws)["duplicates_skipped"].as_u64().unwrap() > 0);
            reports.push(ws.object("/ld.csv").unwrap());
        }
    }
    assert!(reports.windows(2).all(|w| w[0] == w[1]));
}

/// A fake holding [`spread`]`(40, "s")` but, in the millisecond a day before now, only the
/// entries `burst` makes for it, and [`many_projects`] to split on; and that millisecond.
async fn fake_with_burst(burst: fn(i64) -> Vec<FakeEntry>) -> (FakeLaunchDarkly, i64) {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    let burst_ms = now_ms() - DAY;
    fake.set_entries(spread_around(burst_ms, burst(burst_ms)));
    many_projects(&fake);
    (fake, burst_ms)
}

/// The entries of [`spread`]`(40, "s")`, but in the millisecond `burst_ms` only `burst`.
fn spread_around(burst_ms: i64, burst: Vec<FakeEntry>) -> Vec<FakeEntry> {
    let mut entries = spread(40, "s");
    entries.retain(|e| e.date != burst_ms);
    entries.extend(burst);
    entries
}

/// 30 changes of one flag in one environment at `ms`: no resource left to split on.
fn unsplittable_burst(ms: i64) -> Vec<FakeEntry> {
    (0..30)
        .map(|i| {
            FakeEntry::accessing(
                &format!("b{i:02}"),
                ms,
                &[("updateOn", "proj/web:env/production:flag/checkout")],
            )
        })
        .collect()
}

/// 47 entries of one millisecond, spread so that every part of the split ends below a page:
/// flags in two projects and two environments (one part of 28 and one of 12 need splitting
/// again), three entries that changed a flag and a segment at once (they match two
/// statements), members, and account settings (only the catch-all matches `acct`-less kinds).
fn splittable_burst(ms: i64) -> Vec<FakeEntry> {
    let mut burst = Vec::new();
    let mut add = |prefix: &str, n: usize, accesses: &[(&str, &str)]| {
        for i in 0..n {
            burst.push(FakeEntry::accessing(
                &format!("{prefix}{i:02}"),
                ms,
                accesses,
            ));
        }
    };
    add(
        "wp",
        15,
        &[("updateOn", "proj/web:env/production:flag/checkout")],
    );
    add(
        "ws",
        10,
        &[("updateOn", "proj/web:env/staging:flag/checkout")],
    );
    add(
        "wx",
        3,
        &[
            ("updateRules", "proj/web:env/staging:flag/search"),
            ("updateIncluded", "proj/web:env/staging:segment/beta"),
        ],
    );
    add(
        "ap",
        12,
        &[("updateOn", "proj/api:env/production:flag/limits")],
    );
    add("mb", 5, &[("updateMemberRole", "member/64b7f2e1a9")]);
    add("xx", 2, &[("updateSettings", "unlisted-kind/x")]);
    burst
}

/// Projects for the split: more than a page of them, the busy one with its environments
/// beyond the embedded page.
fn many_projects(fake: &FakeLaunchDarkly) {
    let mut projects: Vec<(String, Vec<String>)> = (0..23)
        .map(|i| (format!("p{i:02}"), vec!["production".to_owned()]))
        .collect();
    projects.push((
        "web".into(),
        vec!["production".into(), "staging".into(), "dev".into()],
    ));
    projects.push(("api".into(), vec!["production".into()]));
    let mut state = fake.state();
    state.projects = projects;
    state.env_page = 1;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_millisecond_of_47_entries_is_fetched_whole_by_splitting_it_by_resource() {
    let (fake, burst_ms) = fake_with_burst(splittable_burst).await;
    let all = fake.expected(window().0, window().1);
    for concurrency in [1, 8] {
        let (ws, ran) = run_ld(&fake, &format!("    concurrency: {concurrency}\n"), "").await;
        assert_eq!(ran.code, 0, "{ran:#?}");
        assert_eq!(keys(&report(&ws)), all, "every entry once, in order");
        // The projects answer carries SDK keys: read past, never kept or logged.
        assert!(!ran.all_output().contains("secret-sdk-key"));
        assert!(ws.objects().values().all(|o| !o.contains("secret-sdk-key")));
        let manifest = ws.manifest().unwrap();
        assert_eq!(manifest["sources"][0]["status"], "succeeded");
        let f = findings(&ws);
        assert_eq!(f["full_milliseconds"], 1);
        assert_eq!(f["full_milliseconds_complete"], 1);
        assert_eq!(f["missing_entries"], 0);
        assert_eq!(f["incomplete_milliseconds"], json!([]));
        let burst = &f["bursts"][0];
        assert_eq!(burst["date"], rfc3339(burst_ms));
        assert_eq!(burst["counted"], 47);
        assert_eq!(burst["fetched"], 47);
        // 1 count, the 27 parts of the first split, the full flags part by project (25 and a
        // remainder), and the full part of project web by environment until the count is met.
        assert_eq!(burst["requests"], 55);
        assert_eq!(
            f["project_catalogue_requests"], 3,
            "2 pages of projects, then web's environments beyond the one embedded"
        );
        assert_eq!(f["entries_from_full_milliseconds"], 27);
    }
    // The split: every kind, a `notResources` catch-all, then by project and environment.
    let searches: Vec<String> = fake
        .log()
        .iter()
        .filter(|s| s.method == "POST" && s.path == "/api/v2/auditlog")
        .map(|s| s.body.clone())
        .collect();
    assert!(searches.iter().any(|b| b.contains("notResources")));
    assert!(searches.iter().any(|b| b.contains("proj/web:env/*:flag/*")));
    assert!(searches.iter().any(|b| b.contains("\"deny\"")));
    let counts = fake.requests_to("POST", "/api/v2/auditlog/counts");
    assert_eq!(counts, 2, "one count per run");
    assert!(
        fake.log()
            .iter()
            .any(|s| s.path == "/api/v2/projects/web/environments")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_millisecond_too_full_to_split_is_incomplete_with_an_exact_count() {
    let (fake, burst_ms) = fake_with_burst(unsplittable_burst).await;
    let (ws, ran) = run_ld(&fake, "", "").await;
    assert_eq!(ran.code, 3, "incomplete is a partial run: {ran:#?}");
    let manifest = ws.manifest().unwrap();
    assert_eq!(manifest["status"], "partial");
    let source = &manifest["sources"][0];
    assert_eq!(source["status"], "incomplete");
    assert!(source["error"].is_null());
    let missing = source["missing"].as_str().unwrap();
    assert!(
        missing.contains(&rfc3339(burst_ms)) && missing.contains("10 of 30 missing"),
        "{missing}"
    );
    let f = &source["findings"];
    assert_eq!(f["missing_entries"], 10);
    let short = &f["incomplete_milliseconds"][0];
    assert_eq!(short["date_ms"], burst_ms);
    assert_eq!(short["counted"], 30);
    assert_eq!(short["fetched"], 20);
    assert_eq!(short["missing"], 10);
    assert_eq!(
        short["unsplit_parts"],
        json!(["proj/web:env/production:flag/*"])
    );
    // The report is written, with what could be fetched, once each.
    let rows = keys(&report(&ws));
    assert_eq!(rows.iter().filter(|(d, _)| *d == burst_ms).count(), 20);
    assert_eq!(source["reports"][0]["status"], "written");
    assert!(ran.stdout.contains("INCOMPLETE"), "{ran:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_counts_endpoint_only_a_split_that_ends_short_is_complete() {
    for status in [404, 403] {
        let (fake, burst_ms) = fake_with_burst(splittable_burst).await;
        fake.state().counts_status = status;
        let (ws, ran) = run_ld(&fake, "", "").await;
        assert_eq!(ran.code, 0, "every part ended short: {ran:#?}");
        assert_eq!(keys(&report(&ws)), fake.expected(window().0, window().1));
        let burst = &findings(&ws)["bursts"][0];
        assert!(burst["counted"].is_null());
        assert!(
            burst["uncounted_because"]
                .as_str()
                .unwrap()
                .contains(&status.to_string()),
            "{burst}"
        );

        // Unsplittable and uncounted: incomplete, and how much is missing is unknown.
        fake.set_entries(spread_around(burst_ms, unsplittable_burst(burst_ms)));
        let (ws, ran) = run_ld(&fake, "", "").await;
        assert_eq!(ran.code, 3, "{ran:#?}");
        let source = &ws.manifest().unwrap()["sources"][0];
        assert_eq!(source["status"], "incomplete");
        assert!(source["findings"]["incomplete_milliseconds"][0]["missing"].is_null());
        assert_eq!(source["findings"]["milliseconds_missing_unknown"], 1);
        assert!(
            source["missing"].as_str().unwrap().contains("unknown"),
            "{source}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_twenty_in_a_millisecond_costs_one_count_and_no_split() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    let burst_ms = now_ms() - DAY;
    let burst = (0..20).map(|i| FakeEntry::flag(&format!("b{i:02}"), burst_ms));
    fake.set_entries(spread_around(burst_ms, burst.collect()));
    let (ws, ran) = run_ld(&fake, "", "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(keys(&report(&ws)), fake.expected(window().0, window().1));
    assert_eq!(fake.requests_to("POST", "/api/v2/auditlog/counts"), 1);
    assert_eq!(fake.searches(), 0);
    assert_eq!(findings(&ws)["burst_requests"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_at_the_window_edges_and_range_cuts_are_counted_once() {
    let start = now_ms() - 10 * DAY;
    let end = now_ms() - 2 * DAY;
    let span = end - start;
    let mut points = vec![start, end];
    // Where four ranges meet.
    points.extend((1..4).map(|i| start + span * i / 4));
    let mut entries = Vec::new();
    for (p, point) in points.iter().enumerate() {
        for delta in [-1, 0, 1] {
            for k in 0..3 {
                entries.push(FakeEntry::flag(
                    &format!("p{p}d{}k{k}", delta + 1),
                    point + delta,
                ));
            }
        }
    }
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    fake.set_entries(entries);
    let expected = fake.expected(start, end);
    // [start, end): start and what follows it in, end out.
    assert!(expected.iter().any(|(d, _)| *d == start));
    assert!(expected.iter().all(|(d, _)| *d != end && *d != start - 1));
    let extra = format!(
        "    start: {}\n    end: {}\n    concurrency: 4\n",
        rfc3339(start),
        rfc3339(end)
    );
    let mut texts = Vec::new();
    for before_inclusive in [false, true] {
        fake.state().before_inclusive = before_inclusive;
        let (ws, ran) = run_ld(&fake, &extra, "").await;
        assert_eq!(ran.code, 0, "{ran:#?}");
        assert_eq!(
            keys(&report(&ws)),
            expected,
            "before inclusive {before_inclusive}"
        );
        let window = &ws.manifest().unwrap()["sources"][0]["window"];
        assert_eq!(
            window["start"],
            rfc3339(start).replace(".000Z", "Z"),
            "{window}"
        );
        texts.push(ws.object("/ld.csv").unwrap());
    }
    assert!(texts.windows(2).all(|w| w[0] == w[1]));
}

/// Bursty data: most entries in one afternoon, a trickle elsewhere, ties throughout.
fn bursty(n: usize) -> Vec<FakeEntry> {
    let busy = now_ms() - 12 * DAY;
    (0..n)
        .map(|i| {
            let date = if i % 10 < 8 {
                busy - (i as i64 / 4) * 900
            } else {
                now_ms() - 60_000 - (i as i64 / 2) * 2_600_000
            };
            FakeEntry::flag(&format!("{:06x}", (i * 104_729) % 16_777_216), date)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_1_and_8_write_byte_identical_reports() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    fake.set_entries(bursty(1_500));
    fake.set_ties(Ties::Scrambled);
    // A little latency, as on a network, so the busy range is still going when others end.
    fake.state().latency = Duration::from_millis(5);
    let expected = fake.expected(window().0, window().1);
    let (one, ran) = run_ld(&fake, "    concurrency: 1\n", "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let (eight, ran) = run_ld(&fake, "    concurrency: 8\n", "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(keys(&report(&one)), expected);
    assert_eq!(
        one.object("/ld.csv").unwrap(),
        eight.object("/ld.csv").unwrap(),
        "byte-identical whatever the concurrency"
    );
    let f = findings(&eight);
    assert!(
        f["range_splits"].as_u64().unwrap() >= 1,
        "idle workers took over part of the busy range: {f}"
    );
    assert!(fake.max_concurrent() > 1);
    assert_eq!(findings(&one)["ranges"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_storm_pauses_every_worker_and_the_run_recovers() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    fake.set_entries(spread(200, "r"));
    fake.state().storm = Some(Storm {
        duration: Duration::from_millis(1_500),
        retry_after: true,
        reset: true,
    });
    let (ws, ran) = run_ld(&fake, "    concurrency: 8\n", "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(keys(&report(&ws)), fake.expected(window().0, window().1));
    let log = fake.log();
    let refused: Vec<_> = log.iter().filter(|s| s.status == 429).collect();
    // Each worker was refused at most once: the first 429 paused all of them until the end.
    assert!(
        !refused.is_empty() && refused.len() <= 8,
        "{} refused",
        refused.len()
    );
    let first = log[0].at;
    assert!(
        refused
            .iter()
            .all(|s| s.at < first + Duration::from_millis(500)),
        "a request was sent during the announced wait: {refused:?}"
    );
    assert_eq!(findings(&ws)["rate_limited"], refused.len() as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exhausted_route_budget_pauses_everyone_without_a_429() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    fake.set_entries(spread(300, "q"));
    fake.state().latency = Duration::from_millis(5);
    fake.state().route_budget = Some(Budget {
        requests: 8,
        window: Duration::from_secs(1),
    });
    // As many workers as the budget: only counting what is in flight avoids 429s here.
    let (ws, ran) = run_ld(&fake, "    concurrency: 8\n", "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(keys(&report(&ws)), fake.expected(window().0, window().1));
    assert_eq!(fake.status_count(429), 0, "{:?}", fake.statuses());
    let f = findings(&ws);
    assert!(f["rate_limit_pauses"].as_u64().unwrap() >= 1, "{f}");
    assert_eq!(f["rate_limited"], 0);
    // 300 entries are 15+ pages: at 8 a second that took at least two resets.
    let log = fake.log();
    let span = log.last().unwrap().at - log[0].at;
    assert!(span >= Duration::from_millis(1_000), "{span:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_and_bare_429s_are_retried_without_loss() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    fake.set_entries(spread(90, "x"));
    {
        let mut state = fake.state();
        state.inject.push_back(Canned::json(500, ""));
        state.inject.push_back(Canned {
            status: 502,
            body: "<html><body>Bad gateway</body></html>".into(),
            headers: vec![("content-type", "text/html".into())],
        });
        state.inject.push_back(Canned::json(
            429,
            rollcall_fakes::launchdarkly::RATE_LIMITED,
        ));
        state.inject.push_back(Canned::json(503, ""));
        state.fail_every = Some((7, 504));
    }
    let http = "http:\n  backoff_base: 10ms\n  backoff_max: 2s\n  max_retries: 8\n";
    let (ws, ran) = run_ld(&fake, "", http).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(keys(&report(&ws)), fake.expected(window().0, window().1));
    assert!(fake.status_count(504) >= 1);
    assert_eq!(findings(&ws)["rate_limited"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn text_survives_a_csv_round_trip_and_formulas_are_neutralised() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    let base = now_ms() - 3_600_000;
    let mut tricky = FakeEntry::flag("tricky", base).json;
    tricky["name"] = json!("=HYPERLINK(\"http://evil.example\",\"click\")");
    tricky["description"] =
        json!("* Line one, with a comma\n* \"Quoted\" line two\r\n* Ünïcödé ✓ 日本語\n");
    tricky["comment"] = json!("-1 dropped, +2 added");
    tricky["title"] = json!("@mention in a title");
    tricky["member"] =
        json!({"_id": "m1", "email": "zoë@example.com", "firstName": "Zoë", "lastName": null});
    tricky["accesses"] = json!([
        {"action": "updateOn", "resource": "proj/a:env/b:flag/c"},
        {"action": "updateRules", "resource": "proj/a:env/b:flag/c"},
        {"action": "updateOn", "resource": "proj/a:env/b:flag/d"}
    ]);
    tricky["target"] = json!({"name": "c", "resources": ["proj/a:env/b:flag/c"]});
    let bare = json!({"_id": "bare", "date": (base - 1).to_string()});
    let mut scim = FakeEntry::flag("scim", base - 2).json;
    if let Some(o) = scim.as_object_mut() {
        o.remove("member");
        o.remove("comment");
        o.remove("token");
    }
    scim["app"] = json!({"_id": "a", "isScim": true, "name": "Okta SCIM"});
    fake.set_entries(vec![
        FakeEntry::from_json(tricky),
        FakeEntry::from_json(bare),
        FakeEntry::from_json(scim),
    ]);
    let (ws, ran) = run_ld(&fake, "", "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = report(&ws);
    assert_eq!(rows.len(), 4);
    let t = &rows[1];
    assert_eq!(t[0], "tricky");
    assert_eq!(t[1], rfc3339(base));
    assert_eq!(t[4], "'=HYPERLINK(\"http://evil.example\",\"click\")");
    assert_eq!(
        t[7],
        "* Line one, with a comma\n* \"Quoted\" line two\r\n* Ünïcödé ✓ 日本語\n"
    );
    assert_eq!(t[9], "'-1 dropped, +2 added");
    assert_eq!(t[6], "'@mention in a title");
    assert_eq!(t[10..13], ["m1", "zoë@example.com", "Zoë"]);
    assert_eq!(t[15], "updateOn;updateRules");
    assert_eq!(t[16], "proj/a:env/b:flag/c;proj/a:env/b:flag/d");
    let b = &rows[2];
    assert_eq!(
        b[..3],
        ["bare".to_owned(), rfc3339(base - 1), (base - 1).to_string()]
    );
    assert!(b[3..].iter().all(String::is_empty), "{b:?}");
    let s = &rows[3];
    assert_eq!(s[9], "", "no comment");
    assert_eq!(s[10..15], ["", "", "", "", "Okta SCIM"]);

    // With neutralisation off, cells are as LaunchDarkly wrote them.
    let ws = Workspace::new();
    let spec = ws.spec_text(&format!(
        "job: test-job\noutput:\n  url: {}\nreports:\n  formula_escape: false\nsources:\n  - name: ld\n    kind: launchdarkly_audit_log\n    base_url: {}\n",
        ws.reports().display(),
        fake.url()
    ));
    let ran = ws
        .rollcall(
            "run",
            &spec,
            &vars(&[("LD_API_TOKEN", TOKEN), ("ROLLCALL_NOW", NOW)]),
        )
        .await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(
        report(&ws)[1][4],
        "=HYPERLINK(\"http://evil.example\",\"click\")"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_window_writes_only_the_header() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    // Activity before and after the window, none in it.
    fake.set_entries(vec![
        FakeEntry::flag("old", window().0 - 1),
        FakeEntry::flag("new", window().1),
        FakeEntry::flag("newer", window().1 + 5_000),
    ]);
    let (ws, ran) = run_ld(&fake, "", "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(report(&ws).len(), 1);
    let f = findings(&ws);
    assert_eq!(f["entries"], 0);
    // One request per range: empty, or reaching below the range's start.
    assert_eq!(fake.requests(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_ignoring_before_fails_instead_of_looping() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    let mut entries = spread(60, "i");
    entries.push(FakeEntry::flag("future", now_ms() + DAY));
    fake.set_entries(entries);
    fake.state().ignore_before = true;
    let (ws, ran) = run_ld(&fake, "", "").await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    let error = ws.source_error(0);
    assert!(error.contains("does not honour `before`"), "{error}");
    assert!(error.starts_with("source `ld`"), "{error}");
    assert!(ws.object("/ld.csv").is_none());
    assert!(fake.requests() <= 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn manifest_records_window_thresholds_and_findings() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    fake.set_entries(spread(45, "w"));
    let (ws, ran) = run_ld(&fake, "    lookback: 7d\n", "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let manifest = ws.manifest().unwrap();
    let source = &manifest["sources"][0];
    assert_eq!(source["kind"], "launchdarkly_audit_log");
    assert_eq!(source["window"]["start"], "2026-11-15T03:00:00Z");
    assert_eq!(source["window"]["end"], "2026-11-22T03:00:00Z");
    assert_eq!(source["thresholds"]["lookback"], "7d");
    assert_eq!(source["thresholds"]["page_size"], 20);
    assert_eq!(source["thresholds"]["concurrency"], 4);
    let f = &source["findings"];
    let rows = report(&ws).len() as u64 - 1;
    assert_eq!(f["entries"], rows);
    assert_eq!(source["reports"][0]["rows"], rows);
    let in_window = fake.expected(now_ms() - 7 * DAY, now_ms()).len() as u64;
    assert_eq!(rows, in_window);
    assert_eq!(f["pages"], fake.pages());
    assert_eq!(f["requests"], fake.requests());
    assert_eq!(f["rate_limited"], 0);
    assert_eq!(f["full_milliseconds"], 0);
    assert_eq!(source["status"], "succeeded");
    assert!(fake.log().iter().all(|s| {
        let before = s.query["before"].parse::<i64>().unwrap();
        before >= now_ms() - 7 * DAY && before <= now_ms()
    }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bearer_token_is_refused_before_fetching_and_a_token_file_works() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    fake.set_entries(spread(5, "k"));
    let bearer = format!("Bearer {TOKEN}");
    let (_ws, ran) = run_ld_env(&fake, "", "", &[("LD_API_TOKEN", &bearer)]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(ran.stderr.contains("Bearer"), "{ran:#?}");
    assert!(!ran.all_output().contains(TOKEN));
    assert_eq!(fake.requests(), 0);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ld-token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let (ws, ran) = run_ld_env(
        &fake,
        "    token_env: LD_EXPORT_TOKEN\n",
        "",
        &[("LD_EXPORT_TOKEN_FILE", file.to_str().unwrap())],
    )
    .await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(report(&ws).len(), 6);
    assert!(!ran.all_output().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_fake_produces_its_report() {
    let (fake, item, env) = demo().await;
    let ws = Workspace::new();
    let spec = ws.spec(&[item]);
    let ran = ws.rollcall("run", &spec, &env).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let rows = csv_rows(&ws.object("/launchdarkly.csv").unwrap());
    assert!(rows.len() > 200, "{}", rows.len());
    // The bulk SCIM change: 12 entries in one millisecond, all there.
    let mut per_ms = std::collections::HashMap::new();
    for row in &rows[1..] {
        *per_ms.entry(row[2].clone()).or_insert(0) += 1;
    }
    assert_eq!(per_ms.values().max(), Some(&12));
    assert!(fake.requests() >= 14);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_filter_is_not_retried_and_the_error_says_what_to_check() {
    let fake = FakeLaunchDarkly::start(TOKEN).await;
    fake.set_entries(spread(10, "v"));
    fake.state().inject.push_back(Canned::json(
        400,
        r#"{"code":"invalid_request","message":"Invalid resource specifier"}"#,
    ));
    let (ws, ran) = run_ld(
        &fake,
        "    spec: \"proj/*:env/*:flag/*\"\n    concurrency: 1\n",
        "",
    )
    .await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    let error = ws.source_error(0);
    assert_contains_all(
        &error,
        &["Invalid resource specifier", "check `q` and `spec`"],
    );
    assert_eq!(fake.requests(), 1, "a 400 is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_with_inclusive_bounds_does_not_inflate_a_millisecond_count() {
    // Entries one millisecond after the full one: a server whose `before` is inclusive puts
    // them in the last bucket of the count, which must not be the millisecond's own.
    let (fake, burst_ms) = fake_with_burst(|ms| {
        let mut burst = splittable_burst(ms);
        burst.extend((0..5).map(|i| FakeEntry::flag(&format!("next{i}"), ms + 1)));
        burst
    })
    .await;
    fake.state().before_inclusive = true;
    fake.state().after_inclusive = true;
    let (ws, ran) = run_ld(&fake, "", "").await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(keys(&report(&ws)), fake.expected(window().0, window().1));
    let burst = &findings(&ws)["bursts"][0];
    assert_eq!(burst["date_ms"], burst_ms, "{burst}");
    assert_eq!(burst["counted"], burst["fetched"], "{burst}");
    assert_eq!(burst["complete"], true, "{burst}");
}
