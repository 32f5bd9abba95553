//! A fake of the Kubernetes TokenReview API, the one call OpenBao's and Vault's Kubernetes auth
//! method makes to the cluster (`docs/reference/vault.md`, §4.4): rollcall's login tests put it
//! behind a real OpenBao.

use crate::chassis::Server;
use crate::openapi::Violations;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A Kubernetes service account: the identity TokenReview reports for its tokens.
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl ServiceAccount {
    /// `uid` distinguishes accounts of the same name across re-creations, as in a cluster.
    pub fn new(namespace: &str, name: &str, uid: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: uid.to_owned(),
        }
    }
}

/// A fake of the Kubernetes TokenReview API (`POST /apis/authentication.k8s.io/v1/tokenreviews`),
/// as strict as the API server: the caller must present a known bearer token, the body must be
/// a `TokenReview`, and a token is authenticated only when it is known and one of its audiences
/// is requested (or none is). Answers 201 with `status`, like the API server.
pub struct TokenReview {
    server: Server,
    known: Arc<Mutex<BTreeMap<String, (ServiceAccount, String)>>>,
    pub reviews: Arc<Mutex<Vec<Value>>>,
}

#[derive(Clone)]
struct ReviewState {
    known: Arc<Mutex<BTreeMap<String, (ServiceAccount, String)>>>,
    reviews: Arc<Mutex<Vec<Value>>>,
}

impl TokenReview {
    pub async fn start() -> Self {
        let known = Arc::new(Mutex::new(BTreeMap::new()));
        let reviews = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new()
            .route("/apis/authentication.k8s.io/v1/tokenreviews", post(review))
            .with_state(ReviewState {
                known: known.clone(),
                reviews: reviews.clone(),
            });
        Self {
            server: Server::start(router, Violations::default()).await,
            known,
            reviews,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Makes `token` a valid token of `account` for `audience`.
    pub fn admit(&self, token: &str, account: &ServiceAccount, audience: &str) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.to_owned(), (account.clone(), audience.to_owned()));
    }
}

async fn review(State(state): State<ReviewState>, headers: HeaderMap, body: String) -> Response {
    let known = state
        .known
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|b| known.contains_key(b)) {
        return (
            StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}).to_string(),
        )
            .into_response();
    }
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    state
        .reviews
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(request.clone());
    // The API server takes the type from the URL when the body leaves it out (OpenBao's client
    // does), and refuses a body of another type.
    let wrong_type = |key: &str, want: &str| request.get(key).is_some_and(|v| v != want);
    if wrong_type("kind", "TokenReview") || wrong_type("apiVersion", "authentication.k8s.io/v1") {
        return (
            StatusCode::BAD_REQUEST,
            "expected an authentication.k8s.io/v1 TokenReview",
        )
            .into_response();
    }
    let token = request["spec"]["token"].as_str().unwrap_or("");
    let requested: Vec<String> = request["spec"]["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let status = match known.get(token) {
        Some((account, audience))
            if requested.is_empty() || requested.iter().any(|r| r == audience) =>
        {
            json!({
                "authenticated": true,
                "user": {
                    "username": format!("system:serviceaccount:{}:{}", account.namespace, account.name),
                    "uid": account.uid,
                    "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{}", account.namespace), "system:authenticated"],
                },
                "audiences": [audience],
            })
        }
        Some(_) => {
            json!({ "user": {}, "error": "[invalid bearer token, token audiences are invalid for the target audiences]" })
        }
        None => json!({ "user": {}, "error": "[invalid bearer token, token lookup failed]" }),
    };
    let mut answer = request.clone();
    answer["status"] = status;
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        answer.to_string(),
    )
        .into_response()
}
