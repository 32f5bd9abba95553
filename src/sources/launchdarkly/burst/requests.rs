//! The two requests of a full millisecond, both `POST` with a statement list: the account's
//! count of it (`/api/v2/auditlog/counts`) and the search of one part (`/api/v2/auditlog`).

use super::split::{Part, Statement, whole};
use super::{BODY_LIMIT, Pager};
use crate::http::{Call, HttpError, read_json, snippet};
use crate::sources::SourceError;
use crate::sources::launchdarkly::PATIENCE;
use crate::sources::launchdarkly::api::{API_VERSION, read_listing};
use crate::sources::launchdarkly::entry::{Entry, LIMIT};
use bytes::Bytes;
use reqwest::header::HeaderValue;
use serde::Deserialize;

/// `CountBucketsResult`; `totalCount` is optional in the spec and not used: only the bucket of
/// the millisecond itself is exact whatever the bounds.
#[derive(Debug, Deserialize)]
struct CountBuckets {
    buckets: Vec<CountBucket>,
    #[serde(rename = "bucketIntervalMs")]
    bucket_interval_ms: i64,
}

#[derive(Debug, Deserialize)]
struct CountBucket {
    timestamp: i64,
    count: u64,
}

impl Pager {
    fn post(&self, url: reqwest::Url, statements: &[Statement]) -> Call<'_> {
        // Serialising plain strings cannot fail.
        let body = serde_json::to_vec(statements).unwrap_or_default();
        Call::post(&self.name, url)
            .json(Bytes::from(body))
            .header("authorization", self.token.clone())
            .header("ld-api-version", HeaderValue::from_static(API_VERSION))
            .header("accept", HeaderValue::from_static("application/json"))
            .timeout(self.request_timeout)
            .limiter(&self.limiter)
            .patience(PATIENCE)
    }

    /// The account's count of entries dated `ms`; the inner error says why there is none.
    pub(super) async fn count_ms(
        &self,
        ms: i64,
        spec: Option<&str>,
        requests: &mut u64,
    ) -> Result<Result<u64, String>, SourceError> {
        if self.q.is_some() {
            return Ok(Err(
                "the counts endpoint cannot apply the `q` text search".into()
            ));
        }
        // Three 1 ms buckets with the millisecond in the middle: whether `after` and `before`
        // are inclusive (undocumented), their entries fall in the outer buckets, never in it.
        let mut url = self.counts_url.clone();
        url.query_pairs_mut()
            .append_pair("after", &(ms - 1).to_string())
            .append_pair("before", &(ms + 2).to_string())
            .append_pair("buckets", "3");
        *requests += 1;
        let call = self.post(url, &whole(spec));
        let result = self
            .http
            .fetch(&call, |r| {
                read_json::<CountBuckets>(r, BODY_LIMIT, "audit-log counts")
            })
            .await;
        match result {
            Ok(counts) if counts.bucket_interval_ms == 1 => {
                // Twenty entries of this millisecond were listed: an answer without its bucket
                // cannot be a count of it.
                Ok(match counts.buckets.iter().find(|b| b.timestamp == ms) {
                    Some(bucket) => Ok(bucket.count),
                    None => {
                        Err("the counts endpoint answered no bucket for the millisecond".into())
                    }
                })
            }
            Ok(counts) => Ok(Err(format!(
                "the counts endpoint answered {} ms buckets, too coarse to count one millisecond",
                counts.bucket_interval_ms
            ))),
            Err(e) => unavailable(e, "counts"),
        }
    }

    /// One part of the millisecond: at most a page, so a full answer means "maybe more".
    pub(super) async fn search_ms(
        &self,
        ms: i64,
        part: &Part,
        requests: &mut u64,
    ) -> Result<Result<Vec<Entry>, String>, SourceError> {
        let mut url = self.url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("after", &(ms - 1).to_string())
                .append_pair("before", &(ms + 1).to_string())
                .append_pair("limit", &LIMIT.to_string());
            if let Some(q) = &self.q {
                query.append_pair("q", q);
            }
        }
        *requests += 1;
        self.stats
            .burst_searches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let call = self.post(url, &part.statements());
        let result = self.http.fetch(&call, read_listing).await;
        match result {
            Ok(items) => Ok(Ok(items)),
            Err(e) => unavailable(e, "search"),
        }
    }
}

/// A refusal that leaves the millisecond unsplit or uncounted instead of failing the source:
/// the endpoint is missing (404), not allowed to this token (401, 403), or refuses this use of
/// it (400). Anything else, after the retries, fails the source like a page would.
fn unavailable<T>(error: HttpError, what: &str) -> Result<Result<T, String>, SourceError> {
    match &error {
        HttpError::Status { status, body, .. }
            if matches!(status.as_u16(), 400 | 401 | 403 | 404) =>
        {
            Ok(Err(format!(
                "the {what} endpoint answered HTTP {status}: {}",
                snippet(body)
            )))
        }
        _ => Err(SourceError::Fetch {
            message: format!("audit log {what} for a full millisecond: {error}"),
            error,
        }),
    }
}
