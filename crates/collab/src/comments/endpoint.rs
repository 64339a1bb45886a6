//! HTTP handlers of comments and notifications: extract, call the service, map the result.

use super::CommentsService;
use super::interface::{
    Comment, MarkRead, MarkedRead, NewComment, NewReply, Notification, NotificationQuery, Thread,
    ThreadQuery, UpdateComment,
};
use actix_web::{HttpResponse, delete, get, patch, post, web};
use mdz_core::auth::AuthUser;
use mdz_core::ids::{CommentId, FileId, SuggestionId};
use mdz_core::pagination::{Page, PageQuery};
use mdz_core::{ApiError, Problem};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<CommentsService>;

/// Routes under `/files` (the server mounts them in the scope it shares with the files domain).
pub fn file_routes(cfg: &mut ServiceConfig) {
    cfg.service(list_comments).service(create_comment);
}

/// `/comments/*` and `/notifications/*`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/comments")
            .service(reply)
            .service(update_comment)
            .service(delete_comment),
    )
    .service(
        scope("/notifications")
            .service(list_notifications)
            .service(mark_read),
    );
}

/// A document's comment threads, oldest first, each with its replies.
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(("id" = FileId, Path), ThreadQuery),
    responses(
        (status = 200, body = Page<Thread>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/comments")]
async fn list_comments(
    svc: Svc,
    user: AuthUser,
    path: web::Path<FileId>,
    query: web::Query<ThreadQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse::<CommentId>()?;
    let threads = svc
        .threads(user.user_id, path.into_inner(), q.resolved, page)
        .await?;
    Ok(HttpResponse::Ok().json(threads))
}

/// Comment on a document (commenter and above). Anchor it with the quoted text and the
/// client's Yjs relative positions; `@email` mentions notify members.
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(("id" = FileId, Path)),
    request_body = NewComment,
    responses(
        (status = 201, body = Comment),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/comments")]
async fn create_comment(
    svc: Svc,
    user: AuthUser,
    path: web::Path<FileId>,
    body: web::Json<NewComment>,
) -> Result<HttpResponse, ApiError> {
    let comment = svc
        .create(user.user_id, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(comment))
}

/// Reply to a thread (commenter and above).
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(("id" = CommentId, Path)),
    request_body = NewReply,
    responses(
        (status = 201, body = Comment),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/replies")]
async fn reply(
    svc: Svc,
    user: AuthUser,
    path: web::Path<CommentId>,
    body: web::Json<NewReply>,
) -> Result<HttpResponse, ApiError> {
    let comment = svc
        .reply(user.user_id, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(comment))
}

/// Edit your comment's body, or resolve/reopen a thread (commenter and above).
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(("id" = CommentId, Path)),
    request_body = UpdateComment,
    responses(
        (status = 200, body = Comment),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/{id}")]
async fn update_comment(
    svc: Svc,
    user: AuthUser,
    path: web::Path<CommentId>,
    body: web::Json<UpdateComment>,
) -> Result<HttpResponse, ApiError> {
    let comment = svc
        .update(user.user_id, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(comment))
}

/// Delete a comment (its author, or an admin); a thread's first comment takes its replies.
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(("id" = CommentId, Path)),
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/{id}")]
async fn delete_comment(
    svc: Svc,
    user: AuthUser,
    path: web::Path<CommentId>,
) -> Result<HttpResponse, ApiError> {
    svc.delete(user.user_id, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Your notifications: unread first, newest first.
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(NotificationQuery),
    responses(
        (status = 200, body = Page<Notification>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("")]
async fn list_notifications(
    svc: Svc,
    user: AuthUser,
    query: web::Query<NotificationQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    let list = svc
        .notifications(user.user_id, q.unread.unwrap_or(false), page)
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Mark notifications read: the listed ones, or all of yours.
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    request_body = MarkRead,
    responses(
        (status = 200, body = MarkedRead),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/read")]
async fn mark_read(
    svc: Svc,
    user: AuthUser,
    body: web::Json<MarkRead>,
) -> Result<HttpResponse, ApiError> {
    let updated = svc.mark_read(user.user_id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(MarkedRead { updated }))
}

/// A suggestion's comment thread, oldest first (any member; mounted under `/suggestions`).
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(("id" = SuggestionId, Path), PageQuery),
    responses(
        (status = 200, body = Page<Comment>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/comments")]
pub(crate) async fn suggestion_comments(
    svc: Svc,
    user: AuthUser,
    path: web::Path<SuggestionId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.into_inner().parse::<CommentId>()?;
    let comments = svc
        .suggestion_comments(user.user_id, path.into_inner(), page)
        .await?;
    Ok(HttpResponse::Ok().json(comments))
}

/// Discuss a suggestion (commenter and above; only editors and above accept or reject it).
/// `@email` mentions notify members.
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(("id" = SuggestionId, Path)),
    request_body = NewReply,
    responses(
        (status = 201, body = Comment),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/comments")]
pub(crate) async fn comment_on_suggestion(
    svc: Svc,
    user: AuthUser,
    path: web::Path<SuggestionId>,
    body: web::Json<NewReply>,
) -> Result<HttpResponse, ApiError> {
    let comment = svc
        .comment_on_suggestion(user.user_id, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(comment))
}
