//! HTTP handlers of suggestions: extract, call the service, map the result.

use super::SuggestionsService;
use super::interface::{NewSuggestion, Suggestion, SuggestionQuery};
use actix_web::{HttpResponse, get, post, web};
use mdz_core::auth::{AuthUser, ProposingUser};
use mdz_core::ids::{FileId, SuggestionId};
use mdz_core::pagination::{Page, PageQuery};
use mdz_core::{ApiError, Problem};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<SuggestionsService>;

/// Routes under `/files` (mounted in the scope shared with the files domain).
pub fn file_routes(cfg: &mut ServiceConfig) {
    cfg.service(list_suggestions).service(create_suggestion);
}

/// `/suggestions/*`.
pub fn routes(cfg: &mut ServiceConfig) {
    use crate::comments::endpoint::{comment_on_suggestion, suggestion_comments};
    cfg.service(
        scope("/suggestions")
            .service(accept)
            .service(reject)
            .service(suggestion_comments)
            .service(comment_on_suggestion),
    );
}

/// A document's suggestions, oldest first (any member).
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(("id" = FileId, Path), SuggestionQuery),
    responses(
        (status = 200, body = Page<Suggestion>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/suggestions")]
async fn list_suggestions(
    svc: Svc,
    user: AuthUser,
    path: web::Path<FileId>,
    query: web::Query<SuggestionQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse::<SuggestionId>()?;
    let list = svc
        .list(user.user_id, path.into_inner(), q.status.as_deref(), page)
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Suggest an edit (editor and above): the range as Yjs relative positions (`anchor`) or
/// as character offsets into a file revision (`range`), and the text to put there. A token
/// with the `suggest` scope may call this (and nothing else that writes).
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(("id" = FileId, Path)),
    request_body = NewSuggestion,
    responses(
        (status = 201, body = Suggestion),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the quoted text is not what the document holds \
            (`suggestion-stale`, with `current.text`), the revision is gone \
            (`revision-unavailable`), or the document has too many open suggestions",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/suggestions")]
async fn create_suggestion(
    svc: Svc,
    // A suggestions-only token may propose: that is what it is for.
    user: ProposingUser,
    path: web::Path<FileId>,
    body: web::Json<NewSuggestion>,
) -> Result<HttpResponse, ApiError> {
    let suggestion = svc
        .create(user.user_id, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(suggestion))
}

/// Accept a suggestion (editor and above): one edit of the live document by you. When the
/// quoted text changed meanwhile it becomes `stale` and nothing is changed (409, with the
/// text now there in `current.text`).
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(("id" = SuggestionId, Path)),
    responses(
        (status = 200, body = Suggestion),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "stale (`suggestion-stale`) or already settled \
            (`suggestion-not-open`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/accept")]
async fn accept(
    svc: Svc,
    user: AuthUser,
    path: web::Path<SuggestionId>,
) -> Result<HttpResponse, ApiError> {
    let suggestion = svc.accept(user.user_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(suggestion))
}

/// Reject an open suggestion (editor and above).
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    params(("id" = SuggestionId, Path)),
    responses(
        (status = 200, body = Suggestion),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/reject")]
async fn reject(
    svc: Svc,
    user: AuthUser,
    path: web::Path<SuggestionId>,
) -> Result<HttpResponse, ApiError> {
    let suggestion = svc.reject(user.user_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(suggestion))
}
