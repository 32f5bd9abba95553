//! Trend Vision One's API as this source uses it: paths, limits, the list envelope, the wire
//! types of accounts and audit entries, error documents, and page links.

use crate::http::{BodyError, describe_body, html_title, join_path, read_json, snippet};
use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::time::Duration;

pub const ACCOUNTS_PATH: &str = "/v3.0/iam/accounts";
pub const AUDIT_PATH: &str = "/v3.0/audit/logs";
/// Logon events only; whether unsuccessful ones count is decided here, not on the server
/// (`result` has been a boolean in some API versions, so a server-side filter on it could
/// silently match nothing and turn every account into a removal).
pub const LOGON_FILTER: &str = "(category eq 'Logon and Logoff') and (activity eq 'Log on')";
/// The largest page both endpoints allow (`top` takes only 50, 100 or 200).
pub const PAGE_SIZE: u32 = 200;
/// The audit log keeps 180 days; an older `startDateTime` is refused.
pub const RETENTION: Duration = Duration::from_secs(180 * 86_400);
/// The scan never starts closer than this to the retention limit: the server judges the limit
/// by its own clock when the request arrives, which is later than the run's "now".
pub const RETENTION_MARGIN: Duration = Duration::from_secs(3_600);
/// A page of 200 entries is a few hundred KiB; anything far larger is not a page.
pub const MAX_PAGE_BYTES: usize = 32 * 1024 * 1024;

/// One list page of either endpoint. `items` must be present (the documented envelope); `null`
/// means none, as in Trend's own SDK.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Page<T> {
    #[serde(deserialize_with = "null_as_empty")]
    pub items: Vec<T>,
    #[serde(default, rename = "nextLink")]
    next_link: Option<String>,
    /// Some clients in the wild read this OData spelling; accepted as a fallback.
    #[serde(default, rename = "@odata.nextLink")]
    odata_next_link: Option<String>,
}

impl<T> Page<T> {
    pub fn next(&self) -> Option<&str> {
        [&self.next_link, &self.odata_next_link]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
    }
}

fn null_as_empty<'de, D, T>(de: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(de)?.unwrap_or_default())
}

/// An IAM account; every field optional, unknown fields ignored (the schema is not published).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    /// `local`, `saml` or `samlGroup`.
    #[serde(default)]
    pub auth_type: Option<String>,
    /// `enabled`, `disabled` or `invited`.
    #[serde(default)]
    pub status: Option<String>,
    /// A display name, when the API sends one (not among the documented fields): used only to
    /// tie an account-management event that names its target by name.
    #[serde(default)]
    pub name: Option<String>,
}

impl Account {
    pub fn tidy(mut self) -> Self {
        for field in [
            &mut self.id,
            &mut self.email,
            &mut self.role,
            &mut self.auth_type,
            &mut self.status,
            &mut self.name,
        ] {
            *field = field
                .take()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
        }
        self
    }

    pub fn is_group(&self) -> bool {
        self.auth_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("samlGroup"))
    }

    pub fn is_invited(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("invited"))
    }
}

/// One audit entry, only the fields used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    #[serde(default)]
    pub logged_date_time: Option<String>,
    #[serde(default)]
    pub logged_user: Option<String>,
    #[serde(default)]
    pub logged_user_id: Option<String>,
    #[serde(default)]
    pub logged_user_mail_address: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub activity: Option<String>,
    /// `Successful`/`Unsuccessful`; a boolean in some API versions.
    #[serde(default)]
    pub result: Option<LogonResult>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum LogonResult {
    Flag(bool),
    Text(String),
}

impl LogonResult {
    /// Only an explicit failure counts as unsuccessful: an unknown value must not make an
    /// account look inactive.
    pub fn unsuccessful(&self) -> bool {
        match self {
            LogonResult::Flag(ok) => !ok,
            LogonResult::Text(t) => {
                let t = t.trim();
                t.eq_ignore_ascii_case("unsuccessful") || t.eq_ignore_ascii_case("failed")
            }
        }
    }
}

/// `loggedDateTime`: RFC 3339 (with or without fraction or offset), or `YYYY-MM-DD HH:MM:SS`
/// (also with `T` or a fraction) taken as UTC.
pub fn parse_logged_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

/// Rebuilds a page link on the configured base: only its path (from `/v3.0/` on) and query are
/// kept, so the token never goes to a host a response names. Spaces and other characters not
/// allowed in a URL are percent-encoded by the parser; the query is otherwise kept as sent.
pub fn rebase_next_link(base: &Url, endpoint: &str, link: &str) -> Result<Url, String> {
    let shown = snippet(link);
    let resolved = join_path(base, endpoint)
        .join(link.trim())
        .map_err(|e| format!("nextLink `{shown}` is not a URL: {e}"))?;
    let path = resolved.path();
    let api_path = path
        .find("/v3.0/")
        .map(|at| &path[at..])
        .ok_or_else(|| format!("nextLink `{shown}` does not point into /v3.0/"))?;
    if api_path.trim_end_matches('/') != endpoint {
        return Err(format!(
            "nextLink `{shown}` leads to {api_path}, not to the endpoint being paged ({endpoint})"
        ));
    }
    let mut url = join_path(base, api_path);
    url.set_query(resolved.query());
    Ok(url)
}

/// Reads one page; a body that is not the documented envelope is an error naming what came.
pub async fn read_page<T: DeserializeOwned>(
    response: reqwest::Response,
) -> Result<Page<T>, BodyError> {
    read_json(
        response,
        MAX_PAGE_BYTES,
        "a JSON page with `items` and `nextLink`",
    )
    .await
}

