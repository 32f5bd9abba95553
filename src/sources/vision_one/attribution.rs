//! Whose logon is whose, and what it means for each account: logons folded to the latest per
//! identity, attributed to accounts by id, then mail, then user name, and the decision with its
//! reason.

use super::api::{Account, AuditEntry, LogonResult, parse_logged_time};
use super::arrivals::Arrival;
use crate::http::snippet;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Who performed a logon, as the entry names them; normalised for matching.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Identity {
    id: Option<Box<str>>,
    mail: Option<Box<str>>,
    user: Option<Box<str>>,
}

fn norm_email(value: Option<&str>) -> Option<Box<str>> {
    value
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

impl Identity {
    /// The name shown for it in findings: the mail address, else `loggedUser`, else the id.
    fn shown(&self) -> &str {
        self.mail
            .as_deref()
            .or(self.user.as_deref())
            .or(self.id.as_deref())
            .unwrap_or("")
    }
}

/// Latest counted logon and number of logons per identity, folded page by page; memory grows
/// with distinct identities, never with events.
#[derive(Debug, Default)]
pub(super) struct Logons {
    pub latest: HashMap<Identity, (DateTime<Utc>, u64)>,
    pub counted: u64,
    pub unsuccessful_ignored: u64,
    pub other_ignored: u64,
    pub anonymous: u64,
}

impl Logons {
    pub fn add(&mut self, entry: AuditEntry, count_unsuccessful: bool) -> Result<(), String> {
        // The server filters on these already; a server that ignored the filter must not make
        // log-offs count as logons.
        let off_topic = entry
            .category
            .as_deref()
            .is_some_and(|c| !c.trim().eq_ignore_ascii_case("Logon and Logoff"))
            || entry
                .activity
                .as_deref()
                .is_some_and(|a| !a.trim().eq_ignore_ascii_case("Log on"));
        if off_topic {
            self.other_ignored += 1;
            return Ok(());
        }
        if !count_unsuccessful && entry.result.as_ref().is_some_and(LogonResult::unsuccessful) {
            self.unsuccessful_ignored += 1;
            return Ok(());
        }
        let identity = Identity {
            id: entry
                .logged_user_id
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(Into::into),
            mail: norm_email(entry.logged_user_mail_address.as_deref()),
            user: norm_email(entry.logged_user.as_deref()),
        };
        if identity.id.is_none() && identity.mail.is_none() && identity.user.is_none() {
            // Nobody to credit it to, so nothing to decide on, whatever its time says.
            self.anonymous += 1;
            return Ok(());
        }
        let when = entry.logged_date_time.as_deref().unwrap_or("");
        let Some(when) = parse_logged_time(when) else {
            // Guessing would decide someone's removal on a value we cannot read.
            return Err(format!(
                "a logon entry of {} has loggedDateTime `{}`, which is not a timestamp",
                identity
                    .mail
                    .as_deref()
                    .or(identity.user.as_deref())
                    .or(identity.id.as_deref())
                    .unwrap_or("an unnamed user"),
                snippet(when)
            ));
        };
        self.counted += 1;
        let (latest, count) = self.latest.entry(identity).or_insert((when, 0));
        *latest = (*latest).max(when);
        *count += 1;
        Ok(())
    }
}

/// How a logon was tied to an account, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchedBy {
    UserId,
    MailAddress,
    LoggedUser,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::UserId => "logged_user_id",
            MatchedBy::MailAddress => "logged_user_mail_address",
            MatchedBy::LoggedUser => "logged_user",
        }
    }
}

/// An account's latest logon and how it was matched.
pub(super) type LastLogon = (DateTime<Utc>, MatchedBy);

/// Logon identities that matched no account, for the findings (the attribution check lists
/// them, so whoever reads the failure sees which names the API used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UnmatchedIdentity {
    pub value: String,
    pub count: u64,
    pub latest: DateTime<Utc>,
}

