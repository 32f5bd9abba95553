//! Fault injection through the real binary: each fault hits one source while a healthy source
//! runs beside it. The right number of requests happen, the faulty source either completes with
//! every row or fails with a clear error, the healthy source's report is intact, and the exit code
//! and manifest tell the truth.

use crate::support::{Workspace, assert_contains_all, csv_rows, vars};
use rollcall_fakes::Canned;
use rollcall_fakes::vault::{FakeVault, Version, month};
use std::time::Duration;

const TOKEN: &str = "hvs.faults-token-77aa";
const NOW: &str = "2026-11-22T03:00:00Z";
/// Fast, bounded retries so the suite stays quick: 1 try + 3 retries.
const HTTP: &str = "http:\n  max_retries: 3\n  backoff_base: 10ms\n  backoff_max: 2s\n";

enum Expect {
    /// The faulty source recovers and writes every row.
    Complete,
    /// The faulty source fails; its error contains this text.
    Fail(&'static str),
    /// The faulty source fails; its error contains one of these (which one depends on whether
    /// the break came before or after the headers were flushed).
    FailAny(&'static [&'static str]),
}

struct Fault {
    name: &'static str,
    setup: fn(&FakeVault),
    /// Extra spec lines for the faulty source.
    extra: &'static str,
    expect: Expect,
    /// Requests the faulty fake must have seen (12 months plus retries), if exact.
    requests: Option<usize>,
}

fn html(status: u16) -> Canned {
    Canned {
        status,
        body: "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>".into(),
        headers: vec![("content-type", "text/html".to_owned())],
    }
}

fn plain_429() -> Canned {
    Canned {
        status: 429,
        body: "{\"errors\":[\"rate limit quota exceeded\"]}\n".into(),
        headers: vec![],
    }
}

fn faults() -> Vec<Fault> {
    vec![
        Fault {
            name: "5xx burst within the retry budget",
            setup: |f| (0..3).for_each(|_| f.state().inject.push_back(html(502))),
            extra: "",
            expect: Expect::Complete,
            requests: Some(12 + 3),
        },
        Fault {
            name: "5xx beyond the retry budget",
            setup: |f| (0..4).for_each(|_| f.state().inject.push_back(html(502))),
            extra: "",
            expect: Expect::Fail(
                "HTTP 502 Bad Gateway after 4 attempt(s): an HTML page (`untitled`), likely from a proxy, a gateway or the wrong server",
            ),
            requests: Some(4),
        },
        Fault {
            name: "429 storm with Retry-After",
            setup: |f| {
                (0..3).for_each(|_| {
                    f.state()
                        .inject
                        .push_back(rollcall_fakes::vault::rate_limited(0))
                })
            },
            extra: "",
            expect: Expect::Complete,
            requests: Some(12 + 3),
        },
        Fault {
            name: "429 storm without headers",
            setup: |f| (0..3).for_each(|_| f.state().inject.push_back(plain_429())),
            extra: "",
            expect: Expect::Complete,
            requests: Some(12 + 3),
        },
        Fault {
            name: "429 storm that never ends",
            setup: |f| (0..10).for_each(|_| f.state().inject.push_back(plain_429())),
            extra: "",
            expect: Expect::Fail("HTTP 429 Too Many Requests after 4 attempt(s)"),
            requests: Some(4),
        },
        Fault {
            name: "connection reset mid-body, twice",
            setup: |f| f.state().break_after_lines = Some((1, 2)),
            extra: "",
            expect: Expect::Complete,
            requests: Some(12 + 2),
        },
        Fault {
            name: "connection reset mid-body, every time",
            setup: |f| f.state().break_after_lines = Some((1, 100)),
            extra: "",
            expect: Expect::FailAny(&[
                "body broke off",
                "connection closed before message completed",
            ]),
            requests: None,
        },
        Fault {
            name: "server slower than the request timeout",
            setup: |f| f.state().delay = Duration::from_secs(5),
            extra: "    request_timeout: 1s\n",
            expect: Expect::Fail("timed out"),
            requests: None,
        },
        Fault {
            name: "body truncated inside a record",
            setup: |f| f.state().garbage = Some((month(2026, 11), "{\"client_id\":\"trunc".into())),
            extra: "",
            expect: Expect::Fail("malformed export record for 2026-11, line 4"),
            requests: Some(12),
        },
        Fault {
            name: "HTML page where JSON lines were expected",
            setup: |f| {
                f.state().garbage =
                    Some((month(2026, 11), "<!DOCTYPE html><html>login</html>".into()))
            },
            extra: "",
            expect: Expect::Fail("malformed export record"),
            requests: Some(12),
        },
    ]
}

