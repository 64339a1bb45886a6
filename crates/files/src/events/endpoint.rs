//! `GET /projects/{id}/events`: the project's live events as Server-Sent Events.

use super::EventFeed;
use super::stream::{Live, position_frame};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use mdz_core::access::{Action, ProjectAccess};
use mdz_core::auth::AuthUser;
use mdz_core::events::{EventCursor, ProjectFeed};
use mdz_core::ids::ProjectId;
use mdz_core::{ApiError, Problem};
use serde::Deserialize;
use std::collections::VecDeque;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// `/projects/{id}/events` (the server mounts this under `/projects`).
pub fn project_routes(cfg: &mut ServiceConfig) {
    cfg.service(project_events);
}

/// Where the client asks to resume: `Last-Event-ID`, else `?after=` (an empty one is no
/// id, as EventSource sends after a stream that gave none); a bad one is a 422 naming the
/// field that was sent.
fn resume_id(req: &HttpRequest, query: EventsQuery) -> Result<Option<EventCursor>, ApiError> {
    let header = req
        .headers()
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("?").trim().to_owned())
        .filter(|id| !id.is_empty())
        .map(|id| ("Last-Event-ID", id));
    let asked = header.or_else(|| {
        query
            .after
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .map(|id| ("after", id))
    });
    asked
        .map(|(field, id)| {
            id.parse::<EventCursor>()
                .map_err(|e| ApiError::field(field, format!("{e}: send an id this stream gave")))
        })
        .transpose()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this event id, for clients that cannot send `Last-Event-ID` (the
    /// header wins when both are sent).
    pub after: Option<String>,
}

/// The project's events as they happen (any member): documents and attachments created,
/// updated, renamed, trashed or restored; comments; suggestions created, accepted, rejected
/// or stale; member changes; and the caller's own notifications. Each event is an SSE
/// `message` whose `id` is where the feed stands after it and whose data is `{id, type,
/// project_id, actor, at, data}`. Without `Last-Event-ID` (or `?after=`) the stream starts at
/// the present; with one it first sends everything after it, so a reconnecting client misses
/// nothing, on any replica. `ready` opens the stream with the position; `reset` says the
/// asked position is older than the kept history or ahead of the feed (reload, then follow
/// from the `reset`'s id).
/// A comment line every 15 s keeps it open. It ends when the caller's access ends (removed,
/// project deleted, credential revoked).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = [])),
    params(
        ("id" = ProjectId, Path),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
        EventsQuery,
    ),
    responses(
        (status = 200, description = "Server-Sent Events", content_type = "text/event-stream"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many event streams open", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/events")]
async fn project_events(
    req: HttpRequest,
    feed: web::Data<EventFeed>,
    access: web::Data<dyn ProjectAccess>,
    user: AuthUser,
    project: web::Path<ProjectId>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let project = project.into_inner();
    access.require(user.user_id, project, Action::Read).await?;
    let asked = resume_id(&req, query.into_inner())?;
    let feed = feed.into_inner();
    let max = feed.settings.max_per_user;
    let slot = feed.take_slot(user.user_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-event-streams",
            "Too many event streams",
        )
        .detail(format!(
            "a user may have {max} event streams open at once; close one first"
        ))
    })?;
    // Subscribe before reading where the feed stands, so no nudge falls in between.
    let nudges = feed.bus().subscribe();
    let present = feed.present(project).await?;
    let mut queue = VecDeque::new();
    let cursor = match asked {
        // Ahead of the present in either feed (made up, another project's, or from before a
        // restore): following it would be silence until the feed caught up.
        Some(cursor) if cursor.files > present.files || cursor.events > present.events => {
            queue.push_back(position_frame("ready", cursor));
            queue.push_back(position_frame("reset", present));
            present
        }
        Some(cursor) => {
            queue.push_back(position_frame("ready", cursor));
            cursor
        }
        None => {
            queue.push_back(position_frame("ready", present));
            present
        }
    };
    let live = Live {
        feed: feed.clone(),
        access: access.into_inner(),
        project,
        user: user.user_id,
        cursor,
        nudges: Some(nudges),
        queue,
        _slot: slot,
    };
    Ok(mdz_core::sse::response(&req, &user, live.into_stream()))
}
