//! Large objects into S3 a part at a time (restores stream objects of any size).

use super::{BlobChunks, S3Store, StoreError, unavailable};
use bytes::BytesMut;
use futures_util::StreamExt;

/// Objects up to this size are stored with one PUT by `put_stream`; larger ones in parts of
/// this size (S3 wants at least 5 MiB a part).
pub(super) const PART_BYTES: usize = 8 * 1024 * 1024;

impl S3Store {
    /// Store `body` as a multipart upload, aborted if anything fails.
    pub(super) async fn put_in_parts(
        &self,
        key: &str,
        content_type: &str,
        body: BlobChunks,
    ) -> Result<(), StoreError> {
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(unavailable)?;
        let id = upload
            .upload_id()
            .ok_or_else(|| StoreError::Unavailable("S3 gave no upload id".into()))?
            .to_owned();
        let parts = match self.upload_parts(key, &id, body).await {
            Ok(parts) => parts,
            Err(e) => {
                self.abort_upload(key, &id).await;
                return Err(e);
            }
        };
        let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        let completed = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&id)
            .multipart_upload(done)
            .send()
            .await;
        if let Err(e) = completed {
            self.abort_upload(key, &id).await;
            return Err(unavailable(e));
        }
        Ok(())
    }

    /// Upload `body` as parts of `PART_BYTES` (the last may be shorter).
    async fn upload_parts(
        &self,
        key: &str,
        id: &str,
        mut body: BlobChunks,
    ) -> Result<Vec<aws_sdk_s3::types::CompletedPart>, StoreError> {
        let mut parts = Vec::new();
        let mut part = BytesMut::with_capacity(PART_BYTES);
        loop {
            let next = body.next().await.transpose()?;
            let end = next.is_none();
            if let Some(chunk) = next {
                part.extend_from_slice(&chunk);
            }
            if part.len() >= PART_BYTES || (end && !part.is_empty()) {
                let number = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
                let sent = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(id)
                    .part_number(number)
                    .body(aws_sdk_s3::primitives::ByteStream::from(
                        part.split().freeze(),
                    ))
                    .send()
                    .await
                    .map_err(unavailable)?;
                parts.push(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .set_e_tag(sent.e_tag().map(str::to_owned))
                        .part_number(number)
                        .build(),
                );
            }
            if end {
                return Ok(parts);
            }
        }
    }

    async fn abort_upload(&self, key: &str, id: &str) {
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(id)
            .send()
            .await;
        if let Err(e) = aborted {
            tracing::warn!(key, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "could not abort a multipart upload");
        }
    }
}
