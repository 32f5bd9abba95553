//! Malformed and hostile job specs: each is refused with exit 2, a message naming the problem,
//! and (where the YAML has one) its line; the parser never panics on any input.

use crate::support::{Workspace, assert_contains_all, rollcall, vars};
use proptest::prelude::*;

const GOOD: &str = "\
job: nightly
output:
  url: ./reports
sources:
  - name: vault-prod
    kind: vault_client_activity
    address: https://vault.example.com:8200
    months: 12
";

fn with(old: &str, new: &str) -> String {
    assert!(GOOD.contains(old), "{old}");
    GOOD.replacen(old, new, 1)
}

fn alias_bomb() -> String {
    let mut text =
        String::from("job: bomb\nsources:\n  - name: v\n    kind: vault_client_activity\n");
    text.push_str(
        "    x0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "    x{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    text
}

/// (name, spec bytes, text the error must contain, line it must name)
fn cases() -> Vec<(&'static str, Vec<u8>, &'static str, Option<usize>)> {
    let s = |t: String| t.into_bytes();
    vec![
        (
            "job of the wrong type",
            s(with("job: nightly", "job: [a, b]")),
            "must be",
            Some(1),
        ),
        (
            "bad job name",
            s(with("job: nightly", "job: \"night ly\"")),
            "not a valid name",
            Some(1),
        ),
        (
            "unknown top-level key",
            s(format!("{GOOD}schedule: daily\n")),
            "unknown field `schedule`",
            Some(9),
        ),
        (
            "unknown output key",
            s(with("  url: ./reports", "  url: ./reports\n  ur: x")),
            "unknown field `ur`",
            Some(4),
        ),
        (
            "unknown source key",
            s(with("    months: 12", "    months: 12\n    monts: 3")),
            "unknown field `monts`",
            Some(9),
        ),
        (
            "unknown Vault login method",
            s(with(
                "    months: 12",
                "    months: 12\n    auth:\n      method: ldap",
            )),
            "`ldap` is not a known value; use one of: token, kubernetes, jwt, approle",
            Some(10),
        ),
        (
            "a key of another login method",
            s(with(
                "    months: 12",
                "    months: 12\n    auth:\n      method: token\n      role: rollcall",
            )),
            "unknown field `role`",
            Some(9),
        ),
        (
            "jwt login without its token file",
            s(with(
                "    months: 12",
                "    months: 12\n    auth:\n      method: jwt\n      role: r",
            )),
            "missing field `token_file`",
            Some(9),
        ),
        (
            "auth mount that leaves auth/",
            s(with(
                "    months: 12",
                "    months: 12\n    auth:\n      method: kubernetes\n      role: r\n      mount: ../sys",
            )),
            "is not an auth mount path",
            Some(12),
        ),
        (
            "approle variable that is not a name",
            s(with(
                "    months: 12",
                "    months: 12\n    auth:\n      method: approle\n      role_id_env: 1ROLE\n      secret_id_env: SID",
            )),
            "not an environment variable name",
            Some(11),
        ),
        (
            "months as text",
            s(with("months: 12", "months: twelve")),
            "must be",
            Some(8),
        ),
        (
            "months out of range",
            s(with("months: 12", "months: 0")),
            "between 1 and 60",
            Some(8),
        ),
        (
            "negative months",
            s(with("months: 12", "months: -3")),
            "must be a whole number, 0 or more, not `-3`",
            Some(8),
        ),
        (
            "huge number",
            s(with("months: 12", "months: 99999999999999999999999")),
            "months",
            Some(8),
        ),
        (
            "licensed_clients zero",
            s(with(
                "    months: 12",
                "    months: 12\n    licensed_clients: 0",
            )),
            "must be positive",
            Some(9),
        ),
        (
            "duplicate source names",
            s(format!(
                "{GOOD}  - name: vault-prod\n    kind: vault_client_activity\n"
            )),
            "names must be unique",
            Some(9),
        ),
        (
            "empty sources",
            s("job: x\nsources: []\n".into()),
            "lists no source",
            Some(2),
        ),
        (
            "missing sources",
            s("job: x\n".into()),
            "missing field `sources`",
            None,
        ),
        (
            "missing kind",
            s(with("    kind: vault_client_activity\n", "")),
            "has no `kind`",
            Some(5),
        ),
        (
            "unknown kind",
            s(with("kind: vault_client_activity", "kind: jira_users")),
            "unknown source kind `jira_users`",
            Some(6),
        ),
        (
            "kind not a string",
            s(with("kind: vault_client_activity", "kind: 7")),
            "must be a string",
            Some(6),
        ),
        (
            "source not a mapping",
            s("job: x\nsources:\n  - just a string\n".into()),
            "must be a mapping",
            Some(3),
        ),
        (
            "bad duration",
            s(format!("{GOOD}source_timeout: fast\n")),
            "not a duration",
            Some(9),
        ),
        (
            "metrics push to a non-URL",
            s(format!("{GOOD}metrics:\n  pushgateway: pushgateway:9091\n")),
            "has scheme `pushgateway`; use http or https",
            Some(10),
        ),
        (
            "metrics push timeout too long",
            s(format!(
                "{GOOD}metrics:\n  pushgateway: http://pushgateway:9091\n  timeout: 10m\n"
            )),
            "must be between 1ms and 60s",
            Some(11),
        ),
        (
            "unknown metrics key",
            s(format!(
                "{GOOD}metrics:\n  pushgateway: http://pg:9091\n  job: x\n"
            )),
            "unknown field `job`",
            Some(11),
        ),
        (
            "summary template naming a source",
            s(with(
                "  url: ./reports",
                "  url: ./reports\n  summary_template: \"{job}/{source}/summary\"",
            )),
            "one summary covers the whole run",
            Some(4),
        ),
        (
            "bare number duration",
            s(with("    months: 12", "    months: 12\n    timeout: 30")),
            "30d",
            Some(9),
        ),
        (
            "bad URL",
            s(with("https://vault.example.com:8200", "\"not a url\"")),
            "is not a URL",
            Some(7),
        ),
        (
            "URL with credentials",
            s(with(
                "https://vault.example.com:8200",
                "https://user:pw@vault.example.com",
            )),
            "must not carry credentials",
            Some(7),
        ),
        (
            "plain http to a remote host",
            s(with("https://", "http://")),
            "plain http",
            Some(7),
        ),
        (
            "unsupported output scheme",
            s(with("url: ./reports", "url: gs://bucket/x")),
            "not supported",
            Some(3),
        ),
        (
            "s3 url without bucket",
            s(with("url: ./reports", "url: s3:///prefix")),
            "names no bucket",
            Some(3),
        ),
        (
            "unknown key placeholder",
            s(with(
                "  url: ./reports",
                "  url: ./reports\n  key_template: \"{job}/{when}/{report}.csv\"",
            )),
            "unknown placeholder `{when}`",
            Some(4),
        ),
        (
            "key template without report",
            s(with(
                "  url: ./reports",
                "  url: ./reports\n  key_template: \"{job}/{date}.csv\"",
            )),
            "must contain `{report}`",
            Some(4),
        ),
        (
            "manifest template per source",
            s(with(
                "  url: ./reports",
                "  url: ./reports\n  manifest_template: \"{source}/manifest.json\"",
            )),
            "one manifest covers the whole run",
            Some(4),
        ),
        (
            "bad token variable name",
            s(with(
                "    months: 12",
                "    months: 12\n    token_env: 1-BAD",
            )),
            "not an environment variable name",
            Some(9),
        ),
        (
            "too many retries",
            s(format!("{GOOD}http:\n  max_retries: 1000\n")),
            "at most 20",
            Some(10),
        ),
        (
            "unclosed quote",
            s(with("job: nightly", "job: \"nightly")),
            "while scanning a quoted scalar",
            Some(9),
        ),
        (
            "tab indentation",
            s(with("    months: 12", "\tmonths: 12")),
            "found a tab character",
            Some(8),
        ),
        (
            "top level is a list",
            s("- job: x\n".into()),
            "must be a mapping with `job`, `output`, `sources`",
            Some(1),
        ),
        ("empty file", Vec::new(), "missing field `job`", Some(1)),
        (
            "alias bomb",
            s(alias_bomb()),
            "repetition limit exceeded",
            Some(10),
        ),
        (
            "months in words",
            s(with("months: 12", "months: six")),
            "must be a whole number, 0 or more, not the text \"six\"",
            Some(8),
        ),
        (
            "unknown region",
            s(with(
                "    kind: vault_client_activity\n    address: https://vault.example.com:8200\n    months: 12\n",
                "    kind: vision_one_inactive_accounts\n    region: uk\n",
            )),
            "`uk` is not a known value; use one of: us, eu, sg, au, in, mea, jp",
            Some(7),
        ),
        (
            "address without a scheme",
            s(with(
                "https://vault.example.com:8200",
                "vault.acme.internal:8200",
            )),
            "`vault.acme.internal:8200` has no scheme; write it with one, e.g. `https://vault.acme.internal:8200`",
            Some(7),
        ),
        (
            "not UTF-8",
            b"job: caf\xe9\nsources: []\n".to_vec(),
            "not UTF-8",
            None,
        ),
        (
            "report keys that collide between sources",
            s(format!(
                "{GOOD}  - name: v1\n    kind: vision_one_inactive_accounts\n    region: us\n  - name: v1-accounts\n    kind: vault_client_activity\n    address: https://vault.example.com:8200\n"
            )),
            "its report `v1-accounts` would be written under the same key as report `v1-accounts` of source `v1`",
            Some(12),
        ),
        (
            "a LaunchDarkly spec naming flags without an environment",
            s(format!(
                "{GOOD}  - name: ld\n    kind: launchdarkly_audit_log\n    spec: proj/default:flag/checkout\n"
            )),
            "names flags without an environment, which LaunchDarkly refuses (HTTP 400)",
            Some(11),
        ),
        (
            "a Vault billing report that collides with another source",
            s(format!(
                "{GOOD}  - name: vb\n    kind: vault_client_activity\n    address: https://vault.example.com:8200\n  - name: vb-billing\n    kind: vision_one_inactive_accounts\n    region: us\n"
            )),
            "its report `vb-billing` would be written under the same key as report `vb-billing` of source `vb`",
            Some(12),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_spec_exits_2_naming_the_problem_and_its_line() {
    let ws = Workspace::new();
    let path = ws.path().join("job.yaml");
    let env = [("VAULT_TOKEN".to_owned(), "t".to_owned())];
    let cases = cases();
    assert!(cases.len() >= 25);
    for (name, bytes, needle, line) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let started = std::time::Instant::now();
        let ran = ws.rollcall("validate", &path, &env).await;
        assert!(started.elapsed().as_secs() < 10, "{name}: took too long");
        assert_eq!(ran.code, 2, "{name}: {ran:#?}");
        assert!(
            ran.stderr.contains(needle),
            "{name}: wanted `{needle}` in {}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains("job.yaml"),
            "{name}: the file is named: {}",
            ran.stderr
        );
        if let Some(line) = line {
            let at = format!("job.yaml:{line}:");
            assert!(
                ran.stderr.contains(&at),
                "{name}: wanted {at} in {}",
                ran.stderr
            );
        }
        assert!(!ran.stderr.contains("panicked"), "{name}: {}", ran.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_problem_of_a_spec_is_reported_at_once() {
    // An unknown key, a range error, a missing token and a missing address, in three sources:
    // one run of validate names them all, and no Rust type name.
    let ws = Workspace::new();
    let spec = ws.spec_text(
        "job: nightly\nschedul: daily\nsources:\n  - name: vault-a\n    kind: vault_client_activity\n    address: https://vault.example.com:8200\n    months: 0\n  - name: vault-b\n    kind: vault_client_activity\n    token_env: VAULT_B_TOKEN\n  - name: ld\n    kind: launchdarkly_audit_log\n    concurrency: many\n",
    );
    let ran = ws.rollcall("validate", &spec, &[]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    let needles = [
        ":2:1: `schedul`: unknown field",
        ":7:5: `sources[0].months`: must be between 1 and 60",
        ":13:5: `sources[2].concurrency`: must be a whole number, 0 or more, not the text \"many\"",
        "source `vault-b`: no Vault address: set `address` in the spec or VAULT_ADDR; the credential is missing: set VAULT_B_TOKEN, or VAULT_B_TOKEN_FILE",
    ];
    assert_contains_all(&ran.stderr, &needles);
    for rust in ["u32", "usize", "invalid type", "struct "] {
        assert!(!ran.stderr.contains(rust), "`{rust}` in {}", ran.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_spec_file_exits_2() {
    let ws = Workspace::new();
    let ran = rollcall(&["validate", "--config", "missing.yaml"], &[], ws.path()).await;
    assert_eq!(ran.code, 2);
    assert_contains_all(&ran.stderr, &["missing.yaml", "No such file"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = rollcall::job::parse(&text);
    }

    #[test]
    fn the_parser_never_panics_on_a_mangled_valid_spec(
        edits in proptest::collection::vec((0usize..GOOD.len(), any::<char>()), 1..8)
    ) {
        let mut chars: Vec<char> = GOOD.chars().collect();
        for (at, c) in edits {
            let at = at % chars.len();
            chars[at] = c;
        }
        let text: String = chars.into_iter().collect();
        let _ = rollcall::job::parse(&text);
    }
}

/// What only the run's clock or environment can tell, still refused before anything is
/// fetched: exit 2, the file and the line, and never a secret's value.
#[tokio::test(flavor = "multi_thread")]
async fn clock_and_environment_problems_exit_2_with_file_and_line_before_any_request() {
    let ws = Workspace::new();
    let path = ws.path().join("job.yaml");
    let trend = "job: nightly\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n    region: us\n    token_env: TREND_KEY\n";
    let launchdarkly = "job: nightly\nsources:\n  - name: ld\n    kind: launchdarkly_audit_log\n    base_url: http://127.0.0.1:9\n    start: 2026-12-01T00:00:00Z\n";
    let now = ("ROLLCALL_NOW", "2026-11-22T03:00:00Z");
    // (name, spec, environment, text the error must contain, line it must name)
    type Case<'a> = (&'a str, &'a str, Vec<(String, String)>, &'a str, usize);
    let cases: [Case<'_>; 3] = [
        (
            "a Trend token pasted with its Bearer prefix",
            trend,
            vars(&[("TREND_KEY", "Bearer eyJhbGciOi.secret-part"), now]),
            "the token in TREND_KEY (or TREND_KEY_FILE) starts with `Bearer `",
            6,
        ),
        (
            "a LaunchDarkly token pasted with its Bearer prefix",
            launchdarkly.trim_end_matches("    start: 2026-12-01T00:00:00Z\n"),
            vars(&[("LD_API_TOKEN", "bearer api-secret-part"), now]),
            "the token in LD_API_TOKEN (or LD_API_TOKEN_FILE) starts with `Bearer `",
            3,
        ),
        (
            "a LaunchDarkly start in the future",
            launchdarkly,
            vars(&[("LD_API_TOKEN", "api-ok"), now]),
            "2026-12-01T00:00:00Z is later than the run's time (2026-11-22T03:00:00Z)",
            6,
        ),
    ];
    for (name, text, env, needle, line) in cases {
        std::fs::write(&path, text).unwrap();
        for command in ["validate", "run"] {
            let ran = ws.rollcall(command, &path, &env).await;
            assert_eq!(ran.code, 2, "{name} ({command}): {ran:#?}");
            assert!(
                ran.stderr.contains(needle),
                "{name}: wanted `{needle}` in {}",
                ran.stderr
            );
            let at = format!("job.yaml:{line}:");
            assert!(
                ran.stderr.contains(&at),
                "{name}: wanted {at} in {}",
                ran.stderr
            );
            assert!(
                !ran.stderr.contains("secret-part"),
                "{name}: the token leaked: {}",
                ran.stderr
            );
            assert!(
                !ws.path().join("reports").exists(),
                "{name}: something was written"
            );
        }
    }
}

/// A window that turns out empty at run time cannot be fixed by running again: exit 2, so
/// Kubernetes does not retry it.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_window_at_run_time_exits_2() {
    let ws = Workspace::new();
    let path = ws.path().join("job.yaml");
    std::fs::write(
        &path,
        "job: nightly\noutput:\n  url: ./reports\nsources:\n  - name: ld\n    kind: launchdarkly_audit_log\n    base_url: http://127.0.0.1:9\n    start: 2026-11-22T03:00:00Z\n",
    )
    .unwrap();
    let env = vars(&[
        ("LD_API_TOKEN", "api-ok"),
        ("ROLLCALL_NOW", "2026-11-22T03:00:00Z"),
    ]);
    let ran = ws.rollcall("run", &path, &env).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(ran.stderr.contains("the window is empty"), "{}", ran.stderr);
}
