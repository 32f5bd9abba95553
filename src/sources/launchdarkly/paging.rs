//! Tie-safe backward paging through one time range `[lo, hi)` (Unix ms).
//!
//! The API has no cursor but time: `before` (documented exclusive) and 20 entries a page,
//! newest first, with no documented order among entries of the same millisecond. Paging with
//! `before = <oldest date on the page>` (the old script) skips every entry of that millisecond
//! that did not fit on the page. The recipe of the reference, which holds whichever way the
//! server treats the boundary:
//!
//! 1. ask for the next page with `before = D + 1` (`D` = oldest date on the page), so the
//!    boundary millisecond comes again;
//! 2. drop what was already seen: entries newer than `D` were all on earlier pages (a page is
//!    the newest 20 below `before`), and of those at `D` only their ids need remembering;
//! 3. when that would not move `before` (the page is all boundary), step `before` down by one
//!    instead; if the page was 20 entries of a single millisecond, the API cannot show more of
//!    that millisecond (there is no tiebreak to page on), so say so;
//! 4. the range is complete when a page reaches below its start, or is empty. No `after` is
//!    sent: the page that crosses the start proves completeness without an extra request.
//!
//! Memory is the ids of one millisecond plus the entries held back at it: entries of the
//! boundary millisecond are released only once the cursor has moved past it, sorted by `_id`,
//! so a range's output is ordered by date (newest first) then `_id` whatever order the server
//! uses for ties.

use super::entry::{Entry, LIMIT};
use std::collections::HashSet;

/// Paging state of one range. `hi` never changes; `lo` may rise when the range is split, so
/// it is passed to every [`Cursor::apply`].
#[derive(Debug)]
pub struct Cursor {
    hi: i64,
    /// `before` of the next request.
    before: i64,
    /// Oldest date seen so far; everything newer (below `hi`) has been seen.
    oldest: Option<i64>,
    ids_at_oldest: HashSet<String>,
    /// In-range entries dated `oldest`, released once the cursor is past that millisecond.
    held: Vec<Entry>,
    last_saturated: Option<i64>,
}

/// What one page changed.
#[derive(Debug, Default)]
pub struct Applied {
    /// Entries for the report, newest first, ties by `_id`.
    pub release: Vec<Entry>,
    /// Nothing of the range is left to fetch.
    pub done: bool,
    /// Entries of this range not seen before (released now or held back).
    pub new_in_range: u64,
    /// Entries already seen (the re-included boundary millisecond).
    pub duplicates: u64,
    /// Entries outside the range (a neighbour's, or beyond the window).
    pub outside: u64,
    /// A millisecond of this range whose entries filled a whole page: entries of it beyond
    /// those 20 cannot be fetched.
    pub saturated: Option<i64>,
}

impl Cursor {
    pub fn new(hi: i64) -> Self {
        Self {
            hi,
            // `before = hi` takes `hi - 1`, the range's newest millisecond, under either
            // boundary behaviour; an inclusive server also sends `hi`, which is filtered out.
            before: hi,
            oldest: None,
            ids_at_oldest: HashSet::new(),
            held: Vec::new(),
            last_saturated: None,
        }
    }

    /// `before` for the next request.
    pub fn before(&self) -> i64 {
        self.before
    }

