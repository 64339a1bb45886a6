//! Invitations to a project: created (with an optional mail, within the mail limits),
//! listed, revoked, and accepted once.

use crate::error::ProjectError;
use crate::interface::{CreatedInvitation, Invitation, Membership, NewInvitation};
use crate::repo::{self, InvitationRow, MemberRow};
use crate::service::{
    INVITATION_PREFIX, ProjectsService, may_assign, member_event, needs, parse_role,
};
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::access::{Action, Role};
use mdz_core::db;
use mdz_core::events::{self, EventKind};
use mdz_core::ids::{InvitationId, ProjectId, UserId};
use mdz_core::pagination::{Page, PageRequest};
use mdz_core::secrets;
use tracing::instrument;

/// `Retry-After` when a mailbox received too many invitations from anyone: fixed, so it
/// tells nothing of when others invited it.
const ADDRESS_FULL_RETRY_SECS: u64 = 3600;

/// The window the e-mail invitation limits count over.
pub const INVITATION_MAIL_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(1);

fn invitation_view(i: InvitationRow) -> Result<Invitation, ProjectError> {
    Ok(Invitation {
        role: parse_role(&i.role)?,
        id: i.id,
        project_id: i.project_id,
        email: i.email,
        expires_at: i.expires_at,
        created_at: i.created_at,
        created_by: i.created_by,
    })
}

impl ProjectsService {
    #[instrument(skip_all, fields(user_id = %actor, project_id = %id))]
    pub async fn invite(
        &self,
        actor: UserId,
        id: ProjectId,
        new: NewInvitation,
    ) -> Result<CreatedInvitation, ProjectError> {
        // Before a connection is taken: the lookup needs one of its own, and requests holding
        // one each while waiting for a second could empty the pool.
        let inviter = self
            .users
            .by_ids(&[actor])
            .await
            .map_err(ProjectError::Directory)?
            .pop();
        let mut conn = db::conn(&self.pool).await?;
        let actor_role = Self::require(&mut conn, actor, id, Action::ManageMembers).await?;
        if !may_assign(actor_role, new.role) {
            return Err(needs(Role::Owner));
        }
        let token = secrets::generate(INVITATION_PREFIX)
            .map_err(|e| ProjectError::Internal(format!("randomness: {e}")))?;
        let now = Utc::now();
        let row = InvitationRow {
            id: InvitationId::new(),
            project_id: id,
            email: new.email,
            role: new.role.as_str().to_owned(),
            token_hash: secrets::digest(&token),
            expires_at: now + chrono::Duration::hours(new.expires_in_hours),
            accepted_at: None,
            accepted_by: None,
            revoked_at: None,
            created_at: now,
            updated_at: now,
            created_by: actor,
            updated_by: actor,
        };
        if row.email.is_some() && !inviter.as_ref().is_some_and(|u| u.email_verified) {
            return Err(ProjectError::UnverifiedInviter);
        }
        let inviter = inviter.map_or_else(|| "Someone".to_owned(), |u| u.display_name);
        let outbox = &self.settings.outbox;
        let row = (*conn)
            .transaction::<_, ProjectError, _>(async |conn: &mut AsyncPgConnection| {
                if let Some(to) = &row.email {
                    self.check_invitation_mails(conn, actor, to).await?;
                }
                let row = repo::insert_invitation(conn, &row).await?;
                if let Some(to) = &row.email {
                    let project = repo::project_by_id(conn, id)
                        .await?
                        .ok_or(ProjectError::NotFound("project"))?;
                    let mail = crate::mails::invitation(
                        outbox,
                        to,
                        &inviter,
                        &project.name,
                        &row.role,
                        &token,
                    );
                    outbox.enqueue(conn, &mail).await?;
                }
                Ok(row)
            })
            .await?;
        let accept_url = format!(
            "{}/api/v1/invitations/{token}/accept",
            self.settings.public_url.trim_end_matches('/')
        );
        Ok(CreatedInvitation {
            invitation: invitation_view(row)?,
            token,
            accept_url,
        })
    }

