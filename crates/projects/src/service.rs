//! The project rules: who may do what to a project, its members and its invitations.

use crate::error::ProjectError;
use crate::interface::{CreateProjectRequest, Member, NewProject, Project, ProjectChanges};
use crate::repo::{self, MemberRow, ProjectRow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::access::{
    self, AccessError, Action, CreateProjectError, CreatedProject, ProjectAccess, ProjectCreator,
    ProjectSummary, Role,
};
use mdz_core::cache::Cache;
use mdz_core::db::{self, DbPool, is_unique_violation};
use mdz_core::events::{self, EventKind, NewEvent};
use mdz_core::ids::{ProjectId, UserId};
use mdz_core::kv::SharedKv;
use mdz_core::pagination::{Page, PageRequest};
use mdz_core::ports::UserDirectory;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::instrument;

/// Prefix of invitation tokens.
pub const INVITATION_PREFIX: &str = "mdz_inv_";

#[derive(Debug, Clone)]
pub struct ProjectSettings {
    /// Base URL clients reach mdz at, for invitation links.
    pub public_url: String,
    /// How long a deleted project can be restored before it is purged.
    pub retention: Duration,
    /// Where invitation mails are queued.
    pub outbox: mdz_core::mail::Outbox,
    /// E-mail invitations in [`INVITATION_MAIL_WINDOW`](crate::invitations::INVITATION_MAIL_WINDOW): per inviter, per inviter and
    /// mailbox, and per mailbox from anyone.
    pub invitation_mails_per_inviter: u64,
    pub invitation_mails_per_pair: u64,
    pub invitation_mails_per_address: u64,
}

pub struct ProjectsService {
    pub(crate) pool: DbPool,
    pub(crate) users: Arc<dyn UserDirectory>,
    pub(crate) settings: ProjectSettings,
    /// `{project}:{user}` → role (or none): the hot path of every request in a project.
    roles: Arc<Cache<Option<Role>>>,
    /// `{project}` → the live project row.
    projects: Arc<Cache<Arc<ProjectRow>>>,
}

/// `{project}:{user}`, built without the formatting machinery (this is on every request).
fn role_key(project: ProjectId, user: UserId) -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    let mut key = String::with_capacity(73);
    key.push_str(project.0.hyphenated().encode_lower(&mut buf));
    key.push(':');
    key.push_str(user.0.hyphenated().encode_lower(&mut buf));
    key
}

fn project_key(project: ProjectId) -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    project.0.hyphenated().encode_lower(&mut buf).to_owned()
}

pub(crate) fn parse_role(stored: &str) -> Result<Role, ProjectError> {
    stored
        .parse()
        .map_err(|_| ProjectError::Internal(format!("unknown role {stored:?} in the database")))
}

fn project_view(p: ProjectRow, role: Role) -> Project {
    Project {
        id: p.id,
        name: p.name,
        description: p.description,
        role,
        created_at: p.created_at,
        updated_at: p.updated_at,
        last_activity_at: p.last_activity_at,
        created_by: p.created_by,
        updated_by: p.updated_by,
        deleted_at: p.deleted_at,
    }
}

/// A project event about a membership (who, and their role after the change).
pub(crate) fn member_event(row: &MemberRow, kind: EventKind, actor: UserId) -> NewEvent {
    NewEvent {
        project: row.project_id,
        kind,
        actor: Some(actor),
        recipient: None,
        data: serde_json::json!({"user_id": row.user_id, "role": row.role}),
    }
}

/// May `actor` give someone `role`? Owners may give any role; others only roles below their own.
pub(crate) fn may_assign(actor: Role, role: Role) -> bool {
    actor == Role::Owner || actor.rank() > role.rank()
}

/// May `actor` change or remove a member who has `target`? Owners manage everyone; admins
/// manage members below them.
fn may_manage(actor: Role, target: Role) -> bool {
    actor == Role::Owner || (actor.at_least(Role::Admin) && actor.rank() > target.rank())
}

