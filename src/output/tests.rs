use super::*;
use object_store::memory::InMemory;

// Here rather than in mod.rs: it exists for tests only, and other modules' tests use it too.
impl Output {
    /// An output over `store` at `memory://`, with the default key templates and the values of
    /// job `nightly`, date `2026-11-22`, run `r1`, unsharded: for the unit tests of what writes
    /// reports.
    pub(crate) fn for_tests(store: Arc<dyn ObjectStore>) -> Self {
        Self::with_store(
            store,
            "memory://",
            &OutputSpec::default(),
            KeyValues {
                job: "nightly".into(),
                date: "2026-11-22".into(),
                run_id: "r1".into(),
                shard: "all".into(),
            },
        )
    }
}

#[test]
fn urls_parse_to_locations() {
    assert_eq!(
        OutputLocation::parse("s3://bucket/a/b/").unwrap(),
        OutputLocation::S3 {
            bucket: "bucket".into(),
            prefix: "a/b".into()
        }
    );
    assert_eq!(
        OutputLocation::parse("file:///tmp/x").unwrap(),
        OutputLocation::Local("/tmp/x".into())
    );
    assert_eq!(
        OutputLocation::parse("./reports").unwrap(),
        OutputLocation::Local("./reports".into())
    );
    assert!(OutputLocation::parse("s3:///x").is_err());
    assert!(OutputLocation::parse("gs://b").is_err());
}

#[test]
fn keys_follow_the_templates() {
    let out = Output::for_tests(Arc::new(InMemory::new()));
    assert_eq!(
        out.report_key("vault", "vault-forecast"),
        "nightly/2026-11-22/r1/vault-forecast.csv"
    );
    assert_eq!(out.manifest_key(), "nightly/2026-11-22/r1/manifest.json");
    assert_eq!(
        out.summary_key("html"),
        "nightly/2026-11-22/r1/summary.html"
    );
}

#[tokio::test]
async fn never_overwrites_and_aborts_leave_nothing() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let out = Output::for_tests(store.clone()).with_part_size(MIN_PART_SIZE);
    out.put_new("a.csv", b"one".to_vec()).await.unwrap();
    let err = out.put_new("a.csv", b"two".to_vec()).await.unwrap_err();
    assert!(matches!(err, OutputError::Exists { .. }), "{err}");
    let got = store
        .get(&ObjectPath::from("a.csv"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&got[..], b"one");

    // A large object goes multipart; aborting it leaves nothing behind.
    let mut writer = out.writer("big.csv".into());
    writer.write(vec![b'x'; MIN_PART_SIZE + 10]).await.unwrap();
    writer.abort().await;
    assert!(store.head(&ObjectPath::from("big.csv")).await.is_err());

    let mut writer = out.writer("big.csv".into());
    writer.write(vec![b'x'; MIN_PART_SIZE + 10]).await.unwrap();
    writer.write(vec![b'y'; 10]).await.unwrap();
    writer.finish().await.unwrap();
    let meta = store.head(&ObjectPath::from("big.csv")).await.unwrap();
    assert_eq!(meta.size as usize, MIN_PART_SIZE + 20);
    let mut writer = out.writer("big.csv".into());
    let err = writer.write(vec![b'x'; MIN_PART_SIZE]).await.unwrap_err();
    assert!(matches!(err, OutputError::Exists { .. }), "{err}");
}

#[test]
fn an_s3_error_keeps_its_code_and_message_but_not_the_signed_request() {
    let text = "Generic S3 error: Error performing PUT https://bucket.s3.amazonaws.com/a.csv in 31ms - Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><AWSAccessKeyId>ASIAEXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n20261201T000000Z</StringToSign><CanonicalRequest>PUT\n/a.csv\n\nhost:bucket.s3.amazonaws.com\nx-amz-security-token:IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN\n</CanonicalRequest><RequestId>R1</RequestId></Error>";
    let kept = store_error_text(text);
    assert!(kept.contains("403 Forbidden"), "{kept}");
    assert!(kept.contains("Code: SignatureDoesNotMatch."), "{kept}");
    assert!(
        kept.contains("Message: The request signature we calculated"),
        "{kept}"
    );
    for secret in [
        "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN",
        "CanonicalRequest",
        "StringToSign",
    ] {
        assert!(!kept.contains(secret), "{secret} in {kept}");
    }
    // Not XML: kept whole.
    assert_eq!(store_error_text("connection refused"), "connection refused");
}
