//! The HTTP client the OpenID Connect library talks to the provider with: the workspace's
//! reqwest (rustls), so single sign-on brings no second HTTP or TLS stack. Redirects are never
//! followed (a provider answer cannot send mdz's server elsewhere), every call has a deadline,
//! and an answer is read up to [`MAX_RESPONSE_BYTES`].

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Largest answer read from the provider (discovery document, key set, token, user info).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Deadline of one call to the provider, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("building the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("calling the provider")]
    Request(#[source] reqwest::Error),
    #[error("the provider's answer is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("the provider's answer could not be read")]
    Response(#[source] openidconnect::http::Error),
}

/// A reqwest client that follows no redirect.
#[derive(Clone)]
pub struct Http(reqwest::Client);

impl Http {
    pub fn new() -> Result<Self, HttpError> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .build()
            .map(Self)
            .map_err(HttpError::Client)
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let mut res = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(HttpError::Request)?;
        let status = res.status();
        let headers = std::mem::take(res.headers_mut());
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(HttpError::Request)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(HttpError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        let mut out = openidconnect::http::Response::builder()
            .status(status)
            .body(bytes)
            .map_err(HttpError::Response)?;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
