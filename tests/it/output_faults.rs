//! Faults inside the object store, injected by a wrapper around an in-memory store: a part upload
//! failing mid-way, a completion failing, a conditional put failing. Nothing may become visible
//! under a final key, and a failed multipart upload must be aborted.

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use rollcall::output::{KeyValues, MIN_PART_SIZE, Output, OutputSpec};
use rollcall::report::{Column, CsvReport};
use rollcall::run::finish_reports;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Debug, Default)]
struct Faults {
    /// Part uploads succeed this many times, then fail.
    parts_before_failure: Option<usize>,
    fail_complete: bool,
    fail_put: bool,
    /// Conditional puts of this key fail.
    fail_put_of: Option<&'static str>,
    /// Deletes fail.
    fail_delete: bool,
    parts: AtomicUsize,
    aborted: AtomicBool,
}

#[derive(Debug)]
struct FaultyStore {
    inner: InMemory,
    faults: Arc<Faults>,
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore")
    }
}

fn injected(operation: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: format!("injected failure during {operation}").into(),
    }
}

#[derive(Debug)]
struct FaultyUpload {
    inner: Box<dyn MultipartUpload>,
    faults: Arc<Faults>,
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let n = self.faults.parts.fetch_add(1, Ordering::SeqCst);
        if self
            .faults
            .parts_before_failure
            .is_some_and(|limit| n >= limit)
        {
            return Box::pin(async { Err(injected("put_part")) });
        }
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        if self.faults.fail_complete {
            return Err(injected("complete"));
        }
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.faults.aborted.store(true, Ordering::SeqCst);
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if self.faults.fail_put || self.faults.fail_put_of == Some(location.as_ref()) {
            return Err(injected("put"));
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FaultyUpload {
            inner,
            faults: self.faults.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        if self.faults.fail_delete {
            use futures::StreamExt;
            return locations.map(|_| Err(injected("delete"))).boxed();
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn output(faults: Faults) -> (Output, Arc<FaultyStore>) {
    let store = Arc::new(FaultyStore {
        inner: InMemory::new(),
        faults: Arc::new(faults),
    });
    let output = Output::with_store(
        store.clone(),
        "faulty://",
        &OutputSpec::default(),
        KeyValues {
            job: "j".into(),
            date: "d".into(),
            run_id: "r".into(),
            shard: "all".into(),
        },
    )
    .with_part_size(MIN_PART_SIZE);
    (output, store)
}

async fn visible(store: &FaultyStore, key: &str) -> bool {
    store.inner.head(&Path::from(key)).await.is_ok()
}

#[tokio::test]
async fn a_part_failing_mid_upload_aborts_it_and_leaves_nothing() {
    let (out, store) = output(Faults {
        parts_before_failure: Some(1),
        ..Faults::default()
    });
    let mut writer = out.writer("big.csv".into());
    let mut failed = None;
    for _ in 0..4 {
        if let Err(e) = writer.write(vec![b'x'; MIN_PART_SIZE]).await {
            failed = Some(e);
            break;
        }
    }
    let error = match failed {
        Some(e) => e,
        None => writer.finish().await.expect_err("the upload must fail"),
    };
    assert!(error.to_string().contains("injected failure"), "{error}");
    assert!(
        store.faults.aborted.load(Ordering::SeqCst),
        "the failed upload was not aborted"
    );
    assert!(!visible(&store, "big.csv").await);
}

#[tokio::test]
async fn a_failed_completion_leaves_nothing_visible() {
    let (out, store) = output(Faults {
        fail_complete: true,
        ..Faults::default()
    });
    let mut writer = out.writer("big.csv".into());
    writer.write(vec![b'x'; MIN_PART_SIZE + 1]).await.unwrap();
    let error = writer.finish().await.unwrap_err();
    assert!(error.to_string().contains("writing big.csv"), "{error}");
    assert!(!visible(&store, "big.csv").await);
}

#[tokio::test]
async fn a_failed_put_leaves_nothing_and_says_so() {
    let (out, store) = output(Faults {
        fail_put: true,
        ..Faults::default()
    });
    let error = out
        .put_new("manifest.json", b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("writing manifest.json in faulty://"),
        "{error}"
    );
    assert!(!visible(&store, "manifest.json").await);
}

#[tokio::test]
async fn dropping_a_writer_mid_upload_aborts_it() {
    let (out, store) = output(Faults::default());
    let mut writer = out.writer("cancelled.csv".into());
    writer.write(vec![b'x'; MIN_PART_SIZE + 1]).await.unwrap();
    // What a cancelled task (SIGTERM, deadline) does to a writer.
    drop(writer);
    for _ in 0..1000 {
        if store.faults.aborted.load(Ordering::SeqCst) {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(store.faults.aborted.load(Ordering::SeqCst));
    assert!(!visible(&store, "cancelled.csv").await);
}

const COLUMNS: &[Column] = &[Column::identifier("UserId")];

/// A source's two reports, the first (the cleanup file) named `cleanup.csv`.
async fn two_reports(out: &Output) -> Vec<CsvReport> {
    let mut reports = Vec::new();
    for name in ["cleanup", "accounts"] {
        let mut report = CsvReport::new(
            name.into(),
            COLUMNS,
            out.writer(format!("{name}.csv")),
            true,
        )
        .unwrap();
        report.write_row(["a@example.com"]).await.unwrap();
        reports.push(report);
    }
    reports
}

#[tokio::test]
async fn when_a_sibling_cannot_be_finished_the_finished_report_is_taken_back() {
    let (out, store) = output(Faults {
        fail_put_of: Some("accounts.csv"),
        ..Faults::default()
    });
    let failed = finish_reports(two_reports(&out).await).await.unwrap_err();
    assert!(
        failed.error.to_string().contains("accounts"),
        "{}",
        failed.error
    );
    assert!(failed.not_removed.is_empty(), "{:?}", failed.not_removed);
    assert!(
        !visible(&store, "cleanup.csv").await,
        "the cleanup file stayed visible"
    );
    assert!(!visible(&store, "accounts.csv").await);
}

#[tokio::test]
async fn a_report_that_cannot_be_taken_back_is_named_with_the_reason() {
    let (out, store) = output(Faults {
        fail_put_of: Some("accounts.csv"),
        fail_delete: true,
        ..Faults::default()
    });
    let failed = finish_reports(two_reports(&out).await).await.unwrap_err();
    assert_eq!(failed.not_removed.len(), 1, "{:?}", failed.not_removed);
    assert_eq!(failed.not_removed[0].key, "cleanup.csv");
    assert!(
        failed.not_removed[0]
            .error
            .contains("removing cleanup.csv in faulty://"),
        "{:?}",
        failed.not_removed
    );
    assert!(visible(&store, "cleanup.csv").await);
}

#[tokio::test]
async fn reports_become_visible_together() {
    let (out, store) = output(Faults::default());
    let metas = finish_reports(two_reports(&out).await).await.unwrap();
    assert_eq!(metas.len(), 2);
    assert!(visible(&store, "cleanup.csv").await && visible(&store, "accounts.csv").await);
}
