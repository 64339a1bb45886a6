//! The one middleware every request passes: request id, request span, metrics, security headers,
//! and problem+json bodies for errors that left the app without one (404, 405, …).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use mdz_core::ApiError;
use mdz_core::context::{self, RequestContext};
use mdz_core::metrics::HttpMetrics;
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const CSP_API: &str = "default-src 'none'; frame-ancestors 'none'";
const CSP_DOCS: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// An incoming request id is honoured when it is short and plain; otherwise a new one is made.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let metrics = req.app_data::<web::Data<HttpMetrics>>().cloned();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = tracing::field::Empty);
    if let Some(m) = &metrics {
        m.in_flight.inc();
    }
    let ctx = RequestContext::new(id.clone(), path.clone());
    let result = context::scope(ctx, next.call(req))
        .instrument(span.clone())
        .await;
    if let Some(m) = &metrics {
        m.in_flight.dec();
    }
    let mut res = match result {
        Ok(res) => res.map_into_boxed_body(),
        Err(err) => return Err(err),
    };

    // Errors produced outside our handlers (unknown route, wrong method) get a problem body.
    let status = res.status();
    if status.is_client_error() || status.is_server_error() {
        let has_body_type = res.headers().contains_key(header::CONTENT_TYPE);
        if !has_body_type {
            let ctx = RequestContext::new(id.clone(), path.clone());
            let problem = context::scope(ctx, async { problem_for(status) }).await;
            let (req, old) = res.into_parts();
            let mut new = problem.error_response();
            for (name, value) in old.headers() {
                if name != header::CONTENT_LENGTH {
                    new.headers_mut().insert(name.clone(), value.clone());
                }
            }
            res = ServiceResponse::new(req, new);
        }
    }

    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    span.record("route", route.as_str());
    let elapsed = started.elapsed();
    if let Some(m) = &metrics {
        let status = res.status().as_u16().to_string();
        let labels = [method.as_str(), route.as_str(), status.as_str()];
        m.requests.with_label_values(&labels).inc();
        m.duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let csp = if path.starts_with("/docs") {
            CSP_DOCS
        } else {
            CSP_API
        };
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    Ok(res)
}

fn problem_for(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::not_found("no resource at this path"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new(status, "method-not-allowed", "Method not allowed")
                .detail("this path does not accept this method")
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(status, "payload-too-large", "Payload too large")
        }
        s if s.is_server_error() => ApiError::new(s, "internal", "Internal server error"),
        s => ApiError::new(
            s,
            "http-error",
            s.canonical_reason().unwrap_or("Request failed"),
        ),
    }
}

/// The app's default service: a problem+json 404.
pub async fn not_found() -> actix_web::HttpResponse {
    ApiError::not_found("no resource at this path").error_response()
}
