//! What the run summary shows of an export, counted from the rows as they go to the report
//! (no second pass): entries per UTC day by kind, and the most active members and tokens.

use super::entry::COLUMNS;
use super::merge::Row;
use crate::report::summary::{
    Completeness, Count, DayKinds, LaunchDarklyDetails, RANKED_ROWS, top_counts,
};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug)]
pub struct Tally {
    date: usize,
    kind: usize,
    member_email: usize,
    member_id: usize,
    token: usize,
    per_day: BTreeMap<String, BTreeMap<String, u64>>,
    members: HashMap<String, u64>,
    tokens: HashMap<String, u64>,
}

fn column(name: &str) -> usize {
    // The columns are ours and fixed; a missing one is caught by the tests of this module.
    COLUMNS
        .iter()
        .position(|c| c.name == name)
        .unwrap_or(usize::MAX)
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            date: column("date"),
            kind: column("kind"),
            member_email: column("member_email"),
            member_id: column("member_id"),
            token: column("token_name"),
            per_day: BTreeMap::new(),
            members: HashMap::new(),
            tokens: HashMap::new(),
        }
    }
}

impl Tally {
    pub fn add(&mut self, rows: &[Row]) {
        for row in rows {
            let cell = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
            // `date` is RFC 3339 in UTC: its first ten characters are the day.
            let day = cell(self.date).get(..10).unwrap_or("unknown");
            let kind = match cell(self.kind) {
                "" => "(no kind)",
                kind => kind,
            };
            *self
                .per_day
                .entry(day.to_owned())
                .or_default()
                .entry(kind.to_owned())
                .or_default() += 1;
            let member = match (cell(self.member_email), cell(self.member_id)) {
                ("", "") => None,
                ("", id) => Some(id),
                (email, _) => Some(email),
            };
            if let Some(member) = member {
                *self.members.entry(member.to_owned()).or_default() += 1;
            }
            let token = cell(self.token);
            if !token.is_empty() {
                *self.tokens.entry(token.to_owned()).or_default() += 1;
            }
        }
    }

    pub fn details(self, entries: u64, completeness: Completeness) -> LaunchDarklyDetails {
        let ranked = |counts: HashMap<String, u64>| -> Vec<Count> {
            let mut ranked = top_counts(
                counts
                    .into_iter()
                    .map(|(label, count)| Count { label, count })
                    .collect(),
                RANKED_ROWS,
            );
            // The most active, not a fold of everyone else: drop the "N more" row.
            ranked.truncate(RANKED_ROWS);
            ranked
        };
        LaunchDarklyDetails {
            entries,
            per_day: self
                .per_day
                .into_iter()
                .map(|(day, kinds)| DayKinds {
                    day,
                    by_kind: kinds
                        .into_iter()
                        .map(|(label, count)| Count { label, count })
                        .collect(),
                })
                .collect(),
            top_members: ranked(self.members),
            top_tokens: ranked(self.tokens),
            completeness,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(date: &str, kind: &str, email: &str, id: &str, token: &str) -> Row {
        COLUMNS
            .iter()
            .map(|c| match c.name {
                "date" => date,
                "kind" => kind,
                "member_email" => email,
                "member_id" => id,
                "token_name" => token,
                _ => "x",
            })
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn counts_days_kinds_members_and_tokens() {
        assert!(
            ["date", "kind", "member_email", "member_id", "token_name"]
                .iter()
                .all(|c| column(c) != usize::MAX),
            "a column the tally reads is gone"
        );
        let mut tally = Tally::default();
        tally.add(&[
            row(
                "2026-11-20T10:00:00.001Z",
                "flag",
                "ada@example.com",
                "m1",
                "",
            ),
            row("2026-11-20T23:59:59.999Z", "flag", "", "m2", "ci"),
            row(
                "2026-11-21T00:00:00.000Z",
                "segment",
                "ada@example.com",
                "m1",
                "ci",
            ),
            row("2026-11-21T00:00:00.000Z", "", "", "", ""),
        ]);
        let details = tally.details(4, Completeness::Complete);
        assert_eq!(details.per_day.len(), 2);
        assert_eq!(
            details.per_day[0].by_kind,
            vec![Count {
                label: "flag".into(),
                count: 2
            }]
        );
        assert_eq!(details.per_day[1].total(), 2);
        assert_eq!(
            details.top_members[0],
            Count {
                label: "ada@example.com".into(),
                count: 2
            }
        );
        assert_eq!(
            details.top_members[1],
            Count {
                label: "m2".into(),
                count: 1
            }
        );
        assert_eq!(
            details.top_tokens,
            vec![Count {
                label: "ci".into(),
                count: 2
            }]
        );
    }
}
