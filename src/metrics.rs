//! The run's metrics, pushed to a Prometheus Pushgateway at the end of every run (the Prometheus
//! convention for batch jobs: a CronJob lives too short to be scraped).
//!
//! Grouping (documented in docs/summary.md): the run's own series go to the group
//! `job/<job>/shard/<shard>` and are replaced whole (`PUT`); each source's go to
//! `job/<job>/source/<source>` and are updated by name (`POST`). The split is what keeps
//! `rollcall_source_last_success_timestamp_seconds` truthful: it is only sent when the source
//! succeeded, and a `POST` leaves every series it does not name as it was, so a failed run keeps
//! the time of the last success instead of resetting it to 0 or dropping it. One group per
//! source also keeps the sources of one CronJob, or one shard, from replacing another's.
//!
//! A push never fails the run: it has a short deadline of its own, and a failure becomes a
//! warning in the log and a finding in the manifest.

use crate::config::{KeyPath, Problems, url_for_messages};
use crate::http::join_path;
use crate::report::manifest::{RunStatus, SourceStatus};
use crate::report::summary::{Completeness, KindDetails, RunView, SourceView};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use reqwest::{Method, Url};
use serde::Deserialize;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The exposition format the Pushgateway parses; prometheus-client writes gauges in it
/// (OpenMetrics' `# UNIT` and `# EOF` lines are comments to this parser).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `metrics:` in the job spec.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsSpec {
    /// Base URL of the Prometheus Pushgateway, e.g. `http://pushgateway.monitoring:9091`.
    /// Plain http is usual inside a cluster; the push carries no secret.
    pub pushgateway: String,
    /// Longest the whole push may take; after it the run goes on without it. Default 5s.
    #[serde(
        default = "default_push_timeout",
        deserialize_with = "crate::config::deserialize_duration"
    )]
    #[schemars(with = "crate::config::duration::HumanDuration")]
    pub timeout: Duration,
}

fn default_push_timeout() -> Duration {
    Duration::from_secs(5)
}

impl MetricsSpec {
    pub fn validate(&self, at: &KeyPath, problems: &mut Problems<'_>) {
        if let Err(message) = self.url() {
            problems.add(&at.key("pushgateway"), message);
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(60) {
            problems.add(
                &at.key("timeout"),
                "must be between 1ms and 60s: a slow Pushgateway must not hold up the run",
            );
        }
    }

    /// The Pushgateway's base URL, checked.
    pub fn url(&self) -> Result<Url, String> {
        let shown = url_for_messages(&self.pushgateway);
        let url =
            Url::parse(&self.pushgateway).map_err(|e| format!("`{shown}` is not a URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the Pushgateway URL must not carry credentials".to_owned());
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "`{shown}` has scheme `{}`; use http or https",
                url.scheme()
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("`{shown}` must not have a query or fragment"));
        }
        Ok(url)
    }
}

/// One Pushgateway group: where it goes, how, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `job/<job>/...`, below `{pushgateway}/metrics/`.
    pub path: String,
    pub method: GroupMethod,
    /// The exposition text.
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupMethod {
    /// Replace every series of the group.
    Replace,
    /// Replace only the series named in the body.
    Update,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every group of a run: the run's, then one per source.
pub fn groups(run: &RunView) -> Vec<Group> {
    let shard = run
        .shard
        .map(|s| format!("{}-of-{}", s.index, s.count))
        .unwrap_or_else(|| "all".to_owned());
    let job = label_segment("job", &run.job);
    let mut groups = vec![Group {
        path: format!("{job}/{}", label_segment("shard", &shard)),
        method: GroupMethod::Replace,
        body: run_exposition(run),
    }];
    groups.extend(run.sources.iter().map(|source| Group {
        path: format!("{job}/{}", label_segment("source", &source.name)),
        method: GroupMethod::Update,
        body: source_exposition(source),
    }));
    groups
}

/// `name/value` for a grouping-key path. Job and source names are letters, digits, `.`, `_` and
/// `-` (the spec checks), which go as they are; anything else would be read as a path, so it
/// goes base64url-encoded, which the Pushgateway decodes (`name@base64/...`).
fn label_segment(name: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && !value.starts_with('.')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain {
        format!("{name}/{value}")
    } else {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value);
        // The Pushgateway reads an empty base64 value as `=`.
        let encoded = if encoded.is_empty() {
            "=".to_owned()
        } else {
            encoded
        };
        format!("{name}@base64/{encoded}")
    }
}

