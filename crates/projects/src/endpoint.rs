//! HTTP handlers of the projects API: extract, call the service, map the result.

use crate::interface::{
    AddMemberRequest, ChangeRoleRequest, CreateInvitationRequest, CreateProjectRequest,
    CreatedInvitation, Invitation, Member, Membership, Project, TransferRequest,
    UpdateProjectRequest, parse_email, parse_role,
};
use crate::service::ProjectsService;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use mdz_core::auth::AuthUser;
use mdz_core::ids::{InvitationId, ProjectId, UserId};
use mdz_core::pagination::{Page, PageQuery};
use mdz_core::{ApiError, Problem};
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<ProjectsService>;

/// Routes under `/projects` (the server mounts the scope, which other domains share).
pub fn project_routes(cfg: &mut ServiceConfig) {
    cfg.service(create_project)
        .service(list_projects)
        .service(get_project)
        .service(update_project)
        .service(delete_project)
        .service(restore_project)
        .service(list_members)
        .service(add_member)
        .service(change_role)
        .service(remove_member)
        .service(transfer)
        .service(create_invitation)
        .service(list_invitations)
        .service(revoke_invitation);
}

/// `/invitations/{token}/accept`, at the API root.
pub fn invitation_routes(cfg: &mut ServiceConfig) {
    cfg.service(accept_invitation);
}

/// Create a project; the caller becomes its owner.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    request_body = CreateProjectRequest,
    responses(
        (status = 201, body = Project),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("")]
async fn create_project(
    svc: Svc,
    user: AuthUser,
    body: web::Json<CreateProjectRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = body.into_inner().parse().map_err(ApiError::validation)?;
    let project = svc.create(user.user_id, new).await?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/api/v1/projects/{}", project.id)))
        .json(project))
}

/// The caller's projects with their role, most recently active first.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<Project>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("")]
async fn list_projects(
    svc: Svc,
    user: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<Project>>, ApiError> {
    let page = query.parse::<(DateTime<Utc>, ProjectId)>()?;
    Ok(web::Json(svc.list(user.user_id, page).await?))
}

/// One project. Non-members get 404, whether or not it exists.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    responses(
        (status = 200, body = Project),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}")]
async fn get_project(
    svc: Svc,
    user: AuthUser,
    id: web::Path<ProjectId>,
) -> Result<web::Json<Project>, ApiError> {
    Ok(web::Json(svc.get(user.user_id, id.into_inner()).await?))
}

