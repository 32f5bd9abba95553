//! What is kept per client across the exported months, and the forecast of the client count
//! it gives: when each client rolls off the trailing window, and how many still count each
//! month.

use super::api::ExportRecord;
use crate::time::Month;
use chrono::{DateTime, Datelike, Months, Utc};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// What is kept per client: a few small fields, with repeated strings shared.
#[derive(Debug)]
pub(super) struct ClientState {
    pub last_auth: Option<DateTime<Utc>>,
    pub last_active: Month,
    pub months_active: u32,
    /// Bit `i`: active in the window's first month plus `i` (the window is at most 60).
    pub active: u64,
    pub client_type: Arc<str>,
    pub namespace_path: Arc<str>,
    pub mount_path: Arc<str>,
    pub mount_type: Arc<str>,
    pub entity_name: Arc<str>,
}

/// Hash maps keyed by attacker-independent data (ids from our own Vault), so a fast non-DoS-
/// resistant hasher is fine; SipHash was a third of the parse time.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
pub(super) struct Clients {
    by_id: FastMap<Box<str>, ClientState>,
    /// Namespaces, mounts and types repeat across clients; store each once.
    strings: FastSet<Arc<str>>,
    /// The window's first month, when the months are tracked per client.
    first: Option<Month>,
    /// Distinct clients of each month's export, counted as their first record arrives (so a
    /// re-read month counts nobody twice).
    per_month: BTreeMap<Month, u64>,
}

impl Clients {
    /// Clients of the window that starts at `first`, with the months each was active in.
    pub fn new(first: Month) -> Self {
        Self {
            first: Some(first),
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Distinct clients in `month`'s export.
    pub fn in_month(&self, month: Month) -> u64 {
        self.per_month.get(&month).copied().unwrap_or(0)
    }

    fn bit(&self, month: Month) -> u64 {
        match self.first.map(|f| f.months_until(month)) {
            Some(i @ 0..=63) => 1 << i,
            _ => 0,
        }
    }

    /// Clients by the first month, from `since` on, in which they were active.
    pub fn first_active_since(&self, since: Month) -> BTreeMap<Month, u64> {
        let mut by_month = BTreeMap::new();
        let Some(first) = self.first else {
            return by_month;
        };
        let skip = first.months_until(since).clamp(0, 63);
        for state in self.by_id.values() {
            let later = state.active >> skip;
            if later != 0 {
                let month = since.plus(i64::from(later.trailing_zeros()));
                *by_month.entry(month).or_default() += 1;
            }
        }
        by_month
    }

    /// Folds one record of `month` in. Months arrive in order; re-applying a month's records
    /// (after a retried download) changes nothing.
    pub fn add(&mut self, month: Month, record: ExportRecord<'_>) {
        let seen = record.seen_at();
        let bit = self.bit(month);
        let Self {
            by_id,
            strings,
            per_month,
            ..
        } = self;
        match by_id.get_mut(record.client_id.as_ref()) {
            Some(state) => {
                state.last_auth = state.last_auth.max(seen);
                // A later month: count it and describe the client as it was last seen. The same
                // month again (a duplicate line, or a re-fetched month) changes nothing.
                if month > state.last_active {
                    state.last_active = month;
                    state.months_active += 1;
                    state.active |= bit;
                    *per_month.entry(month).or_default() += 1;
                    refresh(&mut state.client_type, &record.client_type(), strings);
                    refresh(
                        &mut state.namespace_path,
                        text(&record.namespace_path),
                        strings,
                    );
                    refresh(&mut state.mount_path, text(&record.mount_path), strings);
                    refresh(&mut state.mount_type, text(&record.mount_type), strings);
                    refresh(&mut state.entity_name, text(&record.entity_name), strings);
                }
            }
            None => {
                *per_month.entry(month).or_default() += 1;
                let state = ClientState {
                    last_auth: seen,
                    last_active: month,
                    months_active: 1,
                    active: bit,
                    client_type: intern(strings, &record.client_type()),
                    namespace_path: intern(strings, text(&record.namespace_path)),
                    mount_path: intern(strings, text(&record.mount_path)),
                    mount_type: intern(strings, text(&record.mount_type)),
                    entity_name: intern(strings, text(&record.entity_name)),
                };
                by_id.insert(record.client_id.as_ref().into(), state);
            }
        }
    }

    /// Every client with the month it rolls off (`roll_off_months` after its last active one),
    /// soonest first so the report reads as a schedule; ties by id for determinism.
    pub fn by_roll_off(&self, roll_off_months: u32) -> Vec<RollOff<'_>> {
        let roll_off = i64::from(roll_off_months);
        let mut rows: Vec<RollOff<'_>> = self
            .by_id
            .iter()
            .map(|(id, client)| RollOff {
                month: client.last_active.plus(roll_off),
                id,
                client,
            })
            .collect();
        rows.sort_by(|a, b| a.month.cmp(&b.month).then_with(|| a.id.cmp(b.id)));
        rows
    }
}

/// A client and the month it stops counting.
pub(super) struct RollOff<'c> {
    pub month: Month,
    pub id: &'c str,
    pub client: &'c ClientState,
}

