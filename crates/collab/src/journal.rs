//! The update journal: every accepted update is appended to PostgreSQL before anyone hears
//! of it. One writer commits whatever queued while the previous commit ran (group commit):
//! many updates, one transaction, one fsync. The writer runs on a thread of its own with
//! connections of its own (made on that thread, so their I/O is driven there too), and
//! applies each committed update to its room itself ([`OnCommit`]): an update's way from its
//! socket to the others' crosses threads twice (to the writer, to each reader), not five
//! times (writer, connection driver and back, the sender's task, the readers).

use crate::metrics::CollabMetrics;
use crate::repo::{self, Appended, Reserve};
use bytes::Bytes;
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{FileId, UserId};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Connections of the journal's own pool (beside `DATABASE_POOL_SIZE`): one commits, one
/// is spare while a broken one is replaced.
pub const JOURNAL_CONNECTIONS: usize = 2;

/// Most updates in one commit.
const MAX_BATCH: usize = 1024;
/// Most update bytes in one commit (a single update may be larger, up to the WebSocket
/// message limit, and then commits alone): PostgreSQL refuses a message over 1 GiB, and a
/// refused batch would fail every update in it.
pub const MAX_BATCH_BYTES: usize = 16 << 20;

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

/// What to do with an update once it is committed, given its sequence number: run on the
/// writer, in commit order, before the appender hears back (applying it to its room and
/// relaying it). Keep it short: the next batch waits for it.
pub type OnCommit = Box<dyn FnOnce(i64) + Send>;

struct Append {
    file: FileId,
    user: Option<UserId>,
    data: Bytes,
    then: Option<OnCommit>,
    reply: oneshot::Sender<Result<i64, JournalError>>,
}

/// Handle to the writer task.
#[derive(Clone)]
pub struct Journal {
    queue: mpsc::Sender<Append>,
}

impl Journal {
    /// Start the writer on a thread of its own, committing through `pool` (a pool for the
    /// journal alone: its connections are made, and driven, on that thread); `committed`
    /// hears every batch after its commit. The thread ends when the last handle is dropped.
    pub fn start(
        pool: DbPool,
        committed: mpsc::UnboundedSender<Vec<Stored>>,
        metrics: Arc<CollabMetrics>,
    ) -> Self {
        let (queue, rx) = mpsc::channel(16 * MAX_BATCH);
        let writer = move || match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(write_loop(pool, rx, committed, metrics)),
            // Appends then fail ("the writer has stopped") and connections close with 1013.
            Err(e) => tracing::error!(error = %e, "the collab journal's runtime did not start"),
        };
        if let Err(e) = std::thread::Builder::new()
            .name("mdz-journal".into())
            .spawn(writer)
        {
            tracing::error!(error = %e, "the collab journal's thread did not start");
        }
        Self { queue }
    }

    /// Store `data` as the next update of `file`; once committed, `then` runs on the writer
    /// with its sequence number, and the number is returned.
    pub async fn append(
        &self,
        file: FileId,
        user: Option<UserId>,
        data: Bytes,
        then: OnCommit,
    ) -> Result<i64, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Append {
                file,
                user,
                data,
                then: Some(then),
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
    let mut carried = None;
    while next_batch(&mut rx, &mut carried, &mut batch).await {
        let size = batch.len();
        match commit(&pool, &batch).await {
            Ok(seqs) => {
                let mut stored = Vec::with_capacity(size);
                for (mut append, seq) in batch.drain(..).zip(seqs) {
                    if let Some(then) = append.then.take() {
                        then(seq);
                    }
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
                metrics.journal_failures.inc();
                for append in batch.drain(..) {
                    drop(append.reply.send(Err(e.clone())));
                }
            }
        }
    }
}

/// Wait for the next update, then take what else is queued, up to [`MAX_BATCH`] updates and
/// [`MAX_BATCH_BYTES`] (the update that would pass the byte limit waits in `carried` for the
/// next batch). `false` once the queue is closed and empty.
async fn next_batch(
    rx: &mut mpsc::Receiver<Append>,
    carried: &mut Option<Append>,
    batch: &mut Vec<Append>,
) -> bool {
    let first = match carried.take() {
        Some(append) => append,
        None => match rx.recv().await {
            Some(append) => append,
            None => return false,
        },
    };
    let mut bytes = first.data.len();
    batch.push(first);
    while batch.len() < MAX_BATCH {
        let Ok(next) = rx.try_recv() else {
            break;
        };
        if bytes + next.data.len() > MAX_BATCH_BYTES {
            *carried = Some(next);
            break;
        }
        bytes += next.data.len();
        batch.push(next);
    }
    true
}

/// The whole batch in one statement (one round trip, one commit: see
/// [`repo::append_batch`]); returns each update's sequence number in order.
async fn commit(pool: &DbPool, batch: &[Append]) -> Result<Vec<i64>, JournalError> {
    let fail = |e: &dyn std::fmt::Display| JournalError(e.to_string());
    let mut conn = db::conn(pool).await.map_err(|e| fail(&e))?;
    let mut counts: BTreeMap<FileId, i64> = BTreeMap::new();
    let updates: Vec<Appended<'_>> = batch
        .iter()
        .map(|a| {
            let place = counts.entry(a.file).or_default();
            *place += 1;
            Appended {
                file: a.file,
                place: *place,
                data: &a.data,
                user: a.user,
            }
        })
        .collect();
    let files: Vec<Reserve> = counts
        .iter()
        .map(|(&file, &count)| Reserve { file, count })
        .collect();
    let last: BTreeMap<FileId, i64> = repo::append_batch(&mut conn, &files, &updates)
        .await
        .map_err(|e| fail(&e))?
        .into_iter()
        .collect();
    updates
        .iter()
        .map(|u| {
            let (Some(last), Some(count)) = (last.get(&u.file), counts.get(&u.file)) else {
                return Err(JournalError(format!(
                    "no journal row for document {}",
                    u.file
                )));
            };
            Ok(last - count + u.place)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(bytes: usize) -> Append {
        let (reply, _) = oneshot::channel();
        Append {
            file: FileId(uuid::Uuid::nil()),
            user: None,
            data: Bytes::from(vec![0; bytes]),
            then: None,
            reply,
        }
    }

    #[tokio::test]
    async fn a_batch_is_bounded_by_bytes_as_well_as_count() {
        let (tx, mut rx) = mpsc::channel(64);
        // 20 updates of 7 MiB queued at once: 140 MiB if taken together.
        for _ in 0..20 {
            tx.send(append(7 << 20)).await.unwrap();
        }
        // And one larger than the byte limit on its own, then small ones.
        tx.send(append(MAX_BATCH_BYTES + 1)).await.unwrap();
        for _ in 0..2000 {
            tx.try_send(append(10)).ok();
        }
        drop(tx);
        let (mut carried, mut batch, mut sizes) = (None, Vec::new(), Vec::new());
        while next_batch(&mut rx, &mut carried, &mut batch).await {
            let bytes: usize = batch.iter().map(|a| a.data.len()).sum();
            assert!(batch.len() <= MAX_BATCH);
            assert!(
                bytes <= MAX_BATCH_BYTES || batch.len() == 1,
                "{bytes} bytes"
            );
            sizes.push(batch.len());
            batch.clear();
        }
        assert_eq!(
            sizes.iter().sum::<usize>(),
            21 + 43,
            "nothing lost: {sizes:?}"
        );
        assert_eq!(&sizes[..11], &[2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1]);
    }
}
