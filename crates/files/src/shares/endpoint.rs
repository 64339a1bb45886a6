//! HTTP handlers for managing share links (the API side; readers' pages are in `pages.rs`).

use super::{CreateShare, CreatedShare, Share, SharesService};
use actix_web::{HttpResponse, delete, get, post, web};
use mdz_core::auth::AuthUser;
use mdz_core::ids::{ProjectId, ShareId};
use mdz_core::{ApiError, Problem};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<SharesService>;

/// `POST|GET /projects/{id}/shares`, under the shared `/projects` scope.
pub fn project_routes(cfg: &mut ServiceConfig) {
    cfg.service(create_share).service(list_shares);
}

/// `DELETE /shares/{id}`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(scope("/shares").service(delete_share));
}

/// Share a document or a folder by a public link (editor or above). The token and the URL
/// are in this answer only.
#[utoipa::path(
    tag = "shares",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    request_body = CreateShare,
    responses(
        (status = 201, body = CreatedShare),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The project has too many shares", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many passwords being hashed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/shares")]
async fn create_share(
    svc: Svc,
    user: AuthUser,
    project: web::Path<ProjectId>,
    body: web::Json<CreateShare>,
) -> Result<HttpResponse, ApiError> {
    let created = svc
        .create(user.user_id, project.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// The project's share links, newest first (editor or above); tokens are never shown again.
#[utoipa::path(
    tag = "shares",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    responses(
        (status = 200, body = Vec<Share>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/shares")]
async fn list_shares(
    svc: Svc,
    user: AuthUser,
    project: web::Path<ProjectId>,
) -> Result<web::Json<Vec<Share>>, ApiError> {
    Ok(web::Json(
        svc.list(user.user_id, project.into_inner()).await?,
    ))
}

/// Delete a share link (editor or above of its project): its URL answers 404 from now on.
#[utoipa::path(
    tag = "shares",
    security(("bearer" = [])),
    params(("id" = ShareId, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/{id}")]
async fn delete_share(
    svc: Svc,
    user: AuthUser,
    id: web::Path<ShareId>,
) -> Result<HttpResponse, ApiError> {
    svc.delete(user.user_id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
