//! HTTP handlers of webhooks: extract, call the service, map the result.

use crate::interface::{
    CreateWebhook, CreatedWebhook, Delivery, DeliveryId, ListQuery, RotatedSecret, UpdateWebhook,
    Webhook, WebhookId,
};
use crate::service::WebhooksService;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use mdz_core::auth::AuthUser;
use mdz_core::ids::ProjectId;
use mdz_core::pagination::{Page, PageQuery};
use mdz_core::{ApiError, Problem};
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<WebhooksService>;

/// Routes under `/projects` (the server mounts them in the scope it shares).
pub fn project_routes(cfg: &mut ServiceConfig) {
    cfg.service(create_webhook).service(list_webhooks);
}

/// Routes under `/webhooks`.
pub fn webhook_routes(cfg: &mut ServiceConfig) {
    cfg.service(get_webhook)
        .service(update_webhook)
        .service(delete_webhook)
        .service(rotate_secret)
        .service(ping)
        .service(list_deliveries)
        .service(redeliver);
}

fn page(q: ListQuery) -> PageQuery {
    PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
}

/// Add a webhook to a project (admins and owners). The answer holds the signing secret
/// (`whsec_…`), shown this once.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path)),
    request_body = CreateWebhook,
    responses(
        (status = 201, body = CreatedWebhook),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/webhooks")]
async fn create_webhook(
    svc: Svc,
    user: AuthUser,
    path: web::Path<ProjectId>,
    body: web::Json<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let created = svc
        .create(user.user_id, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(created))
}

/// A project's webhooks (admins and owners).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = ProjectId, Path), ListQuery),
    responses(
        (status = 200, body = Page<Webhook>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/webhooks")]
async fn list_webhooks(
    svc: Svc,
    user: AuthUser,
    path: web::Path<ProjectId>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page(query.into_inner()).parse()?;
    Ok(HttpResponse::Ok().json(svc.list(user.user_id, path.into_inner(), page).await?))
}

/// One webhook (admins and owners of its project).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    responses(
        (status = 200, body = Webhook),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}")]
async fn get_webhook(
    svc: Svc,
    user: AuthUser,
    path: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.get(user.user_id, path.into_inner()).await?))
}

/// Change a webhook's URL or events, disable it, or enable it again.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    request_body = UpdateWebhook,
    responses(
        (status = 200, body = Webhook),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/{id}")]
async fn update_webhook(
    svc: Svc,
    user: AuthUser,
    path: web::Path<WebhookId>,
    body: web::Json<UpdateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let hook = svc
        .update(user.user_id, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(hook))
}

/// Delete a webhook and its delivery log.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/{id}")]
async fn delete_webhook(
    svc: Svc,
    user: AuthUser,
    path: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    svc.delete(user.user_id, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new signing secret, shown this once; the old one stops working at once.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    responses(
        (status = 200, body = RotatedSecret),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/secret")]
async fn rotate_secret(
    svc: Svc,
    user: AuthUser,
    path: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    let secret = svc.rotate(user.user_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(secret))
}

/// Queue a `webhook.ping` event to the webhook (202: it is sent in the background).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    responses(
        (status = 202, body = Delivery),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/test")]
async fn ping(
    svc: Svc,
    user: AuthUser,
    path: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(svc.ping(user.user_id, path.into_inner()).await?))
}

/// The delivery log, newest first, each delivery with its latest attempts.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path), ListQuery),
    responses(
        (status = 200, body = Page<Delivery>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/deliveries")]
async fn list_deliveries(
    svc: Svc,
    user: AuthUser,
    path: web::Path<WebhookId>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page(query.into_inner()).parse()?;
    Ok(HttpResponse::Ok().json(
        svc.deliveries(user.user_id, path.into_inner(), page)
            .await?,
    ))
}

/// Send a delivered or failed delivery again, with the same `webhook-id` (202).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path), ("did" = DeliveryId, Path)),
    responses(
        (status = 202, body = Delivery),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/{id}/deliveries/{did}/redeliver")]
async fn redeliver(
    svc: Svc,
    user: AuthUser,
    path: web::Path<(WebhookId, DeliveryId)>,
) -> Result<HttpResponse, ApiError> {
    let (id, did) = path.into_inner();
    Ok(HttpResponse::Accepted().json(svc.redeliver(user.user_id, id, did).await?))
}
