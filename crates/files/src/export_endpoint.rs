//! `GET /projects/{id}/export`: the project as a zip (see [`crate::export`]).

use crate::attachments::store::content_disposition;
use crate::export::ExportService;
use crate::interface::ExportQuery;
use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use mdz_core::auth::AuthUser;
use mdz_core::ids::ProjectId;
use mdz_core::{ApiError, Problem};

/// The project as a zip, streamed (any member): every live document at its path as UTF-8
/// Markdown, attachments under `_attachments/`, and `mdz-export.json` (format `mdz-export`,
/// version 1: the project's name and description, each file's path, revision and times, each
/// attachment's id, name, path, type and size). With `history=true`, every version too.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), ExportQuery),
    responses(
        (status = 200, description = "A zip archive", content_type = "application/zip", body = Vec<u8>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/export")]
pub async fn export_project(
    svc: web::Data<ExportService>,
    user: AuthUser,
    project: web::Path<ProjectId>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let history = query.history.unwrap_or(false);
    let (name, zip) = svc
        .export(user.user_id, project.into_inner(), history)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            header::CONTENT_DISPOSITION,
            content_disposition(&format!("{name}.zip")),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(zip))
}