fn run_exposition(run: &RunView) -> String {
    let mut registry = Registry::with_prefix("rollcall_run");
    let status = Family::<StatusLabel, Gauge>::default();
    for value in RunStatus::ALL {
        status
            .get_or_create(&StatusLabel {
                status: value.as_str().to_owned(),
            })
            .set(i64::from(value == run.status));
    }
    registry.register(
        "status",
        "1 for the run's status (succeeded, partial, failed), 0 for the others",
        status,
    );
    register_float(
        &mut registry,
        "duration",
        "Time from the run's start to its end",
        Some(Unit::Seconds),
        run.duration_seconds(),
    );
    register_int(
        &mut registry,
        "exit_code",
        "The run's exit code (0 all succeeded, 2 configuration, 3 partial)",
        i64::from(run.exit_code),
    );
    register_float(
        &mut registry,
        "finished_timestamp",
        "When the run finished, Unix time",
        Some(Unit::Seconds),
        unix_seconds(run.finished_at),
    );
    register_int(
        &mut registry,
        "sources",
        "Sources this run (or shard) ran",
        run.sources.len() as i64,
    );
    encode(&registry)
}

fn source_exposition(source: &SourceView) -> String {
    let mut registry = Registry::with_prefix("rollcall");
    let status = Family::<StatusLabel, Gauge>::default();
    for value in SourceStatus::ALL {
        status
            .get_or_create(&StatusLabel {
                status: value.as_str().to_owned(),
            })
            .set(i64::from(value == source.status));
    }
    registry.register(
        "source_status",
        "1 for the source's status (succeeded, incomplete, failed), 0 for the others",
        status,
    );
    register_int(
        &mut registry,
        "source_rows",
        "Rows written over all of the source's reports",
        clamp(source.rows),
    );
    register_float(
        &mut registry,
        "source_duration",
        "Time the source took, fetch and reports",
        Some(Unit::Seconds),
        source.duration_seconds(),
    );
    // A source group is updated by name (POST): a figure left out keeps the previous run's
    // value, so what this run cannot say is sent as NaN rather than left out.
    register_float(
        &mut registry,
        "source_requests",
        "HTTP requests the source sent; NaN when the source failed before counting",
        None,
        known(source.facts.requests),
    );
    register_float(
        &mut registry,
        "source_rate_limited_responses",
        "HTTP 429 answers the source got; NaN when the source failed before counting",
        None,
        known(source.facts.rate_limited),
    );
    if source.status == SourceStatus::Succeeded {
        // Only on success: the group is updated by name, so a failed run leaves it as it was.
        register_float(
            &mut registry,
            "source_last_success_timestamp",
            "When the source last succeeded (complete), Unix time",
            Some(Unit::Seconds),
            unix_seconds(source.finished_at),
        );
    }
    match &source.facts.details {
        Some(KindDetails::Vault(v)) => {
            register_int(
                &mut registry,
                "vault_clients_counted",
                "Vault clients counted in the trailing window this month",
                clamp(v.counted_now()),
            );
            if let Some(licensed) = v.licensed_clients {
                register_int(
                    &mut registry,
                    "vault_licensed_clients",
                    "Vault clients the licence allows",
                    clamp(licensed),
                );
                register_int(
                    &mut registry,
                    "vault_clients_over_licence",
                    "Vault clients above the licence in the worst forecast month",
                    clamp(v.clients_over_licence()),
                );
                register_int(
                    &mut registry,
                    "vault_months_over_licence",
                    "Forecast months whose client count is above the licence",
                    v.months_over_licence().len() as i64,
                );
            }
        }
        Some(KindDetails::VisionOne(v)) => {
            register_int(
                &mut registry,
                "vision_one_accounts",
                "Trend Vision One accounts judged",
                clamp(v.accounts),
            );
            register_int(
                &mut registry,
                "vision_one_accounts_to_remove",
                "Accounts the cleanup file asks to remove",
                clamp(v.to_remove_total),
            );
        }
        Some(KindDetails::LaunchDarkly(v)) => {
            register_int(
                &mut registry,
                "launchdarkly_entries",
                "Audit log entries exported",
                clamp(v.entries),
            );
            // Unknown completeness is NaN: not a guess, and not the last run's figure.
            let missing = match v.completeness {
                Completeness::Complete => Some(0),
                Completeness::Missing { entries } => Some(entries),
                Completeness::Unknown { .. } => None,
            };
            register_float(
                &mut registry,
                "launchdarkly_entries_missing",
                "Audit log entries counted by LaunchDarkly but not exported; NaN when how many is unknown",
                None,
                known(missing),
            );
        }
        None => {}
    }
    encode(&registry)
}

