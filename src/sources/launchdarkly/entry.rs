//! One audit-log entry as `GET /api/v2/auditlog` sends it, and its row in the report.
//!
//! Only `_id` and `date` are required: the spec marks more fields required, but real entries
//! lack some (no `member` for SCIM or OAuth changes, no `comment`), and a missing description
//! must not cost a compliance export. Unknown fields are ignored; the schema grows.

use crate::report::Column;
use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Deserializer};

/// Most entries the API returns per request (`limit`, "between 1 and 20").
pub const LIMIT: usize = 20;

/// Columns of `{source}.csv`, in order.
pub const COLUMNS: &[Column] = &[
    Column::identifier("id"),
    Column::time("date"),
    Column::number("date_ms"),
    Column::identifier("kind"),
    Column::free_text("name"),
    Column::free_text("title_verb"),
    Column::free_text("title"),
    Column::free_text("description"),
    Column::free_text("short_description"),
    Column::free_text("comment"),
    Column::identifier("member_id"),
    Column::identifier("member_email"),
    Column::free_text("member_name"),
    Column::free_text("token_name"),
    Column::free_text("app_name"),
    Column::identifier("actions"),
    Column::identifier("resources"),
    Column::free_text("target_name"),
    Column::free_text("parent_name"),
];

/// `AuditLogEntryListingRepCollection`; `_links` is not used (see the paging notes).
#[derive(Debug, Deserialize)]
pub struct Listing {
    pub items: Vec<Entry>,
}

/// `AuditLogEntryListingRep`, the fields the report uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    #[serde(rename = "_id")]
    pub id: String,
    /// Unix milliseconds.
    #[serde(deserialize_with = "millis")]
    pub date: i64,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "shortDescription")]
    pub short_description: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default, rename = "titleVerb")]
    pub title_verb: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub member: Option<Member>,
    #[serde(default)]
    pub token: Option<Named>,
    #[serde(default)]
    pub app: Option<Named>,
    #[serde(default)]
    pub accesses: Option<Vec<Access>>,
    #[serde(default)]
    pub target: Option<Target>,
    #[serde(default)]
    pub parent: Option<Named>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    #[serde(default, rename = "_id")]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, rename = "firstName")]
    pub first_name: Option<String>,
    #[serde(default, rename = "lastName")]
    pub last_name: Option<String>,
}

/// `token`, `app` and `parent` all carry a `name`, which is all the report keeps of them.
#[derive(Debug, Clone, Deserialize)]
pub struct Named {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Access {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub resources: Option<Vec<String>>,
}

/// `date` is a JSON number in real payloads; one docs renderer shows a numeric string, so
/// that is tolerated too. Anything else is malformed.
fn millis<'de, D: Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Float(f64),
        Text(String),
    }
    match Raw::deserialize(de)? {
        Raw::Int(ms) => Ok(ms),
        Raw::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        Raw::Text(t) => t.trim().parse::<i64>().map_err(|_| {
            serde::de::Error::custom(format!("`date` \"{t}\" is not Unix milliseconds"))
        }),
        Raw::Float(f) => Err(serde::de::Error::custom(format!(
            "`date` {f} is not whole Unix milliseconds"
        ))),
    }
}

impl Entry {
    /// Checks what the report relies on; the message names the entry.
    pub fn check(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err(format!("an entry dated {} has an empty `_id`", self.date));
        }
        if DateTime::from_timestamp_millis(self.date).is_none() {
            return Err(format!(
                "entry {} has `date` {}, which is not a time",
                self.id, self.date
            ));
        }
        Ok(())
    }

    /// The report row, cells in [`COLUMNS`] order. Formula neutralisation is the report
    /// writer's job, not done here.
    pub fn into_row(self) -> Vec<String> {
        let text = Option::unwrap_or_default;
        let accesses = self.accesses.unwrap_or_default();
        let actions = distinct(accesses.iter().filter_map(|a| a.action.as_deref()));
        let (target_name, target_resources) = match self.target {
            Some(t) => (text(t.name), t.resources.unwrap_or_default()),
            None => (String::new(), Vec::new()),
        };
        let resources = distinct(
            accesses
                .iter()
                .filter_map(|a| a.resource.as_deref())
                .chain(target_resources.iter().map(String::as_str)),
        );
        let (member_id, member_email, member_name) = match self.member {
            Some(m) => {
                let name = [&m.first_name, &m.last_name]
                    .into_iter()
                    .filter_map(|p| p.as_deref().map(str::trim).filter(|p| !p.is_empty()))
                    .collect::<Vec<_>>()
                    .join(" ");
                (text(m.id), text(m.email), name)
            }
            None => Default::default(),
        };
        let date = DateTime::from_timestamp_millis(self.date)
            .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_default();
        vec![
            self.id,
            date,
            self.date.to_string(),
            text(self.kind),
            text(self.name),
            text(self.title_verb),
            text(self.title),
            text(self.description),
            text(self.short_description),
            text(self.comment),
            member_id,
            member_email,
            member_name,
            self.token.and_then(|t| t.name).unwrap_or_default(),
            self.app.and_then(|a| a.name).unwrap_or_default(),
            actions,
            resources,
            target_name,
            self.parent.and_then(|p| p.name).unwrap_or_default(),
        ]
    }
}

