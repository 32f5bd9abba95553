//! `output:` in the job spec: where reports go, S3 options, and the key templates.

use super::OutputLocation;
use crate::config::{KeyPath, Problems};
use schemars::JsonSchema;
use serde::Deserialize;

/// Placeholders a key template may use.
pub const KEY_PLACEHOLDERS: &[&str] = &["job", "date", "run_id", "shard", "source", "report"];

/// Where the reports go.
#[derive(Debug, Deserialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// `s3://bucket/prefix`, `file:///dir`, or a plain path. Default `./reports`.
    #[serde(default)]
    pub url: Option<String>,
    /// S3 options. Credentials never go here: they come from the standard `AWS_*` environment.
    #[serde(default)]
    pub options: S3Options,
    /// Object key of each report, relative to the URL's prefix. Must contain `{report}`.
    #[serde(default = "default_key_template")]
    pub key_template: String,
    /// Object key of the run manifest, relative to the URL's prefix.
    #[serde(default = "default_manifest_template")]
    pub manifest_template: String,
    /// Object key of the run summary without extension, relative to the URL's prefix; the run
    /// writes it with `.html` and with `.md`.
    #[serde(default = "default_summary_template")]
    pub summary_template: String,
}

impl Default for OutputSpec {
    fn default() -> Self {
        Self {
            url: None,
            options: S3Options::default(),
            key_template: default_key_template(),
            manifest_template: default_manifest_template(),
            summary_template: default_summary_template(),
        }
    }
}

fn default_key_template() -> String {
    "{job}/{date}/{run_id}/{report}.csv".to_owned()
}

fn default_manifest_template() -> String {
    "{job}/{date}/{run_id}/manifest.json".to_owned()
}

fn default_summary_template() -> String {
    "{job}/{date}/{run_id}/summary".to_owned()
}

/// Options for S3-compatible storage.
#[derive(Debug, Deserialize, JsonSchema, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// Endpoint of an S3-compatible server (MinIO, Ceph, R2...). Default: AWS for the region.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Bucket region. Default: `AWS_REGION`/`AWS_DEFAULT_REGION`, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Allow a plain `http://` endpoint. Only for servers on a trusted network.
    #[serde(default)]
    pub allow_http: bool,
    /// Address the bucket as `https://bucket.endpoint/` instead of `https://endpoint/bucket/`.
    #[serde(default)]
    pub virtual_hosted_style: bool,
}

impl OutputSpec {
    /// Checks the settings found at `at` (`output`).
    pub fn validate(&self, at: &KeyPath, problems: &mut Problems<'_>) {
        check_template(
            problems,
            &at.key("key_template"),
            &self.key_template,
            &["report"],
        );
        check_template(
            problems,
            &at.key("manifest_template"),
            &self.manifest_template,
            &[],
        );
        if self.manifest_template.contains("{report}")
            || self.manifest_template.contains("{source}")
        {
            problems.add(
                &at.key("manifest_template"),
                "cannot use `{report}` or `{source}`: one manifest covers the whole run",
            );
        }
        check_template(
            problems,
            &at.key("summary_template"),
            &self.summary_template,
            &[],
        );
        if self.summary_template.contains("{report}") || self.summary_template.contains("{source}")
        {
            problems.add(
                &at.key("summary_template"),
                "cannot use `{report}` or `{source}`: one summary covers the whole run",
            );
        }
        if let Some(url) = &self.url
            && let Err(message) = OutputLocation::parse(url)
        {
            problems.add(&at.key("url"), message);
        }
        if let Some(endpoint) = &self.options.endpoint {
            match url::Url::parse(endpoint) {
                Ok(u) if u.scheme() == "https" => {}
                Ok(u) if u.scheme() == "http" && self.options.allow_http => {}
                Ok(u) if u.scheme() == "http" => problems.add(
                    &at.key("options").key("endpoint"),
                    "is plain http; use https, or set `allow_http: true` for a trusted network",
                ),
                _ => problems.add(
                    &at.key("options").key("endpoint"),
                    format!("`{endpoint}` is not an http(s) URL"),
                ),
            }
        }
    }
}

/// Checks that a key template uses only known placeholders and has balanced braces.
fn check_template(problems: &mut Problems<'_>, key: &KeyPath, template: &str, required: &[&str]) {
    let mut rest = template;
    let mut used = Vec::new();
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            problems.add(key, format!("unmatched `}}` in `{template}`"));
            return;
        }
        let Some(close) = rest[open..].find('}') else {
            problems.add(key, format!("unclosed `{{` in `{template}`"));
            return;
        };
        let name = &rest[open + 1..open + close];
        if !KEY_PLACEHOLDERS.contains(&name) {
            problems.add(
                key,
                format!(
                    "unknown placeholder `{{{name}}}`; use {}",
                    KEY_PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            return;
        }
        used.push(name);
        rest = &rest[open + close + 1..];
    }
    for need in required {
        if !used.contains(need) {
            problems.add(
                key,
                format!("must contain `{{{need}}}` so that no two objects share a key"),
            );
        }
    }
    if template.starts_with('/') || template.split('/').any(|s| s == ".." || s == ".") {
        problems.add(key, "must be a relative key without `.` or `..` segments");
    }
}
