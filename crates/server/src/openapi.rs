//! The OpenAPI document, generated from the handlers' annotations, and the `/docs` UI.

use crate::routes;
use actix_web::{App, HttpResponse, get, web};
use mdz_core::{FieldError, Problem};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mdz",
        description = "The backend of an AI-assisted, collaborative Markdown editor. Errors are RFC 9457 \
                       problem+json; lists are cursor-paginated (`?limit=&cursor=` → `{items, next_cursor}`).",
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts, sessions and tokens"),
        (name = "projects", description = "Projects, members, roles and invitations"),
        (name = "files", description = "Markdown documents, history, search and the change feed"),
        (name = "attachments", description = "Attachments in S3 or the local store"),
        (name = "collab", description = "Live Yjs editing over WebSocket, comments and notifications"),
        (name = "sessions", description = "AI conversations in a project"),
        (name = "webhooks", description = "Signed webhooks (Standard Webhooks) of project events, and their delivery log"),
        (name = "chat", description = "Messages of AI sessions, streamed from the model provider"),
        (name = "ai", description = "AI edits of a document (streamed, ending as suggestions) and ghost-text completions"),
        (name = "ops", description = "Health and metrics"),
    )
)]
struct BaseDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT access token or mdz_pat_ personal access token".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// The document serialised once, served at `/api/v1/openapi.json`.
pub struct DocumentJson(web::Bytes);

impl DocumentJson {
    pub fn new(doc: &OpenApiDoc) -> serde_json::Result<Self> {
        Ok(Self(web::Bytes::from(serde_json::to_vec(doc)?)))
    }
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(openapi_json);
}

/// This document.
#[utoipa::path(tag = "ops", responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
#[get("/openapi.json")]
async fn openapi_json(doc: web::Data<DocumentJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// The whole API document; the same route tables the server mounts, so it cannot drift.
pub fn document() -> OpenApiDoc {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(BaseDoc::openapi())
        .configure(routes::mount)
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    CommonResponses.modify(&mut doc);
    doc
}

/// The answers an operation gives through shared machinery rather than its handler, so no
/// handler's annotation lists them: the bearer extractor (401), the path extractor (404 for an
/// id that does not parse), the query extractor (422) and the JSON body extractor (400
/// malformed, 413 too large, 415 not JSON, 422 wrong shape) — see `mdz_core::json`. Added to
/// every operation they apply to unless its annotation already describes that status.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                add_common_responses(operation);
            }
        }
    }
}

fn add_common_responses(operation: &mut Operation) {
    let mut statuses: Vec<(&str, &str)> = Vec::new();
    let authenticated = operation.security.as_ref().is_some_and(|requirements| {
        !requirements.is_empty()
            && requirements
                .iter()
                .all(|r| *r != SecurityRequirement::default())
    });
    if authenticated {
        statuses.push((
            "401",
            "No bearer token, or one that is invalid, expired or revoked",
        ));
    }
    let located = |place: ParameterIn| {
        operation.parameters.iter().flatten().any(|p| match p {
            RefOr::T(p) => p.parameter_in == place,
            RefOr::Ref(_) => false,
        })
    };
    if located(ParameterIn::Path) {
        statuses.push(("404", "No such resource, or a malformed id in the path"));
    }
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| match body {
            RefOr::T(body) => body.content.keys().any(|ct| ct.contains("json")),
            RefOr::Ref(_) => false,
        });
    if json_body {
        statuses.push(("400", "The body is not valid JSON"));
        statuses.push(("413", "The body is larger than the configured limit"));
        statuses.push(("415", "The body is not application/json"));
    }
    if json_body || located(ParameterIn::Query) {
        statuses.push(("422", "A field of the body or the query is invalid"));
    }
    for (status, description) in statuses {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem_response(description)));
    }
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
}