pub(crate) fn needs(role: Role) -> ProjectError {
    ProjectError::Forbidden(format!("this needs the {role} role or higher"))
}

impl ProjectsService {
    pub fn new(
        pool: DbPool,
        kv: SharedKv,
        users: Arc<dyn UserDirectory>,
        settings: ProjectSettings,
    ) -> Self {
        let ttl = Duration::from_secs(60);
        Self {
            pool,
            users,
            settings,
            roles: Cache::new("project-roles", kv.clone(), ttl, 200_000),
            projects: Cache::new("projects", kv, ttl, 50_000),
        }
    }

    /// The caller's role through the cache (read paths only; writes check inside their
    /// transaction).
    async fn cached_role(
        &self,
        user: UserId,
        project: ProjectId,
    ) -> Result<Option<Role>, ProjectError> {
        if !access::reachable(project) {
            return Ok(None);
        }
        let key = role_key(project, user);
        if let Some(role) = self.roles.get(&key) {
            return Ok(role);
        }
        let epoch = self.roles.epoch();
        let mut conn = db::conn(&self.pool).await?;
        let role = Self::role_in(&mut conn, user, project).await?;
        self.roles.insert(key, role, epoch);
        Ok(role)
    }

    async fn cached_project(&self, id: ProjectId) -> Result<Option<Arc<ProjectRow>>, ProjectError> {
        let key = project_key(id);
        if let Some(p) = self.projects.get(&key) {
            return Ok(Some(p));
        }
        let epoch = self.projects.epoch();
        let mut conn = db::conn(&self.pool).await?;
        let found = repo::project_by_id(&mut conn, id).await?.map(Arc::new);
        if let Some(p) = &found {
            self.projects.insert(key, p.clone(), epoch);
        }
        Ok(found)
    }

    /// After a write to a project's membership: drop the member's cached role everywhere.
    pub(crate) async fn forget_role(&self, project: ProjectId, user: UserId) {
        self.roles.invalidate(&role_key(project, user)).await;
    }

    /// After a write to the project row (or its deletion): drop it and, when it came or went,
    /// every cached role in it.
    pub(crate) async fn forget_project(&self, project: ProjectId, roles_too: bool) {
        self.projects.invalidate(&project_key(project)).await;
        if roles_too {
            self.roles.invalidate_prefix(&format!("{project}:")).await;
        }
    }

    async fn role_in(
        conn: &mut AsyncPgConnection,
        user: UserId,
        project: ProjectId,
    ) -> Result<Option<Role>, ProjectError> {
        // A credential limited to other projects sees this one as a non-member would.
        if !access::reachable(project) {
            return Ok(None);
        }
        repo::role_of(conn, user, project, false)
            .await?
            .map(|r| parse_role(&r))
            .transpose()
    }

    /// The caller's role when it allows `action`: 404 for non-members, 403 below the role.
    pub(crate) async fn require(
        conn: &mut AsyncPgConnection,
        user: UserId,
        project: ProjectId,
        action: Action,
    ) -> Result<Role, ProjectError> {
        Ok(action.check(Self::role_in(conn, user, project).await?)?)
    }

    #[instrument(skip_all, fields(user_id = %actor))]
    pub async fn create(&self, actor: UserId, new: NewProject) -> Result<Project, ProjectError> {
        let mut conn = db::conn(&self.pool).await?;
        let project = (*conn)
            .transaction::<_, ProjectError, _>(async |conn: &mut AsyncPgConnection| {
                Self::insert_with_owner(conn, ProjectId::new(), actor, new).await
            })
            .await?;
        tracing::info!(project_id = %project.id, "project created");
        Ok(project_view(project, Role::Owner))
    }

