//! Where reports go: an object store built from the spec (local folder or S3), the key templates,
//! and streaming writes that never overwrite and never leave half an object under a final key.
//!
//! Small objects are buffered and written in one conditional put (`If-None-Match: *`); objects
//! larger than the part size switch to a multipart upload, which stays invisible until it is
//! completed and is aborted on any failure or cancellation.

pub mod ledger;
mod spec;

pub use spec::{KEY_PLACEHOLDERS, OutputSpec, S3Options};

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, RetryConfig};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use std::path::PathBuf;
use std::sync::Arc;

/// Size of each part of a multipart upload, and the size above which a report switches to one.
pub const DEFAULT_PART_SIZE: usize = 16 * 1024 * 1024;
/// S3's minimum part size (all parts but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// A parsed `output.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputLocation {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl OutputLocation {
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!(
                    "`{url}` names no bucket; write it as s3://bucket/prefix"
                ));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if url.starts_with("file://") {
            let parsed = url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
            let path = parsed
                .to_file_path()
                .map_err(|_| format!("`{url}` is not an absolute file:// URL"))?;
            return Ok(Self::Local(path));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(format!(
                "scheme `{scheme}://` is not supported; use s3://bucket/prefix, file:///dir or a path"
            ));
        }
        if url.trim().is_empty() {
            return Err("is empty; use s3://bucket/prefix, file:///dir or a path".to_owned());
        }
        Ok(Self::Local(PathBuf::from(url)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output {location}: {message}")]
    Setup { location: String, message: String },
    #[error(
        "an object already exists at {key} in {location}; rollcall never overwrites a report: use a new run id or move the old object"
    )]
    Exists { location: String, key: String },
    /// The run's manifest key is taken: the run id was used before.
    #[error(
        "a manifest already exists at {key} in {location}: this run id was used before, and rollcall never overwrites a run; use a new run id (ROLLCALL_RUN_ID), or leave it unset for a fresh one"
    )]
    ManifestExists { location: String, key: String },
    #[error("{action} in {location} failed ({hint}): {detail}")]
    Store {
        location: String,
        action: String,
        hint: &'static str,
        /// What the store said, without what may carry a credential ([`store_error_text`]).
        detail: String,
        /// For telling faults apart; deliberately not the error's `source`, whose text quotes
        /// S3's whole answer.
        cause: Box<object_store::Error>,
        /// The store refused the credentials or the permission: running again will not help.
        denied: bool,
    },
}

impl OutputError {
    /// A fault that running again cannot fix: a run id used before, or credentials or a
    /// permission the store refuses. Exit 2, so Kubernetes does not retry the Job.
    pub fn retry_cannot_fix(&self) -> bool {
        match self {
            OutputError::ManifestExists { .. } => true,
            OutputError::Store { denied, .. } => *denied,
            _ => false,
        }
    }
}

/// How object_store retries a request: the job spec's `http` settings, so one `max_retries`
/// governs every request rollcall makes.
#[derive(Debug, Clone, Copy)]
pub struct StoreRetries {
    pub max_retries: u32,
    pub backoff_base: std::time::Duration,
    pub backoff_max: std::time::Duration,
}

impl StoreRetries {
    fn config(self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: self.backoff_base,
                max_backoff: self.backoff_max,
                base: 2.0,
            },
            max_retries: self.max_retries as usize,
            ..RetryConfig::default()
        }
    }
}

/// Values for the key templates of one run.
#[derive(Debug, Clone)]
pub struct KeyValues {
    pub job: String,
    pub date: String,
    pub run_id: String,
    /// `{shard}`: `I-of-N` when the run is one shard of an Indexed Job, else `all`.
    pub shard: String,
}

/// The configured object store plus the run's key templates.
#[derive(Debug, Clone)]
pub struct Output {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    location: String,
    key_template: String,
    manifest_template: String,
    summary_template: String,
    values: KeyValues,
    part_size: usize,
}

