//! The job spec: serde types, defaults and every check that can run before anything is fetched.
//!
//! Parsing happens in two stages so every error names a line and a key: the top level is read by
//! `serde_yaml` (which tracks locations), then each source item is read from its YAML value with
//! `serde_path_to_error`, and the key path it reports is mapped back to a line by [`locate`].

pub mod duration;
pub mod env;
mod locate;

use crate::sources::SourceSpec;
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use duration::deserialize_duration;
pub use env::{Environment, Secret, Settings};
pub use locate::KeyPath;

/// Placeholders a key template may use.
pub const KEY_PLACEHOLDERS: &[&str] = &["job", "date", "run_id", "shard", "source", "report"];

/// The whole job spec, as written by the user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Names the run in object keys and logs. Letters, digits, `.`, `_` and `-`.
    pub job: String,
    /// Where reports and the manifest are written.
    #[serde(default)]
    pub output: OutputSpec,
    /// Options shared by every CSV report.
    #[serde(default)]
    pub reports: ReportOptions,
    /// Settings of the shared HTTP client.
    #[serde(default)]
    pub http: HttpSpec,
    /// Deadline for one source's whole fetch, unless the source sets its own `timeout`.
    #[serde(
        default = "default_source_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub source_timeout: Duration,
    /// The systems to report on; fetched concurrently.
    #[serde(skip)]
    pub sources: Vec<SourceSpec>,
}

fn default_source_timeout() -> Duration {
    Duration::from_secs(60 * 60)
}

/// Where the reports go.
#[derive(Debug, Deserialize, Clone)]
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
}

impl Default for OutputSpec {
    fn default() -> Self {
        Self {
            url: None,
            options: S3Options::default(),
            key_template: default_key_template(),
            manifest_template: default_manifest_template(),
        }
    }
}

fn default_key_template() -> String {
    "{job}/{date}/{run_id}/{report}.csv".to_owned()
}

fn default_manifest_template() -> String {
    "{job}/{date}/{run_id}/manifest.json".to_owned()
}

/// Options for S3-compatible storage.
#[derive(Debug, Deserialize, Clone, Default)]
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

/// Options shared by every CSV report.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ReportOptions {
    /// Prefix cells starting with `=`, `+`, `-`, `@`, tab or CR with `'` so spreadsheets never
    /// run them as formulas. On by default.
    #[serde(default = "yes")]
    pub formula_escape: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            formula_escape: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// Settings of the shared HTTP client.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// Time allowed to open a connection.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for connection errors, timeouts, 408, 429 and 5xx.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First backoff delay; doubles on each retry, with full jitter.
    #[serde(
        default = "default_backoff_base",
        deserialize_with = "deserialize_duration"
    )]
    pub backoff_base: Duration,
    /// Longest single wait between retries, including a server's `Retry-After`.
    #[serde(
        default = "default_backoff_max",
        deserialize_with = "deserialize_duration"
    )]
    pub backoff_max: Duration,
}

impl Default for HttpSpec {
    fn default() -> Self {
        Self {
            connect_timeout: default_connect_timeout(),
            max_retries: default_max_retries(),
            backoff_base: default_backoff_base(),
            backoff_max: default_backoff_max(),
        }
    }
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_retries() -> u32 {
    5
}
fn default_backoff_base() -> Duration {
    Duration::from_millis(500)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(120)
}

/// One problem in the spec: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: String,
    pub message: String,
}

/// Why a spec (or the environment it needs) cannot be used. Every variant exits 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read job spec {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    #[error("environment: {0}")]
    Environment(String),
    #[error("source `{source_name}`: {message}")]
    Source {
        source_name: String,
        message: String,
    },
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.render(path));
    }
    out
}

impl Problem {
    fn render(&self, path: &Path) -> String {
        let place = match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", path.display()),
            (Some(l), None) => format!("{}:{l}", path.display()),
            _ => path.display().to_string(),
        };
        if self.key.is_empty() {
            format!("{place}: {}", self.message)
        } else {
            format!("{place}: `{}`: {}", self.key, self.message)
        }
    }
}

