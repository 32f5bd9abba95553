//! Secrets: with distinctive tokens configured, every outcome (success, refused credentials,
//! malformed data, server errors, unreachable hosts, bad specs, validate, help) is searched at
//! debug log level for the tokens; they appear nowhere. Each token goes only to its own host.

use crate::support::{Workspace, rollcall, vars};
use rollcall_fakes::vault::{Activity, FakeVault, Version, mid, month};

const TOKEN_A: &str = "hvs.SECRET-alpha-5f0c2a9e";
const TOKEN_B: &str = "hvs.SECRET-bravo-91d7b3c4";
const AWS_SECRET: &str = "aws-SECRET-charlie-0b8e";

fn env() -> Vec<(String, String)> {
    vars(&[
        ("VAULT_A_TOKEN", TOKEN_A),
        ("VAULT_B_TOKEN", TOKEN_B),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("ROLLCALL_NOW", "2026-11-22T03:00:00Z"),
        ("ROLLCALL_LOG", "debug"),
    ])
}

/// Fails unless `text` and every object written (key and contents) are free of the Vault
/// tokens and the AWS secret.
fn assert_clean(what: &str, ws: &Workspace, text: &str) {
    assert_free_of(what, ws, text, &[TOKEN_A, TOKEN_B, AWS_SECRET]);
}

/// Fails unless `text` and every object written (key and contents) are free of each of
/// `secrets` and of a recognisable part of one.
fn assert_free_of(what: &str, ws: &Workspace, text: &str, secrets: &[&str]) {
    let mut everything = text.to_owned();
    for (key, content) in ws.objects() {
        everything.push_str(&key);
        everything.push_str(&content);
    }
    for secret in secrets {
        assert!(
            !everything.contains(secret),
            "{what}: {secret} leaked:\n{everything}"
        );
        // Also not a recognisable part of one.
        let core = &secret[4..secret.len() - 4];
        assert!(
            !everything.contains(core),
            "{what}: part of {secret} leaked"
        );
    }
}

async fn fake(token: &str) -> FakeVault {
    let fake = FakeVault::start(token, Version::V1_18).await;
    fake.add(month(2026, 11), Activity::entity("a", mid(month(2026, 11))));
    fake
}

