//! The window cut into disjoint time ranges, handed to workers, and split again when a worker
//! runs out of work while another range still has much left (audit activity is bursty, so
//! equal-time ranges finish very unevenly).
//!
//! A range is `[lo, hi)` in Unix ms and is known by its `hi`, which never changes: a split
//! raises the parent's `lo` so that it keeps half of its estimated work (at most a chunk)
//! right below its cursor, and gives the older rest to the idle worker. Every entry belongs to exactly one range, decided on the client, so the
//! server's boundary behaviour cannot make an entry appear twice or not at all. Ranges ordered
//! by `hi` (newest first) are the report's order.

use super::entry::{Entry, LIMIT};
use super::paging::{Applied, Cursor};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

/// A split costs about half a page (the page that crosses the new boundary is shared), so it
/// pays only with a few pages left.
const MIN_SPLIT_PAGES: f64 = 3.0;
/// Most pages a split leaves the range being split: the idle worker takes the rest, right
/// behind it, so a burst is shared out in chunks instead of halves of time that may hold
/// none of it.
const CHUNK_PAGES: f64 = 25.0;
/// Ranges ever created; each may hold a spill file, so keep the count bounded.
const MAX_RANGES: usize = 256;

#[derive(Debug)]
struct Range {
    lo: i64,
    hi: i64,
    /// `before` of the range's next request; `[lo, before)` is what is left.
    before: i64,
    /// At least one page was applied, so its density is known.
    started: bool,
    done: bool,
    /// In-range entries per ms over the last pages (a moving average): activity is bursty,
    /// so what lies right below the cursor is best predicted by what was just above it.
    density: f64,
}

#[derive(Debug, Default)]
struct Inner {
    ranges: BTreeMap<i64, Range>,
    /// Ranges nobody works on yet (the initial cut), taken from the end: newest first.
    unclaimed: Vec<i64>,
    splits: u64,
}

/// Shared by all workers and the report writer.
#[derive(Debug)]
pub struct Schedule {
    inner: Mutex<Inner>,
    changed: Notify,
    start: i64,
    end: i64,
}

/// Where the work stands, for progress logs and findings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub ranges: usize,
    pub active: usize,
    pub splits: u64,
    /// Share of the window's time already covered, 0 to 1.
    pub covered: f64,
}

impl Schedule {
    /// Cuts `[start, end)` into up to `parts` equal ranges.
    pub fn new(start: i64, end: i64, parts: usize) -> Self {
        let span = (end - start).max(0);
        let parts = (parts.max(1) as i64).min(span.max(1));
        let mut inner = Inner::default();
        for i in 0..parts {
            let lo = start + span * i / parts;
            let hi = start + span * (i + 1) / parts;
            inner.ranges.insert(
                hi,
                Range {
                    lo,
                    hi,
                    before: hi,
                    started: false,
                    // An empty window has nothing to fetch.
                    done: lo >= hi,
                    density: 0.0,
                },
            );
            if lo < hi {
                inner.unclaimed.push(hi);
            }
        }
        // Claimed from the end, so the newest range, which the report streams, starts first.
        inner.unclaimed.sort();
        Self {
            inner: Mutex::new(inner),
            changed: Notify::new(),
            start,
            end,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a single step under the lock: the state stays consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next range to work on, as its `hi`: an unclaimed one, else the older part of the
    /// range with the most work left. Waits while others still work on ranges too small to
    /// split; `None` when every range is done.
    pub async fn claim(&self) -> Option<i64> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut inner = self.lock();
                if let Some(hi) = inner.unclaimed.pop() {
                    return Some(hi);
                }
                if let Some(hi) = split_largest(&mut inner) {
                    drop(inner);
                    self.changed.notify_waiters();
                    return Some(hi);
                }
                if inner.ranges.values().all(|r| r.done) {
                    return None;
                }
            }
            changed.await;
        }
    }

    /// Applies a page to the range's cursor. Done under the lock, so a split cannot move `lo`
    /// between deciding which entries are the range's and recording how far it got.
    pub fn apply(
        &self,
        hi: i64,
        cursor: &mut Cursor,
        items: Vec<Entry>,
    ) -> Result<Applied, String> {
        let applied = {
            let mut inner = self.lock();
            let range = inner
                .ranges
                .get_mut(&hi)
                .ok_or_else(|| format!("no range ends at {hi}"))?;
            let previous = range.before;
            let applied = cursor.apply(items, range.lo)?;
            range.before = cursor.before();
            let span = (previous - range.before).max(1) as f64;
            let density = applied.new_in_range as f64 / span;
            range.density = if range.started {
                (range.density + density) / 2.0
            } else {
                density
            };
            range.started = true;
            range.done = applied.done;
            applied
        };
        self.changed.notify_waiters();
        Ok(applied)
    }

    /// The newest range (the first in the report).
    pub fn newest(&self) -> Option<i64> {
        self.lock().ranges.keys().next_back().copied()
    }

    /// The range right after `hi` in the report (the next older one).
    pub fn next_older(&self, hi: i64) -> Option<i64> {
        self.lock().ranges.range(..hi).next_back().map(|(k, _)| *k)
    }

    pub fn progress(&self) -> Progress {
        let inner = self.lock();
        let span = (self.end - self.start).max(1) as f64;
        let left: i64 = inner
            .ranges
            .values()
            .filter(|r| !r.done)
            .map(|r| (r.before.min(r.hi) - r.lo).max(0))
            .sum();
        Progress {
            ranges: inner.ranges.len(),
            active: inner.ranges.values().filter(|r| !r.done).count(),
            splits: inner.splits,
            covered: (1.0 - left as f64 / span).clamp(0.0, 1.0),
        }
    }
}

