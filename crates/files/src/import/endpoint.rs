//! `POST /projects/import`: a zip becomes a new project (see [`crate::import`]).

use super::{ImportError, ImportService, Imported};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use mdz_core::access::Role;
use mdz_core::auth::AuthUser;
use mdz_core::ids::{ProjectId, UserId};
use mdz_core::{ApiError, Problem};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The new project's name (1–100 characters); else the name in an mdz export's
    /// manifest, the archive's single top folder, or "Import".
    pub name: Option<String>,
}

/// The new project (the caller is its owner), and what the import made of the archive.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedProject {
    pub id: ProjectId,
    pub name: String,
    pub description: String,
    /// The caller's role: owner.
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
    pub import: ImportSummary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportSummary {
    /// Documents made.
    pub documents: usize,
    /// Versions made: every version of an mdz export written with `?history=true`, else
    /// one per document.
    pub versions: usize,
    /// Attachments made (images and PDFs; an mdz export's attachments).
    pub attachments: usize,
    /// Entries left out and why (the first 100; `.obsidian/`, `.trash/` and an export's
    /// manifest are left out without a word).
    pub skipped: Vec<String>,
    pub skipped_count: usize,
}

fn view(imported: Imported, actor: UserId) -> ImportedProject {
    let p = imported.project;
    ImportedProject {
        id: p.id,
        name: p.name,
        description: p.description,
        role: Role::Owner,
        created_at: p.created_at,
        updated_at: p.created_at,
        last_activity_at: p.created_at,
        created_by: actor,
        updated_by: actor,
        import: ImportSummary {
            documents: imported.documents,
            versions: imported.versions,
            attachments: imported.attachments,
            skipped: imported.skipped,
            skipped_count: imported.skipped_count,
        },
    }
}

/// Types a zip is sent as.
const ZIP_TYPES: [&str; 2] = ["application/zip", "application/x-zip-compressed"];

/// Import a zip as a new project. Understands an mdz export (`GET /projects/{id}/export`:
/// same paths and bytes, attachments restored, links to them pointed at the new ones), a
/// folder of Markdown files such as an Obsidian vault (`.obsidian/` and `.trash/` skipped;
/// images and PDFs become attachments and `![[name.png]]` / `![](name.png)` point at them;
/// wiki links stay as written) and a Notion export (page ids stripped from names, links
/// between pages rewritten). A single top folder is the root. Limits: `IMPORT_MAX_BYTES`
/// (body), `IMPORT_MAX_ENTRIES`, `IMPORT_MAX_UNCOMPRESSED_BYTES` (counted while inflating):
/// 413. An unreadable zip: 400. An entry that escapes the root, a symlink, an encrypted
/// entry, Markdown that is not UTF-8 or a path no document can have: 422. A refused archive
/// leaves nothing behind.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/zip", description = "A zip archive"),
    responses(
        (status = 201, body = ImportedProject),
        (status = 400, description = "The zip cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over a limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An entry is refused", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`IMPORT_MAX_CONCURRENT` imports are running; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/import")]
pub async fn import_project(
    svc: web::Data<ImportService>,
    user: AuthUser,
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let kind = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !ZIP_TYPES.contains(&kind.as_str()) {
        return Err(ImportError::NotZip.into());
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > svc.max_body_bytes()) {
        return Err(ImportError::BodyTooLarge {
            limit: svc.max_body_bytes(),
        }
        .into());
    }
    let name = query.into_inner().name;
    if let Some(name) = &name {
        svc.check_name(name)?;
    }
    let slot = svc.admit()?;
    let upload = svc.receive(body).await?;
    let imported = svc.import(user.user_id, name, upload, slot).await?;
    let project = view(imported, user.user_id);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/projects/{}", project.id)))
        .json(project))
}
