//! The embedded web app at `/`: the shell for client routes, cache headers, precompressed
//! assets, a CSP without inline script or eval, and the server's own paths never shadowed.

use mdz_tests::TestApp;
use reqwest::{Method, StatusCode, header};

async fn get(app: &TestApp, path: &str, encoding: Option<&str>) -> reqwest::Response {
    let mut rb = app.request(Method::GET, path, None);
    if let Some(e) = encoding {
        rb = rb.header(header::ACCEPT_ENCODING, e);
    }
    rb.send().await.unwrap()
}

fn h(res: &reqwest::Response, name: header::HeaderName) -> &str {
    res.headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap_or(""))
}

/// The hashed asset paths the shell loads.
fn assets(html: &str) -> Vec<String> {
    html.split('"')
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shell_is_served_for_client_routes_with_no_cache_and_a_strict_csp() {
    let app = TestApp::spawn().await;
    for path in ["/", "/signin", "/p/0190a000-0000-7000-8000-000000000000"] {
        let res = get(&app, path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(h(&res, header::CONTENT_TYPE).starts_with("text/html"));
        assert_eq!(h(&res, header::CACHE_CONTROL), "no-cache");
        let csp = h(&res, header::CONTENT_SECURITY_POLICY).to_owned();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
        let html = res.text().await.unwrap();
        assert!(html.contains("<div id=\"app\">"));
        // CodeMirror's <style> elements are admitted by this response's own nonce.
        let nonce = html
            .split("<meta name=\"csp-nonce\" content=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        assert!(nonce.len() >= 16 && nonce != "__CSP_NONCE__", "{nonce}");
        assert!(
            csp.contains(&format!("style-src 'self' 'nonce-{nonce}';")),
            "{csp}"
        );
        // No inline script: every <script> has a src.
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script type=\"module\" src=").count()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hashed_assets_are_immutable_and_precompressed_by_accept_encoding() {
    let app = TestApp::spawn().await;
    let html = get(&app, "/", None).await.text().await.unwrap();
    let assets = assets(&html);
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{html}");
    assert!(assets.iter().any(|a| a.ends_with(".css")), "{html}");
    for asset in &assets {
        let plain = get(&app, asset, None).await;
        assert_eq!(plain.status(), StatusCode::OK);
        assert!(h(&plain, header::CACHE_CONTROL).contains("immutable"));
        assert_eq!(h(&plain, header::CONTENT_ENCODING), "");
        assert!(h(&plain, header::VARY).contains("Accept-Encoding"));
        let plain_len = plain.bytes().await.unwrap().len();
        for (accept, expect) in [
            ("gzip", "gzip"),
            ("gzip, br", "br"),
            ("br;q=0, gzip", "gzip"),
        ] {
            // reqwest is built without decompression here: the bytes are what was sent.
            let res = get(&app, asset, Some(accept)).await;
            assert_eq!(
                h(&res, header::CONTENT_ENCODING),
                expect,
                "{asset} {accept}"
            );
            let len = res.bytes().await.unwrap().len();
            assert!(len < plain_len, "{asset}: {len} ≥ {plain_len}");
        }
    }
    // The service worker may fetch what it caches.
    let sw = get(&app, "/sw.js", None).await;
    assert_eq!(sw.status(), StatusCode::OK);
    assert_eq!(h(&sw, header::CACHE_CONTROL), "no-cache");
    assert_eq!(
        h(&sw, header::CONTENT_SECURITY_POLICY),
        "default-src 'self'"
    );
    let missing = get(&app, "/assets/main-NOPE.js", None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_never_shadows_the_servers_own_paths() {
    let app = TestApp::spawn().await;
    for path in [
        "/api",
        "/api/v1/nope",
        "/health/nope",
        "/.well-known/nope",
        "/docs/nope.js",
        "/metrics/x",
    ] {
        let res = get(&app, path, None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            h(&res, header::CONTENT_TYPE).starts_with("application/problem+json"),
            "{path}"
        );
    }
    let res = get(&app, "/health/live", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(h(&res, header::CONTENT_TYPE).starts_with("application/json"));
    let res = get(&app, "/.well-known/jwks.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Writes to the app's paths are not pages.
    let res = app.request(Method::POST, "/", None).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// A request written byte for byte (an HTTP client would normalise `..`, `%2e` or `//`):
/// the status, the content type and the body.
async fn raw_get(app: &TestApp, path: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    socket.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    socket.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn paths_out_of_the_bundle_are_not_served() {
    let app = TestApp::spawn().await;
    // The bundle is read from web/dist: nothing above it comes out, however the path is
    // spelled.
    for path in [
        "/../Cargo.toml",
        "/assets/../../Cargo.toml",
        "/assets/../../../Cargo.toml",
        "/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/..%2f..%2f..%2fCargo.toml",
        "/assets/%2e%2e/%2e%2e/%2e%2e/Cargo.toml",
        "/..%5c..%5cCargo.toml",
        "/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/assets/../../src/main.ts",
    ] {
        let (status, content_type, body) = raw_get(&app, path).await;
        assert_eq!(status, 404, "{path}: {content_type}\n{body}");
        assert!(
            !body.contains("[workspace]") && !body.contains("root:"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_servers_paths_are_not_shadowed_however_they_are_spelled() {
    let app = TestApp::spawn().await;
    // The router decodes `%61` to `a` and would route `/%61pi/v1/…` to the API, so what no
    // route takes there is the API's 404, not the app's shell; a doubled slash likewise.
    for path in [
        "/%61pi/v1/nope",
        "/%61%70%69",
        "//api/v1/nope",
        "///health/nope",
        "/%2ewell-known/nope",
        "/%64ocs/nope.js",
        "/api%2fv1/nope",
    ] {
        let (status, content_type, body) = raw_get(&app, path).await;
        assert_eq!(status, 404, "{path}: {content_type}\n{body}");
        assert!(
            content_type.starts_with("application/problem+json"),
            "{path}: {content_type}"
        );
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    format!("{scheme}://{}", rest.split('/').next().unwrap())
}

/// The sources of one directive of a policy.
fn directive(csp: &str, name: &str) -> Vec<String> {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix(name).filter(|rest| rest.starts_with(' ')))
        .map(|rest| rest.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn with_s3_the_page_may_reach_the_store_it_uploads_to_and_downloads_from() {
    use super::attachments::{announce, setup, upload};
    use serde_json::json;
    let (app, owner, project) = setup(true, vec![]).await;
    let png = b"\x89PNG\r\n\x1a\n0000".to_vec();
    let (status, announced) = announce(
        &app,
        &owner,
        &project,
        json!({"filename": "a.png", "content_type": "image/png", "size": png.len()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{announced}");
    let upload_url = announced["upload_url"].as_str().unwrap().to_owned();
    assert!(upload(&announced, png).await.is_success());
    let id = announced["id"].as_str().unwrap();
    let complete = app
        .request(
            Method::POST,
            &format!("/api/v1/attachments/{id}/complete"),
            Some(&owner.access),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(complete.status(), StatusCode::OK);
    let download = app
        .request(
            Method::GET,
            &format!("/api/v1/attachments/{id}"),
            Some(&owner.access),
        )
        .send()
        .await
        .unwrap();
    let location = h(&download, header::LOCATION).to_owned();
    // The web app fetches both (the upload, and the download through its redirect): the
    // shell's connect-src must admit their origin, and nothing else new.
    let res = get(&app, "/", None).await;
    let csp = h(&res, header::CONTENT_SECURITY_POLICY).to_owned();
    let connect = directive(&csp, "connect-src");
    for url in [&upload_url, &location] {
        assert!(connect.contains(&origin(url)), "{url} not in {csp}");
    }
    assert_eq!(connect.len(), 2, "{csp}");
    assert_eq!(directive(&csp, "script-src"), ["'self'"], "{csp}");
    // Without S3 the page connects to its own origin only.
    let local = TestApp::spawn().await;
    let res = get(&local, "/", None).await;
    let csp = h(&res, header::CONTENT_SECURITY_POLICY).to_owned();
    assert_eq!(directive(&csp, "connect-src"), ["'self'"], "{csp}");
}
