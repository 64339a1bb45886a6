//! Auth queries on `&mut AsyncPgConnection`, so the service decides the transaction.

use crate::schema::{api_tokens, auth_email_tokens, auth_sessions, refresh_tokens, users};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::ids::{SessionId, TokenId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub mention_mails: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_sessions)]
pub struct SessionRow {
    pub id: SessionId,
    pub user_id: UserId,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct ApiTokenRow {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub token_hash: Vec<u8>,
    pub token_prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `read`, `write` or `admin`.
    pub scope: String,
    /// The projects the token reaches; `None`: all of the user's.
    pub project_ids: Option<Vec<uuid::Uuid>>,
}

/// What a presented token stands for.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub id: TokenId,
    pub user_id: UserId,
    pub scope: String,
    pub project_ids: Option<Vec<uuid::Uuid>>,
}

// ---- users ------------------------------------------------------------------------------

pub async fn insert_user(conn: &mut AsyncPgConnection, row: &UserRow) -> Result<UserRow, Error> {
    diesel::insert_into(users::table)
        .values(row)
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn user_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> Result<Option<UserRow>, Error> {
    users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn user_by_id(
    conn: &mut AsyncPgConnection,
    id: UserId,
) -> Result<Option<UserRow>, Error> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn update_profile(
    conn: &mut AsyncPgConnection,
    id: UserId,
    name: Option<&str>,
    mention_mails: Option<bool>,
) -> Result<Option<UserRow>, Error> {
    diesel::update(users::table.find(id))
        .set((
            name.map(|n| users::display_name.eq(n)),
            mention_mails.map(|m| users::mention_mails.eq(m)),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The account's password hash, its row locked against a password change or reset until the
/// transaction ends: whoever mints a credential under this lock either finishes before a
/// reset (whose revocation then sees it) or waits and sees the reset.
pub async fn lock_credentials(
    conn: &mut AsyncPgConnection,
    id: UserId,
) -> Result<Option<String>, Error> {
    users::table
        .find(id)
        .select(users::password_hash)
        .for_share()
        .first(conn)
        .await
        .optional()
}

/// Whether the credential a request came with is still live (a session not revoked, a token
/// not deleted).
pub async fn credential_is_live(
    conn: &mut AsyncPgConnection,
    credential: mdz_core::ports::Credential,
) -> Result<bool, Error> {
    use mdz_core::ports::Credential;
    match credential {
        Credential::AccessToken { session_id } => {
            diesel::select(diesel::dsl::exists(
                auth_sessions::table
                    .find(session_id)
                    .filter(auth_sessions::revoked_at.is_null()),
            ))
            .get_result(conn)
            .await
        }
        Credential::PersonalAccessToken { token_id } => {
            diesel::select(diesel::dsl::exists(api_tokens::table.find(token_id)))
                .get_result(conn)
                .await
        }
    }
}

pub async fn set_password_hash(
    conn: &mut AsyncPgConnection,
    id: UserId,
    hash: &str,
) -> Result<(), Error> {
    diesel::update(users::table.find(id))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .await
        .map(drop)
}

// ---- sessions and refresh tokens -------------------------------------------------------

pub async fn insert_session(conn: &mut AsyncPgConnection, row: &SessionRow) -> Result<(), Error> {
    diesel::insert_into(auth_sessions::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn session_by_id(
    conn: &mut AsyncPgConnection,
    id: SessionId,
) -> Result<Option<SessionRow>, Error> {
    auth_sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Extend a session on refresh and record where it was used from.
pub async fn touch_session(
    conn: &mut AsyncPgConnection,
    id: SessionId,
    expires_at: DateTime<Utc>,
    user_agent: Option<&str>,
    ip: Option<&str>,
) -> Result<(), Error> {
    diesel::update(auth_sessions::table.find(id))
        .set((
            auth_sessions::last_used_at.eq(diesel::dsl::now),
            auth_sessions::expires_at.eq(expires_at),
            auth_sessions::user_agent.eq(user_agent),
            auth_sessions::ip.eq(ip),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Revoke one of `user`'s live sessions; false when there is no such live session.
pub async fn revoke_session(
    conn: &mut AsyncPgConnection,
    user: UserId,
    id: SessionId,
    reason: &str,
) -> Result<bool, Error> {
    diesel::update(
        auth_sessions::table
            .find(id)
            .filter(auth_sessions::user_id.eq(user))
            .filter(auth_sessions::revoked_at.is_null()),
    )
    .set((
        auth_sessions::revoked_at.eq(diesel::dsl::now),
        auth_sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// Revoke every live session of `user` except `keep`; returns the revoked ids.
pub async fn revoke_sessions_except(
    conn: &mut AsyncPgConnection,
    user: UserId,
    keep: Option<SessionId>,
    reason: &str,
) -> Result<Vec<SessionId>, Error> {
    let keep = keep.map(|k| k.0).unwrap_or_default();
    diesel::update(
        auth_sessions::table
            .filter(auth_sessions::user_id.eq(user))
            .filter(auth_sessions::revoked_at.is_null())
            .filter(auth_sessions::id.ne(keep)),
    )
    .set((
        auth_sessions::revoked_at.eq(diesel::dsl::now),
        auth_sessions::revoked_reason.eq(reason),
    ))
    .returning(auth_sessions::id)
    .get_results(conn)
    .await
}

/// Live sessions of `user`, newest first, after the cursor.
pub async fn live_sessions(
    conn: &mut AsyncPgConnection,
    user: UserId,
    after: Option<SessionId>,
    limit: i64,
) -> Result<Vec<SessionRow>, Error> {
    let mut q = auth_sessions::table
        .filter(auth_sessions::user_id.eq(user))
        .filter(auth_sessions::revoked_at.is_null())
        .filter(auth_sessions::expires_at.gt(diesel::dsl::now))
        .select(SessionRow::as_select())
        .order(auth_sessions::id.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(auth_sessions::id.lt(after));
    }
    q.load(conn).await
}

/// Sessions revoked since `since` (to re-seed an in-process revocation list after a restart).
pub async fn revoked_since(
    conn: &mut AsyncPgConnection,
    since: DateTime<Utc>,
) -> Result<Vec<SessionId>, Error> {
    auth_sessions::table
        .filter(auth_sessions::revoked_at.gt(since))
        .select(auth_sessions::id)
        .load(conn)
        .await
}

pub async fn insert_refresh_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    session: SessionId,
) -> Result<(), Error> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::session_id.eq(session),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// What presenting a refresh token found.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshUse {
    /// First use: the token is now spent; this is its session.
    Fresh(SessionId),
    /// The token was already spent: reuse, the session must die.
    Reused(SessionId),
    /// No such token.
    Unknown,
}

/// Spend a refresh token atomically: of two concurrent uses exactly one is `Fresh`.
pub async fn spend_refresh_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> Result<RefreshUse, Error> {
    let fresh: Option<SessionId> = diesel::update(
        refresh_tokens::table
            .find(hash)
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(diesel::dsl::now))
    .returning(refresh_tokens::session_id)
    .get_result(conn)
    .await
    .optional()?;
    if let Some(session) = fresh {
        return Ok(RefreshUse::Fresh(session));
    }
    let spent: Option<SessionId> = refresh_tokens::table
        .find(hash)
        .select(refresh_tokens::session_id)
        .first(conn)
        .await
        .optional()?;
    Ok(spent.map_or(RefreshUse::Unknown, RefreshUse::Reused))
}

// ---- personal access tokens -------------------------------------------------------------

pub async fn insert_api_token(
    conn: &mut AsyncPgConnection,
    row: &ApiTokenRow,
) -> Result<ApiTokenRow, Error> {
    diesel::insert_into(api_tokens::table)
        .values(row)
        .returning(ApiTokenRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn api_tokens_of(
    conn: &mut AsyncPgConnection,
    user: UserId,
    after: Option<TokenId>,
    limit: i64,
) -> Result<Vec<ApiTokenRow>, Error> {
    let mut q = api_tokens::table
        .filter(api_tokens::user_id.eq(user))
        .select(ApiTokenRow::as_select())
        .order(api_tokens::id.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(api_tokens::id.lt(after));
    }
    q.load(conn).await
}

pub async fn delete_api_token(
    conn: &mut AsyncPgConnection,
    user: UserId,
    id: TokenId,
) -> Result<bool, Error> {
    diesel::delete(
        api_tokens::table
            .find(id)
            .filter(api_tokens::user_id.eq(user)),
    )
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// Delete every personal access token of `user`; their ids.
pub async fn delete_api_tokens_of(
    conn: &mut AsyncPgConnection,
    user: UserId,
) -> Result<Vec<TokenId>, Error> {
    diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(user)))
        .returning(api_tokens::id)
        .get_results(conn)
        .await
}

/// Does the user's token `id` exist and not expire before now?
pub async fn token_live(conn: &mut AsyncPgConnection, id: TokenId) -> Result<bool, Error> {
    diesel::select(diesel::dsl::exists(
        api_tokens::table.find(id).filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(diesel::dsl::now)),
        ),
    ))
    .get_result(conn)
    .await
}

/// The live token with this hash, recording its use at most once a minute.
pub async fn use_api_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> Result<Option<TokenGrant>, Error> {
    type Found = (
        TokenId,
        UserId,
        Option<DateTime<Utc>>,
        String,
        Option<Vec<uuid::Uuid>>,
    );
    let found: Option<Found> = api_tokens::table
        .filter(api_tokens::token_hash.eq(hash))
        .filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(diesel::dsl::now)),
        )
        .select((
            api_tokens::id,
            api_tokens::user_id,
            api_tokens::last_used_at,
            api_tokens::scope,
            api_tokens::project_ids,
        ))
        .first(conn)
        .await
        .optional()?;
    let Some((id, user_id, last_used, scope, project_ids)) = found else {
        return Ok(None);
    };
    let stale = last_used.is_none_or(|t| Utc::now() - t > chrono::Duration::minutes(1));
    if stale {
        diesel::update(api_tokens::table.find(id))
            .set(api_tokens::last_used_at.eq(diesel::dsl::now))
            .execute(conn)
            .await?;
    }
    Ok(Some(TokenGrant {
        id,
        user_id,
        scope,
        project_ids,
    }))
}

pub async fn users_by_ids(
    conn: &mut AsyncPgConnection,
    ids: &[UserId],
) -> Result<Vec<UserRow>, Error> {
    users::table
        .filter(users::id.eq_any(ids))
        .select(UserRow::as_select())
        .load(conn)
        .await
}

// ---- e-mail tokens (verification, password reset) ---------------------------------------

/// A token mailed to `email` for `purpose` (`verify` or `reset`). Long-expired tokens of
/// anyone are deleted on the way (at most 1,000), skipping those another transaction is
/// deleting: registrations and resets at once do not queue on each other's sweep.
pub async fn insert_email_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    user: UserId,
    purpose: &str,
    email: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), Error> {
    diesel::sql_query(
        "DELETE FROM auth_email_tokens WHERE token_hash IN (
             SELECT token_hash FROM auth_email_tokens
             WHERE expires_at < now() - interval '1 day' LIMIT 1000
             FOR UPDATE SKIP LOCKED)",
    )
    .execute(conn)
    .await?;
    diesel::insert_into(auth_email_tokens::table)
        .values((
            auth_email_tokens::token_hash.eq(hash),
            auth_email_tokens::user_id.eq(user),
            auth_email_tokens::purpose.eq(purpose),
            auth_email_tokens::email.eq(email),
            auth_email_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The account and address of a live (unused, unexpired) token, without spending it.
pub async fn live_email_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    purpose: &str,
) -> Result<Option<(UserId, String)>, Error> {
    auth_email_tokens::table
        .filter(auth_email_tokens::token_hash.eq(hash))
        .filter(auth_email_tokens::purpose.eq(purpose))
        .filter(auth_email_tokens::used_at.is_null())
        .filter(auth_email_tokens::expires_at.gt(diesel::dsl::now))
        .select((auth_email_tokens::user_id, auth_email_tokens::email))
        .first(conn)
        .await
        .optional()
}

/// Spend a live token: of two concurrent uses exactly one gets the account and address.
pub async fn spend_email_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    purpose: &str,
) -> Result<Option<(UserId, String)>, Error> {
    diesel::update(
        auth_email_tokens::table
            .filter(auth_email_tokens::token_hash.eq(hash))
            .filter(auth_email_tokens::purpose.eq(purpose))
            .filter(auth_email_tokens::used_at.is_null())
            .filter(auth_email_tokens::expires_at.gt(diesel::dsl::now)),
    )
    .set(auth_email_tokens::used_at.eq(diesel::dsl::now))
    .returning((auth_email_tokens::user_id, auth_email_tokens::email))
    .get_result(conn)
    .await
    .optional()
}

/// Spend every other live token of `user` for `purpose` (after a reset, older links die).
pub async fn spend_all_email_tokens(
    conn: &mut AsyncPgConnection,
    user: UserId,
    purpose: &str,
) -> Result<(), Error> {
    diesel::update(
        auth_email_tokens::table
            .filter(auth_email_tokens::user_id.eq(user))
            .filter(auth_email_tokens::purpose.eq(purpose))
            .filter(auth_email_tokens::used_at.is_null()),
    )
    .set(auth_email_tokens::used_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
    .map(drop)
}

/// Mark `email` verified for `user`, if it is still the account's address.
/// Make `email` the account's address, verified (a change link was followed). A unique
/// violation when another account took it meanwhile.
pub async fn change_email(
    conn: &mut AsyncPgConnection,
    user: UserId,
    email: &str,
) -> Result<(), Error> {
    diesel::update(users::table.find(user))
        .set((
            users::email.eq(email),
            users::email_verified_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn mark_email_verified(
    conn: &mut AsyncPgConnection,
    user: UserId,
    email: &str,
) -> Result<bool, Error> {
    diesel::update(
        users::table
            .find(user)
            .filter(users::email.eq(email))
            .filter(users::email_verified_at.is_null()),
    )
    .set(users::email_verified_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
    .map(|n| n > 0)
}
