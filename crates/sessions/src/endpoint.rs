//! HTTP handlers of sessions: extract, call the service, map the result.

use crate::interface::{CreateSession, ListQuery, Session, UpdateSession};
use crate::service::SessionsService;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use mdz_core::auth::AuthUser;
use mdz_core::ids::{ChatSessionId, ProjectId};
use mdz_core::pagination::{Page, PageQuery};
use mdz_core::{ApiError, Problem};
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<SessionsService>;

/// Routes under `/projects` (the server mounts them in the scope it shares).
pub fn project_routes(cfg: &mut ServiceConfig) {
    cfg.service(create_session).service(list_sessions);
}

/// Routes under `/sessions` (the server mounts them in the scope chat shares).
pub fn session_routes(cfg: &mut ServiceConfig) {
    cfg.service(get_session)
        .service(update_session)
        .service(delete_session);
}

/// Start an AI conversation in a project (editors and above).
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    request_body = CreateSession,
    responses(
        (status = 201, body = Session),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/sessions")]
async fn create_session(
    svc: Svc,
    user: AuthUser,
    path: web::Path<ProjectId>,
    body: web::Json<CreateSession>,
) -> Result<HttpResponse, ApiError> {
    let session = svc
        .create(user.user_id, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(session))
}

/// The project's sessions you may read, newest activity first (`?archived=true` for the
/// archive). Private sessions are listed only to their creator.
#[utoipa::path(
    tag = "sessions",
    operation_id = "list_project_sessions",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), ListQuery),
    responses(
        (status = 200, body = Page<Session>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/sessions")]
async fn list_sessions(
    svc: Svc,
    user: AuthUser,
    path: web::Path<ProjectId>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    let list = svc
        .list(
            user.user_id,
            path.into_inner(),
            q.archived.unwrap_or(false),
            page,
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One session.
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = ChatSessionId, Path)),
    responses(
        (status = 200, body = Session),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}")]
async fn get_session(
    svc: Svc,
    user: AuthUser,
    path: web::Path<ChatSessionId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.get(user.user_id, path.into_inner()).await?))
}

/// Rename, re-instruct, pin documents, change visibility, archive (its creator, or an admin
/// for a project session).
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = ChatSessionId, Path)),
    request_body = UpdateSession,
    responses(
        (status = 200, body = Session),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/{id}")]
async fn update_session(
    svc: Svc,
    user: AuthUser,
    path: web::Path<ChatSessionId>,
    body: web::Json<UpdateSession>,
) -> Result<HttpResponse, ApiError> {
    let session = svc
        .update(user.user_id, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(session))
}

/// Delete a session and its messages (its creator, or an admin for a project session).
#[utoipa::path(
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = ChatSessionId, Path)),
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/{id}")]
async fn delete_session(
    svc: Svc,
    user: AuthUser,
    path: web::Path<ChatSessionId>,
) -> Result<HttpResponse, ApiError> {
    svc.delete(user.user_id, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
