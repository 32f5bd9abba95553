use super::*;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

fn policy() -> ContinuousWindow {
    ContinuousWindow {
        lookback: hours(24),
        settle: Duration::from_secs(300),
        max_catch_up: hours(24 * 7),
        retention: None,
    }
}

fn window(start: &str, end: &str) -> LedgerWindow {
    LedgerWindow {
        start: at(start),
        end: at(end),
    }
}

#[test]
fn the_first_window_reaches_back_by_lookback_and_ends_settle_before_now() {
    let got = policy().resolve(None, at("2026-11-22T03:00:00.123456Z"));
    assert_eq!(
        got.window,
        window("2026-11-21T02:55:00.123Z", "2026-11-22T02:55:00.123Z")
    );
    assert_eq!(got.gap, None);
}

#[test]
fn each_window_starts_where_the_last_one_ended() {
    let got = policy().resolve(
        Some(at("2026-11-21T02:55:00.123Z")),
        at("2026-11-22T03:07:31Z"),
    );
    assert_eq!(
        got.window,
        window("2026-11-21T02:55:00.123Z", "2026-11-22T03:02:31Z")
    );
    assert_eq!(got.gap, None);
    // Runs closer together than `settle`: an empty window, never one that runs backwards.
    let got = policy().resolve(Some(at("2026-11-22T03:02:31Z")), at("2026-11-22T03:04:00Z"));
    assert_eq!(
        got.window,
        window("2026-11-22T03:02:31Z", "2026-11-22T03:02:31Z")
    );
}

#[test]
fn catching_up_is_bounded_and_the_rest_is_a_named_gap() {
    let got = policy().resolve(Some(at("2026-11-01T00:00:00Z")), at("2026-11-22T00:05:00Z"));
    assert_eq!(
        got.window,
        window("2026-11-15T00:00:00Z", "2026-11-22T00:00:00Z")
    );
    let gap = got.gap.expect("a gap");
    assert_eq!(
        (gap.start, gap.end),
        (at("2026-11-01T00:00:00Z"), at("2026-11-15T00:00:00Z"))
    );
    assert!(
        gap.reason.contains("max_catch_up (7days)"),
        "{}",
        gap.reason
    );

    // The plan's retention bounds both the first run and a catch-up, whichever is tighter.
    let kept = ContinuousWindow {
        retention: Some(hours(72)),
        lookback: hours(24 * 30),
        ..policy()
    };
    let got = kept.resolve(None, at("2026-11-22T00:05:00Z"));
    assert_eq!(got.window.start, at("2026-11-19T00:05:00Z"));
    assert!(got.gap.unwrap().reason.contains("retention (3days)"));
    let got = kept.resolve(Some(at("2026-11-10T00:00:00Z")), at("2026-11-22T00:05:00Z"));
    assert_eq!(got.window.start, at("2026-11-19T00:05:00Z"));
    assert_eq!(got.gap.unwrap().start, at("2026-11-10T00:00:00Z"));
}

const SOURCE: &str = "ld";

fn claim(generation: u64, run_id: &str, w: LedgerWindow, now: &str, lease_h: i64) -> ClaimRecord {
    ClaimRecord {
        generation,
        run_id: run_id.to_owned(),
        window: w,
        claimed_at: at(now),
        expires_at: at(now) + TimeDelta::hours(lease_h),
        manifest: format!("nightly/{run_id}/manifest.json"),
        previous: None,
    }
}

fn manifest(source_status: &str, w: LedgerWindow) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schema_version": 1,
        "sources": [
            {"name": "other", "status": "succeeded", "window": null},
            {"name": SOURCE, "status": source_status, "window": w},
        ]
    }))
    .unwrap()
}

/// The same checks against every kind of store rollcall writes to in tests.
async fn stores() -> Vec<(Arc<dyn ObjectStore>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    vec![(Arc::new(InMemory::new()), None), (local, Some(dir))]
}

fn ledger(store: &Arc<dyn ObjectStore>, prefix: &str) -> WindowLedger {
    WindowLedger::new(store.clone(), prefix, "test://", "nightly", SOURCE)
}

