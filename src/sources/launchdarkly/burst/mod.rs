//! A millisecond holding a whole page of entries (20): `before`/`limit` cannot show more of it,
//! so it is counted and fetched in parts.
//!
//! 1. **Count** it with `POST /api/v2/auditlog/counts` over a 3 ms range cut into 1 ms buckets,
//!    taking the middle one, the millisecond's own (so the undocumented bounds of `after` and
//!    `before` do not matter). A count equal to what was already seen ends it; a smaller one,
//!    or none, is no count.
//! 2. **Split** it with `POST /api/v2/auditlog` statement lists: one part per resource kind
//!    plus a `notResources` catch-all holding everything the kinds do not; a part that still
//!    returns a full page is split again, by project (keys from `GET /api/v2/projects`), then
//!    by environment, each level with its own catch-all (allow the parent, deny the children),
//!    so nothing falls between the parts. An entry may match several statements (several
//!    `accesses`), so entries are merged by `_id`.
//! 3. The millisecond is **complete** when the count is reached, or, with no count to be had,
//!    when no part is left returning a full page. Otherwise what is missing is exact (count
//!    minus entries found) or, without a count, unknown; the source is then `incomplete`.
//!
//! With `spec` set, the parts are refinements of that specifier (its `proj/*` and `env/*`
//! replaced by keys) so nothing outside it is fetched; with `q` set, the search carries it but
//! the counts endpoint cannot, so such a millisecond is never counted.
//!
//! The parts are made in [`split`], the count and the searches sent from [`requests`], the
//! project catalogue read in [`catalogue`], and the manifest's account of it all kept in
//! [`findings`].

mod catalogue;
mod findings;
mod requests;
mod split;
#[cfg(test)]
mod tests;

pub use findings::BurstFindings;

use super::entry::{Entry, LIMIT};
use super::{Pager, rfc3339_ms};
use crate::sources::SourceError;
use split::{Part, Project, first_parts, refine};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Requests one millisecond may cost before it is left incomplete: a burst spread over
/// hundreds of projects must not hold the whole export.
const MAX_REQUESTS_PER_BURST: u64 = 400;
/// The most a counts, search or catalogue answer may hold.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// What became of one full millisecond; one per millisecond in the findings.
#[derive(Debug, Clone)]
pub struct Burst {
    pub ms: i64,
    /// Distinct entries of the millisecond now in the report.
    pub fetched: u64,
    /// The account's count of it, when it answered one.
    pub counted: Option<u64>,
    /// Why there is no count, when there is none.
    pub uncounted: Option<String>,
    /// Parts that still returned a full page and could not be split further.
    pub unsplit: Vec<String>,
    pub requests: u64,
}

impl Burst {
    pub fn complete(&self) -> bool {
        match self.counted {
            Some(counted) => counted <= self.fetched,
            None => self.unsplit.is_empty(),
        }
    }

    /// Entries known to be missing; `None` when there is no count to tell.
    pub fn missing(&self) -> Option<u64> {
        match self.counted {
            Some(counted) => Some(counted.saturating_sub(self.fetched)),
            None if self.unsplit.is_empty() => Some(0),
            None => None,
        }
    }
}

/// Shared by the workers: the project catalogue (read once, when first needed) and the
/// outcome of every full millisecond.
#[derive(Debug, Default)]
pub struct Bursts {
    catalogue: OnceCell<Result<Arc<Vec<Project>>, String>>,
    done: std::sync::Mutex<Vec<Burst>>,
}

/// New entries of the millisecond, for the report.
pub struct Resolved {
    pub entries: Vec<Entry>,
}

impl Bursts {
    fn record(&self, burst: Burst) {
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(burst);
    }

    /// Every full millisecond so far, newest first.
    pub fn all(&self) -> Vec<Burst> {
        let mut all = self.done.lock().unwrap_or_else(|e| e.into_inner()).clone();
        all.sort_by_key(|b| std::cmp::Reverse(b.ms));
        all
    }
}