/// A count as a gauge value, NaN when unknown.
fn known(value: Option<u64>) -> f64 {
    value.map_or(f64::NAN, |v| v as f64)
}

fn register_int(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let gauge = Gauge::<i64>::default();
    gauge.set(value);
    registry.register(name, help, gauge);
}

fn register_float(registry: &mut Registry, name: &str, help: &str, unit: Option<Unit>, value: f64) {
    let gauge = FloatGauge::default();
    gauge.set(value);
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, gauge),
        None => registry.register(name, help, gauge),
    }
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn unix_seconds(at: chrono::DateTime<chrono::Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}

/// Why a push did not go through, for the warning and the manifest's finding.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(
        "the Pushgateway at {url} did not answer within {timeout}; the run's metrics were not pushed (check `metrics.pushgateway`, or raise `metrics.timeout`)"
    )]
    Timeout { url: String, timeout: String },
    #[error("the Pushgateway refused the metrics of group {group}: {detail}")]
    Group { group: String, detail: String },
}

/// Pushes every group, concurrently, all within `timeout`. Returns what failed, per group.
pub async fn push(
    client: &reqwest::Client,
    spec: &MetricsSpec,
    run: &RunView,
) -> Result<(), Vec<PushError>> {
    let base = spec.url().map_err(|detail| {
        vec![PushError::Group {
            group: "all".into(),
            detail,
        }]
    })?;
    let groups = groups(run);
    let sends = groups.iter().map(|group| send(client, &base, group));
    match tokio::time::timeout(spec.timeout, futures::future::join_all(sends)).await {
        Ok(results) => {
            let errors: Vec<PushError> = results.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors)
            }
        }
        Err(_) => Err(vec![PushError::Timeout {
            url: shown_url(&base),
            timeout: humantime::format_duration(spec.timeout).to_string(),
        }]),
    }
}

