//! `kind: vision_one_inactive_accounts`: its settings, their checks, the scan window and the
//! request budget they give, and preparing a source.

use super::VisionOneSource;
use super::api::{RETENTION, RETENTION_MARGIN};
use crate::config::duration::{HumanDuration, deserialize_duration, deserialize_optional_duration};
use crate::config::{ConfigError, Environment, KeyPath, Problems, parse_base_url};
use crate::http::{Budget, HttpClient, HttpSpec, RateLimitPatience, RateLimiter};
use crate::report::manifest::Window;
use crate::sources::vault::Logins;
use crate::sources::{CommonSpec, Plan, SourceKind};
use crate::time::{RunClock, rfc3339_seconds};
use chrono::{DateTime, SubsecRound, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Trend Vision One data centres, as Trend's own clients map them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Us,
    Eu,
    Sg,
    Au,
    In,
    Mea,
    Jp,
}

impl Region {
    /// The API host of the region (`jp` is not `api.jp...`: Trend fixed that in its own client).
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.xdr.trendmicro.com",
            Region::Eu => "https://api.eu.xdr.trendmicro.com",
            Region::Sg => "https://api.sg.xdr.trendmicro.com",
            Region::Au => "https://api.au.xdr.trendmicro.com",
            Region::In => "https://api.in.xdr.trendmicro.com",
            Region::Mea => "https://api.mea.xdr.trendmicro.com",
            Region::Jp => "https://api.xdr.trendmicro.co.jp",
        }
    }
}

/// The settings of a Vision One source beyond those every source has. Its API key comes from
/// `TREND_VISION_ONE_TOKEN` unless `token_env` says otherwise.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VisionOneSpec {
    /// Data centre of the Vision One tenant: `us`, `eu`, `sg`, `au`, `in`, `mea` or `jp`.
    /// Exactly one of `region` and `base_url` is required.
    #[serde(default)]
    pub region: Option<Region>,
    /// API base URL instead of a region (a proxy, a test server), e.g. `https://proxy/trend`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// An account whose latest counted logon is older than this many days, or absent, is
    /// inactive and requested for removal. Default 90; at most 179 (the audit log keeps 180).
    #[serde(default = "default_inactive_days")]
    pub inactive_days: u32,
    /// How far back the logon scan reaches, e.g. `180d`. Default: `inactive_days`. Longer shows
    /// older last logons in the detail report at the cost of more pages; at most `180d`.
    #[serde(default, deserialize_with = "deserialize_optional_duration")]
    #[schemars(with = "Option<HumanDuration>")]
    pub lookback: Option<Duration>,
    /// Count unsuccessful logon attempts as activity. Default false: a failed attempt is not a
    /// logon.
    #[serde(default)]
    pub count_unsuccessful_logons: bool,
    /// The largest share of the accounts judged (SAML groups aside) that one cleanup file may
    /// request to remove, e.g. `0.5`. Beyond it the cleanup file is not written and the source
    /// fails, naming the numbers: a removal of that size is more likely missing data than
    /// truth. `1` turns the limit off. Default `0.5`.
    #[serde(default = "default_max_remove_ratio")]
    pub max_remove_ratio: f64,
    /// Client-side request budget shared by every request of this source. Default 500 per 60s,
    /// the limit Trend's API is known to enforce. Requests are paced on a window 2% longer than
    /// `per`, so network jitter cannot push Trend's own count over the limit.
    #[serde(default)]
    pub rate_limit: RateLimitSpec,
}

/// `rate_limit: {requests: 500, per: 60s}`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Requests allowed in any window of length `per`. Default 500.
    #[serde(default = "default_requests")]
    pub requests: u32,
    /// Length of the window. Default `60s`.
    #[serde(default = "default_per", deserialize_with = "deserialize_duration")]
    #[schemars(with = "HumanDuration")]
    pub per: Duration,
}