/// Each account's latest logon, and the identities that matched no account (API keys, the root
/// account, people since deleted, or names the accounts list does not use).
#[derive(Debug, Default)]
pub(super) struct LogonAttribution {
    pub latest: Vec<Option<LastLogon>>,
    /// Most logons first.
    pub unmatched: Vec<UnmatchedIdentity>,
}

/// Each logon identity goes to the accounts its `loggedUserId` names; failing that, to those
/// whose email is its `loggedUserMailAddress`; failing that, to those whose email is its
/// `loggedUser`.
pub(super) fn attribute(
    accounts: &[Account],
    logons: &HashMap<Identity, (DateTime<Utc>, u64)>,
) -> LogonAttribution {
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_email: HashMap<Box<str>, Vec<usize>> = HashMap::new();
    for (i, account) in accounts.iter().enumerate() {
        if let Some(id) = account.id.as_deref() {
            by_id.entry(id).or_default().push(i);
        }
        if let Some(email) = norm_email(account.email.as_deref()) {
            by_email.entry(email).or_default().push(i);
        }
    }
    let mut latest: Vec<Option<LastLogon>> = vec![None; accounts.len()];
    let mut unmatched = Vec::new();
    for (identity, (when, count)) in logons {
        let hit = identity
            .id
            .as_deref()
            .and_then(|id| by_id.get(id))
            .map(|v| (v, MatchedBy::UserId))
            .or_else(|| {
                identity
                    .mail
                    .as_ref()
                    .and_then(|m| by_email.get(m))
                    .map(|v| (v, MatchedBy::MailAddress))
            })
            .or_else(|| {
                identity
                    .user
                    .as_ref()
                    .and_then(|u| by_email.get(u))
                    .map(|v| (v, MatchedBy::LoggedUser))
            });
        let Some((targets, how)) = hit else {
            unmatched.push(UnmatchedIdentity {
                value: identity.shown().to_owned(),
                count: *count,
                latest: *when,
            });
            continue;
        };
        for &i in targets {
            // Later wins; on a tie the stronger match names it, whatever the map's order.
            let better = match latest[i] {
                None => true,
                Some((t, h)) => *when > t || (*when == t && how < h),
            };
            if better {
                latest[i] = Some((*when, how));
            }
        }
    }
    unmatched.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(b.latest.cmp(&a.latest))
            .then(a.value.cmp(&b.value))
    });
    LogonAttribution { latest, unmatched }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Keep,
    Remove,
    Skip,
    /// Would be `remove`, but the cleanup file was withheld (see the manifest's error).
    Withheld,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Keep => "keep",
            Decision::Remove => "remove",
            Decision::Skip => "skip",
            Decision::Withheld => "withheld",
        }
    }
}

/// What is known of one account when it is judged.
#[derive(Debug, Clone, Copy)]
pub struct Evidence {
    /// Latest counted logon in the window.
    pub last_logon: Option<DateTime<Utc>>,
    /// Latest `Add user account` / `Invite user account` event tied to it.
    pub arrived: Option<(DateTime<Utc>, Arrival)>,
    /// An arrival event at or after the threshold could not be tied to any account: any
    /// account without a logon may be the one it created.
    pub recent_unattributed_arrival: bool,
}

