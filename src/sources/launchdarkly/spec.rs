//! `kind: launchdarkly_audit_log`: its settings, their checks, the plan, and preparing a source.

use super::entry::LIMIT;
use super::{LaunchDarklySource, api};
use crate::config::duration::{HumanDuration, WrittenDuration, deserialize_optional_duration};
use crate::config::{ConfigError, Environment, KeyPath, Problems, parse_base_url};
use crate::http::{HttpClient, HttpSpec, join_path};
use crate::output::ledger::ContinuousWindow;
use crate::report::manifest::Window;
use crate::sources::vault::Logins;
use crate::sources::{CommonSpec, Plan, SourceKind};
use crate::time::RunClock;
use chrono::{DateTime, NaiveDate, SecondsFormat, SubsecRound, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;

const DEFAULT_LOOKBACK: Duration = Duration::from_secs(30 * 24 * 3600);
/// [`DEFAULT_LOOKBACK`] as a spec would write it, for the manifest.
const DEFAULT_LOOKBACK_TEXT: &str = "30d";
const MAX_LOOKBACK: Duration = Duration::from_secs(3650 * 24 * 3600);
/// More concurrent requests buy nothing but 429s: the rate limit is per account.
const MAX_CONCURRENCY: usize = 16;

/// The settings of a LaunchDarkly source beyond those every source has. Its token (default
/// `LD_API_TOKEN`) is sent as `Authorization: <token>`, without `Bearer`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchDarklySpec {
    /// API base URL. Default `https://app.launchdarkly.com`; federal instance
    /// `https://app.launchdarkly.us`, EU instance `https://app.eu.launchdarkly.com`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// `fixed` (default): the window is `start`..`end`, or `lookback` before the run.
    /// `continuous`: each run starts exactly where the last successful run of this job and
    /// source ended (found in the output's window ledger) and ends `settle` before now; the
    /// first run reaches back by `lookback`.
    #[serde(default)]
    pub window: WindowMode,
    /// How far back from `end` the window reaches (with `window: continuous`, the first run's
    /// reach). Default `30d`; not with `start`.
    #[serde(default)]
    #[schemars(with = "Option<HumanDuration>")]
    pub lookback: Option<WrittenDuration>,
    /// `window: continuous` only: how long before "now" each window ends, so an entry that
    /// becomes visible a little after its `date` falls in the next window. Default `5m`.
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    #[schemars(with = "Option<HumanDuration>")]
    pub settle: Option<Duration>,
    /// `window: continuous` only: the most one run covers when it catches up on missed runs;
    /// anything older is skipped, said loudly and recorded in the manifest as a gap. Default
    /// `30d`.
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    #[schemars(with = "Option<HumanDuration>")]
    pub max_catch_up: Option<Duration>,
    /// `window: continuous` only: how long your LaunchDarkly plan keeps the change history
    /// (30 days on Developer and Foundation plans). A window never starts further back; what
    /// lies beyond is recorded as a gap. Default: unknown, not applied.
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    #[schemars(with = "Option<HumanDuration>")]
    pub history_retention: Option<Duration>,
    /// First instant of the window (included): RFC 3339, or a date for UTC midnight.
    #[serde(default, deserialize_with = "deserialize_optional_instant")]
    #[schemars(with = "Option<String>")]
    pub start: Option<DateTime<Utc>>,
    /// End of the window (excluded): RFC 3339, or a date for UTC midnight. Default: the run's
    /// "now".
    #[serde(default, deserialize_with = "deserialize_optional_instant")]
    #[schemars(with = "Option<String>")]
    pub end: Option<DateTime<Utc>>,
    /// Text search passed to the API as `q` (full or partial resource name).
    #[serde(default)]
    pub q: Option<String>,
    /// Resource specifier passed to the API as `spec`, e.g. `proj/*:env/production:flag/*`.
    #[serde(default, rename = "spec")]
    pub resource_spec: Option<String>,
    /// Time ranges fetched at once, 1 to 16. Default 4: the rate limit is shared with every
    /// other integration of the account.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

/// How a run chooses its window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowMode {
    /// `start`..`end`, or `lookback` before the run.
    #[default]
    Fixed,
    /// From where the last successful run ended to `settle` before now.
    Continuous,
}

