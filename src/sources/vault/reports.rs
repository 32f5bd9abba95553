//! The client list and the trailing-window forecast (`{source}.csv`, `{source}-forecast.csv`),
//! the findings and the summary's details, from the clients of every exported month.

use super::billing::Period;
use super::clients::{Clients, counted_now, forecast};
use super::cross_check::MonthCheck;
use super::{VaultFindings, VaultSource};
use crate::report::Column;
use crate::report::summary::{
    Count, KindDetails, MonthCount, SourceFacts, VaultDetails, top_counts,
};
use crate::sources::{SourceContext, SourceError, SourceOutput};
use crate::time::{Month, rfc3339_seconds};
use std::collections::BTreeMap;

/// Columns of `{source}.csv`: the old script's three first, then the detail.
pub const CLIENT_COLUMNS: &[Column] = &[
    Column::identifier("client_id"),
    Column::time("last_auth_timestamp"),
    Column::time("roll_off_month"),
    Column::time("last_active_month"),
    Column::number("months_active"),
    Column::enumeration("client_type"),
    Column::identifier("namespace_path"),
    Column::identifier("mount_path"),
    Column::identifier("mount_type"),
    Column::free_text("entity_name"),
];

/// Columns of `{source}-forecast.csv`.
pub const FORECAST_COLUMNS: &[Column] = &[
    Column::time("month"),
    Column::number("clients_counted"),
    Column::number("rolling_off"),
    Column::number("licensed_clients"),
    Column::enumeration("over_licence"),
];

impl VaultSource {
    pub(super) async fn write_reports(
        &self,
        ctx: &SourceContext,
        current: Month,
        clients: Clients,
        checks: Vec<MonthCheck>,
        billing: Option<Period>,
    ) -> Result<SourceOutput, SourceError> {
        let schedule = clients.by_roll_off(self.roll_off_months);
        let mut report = ctx.report("", CLIENT_COLUMNS)?;
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_namespace: BTreeMap<&str, u64> = BTreeMap::new();
        for row in &schedule {
            let c = row.client;
            *by_type.entry(&c.client_type).or_default() += 1;
            *by_namespace.entry(&c.namespace_path).or_default() += 1;
            report
                .write_row([
                    row.id,
                    &c.last_auth.map(rfc3339_seconds).unwrap_or_default(),
                    &row.month.to_string(),
                    &c.last_active.to_string(),
                    &c.months_active.to_string(),
                    &c.client_type,
                    &c.namespace_path,
                    &c.mount_path,
                    &c.mount_type,
                    &c.entity_name,
                ])
                .await?;
        }

        let mut forecast_report = ctx.report("-forecast", FORECAST_COLUMNS)?;
        let mut over = Vec::new();
        let mut trailing_window = Vec::new();
        for month in forecast(&schedule, current, self.licensed_clients) {
            if month.over_licence == Some(true) {
                over.push(month.month.to_string());
            }
            trailing_window.push(MonthCount {
                month: month.month.to_string(),
                counted: month.counted,
                rolling_off: month.rolling_off,
            });
            forecast_report
                .write_row([
                    month.month.to_string(),
                    month.counted.to_string(),
                    month.rolling_off.to_string(),
                    self.licensed_clients
                        .map(|l| l.to_string())
                        .unwrap_or_default(),
                    month
                        .over_licence
                        .map(|o| o.to_string())
                        .unwrap_or_default(),
                ])
                .await?;
        }

        let mut reports = vec![report, forecast_report];
        let (billing_period, summary_period) = match billing {
            Some(period) => {
                let (billing, period, summary_period) =
                    self.write_billing(ctx, current, &clients, period).await?;
                reports.push(billing);
                (Some(period), Some(summary_period))
            }
            None => (None, None),
        };
        let months_unchecked: Vec<String> = checks
            .iter()
            .filter(|c| c.is_unchecked())
            .map(|c| c.month.clone())
            .collect();
        // Every request of the source is done by now: the reports are built from their answers.
        let traffic = self.traffic.stats();
        let findings = VaultFindings {
            clients: schedule.len() as u64,
            clients_counted_now: counted_now(&schedule, current),
            licensed_clients: self.licensed_clients,
            over_licence: self.licensed_clients.map(|_| !over.is_empty()),
            months_over_licence: self.licensed_clients.map(|_| over),
            months_checked: (checks.len() - months_unchecked.len()) as u64,
            months_unchecked,
            month_checks: checks,
            billing_period,
            requests: traffic.requests,
            rate_limited: traffic.rate_limited,
        };
        // Vault leaves these empty for the root namespace and for some record shapes.
        let counts = |map: BTreeMap<&str, u64>, empty: &str| -> Vec<Count> {
            map.into_iter()
                .map(|(label, count)| Count {
                    label: if label.is_empty() {
                        empty.into()
                    } else {
                        label.into()
                    },
                    count,
                })
                .collect()
        };
        let details = VaultDetails {
            licensed_clients: self.licensed_clients,
            clients: findings.clients,
            trailing_window,
            billing_period: summary_period,
            by_type: top_counts(counts(by_type, "(none)"), usize::MAX),
            by_namespace: counts(by_namespace, "root"),
        };
        Ok(
            SourceOutput::new(reports, &findings).with_facts(SourceFacts {
                details: Some(KindDetails::Vault(details)),
                requests: Some(traffic.requests),
                rate_limited: Some(traffic.rate_limited),
            }),
        )
    }
}