/// The decision on one account and its reason (a snake_case word, documented).
pub fn decide(
    account: &Account,
    evidence: Evidence,
    cutoff: DateTime<Utc>,
) -> (Decision, &'static str) {
    if account.is_group() {
        // A group mapping, not a person: its members log on under their own names.
        return (Decision::Skip, "saml_group");
    }
    let decided = match (evidence.last_logon, evidence.arrived) {
        (Some(t), _) if t >= cutoff => (Decision::Keep, "active"),
        // Too new to have been inactive for the whole threshold.
        (_, Some((t, Arrival::Added))) if t >= cutoff => (Decision::Keep, "created_recently"),
        (_, Some((t, Arrival::Invited))) if t >= cutoff => (Decision::Keep, "invited_recently"),
        (Some(_), _) => (Decision::Remove, "last_logon_too_old"),
        (None, _) if evidence.recent_unattributed_arrival => {
            (Decision::Skip, "possibly_added_recently")
        }
        (None, _) if account.is_invited() => (Decision::Remove, "invited_never_logged_on"),
        (None, _) => (Decision::Remove, "no_logon_in_window"),
    };
    if decided.0 == Decision::Remove && account.email.is_none() {
        // Nobody could act on `Unknown,Unknown,Remove`.
        return (Decision::Skip, "no_email");
    }
    decided
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::vision_one::spec::cutoff;
    use crate::time::rfc3339_seconds;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn account(id: &str, email: &str) -> Account {
        Account {
            id: Some(id.into()),
            email: Some(email.into()),
            role: Some("Analyst".into()),
            auth_type: Some("local".into()),
            status: Some("enabled".into()),
            name: None,
        }
    }

    fn seen(last_logon: Option<DateTime<Utc>>) -> Evidence {
        Evidence {
            last_logon,
            arrived: None,
            recent_unattributed_arrival: false,
        }
    }

    #[test]
    fn the_threshold_day_itself_is_active() {
        let now = t("2026-11-22T03:00:00Z");
        let cut = cutoff(now, 90);
        assert_eq!(rfc3339_seconds(cut), "2026-08-24T03:00:00Z");
        let a = account("1", "a@example.com");
        assert_eq!(decide(&a, seen(Some(cut)), cut), (Decision::Keep, "active"));
        assert_eq!(
            decide(&a, seen(Some(cut - chrono::Duration::seconds(1))), cut),
            (Decision::Remove, "last_logon_too_old")
        );
        assert_eq!(
            decide(&a, seen(None), cut),
            (Decision::Remove, "no_logon_in_window")
        );
        let mut invited = a.clone();
        invited.status = Some("invited".into());
        assert_eq!(
            decide(&invited, seen(None), cut),
            (Decision::Remove, "invited_never_logged_on")
        );
        assert_eq!(
            decide(&invited, seen(Some(now)), cut),
            (Decision::Keep, "active")
        );
        let mut group = a;
        group.auth_type = Some("samlGroup".into());
        assert_eq!(
            decide(&group, seen(None), cut),
            (Decision::Skip, "saml_group")
        );
    }

    #[test]
    fn arrivals_keep_new_accounts_and_nobody_without_an_email_is_removed() {
        let now = t("2026-11-22T03:00:00Z");
        let cut = cutoff(now, 90);
        let a = account("1", "a@example.com");
        let arrived = |at: DateTime<Utc>, how: Arrival| Evidence {
            arrived: Some((at, how)),
            ..seen(None)
        };
        assert_eq!(
            decide(&a, arrived(cut, Arrival::Added), cut),
            (Decision::Keep, "created_recently")
        );
        assert_eq!(
            decide(&a, arrived(now, Arrival::Invited), cut),
            (Decision::Keep, "invited_recently")
        );
        // Arrived before the threshold: it had the whole threshold to log on.
        assert_eq!(
            decide(
                &a,
                arrived(cut - chrono::Duration::seconds(1), Arrival::Added),
                cut
            ),
            (Decision::Remove, "no_logon_in_window")
        );
        let unknown = Evidence {
            recent_unattributed_arrival: true,
            ..seen(None)
        };
        assert_eq!(
            decide(&a, unknown, cut),
            (Decision::Skip, "possibly_added_recently")
        );
        // One who logged on before the threshold existed before it: not new.
        let old = Evidence {
            recent_unattributed_arrival: true,
            ..seen(Some(cut - chrono::Duration::days(1)))
        };
        assert_eq!(
            decide(&a, old, cut),
            (Decision::Remove, "last_logon_too_old")
        );
        let mut nameless = a.clone();
        nameless.email = None;
        assert_eq!(
            decide(&nameless, seen(None), cut),
            (Decision::Skip, "no_email")
        );
        assert_eq!(
            decide(&nameless, seen(Some(now)), cut),
            (Decision::Keep, "active")
        );
    }

    fn entry(id: Option<&str>, mail: Option<&str>, user: Option<&str>, at: &str) -> AuditEntry {
        AuditEntry {
            logged_date_time: Some(at.into()),
            logged_user: user.map(Into::into),
            logged_user_id: id.map(Into::into),
            logged_user_mail_address: mail.map(Into::into),
            category: Some("Logon and Logoff".into()),
            activity: Some("Log on".into()),
            result: Some(LogonResult::Text("Successful".into())),
        }
    }

    #[test]
    fn logons_are_attributed_by_id_then_mail_then_user() {
        let accounts = vec![
            account("id-a", "a@example.com"),
            account("id-b", "B@Example.com"),
            account("id-c", "c@example.com"),
            account("id-d", "d@example.com"),
        ];
        let mut logons = Logons::default();
        // By id, although the mail names b: the id wins.
        logons
            .add(
                entry(
                    Some("id-a"),
                    Some("b@example.com"),
                    None,
                    "2026-11-01T00:00:00Z",
                ),
                false,
            )
            .unwrap();
        // By mail, case-insensitively; an unknown id falls through.
        logons
            .add(
                entry(
                    Some("api-key-1"),
                    Some("b@EXAMPLE.com"),
                    None,
                    "2026-11-02T00:00:00Z",
                ),
                false,
            )
            .unwrap();
        // By loggedUser only.
        logons
            .add(
                entry(None, None, Some(" C@example.com "), "2026-11-03 00:00:00"),
                false,
            )
            .unwrap();
        // Nobody's.
        logons
            .add(
                entry(None, None, Some("Root Account"), "2026-11-04T00:00:00Z"),
                false,
            )
            .unwrap();
        let LogonAttribution { latest, unmatched } = attribute(&accounts, &logons.latest);
        assert_eq!(
            latest[0],
            Some((t("2026-11-01T00:00:00Z"), MatchedBy::UserId))
        );
        assert_eq!(
            latest[1],
            Some((t("2026-11-02T00:00:00Z"), MatchedBy::MailAddress))
        );
        assert_eq!(
            latest[2],
            Some((t("2026-11-03T00:00:00Z"), MatchedBy::LoggedUser))
        );
        assert_eq!(latest[3], None);
        assert_eq!(
            unmatched,
            [UnmatchedIdentity {
                value: "root account".into(),
                count: 1,
                latest: t("2026-11-04T00:00:00Z"),
            }]
        );
    }

    #[test]
    fn only_counted_logons_count_and_bad_timestamps_fail() {
        let mut logons = Logons::default();
        let mut failed = entry(Some("x"), None, None, "2026-11-01T00:00:00Z");
        failed.result = Some(LogonResult::Text("Unsuccessful".into()));
        logons.add(failed, false).unwrap();
        let mut failed = entry(Some("x"), None, None, "2026-11-01T00:00:00Z");
        failed.result = Some(LogonResult::Flag(false));
        logons.add(failed, false).unwrap();
        let mut off = entry(Some("x"), None, None, "2026-11-01T00:00:00Z");
        off.activity = Some("Log off".into());
        logons.add(off, true).unwrap();
        assert!(logons.latest.is_empty());
        assert_eq!(logons.unsuccessful_ignored, 2);
        assert_eq!(logons.other_ignored, 1);
        let mut failed = entry(Some("x"), None, None, "2026-11-01T00:00:00Z");
        failed.result = Some(LogonResult::Text("Unsuccessful".into()));
        logons.add(failed, true).unwrap();
        assert_eq!(logons.counted, 1);
        let err = logons
            .add(
                entry(None, Some("o'brien@example.com"), None, "soon"),
                false,
            )
            .unwrap_err();
        assert!(
            err.contains("o'brien@example.com") && err.contains("soon"),
            "{err}"
        );
    }
}
