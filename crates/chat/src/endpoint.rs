//! HTTP handlers of chat: JSON or Server-Sent Events.
//!
//! SSE events: `message` (`{user_message_id, assistant_message_id}`), `delta` (`{text}`),
//! `citation` (one per cited document), `usage` (`{prompt_tokens, completion_tokens}`), then
//! `done` (`{status}`) or `error` (`{status, type, title}` — the problem's type and title).

use crate::generation::{Ending, Event, Listener};
use crate::interface::{Exchange, Message, MessagesQuery, PostMessage, ProviderView, ResumeQuery};
use crate::service::{ChatService, Source};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use bytes::Bytes;
use futures_util::Stream;
use mdz_core::auth::AuthUser;
use mdz_core::ids::{ChatMessageId, ChatSessionId};
use mdz_core::pagination::{Page, PageQuery};
use mdz_core::ports::Principal;
use mdz_core::{ApiError, Problem};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<ChatService>;

/// Routes under `/sessions` (shared with the sessions domain).
pub fn session_routes(cfg: &mut ServiceConfig) {
    cfg.service(list_messages)
        .service(post_message)
        .service(resume)
        .service(cancel)
        .service(regenerate);
}

pub(crate) use mdz_core::sse::{frame, response as sse, wanted as wants_sse};

/// `done` or `error`, with the fields the answer's keeper adds (an AI edit's suggestion).
fn ending_frame(ending: Ending, has_text: bool, extra: &Value) -> Bytes {
    let (event, mut data) = match ending.error() {
        None => ("done", json!({"status": ending.status(has_text)})),
        Some(e) => {
            let problem = ApiError::from(e).to_problem();
            (
                "error",
                json!({"status": ending.status(has_text), "type": problem.kind, "title": problem.title}),
            )
        }
    };
    if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
        data.extend(extra.clone());
    }
    frame(event, &data)
}

/// Frames from a listener until the answer ends (or falls out of the buffer).
pub(crate) fn live_frames(
    head: Vec<Bytes>,
    listener: Listener,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    let has_text = !listener.backlog.is_empty();
    let mut first = head;
    if has_text {
        first.push(frame("delta", &json!({"text": listener.backlog})));
    }
    let state = (first, listener.events, (has_text, listener.skip), false);
    futures_util::stream::unfold(
        state,
        |(mut queue, mut events, (mut has_text, mut skip), done)| async move {
            if !queue.is_empty() {
                let next = queue.remove(0);
                return Some((Ok(next), (queue, events, (has_text, skip), done)));
            }
            if done {
                return None;
            }
            let next = loop {
                match events.recv().await {
                    Ok(Event::Delta(text)) => {
                        // A resume from an offset the answer had not reached yet: the text
                        // before it is left out as it arrives.
                        let text = skip_chars(text, &mut skip);
                        if text.is_empty() {
                            continue;
                        }
                        has_text = true;
                        break (frame("delta", &json!({"text": text})), false);
                    }
                    Ok(Event::Usage { prompt, completion }) => {
                        break (
                            frame(
                                "usage",
                                &json!({"prompt_tokens": prompt, "completion_tokens": completion}),
                            ),
                            false,
                        );
                    }
                    Ok(Event::Finished(ending, extra)) => {
                        break (ending_frame(ending, has_text, &extra), true);
                    }
                    Err(RecvError::Lagged(_)) => {
                        break (
                            frame(
                                "error",
                                &json!({"status": "streaming", "type": "urn:mdz:problem:lagged",
                                    "title": "Fell behind; resume with ?offset="}),
                            ),
                            true,
                        );
                    }
                    Err(RecvError::Closed) => return None,
                }
            };
            Some((Ok(next.0), (queue, events, (has_text, skip), next.1)))
        },
    )
}

/// `text` without its first `skip` characters (fewer when it is shorter); `skip` is reduced
/// by what was left out.
fn skip_chars(text: String, skip: &mut usize) -> String {
    if *skip == 0 {
        return text;
    }
    let mut chars = text.chars();
    let mut left_out = 0;
    while left_out < *skip && chars.next().is_some() {
        left_out += 1;
    }
    *skip -= left_out;
    chars.collect()
}

/// A stored (ended) answer as SSE: its text in one `delta` (none when empty), then `done`.
pub(crate) fn replay(
    req: &HttpRequest,
    user: &Principal,
    text: &str,
    done: &Value,
) -> HttpResponse {
    let mut frames = Vec::new();
    if !text.is_empty() {
        frames.push(frame("delta", &json!({ "text": text })));
    }
    frames.push(frame("done", done));
    sse(
        req,
        user,
        futures_util::stream::iter(frames.into_iter().map(Ok)),
    )
}

