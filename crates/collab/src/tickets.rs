//! Collab tickets: a short-lived, single-use stand-in for a credential in a WebSocket URL
//! (`?ticket=`), so personal access tokens and access tokens need not travel in URLs, where
//! proxies and browser histories keep them. A ticket carries the credential it was made
//! with: its scope and project limit apply, and revoking that credential ends the socket.

use crate::error::CollabError;
use crate::schema::collab_tickets;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{ProjectId, SessionId, TokenId, UserId};
use mdz_core::ports::{Credential, Principal, Scope};
use mdz_core::secrets;
use std::sync::Arc;
use std::time::Duration;

/// Every ticket starts with this.
pub const PREFIX: &str = "mdz_ct_";
/// How long a ticket may wait for its socket.
pub const TTL: Duration = Duration::from_secs(60);

#[derive(Insertable)]
#[diesel(table_name = collab_tickets)]
struct NewTicket {
    hash: Vec<u8>,
    user_id: UserId,
    session_id: Option<SessionId>,
    token_id: Option<TokenId>,
    scope: String,
    project_ids: Option<Vec<uuid::Uuid>>,
    expires_at: DateTime<Utc>,
}

type Redeemed = (
    UserId,
    Option<SessionId>,
    Option<TokenId>,
    String,
    Option<Vec<uuid::Uuid>>,
);

/// A ticket for `principal`'s credential, valid for [`TTL`].
pub async fn issue(
    pool: &DbPool,
    principal: &Principal,
) -> Result<(String, DateTime<Utc>), CollabError> {
    let ticket = secrets::generate(PREFIX).map_err(|e| CollabError::Random(e.to_string()))?;
    let expires_at = Utc::now() + chrono::Duration::from_std(TTL).unwrap_or_default();
    let (session_id, token_id) = match principal.credential {
        Credential::AccessToken { session_id } => (Some(session_id), None),
        Credential::PersonalAccessToken { token_id } => (None, Some(token_id)),
    };
    let row = NewTicket {
        hash: secrets::digest(&ticket),
        user_id: principal.user_id,
        session_id,
        token_id,
        scope: principal.scope.as_str().to_owned(),
        project_ids: principal
            .projects
            .as_ref()
            .map(|p| p.iter().map(|id| id.0).collect()),
        expires_at,
    };
    let mut conn = db::conn(pool).await?;
    // Spent and expired tickets leave as new ones come (bounded by the issue rate).
    diesel::delete(
        collab_tickets::table
            .filter(collab_tickets::expires_at.lt(Utc::now() - chrono::Duration::hours(1))),
    )
    .execute(&mut conn)
    .await?;
    diesel::insert_into(collab_tickets::table)
        .values(&row)
        .execute(&mut conn)
        .await?;
    Ok((ticket, expires_at))
}

/// Spend a ticket: the principal it stands for, or `None` when it is unknown, spent or
/// expired. Of two sockets racing with one ticket, exactly one gets it.
pub async fn redeem(pool: &DbPool, ticket: &str) -> Result<Option<Principal>, CollabError> {
    if !ticket.starts_with(PREFIX) {
        return Ok(None);
    }
    let mut conn = db::conn(pool).await?;
    let found: Option<Redeemed> = diesel::update(
        collab_tickets::table
            .find(secrets::digest(ticket))
            .filter(collab_tickets::used_at.is_null())
            .filter(collab_tickets::expires_at.gt(diesel::dsl::now)),
    )
    .set(collab_tickets::used_at.eq(diesel::dsl::now))
    .returning((
        collab_tickets::user_id,
        collab_tickets::session_id,
        collab_tickets::token_id,
        collab_tickets::scope,
        collab_tickets::project_ids,
    ))
    .get_result(&mut conn)
    .await
    .optional()?;
    let Some((user_id, session, token, scope, projects)) = found else {
        return Ok(None);
    };
    let credential = match (session, token) {
        (Some(session_id), _) => Credential::AccessToken { session_id },
        (None, Some(token_id)) => Credential::PersonalAccessToken { token_id },
        (None, None) => return Ok(None),
    };
    Ok(Some(Principal {
        user_id,
        credential,
        scope: Scope::parse(&scope).unwrap_or(Scope::Read),
        projects: projects.map(|ids| ids.into_iter().map(ProjectId).collect::<Arc<[_]>>()),
    }))
}
