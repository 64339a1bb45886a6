//! Malformed requests: every one answers problem+json with the right status and writes nothing.

use mdz_tests::{FakeLlm, Options, PASSWORD, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

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

/// A string PostgreSQL text cannot hold (U+0000), in the middle of otherwise good input.
const NUL: &str = "before\u{0}after";

/// Send `body` and check it is refused as a 422 problem naming `field`, not a 500.
async fn refuses_nul(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
    field: &str,
) {
    let res = app
        .request(method.clone(), path, Some(token))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    let problem: Value = res.json().await.unwrap();
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{method} {path} {body}: {problem}"
    );
    assert_eq!(ct, "application/problem+json");
    assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(field),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_in_account_fields_are_422() {
    let app = TestApp::spawn().await;
    let (status, _, body) = raw_post(
        &app,
        "/api/v1/auth/register",
        "application/json",
        json!({"email": "nul@b.co", "password": PASSWORD, "display_name": NUL}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "display_name", "{body}");
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "nul@b.co", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no account was made: {body}"
    );
    // An email with a NUL is not an email address (and never reaches a query).
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "a\u{0}@b.co", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "email", "{body}");

    let user = app.new_user().await;
    let me = "/api/v1/auth/me";
    refuses_nul(
        &app,
        Method::PATCH,
        me,
        &user.access,
        json!({"display_name": NUL}),
        "display_name",
    )
    .await;
    let (_, body) = app.get(me, Some(&user.access)).await;
    assert_eq!(body["display_name"], "Test User");
    let tokens = "/api/v1/auth/tokens";
    refuses_nul(
        &app,
        Method::POST,
        tokens,
        &user.access,
        json!({"name": NUL}),
        "name",
    )
    .await;
    let (_, body) = app.get(tokens, Some(&user.access)).await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(0), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_in_project_fields_are_422() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let t = owner.access.as_str();
    refuses_nul(
        &app,
        Method::POST,
        "/api/v1/projects",
        t,
        json!({"name": NUL}),
        "name",
    )
    .await;
    let body = json!({"name": "Docs", "description": NUL});
    refuses_nul(
        &app,
        Method::POST,
        "/api/v1/projects",
        t,
        body,
        "description",
    )
    .await;
    let (_, list) = app.get("/api/v1/projects", Some(t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");

    let project = app.project_with(&owner, &[]).await;
    let at = format!("/api/v1/projects/{project}");
    refuses_nul(
        &app,
        Method::PATCH,
        &at,
        t,
        json!({"name": "New", "description": NUL}),
        "description",
    )
    .await;
    let (_, p) = app.get(&at, Some(t)).await;
    assert_eq!(p["name"], "Docs", "nothing half-written: {p}");
    let members = format!("{at}/members");
    let body = json!({"email": "a\u{0}@b.co", "role": "editor"});
    refuses_nul(&app, Method::POST, &members, t, body, "email").await;
    let invitations = format!("{at}/invitations");
    let body = json!({"email": "a\u{0}@b.co", "role": "editor"});
    refuses_nul(&app, Method::POST, &invitations, t, body, "email").await;
    let (_, list) = app.get(&invitations, Some(t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_in_documents_paths_labels_and_searches_are_422() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let t = owner.access.as_str();
    let project = app.project_with(&owner, &[]).await;
    let files = format!("/api/v1/projects/{project}/files");
    let body = json!({"path": "a.md", "content": NUL});
    refuses_nul(&app, Method::POST, &files, t, body, "content").await;
    let body = json!({"path": "a\u{0}.md", "content": "x"});
    refuses_nul(&app, Method::POST, &files, t, body, "path").await;
    let (_, list) = app.get(&files, Some(t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");

    let file = app.create_file(&owner, &project, "a.md", "# A\n").await;
    let at = format!("/api/v1/files/{}", file["id"].as_str().unwrap());
    refuses_nul(
        &app,
        Method::PUT,
        &at,
        t,
        json!({"content": NUL}),
        "content",
    )
    .await;
    refuses_nul(
        &app,
        Method::PATCH,
        &at,
        t,
        json!({"path": "b\u{0}.md"}),
        "path",
    )
    .await;
    let label = format!("{at}/versions/1");
    refuses_nul(
        &app,
        Method::PATCH,
        &label,
        t,
        json!({"label": NUL}),
        "label",
    )
    .await;
    let (_, doc) = app.get(&at, Some(t)).await;
    assert_eq!(
        (doc["content"].as_str(), doc["revision"].as_i64()),
        (Some("# A\n"), Some(1))
    );
    let (_, v) = app.get(&label, Some(t)).await;
    assert_eq!(v["label"], Value::Null, "{v}");

    for search in [
        format!("/api/v1/projects/{project}/search?q=a%00b"),
        "/api/v1/search?q=a%00b".to_owned(),
    ] {
        let (status, body) = app.get(&search, Some(t)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{search}: {body}");
        assert_eq!(body["errors"][0]["field"], "q", "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_in_attachments_sessions_and_chat_are_422() {
    // A provider, so that a message gets as far as being stored.
    let llm = FakeLlm::start().await;
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("llm_provider", json!("openai")),
            ("llm_base_url", json!(llm.base_url.clone())),
            ("llm_api_key", json!("sk-fake")),
            ("llm_model", json!("gpt-test")),
        ],
        ..Options::default()
    })
    .await;
    let owner = app.new_user().await;
    let t = owner.access.as_str();
    let project = app.project_with(&owner, &[]).await;
    let attachments = format!("/api/v1/projects/{project}/attachments");
    let body = json!({"filename": NUL, "content_type": "image/png", "size": 10});
    refuses_nul(&app, Method::POST, &attachments, t, body, "filename").await;

    let sessions = format!("/api/v1/projects/{project}/sessions");
    for field in ["title", "instructions", "model", "provider"] {
        refuses_nul(&app, Method::POST, &sessions, t, json!({field: NUL}), field).await;
    }
    let (_, list) = app.get(&sessions, Some(t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
    let (status, session) = app.post(&sessions, Some(t), json!({"title": "Plan"})).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let at = format!("/api/v1/sessions/{}", session["id"].as_str().unwrap());
    for field in ["title", "instructions"] {
        refuses_nul(&app, Method::PATCH, &at, t, json!({field: NUL}), field).await;
    }
    let messages = format!("{at}/messages");
    refuses_nul(
        &app,
        Method::POST,
        &messages,
        t,
        json!({"content": NUL}),
        "content",
    )
    .await;
    let (_, list) = app.get(&messages, Some(t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
    let (_, s) = app.get(&at, Some(t)).await;
    assert_eq!(s["title"], "Plan", "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_through_mcp_tools_are_tool_errors() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let file = app.create_file(&owner, &project, "a.md", "# A\n").await;
    let (status, pat) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&owner.access),
            json!({"name": "mcp"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pat}");
    let pat = pat["token"].as_str().unwrap();
    for (tool, args) in [
        (
            "create_file",
            json!({"project_id": project, "path": "b.md", "content": NUL}),
        ),
        (
            "update_file",
            json!({"file_id": file["id"], "content": NUL}),
        ),
        ("search", json!({"query": NUL})),
    ] {
        let res = app
            .client
            .post(app.url("/mcp"))
            .bearer_auth(pat)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": tool, "arguments": args}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["result"]["isError"], true, "{tool}: {body}");
        let text = body["result"]["content"][0]["text"].as_str().unwrap();
        assert!(
            text.starts_with("invalid:") && (text.contains("NUL") || text.contains("control")),
            "{tool}: {text}"
        );
    }
    let (_, list) = app
        .get(
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    let (_, doc) = app
        .get(
            &format!("/api/v1/files/{}", file["id"].as_str().unwrap()),
            Some(&owner.access),
        )
        .await;
    assert_eq!(doc["revision"], 1, "{doc}");
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
