//! The pages a share link opens, for anyone with its URL: `/s/{token}` (the document, or a
//! folder's index), `/s/{token}/{path}` (a document of a shared folder), `?raw=1` (the
//! Markdown), `/s/{token}/a/{attachment}` (an image a shared document shows), and the
//! password form's `POST /s/{token}`.

use super::public::Shown;
use super::render::{message_page, page_csp, password_page};
use super::unlock::{COOKIE_NAME, COOKIE_TTL_SECS};
use super::{ShareError, SharesService};
use crate::attachments::store::content_disposition;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, get, post, web};
use mdz_core::client::client_ip;
use mdz_core::ids::AttachmentId;
use mdz_core::{ApiError, Problem};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<SharesService>;

/// `/s/*`, at the server's root.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/s")
            .service(unlock_share)
            .service(share_root)
            .service(share_path),
    );
}

/// The policy of everything that is not an HTML page (raw Markdown, attachments).
const CSP_INERT: &str = "default-src 'none'; sandbox";
/// Attachment types shown inline (others download).
const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `1`: the document's Markdown instead of the page.
    raw: Option<String>,
}

impl PageQuery {
    fn raw(&self) -> bool {
        self.raw.as_deref().is_some_and(|r| r == "1" || r == "true")
    }
}

/// The password form's body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordForm {
    password: String,
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, page_csp()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-robots-tag", "noindex, nofollow"))
        .body(body)
}

/// Unknown, expired or deleted share, or nothing at that path: all look the same.
fn gone() -> HttpResponse {
    html(
        StatusCode::NOT_FOUND,
        message_page(
            "Not found",
            "This link does not exist, has expired or was revoked.",
        ),
    )
}

fn locked(token: &str, message: Option<&str>) -> HttpResponse {
    html(
        StatusCode::UNAUTHORIZED,
        password_page(&format!("/s/{token}"), message),
    )
}

/// The values of this request's unlock cookies.
fn cookies(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
        .collect()
}

/// Does `If-None-Match` name `etag`?
fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// The headers every answer about a readable share carries.
fn share_headers(b: &mut HttpResponseBuilder, etag: &str, indexable: bool) {
    b.insert_header((header::ETAG, etag.to_owned()))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if !indexable {
        b.insert_header(("x-robots-tag", "noindex, nofollow"));
    }
}

/// The shared document (or a shared folder's index), rendered on the server.
#[utoipa::path(
    tag = "shares",
    params(("token" = String, Path), PageQuery),
    responses(
        (status = 200, description = "The page (text/html) or, with `raw=1`, the Markdown", body = String, content_type = "text/html"),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 401, description = "The share has a password: the form", body = String, content_type = "text/html"),
        (status = 404, description = "Unknown, expired or revoked", body = String, content_type = "text/html"),
        (status = 413, description = "Too big to render (raw=1 still works)", body = String, content_type = "text/html"),
    )
)]
#[get("/{token}")]
async fn share_root(
    svc: Svc,
    req: HttpRequest,
    token: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    show(&svc, &req, &token, None, query.raw()).await
}

/// A document of a shared folder (`path` relative to the folder), or with `a/{id}` an
/// attachment that a shared document references.
#[utoipa::path(
    tag = "shares",
    params(("token" = String, Path), ("path" = String, Path), PageQuery),
    responses(
        (status = 200, description = "The page, the Markdown, or the attachment's bytes", body = String, content_type = "text/html"),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 401, description = "The share has a password: the form", body = String, content_type = "text/html"),
        (status = 404, description = "Not shared here", body = String, content_type = "text/html"),
        (status = 413, description = "Too big to render (raw=1 still works)", body = String, content_type = "text/html"),
    )
)]
#[get("/{token}/{path:.*}")]
async fn share_path(
    svc: Svc,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (token, rest) = path.into_inner();
    // Document paths end in `.md`, so `a/{uuid}` is never one.
    let attachment = rest
        .strip_prefix("a/")
        .filter(|id| id.len() == 36)
        .and_then(|id| uuid::Uuid::parse_str(id).ok());
    match attachment {
        Some(id) => attachment_bytes(&svc, &req, &token, AttachmentId(id)).await,
        None => {
            let rest = Some(rest.as_str()).filter(|r| !r.is_empty());
            show(&svc, &req, &token, rest, query.raw()).await
        }
    }
}