const DEFAULT_SETTLE: Duration = Duration::from_secs(5 * 60);
const MAX_SETTLE: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_MAX_CATCH_UP: Duration = Duration::from_secs(30 * 24 * 3600);
const MIN_CATCH_UP: Duration = Duration::from_secs(3600);

fn default_concurrency() -> usize {
    4
}

fn deserialize_optional_instant<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<String>::deserialize(de)?
        .map(|text| parse_instant(&text).map_err(serde::de::Error::custom))
        .transpose()
}

/// RFC 3339, or `YYYY-MM-DD` meaning midnight UTC.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    let trimmed = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Some(t) = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "`{text}` is not a time; write it as RFC 3339 (`2026-10-01T00:00:00Z`) or a UTC date (`2026-10-01`)"
    ))
}

/// The window settings, resolved against the run's clock when needed.
#[derive(Debug, Clone, Copy)]
pub(super) struct WindowSpec {
    lookback: Option<Duration>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
}

impl WindowSpec {
    /// `[start, end)`, in whole milliseconds: the API's precision, so the manifest records
    /// exactly the window that was asked for.
    pub fn resolve(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let end = self.end.unwrap_or(now);
        let start = self.start.unwrap_or_else(|| {
            let lookback = self.lookback.unwrap_or(DEFAULT_LOOKBACK).min(MAX_LOOKBACK);
            end - chrono::Duration::from_std(lookback).unwrap_or(chrono::Duration::days(30))
        });
        (start.trunc_subsecs(3), end.trunc_subsecs(3))
    }
}

impl LaunchDarklySpec {
    fn window_spec(&self) -> WindowSpec {
        WindowSpec {
            lookback: self.lookback.as_ref().map(|l| l.duration),
            start: self.start,
            end: self.end,
        }
    }

    fn validate_window_mode(&self, at: &KeyPath, problems: &mut Problems<'_>) {
        let continuous_only = [
            ("settle", self.settle.is_some()),
            ("max_catch_up", self.max_catch_up.is_some()),
            ("history_retention", self.history_retention.is_some()),
        ];
        if self.window == WindowMode::Fixed {
            for (key, set) in continuous_only {
                if set {
                    problems.add(&at.key(key), "applies only with `window: continuous`");
                }
            }
            return;
        }
        for (key, set) in [("start", self.start.is_some()), ("end", self.end.is_some())] {
            if set {
                problems.add(
                    &at.key(key),
                    "a continuous window starts where the last run ended and ends `settle` before now: remove `start` and `end`, or use `window: fixed`",
                );
            }
        }
        if self.settle.is_some_and(|s| s > MAX_SETTLE) {
            problems.add(&at.key("settle"), "must be at most 1d");
        }
        if self
            .max_catch_up
            .is_some_and(|m| !(MIN_CATCH_UP..=MAX_LOOKBACK).contains(&m))
        {
            problems.add(&at.key("max_catch_up"), "must be between 1h and 3650d");
        }
        if self.history_retention.is_some_and(|r| r < MIN_CATCH_UP) {
            problems.add(&at.key("history_retention"), "must be at least 1h");
        }
    }
}