/// Rename or describe a project (admin or owner).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    request_body = UpdateProjectRequest,
    responses(
        (status = 200, body = Project),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/{id}")]
async fn update_project(
    svc: Svc,
    user: AuthUser,
    id: web::Path<ProjectId>,
    body: web::Json<UpdateProjectRequest>,
) -> Result<web::Json<Project>, ApiError> {
    let changes = body.into_inner().parse().map_err(ApiError::validation)?;
    Ok(web::Json(
        svc.update(user.user_id, id.into_inner(), changes).await?,
    ))
}

/// Delete a project (owner). It disappears at once and can be restored for 30 days.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/{id}")]
async fn delete_project(
    svc: Svc,
    user: AuthUser,
    id: web::Path<ProjectId>,
) -> Result<HttpResponse, ApiError> {
    svc.delete(user.user_id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted project (owner, within the retention period).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    responses(
        (status = 200, body = Project),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not deleted", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/restore")]
async fn restore_project(
    svc: Svc,
    user: AuthUser,
    id: web::Path<ProjectId>,
) -> Result<web::Json<Project>, ApiError> {
    Ok(web::Json(svc.restore(user.user_id, id.into_inner()).await?))
}

/// Members of a project.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), PageQuery),
    responses(
        (status = 200, body = Page<Member>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/members")]
async fn list_members(
    svc: Svc,
    user: AuthUser,
    id: web::Path<ProjectId>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<Member>>, ApiError> {
    let page = query.parse::<UserId>()?;
    Ok(web::Json(
        svc.members(user.user_id, id.into_inner(), page).await?,
    ))
}

/// Add an existing user by email (admin or owner; roles below one's own).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    request_body = AddMemberRequest,
    responses(
        (status = 201, body = Member),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/members")]
async fn add_member(
    svc: Svc,
    user: AuthUser,
    id: web::Path<ProjectId>,
    body: web::Json<AddMemberRequest>,
) -> Result<HttpResponse, ApiError> {
    let AddMemberRequest { email, role } = body.into_inner();
    let email = parse_email(&email).map_err(|m| ApiError::field("email", m))?;
    let role = parse_role(&role).map_err(ApiError::validation)?;
    let member = svc
        .add_member(user.user_id, id.into_inner(), &email, role)
        .await?;
    Ok(HttpResponse::Created().json(member))
}

/// Change a member's role (admins: below their own; owners: any; anyone: lower their own).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), ("user_id" = UserId, Path)),
    request_body = ChangeRoleRequest,
    responses(
        (status = 200, body = Member),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Would leave the project without an owner", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/{id}/members/{user_id}")]
async fn change_role(
    svc: Svc,
    user: AuthUser,
    path: web::Path<(ProjectId, UserId)>,
    body: web::Json<ChangeRoleRequest>,
) -> Result<web::Json<Member>, ApiError> {
    let (project, target) = path.into_inner();
    let role = parse_role(&body.role).map_err(ApiError::validation)?;
    Ok(web::Json(
        svc.change_role(user.user_id, project, target, role).await?,
    ))
}

/// Remove a member (admins: below their own; owners: any; anyone: themself).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), ("user_id" = UserId, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last owner cannot leave", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/{id}/members/{user_id}")]
async fn remove_member(
    svc: Svc,
    user: AuthUser,
    path: web::Path<(ProjectId, UserId)>,
) -> Result<HttpResponse, ApiError> {
    let (project, target) = path.into_inner();
    svc.remove_member(user.user_id, project, target).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Transfer ownership to another member (owner); the caller becomes admin.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    request_body = TransferRequest,
    responses(
        (status = 200, body = Project),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/transfer")]
async fn transfer(
    svc: Svc,
    user: AuthUser,
    id: web::Path<ProjectId>,
    body: web::Json<TransferRequest>,
) -> Result<web::Json<Project>, ApiError> {
    Ok(web::Json(
        svc.transfer(user.user_id, id.into_inner(), body.user_id)
            .await?,
    ))
}

/// Invite someone (admin or owner). The token and link are shown once. With an `email`, the
/// link is mailed: that needs the inviter's verified address (403 `email-unverified`) and is
/// limited per inviter and per address per day (429 with `Retry-After`).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    request_body = CreateInvitationRequest,
    responses(
        (status = 201, body = CreatedInvitation),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/invitations")]
async fn create_invitation(
    svc: Svc,
    user: AuthUser,
    id: web::Path<ProjectId>,
    body: web::Json<CreateInvitationRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = body.into_inner().parse().map_err(ApiError::validation)?;
    let created = svc.invite(user.user_id, id.into_inner(), new).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Pending invitations (admin or owner), newest first.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), PageQuery),
    responses(
        (status = 200, body = Page<Invitation>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/invitations")]
async fn list_invitations(
    svc: Svc,
    user: AuthUser,
    id: web::Path<ProjectId>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<Invitation>>, ApiError> {
    let page = query.parse::<InvitationId>()?;
    Ok(web::Json(
        svc.invitations(user.user_id, id.into_inner(), page).await?,
    ))
}

/// Revoke a pending invitation (admin or owner).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), ("inv_id" = InvitationId, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/{id}/invitations/{inv_id}")]
async fn revoke_invitation(
    svc: Svc,
    user: AuthUser,
    path: web::Path<(ProjectId, InvitationId)>,
) -> Result<HttpResponse, ApiError> {
    let (project, invitation) = path.into_inner();
    svc.revoke_invitation(user.user_id, project, invitation)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Accept an invitation as the signed-in user.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(("token" = String, Path)),
    responses(
        (status = 200, body = Membership),
        (status = 403, description = "Sent to another email address", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already used", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Expired or revoked", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/invitations/{token}/accept")]
async fn accept_invitation(
    svc: Svc,
    user: AuthUser,
    token: web::Path<String>,
) -> Result<web::Json<Membership>, ApiError> {
    Ok(web::Json(svc.accept(user.user_id, &token).await?))
}
