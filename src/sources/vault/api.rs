//! Vault's activity export API: the path, the error bodies it signals conditions with, and the
//! export records in every shape Vault 1.11 to 1.21+ writes.

use crate::http::Verdict;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::Deserialize;
use std::borrow::Cow;

pub const EXPORT_PATH: &str = "v1/sys/internal/counters/activity/export";
/// Client counts per month, from the same segments the export reads.
pub const COUNTS_PATH: &str = "v1/sys/internal/counters/activity";
/// The client-count configuration, with the billing start; root namespace only.
pub const CONFIG_PATH: &str = "v1/sys/internal/counters/config";
pub const LOOKUP_SELF_PATH: &str = "v1/auth/token/lookup-self";
/// Answered without a token; the query makes every state (standby, sealed) a 200 with the body.
pub const HEALTH_PATH: &str = "v1/sys/health";
pub const HEALTH_QUERY: &str = "standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200";

/// `GET sys/health`, as far as it is read.
#[derive(Debug, Deserialize)]
pub struct Health {
    /// e.g. `1.21.2`, `1.17.3+ent`; OpenBao says `2.7.2`.
    pub version: String,
    #[serde(default)]
    pub sealed: bool,
}

impl Health {
    /// Vault 1.18 added `sudo` to what the export needs; before, `read` was enough. An
    /// unreadable version is taken as new, which asks for more, never less.
    pub fn export_needs_sudo(&self) -> bool {
        let mut parts = self.version.split(['.', '+', '-']);
        let number = |part: Option<&str>| part.and_then(|p| p.parse::<u32>().ok());
        match (number(parts.next()), number(parts.next())) {
            (Some(major), Some(minor)) => (major, minor) >= (1, 18),
            _ => true,
        }
    }
}
pub const CAPABILITIES_SELF_PATH: &str = "v1/sys/capabilities-self";
/// The export's path as an ACL names it (capabilities-self takes paths without `v1/`).
pub const EXPORT_ACL_PATH: &str = "sys/internal/counters/activity/export";
/// What the source's cross-checks read: the monthly client counts and the activity log's
/// configuration. A token without `read` on them still exports; the checks are then skipped.
pub const CROSS_CHECK_ACL_PATHS: &[&str] = &[
    "sys/internal/counters/activity",
    "sys/internal/counters/config",
];

/// `POST sys/capabilities-self`: the token's capabilities per path, under `data` (Vault and
/// OpenBao also repeat them at the top level).
#[derive(Debug, Deserialize)]
pub struct Capabilities {
    pub data: std::collections::BTreeMap<String, Vec<String>>,
}

/// `GET auth/token/lookup-self`, as far as it is read.
#[derive(Debug, Deserialize)]
pub struct Lookup {
    pub data: LookupData,
}

/// Only the TTL: the answer also carries the token itself (`id`), which is never read.
#[derive(Debug, Deserialize)]
pub struct LookupData {
    /// Seconds left; 0 for a token that never expires (root, or no TTL).
    pub ttl: u64,
}

/// Vault signals some conditions in 4xx/5xx bodies that its status does not tell.
pub fn classify_export(_status: StatusCode, body: &str) -> Option<Verdict> {
    // Another export holds the node's slot: waited out by the source on its own, much longer
    // schedule, not the HTTP layer's few quick retries. "No data" is an answer.
    if is_export_in_progress(body) || is_no_data(body) {
        return Some(Verdict::Fail);
    }
    None
}

/// The node's single export slot is taken (`ErrActivityExportInProgress`, 400 since 1.18).
pub fn is_export_in_progress(body: &str) -> bool {
    body.contains("existing export in progress")
}

/// `GET sys/internal/counters/activity`, the parts the monthly check reads.
#[derive(Debug, Deserialize)]
pub struct CountsAnswer {
    pub data: CountsData,
}

