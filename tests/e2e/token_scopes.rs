//! Personal access tokens with scopes (`read`, `write`, `admin`), project limits and expiry:
//! the scope matrix across domains, token minting, and live editing with a read-only token.

use mdz_tests::{JsClient, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// A token of `user` made with a session; returns (secret, id).
async fn pat(app: &TestApp, user: &TestUser, body: Value) -> (String, String) {
    let (status, created) = app
        .post("/api/v1/auth/tokens", Some(&user.access), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["token"].as_str().unwrap().to_owned(),
        created["id"].as_str().unwrap().to_owned(),
    )
}

fn assert_forbidden(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
    assert_eq!(body["type"], "urn:mdz:problem:forbidden", "{what}");
}

/// Writes in several domains with `token`: (what, status, body) for each.
async fn writes(
    app: &TestApp,
    token: &str,
    project: &str,
    file: &str,
) -> Vec<(&'static str, StatusCode, Value)> {
    let mut out = Vec::new();
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{project}/files"),
            Some(token),
            json!({"path": format!("notes/{}.md", uuid_like()), "content": "x"}),
        )
        .await;
    out.push(("create a file", s, b));
    let (s, b) = app
        .patch(
            &format!("/api/v1/projects/{project}"),
            Some(token),
            json!({"description": "changed"}),
        )
        .await;
    out.push(("configure the project", s, b));
    let (s, b) = app
        .post(
            &format!("/api/v1/files/{file}/comments"),
            Some(token),
            json!({"body": "a remark", "quote": "hello"}),
        )
        .await;
    out.push(("comment", s, b));
    let (s, b) = app
        .post(
            &format!("/api/v1/projects/{project}/sessions"),
            Some(token),
            json!({"title": "a chat"}),
        )
        .await;
    out.push(("start an AI session", s, b));
    let (s, b) = app
        .patch(
            "/api/v1/auth/me",
            Some(token),
            json!({"display_name": "New"}),
        )
        .await;
    out.push(("change the profile", s, b));
    out
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scope_matrix() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let file = app
        .create_file(&owner, &project, "a.md", "hello world")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for scope in ["read", "write", "admin"] {
        let (token, _) = pat(&app, &owner, json!({"name": scope, "scope": scope})).await;
        // Reads work with every scope.
        for path in [
            "/api/v1/auth/me".to_owned(),
            format!("/api/v1/projects/{project}"),
            format!("/api/v1/files/{file}"),
            format!("/api/v1/files/{file}/comments"),
        ] {
            let (status, body) = app.get(&path, Some(&token)).await;
            assert_eq!(status, StatusCode::OK, "{scope} GET {path}: {body}");
        }
        for (what, status, body) in writes(&app, &token, &project, &file).await {
            if scope == "read" {
                assert_forbidden(status, &body, what);
            } else {
                assert!(status.is_success(), "{scope} may {what}: {status} {body}");
            }
        }
        // Deleting is a write too.
        let (status, body) = app
            .call(
                Method::DELETE,
                &format!("/api/v1/files/{file}"),
                Some(&token),
                None,
            )
            .await;
        if scope == "read" {
            assert_forbidden(status, &body, "delete a file");
        }
        if status.is_success() {
            let (status, body) = app
                .post(
                    &format!("/api/v1/files/{file}/restore"),
                    Some(&owner.access),
                    json!({}),
                )
                .await;
            assert!(status.is_success(), "{body}");
        }
        // Only admin tokens (and sessions) manage tokens.
        let (status, body) = app
            .post(
                "/api/v1/auth/tokens",
                Some(&token),
                json!({"name": "minted", "scope": "read"}),
            )
            .await;
        if scope == "admin" {
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let id = body["id"].as_str().unwrap();
            let (status, body) = app
                .delete(&format!("/api/v1/auth/tokens/{id}"), Some(&token))
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        } else {
            assert_forbidden(status, &body, "mint a token");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_list_shows_scope_projects_expiry_and_last_use() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let (token, id) = pat(
        &app,
        &owner,
        json!({"name": "ci", "scope": "read", "projects": [project], "expires_in_days": 7}),
    )
    .await;
    let (_, list) = app.get("/api/v1/auth/tokens", Some(&owner.access)).await;
    let row = &list["items"][0];
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["scope"], "read");
    assert_eq!(row["projects"], json!([project]));
    assert!(row["expires_at"].is_string());
    assert!(row["last_used_at"].is_null());
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&token)).await.0,
        StatusCode::OK
    );
    let (_, list) = app.get("/api/v1/auth/tokens", Some(&owner.access)).await;
    assert!(list["items"][0]["last_used_at"].is_string(), "{list}");

    // Expired: refused.
    app.sql(&format!(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = '{id}'"
    ))
    .await;
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Bad requests are 422.
    for bad in [
        json!({"name": "x", "scope": "root"}),
        json!({"name": "x", "projects": []}),
        json!({"name": "x", "expires_at": "2000-01-01T00:00:00Z"}),
        json!({"name": "x", "expires_in_days": 3, "expires_at": "2999-01-01T00:00:00Z"}),
    ] {
        let (status, body) = app
            .post("/api/v1/auth/tokens", Some(&owner.access), bad.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let at = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let (status, body) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&owner.access),
            json!({"name": "dated", "expires_at": at}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["scope"], "write", "the default scope");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_limited_to_projects_sees_only_those() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let inside = app.project_with(&owner, &[]).await;
    let outside = app.project_with(&owner, &[]).await;
    let in_file = app
        .create_file(&owner, &inside, "in.md", "shared word")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out_file = app
        .create_file(&owner, &outside, "out.md", "shared word")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (token, _) = pat(
        &app,
        &owner,
        json!({"name": "one project", "scope": "admin", "projects": [inside]}),
    )
    .await;

    let (status, _) = app
        .get(&format!("/api/v1/projects/{inside}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        format!("/api/v1/projects/{outside}"),
        format!("/api/v1/files/{out_file}"),
        format!("/api/v1/projects/{outside}/files"),
    ] {
        let (status, body) = app.get(&path, Some(&token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    assert_eq!(
        app.get(&format!("/api/v1/files/{in_file}"), Some(&token))
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/projects/{outside}/files"),
            Some(&token),
            json!({"path": "sneaky.md", "content": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (_, list) = app.get("/api/v1/projects", Some(&token)).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [inside.as_str()]);
    let (status, found) = app.get("/api/v1/search?q=shared", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let hits: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["file_id"].as_str().or(h["id"].as_str()).unwrap())
        .collect();
    assert_eq!(hits, [in_file.as_str()], "{found}");

    // It cannot mint a token that reaches further than itself.
    let (status, body) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&token),
            json!({"name": "wider", "scope": "read"}),
        )
        .await;
    assert_forbidden(status, &body, "mint an unlimited token");
    let (status, body) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&token),
            json!({"name": "narrow", "scope": "read", "projects": [inside]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_edits_live_as_a_viewer_at_most() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let editor = app.new_user().await;
    let project = app.project_with(&owner, &[(&editor, "editor")]).await;
    let file = app
        .create_file(&owner, &project, "plan.md", "shared text")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (read_token, _) = pat(&app, &owner, json!({"name": "ro", "scope": "read"})).await;

    let mut writer = JsClient::connect(&app.ws_base(), &file, &editor.access).await;
    let mut reader = JsClient::connect(&app.ws_base(), &file, &read_token).await;
    writer.synced().await;
    reader.synced().await;
    reader.append(" EVIL").await;
    // Past a role re-check of the room, too.
    tokio::time::sleep(Duration::from_millis(900)).await;
    reader.append(" WORSE").await;
    writer.append(" GOOD").await;
    reader.wait_contains("GOOD").await;
    let text = writer.wait_contains("GOOD").await;
    assert!(
        !text.contains("EVIL") && !text.contains("WORSE"),
        "the owner's read-only token wrote: {text:?}"
    );
    writer.stop().await;
    reader.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suggest_token_proposes_but_never_writes() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let file = app
        .create_file(&owner, &project, "a.md", "hello world")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Made for MCP without a scope: suggestions only; the listing says so.
    let (token, id) = pat(&app, &owner, json!({"name": "assistant", "purpose": "mcp"})).await;
    let (_, list) = app.get("/api/v1/auth/tokens", Some(&owner.access)).await;
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["scope"], "suggest", "{list}");

    let (status, body) = app
        .get(&format!("/api/v1/files/{file}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let revision = body["revision"].as_i64().unwrap();
    let file_path = format!("/api/v1/files/{file}");
    let (status, body) = app
        .call(
            Method::PUT,
            &file_path,
            Some(&token),
            Some(json!({"content": "rewritten"})),
        )
        .await;
    assert_forbidden(status, &body, "save a file");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("only suggests edits"),
        "{body}"
    );
    let (status, body) = app
        .patch(&file_path, Some(&token), json!({"path": "b.md"}))
        .await;
    assert_forbidden(status, &body, "move a file");
    let (status, body) = app.delete(&file_path, Some(&token)).await;
    assert_forbidden(status, &body, "trash a file");
    for (what, status, body) in writes(&app, &token, &project, &file).await {
        assert_forbidden(status, &body, what);
    }
    let (status, body) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&token),
            json!({"name": "minted", "scope": "write"}),
        )
        .await;
    assert_forbidden(status, &body, "mint a token");

    // What it is for: proposing.
    let (status, suggestion) = app
        .post(
            &format!("/api/v1/files/{file}/suggestions"),
            Some(&token),
            json!({"range": {"from": 0, "to": 5, "revision": revision}, "proposed": "howdy"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{suggestion}");
    // …but not deciding.
    let (status, body) = app
        .post(
            &format!(
                "/api/v1/suggestions/{}/accept",
                suggestion["id"].as_str().unwrap()
            ),
            Some(&token),
            json!({}),
        )
        .await;
    assert_forbidden(status, &body, "accept a suggestion");
    let (_, doc) = app.get(&file_path, Some(&owner.access)).await;
    assert_eq!(doc["content"], "hello world");

    // A token made for MCP with the write scope writes.
    let (full, _) = pat(
        &app,
        &owner,
        json!({"name": "trusted", "purpose": "mcp", "scope": "write"}),
    )
    .await;
    let (status, body) = app
        .call(
            Method::PUT,
            &file_path,
            Some(&full),
            Some(json!({"content": "rewritten"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&owner.access),
            json!({"name": "x", "purpose": "robots"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
