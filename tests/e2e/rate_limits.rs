//! Login and registration rate limits, in-process and in Redis (shared by replicas).

use mdz_tests::{Options, PASSWORD, Redis, TestApp};
use reqwest::StatusCode;
use serde_json::json;

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn lockout_after_ten_failures(app: &TestApp) {
    let user = app.new_user().await;
    for i in 0..10 {
        let res = login(app, &user.email, "wrong-password-x").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The 11th is refused before the password is even checked: the right one too.
    let res = login(app, &user.email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["type"], "urn:mdz:problem:rate-limited");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_lock_out_in_process() {
    let app = TestApp::spawn().await;
    lockout_after_ten_failures(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_lock_out_in_redis() {
    let app = TestApp::spawn_with(Options {
        redis: Redis::Shared,
        ..Options::default()
    })
    .await;
    lockout_after_ten_failures(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_share_one_counter_through_redis() {
    let a = TestApp::spawn_with(Options {
        redis: Redis::Shared,
        ..Options::default()
    })
    .await;
    let b = TestApp::spawn_with(Options {
        redis: Redis::Shared,
        replica_of: Some(a.replica()),
        ..Options::default()
    })
    .await;
    let user = a.new_user().await;
    for _ in 0..5 {
        assert_eq!(
            login(&a, &user.email, "wrong-password-x").await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            login(&b, &user.email, "wrong-password-x").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&a, &user.email, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login(&b, &user.email, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_on_one_replica_is_seen_by_the_other_at_once() {
    let a = TestApp::spawn_with(Options {
        redis: Redis::Shared,
        ..Options::default()
    })
    .await;
    let b = TestApp::spawn_with(Options {
        redis: Redis::Shared,
        replica_of: Some(a.replica()),
        ..Options::default()
    })
    .await;
    let user = a.new_user().await;
    assert_eq!(
        b.get("/api/v1/auth/me", Some(&user.access)).await.0,
        StatusCode::OK
    );
    a.call(
        reqwest::Method::POST,
        "/api/v1/auth/logout",
        Some(&user.access),
        None,
    )
    .await;
    assert_eq!(
        b.get("/api/v1/auth/me", Some(&user.access)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_per_address_are_limited() {
    let app = TestApp::spawn_with(Options {
        config: vec![("register_max_per_ip", json!(3))],
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        app.new_user().await;
    }
    let (status, body) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "late@example.com", "password": PASSWORD, "display_name": "Late"}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}
