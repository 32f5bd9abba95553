//! Vault login methods through the real binary, against a real OpenBao.
//!
//! OpenBao has no activity export, so every run here points its `address` at the fake Vault,
//! whose `/v1/auth/...` routes relay verbatim to the OpenBao of the test
//! ([`AuthBackend::Upstream`]) and whose export asks that OpenBao whether the token it got is
//! valid and holds `read` + `sudo` on the export. The login, the namespace handling, the
//! token's policies and its revocation are therefore OpenBao's own; only the export is faked.
//! (Running the binary twice, once per server, could not show that the token of the login is
//! the one used for the export and revoked afterwards.)

use crate::support::openbao::{
    Answer, JwtKey, OpenBao, Role, service_account, service_account_token,
};
use crate::support::{Ran, Workspace, assert_contains_all, vars, wait_until};
use rollcall_fakes::kubernetes::TokenReview;
use rollcall_fakes::vault::{
    Activity, AuthBackend, FakeMount, FakeVault, KubernetesLogin, PATH_PREFIX, Version, mid, month,
};
use serde_json::{Value, json};

const NOW: &str = "2026-11-22T03:00:00Z";
const AUDIENCE: &str = "vault";

/// The `rollcall` role, for the audience `vault`, granting `policy`.
fn role(policy: &str) -> Role<'_> {
    Role {
        name: "rollcall",
        audience: AUDIENCE,
        policy,
    }
}

/// A fake Vault with three clients this month, relaying logins to `bao`.
async fn fake_vault_behind(bao: &OpenBao) -> FakeVault {
    let fake = FakeVault::start("no-static-token-here", Version::V1_21).await;
    fake.add_entities(month(2026, 11), "c", 3);
    fake.state().auth = AuthBackend::Upstream(bao.url.clone());
    fake
}

/// Runs the binary with `sources` (YAML items) and `env`.
async fn run(sources: &[String], env: &[(&str, String)]) -> (Workspace, Ran) {
    let ws = Workspace::new();
    let spec = ws.spec(sources);
    let mut vars = vec![("ROLLCALL_NOW".to_owned(), NOW.to_owned())];
    vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let ran = ws.rollcall("run", &spec, &vars).await;
    (ws, ran)
}

fn source(name: &str, address: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    kind: vault_client_activity\n    address: {address}\n    months: 1\n    roll_off_months: 1\n{extra}"
    )
}