fn spec(ws: &Workspace, a: &FakeVault, b_url: &str) -> std::path::PathBuf {
    ws.spec_text(&format!(
        "job: secrets\noutput:\n  url: {}\nhttp:\n  max_retries: 1\n  backoff_base: 10ms\nsources:\n  - name: a\n    kind: vault_client_activity\n    address: {}\n    token_env: VAULT_A_TOKEN\n  - name: b\n    kind: vault_client_activity\n    address: {b_url}\n    token_env: VAULT_B_TOKEN\n",
        ws.reports().display(),
        a.url(),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_appear_in_no_output_on_any_path_and_go_only_to_their_host() {
    type Setup = fn(&FakeVault, &FakeVault);
    let scenarios: Vec<(&str, Setup)> = vec![
        ("success", |_, _| {}),
        ("refused credential", |_, b| {
            b.state().token = "rotated".into()
        }),
        ("missing sudo", |_, b| b.state().sudo = false),
        ("malformed body", |_, b| {
            b.state().garbage = Some((month(2026, 11), "{oops".into()))
        }),
        ("server errors", |_, b| {
            for _ in 0..3 {
                b.state()
                    .inject
                    .push_back(rollcall_fakes::vault::error(500, "internal error"));
            }
        }),
        ("body broken mid-stream", |_, b| {
            b.state().break_after_lines = Some((0, 10))
        }),
    ];
    for (name, setup) in scenarios {
        let a = fake(TOKEN_A).await;
        let b = fake(TOKEN_B).await;
        setup(&a, &b);
        let ws = Workspace::new();
        let spec = spec(&ws, &a, &b.url());
        let ran = ws.rollcall("run", &spec, &env()).await;
        assert!(
            ran.stderr.contains("\"level\":\"DEBUG\""),
            "{name}: debug logs are on"
        );
        assert_clean(name, &ws, &ran.all_output());
        for seen in a.log.all() {
            assert_eq!(
                seen.headers.get("x-vault-token").map(String::as_str),
                Some(TOKEN_A),
                "{name}"
            );
        }
        for seen in b.log.all() {
            assert_eq!(
                seen.headers.get("x-vault-token").map(String::as_str),
                Some(TOKEN_B),
                "{name}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_hosts_bad_specs_validate_and_help_leak_nothing() {
    let a = fake(TOKEN_A).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ws = Workspace::new();
    let spec = spec(&ws, &a, &format!("http://{closed}"));
    let ran = ws.rollcall("run", &spec, &env()).await;
    assert_eq!(ran.code, 3, "{ran:#?}");
    assert_clean("unreachable host", &ws, &ran.all_output());

    let ran = ws.rollcall("validate", &spec, &env()).await;
    assert_eq!(ran.code, 0);
    assert_clean("validate", &ws, &ran.all_output());

    // A token that is not a valid header value is refused without being echoed.
    let mut bad = env();
    bad.retain(|(k, _)| k != "VAULT_B_TOKEN");
    bad.push(("VAULT_B_TOKEN".into(), format!("{TOKEN_B}\u{7}")));
    let ran = ws.rollcall("validate", &spec, &bad).await;
    assert_eq!(ran.code, 2);
    assert_clean("bad token value", &ws, &ran.all_output());

    let broken = ws.spec_text(&format!("job: [\nsources: {TOKEN_A}\n"));
    let ran = ws.rollcall("validate", &broken, &env()).await;
    assert_eq!(ran.code, 2);
    // A secret pasted into the spec by mistake is the user's own text; the env ones must not show.
    assert!(!ran.all_output().contains(TOKEN_B) && !ran.all_output().contains(AWS_SECRET));

    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["validate", "--help"],
    ] {
        let ran = rollcall(&args, &env(), ws.path()).await;
        assert_eq!(ran.code, 0);
        assert_clean("help", &ws, &ran.all_output());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_keeps_its_token_out_of_output_and_on_its_own_host() {
    use rollcall_fakes::launchdarkly::{FakeEntry, FakeLaunchDarkly};
    use rollcall_fakes::vision_one::{FakeAccount, FakeVisionOne};
    const TREND: &str = "trend-SECRET-delta-77e1";
    const LD: &str = "api-SECRET-echo-4a90";
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T03:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    for failing in [false, true] {
        let vault = fake(TOKEN_A).await;
        let trend = FakeVisionOne::start(TREND, Some(now)).await;
        trend.add_account(FakeAccount::user("a", "a@example.com"));
        let ld = FakeLaunchDarkly::start(LD).await;
        ld.set_entries(vec![FakeEntry::flag("e1", now.timestamp_millis() - 60_000)]);
        if failing {
            trend.state().token = "rotated".into();
            ld.state().malformed = Some((0, "<html>oops</html>".into()));
        }
        let ws = Workspace::new();
        let spec = ws.spec_text(&format!(
            "job: secrets\noutput:\n  url: {}\nsources:\n  - name: vault\n    kind: vault_client_activity\n    address: {}\n    token_env: VAULT_A_TOKEN\n  - name: trend\n    kind: vision_one_inactive_accounts\n    base_url: {}\n    max_remove_ratio: 1\n  - name: ld\n    kind: launchdarkly_audit_log\n    base_url: {}\n",
            ws.reports().display(),
            vault.url(),
            trend.url(),
            ld.url(),
        ));
        let mut env = env();
        env.extend(vars(&[
            ("TREND_VISION_ONE_TOKEN", TREND),
            ("LD_API_TOKEN", LD),
        ]));
        let ran = ws.rollcall("run", &spec, &env).await;
        assert_eq!(ran.code, if failing { 3 } else { 0 }, "{ran:#?}");
        let what = if failing {
            "failing sources"
        } else {
            "healthy sources"
        };
        assert_free_of(what, &ws, &ran.all_output(), &[TREND, LD, TOKEN_A]);
        for seen in trend.log.all() {
            assert_eq!(
                seen.headers.get("authorization").map(String::as_str),
                Some(format!("Bearer {TREND}").as_str())
            );
            assert!(!seen.headers.contains_key("x-vault-token"));
        }
        for seen in ld.log() {
            assert_eq!(
                seen.headers.get("authorization").map(String::as_str),
                Some(LD)
            );
        }
        for seen in vault.log.all() {
            assert!(!seen.headers.contains_key("authorization"));
        }
    }
}
