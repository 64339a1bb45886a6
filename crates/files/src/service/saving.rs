//! The heart of saving: lock the document, check the precondition, keep history, write, log
//! the change — in three round trips inside the transaction (the locked read with the newest
//! versions, an optional history read, then every write), not one per statement. A save is a
//! short transaction on a busy machine; each round trip is a wait for a CPU on both sides.

use super::{FilesService, full, lock_live};
use crate::error::FileError;
use crate::history;
use crate::interface::File;
use crate::repo::{self, ChangeEntry, FileRow, VersionRow};
use chrono::Utc;
use diesel_async::AsyncPgConnection;
use mdz_core::ids::{FileId, UserId};

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// How the previous head version gives way to the new text.
enum History {
    /// The head absorbs this save: its predecessor's script is rewritten (unless it is a
    /// snapshot) to lead to the new text.
    Coalesce {
        head: i32,
        prev: Option<(i32, Vec<u8>)>,
        lines: (i32, i32),
    },
    /// The head becomes a stored version (a reverse script or a full copy) and a new head
    /// follows it.
    Append {
        head: i32,
        snapshot: bool,
        body: Vec<u8>,
        lines: (i32, i32),
    },
}

impl FilesService {
    /// Write `content` as the document's new text under the row lock; returns the document
    /// and its text before (None when nothing changed).
    pub(super) async fn write_content(
        &self,
        conn: &mut AsyncPgConnection,
        actor: UserId,
        id: FileId,
        content: &str,
        if_match: Option<i64>,
        may_coalesce: bool,
    ) -> Result<(File, Option<String>), FileError> {
        // One round trip: the lock, then (run after it, so they see what the last writer
        // committed) the two newest versions. Statements go out in the order their futures
        // are first polled (diesel-async queues them on its statement cache in that order), and
        // PostgreSQL runs them in the order they arrive: `biased` polls in the order written.
        let (current, newest) = {
            let (mut locking, mut reading) = (&*conn, &*conn);
            tokio::join!(
                biased;
                lock_live(&mut locking, id, if_match),
                repo::newest_versions(&mut reading, id, 2)
            )
        };
        let current = current?;
        // An error of the second statement aborted the transaction: report it, whatever the text.
        let mut newest = newest?.into_iter();
        if current.content == content {
            return Ok((full(current), None));
        }
        let head = newest.next().ok_or(FileError::Corrupt)?;
        let window = chrono::Duration::from_std(self.settings.coalesce_window).unwrap_or_default();
        let coalesce = may_coalesce
            && head.created_by == actor
            && head.label.is_none()
            && head.updated_at > Utc::now() - window;
        let history = if coalesce {
            coalesced(&current.content, content, head.n, newest.next()).await?
        } else {
            let since = repo::script_bytes_since_snapshot(conn, id).await?;
            appended(&current.content, content, head.n, since).await?
        };
        let row = write(conn, actor, &current, content, &history).await?;
        Ok((full(row), Some(current.content)))
    }
}

/// The history step of a coalesced save: the version before the head must now lead to the
/// new text.
async fn coalesced(
    current: &str,
    content: &str,
    head: i32,
    prev: Option<VersionRow>,
) -> Result<History, FileError> {
    let Some(prev) = prev.filter(|p| p.n == head - 1) else {
        if head > 1 {
            return Err(FileError::Corrupt);
        }
        return Ok(History::Coalesce {
            head,
            prev: None,
            lines: (history::line_count(content), 0),
        });
    };
    let prev_content = if prev.snapshot {
        String::from_utf8(prev.body).map_err(|_| FileError::Corrupt)?
    } else {
        history::apply(current, &prev.body)?
    };
    let back = history::delta_bounded(content, &prev_content).await?;
    Ok(History::Coalesce {
        head,
        prev: (!prev.snapshot).then_some((prev.n, back.script)),
        lines: (back.deleted, back.inserted),
    })
}

/// The history step of a save that starts a version: the old head keeps a reverse script, or
/// a full copy when the scripts since the last copy already add up to twice the document.
async fn appended(
    current: &str,
    content: &str,
    head: i32,
    since_snapshot: i64,
) -> Result<History, FileError> {
    let back = history::delta_bounded(content, current).await?;
    let budget = 2 * i64::try_from(current.len().max(1024)).unwrap_or(i64::MAX);
    let snapshot = since_snapshot + i64::try_from(back.script.len()).unwrap_or(i64::MAX) > budget;
    Ok(History::Append {
        head,
        snapshot,
        body: if snapshot {
            current.as_bytes().to_vec()
        } else {
            back.script
        },
        lines: (back.deleted, back.inserted),
    })
}

/// Every write of a save in one round trip (pipelined on the connection, run in order): the
/// history rows, the document's row, its change-feed entry.
async fn write(
    conn: &mut AsyncPgConnection,
    actor: UserId,
    current: &FileRow,
    content: &str,
    step: &History,
) -> Result<FileRow, FileError> {
    let id = current.id;
    let size = to_i32(content.len());
    let title = history::title(content);
    // The feed entry names the revision this save makes (the row lock holds it).
    let entry = ChangeEntry {
        revision: current.revision + 1,
        ..ChangeEntry::of_file(current, "updated")
    };
    let (mut a, mut b, mut c, mut d) = (&*conn, &*conn, &*conn, &*conn);
    let history = async {
        match step {
            History::Coalesce { head, prev, lines } => {
                let rewrite = async {
                    match prev {
                        Some((n, script)) => {
                            repo::set_version_body(&mut a, id, *n, false, script).await
                        }
                        None => Ok(()),
                    }
                };
                tokio::try_join!(
                    biased;
                    rewrite,
                    repo::coalesce_head(&mut b, id, *head, size, *lines, actor)
                )
                .map(drop)
            }
            History::Append {
                head,
                snapshot,
                body,
                lines,
            } => {
                let now = Utc::now();
                let version = VersionRow {
                    file_id: id,
                    n: head + 1,
                    snapshot: false,
                    body: Vec::new(),
                    size,
                    lines_added: lines.0,
                    lines_removed: lines.1,
                    label: None,
                    created_at: now,
                    updated_at: now,
                    created_by: actor,
                    updated_by: actor,
                    ai_assisted: false,
                };
                tokio::try_join!(
                    biased;
                    repo::set_version_body(&mut a, id, *head, *snapshot, body),
                    repo::insert_version(&mut b, &version)
                )
                .map(drop)
            }
        }
    };
    // `biased`: replies come back in the order sent and the first failing statement aborts the
    // transaction (later ones answer "transaction aborted"), so polling in order returns the
    // error that matters.
    let (_, saved, _) = tokio::try_join!(
        biased;
        history,
        repo::save_content(&mut c, id, content, &title, actor),
        repo::append_change(&mut d, entry, actor)
    )?;
    Ok(FileRow {
        id: saved.id,
        project_id: saved.project_id,
        path: saved.path,
        title: saved.title,
        content: content.to_owned(),
        size: saved.size,
        revision: saved.revision,
        deleted_at: saved.deleted_at,
        deleted_by: current.deleted_by,
        created_at: saved.created_at,
        updated_at: saved.updated_at,
        created_by: saved.created_by,
        updated_by: saved.updated_by,
    })
}