    /// Folds in the page answered to `before = self.before()`; `lo` is the range's current
    /// lower bound. Fails when the server plainly ignores `before`: paging could not end.
    pub fn apply(&mut self, mut items: Vec<Entry>, lo: i64) -> Result<Applied, String> {
        let requested = self.before;
        let mut out = Applied::default();
        if items.is_empty() {
            out.done = true;
            self.release_held(&mut out.release);
            return Ok(out);
        }
        if let Some(e) = items.iter().find(|e| e.date > requested) {
            return Err(format!(
                "the API answered `before={requested}` with entry {} dated {}: it does not honour `before`, so paging cannot be trusted",
                e.id, e.date
            ));
        }
        items.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.id.cmp(&b.id)));
        let count = items.len();
        let min = items.last().map(|e| e.date).unwrap_or(requested);
        let at_min = items.iter().filter(|e| e.date == min).count();
        for entry in items {
            let seen = match self.oldest {
                None => false,
                Some(oldest) => {
                    entry.date > oldest
                        || (entry.date == oldest && self.ids_at_oldest.contains(&entry.id))
                }
            };
            if seen {
                out.duplicates += 1;
                continue;
            }
            if self.oldest != Some(entry.date) {
                // Older than anything before: the held millisecond is complete.
                self.release_held(&mut out.release);
                self.oldest = Some(entry.date);
                self.ids_at_oldest.clear();
            }
            self.ids_at_oldest.insert(entry.id.clone());
            if entry.date >= lo && entry.date < self.hi {
                out.new_in_range += 1;
                self.held.push(entry);
            } else {
                out.outside += 1;
            }
        }
        let mut next = min + 1;
        if next >= requested {
            // The page is all boundary: asking again would bring the same page.
            if count >= LIMIT
                && at_min >= LIMIT
                && min >= lo
                && min < self.hi
                && self.last_saturated != Some(min)
            {
                self.last_saturated = Some(min);
                out.saturated = Some(min);
            }
            next = requested - 1;
        }
        self.before = next;
        // Below `lo` nothing is ours. `next == lo` is not the end: a server with an inclusive
        // `before` still has entries at `lo` to give.
        out.done = min < lo || next < lo;
        if out.done {
            self.release_held(&mut out.release);
        }
        Ok(out)
    }

    /// Ids seen at `ms`, the millisecond the cursor last stopped at.
    pub fn ids_at(&self, ms: i64) -> HashSet<String> {
        if self.oldest == Some(ms) {
            self.ids_at_oldest.clone()
        } else {
            HashSet::new()
        }
    }

    /// Adds entries of the full millisecond `ms` that were fetched in parts (see `burst`); they
    /// are released with the rest of that millisecond, in `_id` order. Returns how many were
    /// new. `ms` must be the millisecond of the last [`Applied::saturated`].
    pub fn absorb(&mut self, ms: i64, entries: Vec<Entry>) -> Result<u64, String> {
        if self.oldest != Some(ms) || self.last_saturated != Some(ms) {
            return Err(format!(
                "entries of millisecond {ms} arrived after paging had moved past it"
            ));
        }
        let mut added = 0;
        for entry in entries {
            if entry.date == ms && self.ids_at_oldest.insert(entry.id.clone()) {
                self.held.push(entry);
                added += 1;
            }
        }
        Ok(added)
    }

    fn release_held(&mut self, release: &mut Vec<Entry>) {
        self.held.sort_by(|a, b| a.id.cmp(&b.id));
        release.append(&mut self.held);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    pub fn entry(id: &str, date: i64) -> Entry {
        serde_json::from_value(serde_json::json!({ "_id": id, "date": date })).unwrap()
    }

    /// How a model server orders entries of one millisecond.
    #[derive(Debug, Clone, Copy)]
    pub enum Ties {
        IdDescending,
        IdAscending,
        /// Stable but unrelated to the id.
        Hashed,
    }

    /// A model of the API: the newest `LIMIT` entries below `before`, with knobs for how the
    /// bound and ties are treated.
    pub struct Model {
        pub entries: Vec<(i64, String)>,
        pub before_inclusive: bool,
        pub ties: Ties,
        pub requests: u64,
    }

    fn tie_key(ties: Ties, id: &str) -> (u64, String) {
        match ties {
            Ties::IdDescending | Ties::IdAscending => (0, id.to_owned()),
            Ties::Hashed => {
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in id.bytes() {
                    h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
                (h, id.to_owned())
            }
        }
    }

    impl Model {
        pub fn new(entries: Vec<(i64, String)>) -> Self {
            Self {
                entries,
                before_inclusive: false,
                ties: Ties::IdDescending,
                requests: 0,
            }
        }

        /// The answer to `before` (the client sends no `after`).
        pub fn page(&mut self, before: i64) -> Vec<Entry> {
            self.requests += 1;
            let mut hits: Vec<&(i64, String)> = self
                .entries
                .iter()
                .filter(|(d, _)| {
                    if self.before_inclusive {
                        *d <= before
                    } else {
                        *d < before
                    }
                })
                .collect();
            let ties = self.ties;
            hits.sort_by(|a, b| {
                b.0.cmp(&a.0).then_with(|| {
                    let (ka, kb) = (tie_key(ties, &a.1), tie_key(ties, &b.1));
                    match ties {
                        Ties::IdAscending => ka.cmp(&kb),
                        _ => kb.cmp(&ka),
                    }
                })
            });
            hits.into_iter()
                .take(LIMIT)
                .map(|(d, id)| entry(id, *d))
                .collect()
        }

        /// What a perfect client can get from `[lo, hi)`: everything, except that of a
        /// millisecond with more than `LIMIT` entries only the first `LIMIT` in the server's
        /// tie order are reachable. Ordered newest first, ties by id.
        pub fn reachable(&self, lo: i64, hi: i64) -> (Vec<(i64, String)>, Vec<i64>) {
            let mut by_ms: BTreeMap<i64, Vec<String>> = BTreeMap::new();
            for (d, id) in &self.entries {
                if *d >= lo && *d < hi {
                    by_ms.entry(*d).or_default().push(id.clone());
                }
            }
            let mut out = Vec::new();
            let mut saturated = Vec::new();
            for (d, mut ids) in by_ms.into_iter().rev() {
                if ids.len() >= LIMIT {
                    saturated.push(d);
                }
                let ties = self.ties;
                ids.sort_by(|a, b| {
                    let (ka, kb) = (tie_key(ties, a), tie_key(ties, b));
                    match ties {
                        Ties::IdAscending => ka.cmp(&kb),
                        _ => kb.cmp(&ka),
                    }
                });
                ids.truncate(LIMIT);
                ids.sort();
                out.extend(ids.into_iter().map(|id| (d, id)));
            }
            (out, saturated)
        }
    }

    /// Pages `[lo, hi)` to the end; returns the released entries and the saturated ms.
    fn drain(model: &mut Model, lo: i64, hi: i64) -> (Vec<(i64, String)>, Vec<i64>) {
        let mut cursor = Cursor::new(hi);
        let mut out = Vec::new();
        let mut saturated = Vec::new();
        for _ in 0..100_000 {
            let page = model.page(cursor.before());
            let applied = cursor.apply(page, lo).unwrap();
            out.extend(applied.release.into_iter().map(|e| (e.date, e.id)));
            saturated.extend(applied.saturated);
            if applied.done {
                return (out, saturated);
            }
        }
        panic!("paging did not end");
    }

    /// Random data with many ties: dates drawn from a few hundred milliseconds, some of them
    /// bursts of up to 45 entries.
    pub fn random_entries(rng: &mut StdRng, n: usize, span: i64) -> Vec<(i64, String)> {
        let mut entries = Vec::new();
        let mut i = 0;
        while entries.len() < n {
            let date = 1_000 + rng.random_range(0..span);
            let burst = match rng.random_range(0..10) {
                0 => rng.random_range(15..45),
                1..=3 => rng.random_range(2..6),
                _ => 1,
            };
            for _ in 0..burst {
                entries.push((date, format!("{:08x}", rng.random::<u32>() ^ i)));
                i += 1;
            }
        }
        entries
    }

    #[test]
    fn the_old_method_loses_ties_and_this_one_does_not() {
        // 18 entries, then 5 sharing millisecond 500 across the page boundary, then 10 more.
        let mut entries: Vec<(i64, String)> =
            (0..18).map(|i| (900 - i, format!("a{i:02}"))).collect();
        entries.extend((0..5).map(|i| (500, format!("t{i}"))));
        entries.extend((0..10).map(|i| (400 - i, format!("z{i}"))));
        let mut model = Model::new(entries.clone());
        // The old script: before = date of the last item.
        let mut old = Vec::new();
        let mut before = 1_000;
        loop {
            let page = model.page(before);
            if page.is_empty() {
                break;
            }
            before = page.last().unwrap().date;
            old.extend(page.into_iter().map(|e| e.id));
        }
        assert_eq!(
            old.len(),
            30,
            "the old method drops 3 of the 5 tied entries"
        );

        let (got, saturated) = drain(&mut model, 0, 1_000);
        let (expected, _) = model.reachable(0, 1_000);
        assert_eq!(got, expected);
        assert_eq!(got.len(), 33);
        assert!(saturated.is_empty());
    }

    #[test]
    fn a_burst_of_25_in_one_millisecond_ends_and_says_so() {
        let mut entries: Vec<(i64, String)> = (0..25).map(|i| (700, format!("b{i:02}"))).collect();
        entries.extend((0..7).map(|i| (800 + i, format!("n{i}"))));
        entries.extend((0..7).map(|i| (600 - i, format!("o{i}"))));
        for ties in [Ties::IdDescending, Ties::IdAscending, Ties::Hashed] {
            for inclusive in [false, true] {
                let mut model = Model::new(entries.clone());
                model.ties = ties;
                model.before_inclusive = inclusive;
                let (got, saturated) = drain(&mut model, 0, 1_000);
                let (expected, _) = model.reachable(0, 1_000);
                assert_eq!(got, expected, "{ties:?} inclusive={inclusive}");
                assert_eq!(got.len(), 7 + 20 + 7);
                assert_eq!(saturated, vec![700], "{ties:?} inclusive={inclusive}");
                let unique: HashSet<&String> = got.iter().map(|(_, id)| id).collect();
                assert_eq!(unique.len(), got.len(), "no duplicates");
            }
        }
    }

    #[test]
    fn exactly_once_for_random_data_any_boundary_behaviour_and_tie_order() {
        let mut rng = StdRng::seed_from_u64(7);
        for round in 0..300 {
            let n = rng.random_range(0..400);
            let entries = random_entries(&mut rng, n, 600);
            let mut model = Model::new(entries);
            model.before_inclusive = round % 2 == 1;
            model.ties = [Ties::IdDescending, Ties::IdAscending, Ties::Hashed][round % 3];
            let lo = 1_000 + rng.random_range(0..300);
            let hi = lo + rng.random_range(1..400);
            let (got, saturated) = drain(&mut model, lo, hi);
            let (expected, bursts) = model.reachable(lo, hi);
            assert_eq!(got, expected, "round {round}");
            // Every millisecond with more than a page is reported; none with less.
            for ms in &saturated {
                assert!(bursts.contains(ms), "round {round}: {ms} reported");
            }
            let over: Vec<i64> = bursts
                .iter()
                .copied()
                .filter(|ms| model.entries.iter().filter(|(d, _)| d == ms).count() > LIMIT)
                .collect();
            for ms in over {
                assert!(saturated.contains(&ms), "round {round}: {ms} not reported");
            }
        }
    }

    #[test]
    fn entries_of_a_full_millisecond_fetched_in_parts_join_it_once_in_id_order() {
        let mut entries: Vec<(i64, String)> = (0..25).map(|i| (700, format!("b{i:02}"))).collect();
        entries.push((650, "older".into()));
        let mut model = Model::new(entries);
        let mut cursor = Cursor::new(1_000);
        // The first page ends at 700; asking again from 701 shows the same 20: full.
        let applied = cursor.apply(model.page(cursor.before()), 0).unwrap();
        assert_eq!(applied.saturated, None);
        let applied = cursor.apply(model.page(cursor.before()), 0).unwrap();
        assert_eq!(applied.saturated, Some(700));
        let seen = cursor.ids_at(700);
        assert_eq!(seen.len(), 20);
        // The parts bring all 25 again (and one of another millisecond): 5 are new.
        let mut parts: Vec<Entry> = (0..25).map(|i| entry(&format!("b{i:02}"), 700)).collect();
        parts.push(entry("stray", 650));
        assert_eq!(cursor.absorb(700, parts).unwrap(), 5);
        let applied = cursor.apply(model.page(cursor.before()), 0).unwrap();
        let ids: Vec<String> = applied.release.iter().map(|e| e.id.clone()).collect();
        let expected: Vec<String> = (0..25).map(|i| format!("b{i:02}")).collect();
        assert_eq!(ids, expected);
        assert!(cursor.absorb(700, Vec::new()).is_err(), "paging moved on");
    }

    #[test]
    fn an_empty_range_takes_one_request_and_a_server_ignoring_before_fails() {
        let mut model = Model::new(vec![(5_000, "later".into())]);
        let (got, _) = drain(&mut model, 0, 1_000);
        assert!(got.is_empty());
        assert_eq!(model.requests, 1);

        let mut cursor = Cursor::new(1_000);
        let err = cursor.apply(vec![entry("x", 1_001)], 0).unwrap_err();
        assert!(err.contains("does not honour `before`"), "{err}");
        // Inclusive `before` is tolerated; the entry is not this range's.
        let applied = cursor.apply(vec![entry("y", 1_000)], 0).unwrap();
        assert_eq!((applied.outside, applied.release.len()), (1, 0));
    }
}
