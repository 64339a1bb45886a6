//! Single sign-on queries: flows under way and the (issuer, subject) links.

use crate::repo::UserRow;
use crate::schema::{auth_oidc_flows, auth_oidc_identities, users};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::ids::UserId;

/// Expired flows deleted by one `start` (the rest go with later ones).
const PURGE_BATCH: i64 = 1000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_oidc_flows)]
pub struct FlowRow {
    pub state_hash: Vec<u8>,
    pub browser_hash: Vec<u8>,
    pub pkce_verifier: String,
    pub nonce: String,
    pub return_to: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = auth_oidc_identities)]
pub struct IdentityRow<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub user_id: UserId,
    pub email: &'a str,
}

/// Store a new flow, after deleting up to [`PURGE_BATCH`] expired ones.
pub async fn insert_flow(conn: &mut AsyncPgConnection, row: &FlowRow) -> Result<(), Error> {
    diesel::sql_query(
        "DELETE FROM auth_oidc_flows WHERE state_hash IN \
         (SELECT state_hash FROM auth_oidc_flows WHERE expires_at < now() LIMIT $1)",
    )
    .bind::<diesel::sql_types::BigInt, _>(PURGE_BATCH)
    .execute(conn)
    .await?;
    diesel::insert_into(auth_oidc_flows::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// Spend a flow: deleted as it is read, so of two callbacks with one state one gets it.
pub async fn take_flow(
    conn: &mut AsyncPgConnection,
    state_hash: &[u8],
) -> Result<Option<FlowRow>, Error> {
    diesel::delete(auth_oidc_flows::table.filter(auth_oidc_flows::state_hash.eq(state_hash)))
        .returning(FlowRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The account linked to this provider identity, if any; the link's last sign-in is set.
pub async fn user_by_identity(
    conn: &mut AsyncPgConnection,
    issuer: &str,
    subject: &str,
) -> Result<Option<UserRow>, Error> {
    let linked: Option<UserId> = diesel::update(
        auth_oidc_identities::table
            .filter(auth_oidc_identities::issuer.eq(issuer))
            .filter(auth_oidc_identities::subject.eq(subject)),
    )
    .set(auth_oidc_identities::last_login_at.eq(diesel::dsl::now))
    .returning(auth_oidc_identities::user_id)
    .get_result(conn)
    .await
    .optional()?;
    match linked {
        Some(id) => users::table
            .find(id)
            .select(UserRow::as_select())
            .first(conn)
            .await
            .optional(),
        None => Ok(None),
    }
}

/// Whether the account already has a link at this issuer.
pub async fn linked_at(
    conn: &mut AsyncPgConnection,
    user: UserId,
    issuer: &str,
) -> Result<bool, Error> {
    diesel::select(diesel::dsl::exists(
        auth_oidc_identities::table
            .filter(auth_oidc_identities::user_id.eq(user))
            .filter(auth_oidc_identities::issuer.eq(issuer)),
    ))
    .get_result(conn)
    .await
}

pub async fn insert_identity(
    conn: &mut AsyncPgConnection,
    row: &IdentityRow<'_>,
) -> Result<(), Error> {
    diesel::insert_into(auth_oidc_identities::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}
