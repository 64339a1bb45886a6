//! Comments and notifications: anchored threads, replies, resolve/reopen, edit and delete
//! rights by role, `@email` mentions becoming notifications, pagination and bad input.

use mdz_tests::{TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Setup {
    app: TestApp,
    owner: TestUser,
    editor: TestUser,
    commenter: TestUser,
    viewer: TestUser,
    file: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let editor = app.new_user().await;
    let commenter = app.new_user().await;
    let viewer = app.new_user().await;
    let project = app
        .project_with(
            &owner,
            &[
                (&editor, "editor"),
                (&commenter, "commenter"),
                (&viewer, "viewer"),
            ],
        )
        .await;
    let file = app
        .create_file(&owner, &project, "spec.md", "# Spec\n\nThe plan.\n")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup {
        app,
        owner,
        editor,
        commenter,
        viewer,
        file,
    }
}

async fn comment(s: &Setup, user: &TestUser, body: Value) -> (StatusCode, Value) {
    s.app
        .post(
            &format!("/api/v1/files/{}/comments", s.file),
            Some(&user.access),
            body,
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn threads_replies_resolution_and_rights() {
    let s = setup().await;
    let (status, root) = comment(
        &s,
        &s.commenter,
        json!({"body": "Is this right? @{} please check", "quote": "The plan.",
               "anchor": {"start": "AQID", "end": "BAUG"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{root}");
    let root_id = root["id"].as_str().unwrap().to_owned();
    assert_eq!(root["quote"], "The plan.");
    assert_eq!(root["anchor"]["start"], "AQID");
    assert_eq!(root["author"], s.commenter.id.as_str());

    // Viewers read but may not comment; strangers see nothing.
    let (status, _) = comment(&s, &s.viewer, json!({"body": "hi"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let stranger = s.app.new_user().await;
    let (status, _) = comment(&s, &stranger, json!({"body": "hi"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .app
        .get(
            &format!("/api/v1/files/{}/comments", s.file),
            Some(&stranger.access),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Replies; a reply to a reply joins the same thread.
    let (status, r1) = s
        .app
        .post(
            &format!("/api/v1/comments/{root_id}/replies"),
            Some(&s.editor.access),
            json!({"body": "Looks right"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r1}");
    let r1_id = r1["id"].as_str().unwrap();
    let (status, r2) = s
        .app
        .post(
            &format!("/api/v1/comments/{r1_id}/replies"),
            Some(&s.owner.access),
            json!({"body": "Agreed"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(r2["parent_id"], root_id.as_str());
    let (status, _) = s
        .app
        .post(
            &format!("/api/v1/comments/{root_id}/replies"),
            Some(&s.viewer.access),
            json!({"body": "me too"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, threads) = s
        .app
        .get(
            &format!("/api/v1/files/{}/comments", s.file),
            Some(&s.viewer.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(threads["items"].as_array().unwrap().len(), 1);
    let replies: Vec<&str> = threads["items"][0]["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap())
        .collect();
    assert_eq!(replies, ["Looks right", "Agreed"]);

    // Only the author edits the body; any commenter resolves; replies are not resolved.
    let (status, _) = s
        .app
        .patch(
            &format!("/api/v1/comments/{root_id}"),
            Some(&s.owner.access),
            json!({"body": "hijack"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, edited) = s
        .app
        .patch(
            &format!("/api/v1/comments/{root_id}"),
            Some(&s.commenter.access),
            json!({"body": "Is this right?"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(edited["body"], "Is this right?");
    let (status, resolved) = s
        .app
        .patch(
            &format!("/api/v1/comments/{root_id}"),
            Some(&s.editor.access),
            json!({"resolved": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resolved["resolved_by"], s.editor.id.as_str());
    // Resolving it again changes nothing and records no second `comment.resolved`.
    let (status, again) = s
        .app
        .patch(
            &format!("/api/v1/comments/{root_id}"),
            Some(&s.commenter.access),
            json!({"resolved": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["resolved_by"], s.editor.id.as_str());
    let logged = "UPDATE project_events SET kind = kind WHERE kind = 'comment.resolved'";
    assert_eq!(s.app.sql(logged).await, 1);
    let (_, open) = s
        .app
        .get(
            &format!("/api/v1/files/{}/comments?resolved=false", s.file),
            Some(&s.owner.access),
        )
        .await;
    assert_eq!(open["items"].as_array().unwrap().len(), 0);
    let (status, _) = s
        .app
        .patch(
            &format!("/api/v1/comments/{r1_id}"),
            Some(&s.editor.access),
            json!({"resolved": true}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, reopened) = s
        .app
        .patch(
            &format!("/api/v1/comments/{root_id}"),
            Some(&s.commenter.access),
            json!({"resolved": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(reopened["resolved_at"].is_null());

    // Delete: not someone else's (below admin); the author and an admin may.
    let (status, _) = s
        .app
        .delete(
            &format!("/api/v1/comments/{r1_id}"),
            Some(&s.commenter.access),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .app
        .delete(&format!("/api/v1/comments/{r1_id}"), Some(&s.editor.access))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s
        .app
        .delete(
            &format!("/api/v1/comments/{root_id}"),
            Some(&s.owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, threads) = s
        .app
        .get(
            &format!("/api/v1/files/{}/comments", s.file),
            Some(&s.owner.access),
        )
        .await;
    assert_eq!(threads["items"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn mentions_notify_members_unread_first() {
    let s = setup().await;
    let outsider = s.app.new_user().await;
    for text in ["first", "second", "third"] {
        let (status, _) = comment(
            &s,
            &s.commenter,
            json!({"body": format!("{text}: @{} and @{} and @{}", s.editor.email, outsider.email, s.commenter.email)}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // The outsider is not a member and the author does not notify themself.
    let (_, none) = s
        .app
        .get("/api/v1/notifications", Some(&outsider.access))
        .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let (_, none) = s
        .app
        .get("/api/v1/notifications", Some(&s.commenter.access))
        .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    let (status, inbox) = s
        .app
        .get("/api/v1/notifications", Some(&s.editor.access))
        .await;
    assert_eq!(status, StatusCode::OK);
    let items = inbox["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["kind"], "mention");
    assert_eq!(items[0]["actor"], s.commenter.id.as_str());
    assert!(items[0]["excerpt"].as_str().unwrap().starts_with("third"));

    // Read the newest; it moves behind the unread ones.
    let newest = items[0]["id"].as_str().unwrap();
    let (status, marked) = s
        .app
        .post(
            "/api/v1/notifications/read",
            Some(&s.editor.access),
            json!({"ids": [newest]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(marked["updated"], 1);
    let (_, page1) = s
        .app
        .get("/api/v1/notifications?limit=2", Some(&s.editor.access))
        .await;
    let excerpts = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["excerpt"].as_str().unwrap()[..5].to_owned())
            .collect()
    };
    assert_eq!(excerpts(&page1), ["secon", "first"]);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = s
        .app
        .get(
            &format!("/api/v1/notifications?limit=2&cursor={cursor}"),
            Some(&s.editor.access),
        )
        .await;
    assert_eq!(excerpts(&page2), ["third"]);
    assert!(page2["next_cursor"].is_null());
    let (_, unread) = s
        .app
        .get("/api/v1/notifications?unread=true", Some(&s.editor.access))
        .await;
    assert_eq!(unread["items"].as_array().unwrap().len(), 2);
    let (_, all) = s
        .app
        .post(
            "/api/v1/notifications/read",
            Some(&s.editor.access),
            json!({}),
        )
        .await;
    assert_eq!(all["updated"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_comments_are_refused_and_threads_paginate() {
    let s = setup().await;
    for bad in [
        json!({"body": "   "}),
        json!({"body": "x".repeat(20_001)}),
        json!({"body": "ok", "anchor": {"start": "not base64!", "end": "AQID"}}),
        json!({"body": "ok", "unexpected": 1}),
        json!({"body": "ok", "quote": "q".repeat(2001)}),
    ] {
        let (status, problem) = comment(&s, &s.owner, bad).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{status} {problem}"
        );
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:mdz:problem:")
        );
    }
    let (status, _) = s
        .app
        .patch(
            &format!("/api/v1/comments/{}", uuid::Uuid::now_v7()),
            Some(&s.owner.access),
            json!({"resolved": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .app
        .get("/api/v1/files/not-a-uuid/comments", Some(&s.owner.access))
        .await;
    assert!(status == StatusCode::NOT_FOUND || status == StatusCode::UNPROCESSABLE_ENTITY);

    for i in 0..5 {
        comment(&s, &s.editor, json!({"body": format!("note {i}")})).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/files/{}/comments?limit=2&cursor={c}", s.file),
            None => format!("/api/v1/files/{}/comments?limit=2", s.file),
        };
        let (status, page) = s.app.get(&path, Some(&s.viewer.access)).await;
        assert_eq!(status, StatusCode::OK);
        for t in page["items"].as_array().unwrap() {
            seen.push(t["body"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["note 0", "note 1", "note 2", "note 3", "note 4"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn notifications_of_left_or_deleted_projects_are_not_readable() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let member = app.new_user().await;
    let mut notes = Vec::new();
    let mut projects = Vec::new();
    for name in ["left.md", "deleted.md"] {
        let project = app.project_with(&owner, &[(&member, "editor")]).await;
        let file = app.create_file(&owner, &project, name, "# Doc\n").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, _) = app
            .post(
                &format!("/api/v1/files/{file}/comments"),
                Some(&owner.access),
                json!({"body": format!("see @{}", member.email)}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (_, inbox) = app.get("/api/v1/notifications", Some(&member.access)).await;
        notes.push(inbox["items"][0]["id"].as_str().unwrap().to_owned());
        projects.push(project);
    }
    let inbox_len = async || {
        let (_, inbox) = app.get("/api/v1/notifications", Some(&member.access)).await;
        inbox["items"].as_array().unwrap().len()
    };
    assert_eq!(inbox_len().await, 2);

    // The member leaves the first project: its notification is neither listed nor markable.
    assert_eq!(
        app.delete(
            &format!("/api/v1/projects/{}/members/{}", projects[0], member.id),
            Some(&member.access),
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(inbox_len().await, 1);
    let (_, marked) = app
        .post(
            "/api/v1/notifications/read",
            Some(&member.access),
            json!({"ids": [notes[0]]}),
        )
        .await;
    assert_eq!(marked["updated"], 0);

    // The second project is deleted: nothing left to list or mark.
    assert_eq!(
        app.delete(
            &format!("/api/v1/projects/{}", projects[1]),
            Some(&owner.access)
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(inbox_len().await, 0);
    let (_, marked) = app
        .post(
            "/api/v1/notifications/read",
            Some(&member.access),
            json!({}),
        )
        .await;
    assert_eq!(marked["updated"], 0);

    // Restored, it comes back unread.
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/projects/{}/restore", projects[1]),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, inbox) = app
        .get("/api/v1/notifications?unread=true", Some(&member.access))
        .await;
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1);
    assert_eq!(inbox["items"][0]["id"], notes[1].as_str());
}
