//! Where attachment bytes live: any S3-compatible service, or (the embedded default) a
//! directory of this server's, behind one trait. Clients see the same thing either way: a
//! short-lived URL to PUT the bytes to, and one to GET them from.

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use mdz_core::db::{self, DbPool};
use mdz_core::secrets;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

mod multipart;
mod open;
pub use open::from_config;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object store unavailable: {0}")]
    Unavailable(String),
}

/// An object's bytes as they are read.
pub type BlobChunks = futures_util::stream::BoxStream<'static, Result<Bytes, StoreError>>;

/// A URL a client uses directly, with the headers it must send.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// A URL to PUT exactly `size` bytes of `content_type` at `key`.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: i64,
        ttl: Duration,
    ) -> Result<SignedRequest, StoreError>;
    /// A URL to GET `key`, served as a download named `filename`.
    async fn presign_get(
        &self,
        key: &str,
        filename: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, StoreError>;
    /// The stored object's size, `None` when there is none.
    async fn size_of(&self, key: &str) -> Result<Option<i64>, StoreError>;
    /// The stored object's bytes, a chunk at a time as the caller takes them; `None` when
    /// there is none.
    async fn read(&self, key: &str) -> Result<Option<BlobChunks>, StoreError>;
    /// Delete the object; deleting one that is not there is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Store `bytes` at `key` from the server itself (imports), replacing any object there.
    async fn put(&self, key: &str, content_type: &str, bytes: Bytes) -> Result<(), StoreError>;
    /// Store the `size` bytes of `body` at `key` (restores), replacing any object there,
    /// holding at most one part in memory; a body that ends with an error stores nothing.
    async fn put_stream(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        body: BlobChunks,
    ) -> Result<(), StoreError>;
    /// Does the store hold no object at all (a restore's target must be empty)?
    async fn is_empty(&self) -> Result<bool, StoreError>;
    /// `s3` or `local`.
    fn kind(&self) -> &'static str;
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266), safe for any file name.
pub fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

// ---- S3 -----------------------------------------------------------------------------------

pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    /// A client for any S3-compatible endpoint, path-style, with static credentials.
    pub async fn connect(
        endpoint: Option<&str>,
        bucket: &str,
        region: &str,
        access_key: &str,
        secret_key: &str,
    ) -> Result<Self, StoreError> {
        let credentials =
            aws_sdk_s3::config::Credentials::new(access_key, secret_key, None, None, "mdz");
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .force_path_style(true);
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        let store = Self {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: bucket.to_owned(),
        };
        store.ensure_bucket().await;
        Ok(store)
    }

    /// Create the bucket when it does not exist (convenient for MinIO and friends); a failure
    /// is only logged, since production buckets are usually made by their operators.
    async fn ensure_bucket(&self) {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return;
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => tracing::info!(bucket = %self.bucket, "created the attachment bucket"),
            Err(e) => tracing::warn!(
                bucket = %self.bucket,
                error = %aws_sdk_s3::error::DisplayErrorContext(&e),
                "the attachment bucket is not reachable yet"
            ),
        }
    }
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, StoreError> {
    PresigningConfig::expires_in(ttl).map_err(|e| StoreError::Unavailable(e.to_string()))
}

fn unavailable<E: std::error::Error + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
}

