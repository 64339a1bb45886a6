//! Where a test restores a backup: an empty database (not even migrated), a data directory
//! that does not exist yet and, with S3, a bucket of its own.

use crate::{Options, TestApp, admin_url, new_bucket, s3_settings, with_database};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::path::PathBuf;

pub struct RestoreTarget {
    pub db_url: String,
    db_name: String,
    pub data_dir: PathBuf,
    pub s3_bucket: Option<String>,
}

impl RestoreTarget {
    pub async fn new(s3: bool) -> Self {
        let db_name = format!("mdz_restore_{}", uuid::Uuid::new_v4().simple());
        let mut conn = AsyncPgConnection::establish(&admin_url())
            .await
            .expect("connect to the test PostgreSQL");
        diesel::sql_query(format!("CREATE DATABASE {db_name} TEMPLATE template0"))
            .execute(&mut conn)
            .await
            .expect("create an empty database");
        Self {
            db_url: with_database(&admin_url(), &db_name),
            db_name,
            data_dir: std::env::temp_dir().join(format!("mdz-restore-{}", uuid::Uuid::new_v4())),
            s3_bucket: s3.then(new_bucket),
        }
    }

    /// The configuration as environment for the `mdz` binary.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("DATABASE_URL".to_owned(), self.db_url.clone()),
            (
                "MDZ_DATA_DIR".to_owned(),
                self.data_dir.to_string_lossy().into_owned(),
            ),
        ];
        if let Some(bucket) = &self.s3_bucket {
            for (key, value) in s3_settings(bucket) {
                env.push((format!("MDZ_{}", key.to_uppercase()), value));
            }
        }
        env
    }

    /// Serve what was restored.
    pub async fn serve(&self) -> TestApp {
        TestApp::spawn_with(Options {
            database_url: Some(self.db_url.clone()),
            data_dir: Some(self.data_dir.clone()),
            s3: self.s3_bucket.is_some(),
            s3_bucket: self.s3_bucket.clone(),
            ..Options::default()
        })
        .await
    }

    /// A connection to the target database.
    pub async fn db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.db_url)
            .await
            .expect("connect to the restore target")
    }

    /// The files in the local store's directory.
    pub fn local_blobs(&self) -> usize {
        std::fs::read_dir(self.data_dir.join("blobs")).map_or(0, Iterator::count)
    }
}

impl Drop for RestoreTarget {
    fn drop(&mut self) {
        let admin = admin_url();
        let db = self.db_name.clone();
        let dir = self.data_dir.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = AsyncPgConnection::establish(&admin).await {
                    drop(
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                            .execute(&mut conn)
                            .await,
                    );
                }
            });
            drop(std::fs::remove_dir_all(dir));
        });
        drop(cleanup.join());
    }
}