fn write_file(ws_dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = ws_dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The tokens the binary sent to the export, in order.
fn export_tokens(fake: &FakeVault) -> Vec<String> {
    fake.log
        .all()
        .iter()
        .filter(|s| s.path.ends_with("/activity/export"))
        .map(|s| s.headers.get("x-vault-token").cloned().unwrap_or_default())
        .collect()
}

fn paths(fake: &FakeVault) -> Vec<(String, u16)> {
    fake.log
        .all()
        .iter()
        .map(|s| (s.path.clone(), s.status))
        .collect()
}

fn assert_no_secret(ran: &Ran, secrets: &[&str]) {
    let out = ran.all_output();
    for secret in secrets {
        assert!(!out.contains(secret), "a secret reached the output: {out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_login_end_to_end_then_the_token_is_revoked() {
    let bao = OpenBao::start().await;
    let reviewer = TokenReview::start().await;
    let key = JwtKey::generate();
    let account = service_account("compliance", "rollcall");
    bao.export_policy(None, "rollcall-export").await;
    bao.kubernetes_role(
        None,
        "kubernetes",
        &reviewer,
        role("rollcall-export"),
        &account,
    )
    .await;
    let jwt = service_account_token(&account, &key, AUDIENCE);
    reviewer.admit(&jwt, &account, AUDIENCE);
    let fake = fake_vault_behind(&bao).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = write_file(&dir, "token", &format!("{jwt}\n"));

    // Two sources with the same address and login share one login.
    let auth =
        format!("    auth: {{method: kubernetes, role: rollcall, token_file: {token_file}}}\n");
    let (ws, ran) = run(
        &[
            source("vault-a", &fake.url(), &auth),
            source("vault-b", &fake.url(), &auth),
        ],
        &[],
    )
    .await;
    assert_eq!(
        ran.code,
        0,
        "{ran:#?}\nOpenBao: {}\nreviews: {:?}",
        bao.log(),
        reviewer.reviews.lock().unwrap()
    );
    let manifest = ws.manifest().unwrap();
    assert_eq!(manifest["sources"][0]["status"], "succeeded");
    assert_eq!(manifest["sources"][1]["status"], "succeeded");

    let seen = paths(&fake);
    let logins = seen
        .iter()
        .filter(|(p, _)| p == "/v1/auth/kubernetes/login")
        .count();
    assert_eq!(logins, 1, "one login for both sources: {seen:?}");
    assert_eq!(seen[0], ("/v1/auth/kubernetes/login".to_owned(), 200));
    assert_eq!(
        seen.last().unwrap(),
        &("/v1/auth/token/revoke-self".to_owned(), 204),
        "the token is revoked last: {seen:?}"
    );
    // Both sources export with the token of the one login (one of them may have been told
    // "existing export in progress" and retried).
    let tokens = export_tokens(&fake);
    assert!(tokens.len() >= 2, "{seen:?}");
    assert!(tokens.iter().all(|t| *t == tokens[0]), "one token for both");
    assert!(
        !bao.token_works(&tokens[0], None).await,
        "revoked at the run's end"
    );

    // OpenBao asked the TokenReview API about the pod's token, for the role's audience.
    let reviews = reviewer.reviews.lock().unwrap().clone();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["spec"]["token"], jwt.as_str());
    assert_eq!(reviews[0]["spec"]["audiences"], json!([AUDIENCE]));
    assert!(ran.stderr.contains("Logged in to Vault."), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("Revoked the run's Vault token."),
        "{}",
        ran.stderr
    );
    assert_no_secret(&ran, &[&jwt, &tokens[0]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_login_failures_say_what_to_check_and_exit_2() {
    let bao = OpenBao::start().await;
    let reviewer = TokenReview::start().await;
    let key = JwtKey::generate();
    let account = service_account("compliance", "rollcall");
    bao.export_policy(None, "rollcall-export").await;
    bao.kubernetes_role(
        None,
        "kubernetes",
        &reviewer,
        role("rollcall-export"),
        &account,
    )
    .await;
    let fake = fake_vault_behind(&bao).await;
    let dir = tempfile::tempdir().unwrap();

    let good = service_account_token(&account, &key, AUDIENCE);
    reviewer.admit(&good, &account, AUDIENCE);
    let wrong_audience = service_account_token(&account, &key, "another-audience");
    reviewer.admit(&wrong_audience, &account, "another-audience");
    let intruder = service_account("compliance", "intruder");
    let unbound = service_account_token(&intruder, &key, AUDIENCE);
    reviewer.admit(&unbound, &intruder, AUDIENCE);
    let unknown_to_kubernetes = service_account_token(&account, &JwtKey::generate(), AUDIENCE);

    let cases = [
        (
            "unknown role",
            "nobody",
            good.as_str(),
            &["HTTP 400", "has no role `nobody`", "auth.role"][..],
        ),
        (
            "wrong audience",
            "rollcall",
            wrong_audience.as_str(),
            &["HTTP 403", "audience"][..],
        ),
        (
            "service account not bound",
            "rollcall",
            unbound.as_str(),
            &["HTTP 403", "bound_service_account_names", "TokenReview"][..],
        ),
        (
            "token Kubernetes does not know",
            "rollcall",
            unknown_to_kubernetes.as_str(),
            &["HTTP 403", "permission denied"][..],
        ),
    ];
    for (case, role, jwt, expected) in cases {
        let token_file = write_file(&dir, "token", jwt);
        let auth =
            format!("    auth: {{method: kubernetes, role: {role}, token_file: {token_file}}}\n");
        let (ws, ran) = run(&[source("vault-k8s", &fake.url(), &auth)], &[]).await;
        assert_eq!(ran.code, 2, "{case}: {ran:#?}");
        let error = ws.source_error(0);
        assert!(
            error.contains("Vault login (kubernetes on auth/kubernetes"),
            "{case}: {error}"
        );
        for text in expected {
            assert!(
                error.contains(text),
                "{case}: `{text}` missing from: {error}"
            );
        }
        assert_no_secret(&ran, &[jwt]);
    }
    assert!(export_tokens(&fake).is_empty(), "no export without a login");

    // A token file that cannot be read is a configuration error found before anything is sent.
    let auth =
        "    auth: {method: kubernetes, role: rollcall, token_file: /nonexistent/sa/token}\n";
    let (_ws, ran) = run(&[source("vault-k8s", &fake.url(), auth)], &[]).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert_contains_all(&ran.stderr, &["/nonexistent/sa/token", "auth.token_file"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_login_with_a_test_key_and_its_failures() {
    let bao = OpenBao::start().await;
    let key = JwtKey::generate();
    bao.export_policy(None, "rollcall-export").await;
    bao.jwt_role(
        None,
        "ci-jwt",
        &key,
        role("rollcall-export"),
        "rollcall-job",
    )
    .await;
    let fake = fake_vault_behind(&bao).await;
    let dir = tempfile::tempdir().unwrap();

    let good = key.sign(&JwtKey::claims("rollcall-job", AUDIENCE));
    let token_file = write_file(&dir, "jwt", &good);
    let auth = format!(
        "    auth: {{method: jwt, role: rollcall, mount: ci-jwt, token_file: {token_file}}}\n"
    );
    let (_ws, ran) = run(&[source("vault-jwt", &fake.url(), &auth)], &[]).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let tokens = export_tokens(&fake);
    assert_eq!(tokens.len(), 1);
    assert!(
        !bao.token_works(&tokens[0], None).await,
        "revoked at the run's end"
    );
    assert_no_secret(&ran, &[&good, &tokens[0]]);

    let forged = JwtKey::generate().sign(&JwtKey::claims("rollcall-job", AUDIENCE));
    let other_audience = key.sign(&JwtKey::claims("rollcall-job", "not-vault"));
    let cases = [
        (
            "unknown role",
            "nobody",
            good.as_str(),
            &["HTTP 400", "could not be found", "has no role `nobody`"][..],
        ),
        (
            "bad signature",
            "rollcall",
            forged.as_str(),
            &["HTTP 400", "signature", "jwt_validation_pubkeys"][..],
        ),
        (
            "wrong audience",
            "rollcall",
            other_audience.as_str(),
            &["audience", "bound_audiences"][..],
        ),
    ];
    for (case, role, jwt, expected) in cases {
        let token_file = write_file(&dir, "jwt", jwt);
        let auth = format!(
            "    auth: {{method: jwt, role: {role}, mount: ci-jwt, token_file: {token_file}}}\n"
        );
        let (ws, ran) = run(&[source("vault-jwt", &fake.url(), &auth)], &[]).await;
        assert_eq!(ran.code, 2, "{case}: {ran:#?}");
        let error = ws.source_error(0);
        for text in expected {
            assert!(
                error.contains(text),
                "{case}: `{text}` missing from: {error}"
            );
        }
        assert_no_secret(&ran, &[jwt]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn approle_login_in_a_namespace_sends_the_namespace_everywhere() {
    let bao = OpenBao::start().await;
    bao.create_namespace("team").await;
    bao.enable_auth(Some("team"), "approle", "approle").await;
    bao.export_policy(Some("team"), "rollcall-export").await;
    let (role_id, secret_id) = bao
        .approle(Some("team"), "approle", "rollcall", "rollcall-export")
        .await;
    let fake = fake_vault_behind(&bao).await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = write_file(&dir, "secret-id", &format!("{secret_id}\n"));

    let auth = "    namespace: team\n    auth: {method: approle, role_id_env: VAULT_ROLE_ID, secret_id_env: VAULT_SECRET_ID}\n";
    let env = [
        ("VAULT_ROLE_ID", role_id.clone()),
        ("VAULT_SECRET_ID_FILE", secret_file),
    ];
    let (_ws, ran) = run(&[source("vault-team", &fake.url(), auth)], &env).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let seen = fake.log.all();
    assert!(seen.len() >= 3, "{seen:?}");
    for request in &seen {
        assert_eq!(
            request.headers.get("x-vault-namespace").map(String::as_str),
            Some("team"),
            "{} without the namespace",
            request.path
        );
    }
    let tokens = export_tokens(&fake);
    assert!(
        !bao.token_works(&tokens[0], Some("team")).await,
        "revoked at the run's end"
    );
    assert_no_secret(&ran, &[&role_id, &secret_id, &tokens[0]]);

    // A wrong secret ID: 400 from OpenBao, a message naming the variables, exit 2.
    let env = [
        ("VAULT_ROLE_ID", role_id.clone()),
        (
            "VAULT_SECRET_ID",
            "00000000-0000-0000-0000-00000000dead".to_owned(),
        ),
    ];
    let (ws, ran) = run(&[source("vault-team", &fake.url(), auth)], &env).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    let error = ws.source_error(0);
    assert_contains_all(
        &error,
        &[
            "HTTP 400",
            "invalid role or secret ID",
            "VAULT_ROLE_ID",
            "VAULT_SECRET_ID",
        ],
    );
    assert_no_secret(&ran, &[&role_id, "00000000-0000-0000-0000-00000000dead"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_path_has_one_slash_whatever_the_address_ends_with() {
    let fake = FakeVault::start("unused", Version::V1_21).await;
    fake.add(
        month(2026, 11),
        Activity::entity("c0", mid(month(2026, 11))),
    );
    fake.mount(
        "",
        "approle",
        FakeMount::AppRole {
            role: "rollcall".into(),
            role_id: "role-1".into(),
            secret_id: "secret-1".into(),
        },
    );
    let auth =
        "    auth: {method: approle, role_id_env: RID, secret_id_env: SID, mount: /approle/}\n";
    let env = [("RID", "role-1".to_owned()), ("SID", "secret-1".to_owned())];
    let addresses = [
        format!("{}/", fake.url()),
        format!("{}//", fake.url()),
        format!("{}{PATH_PREFIX}", fake.url()),
        format!("{}{PATH_PREFIX}/", fake.url()),
        format!("{}/{PATH_PREFIX}//", fake.url()),
    ];
    for address in &addresses {
        let (_ws, ran) = run(&[source("vault-slash", address, auth)], &env).await;
        assert_eq!(ran.code, 0, "{address}: {ran:#?}");
    }
    let seen = paths(&fake);
    assert_eq!(
        seen.len(),
        3 * addresses.len(),
        "login, export and revoke per run: {seen:?}"
    );
    for (i, (path, status)) in seen.iter().enumerate() {
        let prefix = if i < 6 { "" } else { PATH_PREFIX };
        let expected = [
            "/v1/auth/approle/login",
            "/v1/sys/internal/counters/activity/export",
            "/v1/auth/token/revoke-self",
        ][i % 3];
        assert_eq!(path, &format!("{prefix}{expected}"), "request {i}");
        assert!((200..300).contains(status), "{path}: {status}");
    }
    // The fake refuses what Vault 2.0 refuses, so the check above means something.
    for bad in [
        "//v1/sys/health",
        "/v1//auth/token/revoke-self",
        "/v1/./sys/x",
        "/v1/a/../sys/x",
    ] {
        let mut stream = tokio::net::TcpStream::connect(fake.server.addr)
            .await
            .unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(format!("POST {bad} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{bad}: {answer}");
    }
}

/// The shape of a JSON value: its keys and their types, recursively; values left out.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().take(1).map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => Value::Null,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fake_login_routes_answer_as_openbao_does() {
    let bao = OpenBao::start().await;
    let reviewer = TokenReview::start().await;
    let key = JwtKey::generate();
    let account = service_account("compliance", "rollcall");
    let jwt_key = JwtKey::generate();
    bao.export_policy(None, "rollcall").await;
    bao.kubernetes_role(None, "kubernetes", &reviewer, role("rollcall"), &account)
        .await;
    bao.jwt_role(None, "jwt", &jwt_key, role("rollcall"), "job")
        .await;
    bao.enable_auth(None, "approle", "approle").await;
    let (role_id, secret_id) = bao.approle(None, "approle", "rollcall", "rollcall").await;
    let sa_jwt = service_account_token(&account, &key, AUDIENCE);
    reviewer.admit(&sa_jwt, &account, AUDIENCE);
    let unbound = service_account_token(&account, &JwtKey::generate(), AUDIENCE);
    let ci_jwt = jwt_key.sign(&JwtKey::claims("job", AUDIENCE));
    let forged = JwtKey::generate().sign(&JwtKey::claims("job", AUDIENCE));

    let fake = FakeVault::start("unused", Version::V1_21).await;
    fake.mount(
        "",
        "kubernetes",
        FakeMount::Kubernetes(
            [(
                "rollcall".to_owned(),
                KubernetesLogin {
                    jwt: sa_jwt.clone(),
                    namespace: account.namespace.clone(),
                    name: account.name.clone(),
                    uid: account.uid.clone(),
                },
            )]
            .into(),
        ),
    );
    fake.mount(
        "",
        "jwt",
        FakeMount::Jwt([("rollcall".to_owned(), ci_jwt.clone())].into()),
    );
    fake.mount(
        "",
        "approle",
        FakeMount::AppRole {
            role: "rollcall".into(),
            role_id: role_id.clone(),
            secret_id: secret_id.clone(),
        },
    );
    let fake_url = fake.url();
    let client = reqwest::Client::new();
    let send = |base: String,
                path: &'static str,
                ns: Option<&'static str>,
                token: Option<String>,
                body: Option<Value>| {
        let client = client.clone();
        async move {
            let mut request = client.post(format!("{base}{path}"));
            if let Some(ns) = ns {
                request = request.header("x-vault-namespace", ns);
            }
            if let Some(token) = token {
                request = request.header("x-vault-token", token);
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            Answer {
                status,
                body: if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).unwrap()
                },
            }
        }
    };

    // The login endpoint of each mounted method.
    const KUBERNETES: &str = "/v1/auth/kubernetes/login";
    const JWT: &str = "/v1/auth/jwt/login";
    const APPROLE: &str = "/v1/auth/approle/login";
    const REVOKE_SELF: &str = "/v1/auth/token/revoke-self";
    // (case, path, namespace, body)
    let cases: Vec<(&str, &'static str, Option<&'static str>, Value)> = vec![
        (
            "kubernetes ok",
            KUBERNETES,
            None,
            json!({"role": "rollcall", "jwt": sa_jwt}),
        ),
        (
            "kubernetes unknown role",
            KUBERNETES,
            None,
            json!({"role": "nobody", "jwt": sa_jwt}),
        ),
        (
            "kubernetes token refused",
            KUBERNETES,
            None,
            json!({"role": "rollcall", "jwt": unbound}),
        ),
        (
            "jwt ok",
            JWT,
            None,
            json!({"role": "rollcall", "jwt": ci_jwt}),
        ),
        (
            "jwt unknown role",
            JWT,
            None,
            json!({"role": "nobody", "jwt": ci_jwt}),
        ),
        (
            "jwt bad signature",
            JWT,
            None,
            json!({"role": "rollcall", "jwt": forged}),
        ),
        (
            "approle ok",
            APPROLE,
            None,
            json!({"role_id": role_id, "secret_id": secret_id}),
        ),
        (
            "approle wrong secret",
            APPROLE,
            None,
            json!({"role_id": role_id, "secret_id": "nope"}),
        ),
        (
            "approle missing secret",
            APPROLE,
            None,
            json!({"role_id": role_id}),
        ),
        (
            "no such mount",
            "/v1/auth/ldap/login",
            None,
            json!({"username": "x", "password": "y"}),
        ),
        (
            "no such namespace",
            APPROLE,
            Some("nowhere"),
            json!({"role_id": role_id, "secret_id": secret_id}),
        ),
    ];
    for (case, path, ns, body) in cases {
        let real = send(bao.url.clone(), path, ns, None, Some(body.clone())).await;
        let faked = send(fake_url.clone(), path, ns, None, Some(body)).await;
        assert_eq!(
            faked.status, real.status,
            "{case}: OpenBao {real:?}, fake {faked:?}"
        );
        assert_eq!(
            shape(&faked.body),
            shape(&real.body),
            "{case}: OpenBao {real:?}, fake {faked:?}"
        );
        if real.status >= 400 {
            // The error text matters: rollcall's hints are chosen by it.
            assert_eq!(faked.body, real.body, "{case}");
        } else {
            let (real_token, fake_token) = (
                real.body["auth"]["client_token"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                faked.body["auth"]["client_token"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            // Revoking: 204 with no body the first time, 403 once the token is gone.
            for _ in 0..2 {
                let revoke = |base: &String, token: &String| {
                    send(base.clone(), REVOKE_SELF, None, Some(token.clone()), None)
                };
                let r = revoke(&bao.url, &real_token).await;
                let f = revoke(&fake_url, &fake_token).await;
                assert_eq!(
                    (f.status, &f.body),
                    (r.status, &r.body),
                    "{case}: revoke-self"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_run_still_revokes_its_token() {
    let fake = FakeVault::start("unused", Version::V1_21).await;
    fake.add(
        month(2026, 11),
        Activity::entity("c0", mid(month(2026, 11))),
    );
    fake.mount(
        "",
        "approle",
        FakeMount::AppRole {
            role: "rollcall".into(),
            role_id: "role-1".into(),
            secret_id: "secret-1".into(),
        },
    );
    // The export takes a minute: the run is surely in flight when the signal arrives.
    fake.state().delay = std::time::Duration::from_secs(60);
    let ws = Workspace::new();
    let auth = "    auth: {method: approle, role_id_env: RID, secret_id_env: SID}\n";
    let spec = ws.spec(&[source("vault-slow", &fake.url(), auth)]);
    let running = ws.start_run(
        &spec,
        &vars(&[
            ("RID", "role-1"),
            ("SID", "secret-1"),
            ("ROLLCALL_NOW", NOW),
        ]),
    );
    wait_until("no export arrived", || fake.max_concurrent() > 0).await;
    assert_eq!(fake.state().issued.len(), 1, "logged in");
    let stopped = running.terminate(std::time::Duration::from_secs(20)).await;
    assert_eq!(stopped.code, 1, "{stopped:#?}");
    assert!(fake.state().issued.is_empty(), "the token was revoked");
    let seen = paths(&fake);
    assert_eq!(
        seen.last().unwrap(),
        &("/v1/auth/token/revoke-self".to_owned(), 204),
        "{seen:?}"
    );
}
