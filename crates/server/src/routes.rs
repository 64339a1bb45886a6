//! The route table: which domain's routes hang where. Shared by the server and the OpenAPI document.

use crate::ops;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// The API prefix.
pub const API_PREFIX: &str = "/api/v1";

pub fn mount(cfg: &mut ServiceConfig) {
    // Each prefix is one scope: actix does not fall through from a matched scope to a later one,
    // so domains that share a prefix (projects and files under /projects) share its scope.
    cfg.service(
        scope(API_PREFIX)
            .configure(mdz_auth::routes)
            .service(
                scope("/projects")
                    .configure(mdz_projects::project_routes)
                    .configure(mdz_files::project_routes)
                    .configure(mdz_sessions::project_routes)
                    .configure(mdz_webhooks::project_routes),
            )
            .service(scope("/webhooks").configure(mdz_webhooks::webhook_routes))
            .service(
                scope("/files")
                    .configure(mdz_files::file_routes)
                    .configure(mdz_collab::file_routes)
                    .configure(mdz_chat::file_routes),
            )
            .configure(mdz_files::search_routes)
            .configure(mdz_files::attachment_routes)
            .configure(mdz_files::share_routes)
            .service(
                scope("/sessions")
                    .configure(mdz_sessions::session_routes)
                    .configure(mdz_chat::session_routes),
            )
            .service(scope("/chat").configure(mdz_chat::chat_routes))
            .configure(mdz_projects::invitation_routes)
            .configure(mdz_collab::routes)
            .configure(crate::openapi::configure),
    )
    .configure(mdz_files::share_page_routes)
    .configure(mdz_auth::well_known_routes)
    .configure(ops::configure);
}
