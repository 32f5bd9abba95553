//! When accounts arrived: the audit log's `Account Management` events that add or invite an
//! account, tied to the account they name, so that an account created or invited less than
//! `inactive_days` ago is never requested for removal for having had no time to log on.
//!
//! What Trend records (research, `docs/sources/vision-one.md`): the activities are
//! `Add user account` and `Invite user account`; the account acted on is not a top-level field
//! but an entry of `details`, `User account`, holding the account's email or its display name.
//! An event whose target cannot be tied to exactly one account is unattributed: it is counted
//! and listed, never guessed.

use super::api::{Account, parse_logged_time};
use crate::http::snippet;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;

/// Only the two activities that start an account's life.
pub const ARRIVALS_FILTER: &str = "(category eq 'Account Management') and ((activity eq 'Add user account') or (activity eq 'Invite user account'))";

/// The `details` entry naming the account acted on, compared without case, spaces, `_` or `-`
/// (so `userAccount` and `user_account` are the same key).
const TARGET_KEY: &str = "useraccount";

/// How an account arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arrival {
    Added,
    Invited,
}

impl Arrival {
    fn from_activity(activity: &str) -> Option<Self> {
        let activity = activity.trim();
        if activity.eq_ignore_ascii_case("Add user account") {
            Some(Arrival::Added)
        } else if activity.eq_ignore_ascii_case("Invite user account") {
            Some(Arrival::Invited)
        } else {
            None
        }
    }

    /// The activity as Trend names it.
    pub fn activity(self) -> &'static str {
        match self {
            Arrival::Added => "Add user account",
            Arrival::Invited => "Invite user account",
        }
    }
}

/// One audit entry of the arrivals scan, only the fields used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArrivalEntry {
    #[serde(default)]
    pub logged_date_time: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub activity: Option<String>,
    #[serde(default)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Events folded by the target they name: memory grows with distinct targets, not events.
#[derive(Debug, Default)]
pub struct Arrivals {
    by_target: HashMap<(Box<str>, Arrival), Seen>,
    /// Arrival events counted (with or without a target).
    pub events: u64,
    /// Entries that were not an arrival (a server that ignored the filter).
    pub other_ignored: u64,
}

#[derive(Debug, Clone)]
struct Seen {
    /// The target as Trend wrote it (first seen), for the findings.
    value: String,
    latest: DateTime<Utc>,
    count: u64,
}

/// An arrival event no account could be tied to, for the findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unattributed {
    /// The `User account` value as sent; empty when the event named no target.
    pub value: String,
    pub arrival: Arrival,
    pub count: u64,
    pub latest: DateTime<Utc>,
}

/// Each account's latest arrival, and what could not be tied to any.
#[derive(Debug, Default)]
pub struct Attributed {
    /// Same order as the accounts given.
    pub latest: Vec<Option<(DateTime<Utc>, Arrival)>>,
    /// Most frequent first.
    pub unattributed: Vec<Unattributed>,
}

impl Arrivals {
    /// Folds one entry in; an arrival whose time cannot be read is an error (it may be the
    /// reason someone is kept).
    pub fn add(&mut self, entry: ArrivalEntry) -> Result<(), String> {
        let in_category = entry
            .category
            .as_deref()
            .is_none_or(|c| c.trim().eq_ignore_ascii_case("Account Management"));
        let Some(arrival) = entry
            .activity
            .as_deref()
            .and_then(Arrival::from_activity)
            .filter(|_| in_category)
        else {
            self.other_ignored += 1;
            return Ok(());
        };
        let value = target(entry.details.as_ref()).unwrap_or_default();
        let when = entry.logged_date_time.as_deref().unwrap_or("");
        let Some(when) = parse_logged_time(when) else {
            return Err(format!(
                "an `{}` entry for `{}` has loggedDateTime `{}`, which is not a timestamp",
                arrival.activity(),
                snippet(&value),
                snippet(when)
            ));
        };
        self.events += 1;
        let seen = self
            .by_target
            .entry((normalise(&value).into(), arrival))
            .or_insert(Seen {
                value,
                latest: when,
                count: 0,
            });
        seen.count += 1;
        seen.latest = seen.latest.max(when);
        Ok(())
    }

