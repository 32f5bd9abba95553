//! Taking turns on a Vault node's single export slot: the run's exports to one address hold
//! it one at a time ([`SourceContext::exclusive`]), and another client's export is waited out
//! for as long as Vault lets an export run.

use super::VaultSource;
use super::api;
use super::clients::Clients;
use crate::http::HttpError;
use crate::sources::{SourceContext, SourceError};
use crate::time::Month;
use std::sync::Mutex;
use std::time::Duration;

/// Vault ends an export after 10 minutes (its `VAULT_ACTIVITY_EXPORT_DURATION`), so another
/// client's export holds the node's single export slot at most about that long.
pub(super) const EXPORT_SLOT_PATIENCE: Duration = Duration::from_secs(11 * 60);
const EXPORT_SLOT_FIRST_WAIT: Duration = Duration::from_secs(1);
const EXPORT_SLOT_LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Waits while another client's export holds the node's single export slot: 1 s, doubling to
/// a minute, for up to [`EXPORT_SLOT_PATIENCE`] in all (an export can run 10 minutes), and never
/// past the source's deadline.
#[derive(Debug)]
pub(super) struct SlotWait {
    next: Duration,
    waited: Duration,
    deadline: tokio::time::Instant,
}

impl SlotWait {
    pub fn new(deadline: tokio::time::Instant) -> Self {
        Self {
            next: EXPORT_SLOT_FIRST_WAIT,
            waited: Duration::ZERO,
            deadline,
        }
    }

    /// Sleeps before the next try; `Err` with the time already waited when patience or the
    /// deadline is spent.
    pub async fn wait(&mut self) -> Result<(), Duration> {
        let wait = self
            .next
            .min(EXPORT_SLOT_PATIENCE.saturating_sub(self.waited));
        if wait.is_zero() || tokio::time::Instant::now() + wait >= self.deadline {
            return Err(self.waited);
        }
        tokio::time::sleep(wait).await;
        self.waited += wait;
        self.next = (self.next * 2).min(EXPORT_SLOT_LONGEST_WAIT);
        Ok(())
    }
}

impl VaultSource {
    /// One month's export, taking turns with the run's other exports to this address and
    /// waiting out another client's export.
    pub(super) async fn export_month(
        &self,
        ctx: &SourceContext,
        month: Month,
        clients: &Mutex<Clients>,
    ) -> Result<u64, SourceError> {
        let mut slot = SlotWait::new(ctx.deadline);
        loop {
            let held = ctx.exclusive.hold(&self.export_slot).await;
            let result = self.fetch_month(month, clients).await?;
            drop(held);
            match result {
                Err(HttpError::Status { body, .. }) if api::is_export_in_progress(&body) => {
                    tracing::info!(
                        source = %self.name,
                        month = %month,
                        "Another export is running on this Vault node (one at a time); waiting for it to finish."
                    );
                    if let Err(waited) = slot.wait().await {
                        return Err(SourceError::Data(format!(
                            "export of {month}: another client's export kept Vault's single export slot busy for {} (Vault allows an export 10 minutes); run again later, or raise `timeout` if the source's deadline cut the wait short",
                            humantime::format_duration(Duration::from_secs(waited.as_secs()))
                        )));
                    }
                }
                Err(HttpError::Status { status, body, .. })
                    if api::is_no_data_answer(status, &body) =>
                {
                    return Ok(0);
                }
                Err(error) => return Err(self.export_error(month, error)),
                Ok(records) => return Ok(records),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn another_export_is_waited_out_for_eleven_minutes_but_never_past_the_deadline() {
        let start = tokio::time::Instant::now();
        let mut slot = SlotWait::new(start + Duration::from_secs(3600));
        let mut tries = 1;
        while slot.wait().await.is_ok() {
            tries += 1;
        }
        let waited = start.elapsed();
        // Long enough for an export Vault lets run 10 minutes, polled ever less often.
        assert_eq!(waited, EXPORT_SLOT_PATIENCE);
        assert!(waited >= Duration::from_secs(600));
        assert!(tries < 20, "{tries} tries");

        // A source deadline 90 s away stops the waiting before it, not after.
        let start = tokio::time::Instant::now();
        let deadline = start + Duration::from_secs(90);
        let mut slot = SlotWait::new(deadline);
        let waited = loop {
            if let Err(waited) = slot.wait().await {
                break waited;
            }
        };
        assert!(tokio::time::Instant::now() < deadline);
        assert_eq!(waited, start.elapsed());
        assert_eq!(
            waited,
            Duration::from_secs(63),
            "1+2+4+8+16+32; the next 60 s would cross it"
        );
    }
}
