//! Fake APIs on loopback, shared by the integration tests, the demo and the benchmarks, plus
//! helpers to drive the real binary.
//!
//! Each fake is faithful to `../shared/reference/<source>.md`: exact paths, headers, status
//! codes, bodies, pagination and rate limits, including the nasty cases. A fake kinder than the
//! real API is a defect.

#![allow(dead_code, unused_macros, unused_imports)]

pub mod launchdarkly;
pub mod matrix;
pub mod vault;
pub mod vision_one;

use axum::Router;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A fake server on 127.0.0.1; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(router: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, task }
    }

    /// Serves HTTPS with the given PEM certificate chain and key.
    pub async fn start_tls(router: Router, tls: &TlsIdentity) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(
            tls.cert_pem.clone().into_bytes(),
            tls.key_pem.clone().into_bytes(),
        )
        .await
        .expect("tls config");
        let task = tokio::spawn(async move {
            let _ = axum_server::from_tcp_rustls(listener, config)
                .serve(router.into_make_service())
                .await;
        });
        Self { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A test CA and a server certificate it signed for 127.0.0.1 and localhost.
pub struct TlsIdentity {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TlsIdentity {
    pub fn generate() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "rollcall test CA");
        let ca = ca_params.self_signed(&ca_key).expect("ca cert");
        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
        Self {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `response` with only the first half of its body, then a connection reset: what a client sees
/// when a connection dies mid-transfer.
pub async fn break_body(response: axum::response::Response) -> axum::response::Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fake: connection reset mid-body",
        )),
    ];
    let mut response = axum::response::Response::from_parts(
        parts,
        axum::body::Body::from_stream(futures::stream::iter(chunks)),
    );
    response.headers_mut().remove("content-length");
    response
}

/// A canned answer (status, body, headers), as every fake serves for injected faults.
pub fn canned(
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    for (name, value) in headers {
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// What a fake saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub raw_query: String,
    pub headers: BTreeMap<String, String>,
    pub status: u16,
}

/// Requests seen by a fake, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn push(&self, seen: Seen) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(seen);
    }

    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn count(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn statuses(&self) -> Vec<u16> {
        self.all().iter().map(|s| s.status).collect()
    }
}

pub fn parse_query(raw: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

pub fn header_map(headers: &axum::http::HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Result of one run of the real binary.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs the real `rollcall` binary with exactly `env` (nothing inherited but PATH and HOME).
pub async fn rollcall(args: &[&str], env: &[(String, String)], cwd: &Path) -> Ran {
    let mut command = tokio::process::Command::new(binary());
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ROLLCALL_LOG_FORMAT", "json");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().await.expect("run rollcall");
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs the real binary like [`rollcall`] and also reports its peak resident memory (KiB), read
/// from `/proc/<pid>/status` while it runs; for benchmarks.
pub async fn rollcall_measured(args: &[&str], env: &[(String, String)], cwd: &Path) -> (Ran, u64) {
    let mut command = tokio::process::Command::new(binary());
    command
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ROLLCALL_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().expect("run rollcall");
    let status_file = child.id().map(|pid| format!("/proc/{pid}/status"));
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let poller = {
        let peak = peak.clone();
        tokio::spawn(async move {
            let Some(path) = status_file else { return };
            while let Ok(text) = tokio::fs::read_to_string(&path).await {
                let hwm = text
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
                    .unwrap_or(0);
                peak.fetch_max(hwm, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
    };
    let output = child.wait_with_output().await.expect("wait for rollcall");
    poller.abort();
    let ran = Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    (ran, peak.load(std::sync::atomic::Ordering::SeqCst))
}

/// The real binary. Cargo tells integration tests and benchmarks where it is; the demo example
/// never runs it as a process.
pub fn binary() -> PathBuf {
    option_env!("CARGO_BIN_EXE_rollcall")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/rollcall"))
}

/// A scratch folder holding a spec and the local output.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `job.yaml` with the given sources (YAML list items) and local output.
    pub fn spec(&self, sources: &[String]) -> PathBuf {
        self.spec_text(&format!(
            "job: test-job\noutput:\n  url: {}\nsources:\n{}",
            self.reports().display(),
            sources.join("")
        ))
    }

    pub fn spec_text(&self, text: &str) -> PathBuf {
        let path = self.path().join("job.yaml");
        std::fs::write(&path, text).expect("write spec");
        path
    }

    pub fn reports(&self) -> PathBuf {
        self.path().join("reports")
    }

    /// Every file under the output folder, relative path → contents.
    pub fn objects(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let root = self.reports();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path
                        .strip_prefix(&root)
                        .expect("under root")
                        .to_string_lossy()
                        .into_owned();
                    out.insert(rel, std::fs::read_to_string(&path).unwrap_or_default());
                }
            }
        }
        out
    }

    /// The one object whose key ends with `suffix`.
    pub fn object(&self, suffix: &str) -> Option<String> {
        let objects = self.objects();
        let mut hits = objects.iter().filter(|(k, _)| k.ends_with(suffix));
        let hit = hits.next().map(|(_, v)| v.clone());
        assert!(hits.next().is_none(), "several objects end with {suffix}");
        hit
    }

    pub fn manifest(&self) -> Option<serde_json::Value> {
        self.object("manifest.json")
            .map(|text| serde_json::from_str(&text).expect("manifest is JSON"))
    }
}

/// CSV text → rows of cells (header first), through a real CSV reader.
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("valid CSV").iter().map(str::to_owned).collect())
        .collect()
}