async fn put(store: &Arc<dyn ObjectStore>, key: &str, bytes: Vec<u8>) {
    store
        .put(&ObjectPath::from(key), bytes.into())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_window_is_claimed_committed_and_continued_from() {
    for (store, _dir) in stores().await {
        let ledger = ledger(&store, "prefix/x");
        assert_eq!(ledger.folder(), "rollcall-ledger/nightly/ld");
        let now = at("2026-11-22T03:00:00Z");
        let start = ledger.position(SOURCE, "r1", now).await.unwrap();
        assert_eq!(
            start,
            Position {
                last: None,
                next_generation: 1
            }
        );

        let w = window("2026-11-21T02:55:00Z", "2026-11-22T02:55:00Z");
        let c = claim(1, "r1", w, "2026-11-22T03:00:00Z", 2);
        ledger.claim(&c).await.unwrap();
        // The claim's run is still going: nobody else takes its window.
        let err = ledger.position(SOURCE, "r2", now).await.unwrap_err();
        assert!(
            matches!(err, LedgerError::Busy { ref run_id, .. } if run_id == "r1"),
            "{err}"
        );
        assert!(err.to_string().contains("2026-11-22 05:00:00 UTC"), "{err}");

        let end = ledger
            .settle(&c, Outcome::Committed, "r1", now)
            .await
            .unwrap();
        assert_eq!(end.outcome, Outcome::Committed);
        let next = ledger.position(SOURCE, "r2", now).await.unwrap();
        assert_eq!(next.next_generation, 2);
        assert_eq!(
            next.last,
            Some(Committed {
                generation: 1,
                run_id: "r1".into(),
                window: w
            })
        );
        // Settling twice keeps the first outcome.
        let again = ledger
            .settle(&c, Outcome::Released, "r9", now)
            .await
            .unwrap();
        assert_eq!(
            (again.outcome, again.settled_by.as_str()),
            (Outcome::Committed, "r1")
        );
        let listed: Vec<String> = {
            use futures::TryStreamExt;
            store
                .list(None)
                .map_ok(|m| m.location.to_string())
                .try_collect()
                .await
                .unwrap()
        };
        assert!(
            listed.contains(
                &"prefix/x/rollcall-ledger/nightly/ld/000000000001.claim.json".to_owned()
            ),
            "{listed:?}"
        );
    }
}

#[tokio::test]
async fn a_released_window_is_covered_again_by_the_next_run() {
    for (store, _dir) in stores().await {
        let ledger = ledger(&store, "");
        let now = at("2026-11-22T03:00:00Z");
        let w1 = window("2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z");
        let c1 = claim(1, "r1", w1, "2026-11-22T00:05:00Z", 2);
        ledger.claim(&c1).await.unwrap();
        ledger
            .settle(&c1, Outcome::Committed, "r1", now)
            .await
            .unwrap();
        let c2 = claim(
            2,
            "r2",
            window("2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z"),
            "2026-11-23T00:05:00Z",
            2,
        );
        ledger.claim(&c2).await.unwrap();
        ledger
            .settle(&c2, Outcome::Released, "r2", now)
            .await
            .unwrap();
        let position = ledger.position(SOURCE, "r3", now).await.unwrap();
        assert_eq!(position.next_generation, 3);
        assert_eq!(position.last.unwrap().window, w1);
    }
}

#[tokio::test]
async fn a_claim_left_open_is_committed_by_its_manifest_or_abandoned_after_its_lease() {
    for (store, _dir) in stores().await {
        let ledger = ledger(&store, "p");
        let w = window("2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z");
        // r1 wrote its manifest and died before settling: its window counts as exported.
        let c1 = claim(1, "r1", w, "2026-11-22T00:05:00Z", 2);
        ledger.claim(&c1).await.unwrap();
        put(
            &store,
            "p/nightly/r1/manifest.json",
            manifest("succeeded", w),
        )
        .await;
        let position = ledger
            .position(SOURCE, "r2", at("2026-11-22T00:06:00Z"))
            .await
            .unwrap();
        assert_eq!(position.last.unwrap().run_id, "r1");

        // r2 died without a manifest: busy during its lease, abandoned after it.
        let w2 = window("2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z");
        let c2 = claim(2, "r2", w2, "2026-11-23T00:05:00Z", 2);
        ledger.claim(&c2).await.unwrap();
        assert!(matches!(
            ledger
                .position(SOURCE, "r3", at("2026-11-23T02:04:59Z"))
                .await,
            Err(LedgerError::Busy { .. })
        ));
        let position = ledger
            .position(SOURCE, "r3", at("2026-11-23T02:05:00Z"))
            .await
            .unwrap();
        assert_eq!(
            (position.last.unwrap().window, position.next_generation),
            (w, 3)
        );
        let end: EndRecord = ledger.read(&ledger.key(2, END_SUFFIX)).await.unwrap();
        assert_eq!(
            (end.outcome, end.settled_by.as_str()),
            (Outcome::Abandoned, "r3")
        );

        // r3's manifest says the source failed: released at once, lease or not.
        let c3 = claim(3, "r3", w2, "2026-11-23T02:05:00Z", 2);
        ledger.claim(&c3).await.unwrap();
        put(&store, "p/nightly/r3/manifest.json", manifest("failed", w2)).await;
        let position = ledger
            .position(SOURCE, "r4", at("2026-11-23T02:06:00Z"))
            .await
            .unwrap();
        assert_eq!(
            (position.last.unwrap().generation, position.next_generation),
            (1, 4)
        );
        let end: EndRecord = ledger.read(&ledger.key(3, END_SUFFIX)).await.unwrap();
        assert_eq!(end.outcome, Outcome::Released);
    }
}

#[tokio::test]
async fn of_two_runs_claiming_the_same_window_exactly_one_wins() {
    for (store, _dir) in stores().await {
        let ledger = ledger(&store, "");
        let w = window("2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z");
        let a = claim(1, "a", w, "2026-11-22T00:05:00Z", 2);
        let b = claim(1, "b", w, "2026-11-22T00:05:00Z", 2);
        let (ra, rb) = tokio::join!(ledger.claim(&a), ledger.claim(&b));
        let lost = [&ra, &rb]
            .iter()
            .filter(|r| matches!(r, Err(LedgerError::Lost { generation: 1 })))
            .count();
        assert_eq!(
            (ra.is_ok() as u8 + rb.is_ok() as u8, lost),
            (1, 1),
            "{ra:?} {rb:?}"
        );
    }
}

#[tokio::test]
async fn a_damaged_record_is_named_not_guessed_around() {
    for (store, _dir) in stores().await {
        let ledger = ledger(&store, "");
        put(
            &store,
            "rollcall-ledger/nightly/ld/000000000001.claim.json",
            b"{not json".to_vec(),
        )
        .await;
        put(
            &store,
            "rollcall-ledger/nightly/ld/notes.txt",
            b"ignored".to_vec(),
        )
        .await;
        let err = ledger
            .position(SOURCE, "r1", at("2026-11-22T00:00:00Z"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("000000000001.claim.json") && err.contains("lookback"),
            "{err}"
        );
    }
}
