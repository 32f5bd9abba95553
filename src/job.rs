//! The job spec: the top level that gathers output, HTTP, reports and sources; loading it and
//! every check that can run before anything is fetched.
//!
//! The top level is read by `serde_yaml` (which tracks locations); each source item stays a YAML
//! value until [`SourceSpec::from_yaml`] reads it, so every problem names its key and line.

use crate::config::checks::NAME_PATTERN;
use crate::config::duration::{self, HumanDuration};
use crate::config::{
    ConfigError, Environment, KeyPath, Problem, Problems, check_name, deserialize_duration,
};
use crate::http::HttpSpec;
use crate::metrics::MetricsSpec;
use crate::output::OutputSpec;
use crate::report::ReportOptions;
use crate::sources::SourceSpec;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
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

/// The top level as written; sources stay YAML values until stage two. Its field doc comments
/// are the descriptions of the JSON Schema ([`schema`]).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "rollcall job spec",
    description = "Where the reports go, and the systems to report on. Secrets never go here: each source names the environment variable that holds its token."
)]
struct RawSpec {
    /// Names the run in object keys and logs. 1 to 64 letters, digits, `.`, `_` or `-`, not
    /// starting with `.`.
    #[schemars(regex(pattern = NAME_PATTERN))]
    job: String,
    /// Where reports and the manifest are written.
    #[serde(default)]
    output: OutputSpec,
    /// Options shared by every CSV report.
    #[serde(default)]
    reports: ReportOptions,
    /// Settings of the HTTP client every source uses.
    #[serde(default)]
    http: HttpSpec,
    /// Deadline of one source's whole fetch, unless the source sets its own `timeout`. Keep it
    /// below the CronJob's `activeDeadlineSeconds`.
    #[serde(
        default = "default_source_timeout",
        deserialize_with = "deserialize_duration"
    )]
    #[schemars(with = "HumanDuration")]
    source_timeout: Duration,
    /// Push the run's metrics to a Prometheus Pushgateway when it ends.
    #[serde(default)]
    metrics: Option<MetricsSpec>,
    /// The systems to report on; fetched concurrently. Each item's `kind` decides its keys.
    #[schemars(length(min = 1), schema_with = "source_items_schema")]
    sources: Vec<serde_yaml::Value>,
}

fn source_items_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = crate::sources::item_schema(generator);
    schemars::json_schema!({
        "type": "array",
        "items": item,
    })
}

/// An optional key's default is its absence; `"default": null` would only clutter an editor.
fn no_null_defaults(schema: &mut Schema) {
    schemars::transform::transform_subschemas(&mut no_null_defaults, schema);
    if schema
        .get("default")
        .is_some_and(serde_json::Value::is_null)
    {
        schema.remove("default");
    }
}

/// The JSON Schema (draft 07) of the job spec, generated from the spec types: what
/// `rollcall schema` prints, editors check a spec with, and the chart's `values.schema.json`
/// carries for `config`. Every subschema is inline, so the chart can embed it whole.
pub fn schema() -> serde_json::Value {
    let generator = SchemaSettings::draft07()
        .with(|settings| settings.inline_subschemas = true)
        .with_transform(duration::defaults_as_text)
        .with_transform(no_null_defaults)
        .into_generator();
    generator.into_root_schema_for::<RawSpec>().to_value()
}

/// A spec as far as it could be read, and every problem found in it: in its YAML, its keys, its
/// values and the rules between them, all at once.
#[derive(Debug)]
pub struct Checked {
    /// The spec with defaults in place of refused keys; `None` when the file is not a mapping of
    /// YAML at all. Valid only when `problems` is empty.
    pub spec: Option<JobSpec>,
    pub problems: Vec<Problem>,
    /// Sources with problems of their own: preparing them (secrets, addresses) would only repeat
    /// those problems.
    pub sources_with_problems: Vec<String>,
}

/// Reads and checks a job spec file.
pub fn load(path: &Path) -> Result<JobSpec, ConfigError> {
    let (checked, _) = load_checked(path)?;
    match checked.spec {
        Some(spec) if checked.problems.is_empty() => Ok(spec),
        _ => Err(ConfigError::Invalid {
            path: path.to_owned(),
            problems: checked.problems,
        }),
    }
}

/// Reads a job spec file and checks it, returning what could be read with every problem, and
/// the file's text for checks made later that must still point at a line
/// ([`check_before_fetch`]); `Err` only when the file cannot be read as text.
pub fn load_checked(path: &Path) -> Result<(Checked, String), ConfigError> {
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
    let checked = check(&text);
    Ok((checked, text))
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
    let checked = check(text);
    match checked.spec {
        Some(spec) if checked.problems.is_empty() => Ok(spec),
        _ => Err(checked.problems),
    }
}

/// Parses and checks spec text as far as it can be read.
pub fn check(text: &str) -> Checked {
    let mut problems = Problems::new(text);
    let root = KeyPath::root();
    let mut document: serde_yaml::Mapping =
        match serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text)) {
            Ok(serde_yaml::Value::Null) => serde_yaml::Mapping::new(),
            Ok(serde_yaml::Value::Mapping(document)) => document,
            Ok(_) => {
                problems.add(
                &root,
                "must be a mapping with `job`, `output`, `sources` and the other top-level keys",
            );
                return Checked::failed(problems);
            }
            // Broken YAML (a tab, an unclosed quote): nothing after it can be trusted.
            Err(e) => {
                problems.add_yaml_error(&e);
                return Checked::failed(problems);
            }
        };
    // A missing `job` or `sources` must not hide the other problems: each is reported, and a
    // stand-in lets the rest be read.
    let missing = [
        (
            "job",
            "name the job, e.g. `job: nightly`",
            serde_yaml::Value::from(""),
        ),
        (
            "sources",
            "list the systems to report on",
            serde_yaml::Value::Sequence(Vec::new()),
        ),
    ];
    let mut stand_ins = Vec::new();
    for (key, what, stand_in) in missing {
        if !document.contains_key(key) {
            problems.add(&root, format!("missing field `{key}`: {what}"));
            document.insert(key.into(), stand_in);
            stand_ins.push(key);
        }
    }
    let Some(raw) = problems.read::<RawSpec>(serde_yaml::Value::Mapping(document), &root) else {
        return Checked::failed(problems);
    };
    // A refused or missing `job` is already reported; its stand-in is no name to check.
    if !stand_ins.contains(&"job") && !problems.has_any_at(&root.key("job")) {
        check_name(&mut problems, &root.key("job"), &raw.job);
    }
    if raw.sources.is_empty() && !stand_ins.contains(&"sources") {
        problems.add(&root.key("sources"), "lists no source; add at least one");
    }
    let mut sources = Vec::with_capacity(raw.sources.len());
    let mut sources_with_problems = Vec::new();
    for (index, value) in raw.sources.into_iter().enumerate() {
        let at = root.key("sources").index(index);
        let before = problems.len();
        if let Some(spec) = SourceSpec::from_yaml(value, &at, &mut problems) {
            if problems.len() > before {
                sources_with_problems.push(spec.name().to_owned());
            }
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
    Checked {
        spec: Some(spec),
        problems: problems.into_list(),
        sources_with_problems,
    }
}

impl Checked {
    fn failed(problems: Problems<'_>) -> Self {
        Self {
            spec: None,
            problems: problems.into_list(),
            sources_with_problems: Vec::new(),
        }
    }
}

impl JobSpec {
    fn validate(&self, problems: &mut Problems<'_>) {
        let root = KeyPath::root();
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
