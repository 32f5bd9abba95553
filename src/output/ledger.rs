//! The window ledger: where a source whose windows follow one another from run to run
//! (LaunchDarkly's `window: continuous`) finds where the last successful run ended. It lives in
//! the output store itself, next to the reports: no database.
//!
//! Per job and source, a folder of small JSON records, each written create-only and never
//! changed (`{generation}` is a zero-padded counter, so names sort in order):
//!
//! - `{generation}.claim.json`: a run takes the next window, before it fetches anything;
//! - `{generation}.end.json`: that claim is settled, once: `committed` after the run's manifest
//!   is written, `released` when the source or the run failed, `abandoned` by a later run when
//!   the claim outlived its lease with no manifest to show for it.
//!
//! Create-only writes are the only concurrency control, so the ledger works on every store
//! rollcall writes to (a local folder publishes with an atomic hard link, S3 honours
//! `If-None-Match: *`; neither offers a compare-and-swap that both support). Two runs that race
//! for a window try to create the same claim and one of them loses; a run that finds a live
//! claim of another run stops before fetching. A run's manifest is the proof that a window was
//! exported, so a claim whose run wrote its manifest but died before settling is committed by
//! the next run rather than exported twice.

use super::{OutputError, store_error_doing};
use chrono::{DateTime, Duration as TimeDelta, DurationRound, Utc};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Folder of the ledgers, under the output's prefix.
pub const LEDGER_DIR: &str = "rollcall-ledger";
const CLAIM_SUFFIX: &str = ".claim.json";
const END_SUFFIX: &str = ".end.json";
/// Records are a few hundred bytes; anything larger is not one.
const RECORD_LIMIT: u64 = 64 * 1024;

/// A half-open time range `[start, end)`, as the ledger records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// How a continuous window is chosen; set by the source's spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContinuousWindow {
    /// How far back the first run reaches.
    pub lookback: Duration,
    /// How long before "now" each window ends, so entries that appear late are in the next one.
    pub settle: Duration,
    /// The most one run covers when it catches up on missed runs.
    pub max_catch_up: Duration,
    /// How far back the API still has data (the plan's retention), when known.
    pub retention: Option<Duration>,
}

/// The window a run takes, and what it had to leave out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedWindow {
    pub window: LedgerWindow,
    /// Time between the previous window's end and this one's start that no run exports.
    pub gap: Option<Gap>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Why it was skipped, in words.
    pub reason: String,
}

impl ContinuousWindow {
    /// The next window: from the previous window's end (or `lookback` before the end on the
    /// first run) to `now - settle`, in whole milliseconds (the API's resolution). A start
    /// further back than `max_catch_up` or the retention is moved up, and the skipped time is
    /// returned as a gap. A window can be empty when runs follow each other within `settle`.
    pub fn resolve(
        &self,
        previous_end: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> ResolvedWindow {
        let end = floor_ms(now - delta(self.settle));
        let (start, mut limit, mut reason) = match previous_end {
            Some(previous) => (
                previous,
                end - delta(self.max_catch_up),
                format!(
                    "more than max_catch_up ({}) since the last successful run",
                    humantime::format_duration(self.max_catch_up)
                ),
            ),
            None => (end - delta(self.lookback), start_of_time(), String::new()),
        };
        if let Some(retention) = self.retention {
            let kept_since = floor_ms(now - delta(retention));
            if kept_since > limit {
                limit = kept_since;
                reason = format!(
                    "older than the plan's history retention ({})",
                    humantime::format_duration(retention)
                );
            }
        }
        // Runs closer together than `settle` (or a clock set back) get an empty window at the
        // previous end: the chain never runs backwards over exported time.
        let end = end.max(start);
        if start < limit {
            let limit = limit.min(end);
            return ResolvedWindow {
                window: LedgerWindow { start: limit, end },
                gap: Some(Gap {
                    start,
                    end: limit,
                    reason,
                }),
            };
        }
        ResolvedWindow {
            window: LedgerWindow { start, end },
            gap: None,
        }
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn floor_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

fn start_of_time() -> DateTime<Utc> {
    DateTime::<Utc>::MIN_UTC
}

/// The last window a run exported and recorded in its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub generation: u64,
    pub run_id: String,
    pub window: LedgerWindow,
}

/// What `{generation}.claim.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    pub generation: u64,
    pub run_id: String,
    pub window: LedgerWindow,
    pub claimed_at: DateTime<Utc>,
    /// After this, a later run may take the window over if no manifest shows it exported.
    pub expires_at: DateTime<Utc>,
    /// The manifest key (relative to the output prefix) that proves the window exported.
    pub manifest: String,
    pub previous: Option<Committed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The run's manifest lists the source as exported (succeeded or incomplete) with this
    /// window.
    Committed,
    /// The source or the run failed; the next run covers the window again.
    Released,
    /// The claim's lease ran out without a manifest; a later run took the window over.
    Abandoned,
}

/// What `{generation}.end.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndRecord {
    pub generation: u64,
    pub outcome: Outcome,
    /// The run that made the claim.
    pub run_id: String,
    pub window: LedgerWindow,
    /// The run that wrote this record (a later run for a recovered or abandoned claim).
    pub settled_by: String,
    pub settled_at: DateTime<Utc>,
}

