//! HTTP handlers for attachments, and for the local store's upload and download URLs.

use super::store::{LocalStore, content_disposition};
use super::{AnnounceRequest, Announced, Attachment, AttachmentsService, repo};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use futures_util::StreamExt;
use mdz_core::auth::AuthUser;
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{AttachmentId, ProjectId};
use mdz_core::{ApiError, Problem, secrets};
use tokio::io::AsyncWriteExt;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<AttachmentsService>;

/// `POST /projects/{id}/attachments`, under the shared `/projects` scope.
pub fn project_routes(cfg: &mut ServiceConfig) {
    cfg.service(announce);
}

/// `/attachments/*` and the local store's `/blobs/*`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/attachments")
            .service(complete)
            .service(download)
            .service(remove),
    )
    .service(scope("/blobs").service(upload_blob).service(download_blob));
}

/// Announce an attachment (editor or above): answers a presigned URL to PUT the bytes to.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    request_body = AnnounceRequest,
    responses(
        (status = 201, body = Announced),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/attachments")]
async fn announce(
    svc: Svc,
    user: AuthUser,
    project: web::Path<ProjectId>,
    body: web::Json<AnnounceRequest>,
) -> Result<HttpResponse, ApiError> {
    let announced = svc
        .announce(user.user_id, project.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(announced))
}

/// Check the upload (it must have the announced size) and make the attachment available.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = AttachmentId, Path)),
    responses(
        (status = 200, body = Attachment),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing uploaded yet", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The upload's size differs from the announced one", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/complete")]
async fn complete(
    svc: Svc,
    user: AuthUser,
    id: web::Path<AttachmentId>,
) -> Result<web::Json<Attachment>, ApiError> {
    Ok(web::Json(
        svc.complete(user.user_id, id.into_inner()).await?,
    ))
}

/// Redirect (302) to a short-lived URL that downloads the attachment.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = AttachmentId, Path)),
    responses(
        (status = 302, description = "To a short-lived download URL", headers(("Location" = String))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}")]
async fn download(
    svc: Svc,
    user: AuthUser,
    id: web::Path<AttachmentId>,
) -> Result<HttpResponse, ApiError> {
    let url = svc.download_url(user.user_id, id.into_inner()).await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .finish())
}

/// Delete the attachment and its bytes (editor or above).
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = AttachmentId, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/{id}")]
async fn remove(
    svc: Svc,
    user: AuthUser,
    id: web::Path<AttachmentId>,
) -> Result<HttpResponse, ApiError> {
    svc.delete(user.user_id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn expired() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "url-expired",
        "URL invalid or expired",
    )
    .detail("this upload or download URL is unknown or has expired; ask for a new one")
}

/// The local store's upload URL (the token is the credential, as in a presigned S3 URL).
#[utoipa::path(
    tag = "attachments",
    params(("token" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Stored"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/{token}")]
async fn upload_blob(
    store: Option<web::Data<LocalStore>>,
    pool: web::Data<DbPool>,
    req: HttpRequest,
    token: web::Path<String>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let store = store.ok_or_else(|| ApiError::not_found("no local object store here"))?;
    let mut conn = db::conn(&pool).await?;
    let grant = repo::grant(&mut conn, &secrets::digest(&token), "put")
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(expired)?;
    drop(conn);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != grant.content_type {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .detail(format!("this URL takes {} only", grant.content_type)));
    }
    let path = store.path_of(&grant.object_key);
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    let tmp = path.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut written: i64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("upload interrupted: {e}")))?;
        written += i64::try_from(chunk.len()).unwrap_or(i64::MAX);
        if written > grant.max_size {
            drop(file);
            drop(tokio::fs::remove_file(&tmp).await);
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            )
            .detail(format!("this URL takes at most {} bytes", grant.max_size)));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    file.sync_all().await.map_err(|e| ApiError::internal(&e))?;
    drop(file);
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok().finish())
}

/// The local store's download URL.
#[utoipa::path(
    tag = "attachments",
    params(("token" = String, Path)),
    responses(
        (status = 200, description = "The bytes, as a download", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{token}")]
async fn download_blob(
    store: Option<web::Data<LocalStore>>,
    pool: web::Data<DbPool>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store = store.ok_or_else(|| ApiError::not_found("no local object store here"))?;
    let mut conn = db::conn(&pool).await?;
    let grant = repo::grant(&mut conn, &secrets::digest(&token), "get")
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(expired)?;
    drop(conn);
    let bytes = tokio::fs::read(store.path_of(&grant.object_key))
        .await
        .map_err(|_| ApiError::not_found("the object is gone"))?;
    Ok(HttpResponse::Ok()
        .content_type(grant.content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            content_disposition(&grant.filename),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(bytes))
}
