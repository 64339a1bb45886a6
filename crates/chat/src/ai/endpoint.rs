//! HTTP handlers of AI edits and completions (under `/files`). Streams are Server-Sent Events
//! shaped as chat's: `edit` (`{ai_edit_id}`), `delta` (`{text}`), `usage`, then `done`
//! (`{status, ai_edit_id, suggestion_id}`) or `error` (`{status, type, title}`). Without
//! `Accept: text/event-stream` the finished edit comes back as JSON.

use super::interface::{AiEdit, AskCompletion, AskEdit};
use super::{AiService, Source, Started};
use crate::endpoint::{frame, live_frames, replay, sse, wants_sse};
use crate::generation::{Ending, Event};
use crate::interface::ResumeQuery;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use mdz_core::auth::AuthUser;
use mdz_core::ids::{AiEditId, FileId};
use mdz_core::ports::Principal;
use mdz_core::{ApiError, Problem};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<AiService>;

/// Routes under `/files`.
pub fn file_routes(cfg: &mut ServiceConfig) {
    cfg.service(ask_edit)
        .service(ask_completion)
        .service(get_edit)
        .service(resume)
        .service(cancel);
}

/// The stream of a new edit, or the finished edit as JSON.
async fn answer(
    req: &HttpRequest,
    user: &Principal,
    svc: &AiService,
    file: FileId,
    started: Started,
) -> Result<HttpResponse, ApiError> {
    if wants_sse(req) {
        let head = vec![frame("edit", &json!({"ai_edit_id": started.edit.id}))];
        return Ok(sse(req, user, live_frames(head, started.listener)));
    }
    let mut events = started.listener.events;
    let ending = loop {
        match events.recv().await {
            Ok(Event::Finished(ending, _)) => break ending,
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => break Ending::Failed,
        }
    };
    if let Some(e) = ending.error() {
        return Err(e.into());
    }
    let edit = svc.get(user.user_id, file, started.edit.id).await?;
    Ok(HttpResponse::Created().json(edit))
}

/// Ask the AI to rewrite a selection, or the whole document (editors and above). The
/// answer streams and is stored as it grows; everyone in the document sees an "AI"
/// participant in presence meanwhile; when it completes it becomes an open suggestion.
#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    params(("id" = FileId, Path)),
    request_body = AskEdit,
    responses(
        (status = 201, body = AiEdit),
        (status = 200, description = "Server-Sent Events", content_type = "text/event-stream"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
        (status = 504, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/ai/edit")]
async fn ask_edit(
    req: HttpRequest,
    svc: Svc,
    user: AuthUser,
    path: web::Path<FileId>,
    body: web::Json<AskEdit>,
) -> Result<HttpResponse, ApiError> {
    let file = path.into_inner();
    let started = svc.edit(user.user_id, file, body.into_inner()).await?;
    answer(&req, &user, &svc, file, started).await
}

/// A short continuation at the cursor, for ghost text (editors and above): streamed,
/// cancellable, capped at `LLM_COMPLETE_MAX_TOKENS`; no suggestion.
#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    params(("id" = FileId, Path)),
    request_body = AskCompletion,
    responses(
        (status = 201, body = AiEdit),
        (status = 200, description = "Server-Sent Events", content_type = "text/event-stream"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
        (status = 504, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/ai/complete")]
async fn ask_completion(
    req: HttpRequest,
    svc: Svc,
    user: AuthUser,
    path: web::Path<FileId>,
    body: web::Json<AskCompletion>,
) -> Result<HttpResponse, ApiError> {
    let file = path.into_inner();
    let started = svc.complete(user.user_id, file, body.into_inner()).await?;
    answer(&req, &user, &svc, file, started).await
}

/// An AI edit or completion as stored (members of the project).
#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    params(("id" = FileId, Path), ("eid" = AiEditId, Path)),
    responses(
        (status = 200, body = AiEdit),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/ai/edits/{eid}")]
async fn get_edit(
    svc: Svc,
    user: AuthUser,
    path: web::Path<(FileId, AiEditId)>,
) -> Result<HttpResponse, ApiError> {
    let (file, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(svc.get(user.user_id, file, id).await?))
}

/// Pick an edit up again from `offset` characters: the rest so far, then live deltas while
/// it is still being written.
#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    params(("id" = FileId, Path), ("eid" = AiEditId, Path), ResumeQuery),
    responses(
        (status = 200, description = "Server-Sent Events", content_type = "text/event-stream"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/ai/edits/{eid}/stream")]
async fn resume(
    req: HttpRequest,
    svc: Svc,
    user: AuthUser,
    path: web::Path<(FileId, AiEditId)>,
    query: web::Query<ResumeQuery>,
) -> Result<HttpResponse, ApiError> {
    let (file, id) = path.into_inner();
    let offset = query.into_inner().offset.unwrap_or(0);
    match svc.resume(user.user_id, file, id, offset).await? {
        Source::Live(listener) => Ok(sse(&req, &user, live_frames(Vec::new(), listener))),
        Source::Stored(edit) => Ok(replay(
            &req,
            &user,
            &edit.content,
            &json!({"status": edit.status, "ai_edit_id": edit.id, "suggestion_id": edit.suggestion_id}),
        )),
    }
}

/// Stop an edit or completion; what it wrote stays, `cancelled`, and becomes no suggestion.
#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    params(("id" = FileId, Path), ("eid" = AiEditId, Path)),
    responses(
        (status = 202, description = "Cancelling; the edit ends as `cancelled`"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/ai/edits/{eid}/cancel")]
async fn cancel(
    svc: Svc,
    user: AuthUser,
    path: web::Path<(FileId, AiEditId)>,
) -> Result<HttpResponse, ApiError> {
    let (file, id) = path.into_inner();
    svc.cancel(user.user_id, file, id).await?;
    Ok(HttpResponse::Accepted().finish())
}
