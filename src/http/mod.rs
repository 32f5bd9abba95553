//! The one HTTP client every source uses: timeouts, TLS roots, retry classification, backoff with
//! full jitter, `Retry-After` and rate-limit headers, and the client-side request budget.
//!
//! No source writes its own retry loop: a source builds a [`Call`] and either takes the response
//! ([`HttpClient::send`]) or hands a body consumer to [`HttpClient::fetch`], which also retries
//! when the body breaks off mid-stream.

mod body;
pub mod ratelimit;
pub mod retry;
mod spec;

pub use body::{describe_body, html_title, read_json, read_limited, read_secret_json, snippet};

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use std::future::Future;
use std::path::Path;
use std::time::{Duration, SystemTime};

pub use ratelimit::{Budget, InFlight, LimiterStats, RateLimiter};
pub use retry::{RateLimitPatience, RetryPolicy, Verdict};
pub use spec::HttpSpec;

/// Most of an error body kept for interpretation; enough for any JSON error document.
pub(crate) const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Characters of an error body shown in messages.
const SNIPPET_CHARS: usize = 300;

/// Why a request did not produce a usable response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "{method} {path} answered HTTP {status} after {attempts} attempt(s): {}",
        describe_body(body)
    )]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        /// The start of the body (up to 64 KiB), for callers that interpret error documents.
        body: String,
        attempts: u32,
    },
    #[error("{method} {path} failed after {attempts} attempt(s): {cause}")]
    Transport {
        method: Method,
        path: String,
        cause: String,
        attempts: u32,
    },
    #[error(
        "{method} {path}: the server asked to wait {}s, longer than http.backoff_max ({}s); raise it or run later",
        wait.as_secs(), max.as_secs()
    )]
    WaitTooLong {
        method: Method,
        path: String,
        wait: Duration,
        max: Duration,
    },
    #[error("{method} {path}: {message}")]
    InvalidBody {
        method: Method,
        path: String,
        message: String,
    },
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

impl HttpError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's TLS certificate was not trusted (no retry can fix that).
    pub fn is_certificate_problem(&self) -> bool {
        matches!(self, HttpError::Transport { cause, .. } if is_certificate_problem(cause))
    }
}

/// How a body consumer failed.
#[derive(Debug)]
pub enum BodyError {
    /// The connection broke while reading; the whole call is retried.
    Transport(reqwest::Error),
    /// The data is wrong; retrying will not help.
    Invalid(String),
}

impl From<reqwest::Error> for BodyError {
    fn from(e: reqwest::Error) -> Self {
        BodyError::Transport(e)
    }
}

/// Decides on a non-success answer by its status and body; `None` falls back to the default
/// classification. Used for APIs that put transient conditions in 4xx bodies.
pub type Classifier = fn(StatusCode, &str) -> Option<Verdict>;

/// One logical request, retried as a unit.
pub struct Call<'a> {
    /// Source name, for logs.
    pub source: &'a str,
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    /// Overrides the client's request timeout (a slow export, say).
    pub timeout: Option<Duration>,
    pub limiter: Option<&'a RateLimiter>,
    pub classify: Option<Classifier>,
    /// A JSON request body, sent again on each retry. It may carry credentials (a login), so
    /// `Call` has no `Debug` and the body never reaches a log or an error.
    pub json_body: Option<Bytes>,
    /// How long to wait after a 429; the HTTP spec's backoff when the kind sets none.
    pub patience: Option<RateLimitPatience>,
    /// The answers may echo what was sent (a login's credentials): a retry's log line names
    /// the status only, never the body.
    pub quiet_answers: bool,
}

impl<'a> Call<'a> {
    pub fn get(source: &'a str, url: Url) -> Self {
        Self {
            source,
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            timeout: None,
            limiter: None,
            classify: None,
            json_body: None,
            patience: None,
            quiet_answers: false,
        }
    }

    pub fn post(source: &'a str, url: Url) -> Self {
        Self {
            method: Method::POST,
            ..Self::get(source, url)
        }
    }

    /// Sends `body` (JSON, already serialised) with `Content-Type: application/json`.
    pub fn json(mut self, body: Bytes) -> Self {
        self.json_body = Some(body);
        self
    }

    pub fn header(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn limiter(mut self, limiter: &'a RateLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    pub fn classify(mut self, classify: Classifier) -> Self {
        self.classify = Some(classify);
        self
    }

    /// See [`Call::quiet_answers`].
    pub fn quiet_answers(mut self) -> Self {
        self.quiet_answers = true;
        self
    }

    /// Waits after a 429 that fit the API's rate-limit window.
    pub fn patience(mut self, patience: RateLimitPatience) -> Self {
        self.patience = Some(patience);
        self
    }
}

/// A shared reqwest client plus the retry policy. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    policy: RetryPolicy,
}