/// Check a share's password: a right one sets the unlock cookie (1 hour, this share's path
/// only) and goes back to the page; attempts are limited per share and per client address.
#[utoipa::path(
    tag = "shares",
    params(("token" = String, Path)),
    request_body(content = PasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Unlocked: back to the page, with the cookie"),
        (status = 401, description = "Wrong password: the form again", body = String, content_type = "text/html"),
        (status = 404, description = "Unknown, expired or revoked", body = String, content_type = "text/html"),
        (status = 400, description = "Not a readable form", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Form larger than the JSON body limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/x-www-form-urlencoded", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No password field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = String, content_type = "text/html"),
    )
)]
#[post("/{token}")]
async fn unlock_share(
    svc: Svc,
    req: HttpRequest,
    token: web::Path<String>,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, ApiError> {
    let share = match svc.open(&token).await {
        Err(ShareError::Gone) => return Ok(gone()),
        other => other?,
    };
    let ip = client_ip(&req);
    let root = format!("/s/{token}");
    match svc
        .unlock(&share, form.into_inner().password, ip.as_deref())
        .await
    {
        Ok(value) => {
            let secure = if svc.secure_cookie() { "; Secure" } else { "" };
            let cookie = format!(
                "{COOKIE_NAME}={value}; Path={root}; Max-Age={COOKIE_TTL_SECS}; HttpOnly; SameSite=Lax{secure}"
            );
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, root))
                .insert_header((header::SET_COOKIE, cookie))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish())
        }
        Err(ShareError::WrongPassword) => Ok(locked(&token, Some("Wrong password."))),
        Err(ShareError::RateLimited { retry_after_secs }) => {
            let mut res = html(
                StatusCode::TOO_MANY_REQUESTS,
                message_page(
                    "Too many attempts",
                    &format!("Try again in {retry_after_secs} seconds."),
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(res)
        }
        Err(e) => Err(e.into()),
    }
}

async fn show(
    svc: &SharesService,
    req: &HttpRequest,
    token: &str,
    path: Option<&str>,
    raw: bool,
) -> Result<HttpResponse, ApiError> {
    let share = match svc.open(token).await {
        Err(ShareError::Gone) => return Ok(gone()),
        other => other?,
    };
    if !svc.unlocked(&share, cookies(req).iter().map(String::as_str)) {
        return Ok(locked(token, None));
    }
    let shown = match svc.resolve(&share, path).await {
        Err(ShareError::Gone) => return Ok(gone()),
        other => other?,
    };
    if raw && matches!(shown, Shown::Index { .. }) {
        return Ok(gone());
    }
    let etag = SharesService::etag(&share, &shown, raw);
    if not_modified(req, &etag) {
        let mut b = HttpResponse::NotModified();
        share_headers(&mut b, &etag, share.allow_indexing);
        return Ok(b.finish());
    }
    let body = match svc.render(&share, token, shown, raw).await {
        Err(ShareError::Gone) => return Ok(gone()),
        Err(ShareError::TooBig(e)) => {
            return Ok(html(
                StatusCode::PAYLOAD_TOO_LARGE,
                message_page(
                    "Too big to show",
                    &format!("{e}. Add ?raw=1 to the address for the Markdown."),
                ),
            ));
        }
        other => other?,
    };
    let mut b = HttpResponse::Ok();
    share_headers(&mut b, &etag, share.allow_indexing);
    if body.markdown {
        b.content_type("text/markdown; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP_INERT));
    } else {
        b.content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, page_csp()));
    }
    Ok(b.body(body.text))
}

async fn attachment_bytes(
    svc: &SharesService,
    req: &HttpRequest,
    token: &str,
    id: AttachmentId,
) -> Result<HttpResponse, ApiError> {
    let share = match svc.open(token).await {
        Err(ShareError::Gone) => return Ok(gone()),
        other => other?,
    };
    if !svc.unlocked(&share, cookies(req).iter().map(String::as_str)) {
        return Ok(locked(token, None));
    }
    let (row, chunks) = match svc.attachment(&share, id).await {
        Err(ShareError::Gone) => return Ok(gone()),
        other => other?,
    };
    // An attachment's bytes never change.
    let etag = format!("\"{}\"", row.id);
    if not_modified(req, &etag) {
        let mut b = HttpResponse::NotModified();
        share_headers(&mut b, &etag, share.allow_indexing);
        return Ok(b.finish());
    }
    let mut b = HttpResponse::Ok();
    share_headers(&mut b, &etag, share.allow_indexing);
    let disposition = content_disposition(&row.filename);
    let disposition = if INLINE_TYPES.contains(&row.content_type.as_str()) {
        disposition.replacen("attachment", "inline", 1)
    } else {
        disposition
    };
    Ok(b.content_type(row.content_type.clone())
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP_INERT))
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .no_chunking(u64::try_from(row.size).unwrap_or(0))
        .streaming(chunks))
}
