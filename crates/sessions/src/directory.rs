//! The sessions domain's side of the [`ChatSessions`] port: session facts read through a
//! cache that every node drops an entry of when any node changes or deletes that session.

use crate::repo;
use async_trait::async_trait;
use mdz_core::cache::Cache;
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{ChatSessionId, FileId};
use mdz_core::kv::SharedKv;
use mdz_core::ports::{ChatSessionInfo, ChatSessions};
use std::sync::Arc;
use std::time::Duration;

/// Titles taken from a first message are cut to this many characters (on a word boundary).
const TITLE_CHARS: usize = 60;

/// What chat knows of sessions, by session id. Every write to a session's row that chat reads
/// (see [`SessionsService`](crate::service::SessionsService)) invalidates its entry after it
/// commits; the session touch changes only the title and activity time, which chat does not
/// read.
pub type InfoCache = Cache<Arc<ChatSessionInfo>>;

/// A new [`InfoCache`]: entries live a minute at most, as the projects domain's roles do.
pub fn info_cache(kv: SharedKv) -> Arc<InfoCache> {
    Cache::new("chat-sessions", kv, Duration::from_secs(60), 100_000)
}

pub struct SessionDirectory {
    pub pool: DbPool,
    pub cache: Arc<InfoCache>,
}

/// A short title from a first message: its first line, cut at a word near 60 characters.
pub fn summary_title(message: &str) -> String {
    let line = message
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .find(|l| !l.is_empty())
        .unwrap_or("New session");
    if line.chars().count() <= TITLE_CHARS {
        return line.to_owned();
    }
    let cut: String = line.chars().take(TITLE_CHARS).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > TITLE_CHARS / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

#[async_trait]
impl ChatSessions for SessionDirectory {
    async fn session(&self, id: ChatSessionId) -> Result<Option<ChatSessionInfo>, String> {
        let key = id.to_string();
        if let Some(info) = self.cache.get(&key) {
            return Ok(Some(ChatSessionInfo::clone(&info)));
        }
        let epoch = self.cache.epoch();
        let mut conn = db::conn(&self.pool).await.map_err(|e| e.to_string())?;
        let row = repo::get(&mut conn, id).await.map_err(|e| e.to_string())?;
        let info = row.map(|r| ChatSessionInfo {
            id: r.id,
            project_id: r.project_id,
            created_by: r.created_by,
            model: r.model,
            provider: r.provider,
            instructions: r.instructions,
            context_file_ids: r.context_file_ids.into_iter().map(FileId).collect(),
            private: r.visibility == "private",
        });
        if let Some(info) = &info {
            self.cache.insert(key, Arc::new(info.clone()), epoch);
        }
        Ok(info)
    }

    async fn touch(&self, id: ChatSessionId, first_message: Option<&str>) -> Result<(), String> {
        let mut conn = db::conn(&self.pool).await.map_err(|e| e.to_string())?;
        let title = first_message.map(summary_title);
        repo::touch(&mut conn, id, title.as_deref())
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::summary_title;

    #[test]
    fn titles_summarise_the_first_line() {
        assert_eq!(summary_title("# Plan the launch\nmore"), "Plan the launch");
        let long =
            "Summarise every decision we took about the release process in the last quarter please";
        let t = summary_title(long);
        assert!(t.ends_with('…') && t.chars().count() <= 61, "{t}");
        assert_eq!(summary_title("   \n\n"), "New session");
    }
}