impl SourceKind for LaunchDarklySpec {
    const KIND: &'static str = "launchdarkly_audit_log";
    const DEFAULT_TOKEN_ENV: &'static str = "LD_API_TOKEN";
    /// One page request.
    const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    const REPORT_SUFFIXES: &'static [&'static str] = &[""];
    const BEARER_PREFIX_CONSEQUENCE: &'static str = "LaunchDarkly takes the bare access token in `Authorization` and refuses a Bearer token with 401";
    type Source = LaunchDarklySource;

    fn validate(&self, common: &CommonSpec, at: &KeyPath, problems: &mut Problems<'_>) {
        self.validate_window_mode(at, problems);
        if let Some(url) = &self.base_url
            && let Err(message) = parse_base_url(url, common.allow_http)
        {
            problems.add(&at.key("base_url"), message);
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            problems.add(
                &at.key("concurrency"),
                format!(
                    "must be between 1 and {MAX_CONCURRENCY}; the rate limit is shared by the whole account, so more only brings 429s"
                ),
            );
        }
        if let Some(lookback) = self.lookback.as_ref().map(|l| l.duration) {
            if self.start.is_some() {
                problems.add(
                    &at.key("lookback"),
                    "set either `lookback` or `start`, not both",
                );
            } else if lookback < Duration::from_millis(1) || lookback > MAX_LOOKBACK {
                problems.add(&at.key("lookback"), "must be between 1ms and 3650d");
            }
        }
        if let (Some(start), Some(end)) = (self.start, self.end)
            && start >= end
        {
            problems.add(&at.key("end"), "must be later than `start`");
        }
        for (key, value) in [("q", &self.q), ("spec", &self.resource_spec)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                problems.add(
                    &at.key(key),
                    "must not be empty; leave it out to export every entry",
                );
            }
        }
        if let Some(spec) = &self.resource_spec
            && names_flags_without_environment(spec)
        {
            problems.add(
                &at.key("spec"),
                "names flags without an environment, which LaunchDarkly refuses (HTTP 400): put the `env/` level before `flag/`, e.g. `proj/*:env/*:flag/*`",
            );
        }
    }

    fn check_before_fetch(
        &self,
        _common: &CommonSpec,
        at: &KeyPath,
        now: DateTime<Utc>,
        problems: &mut Problems<'_>,
    ) {
        if let Some(start) = self.start
            && start > now
        {
            problems.add(
                &at.key("start"),
                format!(
                    "{} is later than the run's time ({}): the audit log has nothing there yet; set a `start` in the past, or use `lookback`",
                    start.to_rfc3339_opts(SecondsFormat::Secs, true),
                    now.to_rfc3339_opts(SecondsFormat::Secs, true)
                ),
            );
        }
    }

    fn continuous_window(&self) -> Option<ContinuousWindow> {
        (self.window == WindowMode::Continuous).then(|| ContinuousWindow {
            lookback: self
                .lookback
                .as_ref()
                .map_or(DEFAULT_LOOKBACK, |l| l.duration),
            settle: self.settle.unwrap_or(DEFAULT_SETTLE),
            max_catch_up: self.max_catch_up.unwrap_or(DEFAULT_MAX_CATCH_UP),
            retention: self.history_retention,
        })
    }

    fn plan(&self, _common: &CommonSpec, clock: &RunClock) -> Plan {
        let mut thresholds = BTreeMap::new();
        let window = match self.continuous_window() {
            // Known only once the run has read the window ledger; the run records it.
            Some(policy) => {
                thresholds.insert("window".into(), "continuous".into());
                let durations = [
                    ("settle", policy.settle),
                    ("max_catch_up", policy.max_catch_up),
                ]
                .into_iter()
                .chain(policy.retention.map(|r| ("history_retention", r)));
                for (key, value) in durations {
                    thresholds.insert(
                        key.into(),
                        humantime::format_duration(value).to_string().into(),
                    );
                }
                None
            }
            None => {
                let (start, end) = self.window_spec().resolve(clock.now());
                Some(Window { start, end })
            }
        };
        thresholds.insert("page_size".into(), (LIMIT as u64).into());
        thresholds.insert("concurrency".into(), (self.concurrency as u64).into());
        thresholds.insert("api_version".into(), api::API_VERSION.into());
        if self.start.is_none() {
            let written = self.lookback.as_ref().map(|l| l.text.as_str());
            thresholds.insert(
                "lookback".into(),
                written.unwrap_or(DEFAULT_LOOKBACK_TEXT).into(),
            );
        }
        if let Some(q) = &self.q {
            thresholds.insert("q".into(), q.clone().into());
        }
        if let Some(spec) = &self.resource_spec {
            thresholds.insert("spec".into(), spec.clone().into());
        }
        Plan { window, thresholds }
    }

    fn prepare(
        &self,
        common: &CommonSpec,
        env: &Environment,
        shared: &HttpClient,
        _http: &HttpSpec,
        _logins: &Logins,
    ) -> Result<LaunchDarklySource, ConfigError> {
        let fail = |message: String| common.error(message);
        let base = self.base_url.as_deref().unwrap_or(api::DEFAULT_BASE_URL);
        let base =
            parse_base_url(base, common.allow_http).map_err(|m| fail(format!("base_url {m}")))?;
        let token = env.secret(&common.name, &common.token_env)?;
        let header = token
            .header_value("")
            .map_err(|m| fail(format!("{}: {m}", common.token_env)))?;
        Ok(LaunchDarklySource {
            name: common.name.clone(),
            url: join_path(&base, api::AUDIT_LOG_PATH),
            counts_url: join_path(&base, api::COUNTS_PATH),
            projects_url: join_path(&base, api::PROJECTS_PATH),
            token_env: common.token_env.clone(),
            token: header,
            http: shared.clone(),
            window: self.window_spec(),
            q: self.q.clone(),
            resource_spec: self.resource_spec.clone(),
            concurrency: self.concurrency.clamp(1, MAX_CONCURRENCY),
            request_timeout: common.request_timeout,
        })
    }
}