impl Output {
    /// Builds the store for `url` (or the spec's, or `./reports`). S3 credentials come from the
    /// standard `AWS_*` environment, so static keys, IRSA and pod identity all work.
    pub fn open(
        spec: &OutputSpec,
        url: Option<&str>,
        values: KeyValues,
        retries: StoreRetries,
    ) -> Result<Self, OutputError> {
        let url = url
            .map(str::to_owned)
            .or_else(|| spec.url.clone())
            .unwrap_or_else(|| "./reports".to_owned());
        let setup = |message: String| OutputError::Setup {
            location: url.clone(),
            message,
        };
        let location = OutputLocation::parse(&url).map_err(setup)?;
        // The manifest and logs name the output by an absolute URL: a relative path means
        // nothing to whoever reads the manifest later, elsewhere.
        let (store, prefix, absolute): (Arc<dyn ObjectStore>, String, String) = match &location {
            OutputLocation::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| setup(format!("cannot create the folder: {e}")))?;
                // Clean-up removes the folders a deleted `check` probe leaves empty; a run
                // itself never deletes.
                let store = LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| setup(format!("cannot open the folder: {e}")))?
                    .with_automatic_cleanup(true);
                let absolute = std::fs::canonicalize(dir)
                    .ok()
                    .and_then(|dir| url::Url::from_directory_path(dir).ok())
                    .map_or_else(|| url.clone(), String::from);
                (Arc::new(store), String::new(), absolute)
            }
            OutputLocation::S3 { bucket, prefix } => {
                let options = &spec.options;
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retries.config());
                if let Some(endpoint) = &options.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(region) = &options.region {
                    builder = builder.with_region(region);
                }
                if options.allow_http {
                    builder = builder.with_allow_http(true);
                }
                if options.virtual_hosted_style {
                    builder = builder.with_virtual_hosted_style_request(true);
                }
                let store = builder
                    .build()
                    .map_err(|e| setup(format!("cannot configure S3: {e}")))?;
                (Arc::new(store), prefix.clone(), url.clone())
            }
        };
        Ok(Self {
            store,
            prefix,
            location: absolute,
            key_template: spec.key_template.clone(),
            manifest_template: spec.manifest_template.clone(),
            summary_template: spec.summary_template.clone(),
            values,
            part_size: DEFAULT_PART_SIZE,
        })
    }

    /// An output over any store, for tests and embedding.
    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        location: &str,
        spec: &OutputSpec,
        values: KeyValues,
    ) -> Self {
        Self {
            store,
            prefix: String::new(),
            location: location.to_owned(),
            key_template: spec.key_template.clone(),
            manifest_template: spec.manifest_template.clone(),
            summary_template: spec.summary_template.clone(),
            values,
            part_size: DEFAULT_PART_SIZE,
        }
    }

    /// Uses parts of `size` bytes (at least 5 MiB, S3's minimum) for large reports.
    pub fn with_part_size(mut self, size: usize) -> Self {
        self.part_size = size.max(MIN_PART_SIZE);
        self
    }

    /// Where reports land, for people: the URL given.
    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// Key of a report (relative to the prefix), from the key template.
    pub fn report_key(&self, source: &str, report: &str) -> String {
        self.render(&self.key_template, source, report)
    }

    pub fn manifest_key(&self) -> String {
        self.render(&self.manifest_template, "", "manifest")
    }

    /// Key of the run summary in the format `extension` (`html`, `md`).
    pub fn summary_key(&self, extension: &str) -> String {
        format!(
            "{}.{extension}",
            self.render(&self.summary_template, "", "summary")
        )
    }

    fn render(&self, template: &str, source: &str, report: &str) -> String {
        template
            .replace("{job}", &self.values.job)
            .replace("{date}", &self.values.date)
            .replace("{run_id}", &self.values.run_id)
            .replace("{shard}", &self.values.shard)
            .replace("{source}", source)
            .replace("{report}", report)
    }

    fn full_path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    /// The window ledger of `source` in this job (see [`ledger`]).
    pub fn window_ledger(&self, source: &str) -> ledger::WindowLedger {
        ledger::WindowLedger::new(
            self.store.clone(),
            &self.prefix,
            &self.location,
            &self.values.job,
            source,
        )
    }

    /// A writer for a new object at `key`. Nothing is visible until [`ObjectWriter::finish`].
    pub fn writer(&self, key: String) -> ObjectWriter {
        ObjectWriter {
            store: self.store.clone(),
            path: self.full_path(&key),
            key,
            location: self.location.clone(),
            buffer: Vec::new(),
            upload: None,
            part_size: self.part_size,
        }
    }

    /// Checks, before anything is fetched, that the store answers, the credentials are accepted,
    /// and this run's manifest does not exist yet; saves API quota when the output is broken.
    pub async fn preflight(&self) -> Result<(), OutputError> {
        let key = self.manifest_key();
        let path = self.full_path(&key);
        // A listing fails on a missing bucket, where a HEAD would just say "not found".
        let parent: ObjectPath = path
            .parts()
            .take(path.parts().count().saturating_sub(1))
            .collect();
        if let Err(e) = self.store.list_with_delimiter(Some(&parent)).await {
            return Err(store_error_doing(
                &self.location,
                "checking the output".to_owned(),
                e,
            ));
        }
        match self.store.head(&path).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Ok(_) => Err(OutputError::ManifestExists {
                location: self.location.clone(),
                key,
            }),
            Err(e) => Err(store_error(&self.location, &key, e)),
        }
    }

    /// `rollcall check`: proves the store answers, the credentials are accepted and a run may
    /// write where its manifest goes, by creating a probe object there (create-only, as every
    /// report is written) and deleting it again. The probe sits in the folder of a run named
    /// `check-<random>`, so it never collides with a real run's objects.
    pub async fn probe(&self) -> Result<Probe, OutputError> {
        let mut values = self.values.clone();
        values.run_id = format!("check-{:08x}", rand::random::<u32>());
        let manifest = Self {
            values,
            ..self.clone()
        }
        .manifest_key();
        let key = match manifest.rsplit_once('/') {
            Some((folder, _)) => format!("{folder}/rollcall-check.probe"),
            None => "rollcall-check.probe".to_owned(),
        };
        let path = self.full_path(&key);
        let parent: ObjectPath = path
            .parts()
            .take(path.parts().count().saturating_sub(1))
            .collect();
        // A listing fails on a missing bucket and on refused credentials before any write.
        self.store
            .list_with_delimiter(Some(&parent))
            .await
            .map_err(|e| store_error_doing(&self.location, "listing the output".to_owned(), e))?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let body = PutPayload::from_static(b"written by `rollcall check`; safe to delete\n");
        self.store
            .put_opts(&path, body, options)
            .await
            .map_err(|e| store_error_doing(&self.location, format!("creating {key}"), e))?;
        let deleted = self
            .store
            .delete(&path)
            .await
            .map_err(|e| store_error_doing(&self.location, format!("deleting {key}"), e));
        Ok(Probe { key, deleted })
    }

    /// Writes a small object in one conditional put; fails if the key exists.
    pub async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<(), OutputError> {
        let mut writer = self.writer(key.to_owned());
        writer.write(bytes).await?;
        writer.finish().await.map(|_| ())
    }
}

