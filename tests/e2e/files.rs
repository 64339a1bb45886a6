//! Files: documents by path, ETags and the 412 race, history (coalescing, diff, restore, labels,
//! compact storage), the trash, the change feed, idempotent replays, roles and hostile input.

use mdz_tests::{Options, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn project_with(app: &TestApp, owner: &TestUser, others: &[(&TestUser, &str)]) -> String {
    let (status, p) = app
        .post(
            "/api/v1/projects",
            Some(&owner.access),
            json!({"name": "Docs"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = p["id"].as_str().unwrap().to_owned();
    for (user, role) in others {
        let (status, body) = app
            .post(
                &format!("/api/v1/projects/{id}/members"),
                Some(&owner.access),
                json!({"email": user.email, "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    id
}

async fn create(app: &TestApp, user: &TestUser, project: &str, path: &str, content: &str) -> Value {
    let (status, body) = app
        .post(
            &format!("/api/v1/projects/{project}/files"),
            Some(&user.access),
            json!({"path": path, "content": content}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn put(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    content: &str,
    if_match: Option<&str>,
) -> reqwest::Response {
    let mut rb = app
        .request(
            Method::PUT,
            &format!("/api/v1/files/{id}"),
            Some(&user.access),
        )
        .json(&json!({"content": content}));
    if let Some(etag) = if_match {
        rb = rb.header("if-match", etag);
    }
    rb.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_read_raw_list_rename_and_folders() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = project_with(&app, &owner, &[]).await;
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
        )
        .json(&json!({"path": "/notes/2026/plan.md", "content": "# The Plan\n\nShip it.\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["etag"], "\"1\"");
    let file: Value = res.json().await.unwrap();
    assert_eq!(file["path"], "notes/2026/plan.md");
    assert_eq!(file["title"], "The Plan");
    assert_eq!(file["size"], 21);
    let id = file["id"].as_str().unwrap().to_owned();

    let res = app
        .request(
            Method::GET,
            &format!("/api/v1/files/{id}"),
            Some(&owner.access),
        )
        .header("accept", "text/markdown")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    assert_eq!(res.headers()["etag"], "\"1\"");
    assert_eq!(res.text().await.unwrap(), "# The Plan\n\nShip it.\n");

    create(&app, &owner, &project, "notes/2026/ideas.md", "ideas").await;
    create(&app, &owner, &project, "notes/todo.md", "todo").await;
    create(&app, &owner, &project, "README.md", "readme").await;
    let (_, page) = app
        .get(
            &format!("/api/v1/projects/{project}/files?prefix=notes/2026&limit=1"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(page["items"][0]["path"], "notes/2026/ideas.md");
    assert!(page["items"][0].get("content").is_none());
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get(
            &format!("/api/v1/projects/{project}/files?prefix=notes/2026&limit=1&cursor={cursor}"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(rest["items"][0]["path"], "notes/2026/plan.md");
    assert!(rest["next_cursor"].is_null());

    let (_, folders) = app
        .get(
            &format!("/api/v1/projects/{project}/folders"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(folders["items"], json!([{"path": "notes/", "files": 3}]));
    let (_, folders) = app
        .get(
            &format!("/api/v1/projects/{project}/folders?prefix=notes"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(
        folders["items"],
        json!([{"path": "notes/2026/", "files": 2}])
    );

    // Rename; a taken path (in any case) is a conflict.
    let (status, moved) = app
        .patch(
            &format!("/api/v1/files/{id}"),
            Some(&owner.access),
            json!({"path": "archive/plan.md"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["path"], "archive/plan.md");
    let (status, body) = app
        .patch(
            &format!("/api/v1/files/{id}"),
            Some(&owner.access),
            json!({"path": "readme.MD"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = app
        .post(
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
            json!({"path": "NOTES/todo.md", "content": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread")]
async fn if_match_makes_exactly_one_of_two_racing_saves_win() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = project_with(&app, &owner, &[]).await;
    let file = create(&app, &owner, &project, "race.md", "v1").await;
    let id = file["id"].as_str().unwrap();
    for round in 0..5 {
        let res = app
            .request(
                Method::GET,
                &format!("/api/v1/files/{id}"),
                Some(&owner.access),
            )
            .send()
            .await
            .unwrap();
        let etag = res.headers()["etag"].to_str().unwrap().to_owned();
        let (text_a, text_b) = (format!("A{round}"), format!("B{round}"));
        let (a, b) = tokio::join!(
            put(&app, &owner, id, &text_a, Some(&etag)),
            put(&app, &owner, id, &text_b, Some(&etag)),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}");
    }
    // A stale ETag is refused with problem+json; no If-Match means last write wins.
    let res = put(&app, &owner, id, "stale", Some("\"1\"")).await;
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "urn:mdz:problem:precondition-failed");
    let res = put(&app, &owner, id, "forced", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, now) = app
        .get(&format!("/api/v1/files/{id}"), Some(&owner.access))
        .await;
    assert_eq!(now["content"], "forced");
}

#[tokio::test(flavor = "multi_thread")]
async fn history_coalesces_per_author_diffs_restores_and_labels() {
    let app = TestApp::spawn().await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let project = project_with(&app, &alice, &[(&bob, "editor")]).await;
    let file = create(&app, &alice, &project, "h.md", "line one\n").await;
    let id = file["id"].as_str().unwrap();
    // Three quick saves by Alice: one version.
    for text in [
        "line one\nline two\n",
        "line one\nline 2\n",
        "line one\nline two\nline three\n",
    ] {
        assert_eq!(
            put(&app, &alice, id, text, None).await.status(),
            StatusCode::OK
        );
    }
    let (_, versions) = app
        .get(&format!("/api/v1/files/{id}/versions"), Some(&alice.access))
        .await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 1, "{versions}");
    // Bob's save is a new version, then Alice's after Bob is another.
    assert_eq!(
        put(&app, &bob, id, "line one\nBOB\nline three\n", None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        put(
            &app,
            &alice,
            id,
            "line one\nBOB\nline three\nalice again\n",
            None
        )
        .await
        .status(),
        StatusCode::OK
    );
    let (_, versions) = app
        .get(&format!("/api/v1/files/{id}/versions"), Some(&alice.access))
        .await;
    let items = versions["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["n"], 3);
    assert_eq!(items[1]["author"], bob.id.as_str());
    assert_eq!(items[1]["lines_added"], 1);
    assert_eq!(items[1]["lines_removed"], 1);

    for (n, want) in [
        (1, "line one\nline two\nline three\n"),
        (2, "line one\nBOB\nline three\n"),
        (3, "line one\nBOB\nline three\nalice again\n"),
    ] {
        let (status, v) = app
            .get(
                &format!("/api/v1/files/{id}/versions/{n}"),
                Some(&alice.access),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["content"], want, "version {n}");
    }
    let (_, diff) = app
        .get(
            &format!("/api/v1/files/{id}/versions/2?diff=1"),
            Some(&alice.access),
        )
        .await;
    let unified = diff["unified"].as_str().unwrap();
    assert!(
        unified.contains("-line two\n") && unified.contains("+BOB\n"),
        "{unified}"
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/files/{id}/versions/9"),
            Some(&alice.access)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    let (status, labelled) = app
        .patch(
            &format!("/api/v1/files/{id}/versions/1"),
            Some(&alice.access),
            json!({"label": "First draft"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(labelled["label"], "First draft");
    let (status, restored) = app
        .call(
            Method::POST,
            &format!("/api/v1/files/{id}/versions/1/restore"),
            Some(&alice.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["content"], "line one\nline two\nline three\n");
    let (_, versions) = app
        .get(&format!("/api/v1/files/{id}/versions"), Some(&alice.access))
        .await;
    assert_eq!(versions["items"][0]["n"], 4, "restore makes a new version");
    // Every older version still reads back exactly.
    let (_, v3) = app
        .get(
            &format!("/api/v1/files/{id}/versions/3"),
            Some(&alice.access),
        )
        .await;
    assert_eq!(v3["content"], "line one\nBOB\nline three\nalice again\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn long_histories_read_back_exactly_and_stay_small() {
    let app = TestApp::spawn_with(Options {
        config: vec![("version_coalesce_secs", json!(0))],
        ..Options::default()
    })
    .await;
    let owner = app.new_user().await;
    let project = project_with(&app, &owner, &[]).await;
    let mut text: String = (0..400)
        .map(|i| format!("Paragraph {i}: some Markdown text.\n"))
        .collect();
    let file = create(&app, &owner, &project, "long.md", &text).await;
    let id = file["id"].as_str().unwrap().to_owned();
    let mut expected = vec![text.clone()];
    for i in 0..60 {
        let line = format!("Paragraph {}: ", (i * 37) % 400);
        text = text.replacen(&line, &format!("{line}edit {i} "), 1);
        assert_eq!(
            put(&app, &owner, &id, &text, None).await.status(),
            StatusCode::OK
        );
        expected.push(text.clone());
    }
    for n in [1usize, 2, 17, 30, 45, 60, 61] {
        let (_, v) = app
            .get(
                &format!("/api/v1/files/{id}/versions/{n}"),
                Some(&owner.access),
            )
            .await;
        assert_eq!(
            v["content"].as_str().unwrap(),
            expected[n - 1],
            "version {n}"
        );
    }
    let stored = app
        .sql(&format!(
            "SELECT 1 FROM file_versions WHERE file_id = '{id}' AND octet_length(body) > 200"
        ))
        .await;
    assert!(
        stored <= 1,
        "small edits are stored as small scripts ({stored} large rows)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn trash_restore_and_path_reuse() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = project_with(&app, &owner, &[]).await;
    let file = create(&app, &owner, &project, "t.md", "x").await;
    let id = file["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/files/{id}"), Some(&owner.access))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/files/{id}"), Some(&owner.access))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, trash) = app
        .get(
            &format!("/api/v1/projects/{project}/files?trashed=true"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(trash["items"][0]["id"], id);
    let (_, live) = app
        .get(
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(live["items"].as_array().unwrap().len(), 0);
    // The path is free while the old one is in the trash; restoring it then conflicts.
    let other = create(&app, &owner, &project, "t.md", "y").await;
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/files/{id}/restore"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    app.delete(
        &format!("/api/v1/files/{}", other["id"].as_str().unwrap()),
        Some(&owner.access),
    )
    .await;
    let (status, back) = app
        .call(
            Method::POST,
            &format!("/api/v1/files/{id}/restore"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(back["content"], "x");
}

#[tokio::test(flavor = "multi_thread")]
async fn change_feed_replays_a_sequence_of_edits_in_order() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = project_with(&app, &owner, &[]).await;
    let (_, start) = app
        .get(
            &format!("/api/v1/projects/{project}/changes"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(start["items"].as_array().unwrap().len(), 0);
    let cursor0 = start["cursor"].as_str().unwrap().to_owned();
    let a = create(&app, &owner, &project, "a.md", "a").await;
    let a_id = a["id"].as_str().unwrap();
    put(&app, &owner, a_id, "a2", None).await;
    app.patch(
        &format!("/api/v1/files/{a_id}"),
        Some(&owner.access),
        json!({"path": "b.md"}),
    )
    .await;
    app.delete(&format!("/api/v1/files/{a_id}"), Some(&owner.access))
        .await;
    app.call(
        Method::POST,
        &format!("/api/v1/files/{a_id}/restore"),
        Some(&owner.access),
        None,
    )
    .await;

    let (_, page) = app
        .get(
            &format!("/api/v1/projects/{project}/changes?cursor={cursor0}&limit=3"),
            Some(&owner.access),
        )
        .await;
    let kinds: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "updated", "renamed"]);
    assert_eq!(page["has_more"], true);
    let next = page["cursor"].as_str().unwrap();
    let (_, page) = app
        .get(
            &format!("/api/v1/projects/{project}/changes?cursor={next}"),
            Some(&owner.access),
        )
        .await;
    let kinds: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["deleted", "restored"]);
    assert_eq!(page["items"][1]["path"], "b.md");
    let last = page["cursor"].as_str().unwrap().to_owned();
    let (_, idle) = app
        .get(
            &format!("/api/v1/projects/{project}/changes?cursor={last}"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(idle["items"].as_array().unwrap().len(), 0);
    assert_eq!(idle["cursor"], last.as_str());

    // Compaction past a cursor: 410 with the instruction to list again.
    app.sql(&format!(
        "UPDATE file_change_counters SET horizon = 3 WHERE project_id = '{project}'"
    ))
    .await;
    let (status, body) = app
        .get(
            &format!("/api/v1/projects/{project}/changes?cursor=1"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("list"));
    let (status, _) = app
        .get(
            &format!("/api/v1/projects/{project}/changes?cursor=abc"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_keys_replay_instead_of_writing_twice() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = project_with(&app, &owner, &[]).await;
    let send = |key: &'static str, path: &'static str| {
        app.request(
            Method::POST,
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
        )
        .header("idempotency-key", key)
        .json(&json!({"path": path, "content": "offline edit"}))
        .send()
    };
    let first = send("k-1", "offline.md").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send("k-1", "offline.md").await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let (_, list) = app
        .get(
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // A PUT replayed after a later save returns its own first answer and writes nothing.
    let id = first["id"].as_str().unwrap();
    let put_with = |key: &'static str, content: &'static str| {
        app.request(
            Method::PUT,
            &format!("/api/v1/files/{id}"),
            Some(&owner.access),
        )
        .header("idempotency-key", key)
        .json(&json!({"content": content}))
        .send()
    };
    let a = put_with("k-2", "second").await.unwrap();
    assert_eq!(a.headers()["etag"], "\"2\"");
    assert_eq!(
        put(&app, &owner, id, "third", None).await.status(),
        StatusCode::OK
    );
    let replay = put_with("k-2", "second").await.unwrap();
    assert_eq!(replay.headers()["etag"], "\"2\"");
    let (_, now) = app
        .get(&format!("/api/v1/files/{id}"), Some(&owner.access))
        .await;
    assert_eq!(now["content"], "third");
    // The same key for another request is refused.
    let other = send("k-1", "different.md").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Two concurrent requests with one key write once.
    let (x, y) = tokio::join!(send("k-3", "twins.md"), send("k-3", "twins.md"));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.status(), StatusCode::CREATED);
    assert_eq!(y.status(), StatusCode::CREATED);
    let count = app
        .sql(&format!(
            "SELECT 1 FROM files WHERE project_id = '{project}' AND path = 'twins.md'"
        ))
        .await;
    assert_eq!(count, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_go_through_the_access_port() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let viewer = app.new_user().await;
    let commenter = app.new_user().await;
    let outsider = app.new_user().await;
    let project = project_with(
        &app,
        &owner,
        &[(&viewer, "viewer"), (&commenter, "commenter")],
    )
    .await;
    let file = create(&app, &owner, &project, "r.md", "x").await;
    let id = file["id"].as_str().unwrap();
    for reader in [&viewer, &commenter] {
        assert_eq!(
            app.get(&format!("/api/v1/files/{id}"), Some(&reader.access))
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            put(&app, reader, id, "no", None).await.status(),
            StatusCode::FORBIDDEN
        );
        let (status, body) = app
            .post(
                &format!("/api/v1/projects/{project}/files"),
                Some(&reader.access),
                json!({"path": "n.md", "content": ""}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(
            app.delete(&format!("/api/v1/files/{id}"), Some(&reader.access))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
    }
    for (status, _) in [
        app.get(&format!("/api/v1/files/{id}"), Some(&outsider.access))
            .await,
        app.get(
            &format!("/api/v1/files/{id}/versions"),
            Some(&outsider.access),
        )
        .await,
        app.get(
            &format!("/api/v1/projects/{project}/files"),
            Some(&outsider.access),
        )
        .await,
        app.get(
            &format!("/api/v1/projects/{project}/changes"),
            Some(&outsider.access),
        )
        .await,
        app.delete(&format!("/api/v1/files/{id}"), Some(&outsider.access))
            .await,
    ] {
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        put(&app, &outsider, id, "no", None).await.status(),
        StatusCode::NOT_FOUND
    );
    let (_, still) = app
        .get(&format!("/api/v1/files/{id}"), Some(&owner.access))
        .await;
    assert_eq!(still["content"], "x");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_paths_oversized_content_and_bad_ids() {
    let app = TestApp::spawn_with(Options {
        config: vec![("max_file_bytes", json!(1000))],
        ..Options::default()
    })
    .await;
    let owner = app.new_user().await;
    let project = project_with(&app, &owner, &[]).await;
    let long = format!("{}.md", "a/".repeat(600));
    for path in [
        "../etc/passwd.md",
        "a/../../b.md",
        "a//b.md",
        "a\\b.md",
        "a\u{0007}.md",
        "plain.txt",
        "",
        "/",
        long.as_str(),
    ] {
        let (status, body) = app
            .post(
                &format!("/api/v1/projects/{project}/files"),
                Some(&owner.access),
                json!({"path": path, "content": ""}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path:?}: {body}");
        assert_eq!(body["errors"][0]["field"], "path");
    }
    let (status, body) = app
        .post(
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
            json!({"path": "big.md", "content": "x".repeat(1001)}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let file = create(&app, &owner, &project, "ok.md", "fine").await;
    let res = put(
        &app,
        &owner,
        file["id"].as_str().unwrap(),
        &"y".repeat(1001),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = app
        .get("/api/v1/files/not-a-uuid", Some(&owner.access))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(
            &format!("/api/v1/files/{}", uuid::Uuid::now_v7()),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
        )
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Content that is not UTF-8 is refused as such.
    let mut body = br#"{"path": "bin.md", "content": ""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0x00]);
    body.extend_from_slice(br#""}"#);
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
