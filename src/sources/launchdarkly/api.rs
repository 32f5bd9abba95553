//! LaunchDarkly's audit-log API: instances, path, version, what a failed page means, and reading
//! a listing.

use super::entry::{Entry, Listing};
use crate::http::{BodyError, HttpError, read_json};
use reqwest::StatusCode;

/// LaunchDarkly's commercial instance; federal: `https://app.launchdarkly.us`, EU:
/// `https://app.eu.launchdarkly.com`.
pub const DEFAULT_BASE_URL: &str = "https://app.launchdarkly.com";
pub const AUDIT_LOG_PATH: &str = "api/v2/auditlog";
/// `POST`: entry counts per time bucket, filtered by a statement list.
pub const COUNTS_PATH: &str = "api/v2/auditlog/counts";
/// Projects, with `expand=environments`: the keys a full millisecond is split by.
pub const PROJECTS_PATH: &str = "api/v2/projects";
/// The only version the API still accepts; set explicitly so a token's own default version
/// cannot change the answers.
pub const API_VERSION: &str = "20240415";
/// A page is 20 entries; anything near this size is not an audit-log page.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// What to do about a failed page, for the error message.
pub fn hint(error: &HttpError) -> &'static str {
    match error {
        HttpError::Status { status, .. } if *status == StatusCode::BAD_REQUEST => {
            "; check `q` and `spec` (a resource specifier such as proj/*:env/production:flag/*)"
        }
        HttpError::Status { status, .. } if *status == StatusCode::NOT_FOUND => {
            "; check base_url: https://app.launchdarkly.com, https://app.launchdarkly.us (federal) or https://app.eu.launchdarkly.com (EU)"
        }
        HttpError::Status { .. } => {
            "; LaunchDarkly kept failing or rate limiting after every retry: run again later, or raise http.max_retries"
        }
        HttpError::InvalidBody { .. } => {
            "; the answer is not what LaunchDarkly documents: check that base_url points at the API and no proxy rewrites it"
        }
        // A refused connection gets the shared reachability hint in `SourceError::from_http`.
        HttpError::Transport { .. } | HttpError::WaitTooLong { .. } | HttpError::Setup(_) => "",
    }
}

/// Reads one listing, whole (a page is small), and checks the fields the report needs.
pub async fn read_listing(response: reqwest::Response) -> Result<Vec<Entry>, BodyError> {
    let listing: Listing = read_json(response, BODY_LIMIT, "an audit-log listing").await?;
    for entry in &listing.items {
        entry.check().map_err(BodyError::Invalid)?;
    }
    Ok(listing.items)
}
