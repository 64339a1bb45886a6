//! What a backup reads and a restore writes: the configured database (`DATABASE_URL`, the
//! embedded cluster of a running `mdz serve`, or the embedded cluster started for the
//! command) and the configured attachment store.

use super::BackupError;
use crate::embedded_pg::EmbeddedPostgres;
use mdz_core::config::Config;
use mdz_files::attachments::store::{self, BlobStore};
use std::sync::Arc;
use std::time::Duration;

pub struct Target {
    pub url: String,
    /// The embedded cluster this command started (stopped by [`Target::close`]); `None`
    /// with `DATABASE_URL` or when a running mdz owns the cluster.
    started: Option<EmbeddedPostgres>,
    pub store: Arc<dyn BlobStore>,
}

/// What [`Target::open`] may do with an embedded data directory that has no cluster yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Refuse (a backup of a directory that holds nothing is a mistake).
    Refuse,
    /// Initialise a cluster (a restore into a fresh data directory).
    Create,
}

impl Target {
    pub async fn open(config: &Config, missing: Missing) -> Result<Self, BackupError> {
        let (url, started) = match &config.database_url {
            Some(url) => (url.expose().to_owned(), None),
            None => {
                let bin = config.pg_bin_dir.as_deref();
                match EmbeddedPostgres::running(&config.data_dir, bin).await? {
                    Some(url) => {
                        tracing::info!("using the embedded PostgreSQL of the running mdz");
                        (url.expose().to_owned(), None)
                    }
                    None => {
                        let cluster = config.data_dir.join("postgres").join("PG_VERSION");
                        if missing == Missing::Refuse && !cluster.exists() {
                            return Err(BackupError::NothingToBackUp(format!(
                                "{} holds no embedded database (set DATABASE_URL or \
                                 MDZ_DATA_DIR to the instance's)",
                                config.data_dir.display()
                            )));
                        }
                        let pg = EmbeddedPostgres::start(&config.data_dir, bin).await?;
                        (pg.url().expose().to_owned(), Some(pg))
                    }
                }
            }
        };
        // The local store keeps its URL grants in PostgreSQL; backup and restore never make
        // one, so this pool never connects.
        let pool = mdz_core::db::build_pool(&url, 1, Duration::from_secs(5))
            .map_err(BackupError::Config)?;
        let opened = store::from_config(config, pool, "http://localhost").await;
        let store = match opened {
            Ok((store, _)) => store,
            Err(e) => {
                if let Some(pg) = &started {
                    pg.stop().await;
                }
                return Err(BackupError::Config(e));
            }
        };
        Ok(Self {
            url,
            started,
            store,
        })
    }

    /// A connection of its own (tokio-postgres, for COPY), with no time limits: a backup
    /// to a slow disk or pipe keeps its snapshot open as long as it takes, as pg_dump does.
    pub async fn client(&self) -> Result<tokio_postgres::Client, BackupError> {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .map_err(BackupError::Connect)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "the PostgreSQL connection ended with an error");
            }
        });
        client
            .batch_execute(
                "SET statement_timeout = 0; SET lock_timeout = 0; \
                 SET idle_in_transaction_session_timeout = 0;",
            )
            .await
            .map_err(BackupError::query("setting up the session"))?;
        Ok(client)
    }

    /// Stop the embedded cluster if this command started it.
    pub async fn close(self) {
        if let Some(pg) = &self.started {
            pg.stop().await;
        }
    }
}