impl Default for RateLimitSpec {
    fn default() -> Self {
        Self {
            requests: default_requests(),
            per: default_per(),
        }
    }
}

fn default_max_remove_ratio() -> f64 {
    0.5
}
fn default_inactive_days() -> u32 {
    90
}
fn default_requests() -> u32 {
    500
}
fn default_per() -> Duration {
    Duration::from_secs(60)
}

const DAY: Duration = Duration::from_secs(86_400);

impl VisionOneSpec {
    /// How far back the logon scan reaches.
    fn lookback(&self) -> Duration {
        self.lookback.unwrap_or(DAY * self.inactive_days)
    }
}

impl SourceKind for VisionOneSpec {
    const KIND: &'static str = "vision_one_inactive_accounts";
    const DEFAULT_TOKEN_ENV: &'static str = "TREND_VISION_ONE_TOKEN";
    /// One page, first byte to last. Trend ends its own requests at 60s.
    const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
    /// The cleanup request file and the accounts report.
    const REPORT_SUFFIXES: &'static [&'static str] = &["", "-accounts"];
    const BEARER_PREFIX_CONSEQUENCE: &'static str = "rollcall sends `Authorization: Bearer <key>` itself, so Trend would get `Bearer Bearer …` and refuse it with 401";
    type Source = VisionOneSource;

    fn validate(&self, common: &CommonSpec, at: &KeyPath, problems: &mut Problems<'_>) {
        let regions = "us, eu, sg, au, in, mea or jp";
        match (&self.region, &self.base_url) {
            (Some(_), Some(_)) => problems.add(
                &at.key("base_url"),
                "set either `region` or `base_url`, not both",
            ),
            (None, None) => problems.add(
                at,
                format!("needs `region` ({regions}) or `base_url`; the token must only go to the tenant's own data centre"),
            ),
            (None, Some(url)) => {
                if let Err(message) = parse_base_url(url, common.allow_http) {
                    problems.add(&at.key("base_url"), message);
                }
            }
            (Some(_), None) => {}
        }
        let max_days = (RETENTION.as_secs() / 86_400) as u32 - 1;
        if !(1..=max_days).contains(&self.inactive_days) {
            problems.add(
                &at.key("inactive_days"),
                format!("must be between 1 and {max_days}: the audit log keeps 180 days, and the whole threshold must fit in the scan"),
            );
        }
        if let Some(lookback) = self.lookback {
            let threshold = DAY * self.inactive_days;
            if lookback < threshold {
                problems.add(
                    &at.key("lookback"),
                    format!(
                        "must be at least `inactive_days` ({} days): a shorter scan would miss logons that keep an account active",
                        self.inactive_days
                    ),
                );
            }
            if lookback > RETENTION {
                problems.add(
                    &at.key("lookback"),
                    "must be at most 180d: the audit log keeps 180 days",
                );
            }
        }
        if self.rate_limit.requests == 0 {
            problems.add(&at.key("rate_limit").key("requests"), "must be positive");
        }
        if self.rate_limit.per < Duration::from_secs(1) {
            problems.add(&at.key("rate_limit").key("per"), "must be at least 1s");
        }
        if !(self.max_remove_ratio > 0.0 && self.max_remove_ratio <= 1.0) {
            problems.add(
                &at.key("max_remove_ratio"),
                "must be above 0 and at most 1 (1 turns the limit off), e.g. 0.5 for at most half of the accounts",
            );
        }
    }

    fn plan(&self, _common: &CommonSpec, clock: &RunClock) -> Plan {
        let now = clock.now();
        let (start, end) = scan_window(now, self.lookback());
        let mut thresholds = BTreeMap::new();
        thresholds.insert("inactive_days".into(), self.inactive_days.into());
        thresholds.insert(
            "inactive_before".into(),
            rfc3339_seconds(cutoff(now, self.inactive_days)).into(),
        );
        thresholds.insert(
            "count_unsuccessful_logons".into(),
            self.count_unsuccessful_logons.into(),
        );
        thresholds.insert("max_remove_ratio".into(), self.max_remove_ratio.into());
        Plan {
            window: Some(Window { start, end }),
            thresholds,
        }
    }

    fn prepare(
        &self,
        common: &CommonSpec,
        env: &Environment,
        shared: &HttpClient,
        _http: &HttpSpec,
        _logins: &Logins,
    ) -> Result<VisionOneSource, ConfigError> {
        let fail = |message: String| common.error(message);
        let base =
            match (&self.base_url, self.region) {
                (Some(url), _) => parse_base_url(url, common.allow_http)
                    .map_err(|m| fail(format!("base_url {m}")))?,
                (None, Some(region)) => parse_base_url(region.base_url(), false)
                    .map_err(|m| fail(format!("region {m}")))?,
                (None, None) => return Err(fail("needs `region` or `base_url`".into())),
            };
        let token = env.secret(&common.name, &common.token_env)?;
        token
            .header_value("Bearer ")
            .map_err(|m| fail(format!("{}: {m}", common.token_env)))?;
        Ok(VisionOneSource {
            name: common.name.clone(),
            base,
            token,
            token_env: common.token_env.clone(),
            http: shared.clone(),
            limiter: RateLimiter::new(Some(paced(self.rate_limit))),
            patience: patience(self.rate_limit),
            inactive_days: self.inactive_days,
            lookback: self.lookback(),
            count_unsuccessful: self.count_unsuccessful_logons,
            max_remove_ratio: self.max_remove_ratio,
            request_timeout: common.request_timeout,
        })
    }
}

