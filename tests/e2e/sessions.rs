//! Sessions: create with defaults, roles (editors create, everyone reads project sessions,
//! private ones only their creator), edit and delete rights, pinned documents checked,
//! newest-activity pagination, the archive, and bad input.

use mdz_tests::{TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Setup {
    app: TestApp,
    owner: TestUser,
    admin: TestUser,
    editor: TestUser,
    viewer: TestUser,
    project: String,
    file: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let admin = app.new_user().await;
    let editor = app.new_user().await;
    let viewer = app.new_user().await;
    let project = app
        .project_with(
            &owner,
            &[(&admin, "admin"), (&editor, "editor"), (&viewer, "viewer")],
        )
        .await;
    let file = app
        .create_file(&owner, &project, "brief.md", "# Brief\n")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup {
        app,
        owner,
        admin,
        editor,
        viewer,
        project,
        file,
    }
}

async fn create(s: &Setup, user: &TestUser, body: Value) -> (StatusCode, Value) {
    s.app
        .post(
            &format!("/api/v1/projects/{}/sessions", s.project),
            Some(&user.access),
            body,
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_have_defaults_roles_and_privacy() {
    let s = setup().await;
    let (status, plain) = create(&s, &s.editor, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    assert_eq!(plain["title"], "New session");
    assert_eq!(plain["visibility"], "project");
    assert_eq!(plain["model"], Value::Null);
    assert_eq!(plain["archived"], false);
    assert_eq!(plain["created_by"], s.editor.id.as_str());

    let (status, mine) = create(
        &s,
        &s.editor,
        json!({"title": "  Release notes  ", "model": "gpt-4o-mini", "instructions": "Be brief.",
               "context_file_ids": [s.file], "visibility": "private"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    assert_eq!(mine["title"], "Release notes");
    assert_eq!(mine["context_file_ids"], json!([s.file]));
    let private_id = mine["id"].as_str().unwrap().to_owned();

    // Viewers read project sessions but do not start any; strangers see nothing.
    let (status, _) = create(&s, &s.viewer, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let stranger = s.app.new_user().await;
    let (status, _) = s
        .app
        .get(
            &format!("/api/v1/projects/{}/sessions", s.project),
            Some(&stranger.access),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, list) = s
        .app
        .get(
            &format!("/api/v1/projects/{}/sessions", s.project),
            Some(&s.viewer.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "the private one is hidden"
    );
    let (status, _) = s
        .app
        .get(
            &format!("/api/v1/sessions/{private_id}"),
            Some(&s.owner.access),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "private means private, even to the owner"
    );
    let (_, list) = s
        .app
        .get(
            &format!("/api/v1/projects/{}/sessions", s.project),
            Some(&s.editor.access),
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    // Changing: creator yes, admin yes for project sessions, other editors and viewers no.
    let plain_id = plain["id"].as_str().unwrap();
    let (status, _) = s
        .app
        .patch(
            &format!("/api/v1/sessions/{plain_id}"),
            Some(&s.viewer.access),
            json!({"title": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, renamed) = s
        .app
        .patch(
            &format!("/api/v1/sessions/{plain_id}"),
            Some(&s.admin.access),
            json!({"title": "Roadmap", "model": "claude-sonnet-4-5"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["title"], "Roadmap");
    assert_eq!(renamed["model"], "claude-sonnet-4-5");
    let (_, cleared) = s
        .app
        .patch(
            &format!("/api/v1/sessions/{plain_id}"),
            Some(&s.editor.access),
            json!({"model": null}),
        )
        .await;
    assert_eq!(
        cleared["model"],
        Value::Null,
        "null returns to the default model"
    );
    assert_eq!(cleared["title"], "Roadmap", "absent fields stay");

    // Archive: it leaves the active list and appears in the archive.
    let (_, archived) = s
        .app
        .patch(
            &format!("/api/v1/sessions/{plain_id}"),
            Some(&s.editor.access),
            json!({"archived": true}),
        )
        .await;
    assert_eq!(archived["archived"], true);
    let (_, active) = s
        .app
        .get(
            &format!("/api/v1/projects/{}/sessions", s.project),
            Some(&s.viewer.access),
        )
        .await;
    assert_eq!(active["items"].as_array().unwrap().len(), 0);
    let (_, archive) = s
        .app
        .get(
            &format!("/api/v1/projects/{}/sessions?archived=true", s.project),
            Some(&s.viewer.access),
        )
        .await;
    assert_eq!(archive["items"][0]["id"], plain_id);

    // Delete: not by a viewer; by the creator.
    let (status, _) = s
        .app
        .delete(
            &format!("/api/v1/sessions/{plain_id}"),
            Some(&s.viewer.access),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .app
        .delete(
            &format!("/api/v1/sessions/{private_id}"),
            Some(&s.editor.access),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s
        .app
        .get(
            &format!("/api/v1/sessions/{private_id}"),
            Some(&s.editor.access),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sessions_are_refused_and_lists_paginate() {
    let s = setup().await;
    let other_project = s.app.project_with(&s.owner, &[]).await;
    let foreign = s
        .app
        .create_file(&s.owner, &other_project, "x.md", "x")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (bad, field) in [
        (json!({"title": ""}), "title"),
        (json!({"title": "t".repeat(201)}), "title"),
        (json!({"model": "gpt 4 with spaces"}), "model"),
        (json!({"instructions": "i".repeat(20_001)}), "instructions"),
        (json!({"context_file_ids": [foreign]}), "context_file_ids.0"),
        (
            json!({"context_file_ids": [uuid::Uuid::now_v7()]}),
            "context_file_ids.0",
        ),
    ] {
        let (status, problem) = create(&s, &s.editor, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    for bad in [json!({"visibility": "public"}), json!({"surprise": true})] {
        let (status, problem) = create(&s, &s.editor, bad).await;
        assert!(status.is_client_error(), "{problem}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:mdz:problem:")
        );
    }
    let (status, _) = s
        .app
        .get("/api/v1/sessions/nope", Some(&s.editor.access))
        .await;
    assert!(status == StatusCode::NOT_FOUND || status == StatusCode::UNPROCESSABLE_ENTITY);

    let mut made = Vec::new();
    for i in 0..5 {
        let (_, s1) = create(&s, &s.editor, json!({"title": format!("s{i}")})).await;
        made.push(s1["title"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/projects/{}/sessions?limit=2&cursor={c}", s.project),
            None => format!("/api/v1/projects/{}/sessions?limit=2", s.project),
        };
        let (status, page) = s.app.get(&path, Some(&s.viewer.access)).await;
        assert_eq!(status, StatusCode::OK);
        for item in page["items"].as_array().unwrap() {
            seen.push(item["title"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    made.reverse();
    assert_eq!(seen, made, "newest activity first, each once");
}
