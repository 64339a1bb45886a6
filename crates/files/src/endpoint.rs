//! HTTP handlers of the files API: extract, call the service, map the result.

use crate::interface::{
    Changes, ChangesQuery, CreateFileRequest, File, FileMeta, Folders, FoldersQuery, LabelRequest,
    ListQuery, MoveFileRequest, SaveFileRequest, SearchParams, SearchResult, Version,
    VersionOrDiff, VersionQuery, parse_label,
};
use crate::paths::{DocPath, parse_prefix};
use crate::search::SearchQuery;
use crate::service::{FilesService, Idempotency, Written, etag};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use mdz_core::auth::AuthUser;
use mdz_core::ids::{FileId, ProjectId};
use mdz_core::json::read_json;
use mdz_core::pagination::PageRequest;
use mdz_core::pagination::{Page, PageQuery};
use mdz_core::{ApiError, Problem};
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<FilesService>;

/// Routes under `/projects` (shared with the projects domain; the server mounts both there).
pub fn project_routes(cfg: &mut ServiceConfig) {
    cfg.service(create_file)
        .service(list_files)
        .service(list_folders)
        .service(search_project)
        .service(changes)
        .service(crate::export_endpoint::export_project);
}

/// `/search`, at the API root.
pub fn search_routes(cfg: &mut ServiceConfig) {
    cfg.service(search_everywhere);
}

fn search_args(params: SearchParams) -> Result<(SearchQuery, PageRequest<i64>), ApiError> {
    let query = SearchQuery::parse(&params.q).map_err(|m| ApiError::field("q", m))?;
    let page = PageQuery {
        limit: params.limit,
        cursor: params.cursor,
    }
    .parse::<i64>()?;
    Ok((query, page))
}

/// Full-text search in one project: ranked, with highlighted snippets.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), SearchParams),
    responses(
        (status = 200, body = Page<SearchResult>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/search")]
async fn search_project(
    svc: Svc,
    user: AuthUser,
    project: web::Path<ProjectId>,
    params: web::Query<SearchParams>,
) -> Result<web::Json<Page<SearchResult>>, ApiError> {
    let (query, page) = search_args(params.into_inner())?;
    Ok(web::Json(
        svc.search(user.user_id, Some(project.into_inner()), &query, page)
            .await?,
    ))
}

/// Full-text search across every project the caller belongs to.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, body = Page<SearchResult>),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/search")]
async fn search_everywhere(
    svc: Svc,
    user: AuthUser,
    params: web::Query<SearchParams>,
) -> Result<web::Json<Page<SearchResult>>, ApiError> {
    let (query, page) = search_args(params.into_inner())?;
    Ok(web::Json(
        svc.search(user.user_id, None, &query, page).await?,
    ))
}

/// Routes under `/files`.
/// Routes under `/files` (the server mounts them in a scope shared with collab's comments).
pub fn file_routes(cfg: &mut ServiceConfig) {
    cfg.service(get_file)
        .service(save_file)
        .service(move_file)
        .service(trash_file)
        .service(restore_file)
        .service(list_versions)
        .service(get_version)
        .service(label_version)
        .service(restore_version);
}

/// `If-Match`: `None` when absent or `*`; a revision that matches nothing when unparsable.
fn if_match(req: &HttpRequest) -> Option<i64> {
    let raw = req.headers().get(header::IF_MATCH)?.to_str().ok()?.trim();
    if raw == "*" {
        return None;
    }
    Some(
        raw.trim_start_matches("W/")
            .trim_matches('"')
            .parse()
            .unwrap_or(-1),
    )
}

/// The request an `Idempotency-Key` names: method, path and a fingerprint of the body, so a
/// key reused for a different request is refused rather than answered with the wrong result.
fn idempotency(
    req: &HttpRequest,
    method: &'static str,
    body: &str,
) -> Result<Option<Idempotency>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()))
        .ok_or_else(|| {
            ApiError::field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
        })?;
    Ok(Some(Idempotency {
        key: key.to_owned(),
        method,
        path: format!("{} {}", req.path(), mdz_core::secrets::label(body)),
    }))
}

