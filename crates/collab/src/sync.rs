//! Keeping a room and its file in step, in both directions:
//!
//! - a file change the document does not hold (a REST or MCP write, on this node or another,
//!   before or after a crash) is merged into it three-way, from the file text the stored
//!   state last agreed with to the file's head: never a request's own before/after pair, so
//!   concurrent writes arrive in commit order, and under the document's `collab_docs` row
//!   lock, so two replicas never merge one change twice;
//! - the live text is saved to the file only over the revision it holds
//!   ([`DocumentStore::save_from_collab`]'s `if_match`): a file that moved on is merged
//!   first, so a REST write is never overwritten by a text that does not contain it.
//!
//! [`DocumentStore::save_from_collab`]: mdz_core::documents::DocumentStore::save_from_collab

use crate::error::CollabError;
use crate::journal::Stored;
use crate::repo::{self, DocRow, NewUpdate};
use crate::room::{self, Room};
use crate::rooms::Rooms;
use crate::{merge, rooms};

use bytes::Bytes;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::db;
use mdz_core::documents::{DocumentError, DocumentHead};
use mdz_core::ids::UserId;
use std::sync::Arc;

/// Attempts at a merge while the file or the stored base keep moving.
const MERGE_TRIES: usize = 5;

/// A merge stored by [`Rooms::sync`]: sent to the room and the other replicas after commit.
struct Merged {
    seq: i64,
    update: Vec<u8>,
}

impl Rooms {
    /// Bring every change of the file that the document does not hold into it; returns the
    /// file's head as it was merged. `author` is who the merge is attributed to (the REST
    /// writer; `None` at load).
    pub(crate) async fn sync(
        &self,
        room: &Room,
        author: Option<UserId>,
    ) -> Result<DocumentHead, CollabError> {
        let _guard = room.sync_lock().await;
        self.sync_locked(room, author).await
    }

    pub(crate) async fn sync_locked(
        &self,
        room: &Room,
        author: Option<UserId>,
    ) -> Result<DocumentHead, CollabError> {
        for _ in 0..MERGE_TRIES {
            if let Some(head) = self.try_merge(room, author).await? {
                return Ok(head);
            }
        }
        room.want_sync();
        Err(CollabError::Journal(
            "the document's file kept changing during the merge".into(),
        ))
    }

    /// One attempt: catch up, compute the merge on a copy outside any lock, then store it
    /// under the `collab_docs` row lock if neither the stored base nor the file moved
    /// meanwhile (`None`: they did, try again). The room gets the change once it is stored.
    async fn try_merge(
        &self,
        room: &Room,
        author: Option<UserId>,
    ) -> Result<Option<DocumentHead>, CollabError> {
        let mut conn = db::conn(self.pool()).await?;
        let row = catch_up_on(&mut conn, room)
            .await?
            .ok_or(CollabError::NotFound("document"))?;
        let head = self
            .documents
            .document_in(&mut conn, room.file)
            .await?
            .ok_or(CollabError::NotFound("document"))?;
        if head.revision <= row.file_revision {
            // The room holds everything up to `row` (caught up above), and the file has not
            // moved past the revision that state agrees with.
            room.set_reconciled(row.file_revision);
            if room.text() != head.content {
                room.mark_dirty(Some(author.unwrap_or(head.updated_by)));
            }
            return Ok(Some(head));
        }
        let update = {
            if row.base_text.is_none() {
                // Stored before bases were recorded: the file's change is all that is known.
                tracing::info!(file_id = %room.file, "bringing the document up to its file");
            }
            let state = room.scratch();
            let (base, target) = (row.base_text.clone(), head.content.clone());
            // Computed off the runtime's workers, holding no connection and no lock.
            drop(conn);
            tokio::task::spawn_blocking(move || {
                room::merge_update(&state, |txn, text, current| {
                    merge::apply(
                        txn,
                        text,
                        base.as_deref().unwrap_or(current),
                        current,
                        &target,
                    )
                })
            })
            .await
            .map_err(|e| CollabError::Journal(format!("the merge task failed: {e}")))?
            .map_err(CollabError::Journal)?
        };
        // Only a merge or a collab save moves the stored base, and both bump `file_revision`:
        // unchanged, the merge still applies. (A REST write since is merged by the next sync.)
        let mut conn = db::conn(self.pool()).await?;
        let stored = (*conn)
            .transaction::<_, CollabError, _>(async |conn: &mut AsyncPgConnection| {
                let locked = repo::doc_for_update(conn, room.file)
                    .await?
                    .ok_or(CollabError::NotFound("document"))?;
                if locked.file_revision != row.file_revision {
                    return Ok(None);
                }
                let Some(update) = update else {
                    repo::set_base(conn, room.file, head.revision, &head.content).await?;
                    return Ok(Some(None));
                };
                let seq = repo::reserve_with_base(conn, room.file, 1, head.revision, &head.content)
                    .await?;
                let new = NewUpdate {
                    file_id: room.file,
                    seq,
                    data: &update,
                    user_id: author,
                };
                repo::insert_updates(conn, &[new]).await?;
                Ok(Some(Some(Merged { seq, update })))
            })
            .await?;
        let Some(merged) = stored else {
            return Ok(None);
        };
        if let Some(Merged { seq, update }) = merged {
            tracing::debug!(file_id = %room.file, revision = head.revision, seq, "merged a file change");
            room.stored_server_edit(seq, update.clone(), author, false);
            self.announce(vec![Stored {
                file: room.file,
                seq,
                user: author,
                data: Bytes::from(update),
            }]);
        }
        room.set_reconciled(head.revision);
        if room.text() != head.content {
            // Collaborators' edits (maybe merged with the file's) have not reached the file.
            room.mark_dirty(Some(author.unwrap_or(head.updated_by)));
        }
        Ok(Some(head))
    }

