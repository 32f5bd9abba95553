//! What every fake needs, whatever API it plays: a server on 127.0.0.1 (plain or TLS), a log of
//! the requests it saw, an in-flight count, one vocabulary for canned answers (the injected
//! faults), bodies that break off, and the OpenAPI check every request goes through.

use crate::openapi::{Contract, Violations};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The largest request body a fake reads for its checks; the real APIs refuse far smaller.
const MAX_REQUEST_BODY: usize = 1 << 20;

/// A fake server on 127.0.0.1; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    violations: Violations,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Serves `router` over plain HTTP; `violations` are the fake's [`Checker`]'s (or a fresh
    /// set for an API without a document).
    pub async fn start(router: Router, violations: Violations) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            violations,
            task,
        }
    }

    /// Serves HTTPS with the given PEM certificate chain and key.
    pub async fn start_tls(router: Router, violations: Violations, tls: &TlsIdentity) -> Self {
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
        Self {
            addr,
            violations,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Requests the vendor's OpenAPI document says the real API would refuse.
    pub fn violations(&self) -> Vec<String> {
        self.violations.all()
    }

    /// The violations so far, forgotten by the fake: for a caller that reports them itself.
    pub fn take_violations(&self) -> Vec<String> {
        self.violations.take()
    }

    /// Panics, listing them, if any request broke the vendor's OpenAPI document. A test that
    /// drove a fake calls this at its end (the fakes' `Drop` does too, outside a panic).
    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "requests the real API would refuse (its OpenAPI document says so):\n  {}",
            violations.join("\n  ")
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        // A violation fails the test that caused it even when the test forgot to ask, unless
        // the test is already failing (a second panic would abort and hide the first).
        if !std::thread::panicking() {
            self.assert_no_violations();
        }
    }
}

/// A fake's OpenAPI check: the vendor's document and the violations it found. The fake calls
/// [`Checker::check`] at the point of its flow where the real API validates a request (after
/// authentication and rate limiting, which refused requests go through too).
#[derive(Clone)]
pub struct Checker {
    contract: &'static Contract,
    violations: Violations,
}

impl Checker {
    pub fn new(contract: &'static Contract) -> Self {
        Self {
            contract,
            violations: Violations::default(),
        }
    }

    /// Where the violations go; the fake's [`Server`] asserts them empty when dropped.
    pub fn violations(&self) -> Violations {
        self.violations.clone()
    }

    /// `None` if the real API would take the request; otherwise the API's own refusal, with
    /// the violation recorded.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Response> {
        let problem = self
            .contract
            .check(method, path, query, headers, body)
            .err()?;
        self.violations.push(problem.clone());
        Some(self.contract.refusal(&problem))
    }

    /// Reads `request`'s body and checks the request against the contract: its parts, its
    /// body, and the API's refusal when the real API would not take it. A body too large for
    /// any of these APIs is refused at once (`Err`).
    pub async fn read_and_check(
        &self,
        request: axum::extract::Request,
    ) -> Result<(axum::http::request::Parts, bytes::Bytes, Option<Response>), Response> {
        let (parts, body) = request.into_parts();
        let body = read_body(body).await.map_err(|refusal| *refusal)?;
        let refusal = self.check(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &body,
        );
        Ok((parts, body, refusal))
    }

    /// Records a request for a path the API does not have; the fake answers it with the API's
    /// own 404.
    pub fn unknown_path(&self, method: &str, path: &str) {
        self.violations
            .push(format!("{method} {path}: no such path in the API"));
    }
}

/// Reads a request body for the check; a body too large for any of these APIs is refused.
async fn read_body(body: Body) -> Result<bytes::Bytes, Box<Response>> {
    axum::body::to_bytes(body, MAX_REQUEST_BODY)
        .await
        .map_err(|_| {
            let too_large = (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {MAX_REQUEST_BODY} bytes"),
            );
            Box::new(too_large.into_response())
        })
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

/// An answer served instead of the real one: the one vocabulary of injected faults. Each API
/// module has constructors for its own error shapes (`vault::error`, `launchdarkly::rate_limited`,
/// `vision_one::too_many`...); the ones here are shapes no API owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canned {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

impl Canned {
    /// A JSON body with `status`.
    pub fn json(status: u16, body: &str) -> Self {
        Self::text(status, body, "application/json")
    }

    /// Any body with its content type: a 200 that is not the documented page, say.
    pub fn text(status: u16, body: &str, content_type: &str) -> Self {
        Self {
            status,
            body: body.to_owned(),
            headers: vec![("content-type", content_type.to_owned())],
        }
    }

    /// An HTML error page, as a gateway or proxy in front of an API serves.
    pub fn html(status: u16, title: &str) -> Self {
        Self::text(
            status,
            &format!(
                "<!DOCTYPE html>\n<html><head><title>{title}</title></head><body><h1>{title}</h1><hr><center>nginx</center></body></html>\n"
            ),
            "text/html; charset=utf-8",
        )
    }

    /// Adds (or replaces) a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    pub fn response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.body).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, v);
            }
        }
        response
    }
}

/// `response` with only the first half of its body, then a connection reset: what a client sees
/// when a connection dies mid-transfer.
pub async fn break_body(response: Response) -> Response {
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
    let mut response =
        Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)));
    response.headers_mut().remove("content-length");
    response
}

/// Waits `latency` (nothing when zero), as a slow API would before answering.
pub async fn pause(latency: Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

/// What a fake saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Order in which answers were decided.
    pub seq: u64,
    /// Arrival, since the fake started.
    pub at: Duration,
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub raw_query: String,
    pub headers: BTreeMap<String, String>,
    /// The request body as text (empty for a GET).
    pub body: String,
    pub status: u16,
}

impl Seen {
    /// A request as it arrived; `status` is filled in by the fake once it has answered.
    pub fn of(method: &str, path: &str, raw_query: Option<&str>, headers: &HeaderMap) -> Self {
        Self {
            seq: 0,
            at: Duration::ZERO,
            method: method.to_owned(),
            path: path.to_owned(),
            query: parse_query(raw_query),
            raw_query: raw_query.unwrap_or("").to_owned(),
            headers: header_map(headers),
            body: String::new(),
            status: 0,
        }
    }
}

/// Requests seen by a fake, in the order they were logged.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn push(&self, seen: Seen) {
        lock(&self.0).push(seen);
    }

    pub fn all(&self) -> Vec<Seen> {
        lock(&self.0).clone()
    }

    pub fn count(&self) -> usize {
        lock(&self.0).len()
    }

    pub fn statuses(&self) -> Vec<u16> {
        self.all().iter().map(|s| s.status).collect()
    }
}

/// How many requests a fake is answering now, and the most it ever answered at once.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    now: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl InFlight {
    /// Counts one request in until the guard drops; returns how many are in flight with it.
    pub fn enter(&self) -> (usize, InFlightGuard) {
        let running = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(running, Ordering::SeqCst);
        (running, InFlightGuard(self.now.clone()))
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// One request counted in flight; counted out when dropped.
pub struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn parse_query(raw: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

pub fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
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

/// A fake's state stays usable after a test panicked while holding it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