#[derive(Debug, Deserialize)]
pub struct CountsData {
    /// One entry per month of the range (`counts: null` for a month without activity); empty
    /// when no month has any.
    #[serde(default)]
    pub months: Option<Vec<CountsMonth>>,
}

#[derive(Debug, Deserialize)]
pub struct CountsMonth {
    pub timestamp: String,
    #[serde(default)]
    pub counts: Option<MonthCounts>,
}

#[derive(Debug, Deserialize)]
pub struct MonthCounts {
    /// Entity, non-entity, secret-sync and ACME clients together.
    pub clients: u64,
}

/// `GET sys/internal/counters/config`, the part the billing view reads.
#[derive(Debug, Deserialize)]
pub struct ConfigAnswer {
    pub data: ConfigData,
}

#[derive(Debug, Deserialize)]
pub struct ConfigData {
    /// RFC 3339; Go's zero time (`0001-01-01T00:00:00Z`) when there is no licence (Community).
    #[serde(default)]
    pub billing_start_timestamp: Option<String>,
}

/// Vault before 1.18 says a month has no data with an error (400 or 500); 1.18+ answers 204.
pub fn is_no_data_answer(status: StatusCode, body: &str) -> bool {
    (status == StatusCode::BAD_REQUEST || status == StatusCode::INTERNAL_SERVER_ERROR)
        && is_no_data(body)
}

fn is_no_data(body: &str) -> bool {
    body.contains("no data to export")
}

/// One export line, in any of the shapes Vault 1.11 to 1.21+ writes. Unknown keys are ignored:
/// the schema grows between versions.
#[derive(Debug, Deserialize)]
pub struct ExportRecord<'a> {
    #[serde(borrow)]
    pub client_id: Cow<'a, str>,
    #[serde(default, borrow)]
    pub client_type: Option<Cow<'a, str>>,
    #[serde(default)]
    pub non_entity: Option<bool>,
    #[serde(default, borrow)]
    pub namespace_path: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub mount_path: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub mount_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub entity_name: Option<Cow<'a, str>>,
    /// 1.11–1.17: integer seconds; 1.18–1.20: RFC 3339. Token creation time either way.
    #[serde(default)]
    pub timestamp: Option<RawTime<'a>>,
    /// 1.21+: replaces `timestamp`.
    #[serde(default, borrow)]
    pub token_creation_time: Option<Cow<'a, str>>,
    /// 1.21+: first use in the queried period (the docs' prose spells it `..._usage_time`).
    #[serde(default, borrow)]
    pub client_first_used_time: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub client_first_usage_time: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawTime<'a> {
    Seconds(i64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

impl ExportRecord<'_> {
    /// The best timestamp of the client's activity this record carries: first use (1.21+),
    /// else token creation time (`token_creation_time`, or `timestamp` before 1.21).
    pub fn seen_at(&self) -> Option<DateTime<Utc>> {
        let text =
            |v: &Option<Cow<'_, str>>| v.as_deref().filter(|s| !s.is_empty()).and_then(parse_time);
        text(&self.client_first_used_time)
            .or_else(|| text(&self.client_first_usage_time))
            .or_else(|| text(&self.token_creation_time))
            .or_else(|| match &self.timestamp {
                Some(RawTime::Seconds(s)) => DateTime::from_timestamp(*s, 0),
                Some(RawTime::Text(t)) => parse_time(t),
                None => None,
            })
    }

    /// `client_type`, falling back for old records that only say `non_entity`.
    pub fn client_type(&self) -> Cow<'_, str> {
        match self.client_type.as_deref() {
            Some(t) if !t.is_empty() => Cow::Borrowed(t),
            _ if self.non_entity == Some(true) => Cow::Borrowed("non-entity-token"),
            _ => Cow::Borrowed("entity"),
        }
    }
}

