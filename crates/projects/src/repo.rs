//! Project queries on `&mut AsyncPgConnection`, so the service decides the transaction.

use crate::schema::{project_invitations, project_members, projects};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::ids::{InvitationId, ProjectId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub struct ProjectRow {
    pub id: ProjectId,
    pub name: String,
    pub description: String,
    pub last_activity_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub deleted_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = project_members)]
pub struct MemberRow {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = project_invitations)]
pub struct InvitationRow {
    pub id: InvitationId,
    pub project_id: ProjectId,
    pub email: Option<String>,
    pub role: String,
    pub token_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by: Option<UserId>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
}

// ---- projects ---------------------------------------------------------------------------

pub async fn insert_project(
    conn: &mut AsyncPgConnection,
    row: &ProjectRow,
) -> Result<ProjectRow, Error> {
    diesel::insert_into(projects::table)
        .values(row)
        .returning(ProjectRow::as_returning())
        .get_result(conn)
        .await
}

/// The user's role in a project, live or (with `include_deleted`) soft-deleted.
pub async fn role_of(
    conn: &mut AsyncPgConnection,
    user: UserId,
    project: ProjectId,
    include_deleted: bool,
) -> Result<Option<String>, Error> {
    let mut q = project_members::table
        .inner_join(projects::table)
        .filter(project_members::project_id.eq(project))
        .filter(project_members::user_id.eq(user))
        .select(project_members::role)
        .into_boxed();
    if !include_deleted {
        q = q.filter(projects::deleted_at.is_null());
    }
    q.first(conn).await.optional()
}