/// What [`Output::probe`] did.
#[derive(Debug)]
pub struct Probe {
    /// Where the probe object was created, relative to the prefix.
    pub key: String,
    /// Whether it could be deleted again; a run never deletes, so a refusal only means the
    /// probe stays behind.
    pub deleted: Result<(), OutputError>,
}

/// Streams one object. Dropping it unfinished aborts any multipart upload in flight.
pub struct ObjectWriter {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    key: String,
    location: String,
    buffer: Vec<u8>,
    upload: Option<WriteMultipart>,
    part_size: usize,
}

impl ObjectWriter {
    pub fn key(&self) -> &str {
        &self.key
    }

    pub async fn write(&mut self, chunk: Vec<u8>) -> Result<(), OutputError> {
        match &mut self.upload {
            Some(upload) => {
                // Backpressure: at most a few parts in flight, so memory stays bounded.
                if let Err(e) = upload.wait_for_capacity(2).await {
                    // A part failed: abort now rather than leave the parts to a lifecycle rule.
                    if let Some(upload) = self.upload.take() {
                        let _ = upload.abort().await;
                    }
                    return Err(store_error(&self.location, &self.key, e));
                }
                upload.write(&chunk);
            }
            None => {
                self.buffer.extend_from_slice(&chunk);
                if self.buffer.len() >= self.part_size {
                    self.start_multipart().await?;
                }
            }
        }
        Ok(())
    }

    async fn start_multipart(&mut self) -> Result<(), OutputError> {
        // Multipart completion cannot be made conditional here, so check first; keys carry the
        // run id, so only a deliberate re-use of a run id can race with this.
        match self.store.head(&self.path).await {
            Ok(_) => {
                return Err(OutputError::Exists {
                    location: self.location.clone(),
                    key: self.key.clone(),
                });
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(&self.location, &self.key, e)),
        }
        let upload = self
            .store
            .put_multipart(&self.path)
            .await
            .map_err(|e| store_error(&self.location, &self.key, e))?;
        let mut upload = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        upload.write(&std::mem::take(&mut self.buffer));
        self.upload = Some(upload);
        Ok(())
    }

