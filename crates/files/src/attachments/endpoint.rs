//! HTTP handlers for attachments, and for the local store's upload and download URLs.

use super::store::{LocalStore, UploadError, content_disposition, file_chunks};
use super::{AnnounceRequest, Announced, Attachment, AttachmentsService, repo};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use mdz_core::auth::AuthUser;
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{AttachmentId, ProjectId};
use mdz_core::{ApiError, Problem, secrets};
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
    .detail("this upload or download URL is unknown, already used, or expired; ask for a new one")
}

/// The local store's upload URL (the token is the credential, as in a presigned S3 URL). It
/// stores one upload: a second PUT is refused (403), unless the first stored nothing.
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
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let store = store.ok_or_else(|| ApiError::not_found("no local object store here"))?;
    let hash = secrets::digest(&token);
    let mut conn = db::conn(&pool).await?;
    let grant = repo::claim_put_grant(&mut conn, &hash)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(expired)?;
    drop(conn);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let stored = if content_type == grant.content_type {
        store
            .receive(&grant.object_key, grant.max_size, body)
            .await
            .map_err(|e| upload_failed(&e))
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .detail(format!("this URL takes {} only", grant.content_type)))
    };
    if stored.is_err() {
        // Nothing was stored: the URL stays good for another try.
        let mut conn = db::conn(&pool).await?;
        repo::release_put_grant(&mut conn, &hash)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    stored.map(|()| HttpResponse::Ok().finish())
}

fn upload_failed(e: &UploadError) -> ApiError {
    match e {
        UploadError::TooLarge { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
        )
        .detail(format!("this URL takes at most {limit} bytes")),
        UploadError::Interrupted(cause) => {
            ApiError::bad_request(format!("upload interrupted: {cause}"))
        }
        UploadError::Io(cause) => ApiError::internal(cause),
    }
}

/// The local store's download URL.
#[utoipa::path(
    tag = "attachments",
    params(("token" = String, Path)),
    responses(
        (status = 200, description = "The bytes, as a download, with the attachment's content type", content_type = "*/*", body = Vec<u8>),
        (status = 206, description = "The bytes of the one range asked for (`Range: bytes=…`)", content_type = "*/*", body = Vec<u8>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range lies past the end of the object"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{token}")]
async fn download_blob(
    store: Option<web::Data<LocalStore>>,
    pool: web::Data<DbPool>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store = store.ok_or_else(|| ApiError::not_found("no local object store here"))?;
    let mut conn = db::conn(&pool).await?;
    let grant = repo::grant(&mut conn, &secrets::digest(&token), "get")
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(expired)?;
    drop(conn);
    let (file, len) = store
        .open(&grant.object_key)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::not_found("the object is gone"))?;
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map_or(ByteRange::Whole, |v| byte_range(v, len));
    let (mut res, start, count) = match range {
        ByteRange::Whole => (HttpResponse::Ok(), 0, len),
        ByteRange::Part { start, end } => {
            let mut res = HttpResponse::PartialContent();
            res.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")));
            (res, start, end - start + 1)
        }
        ByteRange::Unsatisfiable => {
            return Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
                .finish());
        }
    };
    let chunks = file_chunks(file, start, count)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(res
        .content_type(grant.content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            content_disposition(&grant.filename),
        ))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .no_chunking(count)
        .streaming(chunks))
}

/// What a `Range` header asks of an object of some length.
#[derive(Debug, PartialEq, Eq)]
enum ByteRange {
    Whole,
    /// Bytes `start..=end`.
    Part {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

/// One `bytes=` range (`a-b`, `a-`, `-n`); anything else, several ranges included, is
/// answered with the whole object, which RFC 9110 allows.
fn byte_range(header: &str, len: u64) -> ByteRange {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return ByteRange::Whole;
    };
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => Some((start, end.min(len.saturating_sub(1)))),
        (Ok(start), Err(_)) if last.is_empty() => Some((start, len.saturating_sub(1))),
        (Err(_), Ok(suffix)) if first.is_empty() => {
            if suffix == 0 {
                return ByteRange::Unsatisfiable;
            }
            Some((len.saturating_sub(suffix), len.saturating_sub(1)))
        }
        _ => None,
    };
    match parsed {
        Some((start, end)) if start < len => ByteRange::Part { start, end },
        Some(_) => ByteRange::Unsatisfiable,
        None => ByteRange::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges() {
        let part = |start, end| ByteRange::Part { start, end };
        assert_eq!(byte_range("bytes=0-9", 100), part(0, 9));
        assert_eq!(byte_range("bytes=90-200", 100), part(90, 99));
        assert_eq!(byte_range("bytes=95-", 100), part(95, 99));
        assert_eq!(byte_range("bytes=-10", 100), part(90, 99));
        assert_eq!(byte_range("bytes=-500", 100), part(0, 99));
        assert_eq!(byte_range("bytes=100-", 100), ByteRange::Unsatisfiable);
        assert_eq!(byte_range("bytes=-0", 100), ByteRange::Unsatisfiable);
        assert_eq!(byte_range("bytes=0-0", 0), ByteRange::Unsatisfiable);
        assert_eq!(byte_range("bytes=5-2", 100), ByteRange::Whole);
        assert_eq!(byte_range("bytes=0-1,5-6", 100), ByteRange::Whole);
        assert_eq!(byte_range("items=0-1", 100), ByteRange::Whole);
        assert_eq!(byte_range("bytes=x-y", 100), ByteRange::Whole);
    }
}
