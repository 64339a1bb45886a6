//! The OpenAPI document, generated from the handlers' annotations, and the `/docs` UI.

use crate::routes;
use actix_web::{App, HttpResponse, get, web};
use mdz_core::{FieldError, Problem};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
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
        (name = "chat", description = "Messages of AI sessions, streamed from the model provider"),
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
    doc
}