    /// Save the room's text to its file when due, over the revision the room holds; when the
    /// file moved on meanwhile, merge it first (the save is tried again on the next tick).
    pub(crate) async fn flush(&self, room: &Room) {
        let guard = room.sync_lock().await;
        let quiet = self.settings.flush_quiet;
        let Some(due) = room.take_due(quiet, quiet * 4) else {
            return;
        };
        let (text, author, ai) = (due.text, due.author, due.ai_assisted);
        // A file cannot hold U+0000 (PostgreSQL refuses it), and a Yjs client can type it:
        // the file gets U+FFFD in its place rather than a save that fails on every retry.
        let text = if text.contains('\0') {
            text.replace('\0', "\u{FFFD}")
        } else {
            text
        };
        if text.len() > self.settings.max_text_bytes {
            // A merge with a file change (or a lowered limit) left the text too long for the
            // file: it stays in the journal, and is saved after the edit that shortens it.
            // (Not kept dirty: the room may unload meanwhile.)
            tracing::debug!(file_id = %room.file, bytes = text.len(), "live text over the file limit; not saved yet");
            return;
        }
        let author = match author {
            Some(author) => author,
            // Only the server changed the text (a merge at load): the file's last writer.
            None => match self.documents.document(room.file).await {
                Ok(Some(head)) => head.updated_by,
                Ok(None) => return room.shut(),
                Err(e) => {
                    tracing::warn!(file_id = %room.file, error = %e, "saving collab text failed; retrying");
                    return room.restore_dirty(None, ai);
                }
            },
        };
        // The saved text becomes the merge base in the save's own transaction.
        let also = rooms::base_in_save(room.file, Arc::from(text.as_str()));
        let if_match = room.reconciled();
        match self
            .documents
            .save_from_collab(room.file, &text, author, if_match, ai, &also)
            .await
        {
            Ok(revision) => room.set_reconciled(revision),
            Err(DocumentError::Gone) => {
                tracing::info!(file_id = %room.file, "document gone: closing its room");
                room.shut();
            }
            Err(DocumentError::Moved { expected, actual }) => {
                tracing::debug!(file_id = %room.file, expected, actual, "the file moved on; merging it before saving");
                room.restore_dirty(Some(author), ai);
                if let Err(e) = self.sync_locked(room, None).await {
                    tracing::warn!(file_id = %room.file, error = %e, "merging the file failed; retrying");
                    room.want_sync();
                }
            }
            Err(e) => {
                tracing::warn!(file_id = %room.file, error = %e, "saving collab text failed; retrying");
                room.restore_dirty(Some(author), ai);
            }
        }
        drop(guard);
    }

    /// Fill what this room missed from the journal (lost bus messages, compaction elsewhere).
    pub(crate) async fn catch_up(&self, room: &Room) -> Result<(), CollabError> {
        let mut conn = db::conn(self.pool()).await?;
        catch_up_on(&mut conn, room).await.map(drop)
    }
}

/// [`Rooms::catch_up`] on the caller's connection; returns the stored state it read.
pub(crate) async fn catch_up_on(
    conn: &mut AsyncPgConnection,
    room: &Room,
) -> Result<Option<DocRow>, CollabError> {
    let (watermark, _) = room.watermark(std::time::Duration::ZERO);
    let Some((row, updates)) = repo::state_since(conn, room.file, watermark).await? else {
        return Ok(None);
    };
    if row.last_seq <= watermark {
        return Ok(Some(row));
    }
    if row.snapshot_seq > watermark {
        room.apply_snapshot(&row.snapshot, row.snapshot_seq);
    }
    let mut filled = 0;
    for update in updates {
        if room.apply_remote(update.seq, &update.data, update.user_id) {
            filled += 1;
        }
    }
    if filled > 0 {
        tracing::info!(file_id = %room.file, filled, "filled missed updates from the journal");
    }
    Ok(Some(row))
}