impl Pager {
    /// Fetches every entry of the full millisecond `ms` that is not in `seen`, and records
    /// whether that is all of it.
    pub(super) async fn resolve_burst(
        &self,
        ms: i64,
        seen: &HashSet<String>,
    ) -> Result<Resolved, SourceError> {
        let mut ids = seen.clone();
        let mut found: HashMap<String, Entry> = HashMap::new();
        let mut burst = Burst {
            ms,
            fetched: seen.len() as u64,
            counted: None,
            uncounted: None,
            unsplit: Vec::new(),
            requests: 0,
        };
        let spec = self.resource_spec.as_deref();
        match self.count_ms(ms, spec, &mut burst.requests).await? {
            // A count below what the listing already showed is not a count of this millisecond
            // (undocumented bounds, another filter): never let it declare the millisecond whole.
            Ok(counted) if counted < burst.fetched => {
                burst.uncounted = Some(format!(
                    "the counts endpoint counted {counted}, fewer than the {} entries already listed",
                    burst.fetched
                ));
            }
            Ok(counted) => burst.counted = Some(counted),
            Err(why) => burst.uncounted = Some(why),
        }
        if burst.counted.is_none_or(|c| c > burst.fetched) {
            let mut queue: VecDeque<Part> = first_parts(spec).into();
            while let Some(part) = queue.pop_front() {
                if burst.requests >= MAX_REQUESTS_PER_BURST {
                    burst.unsplit.push(format!(
                        "{} and {} more parts (over {MAX_REQUESTS_PER_BURST} requests)",
                        part.label(),
                        queue.len()
                    ));
                    break;
                }
                let items = match self.search_ms(ms, &part, &mut burst.requests).await? {
                    Ok(items) => items,
                    Err(why) => {
                        burst.unsplit.push(format!("{}: {why}", part.label()));
                        continue;
                    }
                };
                let full = items.len() >= LIMIT;
                for entry in items {
                    if entry.date == ms && ids.insert(entry.id.clone()) {
                        found.insert(entry.id.clone(), entry);
                    }
                }
                if burst
                    .counted
                    .is_some_and(|c| c <= seen.len() as u64 + found.len() as u64)
                {
                    // Counted and found: the remaining parts cannot add anything.
                    break;
                }
                if full {
                    match self.split(&part).await {
                        Some(children) => queue.extend(children),
                        None => burst.unsplit.push(part.label()),
                    }
                }
            }
        }
        burst.fetched = (seen.len() + found.len()) as u64;
        if burst.complete() {
            tracing::info!(
                source = %self.name,
                date = %rfc3339_ms(ms),
                entries = burst.fetched,
                requests = burst.requests,
                "A millisecond held a full page of audit-log entries; fetched all of it in parts."
            );
        } else {
            tracing::warn!(
                source = %self.name,
                date = %rfc3339_ms(ms),
                fetched = burst.fetched,
                counted = ?burst.counted,
                unsplit = ?burst.unsplit,
                "A millisecond holds more audit-log entries than LaunchDarkly will list, even in parts; the source will be incomplete."
            );
        }
        self.bursts.record(burst);
        let mut entries: Vec<Entry> = found.into_values().collect();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Resolved { entries })
    }

    /// The parts a full part splits into; `None` when it cannot be split (no level left, or
    /// the project catalogue cannot be read, which is logged once per part).
    async fn split(&self, part: &Part) -> Option<Vec<Part>> {
        if !part.refinable {
            return None;
        }
        let catalogue = self
            .bursts
            .catalogue
            .get_or_init(|| async {
                let mut spent = 0;
                let result = self.read_catalogue(&mut spent).await;
                self.stats
                    .catalogue_requests
                    .fetch_add(spent, std::sync::atomic::Ordering::Relaxed);
                result
            })
            .await;
        match catalogue {
            Ok(projects) => refine(part, projects),
            Err(why) => {
                tracing::warn!(source = %self.name, reason = %why, "Cannot split a full millisecond by project.");
                None
            }
        }
    }
}
