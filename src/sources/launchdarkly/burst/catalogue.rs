//! The project catalogue a full part is split by: every project with its environment keys,
//! read once per run (`GET /api/v2/projects`, then a project's environments when the embedded
//! list is itself paged).

use super::split::Project;
use super::{BODY_LIMIT, Pager};
use crate::http::{Call, read_secret_json};
use crate::sources::launchdarkly::PATIENCE;
use crate::sources::launchdarkly::api::API_VERSION;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use std::sync::Arc;

/// Most project and environment pages read (20 a page): a bound against a server that never
/// stops paging.
const MAX_CATALOG_PAGES: u64 = 500;

/// `Projects` with `expand=environments`. The answer also carries each environment's SDK and
/// mobile keys: they are not read into anything, and a page that cannot be read is not quoted
/// ([`read_secret_json`]), so they are never kept or logged.
#[derive(Debug, Deserialize)]
struct ProjectsPage {
    items: Vec<ProjectItem>,
    #[serde(rename = "totalCount", default)]
    total_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct ProjectItem {
    key: String,
    #[serde(default)]
    environments: Option<EnvironmentsPage>,
}

#[derive(Debug, Deserialize)]
struct EnvironmentsPage {
    items: Vec<EnvironmentItem>,
    #[serde(rename = "totalCount", default)]
    total_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct EnvironmentItem {
    key: String,
}

impl Pager {
    /// Every project with its environment keys, paged 20 at a time.
    pub(super) async fn read_catalogue(
        &self,
        requests: &mut u64,
    ) -> Result<Arc<Vec<Project>>, String> {
        let mut projects = Vec::new();
        let mut offset = 0u64;
        loop {
            if *requests >= MAX_CATALOG_PAGES {
                return Err(format!(
                    "more than {MAX_CATALOG_PAGES} pages of projects and environments"
                ));
            }
            let mut url = self.projects_url.clone();
            url.query_pairs_mut()
                .append_pair("limit", "20")
                .append_pair("offset", &offset.to_string())
                .append_pair("expand", "environments");
            *requests += 1;
            let page: ProjectsPage = self.get_catalogue(url, "a list of projects").await?;
            let count = page.items.len() as u64;
            for item in page.items {
                let mut environments: Vec<String> = Vec::new();
                let listed = item.environments;
                let total = listed.as_ref().and_then(|e| e.total_count);
                if let Some(listed) = listed {
                    environments.extend(listed.items.into_iter().map(|e| e.key));
                }
                // The embedded list is itself paged: read the rest when it says there is more.
                if total.is_some_and(|t| t > environments.len() as u64) {
                    environments = self.read_environments(&item.key, requests).await?;
                }
                projects.push(Project {
                    key: item.key,
                    environments,
                });
            }
            offset += count;
            let more = page.total_count.map_or(count == 20, |t| offset < t);
            if count == 0 || !more {
                break;
            }
        }
        Ok(Arc::new(projects))
    }

    async fn read_environments(
        &self,
        project: &str,
        requests: &mut u64,
    ) -> Result<Vec<String>, String> {
        let mut keys = Vec::new();
        let mut offset = 0u64;
        loop {
            if *requests >= MAX_CATALOG_PAGES {
                return Err(format!(
                    "more than {MAX_CATALOG_PAGES} pages of projects and environments"
                ));
            }
            let mut url = self.projects_url.clone();
            url.path_segments_mut()
                .map_err(|_| "the base URL cannot take a path".to_owned())?
                .push(project)
                .push("environments");
            url.query_pairs_mut()
                .append_pair("limit", "20")
                .append_pair("offset", &offset.to_string());
            *requests += 1;
            let page: EnvironmentsPage = self.get_catalogue(url, "a list of environments").await?;
            let count = page.items.len() as u64;
            keys.extend(page.items.into_iter().map(|e| e.key));
            offset += count;
            let more = page.total_count.map_or(count == 20, |t| offset < t);
            if count == 0 || !more {
                return Ok(keys);
            }
        }
    }

    async fn get_catalogue<T: serde::de::DeserializeOwned>(
        &self,
        url: reqwest::Url,
        what: &'static str,
    ) -> Result<T, String> {
        let call = Call::get(&self.name, url)
            .header("authorization", self.token.clone())
            .header("ld-api-version", HeaderValue::from_static(API_VERSION))
            .header("accept", HeaderValue::from_static("application/json"))
            .timeout(self.request_timeout)
            .limiter(&self.limiter)
            .patience(PATIENCE);
        self.http
            .fetch(&call, |r| read_secret_json::<T>(r, BODY_LIMIT, what))
            .await
            .map_err(|e| match e.status() {
                Some(StatusCode::FORBIDDEN) | Some(StatusCode::UNAUTHORIZED) => format!(
                    "the token may not read projects (HTTP {}); give it read access to projects to let rollcall split a full millisecond by project",
                    e.status().map(|s| s.as_u16()).unwrap_or_default()
                ),
                _ => format!("reading projects failed: {e}"),
            })
    }
}
