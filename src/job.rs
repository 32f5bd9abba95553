//! The job spec: the top level that gathers output, HTTP, reports and sources; loading it and
//! every check that can run before anything is fetched.
//!
//! The top level is read by `serde_yaml` (which tracks locations); each source item stays a YAML
//! value until [`SourceSpec::from_yaml`] reads it, so every problem names its key and line.

use crate::config::{
    ConfigError, Environment, KeyPath, Problem, Problems, check_name, deserialize_duration,
};
use crate::http::HttpSpec;
use crate::metrics::MetricsSpec;
use crate::output::OutputSpec;
use crate::report::ReportOptions;
use crate::sources::SourceSpec;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

/// The whole job spec, as written by the user.
#[derive(Debug)]
pub struct JobSpec {
    /// Names the run in object keys and logs. Letters, digits, `.`, `_` and `-`.
    pub job: String,
    /// Where reports and the manifest are written.
    pub output: OutputSpec,
    /// Options shared by every CSV report.
    pub reports: ReportOptions,
    /// Settings of the shared HTTP client.
    pub http: HttpSpec,
    /// Deadline for one source's whole fetch, unless the source sets its own `timeout`.
    pub source_timeout: Duration,
    /// Where to push the run's metrics at its end; none means no push.
    pub metrics: Option<MetricsSpec>,
    /// The systems to report on; fetched concurrently.
    pub sources: Vec<SourceSpec>,
}

fn default_source_timeout() -> Duration {
    Duration::from_secs(60 * 60)
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
    #[serde(default)]
    metrics: Option<MetricsSpec>,
    sources: Vec<serde_yaml::Value>,
}

/// Our type names mean nothing to the user; serde's messages get these words instead.
const TYPE_NAMES: &[(&str, &str)] = &[(
    "struct RawSpec",
    "a mapping with `job`, `output`, `sources` and the other top-level keys",
)];

/// Reads and checks a job spec file.
pub fn load(path: &Path) -> Result<JobSpec, ConfigError> {
    load_text(path).map(|(spec, _)| spec)
}

/// Reads and checks a job spec file; also returns its text, for checks made later that must
/// still point at a line ([`check_before_fetch`]).
pub fn load_text(path: &Path) -> Result<(JobSpec, String), ConfigError> {
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
    let spec = parse(&text).map_err(|problems| ConfigError::Invalid {
        path: path.to_owned(),
        problems,
    })?;
    Ok((spec, text))
}

/// What can only be checked against the run's clock and environment, yet before anything is
/// fetched: a window that starts in the future, a token pasted with its `Bearer ` prefix. Each
/// problem points at its line in the spec. Sources for which `selected` says no are not
/// checked (they will not run).
pub fn check_before_fetch(
    path: &Path,
    text: &str,
    spec: &JobSpec,
    env: &Environment,
    now: chrono::DateTime<chrono::Utc>,
    selected: &dyn Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    let mut problems = Problems::new(text);
    for (index, source) in spec.sources.iter().enumerate() {
        if selected(source.name()) {
            let at = KeyPath::root().key("sources").index(index);
            source.check_before_fetch(&at, env, now, &mut problems);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            path: path.to_owned(),
            problems: problems.into_list(),
        })
    }
}

/// Parses and checks spec text; returns every problem found, each with its line when known.
pub fn parse(text: &str) -> Result<JobSpec, Vec<Problem>> {
    let mut problems = Problems::new(text);
    let raw: RawSpec =
        match serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text)) {
            Ok(raw) => raw,
            Err(e) => {
                problems.add_yaml_error(&e, TYPE_NAMES);
                return Err(problems.into_list());
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
        metrics: raw.metrics,
        sources,
    };
    spec.validate(&mut problems);
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(problems.into_list())
    }
}

impl JobSpec {
    fn validate(&self, problems: &mut Problems<'_>) {
        let root = KeyPath::root();
        check_name(problems, &root.key("job"), &self.job);
        let mut seen = HashSet::new();
        // Rendered report key → (source, report) of the first source that writes it.
        let mut keys: HashMap<String, (&str, String)> = HashMap::new();
        for (index, source) in self.sources.iter().enumerate() {
            let name_key = root.key("sources").index(index).key("name");
            if !seen.insert(source.name()) {
                problems.add(
                    &name_key,
                    format!(
                        "`{}` is used by another source; names must be unique",
                        source.name()
                    ),
                );
                continue;
            }
            for report in source.report_names() {
                let key = self
                    .output
                    .key_template
                    .replace("{source}", source.name())
                    .replace("{report}", &report);
                match keys.get(&key) {
                    Some((other, theirs)) if *other != source.name() => problems.add(
                        &name_key,
                        format!(
                            "its report `{report}` would be written under the same key as report `{theirs}` of source `{other}`; rename one of the two sources"
                        ),
                    ),
                    _ => {
                        keys.insert(key, (source.name(), report));
                    }
                }
            }
        }
        self.output.validate(&root.key("output"), problems);
        self.http.validate(&root.key("http"), problems);
        if self.source_timeout.is_zero() {
            problems.add(&root.key("source_timeout"), "must be positive");
        }
        if let Some(metrics) = &self.metrics {
            metrics.validate(&root.key("metrics"), problems);
        }
    }

    /// The deadline of one source's fetch.
    pub fn deadline_of(&self, source: &SourceSpec) -> Duration {
        source.timeout().unwrap_or(self.source_timeout)
    }
}

#[cfg(test)]
mod tests;
