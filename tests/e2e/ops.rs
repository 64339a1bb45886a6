//! Health, metrics, request ids, security headers, docs, the OpenAPI document, and migrations
//! that revert and re-apply.

use mdz_tests::{Options, Redis, TestApp};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn live_and_ready_without_redis() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/health/live", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body) = app.get("/health/ready", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["postgres"]["status"], "ok");
    assert_eq!(body["redis"]["backend"], "memory");
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_with_redis_reports_redis() {
    let app = TestApp::spawn_with(Options {
        redis: Redis::Shared,
        ..Options::default()
    })
    .await;
    let (status, body) = app.get("/health/ready", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["redis"]["backend"], "redis");
    assert_eq!(body["redis"]["status"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_has_a_request_id_and_security_headers() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    let h = res.headers();
    let id = h["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a uuid: {id}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );

    let res = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "client-chosen-42");

    // An id with characters that could forge log lines is replaced.
    let res = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "bad id\"with quotes")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id\"with quotes");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_methods_are_problem_json_with_the_request_id() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/api/v1/no-such-thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["request_id"], id.as_str());
    assert_eq!(body["instance"], "/api/v1/no-such-thing");

    let res = app
        .client
        .delete(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    // Routes are matched by method too, so an unsupported method is an unknown route.
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_use_route_templates_and_include_pool_and_process() {
    let app = TestApp::spawn().await;
    let random = uuid::Uuid::now_v7();
    let user = app.new_user().await;
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/auth/sessions/{random}"),
            Some(&user.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    assert!(
        text.contains(r#"mdz_http_requests_total{method="DELETE",route="/api/v1/auth/sessions/{id}",status="404"} 1"#),
        "{text}"
    );
    assert!(
        !text.contains(&random.to_string()),
        "raw ids must not become labels"
    );
    assert!(text.contains(
        r#"mdz_http_requests_total{method="POST",route="/api/v1/auth/register",status="201"} 1"#
    ));
    assert!(text.contains("mdz_http_request_duration_seconds_bucket"));
    assert!(text.contains("mdz_http_requests_in_flight"));
    assert!(text.contains("mdz_db_pool_max 4"));
    assert!(text.contains("mdz_db_pool_waiting"));
    assert!(text.contains("process_resident_memory_bytes"));
}

#[tokio::test(flavor = "multi_thread")]
async fn docs_render_offline_with_a_docs_csp() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    let res = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"));
    assert!(
        !html.contains("https://"),
        "the docs page must not load from a CDN"
    );
    let res = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert!(
        res.text().await.unwrap().contains("/api/v1/openapi.json"),
        "the UI loads mdz's own document"
    );
    let res = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_covers_every_route() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/auth/password",
        "/api/v1/auth/sessions",
        "/api/v1/auth/sessions/{id}",
        "/api/v1/auth/tokens",
        "/api/v1/auth/tokens/{id}",
        "/api/v1/auth/providers",
        "/api/v1/auth/oidc/start",
        "/api/v1/auth/oidc/callback",
        "/.well-known/jwks.json",
        "/api/v1/openapi.json",
        "/api/v1/projects",
        "/api/v1/projects/{id}",
        "/api/v1/projects/{id}/restore",
        "/api/v1/projects/{id}/members",
        "/api/v1/projects/{id}/members/{user_id}",
        "/api/v1/projects/{id}/transfer",
        "/api/v1/projects/{id}/invitations",
        "/api/v1/projects/{id}/invitations/{inv_id}",
        "/api/v1/invitations/{token}/accept",
        "/health/live",
        "/health/ready",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "missing {path}");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    insta::assert_json_snapshot!("openapi", doc, {".info.version" => "[version]"});
}

#[tokio::test(flavor = "multi_thread")]
async fn every_migration_reverts_and_reapplies_on_an_empty_database() {
    let app = TestApp::spawn().await;
    app.revert_migrations(usize::MAX).await;
    assert_eq!(
        app.sql("SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = 'files'")
            .await,
        0
    );
    app.migrate().await;
    // The app works on the schema built again.
    let owner = app.new_user().await;
    let (status, p) = app
        .post(
            "/api/v1/projects",
            Some(&owner.access),
            json!({"name": "Again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let (status, f) = app
        .post(
            &format!("/api/v1/projects/{}/files", p["id"].as_str().unwrap()),
            Some(&owner.access),
            json!({"path": "again.md", "content": "# Again\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{f}");
}
