//! The run's side of continuous windows: claim each one in the window ledger before anything
//! is fetched, record in the manifest how it follows on from the last run, and settle the claim
//! once the manifest is written (committed) or the source failed (released).

use crate::output::Output;
use crate::output::ledger::{
    ClaimRecord, ContinuousWindow, Gap, LedgerError, Outcome, WindowLedger,
};
use crate::report::manifest::{Continuity, SourceEntry, SourceStatus, Window};
use chrono::{DateTime, SecondsFormat, Utc};
use std::time::Duration;

/// Time allowed after the longest source deadline for writing reports and the manifest; a
/// claim older than both, with no manifest to show, is taken over by the next run.
pub const LEASE_MARGIN: Duration = Duration::from_secs(15 * 60);

/// A window this run claimed and has not settled yet.
#[derive(Debug)]
pub struct OpenWindow {
    source: String,
    ledger: WindowLedger,
    claim: ClaimRecord,
    gap: Option<Gap>,
}

impl OpenWindow {
    /// Reads the ledger, chooses the next window and claims it.
    pub async fn open(
        output: &Output,
        source: &str,
        policy: ContinuousWindow,
        run_id: &str,
        manifest_key: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Self, LedgerError> {
        let ledger = output.window_ledger(source);
        let position = ledger.position(source, run_id, now).await?;
        let previous_end = position.last.as_ref().map(|last| last.window.end);
        let resolved = policy.resolve(previous_end, now);
        if let Some(gap) = &resolved.gap {
            tracing::warn!(
                source,
                gap_start = %gap.start,
                gap_end = %gap.end,
                reason = %gap.reason,
                "GAP: entries between these times are not exported by this or any run; the manifest records the gap. Export them with a one-off run with `window: fixed` and `start`/`end`, if the API still has them."
            );
        }
        let claim = ClaimRecord {
            generation: position.next_generation,
            run_id: run_id.to_owned(),
            window: resolved.window,
            claimed_at: now,
            expires_at: now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX),
            manifest: manifest_key.to_owned(),
            previous: position.last,
        };
        ledger.claim(&claim).await?;
        tracing::info!(
            source,
            generation = claim.generation,
            start = %claim.window.start,
            end = %claim.window.end,
            continues = claim.previous.as_ref().map(|p| p.run_id.as_str()).unwrap_or("nothing (first run)"),
            ledger = %ledger.folder(),
            "Claimed the continuous window."
        );
        Ok(Self {
            source: source.to_owned(),
            ledger,
            claim,
            gap: resolved.gap,
        })
    }

    pub fn window(&self) -> Window {
        Window {
            start: self.claim.window.start,
            end: self.claim.window.end,
        }
    }

    /// Records the window and how it follows on in the source's manifest entry. A gap makes a
    /// source that fetched everything else incomplete: no run will ever export that time.
    pub fn record_in(&self, entry: &mut SourceEntry) {
        entry.window = Some(self.window());
        entry.continuity = Some(self.continuity());
        let Some(gap) = &self.gap else { return };
        if entry.status == SourceStatus::Failed {
            // The claim is released: the next run meets the same gap and reports it.
            return;
        }
        entry.status = SourceStatus::Incomplete;
        let skipped = format!(
            "GAP: nothing exported from {} to {} ({})",
            gap.start.to_rfc3339_opts(SecondsFormat::Millis, true),
            gap.end.to_rfc3339_opts(SecondsFormat::Millis, true),
            gap.reason
        );
        entry.missing = Some(match entry.missing.take() {
            Some(missing) => format!("{missing}; {skipped}"),
            None => skipped,
        });
    }

    fn continuity(&self) -> Continuity {
        let previous = self.claim.previous.as_ref();
        Continuity {
            generation: self.claim.generation,
            previous_run_id: previous.map(|p| p.run_id.clone()),
            previous_window: previous.map(|p| Window {
                start: p.window.start,
                end: p.window.end,
            }),
            gap: self.gap.clone(),
        }
    }

    /// Records the outcome. A failure here loses nothing: the next run reads this run's
    /// manifest to settle a committed window, and takes a released one over when the claim
    /// expires.
    pub async fn settle(self, exported: bool, now: DateTime<Utc>) {
        let outcome = if exported {
            Outcome::Committed
        } else {
            Outcome::Released
        };
        match self
            .ledger
            .settle(&self.claim, outcome, &self.claim.run_id, now)
            .await
        {
            Ok(end) if end.outcome == outcome => {}
            Ok(end) => tracing::error!(
                source = %self.source,
                generation = self.claim.generation,
                settled_by = %end.settled_by,
                "A later run took this run's window over after its claim expired at {}; both runs' reports may hold the same entries.",
                self.claim.expires_at
            ),
            Err(e) => tracing::warn!(
                source = %self.source,
                generation = self.claim.generation,
                error = %e,
                expires_at = %self.claim.expires_at,
                "Could not settle the window claim; the next run settles it from this run's manifest, or takes the window over once the claim expires."
            ),
        }
    }
}

/// Settles every claimed window: committed when the written manifest lists its source as
/// succeeded or incomplete, released otherwise (`exported` is `None` when no manifest was written).
pub async fn settle_windows(
    windows: Vec<Option<OpenWindow>>,
    exported: Option<&[SourceEntry]>,
    now: DateTime<Utc>,
) {
    let settling = windows
        .into_iter()
        .enumerate()
        .filter_map(|(index, window)| {
            let covered = exported
                .and_then(|entries| entries.get(index))
                .is_some_and(|entry| entry.status.exported_its_window());
            window.map(|window| window.settle(covered, now))
        });
    futures::future::join_all(settling).await;
}