/// Where the ledger stands when a run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub last: Option<Committed>,
    pub next_generation: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "run {run_id} claimed the window from {start} at {claimed_at} and has not finished; two runs never export the same window. If that run is gone (its pod was killed), run again after its claim expires at {expires_at}"
    )]
    Busy {
        run_id: String,
        start: DateTime<Utc>,
        claimed_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
    #[error(
        "another run claimed the same window (generation {generation}) at the same moment; it exports it, this run does not"
    )]
    Lost { generation: u64 },
    #[error(
        "the window ledger record {key} in {location} cannot be read ({message}); rollcall wrote it and never changes it: restore it from the bucket's versions, or move the ledger folder aside to start afresh from `lookback`"
    )]
    Corrupt {
        location: String,
        key: String,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] OutputError),
}

/// One source's ledger in one job.
#[derive(Debug, Clone)]
pub struct WindowLedger {
    store: Arc<dyn ObjectStore>,
    /// The output's prefix, for manifest keys.
    prefix: Option<ObjectPath>,
    dir: ObjectPath,
    location: String,
}

impl WindowLedger {
    pub(super) fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        location: &str,
        job: &str,
        source: &str,
    ) -> Self {
        let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        let dir = format!("{LEDGER_DIR}/{job}/{source}");
        let dir = match &prefix {
            Some(p) => ObjectPath::from(format!("{p}/{dir}")),
            None => ObjectPath::from(dir),
        };
        Self {
            store,
            prefix,
            dir,
            location: location.to_owned(),
        }
    }

    /// The ledger's folder, relative to the output's prefix, for messages and docs.
    pub fn folder(&self) -> String {
        match &self.prefix {
            Some(p) => self
                .dir
                .as_ref()
                .strip_prefix(&format!("{p}/"))
                .unwrap_or(self.dir.as_ref())
                .to_owned(),
            None => self.dir.to_string(),
        }
    }

    /// Reads the ledger, settling what earlier runs left open: a claim whose manifest shows the
    /// window exported is committed; one past its lease without a manifest is abandoned. A
    /// live claim of another run is [`LedgerError::Busy`]. `run_id` names this run in what it
    /// settles.
    pub async fn position(
        &self,
        source: &str,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Position, LedgerError> {
        let (claims, ends) = self.list().await?;
        // Every settled generation, with its record once read (lazily: usually one is needed).
        let mut settled: BTreeMap<u64, Option<EndRecord>> =
            ends.iter().map(|generation| (*generation, None)).collect();
        let open: Vec<u64> = claims
            .iter()
            .copied()
            .filter(|g| !settled.contains_key(g))
            .collect();
        for generation in open {
            let claim: ClaimRecord = self.read(&self.key(generation, CLAIM_SUFFIX)).await?;
            let outcome = match self.manifest_shows(&claim, source).await? {
                Some(true) => Outcome::Committed,
                Some(false) => Outcome::Released,
                None if claim.expires_at <= now => Outcome::Abandoned,
                None => {
                    return Err(LedgerError::Busy {
                        run_id: claim.run_id,
                        start: claim.window.start,
                        claimed_at: claim.claimed_at,
                        expires_at: claim.expires_at,
                    });
                }
            };
            if outcome != Outcome::Committed {
                tracing::warn!(
                    source,
                    generation = claim.generation,
                    claimed_by = %claim.run_id,
                    outcome = ?outcome,
                    "An earlier run left its window claim open without exporting it; settled the claim, and this run covers that window again."
                );
            }
            let record = self.settle(&claim, outcome, run_id, now).await?;
            settled.insert(generation, Some(record));
        }
        let next_generation = claims.iter().chain(&ends).max().map_or(1, |g| g + 1);
        // The newest committed window; released and abandoned ones are passed over.
        for (generation, record) in settled.into_iter().rev() {
            let record = match record {
                Some(record) => record,
                None => self.read(&self.key(generation, END_SUFFIX)).await?,
            };
            if record.outcome == Outcome::Committed {
                return Ok(Position {
                    last: Some(Committed {
                        generation: record.generation,
                        run_id: record.run_id,
                        window: record.window,
                    }),
                    next_generation,
                });
            }
        }
        Ok(Position {
            last: None,
            next_generation,
        })
    }

    /// Takes the window described by `claim`; fails with [`LedgerError::Lost`] when another run
    /// created the same claim first.
    pub async fn claim(&self, claim: &ClaimRecord) -> Result<(), LedgerError> {
        let key = self.key(claim.generation, CLAIM_SUFFIX);
        match self.create(&key, claim).await? {
            true => Ok(()),
            false => Err(LedgerError::Lost {
                generation: claim.generation,
            }),
        }
    }

    /// Settles a claim once; if someone settled it first, returns what they recorded.
    pub async fn settle(
        &self,
        claim: &ClaimRecord,
        outcome: Outcome,
        settled_by: &str,
        now: DateTime<Utc>,
    ) -> Result<EndRecord, LedgerError> {
        let record = EndRecord {
            generation: claim.generation,
            outcome,
            run_id: claim.run_id.clone(),
            window: claim.window,
            settled_by: settled_by.to_owned(),
            settled_at: now,
        };
        let key = self.key(claim.generation, END_SUFFIX);
        if self.create(&key, &record).await? {
            Ok(record)
        } else {
            self.read(&key).await
        }
    }

    fn key(&self, generation: u64, suffix: &str) -> ObjectPath {
        ObjectPath::from(format!("{}/{generation:012}{suffix}", self.dir))
    }

    /// Generations that have a claim, and those that have an end.
    async fn list(&self) -> Result<(Vec<u64>, Vec<u64>), LedgerError> {
        use futures::TryStreamExt;
        let objects: Vec<_> = self
            .store
            .list(Some(&self.dir))
            .try_collect()
            .await
            .map_err(|e| self.store_error("reading the window ledger", e))?;
        let (mut claims, mut ends) = (Vec::new(), Vec::new());
        for meta in objects {
            let Some(name) = meta.location.filename() else {
                continue;
            };
            let parse = |suffix: &str| {
                name.strip_suffix(suffix)
                    .and_then(|n| n.parse::<u64>().ok())
            };
            if let Some(generation) = parse(CLAIM_SUFFIX) {
                claims.push(generation);
            } else if let Some(generation) = parse(END_SUFFIX) {
                ends.push(generation);
            }
        }
        claims.sort_unstable();
        ends.sort_unstable();
        Ok((claims, ends))
    }

    /// Whether the claim's manifest exists and lists the source as exported (succeeded or
    /// incomplete) with the claimed
    /// window; `None` when there is no manifest (yet).
    async fn manifest_shows(
        &self,
        claim: &ClaimRecord,
        source: &str,
    ) -> Result<Option<bool>, LedgerError> {
        let path = match &self.prefix {
            Some(p) => ObjectPath::from(format!("{p}/{}", claim.manifest)),
            None => ObjectPath::from(claim.manifest.as_str()),
        };
        let bytes = match self.store.get(&path).await {
            Ok(got) => got
                .bytes()
                .await
                .map_err(|e| self.store_error("reading a manifest", e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.store_error("reading a manifest", e)),
        };
        #[derive(Deserialize)]
        struct Manifest {
            sources: Vec<Entry>,
        }
        #[derive(Deserialize)]
        struct Entry {
            name: String,
            status: String,
            window: Option<LedgerWindow>,
        }
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| LedgerError::Corrupt {
                location: self.location.clone(),
                key: claim.manifest.clone(),
                message: e.to_string(),
            })?;
        Ok(Some(manifest.sources.iter().any(|entry| {
            // The statuses of `SourceStatus::exported_its_window`, as the manifest spells them.
            entry.name == source
                && matches!(entry.status.as_str(), "succeeded" | "incomplete")
                && entry.window == Some(claim.window)
        })))
    }

    /// Creates `path` holding `record` unless it exists; `false` when it does.
    async fn create<T: Serialize>(
        &self,
        path: &ObjectPath,
        record: &T,
    ) -> Result<bool, LedgerError> {
        // Serializing plain data into memory cannot fail.
        let mut bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
        bytes.push(b'\n');
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(path, PutPayload::from(bytes), options)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.store_error("writing the window ledger", e)),
        }
    }

    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        path: &ObjectPath,
    ) -> Result<T, LedgerError> {
        let corrupt = |message: String| LedgerError::Corrupt {
            location: self.location.clone(),
            key: path.to_string(),
            message,
        };
        let got = self
            .store
            .get(path)
            .await
            .map_err(|e| self.store_error("reading the window ledger", e))?;
        if got.meta.size > RECORD_LIMIT {
            return Err(corrupt(format!(
                "{} bytes, far more than a record",
                got.meta.size
            )));
        }
        let bytes = got
            .bytes()
            .await
            .map_err(|e| self.store_error("reading the window ledger", e))?;
        serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))
    }

    fn store_error(&self, action: &str, e: object_store::Error) -> LedgerError {
        LedgerError::Store(store_error_doing(&self.location, action.to_owned(), e))
    }
}

#[cfg(test)]
mod tests;