/// A resource specifier with `flag/` and no `env/` level before it: the audit log refuses it.
fn names_flags_without_environment(spec: &str) -> bool {
    let mut environment = false;
    for segment in spec.split(';').next().unwrap_or_default().split(':') {
        environment |= segment.starts_with("env/");
        if segment.starts_with("flag/") && !environment {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::testing::first_source;
    use crate::sources::{KindSpec, Source, SourceSpec};

    fn spec(extra: &str) -> Result<SourceSpec, Vec<crate::config::Problem>> {
        first_source(&format!(
            "job: j\nsources:\n  - name: ld\n    kind: launchdarkly_audit_log\n{extra}"
        ))
    }

    fn own(spec: &SourceSpec) -> &LaunchDarklySpec {
        match &spec.kind {
            KindSpec::LaunchDarkly(own) => own,
            other => panic!("wrong kind: {other:?}"),
        }
    }

    fn prepared(source: Source) -> LaunchDarklySource {
        match source {
            Source::LaunchDarkly(source) => source,
            other => panic!("wrong kind: {other:?}"),
        }
    }

    fn problems(extra: &str) -> Vec<(String, Option<usize>, String)> {
        spec(extra)
            .expect_err("should be refused")
            .into_iter()
            .map(|p| (p.key, p.line, p.message))
            .collect()
    }

    fn at(text: &str) -> DateTime<Utc> {
        parse_instant(text).unwrap()
    }

    #[test]
    fn defaults_and_window_from_the_run_clock() {
        let s = spec("").unwrap();
        assert_eq!(s.common.token_env, "LD_API_TOKEN");
        assert_eq!(own(&s).concurrency, 4);
        assert!(own(&s).base_url.is_none());
        let clock = RunClock::fixed(at("2026-11-22T03:00:00Z"));
        let plan = s.plan(&clock);
        let window = plan.window.unwrap();
        assert_eq!(window.start, at("2026-10-23T03:00:00Z"));
        assert_eq!(window.end, at("2026-11-22T03:00:00Z"));
        assert_eq!(plan.thresholds["lookback"], DEFAULT_LOOKBACK_TEXT);
        assert_eq!(
            crate::config::duration::parse_duration(DEFAULT_LOOKBACK_TEXT).unwrap(),
            DEFAULT_LOOKBACK
        );
        // The window is at the API's precision, whatever the clock's.
        let fine = RunClock::fixed(at("2026-11-22T03:00:00.123456789Z"));
        let window = s.plan(&fine).window.unwrap();
        assert_eq!(window.end, at("2026-11-22T03:00:00.123Z"));
        assert_eq!(window.start, at("2026-10-23T03:00:00.123Z"));
        assert_eq!(plan.thresholds["page_size"], 20);
        assert_eq!(plan.thresholds["concurrency"], 4);

        let s = spec("    start: 2026-10-01\n    end: 2026-10-02T12:00:00+02:00\n    q: checkout\n    spec: proj/*:env/production:flag/*\n").unwrap();
        let plan = s.plan(&clock);
        let window = plan.window.unwrap();
        assert_eq!(window.start, at("2026-10-01T00:00:00Z"));
        assert_eq!(window.end, at("2026-10-02T10:00:00Z"));
        assert!(!plan.thresholds.contains_key("lookback"));
        assert_eq!(plan.thresholds["spec"], "proj/*:env/production:flag/*");

        let s = spec("    lookback: 168h\n    end: 2026-10-08\n").unwrap();
        let plan = s.plan(&clock);
        assert_eq!(plan.window.unwrap().start, at("2026-10-01"));
        assert_eq!(plan.thresholds["lookback"], "168h", "as the spec wrote it");
    }

    #[test]
    fn bad_settings_name_their_key_and_line() {
        let p = problems("    lookback: 7d\n    start: 2026-10-01\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "sources[0].lookback");
        assert_eq!(p[0].1, Some(5));

        let p = problems("    start: 2026-10-02\n    end: 2026-10-01\n");
        assert_eq!(p[0].0, "sources[0].end", "{p:?}");
        assert!(p[0].2.contains("later than `start`"));

        let p = problems("    start: last tuesday\n");
        assert_eq!(p[0].0, "sources[0].start", "{p:?}");
        assert!(p[0].2.contains("RFC 3339"), "{p:?}");

        let p = problems(
            "    concurrency: 64\n    base_url: http://ld.internal\n    q: \"\"\n    token_env: 1X\n",
        );
        let keys: Vec<&str> = p.iter().map(|p| p.0.as_str()).collect();
        for key in ["concurrency", "base_url", "q", "token_env"] {
            assert!(
                keys.contains(&format!("sources[0].{key}").as_str()),
                "{p:?}"
            );
        }
        assert!(p.iter().all(|p| p.1.is_some()), "{p:?}");

        let p = problems("    limit: 50\n");
        assert_eq!(
            p[0].0, "sources[0].limit",
            "unknown keys are refused: {p:?}"
        );

        // An http base URL is fine on loopback, or when allowed.
        spec("    base_url: http://127.0.0.1:9\n").unwrap();
        spec("    base_url: http://ld.internal\n    allow_http: true\n").unwrap();
    }

    #[test]
    fn token_comes_from_its_variable_or_file_and_never_shows() {
        let s = spec("    token_env: LD_TOKEN\n").unwrap();
        let shared = HttpClient::new(&HttpSpec::default(), None).unwrap();
        let env = Environment::from_pairs([("LD_TOKEN", "api-0123-secret-value")]);
        let source = prepared(
            s.prepare(&env, &shared, &HttpSpec::default(), &Logins::default())
                .unwrap(),
        );
        assert_eq!(
            source.url.as_str(),
            "https://app.launchdarkly.com/api/v2/auditlog"
        );
        assert!(source.token.is_sensitive());
        assert!(!format!("{source:?}").contains("secret-value"));

        let err = s
            .prepare(
                &Environment::default(),
                &shared,
                &HttpSpec::default(),
                &Logins::default(),
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("LD_TOKEN_FILE"), "{err}");

        let eu = spec("    base_url: https://app.eu.launchdarkly.com/\n").unwrap();
        let env = Environment::from_pairs([("LD_API_TOKEN", "api-x")]);
        let source = prepared(
            eu.prepare(&env, &shared, &HttpSpec::default(), &Logins::default())
                .unwrap(),
        );
        assert_eq!(
            source.url.as_str(),
            "https://app.eu.launchdarkly.com/api/v2/auditlog"
        );
    }

    #[test]
    fn a_continuous_window_is_chosen_by_the_run_and_refuses_fixed_bounds() {
        let s = spec("    window: continuous\n    lookback: 2d\n    settle: 10m\n").unwrap();
        let policy = s.continuous_window().expect("continuous");
        assert_eq!(policy.lookback, Duration::from_secs(2 * 86_400));
        assert_eq!(policy.settle, Duration::from_secs(600));
        assert_eq!(policy.max_catch_up, DEFAULT_MAX_CATCH_UP);
        assert_eq!(policy.retention, None);
        let plan = s.plan(&RunClock::fixed(at("2026-11-22T03:00:00Z")));
        assert!(plan.window.is_none(), "the run resolves it from the ledger");
        assert_eq!(plan.thresholds["window"], "continuous");
        assert_eq!(plan.thresholds["settle"], "10m");
        assert!(spec("").unwrap().continuous_window().is_none());

        let p = problems("    window: continuous\n    start: 2026-10-01\n    end: 2026-10-02\n");
        let keys: Vec<&str> = p.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(keys, ["sources[0].start", "sources[0].end"], "{p:?}");
        assert!(p[0].2.contains("window: fixed"), "{p:?}");
        assert_eq!(p[0].1, Some(6));

        let p = problems("    settle: 5m\n    history_retention: 30d\n");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p.iter()
                .all(|p| p.2.contains("only with `window: continuous`")),
            "{p:?}"
        );

        let p = problems("    window: continuous\n    settle: 2d\n    max_catch_up: 10m\n");
        let keys: Vec<&str> = p.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            keys,
            ["sources[0].settle", "sources[0].max_catch_up"],
            "{p:?}"
        );

        let p = problems("    window: sliding\n");
        assert_eq!(p[0].0, "sources[0].window", "{p:?}");
        assert!(p[0].2.contains("continuous"), "{p:?}");
    }
}