    /// The rows of a new project: the project and its owner's membership (inside the
    /// caller's transaction: `create`, or an import through [`ProjectCreator`]).
    async fn insert_with_owner(
        conn: &mut AsyncPgConnection,
        id: ProjectId,
        actor: UserId,
        new: NewProject,
    ) -> Result<ProjectRow, ProjectError> {
        let now = Utc::now();
        let row = ProjectRow {
            id,
            name: new.name,
            description: new.description,
            last_activity_at: now,
            deleted_at: None,
            deleted_by: None,
            created_at: now,
            updated_at: now,
            created_by: actor,
            updated_by: actor,
        };
        let project = repo::insert_project(conn, &row).await?;
        repo::insert_member(
            conn,
            &MemberRow {
                project_id: project.id,
                user_id: actor,
                role: Role::Owner.as_str().to_owned(),
                created_at: now,
                updated_at: now,
                created_by: actor,
                updated_by: actor,
            },
        )
        .await?;
        Ok(project)
    }

    #[instrument(skip_all, fields(user_id = %actor))]
    pub async fn list(
        &self,
        actor: UserId,
        page: PageRequest<(DateTime<Utc>, ProjectId)>,
    ) -> Result<Page<Project>, ProjectError> {
        let mut conn = db::conn(&self.pool).await?;
        let rows = repo::projects_of(&mut conn, actor, page.after, page.limit).await?;
        let page = Page::from_rows(rows, page.limit, |(p, _)| (p.last_activity_at, p.id));
        let mut items = Vec::with_capacity(page.items.len());
        for (p, role) in page.items {
            if access::reachable(p.id) {
                items.push(project_view(p, parse_role(&role)?));
            }
        }
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %id))]
    pub async fn get(&self, actor: UserId, id: ProjectId) -> Result<Project, ProjectError> {
        let role = Action::Read.check(self.cached_role(actor, id).await?)?;
        let project = self
            .cached_project(id)
            .await?
            .ok_or(AccessError::NotFound)?;
        Ok(project_view(ProjectRow::clone(&project), role))
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %id))]
    pub async fn update(
        &self,
        actor: UserId,
        id: ProjectId,
        changes: ProjectChanges,
    ) -> Result<Project, ProjectError> {
        let mut conn = db::conn(&self.pool).await?;
        // One transaction: the row stays locked from the read of the fields left unchanged
        // to the write, so two concurrent edits of different fields both land, and a project
        // deleted meanwhile is not written to.
        let (project, role) = (*conn)
            .transaction::<_, ProjectError, _>(async |conn: &mut AsyncPgConnection| {
                let role = Self::require(conn, actor, id, Action::Configure).await?;
                let current = repo::lock_live_project(conn, id)
                    .await?
                    .ok_or(AccessError::NotFound)?;
                let project = repo::update_project(
                    conn,
                    &current,
                    actor,
                    changes.name.as_deref(),
                    changes.description.as_deref(),
                )
                .await?;
                Ok((project, role))
            })
            .await?;
        self.forget_project(id, false).await;
        Ok(project_view(project, role))
    }

    /// Soft delete: gone from every list at once, restorable by an owner until purged.
    #[instrument(skip_all, fields(user_id = %actor, project_id = %id))]
    pub async fn delete(&self, actor: UserId, id: ProjectId) -> Result<(), ProjectError> {
        let mut conn = db::conn(&self.pool).await?;
        Self::require(&mut conn, actor, id, Action::Administer).await?;
        (*conn)
            .transaction::<_, ProjectError, _>(async |conn: &mut AsyncPgConnection| {
                repo::set_deleted(conn, id, actor, true).await?;
                let deleted = NewEvent {
                    project: id,
                    kind: EventKind::ProjectDeleted,
                    actor: Some(actor),
                    recipient: None,
                    data: serde_json::json!({}),
                };
                Ok(events::record(conn, deleted).await?)
            })
            .await?;
        self.forget_project(id, true).await;
        tracing::info!("project deleted (restorable)");
        Ok(())
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %id))]
    pub async fn restore(&self, actor: UserId, id: ProjectId) -> Result<Project, ProjectError> {
        if !access::reachable(id) {
            return Err(AccessError::NotFound.into());
        }
        let mut conn = db::conn(&self.pool).await?;
        let role = repo::role_of(&mut conn, actor, id, true)
            .await?
            .map(|r| parse_role(&r))
            .transpose()?
            .ok_or(AccessError::NotFound)?;
        if role != Role::Owner {
            return Err(AccessError::Forbidden {
                needed: Role::Owner,
            }
            .into());
        }
        let project = repo::project_by_id(&mut conn, id)
            .await?
            .ok_or(AccessError::NotFound)?;
        let retention = chrono::Duration::from_std(self.settings.retention).unwrap_or_default();
        match project.deleted_at {
            None => return Err(ProjectError::Conflict("the project is not deleted".into())),
            Some(at) if at < Utc::now() - retention => return Err(AccessError::NotFound.into()),
            Some(_) => {}
        }
        let project = repo::set_deleted(&mut conn, id, actor, false)
            .await?
            .ok_or(AccessError::NotFound)?;
        self.forget_project(id, true).await;
        tracing::info!("project restored");
        Ok(project_view(project, role))
    }

    /// Purge projects deleted longer ago than the retention period.
    pub async fn purge(&self) -> Result<usize, ProjectError> {
        let retention = chrono::Duration::from_std(self.settings.retention).unwrap_or_default();
        let mut conn = db::conn(&self.pool).await?;
        Ok(repo::purge_deleted_before(&mut conn, Utc::now() - retention).await?)
    }

    // ---- members ------------------------------------------------------------------------

    async fn member_views(&self, rows: Vec<MemberRow>) -> Result<Vec<Member>, ProjectError> {
        let ids: Vec<UserId> = rows.iter().map(|m| m.user_id).collect();
        let users: HashMap<UserId, _> = self
            .users
            .by_ids(&ids)
            .await
            .map_err(ProjectError::Directory)?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        rows.into_iter()
            .map(|m| {
                let user = users.get(&m.user_id);
                Ok(Member {
                    role: parse_role(&m.role)?,
                    user_id: m.user_id,
                    display_name: user.map(|u| u.display_name.clone()).unwrap_or_default(),
                    email: user.map(|u| u.email.clone()).unwrap_or_default(),
                    joined_at: m.created_at,
                })
            })
            .collect()
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %id))]
    pub async fn members(
        &self,
        actor: UserId,
        id: ProjectId,
        page: PageRequest<UserId>,
    ) -> Result<Page<Member>, ProjectError> {
        Action::Read.check(self.cached_role(actor, id).await?)?;
        let mut conn = db::conn(&self.pool).await?;
        let rows = repo::members(&mut conn, id, page.after, page.limit).await?;
        drop(conn);
        let page = Page::from_rows(rows, page.limit, |m| m.user_id);
        Ok(Page {
            items: self.member_views(page.items).await?,
            next_cursor: page.next_cursor,
        })
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %id))]
    pub async fn add_member(
        &self,
        actor: UserId,
        id: ProjectId,
        email: &str,
        role: Role,
    ) -> Result<Member, ProjectError> {
        let mut conn = db::conn(&self.pool).await?;
        let actor_role = Self::require(&mut conn, actor, id, Action::ManageMembers).await?;
        if !may_assign(actor_role, role) {
            return Err(needs(Role::Owner));
        }
        let user = self
            .users
            .by_email(email)
            .await
            .map_err(ProjectError::Directory)?
            .ok_or_else(|| {
                ProjectError::Validation(vec![mdz_core::FieldError {
                    field: "email".into(),
                    message: "no account has this email; send an invitation instead".into(),
                }])
            })?;
        if !user.email_verified {
            // Whoever registered the address first must not get access meant for its owner.
            return Err(ProjectError::UnverifiedMember);
        }
        let now = Utc::now();
        let row = MemberRow {
            project_id: id,
            user_id: user.id,
            role: role.as_str().to_owned(),
            created_at: now,
            updated_at: now,
            created_by: actor,
            updated_by: actor,
        };
        let row = (*conn)
            .transaction::<_, ProjectError, _>(async |conn: &mut AsyncPgConnection| {
                let row = repo::insert_member(conn, &row).await.map_err(|e| {
                    if is_unique_violation(&e) {
                        ProjectError::Conflict("this user is already a member".into())
                    } else {
                        e.into()
                    }
                })?;
                repo::touch_project(conn, id).await?;
                events::record(conn, member_event(&row, EventKind::MemberAdded, actor)).await?;
                Ok(row)
            })
            .await?;
        self.forget_role(id, user.id).await;
        self.forget_project(id, false).await;
        Ok(Member {
            user_id: row.user_id,
            display_name: user.display_name,
            email: user.email,
            role,
            joined_at: row.created_at,
        })
    }

    /// Change a member's role. Concurrent changes of one member serialise on its row; the
    /// database refuses to leave a project without an owner.
    #[instrument(skip_all, fields(user_id = %actor, project_id = %id, member = %target))]
    pub async fn change_role(
        &self,
        actor: UserId,
        id: ProjectId,
        target: UserId,
        role: Role,
    ) -> Result<Member, ProjectError> {
        let mut conn = db::conn(&self.pool).await?;
        let row = (*conn)
            .transaction::<_, ProjectError, _>(async |conn: &mut AsyncPgConnection| {
                let actor_role = Self::require(conn, actor, id, Action::Read).await?;
                let current = repo::member_for_update(conn, id, target)
                    .await?
                    .ok_or(ProjectError::NotFound("member"))?;
                let current_role = parse_role(&current.role)?;
                if target == actor {
                    // Anyone may step down; stepping up is someone else's call.
                    if role.rank() > current_role.rank() {
                        return Err(ProjectError::Forbidden(
                            "you cannot raise your own role".into(),
                        ));
                    }
                } else {
                    if !actor_role.at_least(Role::Admin) {
                        return Err(AccessError::Forbidden {
                            needed: Role::Admin,
                        }
                        .into());
                    }
                    if !may_manage(actor_role, current_role) || !may_assign(actor_role, role) {
                        return Err(needs(Role::Owner));
                    }
                }
                let row = repo::set_role(conn, id, target, role.as_str(), actor).await?;
                if role != current_role {
                    let event = member_event(&row, EventKind::MemberRoleChanged, actor);
                    events::record(conn, event).await?;
                }
                Ok(row)
            })
            .await?;
        drop(conn);
        self.forget_role(id, target).await;
        self.member_views(vec![row])
            .await?
            .pop()
            .ok_or(ProjectError::NotFound("member"))
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %id, member = %target))]
    pub async fn remove_member(
        &self,
        actor: UserId,
        id: ProjectId,
        target: UserId,
    ) -> Result<(), ProjectError> {
        let mut conn = db::conn(&self.pool).await?;
        (*conn)
            .transaction::<_, ProjectError, _>(async |conn: &mut AsyncPgConnection| {
                let actor_role = Self::require(conn, actor, id, Action::Read).await?;
                let current = repo::member_for_update(conn, id, target)
                    .await?
                    .ok_or(ProjectError::NotFound("member"))?;
                if target != actor {
                    if !actor_role.at_least(Role::Admin) {
                        return Err(AccessError::Forbidden {
                            needed: Role::Admin,
                        }
                        .into());
                    }
                    if !may_manage(actor_role, parse_role(&current.role)?) {
                        return Err(needs(Role::Owner));
                    }
                }
                repo::delete_member(conn, id, target).await?;
                events::record(
                    conn,
                    member_event(&current, EventKind::MemberRemoved, actor),
                )
                .await?;
                Ok(())
            })
            .await?;
        self.forget_role(id, target).await;
        tracing::info!("member removed");
        Ok(())
    }

    /// Make `target` an owner and the caller an admin.
    #[instrument(skip_all, fields(user_id = %actor, project_id = %id, member = %target))]
    pub async fn transfer(
        &self,
        actor: UserId,
        id: ProjectId,
        target: UserId,
    ) -> Result<Project, ProjectError> {
        let mut conn = db::conn(&self.pool).await?;
        (*conn)
            .transaction::<_, ProjectError, _>(async |conn: &mut AsyncPgConnection| {
                Self::require(conn, actor, id, Action::Administer).await?;
                if target == actor {
                    return Err(ProjectError::Conflict(
                        "you already own this project".into(),
                    ));
                }
                repo::member_for_update(conn, id, target)
                    .await?
                    .ok_or(ProjectError::NotFound("member"))?;
                for (user, role) in [(target, Role::Owner), (actor, Role::Admin)] {
                    let row = repo::set_role(conn, id, user, role.as_str(), actor).await?;
                    let event = member_event(&row, EventKind::MemberRoleChanged, actor);
                    events::record(conn, event).await?;
                }
                Ok(())
            })
            .await?;
        self.forget_role(id, target).await;
        self.forget_role(id, actor).await;
        tracing::info!("ownership transferred");
        let project = repo::project_by_id(&mut conn, id)
            .await?
            .ok_or(AccessError::NotFound)?;
        Ok(project_view(project, Role::Admin))
    }
}