/// Collects problems with their locations while a spec is checked.
pub struct Problems<'a> {
    text: &'a str,
    list: Vec<Problem>,
}

impl<'a> Problems<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            list: Vec::new(),
        }
    }

    /// Records a problem at `key` (a path such as `sources[1].months`).
    pub fn add(&mut self, key: &KeyPath, message: impl fmt::Display) {
        let (line, column) = match locate::locate(self.text, key) {
            Some((l, c)) => (Some(l), Some(c)),
            None => (None, None),
        };
        self.list.push(Problem {
            line,
            column,
            key: key.to_string(),
            message: message.to_string(),
        });
    }

    fn add_at(&mut self, key: String, line: Option<usize>, column: Option<usize>, message: String) {
        self.list.push(Problem {
            line,
            column,
            key,
            message,
        });
    }
}

/// Reads and checks a job spec file.
pub fn load(path: &Path) -> Result<JobSpec, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::Invalid {
        path: path.to_owned(),
        problems: vec![Problem {
            line: None,
            column: None,
            key: String::new(),
            message: format!(
                "the file is not UTF-8 (invalid byte at offset {}); save it as UTF-8",
                e.utf8_error().valid_up_to()
            ),
        }],
    })?;
    parse(&text).map_err(|problems| ConfigError::Invalid {
        path: path.to_owned(),
        problems,
    })
}

/// The top level as read by serde_yaml; sources stay YAML values until stage two.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    job: String,
    #[serde(default)]
    output: OutputSpec,
    #[serde(default)]
    reports: ReportOptions,
    #[serde(default)]
    http: HttpSpec,
    #[serde(
        default = "default_source_timeout",
        deserialize_with = "deserialize_duration"
    )]
    source_timeout: Duration,
    sources: Vec<serde_yaml::Value>,
}

/// Parses and checks spec text; returns every problem found, each with its line when known.
pub fn parse(text: &str) -> Result<JobSpec, Vec<Problem>> {
    let mut problems = Problems::new(text);
    let raw: RawSpec =
        match serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text)) {
            Ok(raw) => raw,
            Err(e) => {
                yaml_error(&mut problems, &e);
                return Err(problems.list);
            }
        };
    if raw.sources.is_empty() {
        problems.add(
            &KeyPath::root().key("sources"),
            "lists no source; add at least one",
        );
    }
    let mut sources = Vec::with_capacity(raw.sources.len());
    for (index, value) in raw.sources.into_iter().enumerate() {
        let at = KeyPath::root().key("sources").index(index);
        if let Some(spec) = SourceSpec::from_yaml(value, &at, &mut problems) {
            sources.push(spec);
        }
    }
    let spec = JobSpec {
        job: raw.job,
        output: raw.output,
        reports: raw.reports,
        http: raw.http,
        source_timeout: raw.source_timeout,
        sources,
    };
    spec.validate(&mut problems);
    if problems.list.is_empty() {
        Ok(spec)
    } else {
        Err(problems.list)
    }
}

/// Turns a parse error into a problem at the offending key's own line where possible.
fn yaml_error(problems: &mut Problems<'_>, error: &serde_path_to_error::Error<serde_yaml::Error>) {
    let inner = error.inner();
    let mut message = inner.to_string();
    // serde_yaml appends a location; the one chosen below replaces it.
    if let Some((m, _)) = message.rsplit_once(" at line ") {
        message = m.to_owned();
    }
    let key = KeyPath::parse(&error.path().to_string());
    if let Some(rest) = message.strip_prefix(&format!("{key}: ")) {
        message = rest.to_owned();
    }
    // Our type names mean nothing to the user.
    message = message.replace(
        "struct RawSpec",
        "a mapping with `job`, `output`, `sources` and the other top-level keys",
    );
    // serde_yaml places data errors at the enclosing item, the key's own line is better; a
    // syntax error (a tab, an unclosed quote) lies after the key it interrupted, at its own place.
    let at_key = locate::locate(problems.text, &key).filter(|_| !key.is_root());
    let at_error = inner.location().map(|l| (l.line(), l.column()));
    let place = match (at_key, at_error) {
        (Some(k), Some(e)) => Some(k.max(e)),
        (k, e) => k.or(e),
    };
    problems.add_at(
        key.to_string(),
        place.map(|p| p.0),
        place.map(|p| p.1),
        message,
    )
}