/// Default time for one request, start to last body byte, unless a call says otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

impl HttpClient {
    /// Builds the client; `extra_ca` is a PEM bundle trusted in addition to the system roots.
    pub fn new(spec: &HttpSpec, extra_ca: Option<&Path>) -> Result<Self, HttpError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("rollcall/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(spec.connect_timeout)
            .timeout(DEFAULT_REQUEST_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            // A redirect could carry credentials to another host; no API used here redirects.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = extra_ca {
            let pem = std::fs::read(path).map_err(|e| {
                HttpError::Setup(format!("cannot read CA bundle {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                HttpError::Setup(format!(
                    "CA bundle {} is not valid PEM: {e}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(HttpError::Setup(format!(
                    "CA bundle {} holds no certificate",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| HttpError::Setup(error_chain(&e)))?;
        Ok(Self {
            client,
            policy: RetryPolicy {
                max_retries: spec.max_retries,
                base: spec.backoff_base,
                max: spec.backoff_max,
            },
        })
    }

    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The underlying client, for callers that are not API sources (the metrics push): same
    /// TLS roots, user agent and connection pool, none of the sources' retry policy.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the call, retrying transient failures; returns the first successful response.
    pub async fn send(&self, call: &Call<'_>) -> Result<reqwest::Response, HttpError> {
        let mut retry = 0u32;
        loop {
            let attempts = retry + 1;
            let (wait, rate_limited) = match self.attempt(call).await {
                Attempt::Done(response) => return Ok(response),
                Attempt::Failed(error) => return Err(error.finish(call, attempts)),
                Attempt::Again { error, server_wait } => {
                    let rate_limited = error.is_rate_limit();
                    if retry >= self.policy.max_retries {
                        return Err(error.finish(call, attempts));
                    }
                    if let Some(wait) = server_wait.filter(|w| *w > self.policy.max) {
                        return Err(HttpError::WaitTooLong {
                            method: call.method.clone(),
                            path: call.url.path().to_owned(),
                            wait,
                            max: self.policy.max,
                        });
                    }
                    let wait = if rate_limited {
                        call.patience
                            .unwrap_or(RateLimitPatience {
                                floor: self.policy.base,
                                ceiling: self.policy.max,
                            })
                            .wait(retry, server_wait)
                    } else {
                        server_wait.unwrap_or_else(|| self.policy.backoff(retry))
                    };
                    tracing::warn!(
                        source = call.source,
                        path = call.url.path(),
                        attempt = attempts,
                        wait_ms = wait.as_millis() as u64,
                        reason = %error.describe(call.quiet_answers),
                        "Retrying request."
                    );
                    (wait, rate_limited)
                }
            };
            match call.limiter {
                // A rate limit is shared: everyone using the limiter waits, not just this request.
                Some(limiter) if rate_limited => limiter.pause_for(wait),
                _ => tokio::time::sleep(wait).await,
            }
            retry += 1;
        }
    }

    /// Sends the call and gives the response to `consume`; when the body breaks off mid-stream
    /// the whole call is retried (the consumer starts afresh), within the same retry budget.
    pub async fn fetch<T, F, Fut>(&self, call: &Call<'_>, mut consume: F) -> Result<T, HttpError>
    where
        F: FnMut(reqwest::Response) -> Fut,
        Fut: Future<Output = Result<T, BodyError>>,
    {
        let mut retry = 0u32;
        loop {
            let response = self.send(call).await?;
            match consume(response).await {
                Ok(value) => return Ok(value),
                Err(BodyError::Invalid(message)) => {
                    return Err(HttpError::InvalidBody {
                        method: call.method.clone(),
                        path: call.url.path().to_owned(),
                        message,
                    });
                }
                Err(BodyError::Transport(e)) => {
                    if retry >= self.policy.max_retries {
                        return Err(HttpError::Transport {
                            method: call.method.clone(),
                            path: call.url.path().to_owned(),
                            cause: format!("body broke off: {}", error_chain(&e)),
                            attempts: retry + 1,
                        });
                    }
                    let wait = self.policy.backoff(retry);
                    tracing::warn!(
                        source = call.source,
                        path = call.url.path(),
                        wait_ms = wait.as_millis() as u64,
                        reason = %error_chain(&e),
                        "Response body broke off; retrying the request."
                    );
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
            }
        }
    }

    async fn attempt(&self, call: &Call<'_>) -> Attempt {
        // Held until the answer's rate-limit headers are observed: until then this request
        // counts against the quota the server reports to concurrent requests.
        let in_flight = match call.limiter {
            Some(limiter) => Some(limiter.begin().await),
            None => None,
        };
        let mut request = self
            .client
            .request(call.method.clone(), call.url.clone())
            .headers(call.headers.clone());
        if let Some(timeout) = call.timeout {
            request = request.timeout(timeout);
        }
        if let Some(body) = &call.json_body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let chain = error_chain(&e);
                if is_certificate_problem(&chain) {
                    // An untrusted certificate will not become trusted on retry.
                    return Attempt::Failed(Failure::Transport(format!(
                        "{chain}; the server's TLS certificate is not trusted: if it comes from an internal CA, give that CA's PEM bundle as `ca_cert` on the source (VAULT_CACERT for Vault)"
                    )));
                }
                let failure = Failure::Transport(chain);
                return if retry::is_transient(&e) {
                    Attempt::Again {
                        error: failure,
                        server_wait: None,
                    }
                } else {
                    Attempt::Failed(failure)
                };
            }
        };
        let now = SystemTime::now();
        if let Some(limiter) = call.limiter
            && let Some(pause) = limiter.observe(response.headers(), now)
        {
            tracing::info!(
                source = call.source,
                wait_ms = pause.as_millis() as u64,
                "Rate limit exhausted; pausing all requests until it resets."
            );
        }
        drop(in_flight);
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS
            && let Some(limiter) = call.limiter
        {
            limiter.record_rate_limited();
        }
        if status.is_success() {
            return Attempt::Done(response);
        }
        let server_wait = retry::server_wait(response.headers(), now);
        let body = match read_limited(response, ERROR_BODY_LIMIT).await {
            Ok(body) => body,
            Err(e) => {
                return Attempt::Again {
                    error: Failure::Transport(error_chain(&e)),
                    server_wait: None,
                };
            }
        };
        let verdict = call
            .classify
            .and_then(|classify| classify(status, &body))
            .unwrap_or_else(|| retry::classify_status(status));
        let failure = Failure::Status { status, body };
        match verdict {
            Verdict::Retry => Attempt::Again {
                error: failure,
                // A server's wait matters for rate limits; for other retries back off ourselves.
                server_wait: server_wait.filter(|_| {
                    status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::SERVICE_UNAVAILABLE
                }),
            },
            Verdict::Success | Verdict::Fail => Attempt::Failed(failure),
        }
    }
}

enum Attempt {
    Done(reqwest::Response),
    Failed(Failure),
    Again {
        error: Failure,
        server_wait: Option<Duration>,
    },
}

enum Failure {
    Status { status: StatusCode, body: String },
    Transport(String),
}

impl Failure {
    fn finish(self, call: &Call<'_>, attempts: u32) -> HttpError {
        let method = call.method.clone();
        let path = call.url.path().to_owned();
        match self {
            Failure::Status { status, body } => HttpError::Status {
                method,
                path,
                status,
                body,
                attempts,
            },
            Failure::Transport(cause) => HttpError::Transport {
                method,
                path,
                cause,
                attempts,
            },
        }
    }

    fn is_rate_limit(&self) -> bool {
        matches!(self, Failure::Status { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS)
    }

    fn describe(&self, quiet: bool) -> String {
        match self {
            Failure::Status { status, .. } if quiet => format!("HTTP {status}"),
            Failure::Status { status, body } => format!("HTTP {status}: {}", snippet(body)),
            Failure::Transport(cause) => cause.clone(),
        }
    }
}

/// An error and its causes on one line, without the URL (which could carry a query string).
pub fn error_chain(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the response body failed"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn is_certificate_problem(chain: &str) -> bool {
    let lower = chain.to_ascii_lowercase();
    lower.contains("certificate") || lower.contains("unknownissuer")
}

/// Joins a relative path onto a base URL, keeping the base's own path prefix. Empty segments
/// are dropped on both sides, so whatever slashes the address ends with, exactly one `/`
/// separates each segment: Vault 2.0 (and 1.19.16+, 1.20.10+, 1.21.5+) refuses a path with
/// `//`. `.` and `..` never reach here: URL parsing resolves them in the base, and the paths
/// joined on are the code's own constants and validated names.
pub fn join_path(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let segments: Vec<&str> = base
        .path()
        .split('/')
        .chain(path.split('/'))
        .filter(|segment| !segment.is_empty())
        .collect();
    url.set_path(&format!("/{}", segments.join("/")));
    url
}

#[cfg(test)]
mod tests;