/// Trend counts a request when it arrives, rollcall when it leaves; latency varies, so two
/// requests `per` apart here can land a little closer there. Pacing on a window 2% longer keeps
/// that jitter from squeezing one request too many into Trend's window.
pub fn paced(limit: RateLimitSpec) -> Budget {
    Budget {
        requests: limit.requests,
        per: limit.per + limit.per / 50,
    }
}

/// Trend sends no `Retry-After` and refuses every request until its window has room again, so a
/// retry seconds later is refused too: after a 429, wait a sixth of the window (10 s of 60 s),
/// doubling, up to the whole window.
pub fn patience(limit: RateLimitSpec) -> RateLimitPatience {
    RateLimitPatience {
        floor: limit.per / 6,
        ceiling: limit.per,
    }
}

/// The scan covers `[now - lookback, now]` in whole seconds (start rounded down, end up, so no
/// logon inside the window is cut off), never closer than an hour to the retention limit.
pub fn scan_window(now: DateTime<Utc>, lookback: Duration) -> (DateTime<Utc>, DateTime<Utc>) {
    let earliest = now - chrono_duration(RETENTION) + chrono_duration(RETENTION_MARGIN);
    let start = (now - chrono_duration(lookback))
        .max(earliest)
        .trunc_subsecs(0);
    let whole = now.trunc_subsecs(0);
    let end = if whole < now {
        whole + chrono::Duration::seconds(1)
    } else {
        whole
    };
    (start, end)
}

