//! `rollcall check` through the real binary: Trend Vision One, LaunchDarkly and Vault against
//! their fakes (the fake Vault for a check that passes), Vault's login, tokens and capabilities
//! against a real OpenBao dev server, the output against a local folder and s3s-fs. Each case checks the target's line (its code and what it names) and the exit code.

use crate::support::openbao::OpenBao;
use crate::support::s3::{S3Server, SECRET_KEY, start_s3};
use crate::support::{Ran, Workspace, rollcall, vars};
use rollcall_fakes::chassis::Canned;
use rollcall_fakes::launchdarkly::FakeLaunchDarkly;
use rollcall_fakes::vision_one::{Event, FakeAccount, FakeVisionOne};
use std::path::Path;

const LD_TOKEN: &str = "api-9c1e-check-token-0042";
const TREND_TOKEN: &str = "trend-check-token-7d3a";
const NOW: &str = "2026-11-22T03:00:00Z";
/// Nothing listens here.
const CLOSED: &str = "http://127.0.0.1:9";

async fn check(ws: &Workspace, spec: &str, env: &[(&str, &str)]) -> Ran {
    let path = ws.spec_text(spec);
    let env = vars(&[env, &[("ROLLCALL_NOW", NOW)]].concat());
    ws.rollcall("check", &path, &env).await
}

/// The line of `target`, which must start with `code`.
fn line<'a>(ran: &'a Ran, target: &str, code: &str) -> &'a str {
    let found = ran
        .stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(target))
        .unwrap_or_else(|| panic!("no line for {target}: {ran:#?}"));
    assert_eq!(
        found.split_whitespace().next(),
        Some(code),
        "{target}: {found}\n{ran:#?}"
    );
    found
}

fn local_output(ws: &Workspace) -> String {
    format!("output:\n  url: {}\n", ws.reports().display())
}

fn sources(ld: &str, trend: &str) -> String {
    format!(
        "http:\n  max_retries: 0\nsources:\n  - name: ld\n    kind: launchdarkly_audit_log\n    base_url: {ld}\n  - name: trend\n    kind: vision_one_inactive_accounts\n    base_url: {trend}\n"
    )
}

async fn trend_fake() -> FakeVisionOne {
    let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().to_utc();
    let fake = FakeVisionOne::start(TREND_TOKEN, Some(now)).await;
    fake.add_account(FakeAccount::user("u1", "ada@example.com"));
    fake.add_event(Event::logon_of(
        now - chrono::Duration::minutes(20),
        "u1",
        "ada@example.com",
    ));
    fake
}

#[tokio::test(flavor = "multi_thread")]
async fn each_api_target_says_ok_unauthorized_forbidden_or_unreachable() {
    let ld = FakeLaunchDarkly::start(LD_TOKEN).await;
    ld.set_entries(vec![rollcall_fakes::launchdarkly::FakeEntry::flag(
        "e1",
        1_763_700_000_000,
    )]);
    let trend = trend_fake().await;
    let ws = Workspace::new();
    let spec = format!(
        "job: j\n{}{}",
        local_output(&ws),
        sources(&ld.url(), &trend.url())
    );
    let good = [
        ("LD_API_TOKEN", LD_TOKEN),
        ("TREND_VISION_ONE_TOKEN", TREND_TOKEN),
    ];

    let ran = check(&ws, &spec, &good).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert!(line(&ran, "ld", "ok").contains("read the audit log"));
    assert!(line(&ran, "trend", "ok").contains("one page of IAM accounts (1 listed)"));
    line(&ran, "output", "ok");
    assert!(ran.stdout.contains("all 3 targets ok"), "{}", ran.stdout);
    let audit = trend.requests(rollcall_fakes::vision_one::Which::Audit);
    assert_eq!(audit.len(), 1, "one audit page");
    assert_eq!(audit[0].query["top"], "50");
    assert_eq!(audit[0].query["startDateTime"], "2026-11-22T02:00:00Z");
    assert_eq!(ld.log()[0].query["limit"], "1");

    let ran = check(
        &ws,
        &spec,
        &[
            ("LD_API_TOKEN", "api-wrong"),
            ("TREND_VISION_ONE_TOKEN", "wrong"),
        ],
    )
    .await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(line(&ran, "ld", "unauthorized").contains("LD_API_TOKEN"));
    assert!(line(&ran, "trend", "unauthorized").contains("TREND_VISION_ONE_TOKEN"));
    assert!(
        !ran.all_output().contains("api-wrong"),
        "the token never shows"
    );
    assert!(
        ran.stdout.contains("2 of 3 targets failed"),
        "{}",
        ran.stdout
    );

    ld.state().inject.push_back(Canned::json(
        403,
        r#"{"code":"forbidden","message":"Forbidden. Access to the requested resource was denied."}"#,
    ));
    trend.state().audit_forbidden = true;
    let ran = check(&ws, &spec, &good).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(line(&ran, "ld", "forbidden").contains("Reader role"));
    let trend_line = line(&ran, "trend", "forbidden");
    assert!(
        trend_line.contains("Audit Logs: View, filter, and search"),
        "{trend_line}"
    );
    trend.state().audit_forbidden = false;

    // Unreachable alone is exit 1: nothing to fix in the spec, wait for the target.
    let spec = format!(
        "job: j\n{}{}",
        local_output(&ws),
        sources(CLOSED, &trend.url())
    );
    let ran = check(&ws, &spec, &good).await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    assert!(line(&ran, "ld", "unreachable").contains("base_url"));
    line(&ran, "trend", "ok");
}