    /// Waits until every part sent so far is uploaded, so that only the last step is left:
    /// what can fail because of the data's size fails here, before any sibling is visible.
    pub async fn stage(&mut self) -> Result<(), OutputError> {
        if let Some(upload) = &mut self.upload
            && let Err(e) = upload.wait_for_capacity(0).await
        {
            if let Some(upload) = self.upload.take() {
                let _ = upload.abort().await;
            }
            return Err(store_error(&self.location, &self.key, e));
        }
        Ok(())
    }

    /// Makes the object visible under its key; the handle can take it away again.
    pub async fn finish(mut self) -> Result<Visible, OutputError> {
        let visible = Visible {
            store: self.store.clone(),
            path: self.path.clone(),
            key: self.key.clone(),
            location: self.location.clone(),
        };
        self.complete().await.map(|()| visible)
    }

    async fn complete(&mut self) -> Result<(), OutputError> {
        match self.upload.take() {
            Some(upload) => upload
                .finish()
                .await
                .map(|_| ())
                .map_err(|e| store_error(&self.location, &self.key, e)),
            None => {
                let payload = PutPayload::from(std::mem::take(&mut self.buffer));
                let options = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                match self.store.put_opts(&self.path, payload, options).await {
                    Ok(_) => Ok(()),
                    Err(object_store::Error::AlreadyExists { .. }) => Err(OutputError::Exists {
                        location: self.location.clone(),
                        key: self.key.clone(),
                    }),
                    Err(e) => Err(store_error(&self.location, &self.key, e)),
                }
            }
        }
    }

    /// Discards the object: aborts the multipart upload if one was started.
    pub async fn abort(mut self) {
        if let Some(upload) = self.upload.take()
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(key = %self.key, error = %e, "Could not abort a multipart upload; a bucket lifecycle rule for incomplete uploads will remove it.");
        }
    }
}

/// An object this run made visible, which it may still have to take back (a sibling report of
/// the same source failed to become visible).
#[derive(Debug)]
pub struct Visible {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    key: String,
    location: String,
}

impl Visible {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Deletes the object again.
    pub async fn remove(self) -> Result<(), OutputError> {
        match self.store.delete(&self.path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error_doing(
                &self.location,
                format!("removing {}", self.key),
                e,
            )),
        }
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        // Cancelled mid-upload (SIGTERM, deadline): abort in the background so the store does
        // not keep the parts. The object itself was never visible.
        if let Some(upload) = self.upload.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let key = self.key.clone();
            handle.spawn(async move {
                if let Err(e) = upload.abort().await {
                    tracing::warn!(key = %key, error = %e, "Could not abort a multipart upload.");
                }
            });
        }
    }
}

fn store_error(location: &str, key: &str, source: object_store::Error) -> OutputError {
    store_error_doing(location, format!("writing {key}"), source)
}

fn store_error_doing(location: &str, action: String, source: object_store::Error) -> OutputError {
    const DENIED: &str = "access denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the pod's role, and the bucket policy";
    const NO_BUCKET: &str = "not found: check that the bucket exists";
    // S3 errors often arrive as `Generic`, with the status and code only in the text.
    let text = source.to_string();
    let denied = [
        "403 Forbidden",
        "AccessDenied",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    ];
    let hint = match &source {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => DENIED,
        object_store::Error::NotFound { .. } => NO_BUCKET,
        object_store::Error::AlreadyExists { .. } => "an object already exists under this key",
        _ if denied.iter().any(|code| text.contains(code)) => DENIED,
        _ if text.contains("NoSuchBucket") || text.contains("404 Not Found") => NO_BUCKET,
        _ => "check that the endpoint is reachable and the bucket exists",
    };
    OutputError::Store {
        location: location.to_owned(),
        action,
        hint,
        detail: store_error_text(&text),
        cause: Box::new(source),
        denied: hint == DENIED,
    }
}

/// object_store quotes S3's whole error body. A `SignatureDoesNotMatch` body echoes the signed
/// request (`StringToSign`, `CanonicalRequest`), whose headers hold the session token of
/// temporary credentials (IRSA, STS): of an XML error body, only its `Code` and `Message`
/// are kept.
fn store_error_text(text: &str) -> String {
    let Some(xml) = text.find("<?xml").or_else(|| text.find("<Error>")) else {
        return text.to_owned();
    };
    let element = |name: &str| {
        let open = format!("<{name}>");
        let body = &text[xml..];
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))?;
        Some(body[start..start + end].trim().to_owned())
    };
    let mut kept = text[..xml].trim_end().to_owned();
    for name in ["Code", "Message"] {
        if let Some(value) = element(name) {
            kept.push_str(&format!(" {name}: {value}."));
        }
    }
    kept
}

#[cfg(test)]
mod tests;
