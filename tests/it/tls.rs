//! TLS: an internal CA given by `VAULT_CACERT` or the spec's `ca_cert` is trusted, a server
//! certificate from an unknown CA is refused with a clear error, and plain http to a host that is
//! not loopback is refused unless the spec allows it.

use crate::support::{Workspace, assert_contains_all, rollcall, vars};
use rollcall_fakes::TlsIdentity;
use rollcall_fakes::vault::{Activity, FakeVault, Version, mid, month};

const TOKEN: &str = "hvs.tls-test-token-2c7e";

fn env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let base = [
        ("VAULT_TOKEN", TOKEN),
        ("ROLLCALL_NOW", "2026-11-22T03:00:00Z"),
    ];
    vars(&[&base[..], extra].concat())
}

async fn https_vault(tls: &TlsIdentity) -> FakeVault {
    let fake = FakeVault::start_tls(TOKEN, Version::V1_18, tls).await;
    fake.add(month(2026, 11), Activity::entity("a", mid(month(2026, 11))));
    fake
}

fn item(url: &str, extra: &str) -> String {
    format!(
        "  - name: v\n    kind: vault_client_activity\n    address: {url}\n    months: 1\n    roll_off_months: 1\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_ca_from_vault_cacert_or_the_spec_is_trusted() {
    let tls = TlsIdentity::generate();
    let fake = https_vault(&tls).await;
    let ws = Workspace::new();
    let ca = ws.path().join("ca.pem");
    std::fs::write(&ca, &tls.ca_pem).unwrap();

    let spec = ws.spec(&[item(&fake.https_url(), "")]);
    let ran = ws
        .rollcall(
            "run",
            &spec,
            &env(&[("VAULT_CACERT", ca.to_str().unwrap())]),
        )
        .await;
    assert_eq!(ran.code, 0, "{ran:#?}");

    let ws2 = Workspace::new();
    let spec = ws2.spec(&[item(
        &fake.https_url(),
        &format!("    ca_cert: {}\n", ca.display()),
    )]);
    let ran = ws2.rollcall("run", &spec, &env(&[])).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    assert_eq!(fake.log.count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_ca_fails_clearly_without_reaching_the_api() {
    let tls = TlsIdentity::generate();
    let other = TlsIdentity::generate();
    let fake = https_vault(&tls).await;
    let ws = Workspace::new();
    let wrong_ca = ws.path().join("other-ca.pem");
    std::fs::write(&wrong_ca, &other.ca_pem).unwrap();
    for vars in [
        env(&[]),
        env(&[("VAULT_CACERT", wrong_ca.to_str().unwrap())]),
    ] {
        let spec = ws.spec(&[item(&fake.https_url(), "")]);
        let ran = ws.rollcall("run", &spec, &vars).await;
        assert_eq!(ran.code, 1, "{ran:#?}");
        let error = ws.source_error(0);
        assert!(error.contains("certificate"), "{error}");
        assert!(
            error.contains("ca_cert") || error.contains("VAULT_CACERT"),
            "{error}"
        );
        std::fs::remove_dir_all(ws.reports()).unwrap();
    }
    assert_eq!(fake.log.count(), 0, "no request got through");
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_a_remote_host_is_refused_unless_allowed() {
    let ws = Workspace::new();
    let spec = ws.spec(&[item("http://vault.internal.example:8200", "")]);
    let ran = ws.rollcall("validate", &spec, &env(&[])).await;
    assert_eq!(ran.code, 2, "{ran:#?}");
    assert_contains_all(&ran.stderr, &["plain http", "allow_http"]);
    assert!(ran.stderr.contains("job.yaml:7:5"), "{}", ran.stderr);

    let spec = ws.spec(&[item(
        "http://vault.internal.example:8200",
        "    allow_http: true\n",
    )]);
    let ran = ws.rollcall("validate", &spec, &env(&[])).await;
    assert_eq!(ran.code, 0, "{ran:#?}");

    let ran = rollcall(
        &[
            "validate",
            "--config",
            ws.spec(&[String::from(
                "  - name: v\n    kind: vault_client_activity\n",
            )])
            .to_str()
            .unwrap(),
        ],
        &env(&[("VAULT_ADDR", "http://vault.internal.example:8200")]),
        ws.path(),
    )
    .await;
    assert_eq!(
        ran.code, 2,
        "the environment's address is checked too: {ran:#?}"
    );
}
