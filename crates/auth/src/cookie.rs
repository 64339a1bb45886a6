//! Cookie mode for the web app: the refresh token travels in an `HttpOnly; SameSite=Strict`
//! cookie scoped to `/api/v1/auth` instead of the JSON body, so page scripts never read it.
//!
//! A client opts in with the `X-MDZ-Auth: cookie` header on register, login and refresh. The
//! refresh endpoint reads the cookie only when that header is present: a custom header cannot be
//! sent cross-origin without a CORS preflight, which the server's CORS policy does not allow for
//! it, and `SameSite=Strict` keeps the cookie off cross-site requests in the first place.
//! Without the header everything is as before (JSON token mode).

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};

/// The opt-in header and its value.
pub const MODE_HEADER: &str = "x-mdz-auth";
pub const MODE_COOKIE: &str = "cookie";
/// The cookie's name and the path it is sent to (register/login/refresh/logout live there).
pub const COOKIE_NAME: &str = "mdz_refresh";
pub const COOKIE_PATH: &str = "/api/v1/auth";

/// The single sign-on flow's cookie: the browser's half of a sign-in under way. `Lax`, not
/// `Strict`: the provider's redirect back to the callback is a cross-site navigation, and a
/// `Strict` cookie would not come with it.
pub const FLOW_COOKIE_NAME: &str = "mdz_oidc";
pub const FLOW_COOKIE_PATH: &str = "/api/v1/auth/oidc";

/// How the cookie is written: `Secure` when the public URL is https; its lifetime is the
/// refresh token's.
#[derive(Debug, Clone)]
pub struct CookiePolicy {
    pub secure: bool,
    pub max_age_secs: u64,
}

impl CookiePolicy {
    pub fn new(public_url: Option<&str>, refresh_ttl_secs: u64) -> Self {
        Self {
            secure: public_url.is_some_and(|u| u.to_ascii_lowercase().starts_with("https://")),
            max_age_secs: refresh_ttl_secs,
        }
    }

    fn header(&self, value: &str, max_age: u64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE_NAME}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        ))
        .ok()
    }

    /// `Set-Cookie` carrying a refresh token (tokens are URL-safe, so no quoting is needed).
    pub fn set(&self, token: &str) -> Option<HeaderValue> {
        self.header(token, self.max_age_secs)
    }

    /// `Set-Cookie` removing the cookie.
    pub fn clear(&self) -> Option<HeaderValue> {
        self.header("", 0)
    }

    /// `Set-Cookie` for a single sign-on flow's cookie (`max_age` 0 removes it).
    pub fn flow(&self, value: &str, max_age: u64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{FLOW_COOKIE_NAME}={value}; Path={FLOW_COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
        ))
        .ok()
    }
}

/// Whether the request opted into cookie mode.
pub fn wants_cookie(req: &HttpRequest) -> bool {
    req.headers()
        .get(MODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(MODE_COOKIE))
}

/// The refresh token from the cookie, if the request carries one.
pub fn read(req: &HttpRequest) -> Option<String> {
    read_named(req, COOKIE_NAME)
}

/// The value of the cookie `name`, if the request carries a non-empty one.
pub fn read_named(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, value)| *found == name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_only_for_https() {
        let https = CookiePolicy::new(Some("https://mdz.example"), 60);
        let v = https.set("mdz_rt_abc").unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "mdz_refresh=mdz_rt_abc; Path=/api/v1/auth; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        let http = CookiePolicy::new(Some("http://localhost:8080"), 60);
        assert!(!http.set("x").unwrap().to_str().unwrap().contains("Secure"));
        assert!(
            http.clear()
                .unwrap()
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
    }

    #[test]
    fn reads_its_cookie_among_others_and_needs_the_header_for_mode() {
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "a=1; mdz_refresh=tok; b=2"))
            .to_http_request();
        assert_eq!(read(&req).as_deref(), Some("tok"));
        assert!(!wants_cookie(&req));
        let req = TestRequest::default()
            .insert_header((MODE_HEADER, "cookie"))
            .to_http_request();
        assert!(wants_cookie(&req));
        assert_eq!(read(&req), None);
    }
}
