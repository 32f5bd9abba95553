//! `config.example.yaml` documents every key; it must stay valid.

#[tokio::test(flavor = "multi_thread")]
async fn the_example_spec_validates() {
    let ws = crate::support::Workspace::new();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml");
    let ca = ws.path().join("ca.pem");
    // A real certificate is needed where the example names a CA bundle.
    std::fs::write(&ca, include_str!("../data/test-ca.pem")).unwrap();
    let text = std::fs::read_to_string(&example)
        .unwrap()
        .replace("/etc/rollcall/vault-ca.pem", ca.to_str().unwrap());
    let spec = ws.spec_text(&text);
    let env = crate::support::vars(&[
        ("VAULT_TOKEN", "dummy"),
        ("TREND_VISION_ONE_TOKEN", "dummy"),
        ("LD_API_TOKEN", "dummy"),
    ]);
    let ran = ws.rollcall("validate", &spec, &env).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
}
