//! `rollcall check` for Trend Vision One: one `iam/accounts` page of 50 and one `audit/logs`
//! page with the logon filter over the last hour. Together they prove the region (or base URL),
//! the API key, and both permissions the run needs, and fetch two small pages.

use super::VisionOneSource;
use super::api::{
    ACCOUNTS_PATH, AUDIT_PATH, Account, AuditEntry, LOGON_FILTER, read_page, trend_error_detail,
};
use crate::http::{HttpError, join_path};
use crate::sources::check::{Check, CheckCode, CheckContext, Checked, code_of, common_fix};
use crate::time::rfc3339_seconds;
use reqwest::Url;
use serde::de::DeserializeOwned;

/// The smallest page both endpoints accept.
const CHECK_PAGE: &str = "50";
/// A range short enough to return at most a page, long enough to be a real query.
const CHECK_RANGE: chrono::TimeDelta = chrono::TimeDelta::hours(1);

impl Check for VisionOneSource {
    async fn check(&self, ctx: &CheckContext) -> Checked {
        let mut accounts = join_path(&self.base, ACCOUNTS_PATH);
        accounts.query_pairs_mut().append_pair("top", CHECK_PAGE);
        let mut audit = join_path(&self.base, AUDIT_PATH);
        audit
            .query_pairs_mut()
            .append_pair("startDateTime", &rfc3339_seconds(ctx.now - CHECK_RANGE))
            .append_pair("endDateTime", &rfc3339_seconds(ctx.now))
            .append_pair("dateTimeTarget", "loggedDateTime")
            .append_pair("orderBy", "loggedDateTime desc")
            .append_pair("top", CHECK_PAGE)
            .append_pair("labels", "all");
        let listed = match self.one_page::<Account>(accounts, None).await {
            Ok(n) => n,
            Err(e) => return self.failed(&e, "User Accounts: View"),
        };
        let logons = match self.one_page::<AuditEntry>(audit, Some(LOGON_FILTER)).await {
            Ok(n) => n,
            Err(e) => return self.failed(&e, "Audit Logs: View, filter, and search"),
        };
        Checked::ok(format!(
            "read one page of IAM accounts ({listed} listed) and one of logon events of the last hour ({logons} listed) at {}",
            self.base.origin().ascii_serialization()
        ))
    }
}

impl VisionOneSource {
    /// Items on the first page of `url`.
    async fn one_page<T: DeserializeOwned>(
        &self,
        url: Url,
        filter: Option<&'static str>,
    ) -> Result<usize, HttpError> {
        let token = self
            .token
            .header_value("Bearer ")
            .map_err(HttpError::Setup)?;
        let call = self.page_call(url, token, filter);
        let page = self.http.fetch(&call, read_page::<T>).await?;
        Ok(page.items.len())
    }

    fn failed(&self, error: &HttpError, permission: &str) -> Checked {
        let var = &self.token_env;
        let mut checked = Checked::from_http(error, |code| match code {
            CheckCode::Unauthorized => format!(
                "put a valid, unexpired API key of this tenant's region in {var} (or {var}_FILE); a key of another region is refused too, so check `region` or `base_url`"
            ),
            CheckCode::Forbidden => format!(
                "the API key in {var} is valid but its role lacks `{permission}`: add it to the role in Trend Vision One (Administration, User Roles)"
            ),
            other => common_fix(other, "the Trend Vision One API", "region` or `base_url"),
        });
        if let HttpError::Status { body, .. } = error
            && code_of(error) != CheckCode::Other
        {
            checked.summary = format!(
                "{}; Trend says {}",
                checked.summary,
                trend_error_detail(body)
            );
        }
        checked
    }
}
