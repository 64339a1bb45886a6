//! The store the configuration names.

use super::{BlobStore, LocalStore, S3Store};
use mdz_core::db::DbPool;
use std::sync::Arc;

/// The configured store: S3 when `s3_bucket` is set, else `DATA_DIR/blobs` (whose URLs point
/// at `public_url`); the local store is also returned as itself, for the blob routes.
pub async fn from_config(
    config: &mdz_core::config::Config,
    pool: DbPool,
    public_url: &str,
) -> Result<(Arc<dyn BlobStore>, Option<Arc<LocalStore>>), String> {
    match &config.s3_bucket {
        Some(bucket) => {
            let key = config
                .s3_access_key_id
                .as_ref()
                .map(|s| s.expose().to_owned())
                .or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok())
                .ok_or("key `s3_access_key_id`: set it (or AWS_ACCESS_KEY_ID) to use S3")?;
            let secret = config
                .s3_secret_access_key
                .as_ref()
                .map(|s| s.expose().to_owned())
                .or_else(|| std::env::var("AWS_SECRET_ACCESS_KEY").ok())
                .ok_or("key `s3_secret_access_key`: set it (or AWS_SECRET_ACCESS_KEY) to use S3")?;
            let s3 = S3Store::connect(
                config.s3_endpoint.as_deref(),
                bucket,
                &config.s3_region,
                &key,
                &secret,
            )
            .await
            .map_err(|e| e.to_string())?;
            tracing::info!(bucket = %bucket, "attachments in S3");
            Ok((Arc::new(s3), None))
        }
        None => {
            let local = Arc::new(LocalStore::new(
                config.data_dir.join("blobs"),
                public_url.to_owned(),
                pool,
            ));
            tracing::info!("no S3 bucket configured: attachments live in the data directory");
            Ok((local.clone(), Some(local)))
        }
    }
}