/// Names used in object keys and logs: short, and safe in any object store and file system.
pub fn check_name(problems: &mut Problems<'_>, key: &KeyPath, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.starts_with('.');
    if !ok {
        problems.add(
            key,
            format!(
                "`{name}` is not a valid name: use 1 to 64 letters, digits, `.`, `_` or `-`, not starting with `.`"
            ),
        );
    }
}

/// Checks that a key template uses only known placeholders and has balanced braces.
pub fn check_template(
    problems: &mut Problems<'_>,
    key: &KeyPath,
    template: &str,
    required: &[&str],
) {
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

impl JobSpec {
    fn validate(&self, problems: &mut Problems<'_>) {
        let root = KeyPath::root();
        check_name(problems, &root.key("job"), &self.job);
        let mut seen = HashSet::new();
        for (index, source) in self.sources.iter().enumerate() {
            if !seen.insert(source.name()) {
                problems.add(
                    &root.key("sources").index(index).key("name"),
                    format!(
                        "`{}` is used by another source; names must be unique",
                        source.name()
                    ),
                );
            }
        }
        let output = root.key("output");
        check_template(
            problems,
            &output.key("key_template"),
            &self.output.key_template,
            &["report"],
        );
        check_template(
            problems,
            &output.key("manifest_template"),
            &self.output.manifest_template,
            &[],
        );
        if self.output.manifest_template.contains("{report}")
            || self.output.manifest_template.contains("{source}")
        {
            problems.add(
                &output.key("manifest_template"),
                "cannot use `{report}` or `{source}`: one manifest covers the whole run",
            );
        }
        if let Some(url) = &self.output.url
            && let Err(message) = crate::output::OutputLocation::parse(url)
        {
            problems.add(&output.key("url"), message);
        }
        if let Some(endpoint) = &self.output.options.endpoint {
            match url::Url::parse(endpoint) {
                Ok(u) if u.scheme() == "https" => {}
                Ok(u) if u.scheme() == "http" && self.output.options.allow_http => {}
                Ok(u) if u.scheme() == "http" => problems.add(
                    &output.key("options").key("endpoint"),
                    "is plain http; use https, or set `allow_http: true` for a trusted network",
                ),
                _ => problems.add(
                    &output.key("options").key("endpoint"),
                    format!("`{endpoint}` is not an http(s) URL"),
                ),
            }
        }
        let http = root.key("http");
        if self.http.max_retries > 20 {
            problems.add(&http.key("max_retries"), "must be at most 20");
        }
        if self.http.backoff_base.is_zero() {
            problems.add(&http.key("backoff_base"), "must be positive");
        }
        if self.http.backoff_max < self.http.backoff_base {
            problems.add(
                &http.key("backoff_max"),
                "must not be shorter than `backoff_base`",
            );
        }
        if self.http.connect_timeout.is_zero() {
            problems.add(&http.key("connect_timeout"), "must be positive");
        }
        if self.source_timeout.is_zero() {
            problems.add(&root.key("source_timeout"), "must be positive");
        }
    }

    /// The deadline of one source's fetch.
    pub fn deadline_of(&self, source: &SourceSpec) -> Duration {
        source.timeout().unwrap_or(self.source_timeout)
    }
}

#[cfg(test)]
mod tests;
