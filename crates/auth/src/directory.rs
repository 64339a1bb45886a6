//! The `UserDirectory` port, answered from the users table.

use crate::repo::{self, UserRow};
use crate::service::AuthService;
use async_trait::async_trait;
use mdz_core::db;
use mdz_core::ids::UserId;
use mdz_core::ports::{UserDirectory, UserSummary};

fn summary(u: UserRow) -> UserSummary {
    UserSummary {
        id: u.id,
        email: u.email,
        display_name: u.display_name,
        email_verified: u.email_verified_at.is_some(),
        mention_mails: u.mention_mails,
    }
}

#[async_trait]
impl UserDirectory for AuthService {
    async fn by_email(&self, email: &str) -> Result<Option<UserSummary>, String> {
        let mut conn = db::conn(self.pool()).await.map_err(|e| e.to_string())?;
        repo::user_by_email(&mut conn, email)
            .await
            .map(|u| u.map(summary))
            .map_err(|e| e.to_string())
    }

    async fn by_ids(&self, ids: &[UserId]) -> Result<Vec<UserSummary>, String> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = db::conn(self.pool()).await.map_err(|e| e.to_string())?;
        repo::users_by_ids(&mut conn, ids)
            .await
            .map(|v| v.into_iter().map(summary).collect())
            .map_err(|e| e.to_string())
    }
}
