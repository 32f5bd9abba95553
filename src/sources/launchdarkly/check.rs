//! `rollcall check` for LaunchDarkly: one `GET /api/v2/auditlog?limit=1`, which proves the base
//! URL, the token and its permission to read the audit log, and fetches a single entry.

use super::LaunchDarklySource;
use super::api::{API_VERSION, read_listing};
use crate::http::Call;
use crate::sources::check::{Check, CheckCode, CheckContext, Checked, common_fix};
use reqwest::header::HeaderValue;

impl Check for LaunchDarklySource {
    async fn check(&self, _ctx: &CheckContext) -> Checked {
        let mut url = self.url.clone();
        url.query_pairs_mut().append_pair("limit", "1");
        let call = Call::get(&self.name, url)
            .header("authorization", self.token.clone())
            .header("ld-api-version", HeaderValue::from_static(API_VERSION))
            .header("accept", HeaderValue::from_static("application/json"))
            .timeout(self.request_timeout);
        match self.http.fetch(&call, read_listing).await {
            Ok(items) => Checked::ok(format!(
                "read the audit log at {} ({} entry returned for limit=1)",
                self.url.origin().ascii_serialization(),
                items.len()
            )),
            Err(e) => Checked::from_http(&e, |code| self.fix(code)),
        }
    }
}

impl LaunchDarklySource {
    fn fix(&self, code: CheckCode) -> String {
        let env = &self.token_env;
        match code {
            CheckCode::Unauthorized => format!(
                "put a valid, unexpired LaunchDarkly access token in {env} (or {env}_FILE), bare, without `Bearer `, for the instance at {}",
                self.url.origin().ascii_serialization()
            ),
            CheckCode::Forbidden => format!(
                "the token in {env} is valid but may not read the audit log: give it the Reader role, or a custom role allowing the audit log (change history)"
            ),
            other => common_fix(other, "the LaunchDarkly API", "base_url"),
        }
    }
}