    /// 429 when `actor` sent too many e-mail invitations in the window, or too many to the
    /// mailbox of `to`, or the mailbox received too many from anyone. The last one tells
    /// nothing of others' invitations: the same message as the second, and a fixed wait.
    async fn check_invitation_mails(
        &self,
        conn: &mut AsyncPgConnection,
        actor: UserId,
        to: &str,
    ) -> Result<(), ProjectError> {
        use repo::InvitationCount::{ByInviter, ByInviterTo, To};
        let now = Utc::now();
        repo::lock_invitation_mails(conn, actor, to).await?;
        let settings = &self.settings;
        for (which, limit, what) in [
            (ByInviter, settings.invitation_mails_per_inviter, "from you"),
            (
                ByInviterTo,
                settings.invitation_mails_per_pair,
                "to this address",
            ),
            (To, settings.invitation_mails_per_address, "to this address"),
        ] {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let sent = repo::count_invitation_mails(
                conn,
                which,
                (actor, to),
                now - INVITATION_MAIL_WINDOW,
                limit,
            )
            .await?;
            if sent.count < limit {
                continue;
            }
            let wait = match (which, sent.pivot) {
                (To, _) | (_, None) => ADDRESS_FULL_RETRY_SECS,
                (_, Some(pivot)) => {
                    let free_at = pivot + INVITATION_MAIL_WINDOW;
                    u64::try_from((free_at - now).num_seconds())
                        .unwrap_or(0)
                        .max(1)
                }
            };
            return Err(ProjectError::TooManyInvitations(what, wait));
        }
        Ok(())
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %id))]
    pub async fn invitations(
        &self,
        actor: UserId,
        id: ProjectId,
        page: PageRequest<InvitationId>,
    ) -> Result<Page<Invitation>, ProjectError> {
        let mut conn = db::conn(&self.pool).await?;
        Self::require(&mut conn, actor, id, Action::ManageMembers).await?;
        let rows = repo::pending_invitations(&mut conn, id, page.after, page.limit).await?;
        let page = Page::from_rows(rows, page.limit, |i| i.id);
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(invitation_view)
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
        })
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %id, invitation = %invitation))]
    pub async fn revoke_invitation(
        &self,
        actor: UserId,
        id: ProjectId,
        invitation: InvitationId,
    ) -> Result<(), ProjectError> {
        let mut conn = db::conn(&self.pool).await?;
        Self::require(&mut conn, actor, id, Action::ManageMembers).await?;
        if repo::revoke_invitation(&mut conn, id, invitation, actor).await? {
            Ok(())
        } else {
            Err(ProjectError::NotFound("pending invitation"))
        }
    }

    /// Accept an invitation as the signed-in user. Single use: of two concurrent accepts
    /// exactly one succeeds.
    #[instrument(skip_all, fields(user_id = %actor))]
    pub async fn accept(&self, actor: UserId, token: &str) -> Result<Membership, ProjectError> {
        let hash = secrets::digest(token);
        let me = self
            .users
            .by_ids(&[actor])
            .await
            .map_err(ProjectError::Directory)?
            .pop()
            .ok_or(ProjectError::NotFound("user"))?;
        let mut conn = db::conn(&self.pool).await?;
        let claimed = (*conn)
            .transaction::<_, ProjectError, _>(async |conn: &mut AsyncPgConnection| {
                let Some(inv) = repo::claim_invitation(conn, &hash, actor).await? else {
                    return Ok(None);
                };
                if inv.email.as_deref().is_some_and(|e| e != me.email) {
                    // Rolled back: the invitation stays open for the right person.
                    return Err(ProjectError::Forbidden(
                        "this invitation was sent to another email address".into(),
                    ));
                }
                if inv.email.is_some() && !me.email_verified {
                    // Rolled back too: proving the address is what makes it the invitee.
                    return Err(ProjectError::UnverifiedInvitee);
                }
                let project = repo::project_by_id(conn, inv.project_id).await?;
                if project.is_none_or(|p| p.deleted_at.is_some()) {
                    return Err(ProjectError::NotFound("invitation"));
                }
                let row = join(conn, &inv, actor).await?;
                repo::touch_project(conn, inv.project_id).await?;
                Ok(Some(row))
            })
            .await?;
        if let Some(row) = claimed {
            self.forget_role(row.project_id, actor).await;
            self.forget_project(row.project_id, false).await;
            tracing::info!(project_id = %row.project_id, "invitation accepted");
            return Ok(Membership {
                role: parse_role(&row.role)?,
                project_id: row.project_id,
                user_id: row.user_id,
                joined_at: row.created_at,
            });
        }
        // Say why it could not be claimed.
        let inv = repo::invitation_by_hash(&mut conn, &hash)
            .await?
            .ok_or(ProjectError::NotFound("invitation"))?;
        Err(refusal(&inv))
    }
}

/// `actor` as a member of the invitation's project: as they are if they already are one
/// (their role stays), else added with the invited role (`member.added`).
async fn join(
    conn: &mut AsyncPgConnection,
    inv: &InvitationRow,
    actor: UserId,
) -> Result<MemberRow, ProjectError> {
    if let Some(row) = repo::member_for_update(conn, inv.project_id, actor).await? {
        return Ok(row);
    }
    let now = Utc::now();
    let row = repo::insert_member(
        conn,
        &MemberRow {
            project_id: inv.project_id,
            user_id: actor,
            role: inv.role.clone(),
            created_at: now,
            updated_at: now,
            created_by: inv.created_by,
            updated_by: actor,
        },
    )
    .await?;
    events::record(conn, member_event(&row, EventKind::MemberAdded, actor)).await?;
    Ok(row)
}

/// Why an invitation that could not be claimed was refused.
fn refusal(inv: &InvitationRow) -> ProjectError {
    if inv.revoked_at.is_some() {
        ProjectError::InvitationGone("been revoked")
    } else if inv.accepted_at.is_some() {
        ProjectError::Conflict("this invitation has already been used".into())
    } else {
        ProjectError::InvitationGone("expired")
    }
}
