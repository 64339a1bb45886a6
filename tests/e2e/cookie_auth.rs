//! Cookie mode of the auth endpoints (the web app's): the refresh token in an HttpOnly,
//! SameSite=Strict cookie, read back only with the opt-in header; JSON mode unchanged.

use mdz_tests::{PASSWORD, TestApp};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

const MODE: &str = "x-mdz-auth";

/// The `mdz_refresh` value of a response's Set-Cookie, and the whole header.
fn refresh_cookie(res: &reqwest::Response) -> Option<(String, String)> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mdz_refresh="))
        .map(|v| {
            let value = v["mdz_refresh=".len()..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_owned();
            (value, v.to_owned())
        })
}

async fn cookie_login(app: &TestApp, email: &str) -> (String, Value) {
    let res = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .header(MODE, "cookie")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (token, header) = refresh_cookie(&res).unwrap();
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Strict"), "{header}");
    assert!(header.contains("Path=/api/v1/auth"), "{header}");
    let body: Value = res.json().await.unwrap();
    (token, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn cookie_mode_keeps_the_refresh_token_out_of_the_body_and_rotates_it() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com", PASSWORD, "Ada").await;
    let (token, body) = cookie_login(&app, "ada@example.com").await;
    assert!(token.starts_with("mdz_rt_"));
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body["access_token"].is_string());
    // Not Secure over http.
    let res = app
        .request(Method::POST, "/api/v1/auth/refresh", None)
        .header(MODE, "cookie")
        .header(header::COOKIE, format!("mdz_refresh={token}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (next, header) = refresh_cookie(&res).expect("a rotated cookie");
    assert!(!header.contains("Secure"));
    assert_ne!(next, token);
    let body: Value = res.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    let access = body["access_token"].as_str().unwrap();
    let (status, _) = app.get("/api/v1/auth/me", Some(access)).await;
    assert_eq!(status, StatusCode::OK);

    // Logout clears the cookie.
    let res = app
        .request(Method::POST, "/api/v1/auth/logout", Some(access))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (value, header) = refresh_cookie(&res).expect("a clearing cookie");
    assert!(value.is_empty() && header.contains("Max-Age=0"), "{header}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cookie_is_read_only_with_the_opt_in_header() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com", PASSWORD, "Ada").await;
    let (token, _) = cookie_login(&app, "ada@example.com").await;
    // A cross-site form or a request without the custom header cannot spend the cookie.
    let res = app
        .request(Method::POST, "/api/v1/auth/refresh", None)
        .header(header::COOKIE, format!("mdz_refresh={token}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refresh_cookie(&res).is_none());
    // The cookie was not spent: with the header it still works once.
    let res = app
        .request(Method::POST, "/api/v1/auth/refresh", None)
        .header(MODE, "cookie")
        .header(header::COOKIE, format!("mdz_refresh={token}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Without any cookie: a 422 asking to sign in again, not a 500.
    let res = app
        .request(Method::POST, "/api/v1/auth/refresh", None)
        .header(MODE, "cookie")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_mode_is_unchanged_and_sets_no_cookie() {
    let app = TestApp::spawn().await;
    let res = app
        .request(Method::POST, "/api/v1/auth/register", None)
        .json(&json!({"email": "b@example.com", "password": PASSWORD, "display_name": "B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(refresh_cookie(&res).is_none());
    let body: Value = res.json().await.unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    let (status, next) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        next["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("mdz_rt_")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cookie_is_secure_when_the_public_url_is_https() {
    let app = TestApp::spawn_with(mdz_tests::Options {
        config: vec![("public_url", json!("https://mdz.example"))],
        ..Default::default()
    })
    .await;
    let res = app
        .request(Method::POST, "/api/v1/auth/register", None)
        .header(MODE, "cookie")
        .json(&json!({"email": "c@example.com", "password": PASSWORD, "display_name": "C"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let (_, header) = refresh_cookie(&res).expect("a refresh cookie");
    assert!(header.ends_with("; Secure"), "{header}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cross_site_form_can_neither_spend_nor_clear_the_cookie() {
    let app = TestApp::spawn().await;
    app.register("ada@example.com", PASSWORD, "Ada").await;
    let (token, _) = cookie_login(&app, "ada@example.com").await;
    // What an HTML form on another site can send: a simple content type, that site's Origin,
    // and (were SameSite ignored) the cookie; never a custom header.
    for content_type in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        for path in ["/api/v1/auth/refresh", "/api/v1/auth/logout"] {
            let res = app
                .request(Method::POST, path, None)
                .header(header::ORIGIN, "https://evil.example")
                .header(header::CONTENT_TYPE, content_type)
                .header(header::COOKIE, format!("mdz_refresh={token}"))
                .body(format!(r#"{{"refresh_token":"{token}"}}"#))
                .send()
                .await
                .unwrap();
            assert!(
                res.status().is_client_error(),
                "{path} {content_type}: {}",
                res.status()
            );
            assert!(refresh_cookie(&res).is_none(), "{path} {content_type}");
        }
    }
    // Signing a victim into the attacker's account (login CSRF) sets no cookie either.
    let res = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .header(header::ORIGIN, "https://evil.example")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(r#"{"email":"ada@example.com","password":"x"}"#)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    assert!(refresh_cookie(&res).is_none());
    // The cookie was neither spent nor revoked: the app itself still refreshes with it.
    let res = app
        .request(Method::POST, "/api/v1/auth/refresh", None)
        .header(MODE, "cookie")
        .header(header::COOKIE, format!("mdz_refresh={token}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_never_lets_another_origin_send_the_cookie_mode_header() {
    // Even a server open to every origin: the opt-in header is not among the allowed ones, so
    // a cross-origin script cannot make the browser send it (nor would the cookie go along).
    let app = TestApp::spawn_with(mdz_tests::Options {
        config: vec![("cors_origins", json!("*"))],
        ..Default::default()
    })
    .await;
    let preflight = |headers: &'static str| {
        app.request(Method::OPTIONS, "/api/v1/auth/refresh", None)
            .header(header::ORIGIN, "https://evil.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
            .send()
    };
    let plain = preflight("content-type").await.unwrap();
    assert!(
        plain.status().is_success(),
        "CORS is open: {}",
        plain.status()
    );
    let res = preflight("content-type,x-mdz-auth").await.unwrap();
    let allowed = res
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        !(res.status().is_success() && allowed.contains("x-mdz-auth")),
        "{}: {allowed}",
        res.status()
    );
    assert!(
        res.headers()
            .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
            .is_none()
    );
}