    /// Ties each target to the account whose email it is (case-insensitive), else to the one
    /// account whose display name it is (case and spacing aside). A target matching no
    /// account, or a name shared by several, is unattributed.
    pub fn attribute(&self, accounts: &[Account]) -> Attributed {
        let mut by_email: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, account) in accounts.iter().enumerate() {
            if let Some(email) = account.email.as_deref() {
                by_email.entry(normalise(email)).or_default().push(i);
            }
            if let Some(name) = account.name.as_deref() {
                by_name.entry(normalise(name)).or_default().push(i);
            }
        }
        let mut latest: Vec<Option<(DateTime<Utc>, Arrival)>> = vec![None; accounts.len()];
        let mut unattributed = Vec::new();
        for ((target, arrival), seen) in &self.by_target {
            let target: &str = target;
            let hits = by_email
                .get(target)
                .or_else(|| by_name.get(target).filter(|hits| hits.len() == 1))
                .filter(|_| !target.is_empty());
            let Some(hits) = hits else {
                unattributed.push(Unattributed {
                    value: seen.value.clone(),
                    arrival: *arrival,
                    count: seen.count,
                    latest: seen.latest,
                });
                continue;
            };
            for &i in hits {
                let later = latest[i].is_none_or(|(t, _)| seen.latest > t);
                if later {
                    latest[i] = Some((seen.latest, *arrival));
                }
            }
        }
        unattributed.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.latest.cmp(&a.latest))
                .then(a.value.cmp(&b.value))
        });
        Attributed {
            latest,
            unattributed,
        }
    }
}

/// The `User account` value of `details`, trimmed; `None` when absent or empty.
fn target(details: Option<&serde_json::Map<String, serde_json::Value>>) -> Option<String> {
    details?
        .iter()
        .find(|(key, _)| {
            let key: String = key
                .chars()
                .filter(|c| !matches!(c, ' ' | '_' | '-'))
                .collect();
            key.eq_ignore_ascii_case(TARGET_KEY)
        })
        .and_then(|(_, value)| value.as_str())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Lower case, runs of white space as one space: `Jane  DOE ` and `jane doe` are one name.
fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn entry(activity: &str, details: serde_json::Value, when: &str) -> ArrivalEntry {
        ArrivalEntry {
            logged_date_time: Some(when.into()),
            category: Some("Account Management".into()),
            activity: Some(activity.into()),
            details: details.as_object().cloned(),
        }
    }

    fn person(email: &str, name: Option<&str>) -> Account {
        Account {
            id: Some(email.into()),
            email: Some(email.into()),
            name: name.map(Into::into),
            ..Account::default()
        }
    }

    #[test]
    fn targets_are_tied_by_email_then_by_a_unique_display_name_and_never_guessed() {
        let accounts = vec![
            person("ana@example.com", Some("Ana Silva")),
            person("ben@example.com", Some("Ben Okafor")),
            person("sam.a@example.com", Some("Sam Lee")),
            person("sam.b@example.com", Some("Sam Lee")),
            person("nameless@example.com", None),
        ];
        let mut arrivals = Arrivals::default();
        for (activity, details, when) in [
            (
                "Add user account",
                serde_json::json!({"User account": "ANA@example.com"}),
                "2026-11-01T00:00:00Z",
            ),
            (
                "Invite user account",
                serde_json::json!({"user_account": " ben  OKAFOR "}),
                "2026-11-02T00:00:00Z",
            ),
            // Two accounts share this name: which one arrived is unknown.
            (
                "Add user account",
                serde_json::json!({"User account": "Sam Lee"}),
                "2026-11-03T00:00:00Z",
            ),
            (
                "Add user account",
                serde_json::json!({"User account": "gone@example.com"}),
                "2026-11-04T00:00:00Z",
            ),
            (
                "Add user account",
                serde_json::json!({"Role": "Analyst"}),
                "2026-11-05T00:00:00Z",
            ),
            (
                "Delete user account",
                serde_json::json!({"User account": "ana@example.com"}),
                "2026-11-06T00:00:00Z",
            ),
        ] {
            arrivals.add(entry(activity, details, when)).unwrap();
        }
        assert_eq!((arrivals.events, arrivals.other_ignored), (5, 1));
        let found = arrivals.attribute(&accounts);
        assert_eq!(
            found.latest,
            vec![
                Some((at("2026-11-01T00:00:00Z"), Arrival::Added)),
                Some((at("2026-11-02T00:00:00Z"), Arrival::Invited)),
                None,
                None,
                None,
            ]
        );
        let values: Vec<&str> = found
            .unattributed
            .iter()
            .map(|u| u.value.as_str())
            .collect();
        assert_eq!(values, ["", "gone@example.com", "Sam Lee"]);
    }

    #[test]
    fn an_arrival_with_an_unreadable_time_is_an_error_naming_it() {
        let mut arrivals = Arrivals::default();
        let err = arrivals
            .add(entry(
                "Invite user account",
                serde_json::json!({"User account": "x@example.com"}),
                "soon",
            ))
            .unwrap_err();
        assert!(
            err.contains("x@example.com") && err.contains("soon"),
            "{err}"
        );
    }
}
