//! The S3 output against a real S3-compatible server on loopback that verifies SigV4 signatures
//! (`s3s-fs` 0.14.1, installed by `scripts/test.sh` into `.tools/bin`).

use crate::support::s3::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY, get, start_s3, store};
use crate::support::{Workspace, assert_contains_all, csv_rows, vars};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use rollcall::output::{KeyValues, MIN_PART_SIZE, Output, OutputError, OutputSpec};
use rollcall_fakes::vault::{FakeVault, Version, month};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOKEN: &str = "hvs.s3-test-token";

async fn vault_with_data() -> FakeVault {
    let fake = FakeVault::start(TOKEN, Version::V1_18).await;
    fake.add_entities(month(2026, 11), "c", 3);
    fake
}

fn s3_spec(ws: &Workspace, s3: &S3Server, fake: &FakeVault) -> PathBuf {
    ws.spec_text(&format!(
        "job: s3-job\noutput:\n  url: s3://{BUCKET}/compliance\n  options:\n    endpoint: {}\n    region: us-east-1\n    allow_http: true\nsources:\n  - name: vault\n    kind: vault_client_activity\n    address: {}\n",
        s3.endpoint,
        fake.url()
    ))
}

fn env(secret: &str) -> Vec<(String, String)> {
    vars(&[
        ("VAULT_TOKEN", TOKEN),
        ("ROLLCALL_NOW", "2026-11-22T03:00:00Z"),
        ("ROLLCALL_RUN_ID", "run-1"),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", secret),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn run_writes_reports_and_manifest_to_s3_with_signed_requests() {
    let s3 = start_s3();
    let fake = vault_with_data().await;
    let ws = Workspace::new();
    let spec = s3_spec(&ws, &s3, &fake);
    let ran = ws.rollcall("run", &spec, &env(SECRET_KEY)).await;
    assert_eq!(ran.code, 0, "{ran:#?}");
    let store = store(&s3, SECRET_KEY);
    let base = "compliance/s3-job/2026-11-22/run-1";
    let report = get(&store, &format!("{base}/vault.csv"))
        .await
        .expect("report in S3");
    assert_eq!(csv_rows(&report).len(), 4);
    assert!(
        get(&store, &format!("{base}/vault-forecast.csv"))
            .await
            .is_some()
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &get(&store, &format!("{base}/manifest.json"))
            .await
            .expect("manifest"),
    )
    .unwrap();
    assert_eq!(manifest["status"], "succeeded");
    assert_eq!(
        manifest["sources"][0]["reports"][0]["key"],
        "s3-job/2026-11-22/run-1/vault.csv"
    );
    assert_eq!(
        manifest["sources"][0]["reports"][0]["bytes"],
        report.len() as u64
    );
    assert!(!ran.all_output().contains(SECRET_KEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_fails_clearly_and_writes_nothing() {
    let s3 = start_s3();
    let fake = vault_with_data().await;
    let ws = Workspace::new();
    let spec = s3_spec(&ws, &s3, &fake);
    let ran = ws.rollcall("run", &spec, &env("not-the-secret")).await;
    // Refused credentials: exit 2, which Kubernetes does not retry.
    assert_eq!(ran.code, 2, "{ran:#?}");
    let output = ran.all_output();
    assert_contains_all(&output, &["access denied", "AWS_SECRET_ACCESS_KEY"]);
    assert!(!output.contains("not-the-secret"), "{output}");
    let store = store(&s3, SECRET_KEY);
    let listed: Vec<_> = futures::StreamExt::collect::<Vec<_>>(store.list(None)).await;
    assert!(listed.is_empty(), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_report_is_never_overwritten() {
    let s3 = start_s3();
    let fake = vault_with_data().await;
    let store = store(&s3, SECRET_KEY);
    let key = "compliance/s3-job/2026-11-22/run-1/vault.csv";
    store
        .put(&ObjectPath::from(key), "precious\n".into())
        .await
        .unwrap();
    let ws = Workspace::new();
    let spec = s3_spec(&ws, &s3, &fake);
    let ran = ws.rollcall("run", &spec, &env(SECRET_KEY)).await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    assert_eq!(get(&store, key).await.as_deref(), Some("precious\n"));
    let manifest: serde_json::Value = serde_json::from_str(
        &get(&store, "compliance/s3-job/2026-11-22/run-1/manifest.json")
            .await
            .unwrap(),
    )
    .unwrap();
    let error = manifest["sources"][0]["error"].as_str().unwrap();
    assert_contains_all(error, &["already exists", "never overwrites"]);
    // The other report of the failed source was not left behind either.
    assert!(
        get(
            &store,
            "compliance/s3-job/2026-11-22/run-1/vault-forecast.csv"
        )
        .await
        .is_none()
    );
}

fn output(s3: &S3Server, secret: &str) -> Output {
    Output::with_store(
        store(s3, secret),
        "s3://reports",
        &OutputSpec::default(),
        KeyValues {
            job: "j".into(),
            date: "2026-11-22".into(),
            run_id: "r".into(),
            shard: "all".into(),
        },
    )
    .with_part_size(MIN_PART_SIZE)
}

#[tokio::test(flavor = "multi_thread")]
async fn multipart_upload_round_trips_and_an_aborted_one_leaves_nothing() {
    let s3 = start_s3();
    let out = output(&s3, SECRET_KEY);
    let mut expected = Vec::new();
    let mut writer = out.writer("big.csv".into());
    for i in 0..11u8 {
        let chunk = vec![b'a' + i; 1024 * 1024];
        expected.extend_from_slice(&chunk);
        writer.write(chunk).await.unwrap();
    }
    writer.finish().await.unwrap();
    let store = store(&s3, SECRET_KEY);
    let got = store
        .get(&ObjectPath::from("big.csv"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got[..] == expected[..], "content differs");

    let mut writer = out.writer("aborted.csv".into());
    writer.write(vec![b'x'; MIN_PART_SIZE + 1]).await.unwrap();
    writer.abort().await;
    assert!(store.head(&ObjectPath::from("aborted.csv")).await.is_err());

    // A multipart write over an existing key is refused before anything is uploaded.
    let mut writer = out.writer("big.csv".into());
    let err = writer
        .write(vec![b'y'; MIN_PART_SIZE + 1])
        .await
        .unwrap_err();
    assert!(matches!(err, OutputError::Exists { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_or_a_down_endpoint_fails_before_anything_is_fetched() {
    let s3 = start_s3();
    let fake = vault_with_data().await;
    let ws = Workspace::new();
    let spec = s3_spec(&ws, &s3, &fake);
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("s3://reports/", "s3://no-such-bucket/");
    let spec = ws.spec_text(&text);
    let ran = ws.rollcall("run", &spec, &env(SECRET_KEY)).await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    assert_contains_all(&ran.stderr, &["no-such-bucket", "bucket exists"]);
    assert_eq!(
        fake.log.count(),
        0,
        "nothing fetched for an output that cannot take it"
    );

    let endpoint = s3.endpoint.clone();
    drop(s3);
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.contains(&endpoint));
    let started = Instant::now();
    let ran = ws.rollcall("run", &spec, &env(SECRET_KEY)).await;
    assert_eq!(ran.code, 1, "{ran:#?}");
    assert!(
        ran.stderr.contains("endpoint is reachable"),
        "{}",
        ran.stderr
    );
    assert_eq!(fake.log.count(), 0);
    assert!(started.elapsed() < Duration::from_secs(120));
}
