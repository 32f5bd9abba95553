//! The paged scan of one list (IAM accounts or the audit log): follows `nextLink` on the
//! configured host only, refuses links that loop or lead elsewhere, and turns a failed page into
//! an error naming the list, the page and what to do.

use super::VisionOneSource;
use super::api::{Page, read_page, rebase_next_link, trend_error_detail};
use crate::http::{Call, HttpError};
use crate::sources::{Refusal, SourceError};
use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::time::Duration;

/// Rhythm of progress logs on long scans.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Which list is being paged, for requests and messages.
#[derive(Debug, Clone, Copy)]
pub(super) struct Endpoint {
    pub path: &'static str,
    pub label: &'static str,
}

pub(super) const ACCOUNTS: Endpoint = Endpoint {
    path: super::api::ACCOUNTS_PATH,
    label: "IAM accounts",
};
pub(super) const AUDIT: Endpoint = Endpoint {
    path: super::api::AUDIT_PATH,
    label: "audit log",
};
pub(super) const ARRIVALS: Endpoint = Endpoint {
    path: super::api::AUDIT_PATH,
    label: "audit log (account management)",
};

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Paged {
    pub pages: u64,
    pub items: u64,
}

impl VisionOneSource {
    /// One page request, as the run and the check send it: token, JSON, the source's timeout,
    /// rate limiter and 429 patience, and the `TMV1-Filter` when there is one.
    pub(super) fn page_call(
        &self,
        url: Url,
        token: HeaderValue,
        filter: Option<&'static str>,
    ) -> Call<'_> {
        let call = Call::get(&self.name, url)
            .header("authorization", token)
            .header("accept", HeaderValue::from_static("application/json"))
            .timeout(self.request_timeout)
            .limiter(&self.limiter)
            .patience(self.patience);
        match filter {
            Some(filter) => call.header("tmv1-filter", HeaderValue::from_static(filter)),
            None => call,
        }
    }

    /// Pages through one list from `first`, following `nextLink` on the configured host until
    /// it is absent, null or empty; `on_items` gets each page's items.
    pub(super) async fn scan<T, F>(
        &self,
        endpoint: Endpoint,
        first: Url,
        filter: Option<&'static str>,
        mut on_items: F,
    ) -> Result<Paged, SourceError>
    where
        T: DeserializeOwned + Send,
        F: FnMut(Vec<T>) -> Result<(), SourceError>,
    {
        let token = self
            .token
            .header_value("Bearer ")
            .map_err(SourceError::Credentials)?;
        let mut url = first;
        let mut visited: HashSet<Url> = HashSet::new();
        let mut paged = Paged::default();
        let mut last_log = tokio::time::Instant::now();
        loop {
            visited.insert(url.clone());
            let page_no = paged.pages + 1;
            // The filter goes on every page, not just the first: the server does not keep it
            // in the skipToken.
            let call = self.page_call(url, token.clone(), filter);
            let page: Page<T> = self
                .http
                .fetch(&call, read_page::<T>)
                .await
                .map_err(|e| self.failure(e, endpoint, page_no))?;
            paged.pages = page_no;
            paged.items += page.items.len() as u64;
            let next = page.next().map(str::to_owned);
            on_items(page.items).map_err(|e| match e {
                SourceError::Data(m) => SourceError::Data(format!(
                    "{} page {page_no}: {m}; no report was written",
                    endpoint.label
                )),
                other => other,
            })?;
            if last_log.elapsed() >= PROGRESS_EVERY {
                last_log = tokio::time::Instant::now();
                let stats = self.limiter.stats();
                tracing::info!(
                    source = %self.name,
                    list = endpoint.label,
                    pages = paged.pages,
                    items = paged.items,
                    requests = stats.requests,
                    rate_limit_pauses = stats.pauses,
                    "Paging."
                );
            }
            let Some(next) = next else {
                return Ok(paged);
            };
            let next_url = rebase_next_link(&self.base, endpoint.path, &next).map_err(|m| {
                SourceError::Data(format!(
                    "{} page {page_no}: {m}; no report was written",
                    endpoint.label
                ))
            })?;
            if visited.contains(&next_url) {
                return Err(SourceError::Data(format!(
                    "{} page {page_no}: nextLink leads back to a page already read; the server's paging is broken, no report was written",
                    endpoint.label
                )));
            }
            url = next_url;
        }
    }

    /// Turns a failed page into a source error naming the list, the page and what to do.
    fn failure(&self, error: HttpError, endpoint: Endpoint, page: u64) -> SourceError {
        SourceError::from_http(
            error,
            trend_error_detail,
            || {
                Refusal {
                api: "Trend Vision One",
                refused: format!("the API key on {} page {page}", endpoint.label),
                token_env: &self.token_env,
                needs: "it must hold a valid, unexpired key of this tenant's region, whose role has User Accounts: View and Audit Logs: View, filter, and search".to_owned(),
            }
            },
            |error| match error {
                HttpError::Status {
                    method,
                    path,
                    status,
                    body,
                    attempts,
                } => {
                    let hint = if *status == StatusCode::TOO_MANY_REQUESTS {
                        "; lower `rate_limit` if other clients share this tenant's API limit, or raise http.max_retries"
                    } else if status.is_server_error() {
                        "; Trend or a gateway in front of it kept failing, run again later"
                    } else {
                        ""
                    };
                    format!(
                        "{} page {page}: {method} {path} answered HTTP {status} after {attempts} attempt(s), {}; no report was written, as no account is judged on incomplete data{hint}",
                        endpoint.label,
                        trend_error_detail(body)
                    )
                }
                other => format!(
                    "{} page {page}: {other}; no report was written, as no account is judged on incomplete data",
                    endpoint.label
                ),
            },
        )
    }
}
