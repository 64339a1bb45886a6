//! The update journal: every accepted update is appended to PostgreSQL before anyone hears
//! of it. One writer task commits whatever queued while the previous commit ran (group
//! commit): many updates, one transaction, one fsync.

use crate::metrics::CollabMetrics;
use crate::repo::{self, NewUpdate};
use bytes::Bytes;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{FileId, UserId};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most updates in one commit.
const MAX_BATCH: usize = 1024;

/// An update the journal stored, as replicas tell each other about it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub file: FileId,
    pub seq: i64,
    pub user: Option<UserId>,
    pub data: Bytes,
}

/// Why an append failed (the database is down or refused).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the update journal is unavailable: {0}")]
pub struct JournalError(String);

struct Append {
    file: FileId,
    user: Option<UserId>,
    data: Bytes,
    reply: oneshot::Sender<Result<i64, JournalError>>,
}

/// Handle to the writer task.
#[derive(Clone)]
pub struct Journal {
    queue: mpsc::Sender<Append>,
}

impl Journal {
    /// Start the writer; `committed` hears every batch after its commit.
    pub fn start(
        pool: DbPool,
        runtime: &tokio::runtime::Handle,
        committed: mpsc::UnboundedSender<Vec<Stored>>,
        metrics: Arc<CollabMetrics>,
    ) -> Self {
        let (queue, rx) = mpsc::channel(16 * MAX_BATCH);
        runtime.spawn(write_loop(pool, rx, committed, metrics));
        Self { queue }
    }

    /// Store `data` as the next update of `file`; returns its sequence number once committed.
    pub async fn append(
        &self,
        file: FileId,
        user: Option<UserId>,
        data: Bytes,
    ) -> Result<i64, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Append {
                file,
                user,
                data,
                reply,
            })
            .await
            .map_err(|_| JournalError("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| JournalError("the writer dropped the update".into()))?
    }
}

async fn write_loop(
    pool: DbPool,
    mut rx: mpsc::Receiver<Append>,
    committed: mpsc::UnboundedSender<Vec<Stored>>,
    metrics: Arc<CollabMetrics>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let size = batch.len();
        match commit(&pool, &batch).await {
            Ok(seqs) => {
                let mut stored = Vec::with_capacity(size);
                for (append, seq) in batch.drain(..).zip(seqs) {
                    stored.push(Stored {
                        file: append.file,
                        seq,
                        user: append.user,
                        data: append.data,
                    });
                    drop(append.reply.send(Ok(seq)));
                }
                drop(committed.send(stored));
                metrics.batch.observe(size as f64);
            }
            Err(e) => {
                tracing::error!(error = %e, updates = size, "storing collab updates failed");
                for append in batch.drain(..) {
                    drop(append.reply.send(Err(e.clone())));
                }
            }
        }
    }
}

/// One transaction for the whole batch; returns each update's sequence number in order.
async fn commit(pool: &DbPool, batch: &[Append]) -> Result<Vec<i64>, JournalError> {
    let fail = |e: &dyn std::fmt::Display| JournalError(e.to_string());
    let mut conn = db::conn(pool).await.map_err(|e| fail(&e))?;
    // Documents in a fixed order, so two replicas' batches never wait on each other in a cycle.
    let mut per_file: BTreeMap<FileId, Vec<usize>> = BTreeMap::new();
    for (i, append) in batch.iter().enumerate() {
        per_file.entry(append.file).or_default().push(i);
    }
    (*conn)
        .transaction::<_, diesel::result::Error, _>(async |conn: &mut AsyncPgConnection| {
            let mut seqs = vec![0_i64; batch.len()];
            for (file, indexes) in &per_file {
                let n = i64::try_from(indexes.len()).unwrap_or(i64::MAX);
                let last = repo::reserve(conn, *file, n).await?;
                for (k, &i) in indexes.iter().enumerate() {
                    seqs[i] = last - n + 1 + i64::try_from(k).unwrap_or(0);
                }
            }
            let rows: Vec<NewUpdate<'_>> = batch
                .iter()
                .zip(&seqs)
                .map(|(a, &seq)| NewUpdate {
                    file_id: a.file,
                    seq,
                    data: &a.data,
                    user_id: a.user,
                })
                .collect();
            repo::insert_updates(conn, &rows).await?;
            Ok(seqs)
        })
        .await
        .map_err(|e| fail(&e))
}
