//! Objects in any S3-compatible service (aws-sdk-s3, path-style), with presigned URLs.

use super::*;

pub struct S3Store {
    pub(super) client: aws_sdk_s3::Client,
    pub(super) bucket: String,
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

pub(super) fn unavailable<E: std::error::Error + 'static>(e: E) -> StoreError {
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
