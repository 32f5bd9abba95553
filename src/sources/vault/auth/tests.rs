use super::*;

fn spec(yaml: &str) -> Result<AuthSpec, String> {
    serde_yaml::from_str(yaml).map_err(|e| e.to_string())
}

#[test]
fn each_method_reads_with_its_defaults() {
    assert_eq!(spec("method: token").unwrap(), AuthSpec::Token {});
    assert_eq!(
        spec("method: kubernetes\nrole: rollcall").unwrap(),
        AuthSpec::Kubernetes {
            role: "rollcall".into(),
            mount: "kubernetes".into(),
            token_file: DEFAULT_SERVICE_ACCOUNT_TOKEN.into(),
            namespace: None,
        }
    );
    assert_eq!(
        spec("method: jwt\nrole: ci\ntoken_file: /run/jwt").unwrap(),
        AuthSpec::Jwt {
            role: "ci".into(),
            mount: "jwt".into(),
            token_file: "/run/jwt".into(),
            namespace: None,
        }
    );
    assert_eq!(
        spec("method: approle\nrole_id_env: RID\nsecret_id_env: SID\nmount: ar").unwrap(),
        AuthSpec::Approle {
            role_id_env: "RID".into(),
            secret_id_env: "SID".into(),
            mount: "ar".into(),
            namespace: None,
        }
    );
}

#[test]
fn unknown_keys_methods_and_missing_fields_are_refused() {
    let typo = spec("method: kubernetes\nrole: r\nrolee: x").unwrap_err();
    assert!(typo.contains("rolee"), "{typo}");
    let method = spec("method: ldap").unwrap_err();
    assert!(
        method.contains("ldap") && method.contains("kubernetes"),
        "{method}"
    );
    let jwt = spec("method: jwt\nrole: r").unwrap_err();
    assert!(jwt.contains("token_file"), "{jwt}");
    let extra = spec("method: token\nrole: r").unwrap_err();
    assert!(extra.contains("role"), "{extra}");
}

#[test]
fn secrets_stay_out_of_debug_and_are_redacted_from_messages() {
    let env = Environment::from_pairs([
        ("RID", "role-id-4f7c"),
        ("SID", "secret-id-very-secret-9a1b"),
    ]);
    let login = spec("method: approle\nrole_id_env: RID\nsecret_id_env: SID")
        .unwrap()
        .prepare("v", &env, Some("team"))
        .unwrap()
        .unwrap();
    let shown = format!("{login:?}");
    assert!(
        !shown.contains("4f7c") && !shown.contains("9a1b"),
        "{shown}"
    );
    assert_eq!(login.namespace.as_deref(), Some("team"));
    let secrets = [Secret::new("secret-id-very-secret-9a1b")];
    assert_eq!(
        redact("echo secret-id-very-secret-9a1b back", &secrets),
        "echo [redacted] back"
    );
}

#[test]
fn a_missing_token_file_is_a_configuration_error_naming_it() {
    let err = spec("method: jwt\nrole: r\ntoken_file: /nonexistent/rollcall-jwt")
        .unwrap()
        .prepare("v", &Environment::default(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/nonexistent/rollcall-jwt") && err.contains("auth.token_file"),
        "{err}"
    );
}

#[test]
fn vault_multi_errors_read_as_one_line() {
    assert_eq!(
        vault_errors("{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}"),
        "permission denied"
    );
    assert_eq!(
        vault_errors("{\"errors\":[\"role \\\"x\\\" could not be found\"]}"),
        "role \"x\" could not be found"
    );
    assert_eq!(vault_errors("<html>"), "<html>");
}

#[test]
fn sources_with_the_same_login_share_one_session() {
    let env = Environment::from_pairs([("RID", "r-1234"), ("SID", "s-1234")]);
    let http = HttpClient::new(&crate::http::HttpSpec::default(), None).unwrap();
    let login = |ns: Option<&str>| {
        spec("method: approle\nrole_id_env: RID\nsecret_id_env: SID")
            .unwrap()
            .prepare("v", &env, ns)
            .unwrap()
            .unwrap()
    };
    let logins = Logins::default();
    let a = Url::parse("https://vault.example:8200").unwrap();
    let a_slash = Url::parse("https://vault.example:8200/").unwrap();
    let b = Url::parse("https://other.example:8200").unwrap();
    let first = logins.session(&a, None, &http, login(None));
    let same = logins.session(&a_slash, None, &http, login(None));
    let other_ns = logins.session(&a, None, &http, login(Some("team")));
    let other_host = logins.session(&b, None, &http, login(None));
    assert!(Arc::ptr_eq(&first, &same));
    assert!(!Arc::ptr_eq(&first, &other_ns));
    assert!(!Arc::ptr_eq(&first, &other_host));
    assert_eq!(logins.sessions.lock().unwrap().len(), 3);
}

#[test]
fn a_login_answer_reads_the_token_and_what_is_logged() {
    let answer: LoginAnswer = serde_json::from_str(
        r#"{"request_id":"r","data":null,"auth":{"client_token":"s.x","accessor":"a","policies":["default","rollcall"],"lease_duration":600,"renewable":true}}"#,
    )
    .unwrap();
    let auth = answer.auth.unwrap();
    assert_eq!(auth.client_token, "s.x");
    assert_eq!(auth.policies, ["default", "rollcall"]);
    assert_eq!(auth.lease_duration, 600);
    let none: LoginAnswer = serde_json::from_str(r#"{"auth":null}"#).unwrap();
    assert!(none.auth.is_none());
}

#[test]
fn a_login_answer_that_does_not_parse_is_never_quoted() {
    let env = Environment::from_pairs([("RID", "r-1234"), ("SID", "s-1234")]);
    let http = HttpClient::new(&crate::http::HttpSpec::default(), None).unwrap();
    let login = spec("method: approle\nrole_id_env: RID\nsecret_id_env: SID")
        .unwrap()
        .prepare("v", &env, None)
        .unwrap()
        .unwrap();
    let session = Logins::default().session(
        &Url::parse("https://vault.example:8200").unwrap(),
        None,
        &http,
        login,
    );
    let error = HttpError::InvalidBody {
        method: reqwest::Method::POST,
        path: "/v1/auth/approle/login".into(),
        message: "expected a Vault login answer; body starts `{\"auth\":{\"client_token\":\"s.issued-token\"`".into(),
    };
    let LoginFailure::Unavailable(message) = session.classify(&error, &[]) else {
        panic!("a malformed answer is not a refusal");
    };
    assert!(!message.contains("s.issued-token"), "{message}");
    assert!(message.contains("not a Vault login answer"), "{message}");
}
