//! Redis goes down under a running node: readiness says so, and auth keeps answering.

use crate::collab::eventually;
use mdz_tests::{Options, PASSWORD, Redis, RedisServer, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_is_reported_and_auth_degrades_without_500s() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn_with(Options {
        redis: Redis::Url(redis.url()),
        ..Options::default()
    })
    .await;
    let user = app.new_user().await;
    let (status, _) = app.get("/health/ready", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        eventually(|| async {
            metrics(&app)
                .await
                .contains("\nmdz_redis_bus_connected 1\n")
        })
        .await,
        "the bus is subscribed"
    );

    redis.stop().await;

    assert!(
        eventually(|| async {
            metrics(&app)
                .await
                .contains("\nmdz_redis_bus_connected 0\n")
        })
        .await,
        "the bus gauge drops when Redis goes away (alert MdzRedisBusDisconnected)"
    );

    let (status, body) = app.get("/health/ready", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["redis"]["status"], "unavailable");
    assert_eq!(body["postgres"]["status"], "ok");

    // Login still works (rate limiting fails open and logs it).
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": user.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Access tokens are still checked for revocation, against PostgreSQL.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&user.access)).await.0,
        StatusCode::OK
    );
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&user.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&user.access)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn metrics(app: &TestApp) -> String {
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    res.text().await.unwrap()
}