async fn fake_with_rows() -> FakeVault {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.add_entities(month(2026, 11), "c", 3);
    fake
}

/// Runs `faulty_item` (a `sources:` item) beside a healthy Vault source; checks the healthy one
/// came through untouched and returns the workspace, the run and the manifest.
async fn run_beside_healthy(
    name: &str,
    faulty_item: &str,
    env: &[(&str, &str)],
) -> (Workspace, crate::support::Ran, serde_json::Value) {
    let healthy = fake_with_rows().await;
    let ws = Workspace::new();
    let spec = ws.spec_text(&format!(
        "job: faults\noutput:\n  url: {}\n{HTTP}sources:\n  - name: healthy\n    kind: vault_client_activity\n    address: {}\n{faulty_item}",
        ws.reports().display(),
        healthy.url(),
    ));
    let vars = vars(&[&[("VAULT_TOKEN", TOKEN), ("ROLLCALL_NOW", NOW)], env].concat());
    let ran = ws.rollcall("run", &spec, &vars).await;
    let manifest = ws
        .manifest()
        .unwrap_or_else(|| panic!("{name}: no manifest: {ran:#?}"));
    // The healthy source is untouched by its neighbour's trouble.
    assert_eq!(manifest["sources"][0]["status"], "succeeded", "{name}");
    assert_eq!(
        csv_rows(&ws.object("/healthy.csv").unwrap()).len(),
        4,
        "{name}"
    );
    (ws, ran, manifest)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_is_retried_right_and_reported_truthfully() {
    for fault in faults() {
        let faulty = fake_with_rows().await;
        (fault.setup)(&faulty);
        let name = fault.name;
        let item = format!(
            "  - name: faulty\n    kind: vault_client_activity\n    address: {}\n{}",
            faulty.url(),
            fault.extra
        );
        let (ws, ran, manifest) = run_beside_healthy(name, &item, &[]).await;
        let faulty_entry = &manifest["sources"][1];
        match fault.expect {
            Expect::Complete => {
                assert_eq!(ran.code, 0, "{name}: {ran:#?}");
                assert_eq!(faulty_entry["status"], "succeeded", "{name}");
                assert_eq!(
                    csv_rows(&ws.object("/faulty.csv").unwrap()).len(),
                    4,
                    "{name}"
                );
            }
            Expect::Fail(_) | Expect::FailAny(_) => {
                let wanted: Vec<&str> = match fault.expect {
                    Expect::Fail(text) => vec![text],
                    Expect::FailAny(texts) => texts.to_vec(),
                    Expect::Complete => Vec::new(),
                };
                assert_eq!(ran.code, 3, "{name}: {ran:#?}");
                assert_eq!(manifest["status"], "partial", "{name}");
                assert_eq!(faulty_entry["status"], "failed", "{name}");
                let error = faulty_entry["error"].as_str().unwrap_or_default();
                assert!(
                    wanted.iter().any(|t| error.contains(t)),
                    "{name}: wanted one of {wanted:?} in `{error}`"
                );
                assert!(error.contains("source `faulty`"), "{name}: {error}");
                assert!(ws.object("/faulty.csv").is_none(), "{name}");
                assert!(ws.object("/faulty-forecast.csv").is_none(), "{name}");
            }
        }
        if let Some(requests) = fault.requests {
            assert_eq!(
                faulty.log.count(),
                requests,
                "{name}: {:?}",
                faulty.log.statuses()
            );
        }
        assert!(!ran.all_output().contains(TOKEN), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_refused_is_retried_then_reported() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let item =
        format!("  - name: gone\n    kind: vault_client_activity\n    address: http://{closed}\n");
    let (_ws, ran, manifest) = run_beside_healthy("connection refused", &item, &[]).await;
    assert_eq!(ran.code, 3, "{ran:#?}");
    let error = manifest["sources"][1]["error"].as_str().unwrap();
    assert_contains_all(error, &["could not connect", "4 attempt(s)"]);
    // One warning per retry, each naming the source.
    let retries = ran
        .stderr
        .lines()
        .filter(|l| l.contains("Retrying request.") && l.contains("\"source\":\"gone\""))
        .count();
    assert_eq!(retries, 3, "{}", ran.stderr);
}

mod trend {
    use super::*;
    use rollcall_fakes::vision_one::{Event, FakeAccount, FakeVisionOne, Fault};

    const TREND_TOKEN: &str = "trend-faults-key-3e9a";

    struct TrendFault {
        name: &'static str,
        setup: fn(&FakeVisionOne),
        extra: &'static str,
        expect: Expect,
        /// Answers that are not the 2 data pages (accounts, audit log).
        injected: usize,
    }

    fn cases() -> Vec<TrendFault> {
        vec![
            TrendFault {
                name: "5xx burst (HTML gateway pages) within the budget",
                setup: |f| {
                    (0..3).for_each(|_| {
                        f.state()
                            .faults
                            .push(Fault::first_request(Canned::html(502, "502 Bad Gateway")))
                    })
                },
                extra: "",
                expect: Expect::Complete,
                injected: 3,
            },
            TrendFault {
                name: "5xx beyond the budget",
                setup: |f| {
                    (0..8).for_each(|_| {
                        f.state().faults.push(Fault::first_request(Canned::html(
                            503,
                            "503 Service Unavailable",
                        )))
                    })
                },
                extra: "",
                expect: Expect::Fail("503"),
                injected: 4,
            },
            TrendFault {
                // Trend names no wait; a window of 3 s here makes its 429 patience 0.5 s, 1 s, 2 s.
                name: "429 storm (no Retry-After, as Trend answers)",
                setup: |f| {
                    (0..3).for_each(|_| {
                        f.state()
                            .faults
                            .push(Fault::first_request(rollcall_fakes::vision_one::too_many()))
                    })
                },
                extra: "    rate_limit: {requests: 500, per: 3s}
",
                expect: Expect::Complete,
                injected: 3,
            },
            TrendFault {
                name: "connection reset mid-body",
                setup: |f| f.state().break_bodies = 2,
                extra: "",
                expect: Expect::Complete,
                injected: 2,
            },
            TrendFault {
                name: "server slower than the request timeout",
                setup: |f| f.state().latency = Duration::from_secs(4),
                extra: "    request_timeout: 1s\n",
                expect: Expect::Fail("timed out"),
                injected: 0,
            },
            TrendFault {
                name: "a page that is not JSON",
                setup: |f| {
                    f.state().faults.push(Fault::first_request(Canned::text(
                        200,
                        "{\"items\": [",
                        "application/json",
                    )))
                },
                extra: "",
                expect: Expect::Fail("expected a json page"),
                injected: 0,
            },
            TrendFault {
                name: "an HTML page with status 200",
                setup: |f| {
                    f.state().faults.push(Fault::first_request(Canned::text(
                        200,
                        "<html><title>Sign in</title></html>",
                        "text/html",
                    )))
                },
                extra: "",
                expect: Expect::Fail("got an html page"),
                injected: 0,
            },
        ]
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn trend_faults_are_retried_right_and_reported_truthfully() {
        let now = chrono::DateTime::parse_from_rfc3339(NOW)
            .unwrap()
            .with_timezone(&chrono::Utc);
        for fault in cases() {
            let trend = FakeVisionOne::start(TREND_TOKEN, Some(now)).await;
            trend.add_account(FakeAccount::user("a", "a@example.com"));
            trend.add_account(FakeAccount::user("b", "b@example.com"));
            trend.add_event(Event::logon_of(
                now - chrono::Duration::days(2),
                "a",
                "a@example.com",
            ));
            (fault.setup)(&trend);
            let name = fault.name;
            let item = format!(
                "  - name: trend\n    kind: vision_one_inactive_accounts\n    base_url: {}\n{}",
                trend.url(),
                fault.extra
            );
            let (ws, ran, manifest) =
                run_beside_healthy(name, &item, &[("TREND_VISION_ONE_TOKEN", TREND_TOKEN)]).await;
            let entry = &manifest["sources"][1];
            let statuses = trend.log.statuses();
            match fault.expect {
                Expect::Complete => {
                    assert_eq!(ran.code, 0, "{name}: {ran:#?}");
                    // b never logged on: one removal, and both accounts in the detail report.
                    assert_eq!(
                        csv_rows(&ws.object("/trend.csv").unwrap()).len(),
                        2,
                        "{name}"
                    );
                    assert_eq!(
                        csv_rows(&ws.object("/trend-accounts.csv").unwrap()).len(),
                        3,
                        "{name}"
                    );
                    // Two lists and the page of arrivals, plus the injected answers.
                    assert_eq!(statuses.len(), 3 + fault.injected, "{name}: {statuses:?}");
                }
                Expect::Fail(text) | Expect::FailAny(&[text, ..]) => {
                    assert_eq!(ran.code, 3, "{name}: {ran:#?}");
                    assert_eq!(entry["status"], "failed", "{name}");
                    let error = entry["error"].as_str().unwrap_or_default().to_lowercase();
                    assert!(error.contains(text), "{name}: wanted `{text}` in `{error}`");
                    assert!(
                        ws.object("/trend.csv").is_none(),
                        "{name}: no cleanup file after an error"
                    );
                    assert!(ws.object("/trend-accounts.csv").is_none(), "{name}");
                    if fault.injected > 0 {
                        let injected = statuses.iter().filter(|s| **s != 200).count();
                        assert!(injected >= fault.injected, "{name}: {statuses:?}");
                    }
                }
                Expect::FailAny(_) => unreachable!(),
            }
            assert!(!ran.all_output().contains(TREND_TOKEN), "{name}");
        }
    }
}

mod launchdarkly {
    use super::*;
    use rollcall_fakes::launchdarkly::{FakeEntry, FakeLaunchDarkly};

    const LD_TOKEN: &str = "api-ld-faults-token-5c1d";
    const ENTRIES: usize = 30;

    struct LdFault {
        name: &'static str,
        setup: fn(&FakeLaunchDarkly),
        extra: &'static str,
        expect: Expect,
        /// Non-200 answers the fake must have given, at least.
        injected: u64,
    }

    fn gateway_page(status: u16) -> Canned {
        let mut i = Canned::json(status, "<html><body><h1>Bad Gateway</h1></body></html>");
        i.headers = vec![("content-type", "text/html".to_owned())];
        i
    }

    fn cases() -> Vec<LdFault> {
        vec![
            LdFault {
                name: "5xx burst (HTML gateway pages) within the budget",
                setup: |f| (0..3).for_each(|_| f.state().inject.push_back(gateway_page(502))),
                extra: "",
                expect: Expect::Complete,
                injected: 3,
            },
            LdFault {
                name: "5xx beyond the budget",
                setup: |f| (0..40).for_each(|_| f.state().inject.push_back(gateway_page(503))),
                extra: "    concurrency: 1\n",
                expect: Expect::Fail("503"),
                injected: 4,
            },
            LdFault {
                name: "429 storm with Retry-After",
                setup: |f| {
                    (0..3).for_each(|_| {
                        f.state()
                            .inject
                            .push_back(rollcall_fakes::launchdarkly::rate_limited(0))
                    })
                },
                extra: "",
                expect: Expect::Complete,
                injected: 3,
            },
            LdFault {
                name: "429 storm without headers",
                setup: |f| {
                    (0..3).for_each(|_| {
                        f.state().inject.push_back(Canned::json(
                            429,
                            "{\"code\":\"rate_limited\",\"message\":\"Rate limited\"}",
                        ))
                    })
                },
                extra: "",
                expect: Expect::Complete,
                injected: 3,
            },
            LdFault {
                name: "connection reset mid-body",
                setup: |f| f.state().break_bodies = 2,
                extra: "",
                expect: Expect::Complete,
                injected: 0,
            },
            LdFault {
                name: "server slower than the request timeout",
                setup: |f| f.state().latency = Duration::from_secs(4),
                extra: "    request_timeout: 1s\n",
                expect: Expect::Fail("timed out"),
                injected: 0,
            },
            LdFault {
                name: "a page that is not JSON",
                setup: |f| f.state().malformed = Some((0, "{\"items\": [".into())),
                extra: "",
                expect: Expect::Fail("expected an audit-log listing"),
                injected: 0,
            },
        ]
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn launchdarkly_faults_are_retried_right_and_reported_truthfully() {
        let now_ms = chrono::DateTime::parse_from_rfc3339(NOW)
            .unwrap()
            .timestamp_millis();
        for fault in cases() {
            let ld = FakeLaunchDarkly::start(LD_TOKEN).await;
            ld.set_entries(
                (0..ENTRIES)
                    .map(|i| {
                        FakeEntry::flag(&format!("e{i:04}"), now_ms - 60_000 - i as i64 * 3_600_000)
                    })
                    .collect(),
            );
            (fault.setup)(&ld);
            let name = fault.name;
            let item = format!(
                "  - name: ld\n    kind: launchdarkly_audit_log\n    base_url: {}\n{}",
                ld.url(),
                fault.extra
            );
            let (ws, ran, manifest) =
                run_beside_healthy(name, &item, &[("LD_API_TOKEN", LD_TOKEN)]).await;
            let entry = &manifest["sources"][1];
            let failures = ld.statuses().iter().filter(|s| **s != 200).count() as u64;
            assert!(failures >= fault.injected, "{name}: {:?}", ld.statuses());
            match fault.expect {
                Expect::Complete => {
                    assert_eq!(ran.code, 0, "{name}: {ran:#?}");
                    let rows = csv_rows(&ws.object("/ld.csv").unwrap());
                    assert_eq!(rows.len(), ENTRIES + 1, "{name}: every entry exactly once");
                    let mut ids: Vec<&String> = rows[1..].iter().map(|r| &r[0]).collect();
                    ids.dedup();
                    assert_eq!(ids.len(), ENTRIES, "{name}: no duplicates");
                }
                Expect::Fail(text) | Expect::FailAny(&[text, ..]) => {
                    assert_eq!(ran.code, 3, "{name}: {ran:#?}");
                    assert_eq!(entry["status"], "failed", "{name}");
                    let error = entry["error"].as_str().unwrap_or_default().to_lowercase();
                    assert!(error.contains(text), "{name}: wanted `{text}` in `{error}`");
                    assert!(ws.object("/ld.csv").is_none(), "{name}: no partial report");
                }
                Expect::FailAny(_) => unreachable!(),
            }
            assert!(!ran.all_output().contains(LD_TOKEN), "{name}");
        }
    }
}
