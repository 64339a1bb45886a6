//! Server-Sent Events responses: frames, and a response that ends when the credential of the
//! request is revoked (logout, a deleted session or token, a password change), on whichever
//! node that happened. Used by chat answers and the live project event stream.

use crate::ports::{Principal, TokenVerifier};
use crate::revocation::{Revocations, until_ended};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// One event: `event: <event>` and its JSON `data`.
pub fn frame(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// Does the request ask for an event stream (`Accept: text/event-stream`)?
pub fn wanted(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// A future that resolves when `user`'s credential is revoked (never, when the node runs
/// without revocations, as unit tests do).
fn credential_ended(req: &HttpRequest, user: &Principal) -> Pin<Box<dyn Future<Output = ()>>> {
    let hub = req.app_data::<web::Data<Revocations>>();
    let verifier = req.app_data::<web::Data<dyn TokenVerifier>>();
    match (hub, verifier) {
        (Some(hub), Some(verifier)) => Box::pin(until_ended(
            hub.subscribe(),
            user.clone(),
            verifier.clone().into_inner(),
        )),
        _ => Box::pin(std::future::pending()),
    }
}

/// An SSE response of `body` that ends when the request's credential is revoked.
pub fn response(
    req: &HttpRequest,
    user: &Principal,
    body: impl Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
) -> HttpResponse {
    let ended = credential_ended(req, user);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body.take_until(ended))
}