/// One month of the forecast.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ForecastMonth {
    pub month: Month,
    /// Clients still counting in that month.
    pub counted: u64,
    /// Clients whose roll-off month it is.
    pub rolling_off: u64,
    /// Whether `counted` exceeds the licence, when one is given.
    pub over_licence: Option<bool>,
}

/// Clients counting now: those whose roll-off month is still to come.
pub(super) fn counted_now(schedule: &[RollOff<'_>], current: Month) -> u64 {
    schedule.iter().filter(|r| r.month > current).count() as u64
}

/// The client count from `current` to the last roll-off month (at least `current` itself).
pub(super) fn forecast(
    schedule: &[RollOff<'_>],
    current: Month,
    licensed_clients: Option<u64>,
) -> Vec<ForecastMonth> {
    let mut roll_offs: BTreeMap<Month, u64> = BTreeMap::new();
    for row in schedule {
        *roll_offs.entry(row.month).or_default() += 1;
    }
    let last = roll_offs
        .keys()
        .next_back()
        .copied()
        .unwrap_or(current)
        .max(current);
    let mut counted = counted_now(schedule, current);
    let mut months = Vec::new();
    let mut month = current;
    loop {
        let rolling_off = roll_offs.get(&month).copied().unwrap_or(0);
        if month > current {
            counted -= rolling_off.min(counted);
        }
        months.push(ForecastMonth {
            month,
            counted,
            rolling_off,
            over_licence: licensed_clients.map(|l| counted > l),
        });
        if month >= last {
            break;
        }
        month = month.plus(1);
    }
    months
}

/// The yearly billing period holding `now`: `(start, next start)`. Vault 1.16.7+ rolls the
/// billing start forward every year itself; an older one may report the licence's first
/// start, so whole years are added until the period holds `now`. `None` before the start.
pub(super) fn billing_period(
    billing_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if billing_start > now {
        return None;
    }
    let mut start = billing_start;
    loop {
        let years = u32::try_from(start.year() - billing_start.year() + 1).ok()?;
        let next = billing_start.checked_add_months(Months::new(12 * years))?;
        if next > now {
            return Some((start, next));
        }
        start = next;
    }
}

fn text<'r>(value: &'r Option<Cow<'_, str>>) -> &'r str {
    value.as_deref().unwrap_or("")
}

fn intern(strings: &mut FastSet<Arc<str>>, value: &str) -> Arc<str> {
    if let Some(existing) = strings.get(value) {
        return existing.clone();
    }
    let shared: Arc<str> = Arc::from(value);
    strings.insert(shared.clone());
    shared
}

fn refresh(slot: &mut Arc<str>, value: &str, strings: &mut FastSet<Arc<str>>) {
    if **slot != *value {
        *slot = intern(strings, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::rfc3339_seconds;

    fn month(y: i32, m: u32) -> Month {
        Month::new(y, m).unwrap()
    }

    #[test]
    fn last_active_month_and_counts_across_months() {
        let mut clients = Clients::default();
        let rec = |ts: &'static str| -> ExportRecord<'static> { serde_json::from_str(ts).unwrap() };
        clients.add(
            month(2024, 11),
            rec(r#"{"client_id":"a","timestamp":"2023-01-01T00:00:00Z"}"#),
        );
        clients.add(
            month(2024, 12),
            rec(r#"{"client_id":"a","timestamp":"2022-01-01T00:00:00Z","mount_path":"auth/x/"}"#),
        );
        // Duplicate within a month, and a retried month: no double counting.
        clients.add(
            month(2024, 12),
            rec(r#"{"client_id":"a","timestamp":"2022-01-01T00:00:00Z","mount_path":"auth/x/"}"#),
        );
        let a = &clients.by_id["a"];
        assert_eq!(a.last_active, month(2024, 12));
        assert_eq!(a.months_active, 2);
        assert_eq!(
            rfc3339_seconds(a.last_auth.unwrap()),
            "2023-01-01T00:00:00Z"
        );
        assert_eq!(&*a.mount_path, "auth/x/");
        assert_eq!(a.last_active.plus(12).to_string(), "2025-12");
    }

    #[test]
    fn the_forecast_counts_down_as_clients_roll_off() {
        let mut clients = Clients::default();
        let rec = |ts: &'static str| -> ExportRecord<'static> { serde_json::from_str(ts).unwrap() };
        clients.add(month(2025, 1), rec(r#"{"client_id":"a"}"#));
        clients.add(month(2025, 2), rec(r#"{"client_id":"b"}"#));
        clients.add(month(2025, 2), rec(r#"{"client_id":"c"}"#));
        let schedule = clients.by_roll_off(2);
        let ids: Vec<&str> = schedule.iter().map(|r| r.id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        let current = month(2025, 2);
        assert_eq!(counted_now(&schedule, current), 3);
        let months = forecast(&schedule, current, Some(1));
        let counts: Vec<(String, u64, u64, Option<bool>)> = months
            .iter()
            .map(|m| {
                (
                    m.month.to_string(),
                    m.counted,
                    m.rolling_off,
                    m.over_licence,
                )
            })
            .collect();
        assert_eq!(
            counts,
            [
                ("2025-02".to_owned(), 3, 0, Some(true)),
                ("2025-03".to_owned(), 2, 1, Some(true)),
                ("2025-04".to_owned(), 0, 2, Some(false)),
            ]
        );
    }

    #[test]
    fn the_billing_period_holds_the_run_and_rolls_yearly() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let (start, next) =
            billing_period(t("2024-03-15T00:00:00Z"), t("2026-11-22T03:00:00Z")).unwrap();
        assert_eq!(start, t("2026-03-15T00:00:00Z"));
        assert_eq!(next, t("2027-03-15T00:00:00Z"));
        let (start, _) =
            billing_period(t("2026-11-22T03:00:00Z"), t("2026-11-22T03:00:00Z")).unwrap();
        assert_eq!(start, t("2026-11-22T03:00:00Z"));
        assert!(billing_period(t("2027-01-01T00:00:00Z"), t("2026-11-22T03:00:00Z")).is_none());
    }

    #[test]
    fn first_active_month_within_a_period() {
        let mut clients = Clients::new(month(2026, 1));
        let rec =
            |json: &'static str| -> ExportRecord<'static> { serde_json::from_str(json).unwrap() };
        let (a, b, c, d) = (
            r#"{"client_id":"a"}"#,
            r#"{"client_id":"b"}"#,
            r#"{"client_id":"c"}"#,
            r#"{"client_id":"d"}"#,
        );
        for (m, json) in [(1, a), (2, a), (4, a), (2, b), (5, c), (1, d), (2, b)] {
            clients.add(month(2026, m), rec(json));
        }
        assert_eq!(clients.in_month(month(2026, 2)), 2, "b once, though twice");
        let since = clients.first_active_since(month(2026, 3));
        // a (active again in April) and c (May); b and d were not active since March.
        assert_eq!(since.get(&month(2026, 4)), Some(&1));
        assert_eq!(since.get(&month(2026, 5)), Some(&1));
        assert_eq!(since.values().sum::<u64>(), 2);
    }
}