/// A session's messages, oldest first.
#[utoipa::path(
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = ChatSessionId, Path), MessagesQuery),
    responses(
        (status = 200, body = Page<Message>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/messages")]
async fn list_messages(
    svc: Svc,
    user: AuthUser,
    path: web::Path<ChatSessionId>,
    query: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    Ok(HttpResponse::Ok().json(svc.list(user.user_id, path.into_inner(), page).await?))
}

/// Ask the model (editors and above). The question is stored before the provider is called
/// and the answer as it streams. `Accept: text/event-stream` streams it; otherwise the whole
/// answer comes back as JSON once it is complete.
#[utoipa::path(
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = ChatSessionId, Path)),
    request_body = PostMessage,
    responses(
        (status = 201, body = Exchange),
        (status = 200, description = "Server-Sent Events", content_type = "text/event-stream"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Daily token quota used up", body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
        (status = 504, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/messages")]
async fn post_message(
    req: HttpRequest,
    svc: Svc,
    user: AuthUser,
    path: web::Path<ChatSessionId>,
    body: web::Json<PostMessage>,
) -> Result<HttpResponse, ApiError> {
    let session = path.into_inner();
    let posted = svc.post(user.user_id, session, body.into_inner()).await?;
    answer(&req, &user, &svc, session, posted).await
}

/// The answer of a post or a regeneration: SSE when asked for, else the whole exchange.
async fn answer(
    req: &HttpRequest,
    user: &Principal,
    svc: &ChatService,
    session: ChatSessionId,
    posted: crate::service::Posted,
) -> Result<HttpResponse, ApiError> {
    if wants_sse(req) {
        let mut head = vec![frame(
            "message",
            &json!({"user_message_id": posted.user.id, "assistant_message_id": posted.assistant.id}),
        )];
        for citation in &posted.assistant.citations {
            head.push(frame("citation", &json!(citation)));
        }
        return Ok(sse(req, user, live_frames(head, posted.listener)));
    }
    let mut events = posted.listener.events;
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
    let assistant = svc.message(session, posted.assistant.id).await?;
    Ok(HttpResponse::Created().json(Exchange {
        user_message: posted.user,
        assistant_message: assistant,
    }))
}

/// Answer the question of an earlier answer again (editors and above): a new answer after
/// the old one, streamed or whole like a post.
#[utoipa::path(
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = ChatSessionId, Path), ("mid" = ChatMessageId, Path)),
    responses(
        (status = 201, body = Exchange),
        (status = 200, description = "Server-Sent Events", content_type = "text/event-stream"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/messages/{mid}/regenerate")]
async fn regenerate(
    req: HttpRequest,
    svc: Svc,
    user: AuthUser,
    path: web::Path<(ChatSessionId, ChatMessageId)>,
) -> Result<HttpResponse, ApiError> {
    let (session, id) = path.into_inner();
    let posted = svc.regenerate(user.user_id, session, id).await?;
    answer(&req, &user, &svc, session, posted).await
}

/// Pick an answer up again from `offset` characters (after a dropped connection): the rest
/// so far, then live deltas while it is still being written.
#[utoipa::path(
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = ChatSessionId, Path), ("mid" = ChatMessageId, Path), ResumeQuery),
    responses(
        (status = 200, description = "Server-Sent Events", content_type = "text/event-stream"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/messages/{mid}/stream")]
async fn resume(
    req: HttpRequest,
    svc: Svc,
    user: AuthUser,
    path: web::Path<(ChatSessionId, ChatMessageId)>,
    query: web::Query<ResumeQuery>,
) -> Result<HttpResponse, ApiError> {
    let (session, id) = path.into_inner();
    let offset = query.into_inner().offset.unwrap_or(0);
    match svc.resume(user.user_id, session, id, offset).await? {
        Source::Live(listener) => Ok(sse(&req, &user, live_frames(Vec::new(), listener))),
        Source::Stored(message) => Ok(replay(
            &req,
            &user,
            &message.content,
            &json!({"status": message.status}),
        )),
    }
}

/// Stop generating; the partial answer stays, marked `cancelled`.
#[utoipa::path(
    tag = "chat",
    security(("bearer" = [])),
    params(("id" = ChatSessionId, Path), ("mid" = ChatMessageId, Path)),
    responses(
        (status = 202, description = "Cancelling; the message ends as `cancelled`"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/messages/{mid}/cancel")]
async fn cancel(
    svc: Svc,
    user: AuthUser,
    path: web::Path<(ChatSessionId, ChatMessageId)>,
) -> Result<HttpResponse, ApiError> {
    let (session, id) = path.into_inner();
    svc.cancel(user.user_id, session, id).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Routes under `/chat`.
pub fn chat_routes(cfg: &mut ServiceConfig) {
    cfg.service(list_providers);
}

/// The model providers a session may choose (`provider` of a session): names, kinds and
/// default models, the deployment's default first. Empty when none is configured.
#[utoipa::path(
    tag = "chat",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Page<ProviderView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/providers")]
async fn list_providers(svc: Svc, _user: AuthUser) -> HttpResponse {
    let items: Vec<ProviderView> = svc
        .providers()
        .into_iter()
        .enumerate()
        .map(|(i, p)| ProviderView {
            name: p.name,
            kind: p.kind,
            default_model: p.default_model,
            default: i == 0,
        })
        .collect();
    HttpResponse::Ok().json(Page {
        items,
        next_cursor: None,
    })
}

#[cfg(test)]
mod tests {
    use super::skip_chars;

    #[test]
    fn skipping_counts_characters_across_deltas() {
        let mut skip = 4;
        assert_eq!(skip_chars("ab".into(), &mut skip), "");
        assert_eq!(skip, 2);
        assert_eq!(skip_chars("日本語x".into(), &mut skip), "語x");
        assert_eq!(skip, 0);
        assert_eq!(skip_chars("rest".into(), &mut skip), "rest");
    }
}