/// Splits the started range with the most estimated pages left; returns the new range's `hi`.
fn split_largest(inner: &mut Inner) -> Option<i64> {
    if inner.ranges.len() >= MAX_RANGES {
        return None;
    }
    let pages_left = |r: &Range| (r.before - r.lo) as f64 * r.density / LIMIT as f64;
    let parent_hi = inner
        .ranges
        .values()
        .filter(|r| r.started && !r.done && r.before - r.lo >= 2)
        .map(|r| (r.hi, pages_left(r)))
        .filter(|(_, pages)| *pages >= MIN_SPLIT_PAGES)
        .max_by(|a, b| a.1.total_cmp(&b.1))?
        .0;
    let parent = inner.ranges.get_mut(&parent_hi)?;
    // The parent keeps half of its estimated work, at most a chunk; lo < mid < before, so the
    // child gets none of what the parent has seen.
    let keep_pages = (pages_left(parent) / 2.0).min(CHUNK_PAGES);
    let keep_ms = (keep_pages * LIMIT as f64 / parent.density).ceil() as i64;
    let mid = (parent.before - keep_ms).clamp(parent.lo + 1, parent.before - 1);
    let child = Range {
        lo: parent.lo,
        hi: mid,
        before: mid,
        started: false,
        done: false,
        density: 0.0,
    };
    parent.lo = mid;
    inner.ranges.insert(mid, child);
    inner.splits += 1;
    Some(mid)
}

#[cfg(test)]
mod tests {
    use super::super::paging::tests::{Model, Ties, random_entries};
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    #[test]
    fn the_cut_covers_the_window_without_gaps_or_overlap() {
        for (start, end, parts) in [(0, 1_000, 4), (5, 8, 8), (0, 1, 4), (10, 10, 4)] {
            let schedule = Schedule::new(start, end, parts);
            let inner = schedule.lock();
            let mut expect_lo = start;
            for r in inner.ranges.values() {
                assert_eq!(r.lo, expect_lo);
                assert!(r.lo < r.hi || start == end);
                expect_lo = r.hi;
            }
            assert_eq!(expect_lo, end.max(start));
        }
    }

    /// Workers interleaved at random, splitting whenever one is idle, over data full of ties:
    /// the ranges' outputs in report order are exactly what one sequential pass gives.
    #[tokio::test]
    async fn splitting_and_interleaving_never_lose_or_repeat_an_entry() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut splits = 0;
        for round in 0..60 {
            let n = rng.random_range(0..1_500);
            let entries = random_entries(&mut rng, n, 2_000);
            let mut model = Model::new(entries);
            model.before_inclusive = round % 2 == 0;
            model.ties = [Ties::IdDescending, Ties::Hashed][round % 2];
            let (start, end) = (1_000, 3_000);
            let workers = rng.random_range(1..9);
            let schedule = Schedule::new(start, end, workers);
            let mut out: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
            let mut active: Vec<(i64, Cursor)> = Vec::new();
            let mut idle = workers;
            loop {
                while idle > 0 {
                    // claim() would wait here if nothing can be split; take what there is.
                    let claimed = {
                        let mut inner = schedule.lock();
                        inner.unclaimed.pop().or_else(|| split_largest(&mut inner))
                    };
                    match claimed {
                        Some(hi) => {
                            active.push((hi, Cursor::new(hi)));
                            idle -= 1;
                        }
                        None => break,
                    }
                }
                if active.is_empty() {
                    break;
                }
                let pick = rng.random_range(0..active.len());
                let (hi, cursor) = &mut active[pick];
                let page = model.page(cursor.before());
                let applied = schedule.apply(*hi, cursor, page).unwrap();
                out.entry(*hi)
                    .or_default()
                    .extend(applied.release.into_iter().map(|e| (e.date, e.id)));
                if applied.done {
                    active.swap_remove(pick);
                    idle += 1;
                }
            }
            assert_eq!(schedule.claim().await, None, "round {round}");
            let mut report = Vec::new();
            let mut next = schedule.newest();
            while let Some(hi) = next {
                report.extend(out.remove(&hi).unwrap_or_default());
                next = schedule.next_older(hi);
            }
            let (expected, _) = model.reachable(start, end);
            assert_eq!(report, expected, "round {round}, {workers} workers");
            assert!(schedule.progress().covered > 0.999);
            splits += schedule.progress().splits;
        }
        assert!(
            splits > 30,
            "only {splits} splits: the test would prove little"
        );
    }
}
