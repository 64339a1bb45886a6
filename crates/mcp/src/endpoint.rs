//! `/mcp`: the streamable-HTTP transport. `POST` carries one JSON-RPC message and answers
//! with `application/json` (or `202 Accepted` for notifications); `GET` opens the
//! server-to-client event stream (this server has nothing to push, so it only keeps the
//! connection alive); the server is stateless, so there is no session to `DELETE`.

use crate::rpc::{self, Reply};
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use bytes::Bytes;
use mdz_core::auth::{AuthUser, ProposingUser};
use mdz_core::workspace::Workspace;
use serde_json::Value;
use std::time::Duration;

/// Mounted at `/mcp`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/mcp")
            .route(web::post().to(post))
            .route(web::get().to(stream))
            .route(web::delete().to(|| async {
                HttpResponse::MethodNotAllowed()
                    .insert_header((header::ALLOW, "GET, POST"))
                    .finish()
            })),
    );
}

/// A `suggest`-scoped token may call tools: its writes become suggestions (`tools`).
async fn post(
    user: ProposingUser,
    workspace: web::Data<dyn Workspace>,
    body: Bytes,
) -> HttpResponse {
    let message: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return HttpResponse::BadRequest().json(rpc::error(
                &Value::Null,
                rpc::PARSE_ERROR,
                "the body is not JSON",
            ));
        }
    };
    if !message.is_object() {
        return HttpResponse::BadRequest().json(rpc::error(
            &Value::Null,
            rpc::INVALID_REQUEST,
            "send one JSON-RPC message per request (batches are not supported)",
        ));
    }
    match rpc::handle(workspace.get_ref(), &user, &message).await {
        Reply::Nothing => HttpResponse::Accepted().finish(),
        Reply::Message(answer) => HttpResponse::Ok().json(answer),
    }
}

async fn stream(_user: AuthUser) -> HttpResponse {
    let ticks = futures_util::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_secs(15)).await;
        Some((
            Ok::<_, actix_web::Error>(Bytes::from_static(b": keepalive\n\n")),
            (),
        ))
    });
    let first = futures_util::stream::once(async { Ok(Bytes::from_static(b": mdz\n\n")) });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(futures_util::StreamExt::chain(first, ticks))
}