#[async_trait]
impl BlobStore for S3Store {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: i64,
        ttl: Duration,
    ) -> Result<SignedRequest, StoreError> {
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size)
            .presigned(presigning(ttl)?)
            .await
            .map_err(unavailable)?;
        let headers = req
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(SignedRequest {
            url: req.uri().to_owned(),
            headers,
        })
    }

    async fn presign_get(
        &self,
        key: &str,
        filename: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(content_disposition(filename))
            .response_content_type(content_type)
            .presigned(presigning(ttl)?)
            .await
            .map_err(unavailable)?;
        Ok(req.uri().to_owned())
    }

    async fn size_of(&self, key: &str) -> Result<Option<i64>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.content_length().unwrap_or(0))),
            Err(e) => {
                let not_found = e
                    .as_service_error()
                    .is_some_and(aws_sdk_s3::operation::head_object::HeadObjectError::is_not_found);
                if not_found {
                    Ok(None)
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    async fn read(&self, key: &str) -> Result<Option<BlobChunks>, StoreError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => {
                let body = object.body;
                let chunks = futures_util::stream::try_unfold(body, |mut body| async move {
                    let next = body.try_next().await.map_err(unavailable)?;
                    Ok(next.map(|chunk| (chunk, body)))
                });
                Ok(Some(chunks.boxed()))
            }
            Err(e) => {
                let not_found = e
                    .as_service_error()
                    .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key);
                if not_found {
                    Ok(None)
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // S3 answers 204 for a missing key; some compatible servers say NoSuchKey.
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("NoSuchKey") => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn put(&self, key: &str, content_type: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
            .send()
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn put_stream(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        mut body: BlobChunks,
    ) -> Result<(), StoreError> {
        if size <= multipart::PART_BYTES as u64 {
            let mut all = BytesMut::new();
            while let Some(chunk) = body.next().await {
                all.extend_from_slice(&chunk?);
            }
            return self.put(key, content_type, all.freeze()).await;
        }
        self.put_in_parts(key, content_type, body).await
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        let listed = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .max_keys(1)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(listed.contents().is_empty())
    }

    fn kind(&self) -> &'static str {
        "s3"
    }
}

// ---- local --------------------------------------------------------------------------------

/// Objects under a directory; URLs point at this server (`/api/v1/blobs/{token}`) with random,
/// expiring, single-purpose tokens kept (hashed) in PostgreSQL.
pub struct LocalStore {
    root: PathBuf,
    base_url: String,
    pool: DbPool,
}

pub const GRANT_PREFIX: &str = "mdz_blob_";

impl LocalStore {
    pub fn new(root: PathBuf, base_url: String, pool: DbPool) -> Self {
        Self {
            root,
            base_url,
            pool,
        }
    }

    /// The file of an object key (keys are generated by mdz: `<project>/<attachment>`).
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key.replace(['/', '\\'], "_"))
    }

    async fn grant(
        &self,
        key: &str,
        purpose: &str,
        content_type: &str,
        max_size: i64,
        filename: &str,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let token =
            secrets::generate(GRANT_PREFIX).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut conn = db::conn(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        super::repo::insert_grant(
            &mut conn,
            &secrets::digest(&token),
            key,
            purpose,
            content_type,
            max_size,
            filename,
            chrono::Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default(),
        )
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(format!("{}/api/v1/blobs/{token}", self.base_url))
    }
}

/// Bytes read from disk per chunk of a download.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

/// Why an upload to the local store stored nothing (its partial file is removed).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than {limit} bytes")]
    TooLarge { limit: i64 },
    #[error("the upload was interrupted")]
    Interrupted(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the object could not be written")]
    Io(#[from] std::io::Error),
}

/// A file being written: removed when dropped before [`PartFile::keep`], so an upload that
/// fails, or whose request is dropped when the client goes away, leaves nothing behind.
struct PartFile {
    path: Option<PathBuf>,
}

impl PartFile {
    fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else {
            return;
        };
        let remove = move || {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %e, path = %path.display(), "could not remove a partial upload");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

impl LocalStore {
    /// Store an upload of at most `max_size` bytes at `key`: written to a temporary file
    /// beside it and renamed into place once complete and synced.
    pub async fn receive<S, E>(
        &self,
        key: &str,
        max_size: i64,
        mut body: S,
    ) -> Result<(), UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::error::Error + Send + Sync + 'static,
    {
        let path = self.path_of(key);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let part = PartFile {
            path: Some(path.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()))),
        };
        let mut file = tokio::fs::File::create(part.path()).await?;
        let mut written: i64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| UploadError::Interrupted(Box::new(e)))?;
            written = written.saturating_add(i64::try_from(chunk.len()).unwrap_or(i64::MAX));
            if written > max_size {
                return Err(UploadError::TooLarge { limit: max_size });
            }
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(part.path(), &path).await?;
        part.keep();
        Ok(())
    }

    /// The object's file and its length, `None` when there is none.
    pub async fn open(&self, key: &str) -> std::io::Result<Option<(tokio::fs::File, u64)>> {
        match tokio::fs::File::open(self.path_of(key)).await {
            Ok(file) => {
                let len = file.metadata().await?.len();
                Ok(Some((file, len)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `len` bytes of `file` from `start`, read a chunk at a time as the client takes them.
pub async fn file_chunks(
    mut file: tokio::fs::File,
    start: u64,
    len: u64,
) -> std::io::Result<impl Stream<Item = std::io::Result<Bytes>>> {
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let reader = file.take(len);
    Ok(futures_util::stream::try_unfold(
        reader,
        |mut reader| async move {
            let mut buf = BytesMut::with_capacity(DOWNLOAD_CHUNK);
            let n = reader.read_buf(&mut buf).await?;
            Ok((n > 0).then(|| (buf.freeze(), reader)))
        },
    ))
}

#[async_trait]
impl BlobStore for LocalStore {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: i64,
        ttl: Duration,
    ) -> Result<SignedRequest, StoreError> {
        let url = self.grant(key, "put", content_type, size, "", ttl).await?;
        let headers = BTreeMap::from([
            ("content-type".to_owned(), content_type.to_owned()),
            ("content-length".to_owned(), size.to_string()),
        ]);
        Ok(SignedRequest { url, headers })
    }

    async fn presign_get(
        &self,
        key: &str,
        filename: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        self.grant(key, "get", content_type, 0, filename, ttl).await
    }

    async fn size_of(&self, key: &str) -> Result<Option<i64>, StoreError> {
        match tokio::fs::metadata(self.path_of(key)).await {
            Ok(m) => Ok(Some(i64::try_from(m.len()).unwrap_or(i64::MAX))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        }
    }

    async fn read(&self, key: &str) -> Result<Option<BlobChunks>, StoreError> {
        fn io(e: std::io::Error) -> StoreError {
            StoreError::Unavailable(e.to_string())
        }
        let Some((file, len)) = self.open(key).await.map_err(io)? else {
            return Ok(None);
        };
        let chunks = file_chunks(file, 0, len).await.map_err(io)?;
        Ok(Some(chunks.map(|c| c.map_err(io)).boxed()))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        }
    }

    async fn put(&self, key: &str, _content_type: &str, bytes: Bytes) -> Result<(), StoreError> {
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
        self.receive(key, size, body)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn put_stream(
        &self,
        key: &str,
        _content_type: &str,
        size: u64,
        body: BlobChunks,
    ) -> Result<(), StoreError> {
        self.receive(key, i64::try_from(size).unwrap_or(i64::MAX), body)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        match tokio::fs::read_dir(&self.root).await {
            Ok(mut entries) => Ok(entries
                .next_entry()
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?
                .is_none()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        }
    }

    fn kind(&self) -> &'static str {
        "local"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_safe_for_any_name() {
        let cd = content_disposition("résumé \"final\".pdf");
        assert!(
            cd.starts_with("attachment; filename=\"r_sum_ _final_.pdf\""),
            "{cd}"
        );
        assert!(
            cd.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"),
            "{cd}"
        );
    }
}