/// The local-folder spec with one LaunchDarkly source, for output checks.
fn output_only(ws: &Workspace, output: &str, ld: &FakeLaunchDarkly) -> String {
    format!(
        "job: j\n{output}sources:\n  - name: ld\n    kind: launchdarkly_audit_log\n    base_url: {}\n",
        ld.url()
    )
    .replace("{reports}", &ws.reports().display().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_folder_is_written_to_and_left_clean_and_a_read_only_one_is_forbidden() {
    let ld = FakeLaunchDarkly::start(LD_TOKEN).await;
    let ws = Workspace::new();
    let spec = output_only(&ws, &local_output(&ws), &ld);
    let ran = check(&ws, &spec, &[("LD_API_TOKEN", LD_TOKEN)]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert!(line(&ran, "output", "ok").contains("rollcall-check.probe create-only and deleted it"));
    assert!(
        ws.objects().is_empty(),
        "the probe and its folders are gone: {:?}",
        ws.objects()
    );

    let locked = ws.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let spec = output_only(&ws, &format!("output:\n  url: {}\n", locked.display()), &ld);
    let path = ws.spec_text(&spec);
    set_mode(&locked, 0o555);
    let ran = as_unprivileged(
        &["check", "--config", path.to_str().unwrap()],
        &[("LD_API_TOKEN", LD_TOKEN), ("ROLLCALL_NOW", NOW)],
        ws.path(),
    );
    set_mode(&locked, 0o755);
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(line(&ran, "output", "forbidden").contains("writable"));
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs the binary so that file permissions apply: as root (as in CI containers), without the
/// capabilities that override them.
fn as_unprivileged(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Ran {
    let root = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    let binary = crate::support::binary();
    let mut command = if root.unwrap_or(false) {
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--bounding-set",
            "-dac_override,-dac_read_search,-fowner",
            "--",
        ])
        .arg(&binary);
        c
    } else {
        std::process::Command::new(&binary)
    };
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ROLLCALL_LOG_FORMAT", "json");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("run rollcall");
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_output_with_a_wrong_secret_or_no_bucket_is_named() {
    let s3 = start_s3();
    let ld = FakeLaunchDarkly::start(LD_TOKEN).await;
    let ws = Workspace::new();
    let env = |secret: &str| {
        let mut env: Vec<(String, String)> = S3Server::env(secret);
        env.push(("LD_API_TOKEN".into(), LD_TOKEN.into()));
        env
    };
    let run = |spec: String, env: Vec<(String, String)>| {
        let ws = &ws;
        async move {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            check(ws, &spec, &env).await
        }
    };
    let spec = output_only(&ws, &s3.output_yaml("compliance"), &ld);
    let ran = run(spec.clone(), env(SECRET_KEY)).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    line(&ran, "output", "ok");
    assert!(s3.objects().await.is_empty(), "the probe is deleted");

    let ran = run(spec, env("not-the-secret")).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(line(&ran, "output", "unauthorized").contains("AWS_SECRET_ACCESS_KEY"));
    assert!(!ran.all_output().contains("not-the-secret"));

    let spec = output_only(&ws, &s3.output_yaml("compliance"), &ld)
        .replace("s3://reports/", "s3://no-such-bucket/");
    let ran = run(spec, env(SECRET_KEY)).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(line(&ran, "output", "not_found").contains("bucket does not exist"));
}

/// A token of a new policy `name` (HCL `policy`) with `ttl`, made with the root token.
async fn bao_token(bao: &OpenBao, name: &str, policy: &str, ttl: &str) -> String {
    bao.admin(
        "PUT",
        &format!("/v1/sys/policies/acl/{name}"),
        None,
        serde_json::json!({ "policy": policy }),
    )
    .await;
    let created = bao
        .admin(
            "POST",
            "/v1/auth/token/create",
            None,
            serde_json::json!({ "policies": [name], "ttl": ttl }),
        )
        .await;
    created["auth"]["client_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_checks_name_the_bad_token_the_missing_capability_and_the_missing_export() {
    let bao = OpenBao::start().await;
    let ws = Workspace::new();
    let spec = format!(
        "job: j\n{}http:\n  max_retries: 0\nsources:\n  - name: vault\n    kind: vault_client_activity\n    address: {}\n    timeout: 1h\n",
        local_output(&ws),
        bao.url
    );
    let full = "path \"sys/internal/counters/activity/export\" { capabilities = [\"read\", \"sudo\"] }\npath \"sys/internal/counters/activity\" { capabilities = [\"read\"] }\npath \"sys/internal/counters/config\" { capabilities = [\"read\"] }\n";
    let no_sudo = "path \"sys/internal/counters/activity/export\" { capabilities = [\"read\"] }\n";

    let ran = check(&ws, &spec, &[("VAULT_TOKEN", "s.not-a-token")]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(line(&ran, "vault", "unauthorized").contains("Vault refused the token"));
    assert!(!ran.all_output().contains("s.not-a-token"));

    let token = bao_token(&bao, "no-sudo", no_sudo, "2h").await;
    let ran = check(&ws, &spec, &[("VAULT_TOKEN", &token)]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    let forbidden = line(&ran, "vault", "forbidden");
    assert!(
        forbidden.contains("the token lacks `sudo` on sys/internal/counters/activity/export"),
        "{forbidden}"
    );
    assert!(!ran.all_output().contains(&token), "the token never shows");

    let token = bao_token(&bao, "short", full, "10m").await;
    let ran = check(&ws, &spec, &[("VAULT_TOKEN", &token)]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(line(&ran, "vault", "unauthorized").contains("before the source's deadline of 1h"));

    // A token with everything the run needs: OpenBao itself is what is missing.
    let token = bao_token(&bao, "full", full, "2h").await;
    let ran = check(&ws, &spec, &[("VAULT_TOKEN", &token)]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    let missing = line(&ran, "vault", "not_found");
    assert!(
        missing.contains("this server has no activity export"),
        "{missing}"
    );
    assert!(missing.contains("OpenBao"), "{missing}");
}

#[tokio::test]
async fn help_documents_every_result_code_and_exit_code() {
    let ws = Workspace::new();
    let ran = rollcall(&["check", "--help"], &[], ws.path()).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    for code in [
        "ok",
        "unreachable",
        "tls",
        "unauthorized",
        "forbidden",
        "not_found",
        "other",
    ] {
        assert!(
            ran.stdout.lines().any(|l| l.trim_start().starts_with(code)),
            "{code} missing from:\n{}",
            ran.stdout
        );
    }
    assert!(ran.stdout.contains("Exit codes:"), "{}", ran.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_certificate_is_tls_not_unreachable() {
    let tls = rollcall_fakes::TlsIdentity::generate();
    let vault = rollcall_fakes::vault::FakeVault::start_tls(
        "hvs.check-tls",
        rollcall_fakes::vault::Version::V1_18,
        &tls,
    )
    .await;
    let ws = Workspace::new();
    let spec = format!(
        "job: j\n{}http:\n  max_retries: 0\nsources:\n  - name: vault\n    kind: vault_client_activity\n    address: {}\n",
        local_output(&ws),
        vault.https_url()
    );
    let ran = check(&ws, &spec, &[("VAULT_TOKEN", "hvs.check-tls")]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(line(&ran, "vault", "tls").contains("not trusted"));
}

/// Every token OpenBao holds, by accessor (the root token's view).
async fn token_accessors(bao: &OpenBao) -> Vec<String> {
    let listed = bao
        .admin(
            "LIST",
            "/v1/auth/token/accessors",
            None,
            serde_json::Value::Null,
        )
        .await;
    let mut accessors: Vec<String> = listed["data"]["keys"]
        .as_array()
        .expect("accessor keys")
        .iter()
        .map(|k| k.as_str().expect("an accessor").to_owned())
        .collect();
    accessors.sort();
    accessors
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_check_logs_in_with_the_sources_auth_method_and_revokes_the_login() {
    let bao = OpenBao::start().await;
    bao.enable_auth(None, "approle", "approle").await;
    let full = "path \"sys/internal/counters/activity/export\" { capabilities = [\"read\", \"sudo\"] }\npath \"sys/internal/counters/activity\" { capabilities = [\"read\"] }\npath \"sys/internal/counters/config\" { capabilities = [\"read\"] }\n";
    bao.admin(
        "PUT",
        "/v1/sys/policies/acl/rollcall",
        None,
        serde_json::json!({ "policy": full }),
    )
    .await;
    // The role's tokens live 10 minutes: the deadline must be shorter for the TTL check to pass.
    let (role_id, secret_id) = bao.approle(None, "approle", "rollcall", "rollcall").await;
    let ws = Workspace::new();
    let spec = format!(
        "job: j\n{}http:\n  max_retries: 0\nsources:\n  - name: vault\n    kind: vault_client_activity\n    address: {}\n    timeout: 5m\n    auth: {{method: approle, role_id_env: RID, secret_id_env: SID}}\n",
        local_output(&ws),
        bao.url
    );
    let before = token_accessors(&bao).await;

    let ran = check(&ws, &spec, &[("RID", &role_id), ("SID", &secret_id)]).await;
    // With no VAULT_TOKEN, only the login's token can have passed the capability and TTL
    // checks; what stops it is OpenBao itself, which has no activity export.
    assert_eq!(ran.code, 2, "{ran:#?}");
    let missing = line(&ran, "vault", "not_found");
    assert!(
        missing.contains("this server has no activity export"),
        "{missing}"
    );
    assert_eq!(
        token_accessors(&bao).await,
        before,
        "the check revokes the token its login obtained"
    );
    assert!(
        !ran.all_output().contains(&secret_id),
        "the secret never shows"
    );

    let ran = check(&ws, &spec, &[("RID", &role_id), ("SID", "not-the-secret")]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    let refused = line(&ran, "vault", "unauthorized");
    assert!(refused.contains("approle"), "{refused}");
    assert_eq!(token_accessors(&bao).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_with_the_export_and_a_token_that_may_read_it_checks_ok() {
    use rollcall_fakes::vault::{FakeVault, Version};
    const TOKEN: &str = "hvs.check-token-0042";
    let ws = Workspace::new();
    let check_vault = |fake: &FakeVault| {
        format!(
            "job: j\n{}http:\n  max_retries: 0\nsources:\n  - name: vault\n    kind: vault_client_activity\n    address: {}\n    timeout: 1h\n",
            local_output(&ws),
            fake.url()
        )
    };

    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.state().token_ttl = 7200;
    let ran = check(&ws, &check_vault(&fake), &[("VAULT_TOKEN", TOKEN)]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let ok = line(&ran, "vault", "ok");
    assert!(
        ok.contains("Vault 1.18.5; token valid (has 2h left), `read` and `sudo` on sys/internal/counters/activity/export"),
        "{ok}"
    );
    assert!(ok.contains("the server has the export"), "{ok}");
    assert!(!ran.all_output().contains(TOKEN), "the token never shows");
    // The probe is the inverted range Vault refuses before any work: nothing was exported.
    let probes: Vec<_> = fake.log.all();
    assert_eq!(probes.len(), 1, "{probes:?}");
    assert_eq!(probes[0].query["start_time"], "2000-01-02T00:00:00Z");
    assert_eq!(probes[0].status, 400);
    fake.server.assert_no_violations();

    // Before 1.18 `read` alone is enough; without `read` on the counts the line says what
    // the run will not cross-check, and stays ok.
    let fake = FakeVault::start(TOKEN, Version::V1_17).await;
    fake.state().sudo = false;
    fake.state().counts_read = false;
    let ran = check(&ws, &check_vault(&fake), &[("VAULT_TOKEN", TOKEN)]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let ok = line(&ran, "vault", "ok");
    assert!(
        ok.contains("token valid (does not expire), `read` on"),
        "{ok}"
    );
    assert!(
        ran.stdout.contains("sys/internal/counters/activity"),
        "{ran:#?}"
    );
    assert!(ran.stdout.contains("unchecked"), "{ran:#?}");

    // The same token on 1.18 without `sudo`: forbidden, naming it.
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.state().sudo = false;
    let ran = check(&ws, &check_vault(&fake), &[("VAULT_TOKEN", TOKEN)]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert!(line(&ran, "vault", "forbidden").contains("lacks `sudo`"));
}