async fn send(client: &reqwest::Client, base: &Url, group: &Group) -> Result<(), PushError> {
    let url = join_path(base, &format!("metrics/{}", group.path));
    let method = match group.method {
        GroupMethod::Replace => Method::PUT,
        GroupMethod::Update => Method::POST,
    };
    let failed = |detail: String| PushError::Group {
        group: group.path.clone(),
        detail,
    };
    let response = client
        .request(method, url)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(group.body.clone())
        .send()
        .await
        .map_err(|e| {
            failed(format!(
                "{} is unreachable: {}",
                shown_url(base),
                crate::http::error_chain(&e)
            ))
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = crate::http::read_limited(response, crate::http::ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default();
    Err(failed(format!(
        "HTTP {status}: {}",
        crate::http::describe_body(&body)
    )))
}

/// The base URL as shown in messages: scheme, host, port and path only.
fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::{LaunchDarklyDetails, SourceFacts};
    use chrono::TimeZone;

    fn run(status: SourceStatus) -> RunView {
        let start = chrono::Utc
            .with_ymd_and_hms(2026, 11, 22, 3, 0, 0)
            .single()
            .expect("valid");
        RunView {
            job: "nightly".into(),
            run_id: "r1".into(),
            started_at: start,
            finished_at: start + chrono::Duration::seconds(90),
            status: RunStatus::Succeeded,
            exit_code: 0,
            shard: Some(crate::report::manifest::ShardInfo { index: 1, count: 3 }),
            sources: vec![SourceView {
                name: "vault-prod".into(),
                kind: "vault_client_activity".into(),
                status,
                started_at: start,
                finished_at: start + chrono::Duration::seconds(60),
                window: None,
                thresholds: Default::default(),
                error: None,
                missing: None,
                reports: Vec::new(),
                rows: 7,
                facts: Default::default(),
            }],
        }
    }

    #[test]
    fn what_a_run_cannot_say_is_sent_as_nan_not_left_to_the_last_runs_value() {
        let mut view = run(SourceStatus::Incomplete);
        let body = &groups(&view)[1].body;
        // No facts: the source failed before counting.
        assert!(body.contains("rollcall_source_requests NaN"), "{body}");
        assert!(
            body.contains("rollcall_source_rate_limited_responses NaN"),
            "{body}"
        );

        view.sources[0].facts = SourceFacts {
            requests: Some(12),
            rate_limited: Some(0),
            details: Some(KindDetails::LaunchDarkly(LaunchDarklyDetails {
                entries: 40,
                per_day: Vec::new(),
                top_members: Vec::new(),
                top_tokens: Vec::new(),
                completeness: Completeness::Unknown {
                    reason: "the account would not count".into(),
                },
            })),
        };
        let body = &groups(&view)[1].body;
        assert!(body.contains("rollcall_source_requests 12"), "{body}");
        assert!(
            body.contains("rollcall_launchdarkly_entries_missing NaN"),
            "{body}"
        );
        assert!(body.contains("rollcall_launchdarkly_entries 40"), "{body}");
    }

    #[test]
    fn one_replaced_group_per_run_and_one_updated_group_per_source() {
        let groups = groups(&run(SourceStatus::Succeeded));
        assert_eq!(groups[0].path, "job/nightly/shard/1-of-3");
        assert_eq!(groups[0].method, GroupMethod::Replace);
        assert_eq!(groups[1].path, "job/nightly/source/vault-prod");
        assert_eq!(groups[1].method, GroupMethod::Update);
        let body = &groups[1].body;
        assert!(
            body.contains("rollcall_source_status{status=\"incomplete\"} 0"),
            "{body}"
        );
        assert!(
            body.contains("rollcall_source_status{status=\"succeeded\"} 1"),
            "{body}"
        );
        assert!(
            body.contains("rollcall_source_last_success_timestamp_seconds 1795316460.0"),
            "{body}"
        );
        assert!(
            body.contains("rollcall_source_duration_seconds 60.0"),
            "{body}"
        );
        assert!(
            groups[0]
                .body
                .contains("rollcall_run_duration_seconds 90.0")
        );
    }

    #[test]
    fn a_source_that_did_not_succeed_sends_no_last_success() {
        for status in [SourceStatus::Failed, SourceStatus::Incomplete] {
            let groups = groups(&run(status));
            assert!(!groups[1].body.contains("last_success"), "{status:?}");
            assert!(groups[1].body.contains(&format!(
                "rollcall_source_status{{status=\"{}\"}} 1",
                status.as_str()
            )));
        }
    }

    #[test]
    fn label_values_that_are_not_plain_go_base64() {
        assert_eq!(label_segment("job", "nightly-1.a_b"), "job/nightly-1.a_b");
        assert_eq!(label_segment("job", "a/b"), "job@base64/YS9i");
        assert_eq!(label_segment("job", ".."), "job@base64/Li4");
        assert_eq!(label_segment("job", ""), "job@base64/=");
    }

    #[test]
    fn a_pushgateway_url_with_credentials_never_shows_them() {
        for url in [
            "ftp://user:s3cret@push:9091",
            "http://user:s3cret@push:9091",
        ] {
            let spec = MetricsSpec {
                pushgateway: url.into(),
                ..serde_yaml::from_str("pushgateway: http://push:9091").unwrap()
            };
            let error = spec.url().unwrap_err();
            assert!(!error.contains("s3cret"), "{error}");
        }
        assert_eq!(
            url_for_messages("user:s3cret@vault:8200"),
            "…@vault:8200",
            "no scheme either"
        );
    }

    #[test]
    fn the_pushgateway_url_is_checked() {
        let spec = |url: &str| MetricsSpec {
            pushgateway: url.into(),
            timeout: Duration::from_secs(5),
        };
        assert!(spec("http://pushgateway.monitoring:9091").url().is_ok());
        assert!(spec("https://push.example.com/prefix/").url().is_ok());
        for bad in [
            "pushgateway:9091",
            "ftp://x",
            "http://u:p@x",
            "http://x/?a=1",
            "nope",
        ] {
            assert!(spec(bad).url().is_err(), "{bad}");
        }
        let message = spec("http://u:secret@x").url().expect_err("credentials");
        assert!(!message.contains("secret"), "{message}");
    }
}