/// RFC 3339. Vault writes `YYYY-MM-DDTHH:MM:SSZ`; that form is read directly (the general parser
/// was a large share of parse time), anything else goes through chrono.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
    {
        let num = |range: std::ops::Range<usize>| -> Option<u32> {
            b[range].iter().try_fold(0u32, |acc, d| {
                d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
            })
        };
        let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
        let time = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
        return Some(time.and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_is_needed_from_vault_1_18_and_when_the_version_is_unknown() {
        let needs = |version: &str| {
            Health {
                version: version.into(),
                sealed: false,
            }
            .export_needs_sudo()
        };
        assert!(!needs("1.17.3"));
        assert!(!needs("1.11.0+ent"));
        assert!(needs("1.18.0"));
        assert!(needs("1.21.2+ent.hsm"));
        assert!(needs("2.0.0"));
        assert!(needs("2.7.2"), "OpenBao");
        assert!(needs("unknown"));
    }
    use crate::time::rfc3339_seconds;

    #[test]
    fn every_record_shape_parses() {
        let v111 = br#"{"client_id":"X/Yed4Oj4cqODj9tSHjKwnRy5QVSBRlX3COxjjWSXyI=","namespace_id":"root","timestamp":1653350491,"non_entity":true,"mount_accessor":"auth_token_f6f2c11c"}"#;
        let r: ExportRecord<'_> = serde_json::from_slice(v111).unwrap();
        assert_eq!(r.client_type(), "non-entity-token");
        assert_eq!(
            rfc3339_seconds(r.seen_at().unwrap()),
            "2022-05-24T00:01:31Z"
        );

        let v118 = br#"{"entity_name":"admin","entity_alias_name":"admin","local_entity_alias":false,"client_id":"3f210722","client_type":"entity","namespace_id":"root","namespace_path":"","mount_accessor":"auth_userpass_a005db73","mount_type":"userpass","mount_path":"auth/userpass/","timestamp":"2024-07-10T09:33:51Z","policies":["a"],"entity_metadata":{"k":"v"},"entity_alias_metadata":{},"entity_alias_custom_metadata":{},"entity_group_ids":[]}"#;
        let r: ExportRecord<'_> = serde_json::from_slice(v118).unwrap();
        assert_eq!(
            rfc3339_seconds(r.seen_at().unwrap()),
            "2024-07-10T09:33:51Z"
        );
        assert_eq!(r.mount_path.as_deref(), Some("auth/userpass/"));

        let v121 = br#"{"client_id":"c","client_type":"pki-acme","token_creation_time":"2020-08-21T18:47:54Z","client_first_used_time":"2025-06-21T18:47:54Z"}"#;
        let r: ExportRecord<'_> = serde_json::from_slice(v121).unwrap();
        assert_eq!(
            rfc3339_seconds(r.seen_at().unwrap()),
            "2025-06-21T18:47:54Z"
        );

        let prose = br#"{"client_id":"c","token_creation_time":"2020-08-21T18:47:54Z","client_first_usage_time":"2025-06-01T00:00:00Z"}"#;
        let r: ExportRecord<'_> = serde_json::from_slice(prose).unwrap();
        assert_eq!(
            rfc3339_seconds(r.seen_at().unwrap()),
            "2025-06-01T00:00:00Z"
        );

        let empty_first = br#"{"client_id":"c","token_creation_time":"2020-08-21T18:47:54Z","client_first_used_time":""}"#;
        let r: ExportRecord<'_> = serde_json::from_slice(empty_first).unwrap();
        assert_eq!(
            rfc3339_seconds(r.seen_at().unwrap()),
            "2020-08-21T18:47:54Z"
        );
    }

    #[test]
    fn fast_and_general_time_parsing_agree() {
        for t in [
            "2024-07-10T09:33:51Z",
            "2024-02-29T23:59:59Z",
            "2024-07-10T09:33:51.250Z",
            "2024-07-10T11:33:51+02:00",
        ] {
            let general = DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
            assert_eq!(parse_time(t), Some(general), "{t}");
        }
        for t in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-07-10T09:33:5xZ",
            "yesterday",
        ] {
            assert_eq!(parse_time(t), None, "{t}");
        }
    }
}
