//! The change feed of a project: what changed, in order, for clients that sync.
//!
//! Writers append entries without a number and take no lock; a sequencer numbers the
//! committed ones after the fact, both in the background ([`FilesService::number_pending`],
//! every [`NUMBER_EVERY`]) and before every read ([`FilesService::changes`]), so a reader
//! always sees every change committed before it asked. See the migration
//! `change_feed_sequencer` for why.

pub mod repo;

use crate::error::FileError;
use crate::interface::{Change, Changes};
use crate::service::FilesService;
use mdz_core::access::Action;
use mdz_core::db;
use mdz_core::feed::{FILE_CHANGES, PROJECT_EVENTS};
use mdz_core::ids::{ProjectId, UserId};
use std::time::Duration;
use tracing::instrument;

/// How often the background sequencer numbers what was committed since its last round.
pub const NUMBER_EVERY: Duration = Duration::from_millis(250);

/// Projects numbered per background round (the rest wait for the next round or a reader).
const PROJECTS_PER_ROUND: i64 = 256;

impl FilesService {
    #[instrument(skip_all, fields(user_id = %actor, project_id = %project))]
    pub async fn changes(
        &self,
        actor: UserId,
        project: ProjectId,
        cursor: Option<i64>,
        limit: i64,
    ) -> Result<Changes, FileError> {
        self.access.require(actor, project, Action::Read).await?;
        let mut conn = db::conn(&self.pool).await?;
        if FILE_CHANGES.number_if_waiting(&mut conn, project).await? > 0 {
            self.events.announce(project).await;
        }
        // Without a cursor: from the oldest kept entry. Before, that meant 0, which is below
        // the horizon of every compacted feed, so the "list again and start over" that the
        // 410 asks for could never start.
        let cursor = match cursor {
            Some(cursor) => cursor,
            None => FILE_CHANGES.bounds(&mut conn, project).await?.1,
        };
        // The page before the horizon: a compaction committed between the two reads raises
        // the horizon the second one sees, so the caller gets 410 rather than a silent gap.
        let mut rows = repo::changes_after(&mut conn, project, cursor, limit).await?;
        let (_, horizon) = FILE_CHANGES.bounds(&mut conn, project).await?;
        if cursor < horizon {
            return Err(FileError::CursorExpired);
        }
        let has_more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        let next = rows.last().map_or(cursor, |r| r.seq);
        Ok(Changes {
            items: rows
                .into_iter()
                .map(|r| Change {
                    seq: r.seq,
                    id: r.file_id,
                    kind: r.kind,
                    path: r.path,
                    revision: r.revision,
                    at: r.created_at,
                    by: r.created_by,
                })
                .collect(),
            cursor: next.to_string(),
            has_more,
        })
    }

    /// Number the committed entries of both feeds (file changes and the project event log)
    /// of every project that has some waiting, and announce those projects to the live event
    /// streams of every node; returns how many were numbered.
    pub async fn number_pending(&self) -> Result<i64, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        let mut total = 0;
        for feed in [FILE_CHANGES, PROJECT_EVENTS] {
            for project in feed
                .unnumbered_projects(&mut conn, PROJECTS_PER_ROUND)
                .await?
            {
                let numbered = feed.number_committed(&mut conn, project).await?;
                if numbered > 0 {
                    self.events.announce(project).await;
                }
                total += numbered;
            }
        }
        Ok(total)
    }
}
