//! Extractor configuration that turns malformed JSON, bad paths and bad queries into problem+json.

use crate::problem::{ApiError, FieldError};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};

/// `JsonConfig` with a body limit and problem+json errors: 413 too large, 415 not JSON,
/// 400 malformed, 422 wrong shape (with the field serde complained about).
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| json_error(err, limit).into())
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            )
            .detail(format!("the JSON body is larger than {limit} bytes"))
        }
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .detail("send the body as application/json"),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            let message = e.to_string();
            let field = field_from_serde_message(&message);
            ApiError::validation(vec![FieldError { field, message }])
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request(format!("the body is not valid JSON: {e}"))
        }
        other => ApiError::bad_request(format!("could not read the JSON body: {other}")),
    }
}

/// `FormConfig` with a body limit and the same problem+json answers as [`json_config`]: 413
/// too large, 415 not `application/x-www-form-urlencoded`, 422 a missing or malformed field,
/// 400 anything else.
pub fn form_config(limit: usize) -> web::FormConfig {
    web::FormConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| form_error(err, limit).into())
}

fn form_error(err: UrlencodedError, limit: usize) -> ApiError {
    match err {
        UrlencodedError::Overflow { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
        )
        .detail(format!("the form body is larger than {limit} bytes")),
        UrlencodedError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .detail("send the body as application/x-www-form-urlencoded"),
        UrlencodedError::Parse(e) => {
            let message = e.to_string();
            let field = field_from_serde_message(&message);
            ApiError::validation(vec![FieldError { field, message }])
        }
        other => ApiError::bad_request(format!("could not read the form body: {other}")),
    }
}

/// serde's messages name the field as "missing field `x`" or "unknown field `x`".
fn field_from_serde_message(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|_| message.contains("field `"))
        .unwrap_or("body")
        .to_owned()
}

/// Read a JSON body of up to `limit` bytes, with the same problem+json answers as
/// [`json_config`]; for the few routes whose bodies may be larger than the app-wide limit.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    use futures_util::StreamExt;
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.contains("+json"));
    if !is_json {
        return Err(json_error(JsonPayloadError::ContentType, limit));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(json_error(JsonPayloadError::Overflow { limit }, limit));
        }
        body.extend_from_slice(&chunk);
    }
    if std::str::from_utf8(&body).is_err() {
        return Err(ApiError::field("body", "must be valid UTF-8"));
    }
    serde_json::from_slice(&body).map_err(|e| json_error(JsonPayloadError::Deserialize(e), limit))
}

/// A path that does not parse (a malformed id) names nothing that exists: 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req: &HttpRequest| {
        ApiError::not_found(format!("no such resource ({err})")).into()
    })
}

/// A bad query string is a validation error on the query.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req: &HttpRequest| {
        ApiError::field("query", err.to_string()).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_is_taken_from_serde_messages() {
        assert_eq!(
            field_from_serde_message("missing field `email` at line 1 column 2"),
            "email"
        );
        assert_eq!(
            field_from_serde_message("invalid type: integer `5`, expected a string"),
            "body"
        );
    }
}