#[async_trait]
impl ProjectCreator for ProjectsService {
    fn check_name(&self, name: &str) -> Result<(), CreateProjectError> {
        crate::interface::parse_name(name).map(drop).map_err(|why| {
            CreateProjectError::Invalid(vec![mdz_core::FieldError::new("name", why)])
        })
    }

    async fn create_in(
        &self,
        conn: &mut AsyncPgConnection,
        id: ProjectId,
        owner: UserId,
        name: &str,
        description: &str,
    ) -> Result<CreatedProject, CreateProjectError> {
        let new = CreateProjectRequest {
            name: name.to_owned(),
            description: Some(description.to_owned()),
        }
        .parse()
        .map_err(CreateProjectError::Invalid)?;
        let row = Self::insert_with_owner(conn, id, owner, new)
            .await
            .map_err(|e| match e {
                ProjectError::Db(db) => CreateProjectError::Db(db),
                other => CreateProjectError::Internal(other.to_string()),
            })?;
        tracing::info!(project_id = %row.id, "project created (import)");
        Ok(CreatedProject {
            id: row.id,
            name: row.name,
            description: row.description,
            created_at: row.created_at,
        })
    }
}

#[async_trait]
impl ProjectAccess for ProjectsService {
    async fn role(&self, user: UserId, project: ProjectId) -> Result<Option<Role>, AccessError> {
        self.cached_role(user, project)
            .await
            .map_err(|e| AccessError::Unavailable(e.to_string()))
    }