pub async fn project_by_id(
    conn: &mut AsyncPgConnection,
    id: ProjectId,
) -> Result<Option<ProjectRow>, Error> {
    projects::table
        .find(id)
        .select(ProjectRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The caller's live projects with their role, by latest activity, after the cursor.
pub async fn projects_of(
    conn: &mut AsyncPgConnection,
    user: UserId,
    after: Option<(DateTime<Utc>, ProjectId)>,
    limit: i64,
) -> Result<Vec<(ProjectRow, String)>, Error> {
    let mut q = projects::table
        .inner_join(project_members::table)
        .filter(project_members::user_id.eq(user))
        .filter(projects::deleted_at.is_null())
        .select((ProjectRow::as_select(), project_members::role))
        .order((projects::last_activity_at.desc(), projects::id.desc()))
        .limit(limit + 1)
        .into_boxed();
    if let Some((at, id)) = after {
        q = q.filter(
            projects::last_activity_at
                .lt(at)
                .or(projects::last_activity_at.eq(at).and(projects::id.lt(id))),
        );
    }
    q.load(conn).await
}

/// The live project's row, locked until the transaction ends.
pub async fn lock_live_project(
    conn: &mut AsyncPgConnection,
    id: ProjectId,
) -> Result<Option<ProjectRow>, Error> {
    projects::table
        .find(id)
        .filter(projects::deleted_at.is_null())
        .select(ProjectRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Change the name and description of a project locked with [`lock_live_project`].
pub async fn update_project(
    conn: &mut AsyncPgConnection,
    current: &ProjectRow,
    actor: UserId,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<ProjectRow, Error> {
    diesel::update(projects::table.find(current.id))
        .set((
            projects::name.eq(name.unwrap_or(&current.name)),
            projects::description.eq(description.unwrap_or(&current.description)),
            projects::updated_by.eq(actor),
            projects::last_activity_at.eq(diesel::dsl::now),
        ))
        .returning(ProjectRow::as_returning())
        .get_result(conn)
        .await
}

/// Mark live activity so "newest activity first" lists move the project up.
pub async fn touch_project(conn: &mut AsyncPgConnection, id: ProjectId) -> Result<(), Error> {
    diesel::update(projects::table.find(id))
        .set(projects::last_activity_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_deleted(
    conn: &mut AsyncPgConnection,
    id: ProjectId,
    actor: UserId,
    deleted: bool,
) -> Result<Option<ProjectRow>, Error> {
    let now = Utc::now();
    diesel::update(projects::table.find(id))
        .set((
            projects::deleted_at.eq(deleted.then_some(now)),
            projects::deleted_by.eq(deleted.then_some(actor)),
            projects::updated_by.eq(actor),
        ))
        .returning(ProjectRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Delete for good every project soft-deleted before `cutoff`; returns how many.
pub async fn purge_deleted_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
) -> Result<usize, Error> {
    diesel::delete(projects::table.filter(projects::deleted_at.lt(cutoff)))
        .execute(conn)
        .await
}

// ---- members ----------------------------------------------------------------------------

pub async fn insert_member(
    conn: &mut AsyncPgConnection,
    row: &MemberRow,
) -> Result<MemberRow, Error> {
    diesel::insert_into(project_members::table)
        .values(row)
        .returning(MemberRow::as_returning())
        .get_result(conn)
        .await
}

/// A member row, locked for the rest of the transaction.
pub async fn member_for_update(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    user: UserId,
) -> Result<Option<MemberRow>, Error> {
    project_members::table
        .find((project, user))
        .select(MemberRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

pub async fn members(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    after: Option<UserId>,
    limit: i64,
) -> Result<Vec<MemberRow>, Error> {
    let mut q = project_members::table
        .filter(project_members::project_id.eq(project))
        .select(MemberRow::as_select())
        .order(project_members::user_id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(project_members::user_id.gt(after));
    }
    q.load(conn).await
}

/// The owners and admins of a live project.
pub async fn managers(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
) -> Result<Vec<UserId>, Error> {
    project_members::table
        .inner_join(projects::table)
        .filter(project_members::project_id.eq(project))
        .filter(projects::deleted_at.is_null())
        .filter(project_members::role.eq_any(["owner", "admin"]))
        .select(project_members::user_id)
        .load(conn)
        .await
}

pub async fn set_role(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    user: UserId,
    role: &str,
    actor: UserId,
) -> Result<MemberRow, Error> {
    diesel::update(project_members::table.find((project, user)))
        .set((
            project_members::role.eq(role),
            project_members::updated_by.eq(actor),
        ))
        .returning(MemberRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn delete_member(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    user: UserId,
) -> Result<bool, Error> {
    diesel::delete(project_members::table.find((project, user)))
        .execute(conn)
        .await
        .map(|n| n > 0)
}

// ---- invitations ------------------------------------------------------------------------

pub async fn insert_invitation(
    conn: &mut AsyncPgConnection,
    row: &InvitationRow,
) -> Result<InvitationRow, Error> {
    diesel::insert_into(project_invitations::table)
        .values(row)
        .returning(InvitationRow::as_returning())
        .get_result(conn)
        .await
}

/// Pending (not accepted, revoked or expired) invitations, newest first.
pub async fn pending_invitations(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    after: Option<InvitationId>,
    limit: i64,
) -> Result<Vec<InvitationRow>, Error> {
    let mut q = project_invitations::table
        .filter(project_invitations::project_id.eq(project))
        .filter(project_invitations::accepted_at.is_null())
        .filter(project_invitations::revoked_at.is_null())
        .filter(project_invitations::expires_at.gt(diesel::dsl::now))
        .select(InvitationRow::as_select())
        .order(project_invitations::id.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(project_invitations::id.lt(after));
    }
    q.load(conn).await
}

pub async fn revoke_invitation(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    id: InvitationId,
    actor: UserId,
) -> Result<bool, Error> {
    diesel::update(
        project_invitations::table
            .find(id)
            .filter(project_invitations::project_id.eq(project))
            .filter(project_invitations::accepted_at.is_null())
            .filter(project_invitations::revoked_at.is_null()),
    )
    .set((
        project_invitations::revoked_at.eq(diesel::dsl::now),
        project_invitations::updated_by.eq(actor),
    ))
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// Claim a live invitation atomically: of two concurrent accepts exactly one gets the row.
pub async fn claim_invitation(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    user: UserId,
) -> Result<Option<InvitationRow>, Error> {
    diesel::update(
        project_invitations::table
            .filter(project_invitations::token_hash.eq(hash))
            .filter(project_invitations::accepted_at.is_null())
            .filter(project_invitations::revoked_at.is_null())
            .filter(project_invitations::expires_at.gt(diesel::dsl::now)),
    )
    .set((
        project_invitations::accepted_at.eq(diesel::dsl::now),
        project_invitations::accepted_by.eq(user),
        project_invitations::updated_by.eq(user),
    ))
    .returning(InvitationRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

pub async fn invitation_by_hash(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> Result<Option<InvitationRow>, Error> {
    project_invitations::table
        .filter(project_invitations::token_hash.eq(hash))
        .select(InvitationRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Every live project the user is a member of.
pub async fn project_ids_of(
    conn: &mut AsyncPgConnection,
    user: UserId,
) -> Result<Vec<ProjectId>, Error> {
    project_members::table
        .inner_join(projects::table)
        .filter(project_members::user_id.eq(user))
        .filter(projects::deleted_at.is_null())
        .select(projects::id)
        .load(conn)
        .await
}

/// What [`count_invitation_mails`] found: how many, and when the one that holds the count at
/// the limit was made (the `limit`-th newest): once it leaves the window there is room again.
#[derive(Debug, QueryableByName)]
pub struct SentInvitations {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub count: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub pivot: Option<DateTime<Utc>>,
}

/// Which e-mail invitations a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationCount {
    /// Sent by the inviter, to anyone.
    ByInviter,
    /// Sent by the inviter to the mailbox (`mdz_mailbox`: the address without `+tag`).
    ByInviterTo,
    /// Sent by anyone to the mailbox.
    To,
}

/// Serialise the e-mail invitations of `inviter` and to the mailbox of `address` until the
/// transaction ends, so two at once cannot both take the last place under a limit. Always the
/// inviter's lock first, then the mailbox's: no two requests wait on each other in a circle.
pub async fn lock_invitation_mails(
    conn: &mut AsyncPgConnection,
    inviter: UserId,
    address: &str,
) -> Result<(), Error> {
    use diesel::sql_types::{Text, Uuid};
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(hashtextextended('mdz:invite-by:' || $1::text, 0)),
                pg_advisory_xact_lock(hashtextextended('mdz:invite-to:' || mdz_mailbox($2), 0))",
    )
    .bind::<Uuid, _>(inviter)
    .bind::<Text, _>(address)
    .execute(conn)
    .await
    .map(drop)
}

/// E-mail invitations of `which` made since `since`.
pub async fn count_invitation_mails(
    conn: &mut AsyncPgConnection,
    which: InvitationCount,
    (inviter, address): (UserId, &str),
    since: DateTime<Utc>,
    limit: i64,
) -> Result<SentInvitations, Error> {
    use diesel::sql_types::{BigInt, Text, Timestamptz, Uuid};
    let filter = match which {
        InvitationCount::ByInviter => "created_by = $1 AND $2::text IS NOT NULL",
        InvitationCount::ByInviterTo => "created_by = $1 AND mdz_mailbox(email) = mdz_mailbox($2)",
        InvitationCount::To => "$1::uuid IS NOT NULL AND mdz_mailbox(email) = mdz_mailbox($2)",
    };
    diesel::sql_query(format!(
        "SELECT count(*) AS count, (array_agg(created_at ORDER BY created_at DESC))[$4] AS pivot
         FROM project_invitations
         WHERE email IS NOT NULL AND created_at > $3 AND {filter}"
    ))
    .bind::<Uuid, _>(inviter)
    .bind::<Text, _>(address)
    .bind::<Timestamptz, _>(since)
    .bind::<BigInt, _>(limit)
    .get_result(conn)
    .await
}
