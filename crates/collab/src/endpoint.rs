//! HTTP side of collab: the WebSocket upgrade at `/collab/{file_id}`, and the tickets that
//! open it without a credential in the URL.

use crate::connection::Connection;
use crate::error::CollabError;
use crate::rooms::Rooms;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use actix_ws::{CloseCode, CloseReason};
use mdz_core::ApiError;
use mdz_core::Problem;
use mdz_core::access::Role;
use mdz_core::auth::{AuthUser, authenticate};
use mdz_core::ids::FileId;
use mdz_core::ports::{Principal, TokenVerifier};
use mdz_core::revocation::{Revocations, until_ended};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

/// The subprotocol mdz answers with; a token may ride along as `mdz.token.<token>`.
const SUBPROTOCOL: &str = "mdz";
const TOKEN_PROTOCOL_PREFIX: &str = "mdz.token.";

/// `/collab/*`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(create_ticket).service(collab);
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CollabQuery {
    /// A ticket from `POST /collab/tickets` (preferred: single use, valid 60 s, so no
    /// long-lived credential travels in the URL).
    ticket: Option<String>,
    /// An access token or personal access token, for stock clients. Alternatives: the
    /// WebSocket subprotocol `mdz.token.<token>` offered next to `mdz` (browsers), or
    /// `Authorization: Bearer`.
    token: Option<String>,
}

/// A single-use ticket that opens one collab WebSocket (`?ticket=`).
#[derive(Debug, Serialize, ToSchema)]
pub struct CollabTicket {
    pub ticket: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A ticket for one collab WebSocket: single use, valid 60 seconds, standing for the
/// credential of this request (its scope and project limit apply; revoking it ends the
/// socket). Use it as `?ticket=` instead of putting a token in the URL.
#[utoipa::path(
    tag = "collab",
    security(("bearer" = [])),
    responses(
        (status = 201, body = CollabTicket),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/collab/tickets")]
async fn create_ticket(user: AuthUser, rooms: web::Data<Rooms>) -> Result<HttpResponse, ApiError> {
    let (ticket, expires_at) = crate::tickets::issue(rooms.pool(), &user).await?;
    Ok(HttpResponse::Created().json(CollabTicket { ticket, expires_at }))
}

/// Who opens the socket: a ticket's credential (still valid), or a token's.
async fn principal_of(
    req: &HttpRequest,
    query: CollabQuery,
    rooms: &Rooms,
    verifier: &dyn TokenVerifier,
) -> Result<Principal, ApiError> {
    if let Some(ticket) = query.ticket {
        let spent = crate::tickets::redeem(rooms.pool(), &ticket).await?;
        let valid = match &spent {
            Some(p) => verifier.still_valid(p).await.unwrap_or(false),
            None => false,
        };
        return match spent {
            Some(principal) if valid => {
                if let Some(projects) = &principal.projects {
                    mdz_core::context::limit_projects(projects.clone());
                }
                Ok(principal)
            }
            _ => Err(ApiError::unauthorized(
                "the ticket is unknown, already used or expired; ask for a new one",
            )),
        };
    }
    let token = query
        .token
        .or_else(|| protocol_token(req))
        .or_else(|| bearer_token(req));
    authenticate(req, token.as_deref()).await
}

fn protocol_token(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get("sec-websocket-protocol")?.to_str().ok()?;
    header
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(TOKEN_PROTOCOL_PREFIX))
        .map(str::to_owned)
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get("authorization")?.to_str().ok()?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(|t| t.trim().to_owned())
}

/// Close a socket whose document could not be loaded: 1013 (try again later) when storage is
/// unavailable or slow, 1011 when the stored state is damaged.
async fn refuse(session: actix_ws::Session, error: CollabError) {
    let (code, description) = match &error {
        CollabError::Corrupt { .. } => (
            CloseCode::Error,
            "the document's stored state is damaged; an operator must repair it",
        ),
        CollabError::NotFound(_) => (CloseCode::Policy, "the document no longer exists"),
        _ => (
            CloseCode::Again,
            "the document could not be loaded; try again shortly",
        ),
    };
    tracing::warn!(error = %error, close = ?code, "collab: refused a connection");
    drop(
        session
            .close(Some(CloseReason {
                code,
                description: Some(description.to_owned()),
            }))
            .await,
    );
}

/// Live editing of one document: a WebSocket speaking the y-websocket protocol (Yjs sync
/// and awareness). Point the stock `WebsocketProvider` at `ws://host/api/v1/collab` with the
/// document's id as the room name. The text is the shared `Y.Text` named `content`.
/// Viewers and commenters receive every update; their own updates are dropped.
#[utoipa::path(
    tag = "collab",
    params(("file_id" = FileId, Path), CollabQuery),
    responses(
        (status = 101, description = "Switching to the y-websocket protocol"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/collab/{file_id}")]
async fn collab(
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<FileId>,
    query: web::Query<CollabQuery>,
    rooms: web::Data<Rooms>,
    revocations: web::Data<Revocations>,
    verifier: web::Data<dyn TokenVerifier>,
) -> Result<HttpResponse, ApiError> {
    let file = path.into_inner();
    // Listen before authenticating: a revocation in between is not missed.
    let revoked = revocations.subscribe();
    let principal = principal_of(&req, query.into_inner(), &rooms, verifier.get_ref()).await?;
    let ended = Box::pin(until_ended(
        revoked,
        principal.clone(),
        verifier.clone().into_inner(),
    ));
    let user = principal.user_id;
    // A read-only token edits nothing: it connects as a viewer at most.
    let ceiling = if principal.may_write() {
        Role::Owner
    } else {
        Role::Viewer
    };
    let rooms = rooms.into_inner();
    let project = rooms.project_of(file).await?;
    let role = rooms
        .access
        .role(user, project)
        .await
        .map_err(CollabError::from)?
        .ok_or(CollabError::NotFound("document"))?;
    let max = rooms.settings.max_connections;
    let opened = rooms.open_within(file).await;
    if let Ok(room) = &opened
        && room.connections() >= max
    {
        return Err(CollabError::RoomFull(max).into());
    }
    let (response, session, stream) =
        actix_ws::handle_with_protocols(&req, body, &[SUBPROTOCOL])
            .map_err(|e| ApiError::bad_request(format!("not a WebSocket upgrade: {e}")))?;
    let mut room = match opened {
        Ok(room) => room,
        Err(e) => {
            // Nothing was served: the client hears why and retries (1013) or gives up (1011).
            actix_web::rt::spawn(refuse(session, e));
            return Ok(response);
        }
    };
    let stream = stream
        .max_frame_size(rooms.settings.max_message_bytes)
        .aggregate_continuations()
        .max_continuation_size(rooms.settings.max_message_bytes);
    let id = rooms.next_conn();
    let joined = loop {
        if let Some(joined) = room.join(id, user, role, ceiling) {
            break joined;
        }
        // Unloaded between opening and joining: open it again.
        match rooms.open_within(file).await {
            Ok(again) => room = again,
            Err(e) => {
                actix_web::rt::spawn(refuse(session, e));
                return Ok(response);
            }
        }
    };
    tracing::debug!(file_id = %file, role = %role, %ceiling, "collab connection opened");
    actix_web::rt::spawn(
        Connection {
            rooms,
            room,
            id,
            user,
            session,
            joined,
            ended,
        }
        .run(stream),
    );
    Ok(response)
}
