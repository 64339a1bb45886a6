//! A comment thread per suggestion: who may post and read it (commenters and above post,
//! every member reads, strangers 404), the thread itself (flat, oldest first, replies join
//! it, apart from the document's threads), and that discussing is not deciding.

use mdz_tests::{ROLES, Team, TestApp};
use reqwest::StatusCode;
use serde_json::json;

/// A document of `team` with one open suggestion by its editor; (file, suggestion).
async fn suggested(app: &TestApp, team: &Team) -> (String, String) {
    let file = team.document(app, "plan.md", "one two three").await;
    let (_, revision) = app.file_text(&team.editor, &file).await;
    let (status, body) = app
        .suggestions()
        .by_offsets(&team.editor, &file, (4, 7, revision), "TWO")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (file, body["id"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_role_matrix_of_a_suggestions_thread() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let (_, suggestion) = suggested(&app, &team).await;
    let path = format!("/api/v1/suggestions/{suggestion}/comments");
    for role in ROLES.iter().copied().chain(["outsider"]) {
        let user = team.member(role);
        let (status, body) = app
            .post(
                &path,
                Some(&user.access),
                json!({"body": format!("as {role}")}),
            )
            .await;
        let expected = match role {
            "viewer" => StatusCode::FORBIDDEN,
            "outsider" => StatusCode::NOT_FOUND,
            _ => StatusCode::CREATED,
        };
        assert_eq!(status, expected, "{role} posts: {body}");
        let (status, body) = app.get(&path, Some(&user.access)).await;
        let expected = if role == "outsider" {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(status, expected, "{role} reads: {body}");
    }
    // Commenting does not let a commenter decide.
    let (status, body) = app
        .post(
            &format!("/api/v1/suggestions/{suggestion}/accept"),
            Some(&team.commenter.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // An unknown suggestion is 404 for everyone.
    let unknown = "/api/v1/suggestions/01900000-0000-7000-8000-000000000000/comments";
    let (status, _) = app.get(unknown, Some(&team.owner.access)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(unknown, Some(&team.owner.access), json!({"body": "hi"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suggestion_has_its_own_flat_thread() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let (file, suggestion) = suggested(&app, &team).await;
    let path = format!("/api/v1/suggestions/{suggestion}/comments");
    let (_, first) = app
        .post(
            &path,
            Some(&team.commenter.access),
            json!({"body": format!("Why capitals, @{}?", team.editor.email)}),
        )
        .await;
    assert_eq!(first["suggestion_id"], suggestion.as_str(), "{first}");
    assert_eq!(first["file_id"], file.as_str());
    assert!(first["parent_id"].is_null() && first["anchor"].is_null());
    // Replying to a comment of the thread adds to the thread.
    let (status, reply) = app
        .post(
            &format!("/api/v1/comments/{}/replies", first["id"].as_str().unwrap()),
            Some(&team.editor.access),
            json!({"body": "For emphasis."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["suggestion_id"], suggestion.as_str());
    assert!(reply["parent_id"].is_null());
    // A document comment stays in the document's threads.
    let (status, _) = app
        .post(
            &format!("/api/v1/files/{file}/comments"),
            Some(&team.viewer.access),
            json!({"body": "viewers cannot"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, doc_comment) = app
        .post(
            &format!("/api/v1/files/{file}/comments"),
            Some(&team.owner.access),
            json!({"body": "about the document"}),
        )
        .await;

    let (_, thread) = app.get(&path, Some(&team.viewer.access)).await;
    let bodies: Vec<&str> = thread["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        [
            format!("Why capitals, @{}?", team.editor.email).as_str(),
            "For emphasis."
        ]
    );
    let (_, page) = app
        .get(&format!("{path}?limit=1"), Some(&team.viewer.access))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string(), "{page}");
    let (_, doc_threads) = app
        .get(
            &format!("/api/v1/files/{file}/comments"),
            Some(&team.viewer.access),
        )
        .await;
    let items = doc_threads["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{doc_threads}");
    assert_eq!(items[0]["id"], doc_comment["id"]);

    // The mention notifies like any comment's.
    let (_, inbox) = app
        .get("/api/v1/notifications", Some(&team.editor.access))
        .await;
    assert_eq!(inbox["items"][0]["comment_id"], first["id"], "{inbox}");
}
