//! Malformed requests: every one answers problem+json with the right status and writes nothing.

use mdz_tests::{Options, TestApp};
use reqwest::StatusCode;
use serde_json::json;

async fn raw_post(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, String, serde_json::Value) {
    let res = app
        .client
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    (status, ct, res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_wrong_types_missing_fields_and_unknown_fields() {
    let app = TestApp::spawn().await;
    let path = "/api/v1/auth/register";
    let (status, ct, body) = raw_post(&app, path, "application/json", "{\"email\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(ct, "application/problem+json");
    assert!(body["request_id"].is_string());

    let (status, _, body) = raw_post(
        &app,
        path,
        "application/json",
        r#"{"email": 5, "password": "violet-harbour-42", "display_name": "x"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, _, body) =
        raw_post(&app, path, "application/json", r#"{"email": "a@b.co"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "password", "{body}");

    let (status, _, body) = raw_post(
        &app,
        path,
        "application/json",
        r#"{"email":"a@b.co","password":"violet-harbour-42","display_name":"x","admin":true}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "admin", "{body}");

    let (status, _, _) = raw_post(&app, path, "text/plain", "hello").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // None of it created an account.
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "a@b.co", "password": "violet-harbour-42"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_413_problem_json() {
    let app = TestApp::spawn_with(Options {
        config: vec![("max_json_bytes", json!(4096))],
        ..Options::default()
    })
    .await;
    let big = json!({"email": "a@b.co", "password": "x".repeat(10_000), "display_name": "x"});
    let (status, ct, body) = raw_post(
        &app,
        "/api/v1/auth/register",
        "application/json",
        serde_json::to_vec(&big).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(ct, "application/problem+json");
    assert_eq!(body["status"], 413);
}

/// The safety net under the field checks: whatever text PostgreSQL refuses to store (a NUL
/// in `text`, SQLSTATE 22021; `\u0000` in `jsonb`, 22P05) is a 422 problem, not a 500.
#[tokio::test(flavor = "multi_thread")]
async fn text_postgresql_cannot_store_is_422_even_unchecked() {
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    use mdz_core::ApiError;
    use mdz_core::db::DbError;
    let app = TestApp::spawn().await;
    let mut conn = app.db().await;
    for (sql, value) in [
        ("SELECT $1::text AS v", "a\u{0}b"),
        ("SELECT ($1::jsonb ->> 'k') AS v", r#"{"k": "a\u0000b"}"#),
    ] {
        let err = diesel::sql_query(sql)
            .bind::<Text, _>(value)
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(mdz_core::db::unstorable_text(&err), "{sql}: {err}");
        let problem = ApiError::from(DbError::Query(err)).to_problem();
        assert_eq!(problem.status, 422, "{sql}: {problem:?}");
        assert!(problem.detail.unwrap().contains("NUL"));
    }
    // Other query failures stay 500s.
    let err = diesel::sql_query("SELECT 1/0")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(!mdz_core::db::unstorable_text(&err));
    assert_eq!(ApiError::from(DbError::Query(err)).status().as_u16(), 500);
}