    async fn readable_projects(&self, user: UserId) -> Result<Vec<ProjectId>, AccessError> {
        let mut conn = db::conn(&self.pool)
            .await
            .map_err(|e| AccessError::Unavailable(e.to_string()))?;
        let mut ids = repo::project_ids_of(&mut conn, user)
            .await
            .map_err(|e| AccessError::Unavailable(e.to_string()))?;
        access::keep_reachable(&mut ids);
        Ok(ids)
    }

    async fn managers(&self, project: ProjectId) -> Result<Vec<UserId>, AccessError> {
        let mut conn = db::conn(&self.pool)
            .await
            .map_err(|e| AccessError::Unavailable(e.to_string()))?;
        repo::managers(&mut conn, project)
            .await
            .map_err(|e| AccessError::Unavailable(e.to_string()))
    }

    async fn summary(&self, project: ProjectId) -> Result<Option<ProjectSummary>, AccessError> {
        let row = self
            .cached_project(project)
            .await
            .map_err(|e| AccessError::Unavailable(e.to_string()))?;
        Ok(row
            .filter(|p| p.deleted_at.is_none())
            .map(|p| ProjectSummary {
                name: p.name.clone(),
                description: p.description.clone(),
            }))
    }
}

pub type SharedProjectsService = Arc<ProjectsService>;
