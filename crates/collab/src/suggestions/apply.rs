//! Accepting a suggestion: one server edit of the live document by the accepting person,
//! stored the way a merge of a file change is ([`crate::sync`]): computed on a copy of the
//! room's state, appended to the journal (`collab_updates`) under the document's
//! `collab_docs` row lock in the same transaction as the suggestion's new status, then
//! applied to the room, sent to its connections and announced to the other replicas. The
//! room's next flush saves it to the file (a version by the accepting person), so REST,
//! history and search get it like any other edit.

use super::anchors::{self, Replacement};
use super::repo::{self as srepo, SuggestionRow};
use crate::error::CollabError;
use crate::journal::Stored;
use crate::repo::{self, NewUpdate};
use crate::room::Room;
use crate::rooms::Rooms;
use crate::sync::catch_up_on;
use bytes::Bytes;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::db;
use mdz_core::ids::UserId;
use std::time::Duration;

/// Attempts while collaborators' updates keep landing between the check and the store.
const TRIES: usize = 8;

/// What an attempt stored.
enum Outcome {
    /// Accepted; the update stored as `seq` (none when the proposal equals the quote).
    Accepted(Box<SuggestionRow>, Option<(i64, Vec<u8>)>),
    /// Marked stale: the quoted text changed.
    Stale(Option<String>),
}

/// Accept `row` into `room` on behalf of `actor`: the accepted suggestion, or why not.
pub(crate) async fn accept(
    rooms: &Rooms,
    room: &Room,
    row: &SuggestionRow,
    actor: UserId,
) -> Result<SuggestionRow, CollabError> {
    let _guard = room.sync_lock().await;
    // REST writes not merged yet come in first: the check is against the document as
    // everyone will have it.
    rooms.sync_locked(room, None).await?;
    for _ in 0..TRIES {
        let mut conn = db::conn(rooms.pool()).await?;
        catch_up_on(&mut conn, room).await?;
        drop(conn);
        let (watermark, _) = room.watermark(Duration::ZERO);
        let state = room.scratch();
        let (start, end) = (row.anchor_start.clone(), row.anchor_end.clone());
        let (quote, proposed) = (row.quote.clone(), row.proposed.clone());
        let max = rooms.settings.max_text_bytes;
        let replacement = tokio::task::spawn_blocking(move || {
            anchors::replace(&state, &start, &end, &quote, &proposed, max)
        })
        .await
        .map_err(|e| CollabError::Journal(format!("the suggestion task failed: {e}")))?
        .map_err(CollabError::Journal)?;
        let replacement = match replacement {
            Replacement::TooBig => return Err(CollabError::TooBig(max)),
            other => other,
        };
        let Some(stored) = store(rooms, room, row, actor, watermark, replacement).await? else {
            // Someone's update was stored meanwhile: check again with it.
            continue;
        };
        return match stored {
            Outcome::Stale(current) => Err(CollabError::Stale { current }),
            Outcome::Accepted(accepted, update) => {
                if let Some((seq, update)) = update {
                    let ai = accepted.provider.is_some();
                    room.stored_server_edit(seq, update.clone(), Some(actor), ai);
                    rooms.announce(vec![Stored {
                        file: room.file,
                        seq,
                        user: Some(actor),
                        data: Bytes::from(update),
                    }]);
                }
                Ok(*accepted)
            }
        };
    }
    Err(CollabError::Journal(
        "the document kept changing while the suggestion was accepted".into(),
    ))
}

/// Store the outcome under the document's row lock, if no update was stored since the room
/// held `watermark` (`None`: one was; try again).
async fn store(
    rooms: &Rooms,
    room: &Room,
    row: &SuggestionRow,
    actor: UserId,
    watermark: i64,
    replacement: Replacement,
) -> Result<Option<Outcome>, CollabError> {
    let mut conn = db::conn(rooms.pool()).await?;
    (*conn)
        .transaction::<_, CollabError, _>(async |conn: &mut AsyncPgConnection| {
            let locked = repo::doc_for_update(conn, room.file)
                .await?
                .ok_or(CollabError::NotFound("document"))?;
            if locked.last_seq != watermark {
                return Ok(None);
            }
            let status = match &replacement {
                Replacement::Apply(_) => "accepted",
                _ => "stale",
            };
            let Some(settled) = srepo::settle(conn, row.id, status, actor).await? else {
                let now = srepo::get(conn, row.id)
                    .await?
                    .ok_or(CollabError::NotFound("suggestion"))?;
                return Err(CollabError::NotOpen(now.status));
            };
            match replacement {
                Replacement::Apply(Some(update)) => {
                    let seq = repo::reserve(conn, room.file, 1).await?;
                    let new = NewUpdate {
                        file_id: room.file,
                        seq,
                        data: &update,
                        user_id: Some(actor),
                    };
                    repo::insert_updates(conn, &[new]).await?;
                    Ok(Some(Outcome::Accepted(
                        Box::new(settled),
                        Some((seq, update)),
                    )))
                }
                Replacement::Apply(None) => Ok(Some(Outcome::Accepted(Box::new(settled), None))),
                Replacement::Stale { current } => Ok(Some(Outcome::Stale(current))),
                Replacement::TooBig => Err(CollabError::TooBig(rooms.settings.max_text_bytes)),
            }
        })
        .await
}
