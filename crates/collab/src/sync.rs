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
use crate::room::Room;
use crate::rooms::Rooms;
use crate::{merge, rooms};
use bytes::Bytes;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::db;
use mdz_core::documents::{DocumentError, DocumentHead};
use mdz_core::ids::UserId;
use std::sync::Arc;

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

    async fn sync_locked(
        &self,
        room: &Room,
        author: Option<UserId>,
    ) -> Result<DocumentHead, CollabError> {
        let mut conn = db::conn(self.pool()).await?;
        let mut merged = None;
        let mut edited = false;
        let result = (*conn)
            .transaction::<_, CollabError, _>(async |conn: &mut AsyncPgConnection| {
                let row = repo::doc_for_update(conn, room.file)
                    .await?
                    .ok_or(CollabError::NotFound("document"))?;
                // Whatever other replicas stored (their merges among it) comes first: the
                // room must hold the state `row.file_revision` describes.
                catch_up_on(conn, room, &row).await?;
                let head = self
                    .documents
                    .document_in(conn, room.file)
                    .await?
                    .ok_or(CollabError::NotFound("document"))?;
                if head.revision <= row.file_revision {
                    return Ok(head);
                }
                let known = row.base_text.as_deref();
                if known.is_none() {
                    // Stored before bases were recorded: the file's change is all that is known.
                    tracing::info!(file_id = %room.file, "bringing the document up to its file");
                }
                let update = room.server_edit(|txn, text, current| {
                    merge::apply(txn, text, known.unwrap_or(current), current, &head.content)
                });
                edited = update.is_some();
                match update {
                    Some(update) => {
                        let seq = repo::reserve_with_base(
                            conn,
                            room.file,
                            1,
                            head.revision,
                            &head.content,
                        )
                        .await?;
                        let row = NewUpdate {
                            file_id: room.file,
                            seq,
                            data: &update,
                            user_id: author,
                        };
                        repo::insert_updates(conn, &[row]).await?;
                        merged = Some(Merged { seq, update });
                    }
                    None => {
                        repo::set_base(conn, room.file, head.revision, &head.content).await?;
                    }
                }
                Ok(head)
            })
            .await;
        let head = match result {
            Ok(done) => done,
            Err(e) => {
                if edited {
                    // The merge is in memory but not stored: start again from the journal.
                    tracing::warn!(file_id = %room.file, error = %e, "storing a merge failed; reloading the room");
                    room.discard();
                }
                return Err(e);
            }
        };
        if let Some(Merged { seq, update }) = merged {
            tracing::debug!(file_id = %room.file, revision = head.revision, seq, "merged a file change");
            room.stored_server_edit(seq, update.clone(), author);
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
        Ok(head)
    }

    /// Save the room's text to its file when due, over the revision the room holds; when the
    /// file moved on meanwhile, merge it first (the save is tried again on the next tick).
    pub(crate) async fn flush(&self, room: &Room) {
        let guard = room.sync_lock().await;
        let quiet = self.settings.flush_quiet;
        let Some((text, author)) = room.take_due(quiet, quiet * 4) else {
            return;
        };
        if text.len() > self.settings.max_text_bytes {
            // A merge with a file change (or a lowered limit) left the text too long for the
            // file: it stays in the journal, and reaches the file once someone shortens it.
            tracing::debug!(file_id = %room.file, bytes = text.len(), "live text over the file limit; not saved yet");
            return room.restore_dirty(author);
        }
        let author = match author {
            Some(author) => author,
            // Only the server changed the text (a merge at load): the file's last writer.
            None => match self.documents.document(room.file).await {
                Ok(Some(head)) => head.updated_by,
                Ok(None) => return room.shut(),
                Err(e) => {
                    tracing::warn!(file_id = %room.file, error = %e, "saving collab text failed; retrying");
                    return room.restore_dirty(None);
                }
            },
        };
        // The saved text becomes the merge base in the save's own transaction.
        let also = rooms::base_in_save(room.file, Arc::from(text.as_str()));
        let if_match = room.reconciled();
        match self
            .documents
            .save_from_collab(room.file, &text, author, if_match, &also)
            .await
        {
            Ok(revision) => room.set_reconciled(revision),
            Err(DocumentError::Gone) => {
                tracing::info!(file_id = %room.file, "document gone: closing its room");
                room.shut();
            }
            Err(DocumentError::Moved { expected, actual }) => {
                tracing::debug!(file_id = %room.file, expected, actual, "the file moved on; merging it before saving");
                room.restore_dirty(Some(author));
                if let Err(e) = self.sync_locked(room, None).await {
                    tracing::warn!(file_id = %room.file, error = %e, "merging the file failed; retrying");
                    room.want_sync();
                }
            }
            Err(e) => {
                tracing::warn!(file_id = %room.file, error = %e, "saving collab text failed; retrying");
                room.restore_dirty(Some(author));
            }
        }
        drop(guard);
    }

    /// Fill what this room missed from the journal (lost bus messages, compaction elsewhere).
    pub(crate) async fn catch_up(&self, room: &Room) -> Result<(), CollabError> {
        let mut conn = db::conn(self.pool()).await?;
        let Some(row) = repo::doc(&mut conn, room.file).await? else {
            return Ok(());
        };
        catch_up_on(&mut conn, room, &row).await
    }
}

/// [`Rooms::catch_up`] to `row` (read by the caller) on the caller's connection.
async fn catch_up_on(
    conn: &mut AsyncPgConnection,
    room: &Room,
    row: &DocRow,
) -> Result<(), CollabError> {
    let (watermark, _) = room.watermark(std::time::Duration::ZERO);
    if row.last_seq <= watermark {
        return Ok(());
    }
    if row.snapshot_seq > watermark {
        room.apply_snapshot(&row.snapshot, row.snapshot_seq);
    }
    let after = watermark.max(row.snapshot_seq);
    let mut filled = 0;
    for update in repo::updates_after(conn, room.file, after).await? {
        if room.apply_remote(update.seq, &update.data, update.user_id) {
            filled += 1;
        }
    }
    if filled > 0 {
        tracing::info!(file_id = %room.file, filled, "filled missed updates from the journal");
    }
    Ok(())
}