fn with_etag(mut res: HttpResponse, revision: i64) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(&etag(revision)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

fn written(w: Written) -> HttpResponse {
    match w {
        Written::Fresh { status, file } => {
            let revision = file.meta.revision;
            let mut res = if status == 201 {
                HttpResponse::Created()
                    .insert_header((header::LOCATION, format!("/api/v1/files/{}", file.meta.id)))
                    .json(file)
            } else {
                // The client has the content it just sent: answer the metadata and ETag.
                HttpResponse::Ok().json(file.meta)
            };
            res = with_etag(res, revision);
            res
        }
        Written::Replayed { status, etag, body } => {
            let code = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::OK);
            let mut b = HttpResponse::build(code);
            b.insert_header(("idempotent-replayed", "true"));
            if let Some(etag) = etag {
                b.insert_header((header::ETAG, etag));
            }
            b.json(body)
        }
    }
}

fn path_arg(raw: &str) -> Result<DocPath, ApiError> {
    DocPath::parse(raw).map_err(|m| ApiError::field("path", m))
}

/// Create a document (editor or above). Replays safely with `Idempotency-Key`.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = CreateFileRequest,
    responses(
        (status = 201, body = File, headers(("ETag" = String))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The path is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/files")]
async fn create_file(
    svc: Svc,
    user: AuthUser,
    req: HttpRequest,
    project: web::Path<ProjectId>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let CreateFileRequest { path, content } = read_json(&req, body, svc.json_limit()).await?;
    let idem = idempotency(&req, "POST", &format!("{path}\n{content}"))?;
    let path = path_arg(&path)?;
    let w = svc
        .create(user.user_id, project.into_inner(), path, content, idem)
        .await?;
    Ok(written(w))
}

/// Documents of a project by path (without content), optionally under a folder or in the trash.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), ListQuery),
    responses(
        (status = 200, body = Page<FileMeta>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/files")]
async fn list_files(
    svc: Svc,
    user: AuthUser,
    project: web::Path<ProjectId>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<Page<FileMeta>>, ApiError> {
    let q = query.into_inner();
    let prefix = parse_prefix(q.prefix.as_deref().unwrap_or(""))
        .map_err(|m| ApiError::field("prefix", m))?;
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse::<String>()?;
    Ok(web::Json(
        svc.list(
            user.user_id,
            project.into_inner(),
            &prefix,
            q.trashed.unwrap_or(false),
            page,
        )
        .await?,
    ))
}

/// The immediate subfolders of a folder, with document counts.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), FoldersQuery),
    responses(
        (status = 200, body = Folders),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/folders")]
async fn list_folders(
    svc: Svc,
    user: AuthUser,
    project: web::Path<ProjectId>,
    query: web::Query<FoldersQuery>,
) -> Result<web::Json<Folders>, ApiError> {
    let prefix = parse_prefix(query.prefix.as_deref().unwrap_or(""))
        .map_err(|m| ApiError::field("prefix", m))?;
    let items = svc
        .folders(user.user_id, project.into_inner(), &prefix)
        .await?;
    Ok(web::Json(Folders { items }))
}

/// Changes to the project's documents after `cursor`, oldest first: how an offline client
/// catches up. 410 when the cursor is older than the kept history; without a cursor, from the
/// oldest kept entry (never 410), so a client that listed the files again can start over.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), ChangesQuery),
    responses(
        (status = 200, body = Changes),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Cursor too old: list again", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/changes")]
async fn changes(
    svc: Svc,
    user: AuthUser,
    project: web::Path<ProjectId>,
    query: web::Query<ChangesQuery>,
) -> Result<web::Json<Changes>, ApiError> {
    let cursor =
        match query.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(c.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| {
                ApiError::field("cursor", "is not a cursor this feed handed out")
            })?),
        };
    let limit = query.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 1000"));
    }
    Ok(web::Json(
        svc.changes(user.user_id, project.into_inner(), cursor, limit)
            .await?,
    ))
}

/// A document with its content and `ETag`; `Accept: text/markdown` answers the raw text.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = FileId, Path)),
    responses(
        (status = 200, description = "The document; with `Accept: text/markdown` its raw text",
            content((File = "application/json"), (String = "text/markdown")), headers(("ETag" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}")]
async fn get_file(
    svc: Svc,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<FileId>,
) -> Result<HttpResponse, ApiError> {
    let file = svc.get(user.user_id, id.into_inner()).await?;
    let wants_markdown = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/markdown"));
    let revision = file.meta.revision;
    let res = if wants_markdown {
        HttpResponse::Ok()
            .content_type("text/markdown; charset=utf-8")
            .body(file.content)
    } else {
        HttpResponse::Ok().json(file)
    };
    Ok(with_etag(res, revision))
}

/// Save new content. Send `If-Match: <ETag>` to save only if nobody saved in between (412
/// otherwise); without it the last write wins. Replays safely with `Idempotency-Key`.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = FileId, Path), ("If-Match" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    request_body = SaveFileRequest,
    responses(
        (status = 200, body = FileMeta, headers(("ETag" = String))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Someone saved in between", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/{id}")]
async fn save_file(
    svc: Svc,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<FileId>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: SaveFileRequest = read_json(&req, body, svc.json_limit()).await?;
    let idem = idempotency(&req, "PUT", &body.content)?;
    let w = svc
        .save(
            user.user_id,
            id.into_inner(),
            body.content,
            if_match(&req),
            idem,
        )
        .await?;
    Ok(written(w))
}

/// Rename or move a document (409 when the path is taken).
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = FileId, Path), ("If-Match" = Option<String>, Header)),
    request_body = MoveFileRequest,
    responses(
        (status = 200, body = File, headers(("ETag" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/{id}")]
async fn move_file(
    svc: Svc,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<FileId>,
    body: web::Json<MoveFileRequest>,
) -> Result<HttpResponse, ApiError> {
    let path = path_arg(&body.path)?;
    let file = svc
        .rename(user.user_id, id.into_inner(), path, if_match(&req))
        .await?;
    let revision = file.meta.revision;
    Ok(with_etag(HttpResponse::Ok().json(file), revision))
}

/// Move a document to the trash.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = FileId, Path)),
    responses(
        (status = 204, description = "In the trash"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/{id}")]
async fn trash_file(
    svc: Svc,
    user: AuthUser,
    id: web::Path<FileId>,
) -> Result<HttpResponse, ApiError> {
    svc.trash(user.user_id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Take a document out of the trash (409 when its path was taken meanwhile).
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = FileId, Path)),
    responses(
        (status = 200, body = File),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/restore")]
async fn restore_file(
    svc: Svc,
    user: AuthUser,
    id: web::Path<FileId>,
) -> Result<HttpResponse, ApiError> {
    let file = svc.restore(user.user_id, id.into_inner()).await?;
    let revision = file.meta.revision;
    Ok(with_etag(HttpResponse::Ok().json(file), revision))
}

/// The document's history, newest first.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = FileId, Path), PageQuery),
    responses(
        (status = 200, body = Page<Version>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/versions")]
async fn list_versions(
    svc: Svc,
    user: AuthUser,
    id: web::Path<FileId>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<Version>>, ApiError> {
    let page = query.parse::<i32>()?;
    Ok(web::Json(
        svc.versions(user.user_id, id.into_inner(), page).await?,
    ))
}

/// Version `n`'s content, or with `?diff=m` the unified diff from version m to n.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = FileId, Path), ("n" = i32, Path), VersionQuery),
    responses(
        (status = 200, description = "The version, or with `?diff=m` the diff", body = VersionOrDiff),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/versions/{n}")]
async fn get_version(
    svc: Svc,
    user: AuthUser,
    path: web::Path<(FileId, i32)>,
    query: web::Query<VersionQuery>,
) -> Result<web::Json<VersionOrDiff>, ApiError> {
    let (id, n) = path.into_inner();
    Ok(web::Json(match query.diff {
        Some(m) => VersionOrDiff::Diff(svc.diff(user.user_id, id, n, m).await?),
        None => VersionOrDiff::Content(svc.version(user.user_id, id, n).await?),
    }))
}

/// Name a version (or remove its name with `null`).
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = FileId, Path), ("n" = i32, Path)),
    request_body = LabelRequest,
    responses(
        (status = 200, body = Version),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/{id}/versions/{n}")]
async fn label_version(
    svc: Svc,
    user: AuthUser,
    path: web::Path<(FileId, i32)>,
    body: web::Json<LabelRequest>,
) -> Result<web::Json<Version>, ApiError> {
    let (id, n) = path.into_inner();
    let label = body
        .into_inner()
        .label
        .map(|l| {
            parse_label(&l).ok_or_else(|| ApiError::field("label", "must be 1 to 100 characters"))
        })
        .transpose()?;
    Ok(web::Json(svc.label(user.user_id, id, n, label).await?))
}

/// Make a new version with version `n`'s content.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = FileId, Path), ("n" = i32, Path)),
    responses(
        (status = 200, body = File, headers(("ETag" = String))),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/versions/{n}/restore")]
async fn restore_version(
    svc: Svc,
    user: AuthUser,
    path: web::Path<(FileId, i32)>,
) -> Result<HttpResponse, ApiError> {
    let (id, n) = path.into_inner();
    let file = svc.restore_version(user.user_id, id, n).await?;
    let revision = file.meta.revision;
    Ok(with_etag(HttpResponse::Ok().json(file), revision))
}
