//! The billing-period view (`billing_forecast: true`): the period's start from Vault's
//! client-count configuration, and `{source}-billing.csv`, month by month to the next start.

use super::api::{CONFIG_PATH, ConfigAnswer, parse_time};
use super::clients::{Clients, billing_period};
use super::{SMALL_BODY_LIMIT, VaultSource};
use crate::http::{HttpError, join_path, read_json};
use crate::report::summary;
use crate::report::{Column, CsvReport};
use crate::sources::{SourceContext, SourceError};
use crate::time::{Month, rfc3339_seconds};
use chrono::{DateTime, Datelike, Utc};
use reqwest::StatusCode;
use serde::Serialize;

/// Columns of `{source}-billing.csv` (with `billing_forecast: true`).
pub const BILLING_COLUMNS: &[Column] = &[
    Column::time("month"),
    Column::number("clients_counted"),
    Column::number("new_clients"),
    Column::number("licensed_clients"),
    Column::enumeration("over_licence"),
    Column::enumeration("basis"),
];

/// The current billing period, in the manifest.
#[derive(Debug, Serialize)]
pub struct BillingPeriod {
    pub billing_start_timestamp: String,
    pub period_start: String,
    pub next_period_start: String,
    /// Distinct clients active in the period so far.
    pub clients_counted: u64,
    /// Every client of this period stops counting when the next one starts, unless it is
    /// active again by then.
    pub rolling_off_at_next_period_start: u64,
    pub licensed_clients: Option<u64>,
    pub over_licence: Option<bool>,
    pub months_over_licence: Vec<String>,
}

/// The current billing period, read and checked before anything is exported.
#[derive(Debug, Clone, Copy)]
pub(super) struct Period {
    /// `billing_start_timestamp` as Vault gave it.
    billing_start: DateTime<Utc>,
    start: DateTime<Utc>,
    next: DateTime<Utc>,
}

impl VaultSource {
    /// The billing period holding `now`, from `billing_start_timestamp`. Asked before the
    /// exports: a server that has no billing period, or one the fetched months cannot cover,
    /// is a setting to change, which no retry fixes and no export should wait for.
    pub(super) async fn billing_period(
        &self,
        now: DateTime<Utc>,
        current: Month,
    ) -> Result<Period, SourceError> {
        let billing_start = self.billing_start().await?;
        let (start, next) = billing_period(billing_start, now).ok_or_else(|| {
            SourceError::Unfixable(format!(
                "Vault's billing start {} is after the run's time {}; the billing period has not begun: remove `billing_forecast` until it has",
                rfc3339_seconds(billing_start),
                rfc3339_seconds(now)
            ))
        })?;
        let window_first = current.plus(-(i64::from(self.months) - 1));
        if Month::of(start) < window_first {
            let needed = Month::of(start).months_until(current) + 1;
            return Err(SourceError::Unfixable(format!(
                "the billing period began {}, before the {} fetched months: set `months` to at least {needed} so every client of the period is counted",
                rfc3339_seconds(start),
                self.months
            )));
        }
        Ok(Period {
            billing_start,
            start,
            next,
        })
    }

    /// `billing_start_timestamp` from `sys/internal/counters/config` (a root-namespace path,
    /// asked without the namespace).
    async fn billing_start(&self) -> Result<DateTime<Utc>, SourceError> {
        let call = self
            .call(join_path(&self.address, CONFIG_PATH), false)
            .await?;
        let answer = self
            .http
            .fetch(&call, |r| {
                read_json::<ConfigAnswer>(r, SMALL_BODY_LIMIT, "Vault's client-count configuration")
            })
            .await
            .map_err(|e| match &e {
                HttpError::Status { status, .. } if *status == StatusCode::FORBIDDEN => {
                    SourceError::Credentials(format!(
                        "Vault refused its client-count configuration, which `billing_forecast` needs ({e}): give the token `read` on sys/internal/counters/config in the root namespace, or remove `billing_forecast`"
                    ))
                }
                HttpError::Status { status, .. } if *status == StatusCode::NOT_FOUND => {
                    SourceError::Unfixable(format!(
                        "the server has no client-count configuration for `billing_forecast` ({e}): OpenBao has none; remove `billing_forecast`"
                    ))
                }
                _ => SourceError::Data(format!(
                    "Vault's client-count configuration, for `billing_forecast`: {e}"
                )),
            })?;
        let raw = answer.data.billing_start_timestamp.unwrap_or_default();
        match parse_time(&raw) {
            // Community edition has no licence and answers Go's zero time.
            Some(t) if t.year() > 1 => Ok(t),
            _ => Err(SourceError::Unfixable(format!(
                "Vault reports no billing start (`billing_start_timestamp` is `{raw}`); Community edition has no billing period: remove `billing_forecast`"
            ))),
        }
    }

    /// The billing-period view: a client active in any month of the period counts for the
    /// whole period, and stops counting at the next period start unless active again. Months
    /// are whole UTC months, as Vault counts a period. Rows run from the period's first month
    /// to the month before the one holding the next start; months still to come hold what is
    /// counted so far, which new activity can only raise (`basis` = `at_least`).
    pub(super) async fn write_billing(
        &self,
        ctx: &SourceContext,
        current: Month,
        clients: &Clients,
        period: Period,
    ) -> Result<(CsvReport, BillingPeriod, summary::BillingPeriod), SourceError> {
        let Period {
            billing_start,
            start,
            next,
        } = period;
        let first_month = Month::of(start);
        let new_by_month = clients.first_active_since(first_month);
        let mut report = ctx.report("-billing", BILLING_COLUMNS)?;
        let mut counted = 0u64;
        let mut over = Vec::new();
        // Vault starts a period's count at the first of its month, so the month holding the
        // next start belongs to the next period.
        let last_month = Month::of(next).plus(-1);
        let mut month = first_month;
        while month <= last_month {
            let past = month <= current;
            let new = if past {
                new_by_month.get(&month).copied().unwrap_or(0)
            } else {
                0
            };
            counted += new;
            let over_licence = self.licensed_clients.map(|l| counted > l);
            if over_licence == Some(true) {
                over.push(month.to_string());
            }
            report
                .write_row([
                    month.to_string(),
                    counted.to_string(),
                    if past { new.to_string() } else { String::new() },
                    self.licensed_clients
                        .map(|l| l.to_string())
                        .unwrap_or_default(),
                    over_licence.map(|o| o.to_string()).unwrap_or_default(),
                    if past { "actual" } else { "at_least" }.to_owned(),
                ])
                .await?;
            month = month.plus(1);
        }
        let period = BillingPeriod {
            billing_start_timestamp: rfc3339_seconds(billing_start),
            period_start: rfc3339_seconds(start),
            next_period_start: rfc3339_seconds(next),
            clients_counted: counted,
            rolling_off_at_next_period_start: counted,
            licensed_clients: self.licensed_clients,
            over_licence: self.licensed_clients.map(|l| counted > l),
            months_over_licence: over,
        };
        let summary_period = summary::BillingPeriod {
            period_start: start,
            next_period_start: next,
            counted_in_period: counted,
            rolling_off_at_next_start: counted,
        };
        Ok((report, period, summary_period))
    }
}