/// Non-empty values, first occurrence kept, joined with `;`.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut out: Vec<&str> = Vec::new();
    for v in values.map(str::trim).filter(|v| !v.is_empty()) {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The realistic page of the reference (Grove fixture, condensed), plus an entry made
    /// through a token and one with nothing but `_id` and `date`.
    const PAGE: &str = r#"{
      "items": [
        {
          "_links": {"self": {"href": "/api/v2/auditlog/entry-def456", "type": "application/json"}},
          "_id": "entry-def456", "_accountId": "account-789ghi", "date": 1755692329415,
          "accesses": [{"action": "deactivateScimMember", "resource": "member/member-abc123"}],
          "kind": "member", "name": "John Smith", "description": "* Deactivated the member\n", "shortDescription": "",
          "app": {"_links": {}, "_id": "oauth-app-123", "isScim": true, "name": "ExampleIDP", "maintainerName": "exampleidp"},
          "titleVerb": "deactivated the member",
          "title": "Deactivated the member [John Smith](https://app.launchdarkly.com/settings/members/member-abc123/permissions) \\(via API\\)",
          "target": {"_links": {}, "name": "John Smith", "resources": ["member/member-abc123"]},
          "someFutureField": {"nested": [1, 2]}
        },
        {
          "_id": "entry-jkl789", "_accountId": "account-789ghi", "date": "1755690378459",
          "accesses": [{"action": "updateRules", "resource": "proj/cloud-services:env/dev:flag/example-sso"},
                       {"action": "updateTargets", "resource": "proj/cloud-services:env/dev:flag/example-sso"}],
          "kind": "flag", "name": "Example SSO", "description": "* Added `uuid120` to the rule\n", "shortDescription": "", "comment": "",
          "member": {"_links": {}, "_id": "member-mno456", "email": "jane.doe@example.com", "firstName": "Jane", "lastName": "Doe"},
          "token": {"_links": {}, "_id": "t1", "name": "DevOps token", "ending": "2345", "serviceToken": false},
          "titleVerb": "updated the flag",
          "target": {"_links": {}, "name": "Example SSO", "resources": ["proj/cloud-services:env/dev:flag/example-sso"]},
          "parent": {"_links": {}, "name": "Development", "resource": "proj/cloud-services:env/dev"}
        },
        {"_id": "bare", "date": 0, "member": null, "comment": null}
      ],
      "_links": {"self": {"href": "/api/v2/auditlog?limit=3", "type": "application/json"}}
    }"#;

    #[test]
    fn real_shapes_parse_into_rows() {
        let listing: Listing = serde_json::from_str(PAGE).unwrap();
        let rows: Vec<Vec<String>> = listing.items.into_iter().map(Entry::into_row).collect();
        for row in &rows {
            assert_eq!(row.len(), COLUMNS.len());
        }
        let scim = &rows[0];
        assert_eq!(scim[0], "entry-def456");
        assert_eq!(scim[1], "2025-08-20T12:18:49.415Z");
        assert_eq!(scim[2], "1755692329415");
        assert_eq!(scim[7], "* Deactivated the member\n");
        assert_eq!(scim[10..13], ["", "", ""], "no member on a SCIM change");
        assert_eq!(scim[14], "ExampleIDP");
        assert_eq!(scim[15], "deactivateScimMember");
        assert_eq!(
            scim[16], "member/member-abc123",
            "target resource not repeated"
        );

        let flag = &rows[1];
        assert_eq!(flag[2], "1755690378459", "a numeric string is tolerated");
        assert_eq!(flag[9], "");
        assert_eq!(
            flag[10..15],
            [
                "member-mno456",
                "jane.doe@example.com",
                "Jane Doe",
                "DevOps token",
                ""
            ]
        );
        assert_eq!(flag[15], "updateRules;updateTargets");
        assert_eq!(flag[16], "proj/cloud-services:env/dev:flag/example-sso");
        assert_eq!(flag[17..], ["Example SSO", "Development"]);

        let bare = &rows[2];
        assert_eq!(bare[..3], ["bare", "1970-01-01T00:00:00.000Z", "0"]);
        assert!(bare[3..].iter().all(String::is_empty));
    }

    #[test]
    fn missing_or_broken_required_fields_are_refused() {
        for body in [
            r#"{"items":[{"date":1}]}"#,
            r#"{"items":[{"_id":"a"}]}"#,
            r#"{"items":[{"_id":"a","date":"yesterday"}]}"#,
            r#"{"items":[{"_id":"a","date":1.5}]}"#,
            r#"{"items":{"_id":"a"}}"#,
            r#"{"_links":{}}"#,
        ] {
            assert!(serde_json::from_str::<Listing>(body).is_err(), "{body}");
        }
        let listing: Listing = serde_json::from_str(
            r#"{"items":[{"_id":" ","date":1},{"_id":"x","date":9000000000000000}]}"#,
        )
        .unwrap();
        assert!(
            listing.items[0]
                .check()
                .unwrap_err()
                .contains("empty `_id`")
        );
        assert!(listing.items[1].check().unwrap_err().contains("not a time"));
    }
}