/// A logon at or after this instant keeps the account active.
pub fn cutoff(now: DateTime<Utc>, inactive_days: u32) -> DateTime<Utc> {
    now - chrono::Duration::days(i64::from(inactive_days))
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::testing::first_source;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn problems(text: &str) -> Vec<(String, Option<usize>, String)> {
        first_source(text)
            .map(|_| Vec::new())
            .unwrap_or_else(|p| p.into_iter().map(|p| (p.key, p.line, p.message)).collect())
    }

    #[test]
    fn spec_problems_name_the_key_and_its_line() {
        let found = problems(
            "job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n    region: eu\n    base_url: https://proxy.internal\n    inactive_days: 200\n    lookback: 181d\n    rate_limit: {requests: 0, per: 10ms}\n    token_env: 1BAD\n",
        );
        let keys: Vec<(&str, Option<usize>)> =
            found.iter().map(|(k, l, _)| (k.as_str(), *l)).collect();
        for want in [
            ("sources[0].base_url", Some(6)),
            ("sources[0].inactive_days", Some(7)),
            ("sources[0].lookback", Some(8)),
            ("sources[0].rate_limit.requests", Some(9)),
            ("sources[0].rate_limit.per", Some(9)),
            ("sources[0].token_env", Some(10)),
        ] {
            assert!(keys.contains(&want), "{want:?} not in {found:#?}");
        }
        let found = problems(
            "job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n    region: uk\n",
        );
        assert_eq!(
            found[0].2, "`uk` is not a known value; use one of: us, eu, sg, au, in, mea, jp",
            "{found:?}"
        );
        let found = problems(
            "job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n    base_url: http://trend-proxy.internal\n",
        );
        assert!(found[0].2.contains("allow_http"), "{found:?}");
        let found =
            problems("job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n");
        assert!(found[0].2.contains("`region`"), "{found:?}");
        let found = problems(
            "job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n    region: us\n    inactive_day: 30\n",
        );
        assert_eq!(found[0].0, "sources[0].inactive_day", "{found:?}");
    }

    #[test]
    fn plan_records_window_and_thresholds() {
        let spec = first_source(
            "job: j\nsources:\n  - name: v1\n    kind: vision_one_inactive_accounts\n    region: jp\n    lookback: 120d\n",
        )
        .unwrap();
        let plan = spec.plan(&RunClock::fixed(t("2026-11-22T03:00:00Z")));
        let window = plan.window.unwrap();
        assert_eq!(rfc3339_seconds(window.start), "2026-07-25T03:00:00Z");
        assert_eq!(rfc3339_seconds(window.end), "2026-11-22T03:00:00Z");
        assert_eq!(plan.thresholds["inactive_days"], 90);
        assert_eq!(plan.thresholds["inactive_before"], "2026-08-24T03:00:00Z");
        assert_eq!(plan.thresholds["count_unsuccessful_logons"], false);
    }

    #[test]
    fn regions_map_to_trend_hosts() {
        let hosts: Vec<&str> = [
            Region::Us,
            Region::Eu,
            Region::Sg,
            Region::Au,
            Region::In,
            Region::Mea,
            Region::Jp,
        ]
        .iter()
        .map(|r| r.base_url())
        .collect();
        assert_eq!(
            hosts,
            [
                "https://api.xdr.trendmicro.com",
                "https://api.eu.xdr.trendmicro.com",
                "https://api.sg.xdr.trendmicro.com",
                "https://api.au.xdr.trendmicro.com",
                "https://api.in.xdr.trendmicro.com",
                "https://api.mea.xdr.trendmicro.com",
                "https://api.xdr.trendmicro.co.jp",
            ]
        );
        let r: Region = serde_yaml::from_str("in").unwrap();
        assert_eq!(r, Region::In);
        assert!(serde_yaml::from_str::<Region>("uk").is_err());
    }

    #[test]
    fn the_budget_is_paced_slightly_under_trends_limit() {
        let budget = paced(RateLimitSpec::default());
        assert_eq!(budget.requests, 500);
        assert_eq!(budget.per, Duration::from_millis(61_200));
        let patience = patience(RateLimitSpec::default());
        assert_eq!(
            (patience.floor, patience.ceiling),
            (Duration::from_secs(10), Duration::from_secs(60))
        );
    }

    #[test]
    fn the_window_stays_inside_retention_in_whole_seconds() {
        let now = t("2026-11-22T03:00:00.400Z");
        let (start, end) = scan_window(now, DAY * 90);
        assert_eq!(rfc3339_seconds(start), "2026-08-24T03:00:00Z");
        assert_eq!(rfc3339_seconds(end), "2026-11-22T03:00:01Z");
        let (start, _) = scan_window(now, RETENTION);
        assert_eq!(rfc3339_seconds(start), "2026-05-26T04:00:00Z");
    }
}