/// Trend's error document (`{"error": {"code", "message"}}`), an HTML page's title, or the
/// start of the body.
pub fn trend_error_detail(body: &str) -> String {
    #[derive(Deserialize)]
    struct Envelope {
        error: TrendError,
    }
    #[derive(Deserialize)]
    struct TrendError {
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    if let Ok(Envelope { error }) = serde_json::from_str::<Envelope>(body) {
        return format!(
            "error {}: {}",
            error.code.as_deref().unwrap_or("(no code)"),
            snippet(error.message.as_deref().unwrap_or(""))
        );
    }
    match html_title(body) {
        Some(_) => describe_body(body),
        None => format!("body `{}`", snippet(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn timestamps_in_every_form_parse_as_utc() {
        let want = t("2026-08-24T03:00:00Z");
        for text in [
            "2026-08-24T03:00:00Z",
            "2026-08-24T03:00:00.000Z",
            "2026-08-24T05:00:00+02:00",
            "2026-08-24 03:00:00",
            "2026-08-24T03:00:00",
            " 2026-08-24 03:00:00 ",
        ] {
            assert_eq!(parse_logged_time(text), Some(want), "{text}");
        }
        assert_eq!(
            parse_logged_time("2026-08-24T03:00:00.75Z"),
            Some(want + chrono::Duration::milliseconds(750))
        );
        assert_eq!(
            parse_logged_time("2026-08-24 03:00:00.250"),
            Some(want + chrono::Duration::milliseconds(250))
        );
        for bad in ["", "yesterday", "2026-08-24", "24/08/2026 03:00:00"] {
            assert_eq!(parse_logged_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn next_links_are_rebased_on_the_configured_host() {
        let base = Url::parse("http://127.0.0.1:9000").unwrap();
        let url = rebase_next_link(
            &base,
            AUDIT_PATH,
            "https://api.xdr.trendmicro.com/v3.0/audit/logs?skipToken=Mg==",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9000/v3.0/audit/logs?skipToken=Mg=="
        );
        // Another host, a relative link and a scheme-relative one all stay on the base.
        for link in [
            "https://evil.example:8443/v3.0/audit/logs?skipToken=x",
            "/v3.0/audit/logs?skipToken=x",
            "//evil.example/v3.0/audit/logs?skipToken=x",
        ] {
            let url = rebase_next_link(&base, AUDIT_PATH, link).unwrap();
            assert_eq!(url.host_str(), Some("127.0.0.1"), "{link}");
            assert_eq!(url.port(), Some(9000), "{link}");
            assert_eq!(url.query(), Some("skipToken=x"), "{link}");
        }
        // Stray spaces are encoded, the rest of the query kept as it is.
        let url = rebase_next_link(
            &base,
            AUDIT_PATH,
            "https://api.xdr.trendmicro.com/v3.0/audit/logs?orderBy=loggedDateTime desc&top=200&skipToken=a+b%2F",
        )
        .unwrap();
        assert_eq!(
            url.query(),
            Some("orderBy=loggedDateTime%20desc&top=200&skipToken=a+b%2F")
        );
        // A base with a path prefix keeps it.
        let proxied = Url::parse("https://proxy.internal/trend/").unwrap();
        let url = rebase_next_link(
            &proxied,
            ACCOUNTS_PATH,
            "https://api.eu.xdr.trendmicro.com/v3.0/iam/accounts?skipToken=Mg==",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://proxy.internal/trend/v3.0/iam/accounts?skipToken=Mg=="
        );
        // Links elsewhere in the API are refused.
        assert!(rebase_next_link(&base, AUDIT_PATH, "https://h/v3.0/iam/apiKeys?x=1").is_err());
        assert!(rebase_next_link(&base, AUDIT_PATH, "https://h/other?x=1").is_err());
    }

    #[test]
    fn pages_accept_null_items_and_every_end_of_paging() {
        let p: Page<Account> = serde_json::from_str(r#"{"items":null}"#).unwrap();
        assert!(p.items.is_empty() && p.next().is_none());
        let p: Page<Account> =
            serde_json::from_str(r#"{"items":[],"nextLink":null,"totalCount":0}"#).unwrap();
        assert!(p.next().is_none());
        let p: Page<Account> = serde_json::from_str(r#"{"items":[],"nextLink":"  "}"#).unwrap();
        assert!(p.next().is_none());
        let p: Page<Account> =
            serde_json::from_str(r#"{"items":[{"id":"1","extra":{"x":1}}],"@odata.nextLink":"/v3.0/iam/accounts?skipToken=x"}"#)
                .unwrap();
        assert_eq!(p.next(), Some("/v3.0/iam/accounts?skipToken=x"));
        assert!(serde_json::from_str::<Page<Account>>(r#"{"nextLink":"x"}"#).is_err());
    }

    #[test]
    fn error_bodies_are_described_briefly() {
        assert_eq!(
            trend_error_detail(
                r#"{"error":{"code":"TooManyRequests","message":"Too many API requests"}}"#
            ),
            "error TooManyRequests: Too many API requests"
        );
        assert_eq!(
            trend_error_detail(
                "<!DOCTYPE html><html><head><title>502 Bad\n Gateway</title></head><body>x</body></html>"
            ),
            "an HTML page (`502 Bad Gateway`), likely from a proxy, a gateway or the wrong server"
        );
        assert_eq!(
            trend_error_detail("upstream reset"),
            "body `upstream reset`"
        );
    }
}
