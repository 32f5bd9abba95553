//! A real S3-compatible server for the tests: `s3s-fs` 0.14.1 (installed by `scripts/test.sh`
//! into `.tools/bin`, or named by `S3S_FS`), which verifies SigV4 signatures, on a free loopback
//! port with one bucket.

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "rollcall-test-access";
pub const SECRET_KEY: &str = "rollcall-test-secret-5d2f8e";
pub const BUCKET: &str = "reports";

/// An s3s-fs process on a free loopback port, with one bucket; killed on drop.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    _data: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3s_fs_binary() -> PathBuf {
    if let Ok(path) = std::env::var("S3S_FS") {
        return PathBuf::from(path);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/s3s-fs");
    assert!(
        local.exists(),
        "s3s-fs is not installed: run scripts/test.sh (it installs s3s-fs 0.14.1 into .tools/bin), or set S3S_FS"
    );
    local
}

pub fn start_s3() -> S3Server {
    let data = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(data.path().join(BUCKET)).expect("bucket folder");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = std::process::Command::new(s3s_fs_binary())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start s3s-fs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        _data: data,
    }
}

pub fn store(s3: &S3Server, secret: &str) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_endpoint(&s3.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(secret)
            .build()
            .expect("s3 store"),
    )
}

pub async fn get(store: &Arc<dyn ObjectStore>, key: &str) -> Option<String> {
    let result = store.get(&ObjectPath::from(key)).await.ok()?;
    let bytes = result.bytes().await.ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

impl S3Server {
    /// The spec's `output:` block for `s3://reports/{prefix}` on this server.
    pub fn output_yaml(&self, prefix: &str) -> String {
        format!(
            "output:\n  url: s3://{BUCKET}/{prefix}\n  options:\n    endpoint: {}\n    region: us-east-1\n    allow_http: true\n",
            self.endpoint
        )
    }

    /// The run's S3 credentials, with `secret` as the secret key.
    pub fn env(secret: &str) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), secret.into()),
        ]
    }

    /// Every object in the bucket, key → contents.
    pub async fn objects(&self) -> std::collections::BTreeMap<String, String> {
        use futures::TryStreamExt;
        let store = store(self, SECRET_KEY);
        let listed: Vec<_> = store
            .list(None)
            .try_collect()
            .await
            .expect("list the bucket");
        let mut out = std::collections::BTreeMap::new();
        for meta in listed {
            let key = meta.location.to_string();
            let text = get(&store, &key).await.unwrap_or_default();
            out.insert(key, text);
        }
        out
    }
}
