//! Calendar arithmetic in UTC, and the injectable "now" of a run.
//!
//! Vault months, roll-off months and report windows are UTC calendar months; everything that
//! depends on the current time takes it from [`RunClock`] so tests and back-fills can pin it.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use std::fmt;

/// The instant a run treats as "now". Fixed at start so every source sees the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunClock {
    started_at: DateTime<Utc>,
}

impl RunClock {
    pub fn fixed(started_at: DateTime<Utc>) -> Self {
        Self { started_at }
    }

    pub fn system() -> Self {
        Self::fixed(Utc::now())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.started_at
    }
}

/// A UTC calendar month, ordered chronologically, printed as `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    /// 1..=12
    month: u32,
}

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Self> {
        (1..=12).contains(&month).then_some(Self { year, month })
    }

    pub fn of(instant: DateTime<Utc>) -> Self {
        Self {
            year: instant.year(),
            month: instant.month(),
        }
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn month(&self) -> u32 {
        self.month
    }

    /// This month shifted by `delta` months (negative goes back).
    pub fn plus(&self, delta: i64) -> Self {
        let index = i64::from(self.year) * 12 + i64::from(self.month) - 1 + delta;
        Self {
            year: index.div_euclid(12) as i32,
            month: index.rem_euclid(12) as u32 + 1,
        }
    }

    /// Number of months from `self` to `later` (negative when `later` is earlier).
    pub fn months_until(&self, later: Month) -> i64 {
        (i64::from(later.year) - i64::from(self.year)) * 12 + i64::from(later.month)
            - i64::from(self.month)
    }

    /// First instant of the month: `YYYY-MM-01T00:00:00Z`.
    pub fn start(&self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.first_day().and_hms_opt(0, 0, 0).unwrap_or_default())
    }

    /// Last whole second of the month: `YYYY-MM-<last>T23:59:59Z`. Vault's month filter is
    /// inclusive at both ends, so the next month's first instant would pull in that month too.
    pub fn end(&self) -> DateTime<Utc> {
        self.plus(1).start() - chrono::Duration::seconds(1)
    }

    fn first_day(&self) -> NaiveDate {
        // Month::new guarantees a valid month, and day 1 exists in every month.
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Formats an instant as RFC 3339 with a `Z` suffix and whole seconds, the form every API here takes.
pub fn rfc3339_seconds(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_arithmetic_crosses_years() {
        let dec = Month::new(2024, 12).unwrap();
        assert_eq!(dec.plus(12).to_string(), "2025-12");
        assert_eq!(dec.plus(1).to_string(), "2025-01");
        assert_eq!(dec.plus(-12).to_string(), "2023-12");
        assert_eq!(Month::new(2025, 1).unwrap().plus(-1).to_string(), "2024-12");
        assert_eq!(dec.months_until(Month::new(2025, 2).unwrap()), 2);
    }

    #[test]
    fn month_bounds_handle_leap_years() {
        let feb = Month::new(2024, 2).unwrap();
        assert_eq!(rfc3339_seconds(feb.start()), "2024-02-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(feb.end()), "2024-02-29T23:59:59Z");
        let feb = Month::new(2025, 2).unwrap();
        assert_eq!(rfc3339_seconds(feb.end()), "2025-02-28T23:59:59Z");
        let dec = Month::new(2025, 12).unwrap();
        assert_eq!(rfc3339_seconds(dec.end()), "2025-12-31T23:59:59Z");
    }
}
