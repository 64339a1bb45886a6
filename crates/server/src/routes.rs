//! The route table: which domain's routes hang where. Shared by the server and the OpenAPI document.

use crate::ops;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// The API prefix.
pub const API_PREFIX: &str = "/api/v1";

pub fn mount(cfg: &mut ServiceConfig) {
    cfg.service(
        scope(API_PREFIX)
            .configure(mdz_auth::routes)
            .configure(mdz_projects::routes)
            .configure(crate::openapi::configure),
    )
    .configure(mdz_auth::well_known_routes)
    .configure(ops::configure);
}
