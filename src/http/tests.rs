//! The retry loop against a real server on loopback.

use super::*;
use axum::Router;
use axum::http::StatusCode as AxStatus;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

async fn serve(router: Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Url::parse(&format!("http://{addr}/")).unwrap()
}

fn client(max_retries: u32) -> HttpClient {
    HttpClient::new(
        &HttpSpec {
            connect_timeout: Duration::from_secs(2),
            max_retries,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_secs(2),
        },
        None,
    )
    .unwrap()
}

/// Answers with `script[n]` on the n-th request, then 200 "ok".
fn scripted(script: Vec<(u16, &'static str, Option<&'static str>)>) -> (Router, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let script = Arc::new(script);
    let router = Router::new().route(
        "/x",
        get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
            let script = script.clone();
            async move {
                match script.get(n) {
                    Some((status, body, retry_after)) => {
                        let mut r = (AxStatus::from_u16(*status).unwrap(), *body).into_response();
                        if let Some(ra) = retry_after {
                            r.headers_mut().insert("retry-after", ra.parse().unwrap());
                        }
                        r
                    }
                    None => Response::new("ok".into()),
                }
            }
        }),
    );
    (router, hits)
}

#[tokio::test]
async fn transient_statuses_are_retried_until_success() {
    let (router, hits) = scripted(vec![
        (503, "down", None),
        (429, "slow", Some("0")),
        (500, "oops", None),
    ]);
    let base = serve(router).await;
    let response = client(5)
        .send(&Call::get("t", base.join("x").unwrap()))
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_name_path_status_and_body() {
    for status in [400u16, 401, 403, 404] {
        let (router, hits) = scripted(vec![(status, "{\"errors\":[\"permission denied\"]}", None)]);
        let base = serve(router).await;
        let err = client(5)
            .send(&Call::get("t", base.join("x").unwrap()))
            .await
            .unwrap_err();
        assert_eq!(hits.load(Ordering::SeqCst), 1, "{status}");
        let text = err.to_string();
        assert!(
            text.contains("/x")
                && text.contains(&status.to_string())
                && text.contains("permission denied"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn retries_are_bounded() {
    let (router, hits) = scripted(vec![(502, "bad gateway", None); 10]);
    let base = serve(router).await;
    let err = client(2)
        .send(&Call::get("t", base.join("x").unwrap()))
        .await
        .unwrap_err();
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert!(err.to_string().contains("3 attempt"), "{err}");
}

#[tokio::test]
async fn a_wait_longer_than_allowed_fails_fast() {
    let (router, hits) = scripted(vec![(429, "later", Some("3600"))]);
    let base = serve(router).await;
    let err = client(5)
        .send(&Call::get("t", base.join("x").unwrap()))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::WaitTooLong { .. }), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn classifier_can_retry_a_400_or_stop_a_500() {
    let (router, hits) = scripted(vec![(400, "existing export in progress", None)]);
    let base = serve(router).await;
    let call = Call::get("t", base.join("x").unwrap())
        .classify(|_, body| body.contains("in progress").then_some(Verdict::Retry));
    client(3).send(&call).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    let (router, hits) = scripted(vec![(500, "no data to export", None)]);
    let base = serve(router).await;
    let call = Call::get("t", base.join("x").unwrap())
        .classify(|_, body| body.contains("no data").then_some(Verdict::Fail));
    let err = client(3).send(&call).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = Url::parse(&format!("http://{addr}/x")).unwrap();
    let err = client(2).send(&Call::get("t", url)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("could not connect") && text.contains("3 attempt"),
        "{text}"
    );
}

#[test]
fn join_path_keeps_the_base_prefix() {
    let base = Url::parse("https://h/prefix/").unwrap();
    assert_eq!(join_path(&base, "/v1/x").as_str(), "https://h/prefix/v1/x");
    let base = Url::parse("https://h").unwrap();
    assert_eq!(join_path(&base, "v1/x").as_str(), "https://h/v1/x");
}

#[test]
fn join_path_puts_exactly_one_slash_between_segments() {
    for (address, joined) in [
        ("https://h:8200", "https://h:8200/v1/auth/kubernetes/login"),
        ("https://h:8200/", "https://h:8200/v1/auth/kubernetes/login"),
        (
            "https://h:8200//",
            "https://h:8200/v1/auth/kubernetes/login",
        ),
        (
            "https://h/vault",
            "https://h/vault/v1/auth/kubernetes/login",
        ),
        (
            "https://h/vault/",
            "https://h/vault/v1/auth/kubernetes/login",
        ),
        (
            "https://h//vault//",
            "https://h/vault/v1/auth/kubernetes/login",
        ),
        (
            "https://h/a/./b/../vault/",
            "https://h/a/vault/v1/auth/kubernetes/login",
        ),
    ] {
        let base = Url::parse(address).unwrap();
        for path in [
            "v1/auth/kubernetes/login",
            "/v1/auth/kubernetes/login",
            "v1//auth/kubernetes/login/",
        ] {
            let url = join_path(&base, path);
            assert_eq!(url.as_str(), joined, "{address} + {path}");
            let after_scheme = &url.as_str()["https://".len()..];
            assert!(!after_scheme.contains("//"), "{url}");
            assert!(
                !url.path().contains("/./") && !url.path().contains("/../"),
                "{url}"
            );
        }
    }
}

#[tokio::test]
async fn a_429_is_counted_on_the_shared_limiter_and_pauses_it() {
    let (router, hits) = scripted(vec![(429, "{\"code\":\"rate_limited\"}", Some("0"))]);
    let base = serve(router).await;
    let limiter = RateLimiter::new(None).with_reset_jitter(Duration::ZERO);
    let call = Call::get("t", base.join("x").unwrap()).limiter(&limiter);
    client(3).send(&call).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let stats = limiter.stats();
    assert_eq!(
        (stats.requests, stats.rate_limited, stats.pauses),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn read_json_names_what_came_instead() {
    #[derive(Debug, serde::Deserialize)]
    struct Page {
        #[allow(dead_code)]
        items: Vec<u32>,
    }
    let router = Router::new()
        .route("/ok", get(|| async { "{\"items\":[1,2]}" }))
        .route(
            "/html",
            get(|| async { "<!DOCTYPE html><html><head><title>Sign  in</title></head></html>" }),
        )
        .route("/cut", get(|| async { "{\"items\":[1," }))
        .route(
            "/big",
            get(|| async { format!("{{\"items\":[{}1]}}", "1,".repeat(1 << 20)) }),
        );
    let base = serve(router).await;
    let http = client(0);
    let read = |path: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let response = http
                .send(&Call::get("t", base.join(path).unwrap()))
                .await
                .unwrap();
            read_json::<Page>(response, 1 << 20, "a page").await
        }
    };
    assert_eq!(read("ok").await.unwrap().items.len(), 2);
    let message = |r: Result<Page, BodyError>| match r {
        Err(BodyError::Invalid(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        message(read("html").await),
        "expected a page, got an HTML page (`Sign in`), likely from a proxy, a gateway or the wrong server"
    );
    let cut = message(read("cut").await);
    assert!(
        cut.starts_with("expected a page: EOF") && cut.contains("`{\"items\":[1,`"),
        "{cut}"
    );
    assert_eq!(
        message(read("big").await),
        "expected a page, got more than 1 MiB"
    );
}

/// Trend's answer to a rate limit: 429 with no `Retry-After`, refused for the rest of its window.
#[tokio::test(start_paused = true)]
async fn a_429_without_headers_waits_the_kinds_doubling_schedule_not_seconds() {
    let (router, hits) = scripted(vec![
        (429, "{\"error\":{\"code\":\"TooManyRequests\"}}", None),
        (429, "{\"error\":{\"code\":\"TooManyRequests\"}}", None),
        (429, "{\"error\":{\"code\":\"TooManyRequests\"}}", None),
    ]);
    let base = serve(router).await;
    let patience = RateLimitPatience {
        floor: Duration::from_secs(10),
        ceiling: Duration::from_secs(60),
    };
    let start = tokio::time::Instant::now();
    let call = Call::get("t", base.join("x").unwrap()).patience(patience);
    client(5).send(&call).await.unwrap();
    let waited = start.elapsed();
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    // 10 s + 20 s + 40 s, each up to a tenth more.
    assert!(
        waited >= Duration::from_secs(70)
            && waited <= Duration::from_secs(77) + Duration::from_millis(500),
        "{waited:?}"
    );
}

/// A reset header already past must not turn into an immediate retry.
#[tokio::test(start_paused = true)]
async fn a_429_whose_reset_is_past_still_waits_the_floor() {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let router = Router::new().route(
        "/x",
        get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    let mut r = (AxStatus::TOO_MANY_REQUESTS, "{}").into_response();
                    // Epoch milliseconds an hour in the past.
                    let past = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis()
                        - 3_600_000;
                    r.headers_mut()
                        .insert("x-ratelimit-reset", past.to_string().parse().unwrap());
                    r
                } else {
                    Response::new("ok".into())
                }
            }
        }),
    );
    let base = serve(router).await;
    let patience = RateLimitPatience {
        floor: Duration::from_secs(1),
        ceiling: Duration::from_secs(10),
    };
    let start = tokio::time::Instant::now();
    let call = Call::get("t", base.join("x").unwrap()).patience(patience);
    client(5).send(&call).await.unwrap();
    let waited = start.elapsed();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(
        waited >= Duration::from_secs(1) && waited <= Duration::from_millis(1_100),
        "{waited:?}"
    );
}

#[tokio::test]
async fn read_secret_json_never_quotes_the_body() {
    #[derive(Debug, serde::Deserialize)]
    struct Lookup {
        #[allow(dead_code)]
        ttl: u64,
    }
    let router = Router::new()
        .route("/shape", get(|| async { "{\"ttl\":\"hvs.SECRET-TOKEN\"}" }))
        .route("/cut", get(|| async { "{\"id\":\"hvs.SECRET-TOKEN\"," }));
    let base = serve(router).await;
    let http = client(0);
    for path in ["shape", "cut"] {
        let response = http
            .send(&Call::get("t", base.join(path).unwrap()))
            .await
            .unwrap();
        let Err(BodyError::Invalid(message)) =
            read_secret_json::<Lookup>(response, 1 << 20, "a token lookup").await
        else {
            panic!("{path}: the body is not a lookup");
        };
        assert!(message.starts_with("expected a token lookup"), "{message}");
        assert!(!message.contains("SECRET-TOKEN"), "{path}: {message}");
    }
}

#[test]
fn a_quiet_calls_failures_are_described_without_the_answers_body() {
    // What a retry's log line says of the failure (`reason`).
    let failure = Failure::Status {
        status: StatusCode::SERVICE_UNAVAILABLE,
        body: "login failed for secret_id s.ECHOED-SECRET".into(),
    };
    assert_eq!(failure.describe(true), "HTTP 503 Service Unavailable");
    assert!(failure.describe(false).contains("ECHOED-SECRET"));
}
