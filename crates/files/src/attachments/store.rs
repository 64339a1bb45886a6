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

mod local;
mod multipart;
mod open;
mod s3;
pub use local::{GRANT_PREFIX, LocalStore, UploadError, file_chunks};
pub use open::from_config;
pub use s3::S3Store;
use s3::unavailable;

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
