//! Full-text search: ranking (title first), highlights, websearch syntax, prefixes while typing,
//! deleted files, renames, trash and restore, membership checked at query time, and the search
//! table migration reverting with its data.

use mdz_tests::{TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn project(app: &TestApp, owner: &TestUser, name: &str) -> String {
    let (_, p) = app
        .post(
            "/api/v1/projects",
            Some(&owner.access),
            json!({"name": name}),
        )
        .await;
    p["id"].as_str().unwrap().to_owned()
}

async fn doc(app: &TestApp, owner: &TestUser, project: &str, path: &str, content: &str) -> String {
    let (status, f) = app
        .post(
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
            json!({"path": path, "content": content}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{f}");
    f["id"].as_str().unwrap().to_owned()
}

async fn search(app: &TestApp, user: &TestUser, path: &str, q: &str) -> (StatusCode, Value) {
    let url = reqwest::Url::parse_with_params(&app.url(path), &[("q", q)]).unwrap();
    let res = app
        .client
        .get(url)
        .bearer_auth(&user.access)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

fn paths(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ranking_highlights_syntax_and_prefixes() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let p = project(&app, &owner, "Search").await;
    doc(
        &app,
        &owner,
        &p,
        "notes/meeting.md",
        "# Weekly meeting\n\nWe talked about the roadmap and the budget.\n",
    )
    .await;
    doc(
        &app,
        &owner,
        &p,
        "roadmap.md",
        "# Roadmap\n\nQ1: planning. Q2: shipping the editor.\n",
    )
    .await;
    doc(
        &app,
        &owner,
        &p,
        "draft.md",
        "# Draft\n\nA roadmap draft with <script>alert(1)</script> inside.\n",
    )
    .await;
    let base = format!("/api/v1/projects/{p}/search");

    // Title matches rank first.
    let (status, page) = search(&app, &owner, &base, "roadmap ").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let found = paths(&page);
    assert_eq!(found[0], "roadmap.md", "{page}");
    assert_eq!(found.len(), 3);
    // Highlights, escaped.
    let draft = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "draft.md")
        .unwrap();
    let snippet = draft["snippet"].as_str().unwrap();
    assert!(snippet.contains("<mark>roadmap</mark>"), "{snippet}");
    assert!(!snippet.contains("<script>"), "{snippet}");

    // Exact phrase, exclusion, or.
    assert_eq!(
        paths(
            &search(&app, &owner, &base, "\"roadmap and the budget\"")
                .await
                .1
        ),
        ["notes/meeting.md"]
    );
    let mut not_draft = paths(&search(&app, &owner, &base, "roadmap -draft ").await.1);
    not_draft.sort();
    assert_eq!(not_draft, ["notes/meeting.md", "roadmap.md"]);
    let mut either = paths(&search(&app, &owner, &base, "budget or shipping ").await.1);
    either.sort();
    assert_eq!(either, ["notes/meeting.md", "roadmap.md"]);

    // The last word as a prefix while typing.
    assert_eq!(
        paths(&search(&app, &owner, &base, "plann").await.1),
        ["roadmap.md"]
    );
    assert_eq!(
        paths(&search(&app, &owner, &base, "weekly meet").await.1),
        ["notes/meeting.md"]
    );
    // Paths are searchable too.
    assert_eq!(
        paths(&search(&app, &owner, &base, "notes ").await.1),
        ["notes/meeting.md"]
    );
    assert!(paths(&search(&app, &owner, &base, "nothingmatcheshere ").await.1).is_empty());

    // Bad queries.
    let (status, body) = search(&app, &owner, &base, "  ").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "q");
    // Syntax characters alone do not break anything.
    let (status, _) = search(&app, &owner, &base, "\"\"\" -- :* & | ! ( ").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn results_page_deleted_files_vanish_and_membership_is_checked_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let member = app.new_user().await;
    let p1 = project(&app, &owner, "One").await;
    let p2 = project(&app, &owner, "Two").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/projects/{p1}/members"),
            Some(&owner.access),
            json!({"email": member.email, "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for i in 0..5 {
        doc(
            &app,
            &owner,
            &p1,
            &format!("p1/{i}.md"),
            &format!("Zebra crossing number {i}\n"),
        )
        .await;
    }
    let gone = doc(&app, &owner, &p2, "p2.md", "A zebra in project two\n").await;

    // Everywhere, for the owner: both projects; paging walks all of them once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![("q", "zebra ".to_owned()), ("limit", "2".to_owned())];
        if let Some(c) = &cursor {
            params.push(("cursor", c.clone()));
        }
        let url = reqwest::Url::parse_with_params(&app.url("/api/v1/search"), &params).unwrap();
        let page: Value = app
            .client
            .get(url)
            .bearer_auth(&owner.access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(paths(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen.len(), 6, "{seen:?}");
    seen.dedup();
    assert_eq!(seen.len(), 6);

    // The member only sees project one; removed, they see nothing at once.
    assert_eq!(
        paths(&search(&app, &member, "/api/v1/search", "zebra ").await.1).len(),
        5
    );
    assert_eq!(
        search(
            &app,
            &member,
            &format!("/api/v1/projects/{p2}/search"),
            "zebra "
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    app.delete(
        &format!("/api/v1/projects/{p1}/members/{}", member.id),
        Some(&owner.access),
    )
    .await;
    assert!(paths(&search(&app, &member, "/api/v1/search", "zebra ").await.1).is_empty());

    // A trashed file never appears.
    app.delete(&format!("/api/v1/files/{gone}"), Some(&owner.access))
        .await;
    assert!(
        paths(
            &search(
                &app,
                &owner,
                &format!("/api/v1/projects/{p2}/search"),
                "zebra "
            )
            .await
            .1
        )
        .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_save_is_found_at_once_and_indexed_in_the_background() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let p = project(&app, &owner, "Index").await;
    let id = doc(
        &app,
        &owner,
        &p,
        "notes/animal.md",
        "# Animal\nThe wombat sleeps.\n",
    )
    .await;
    let put = |content: &'static str| {
        let (app, owner, id) = (&app, &owner, &id);
        async move {
            let (status, body) = app
                .call(
                    reqwest::Method::PUT,
                    &format!("/api/v1/files/{id}"),
                    Some(&owner.access),
                    Some(json!({ "content": content })),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    let at = format!("/api/v1/projects/{p}/search");

    // The search right after a save finds the new text, not the old.
    put("# Animal\nThe quokka smiles.\n").await;
    let (_, page) = search(&app, &owner, &at, "quokka").await;
    assert_eq!(paths(&page), ["notes/animal.md"]);
    let (_, page) = search(&app, &owner, &at, "wombat").await;
    assert!(paths(&page).is_empty(), "{page}");

    // With no search at all, the background indexer writes the vector a couple of seconds
    // after the save (it lets a document being edited settle) and empties the queue.
    put("# Animal\nThe numbat digs.\n").await;
    let indexed = format!(
        "SELECT 1 FROM file_search WHERE file_id = '{id}' \
         AND search @@ to_tsquery('simple', 'numbat') \
         AND NOT EXISTS (SELECT 1 FROM search_queue WHERE file_id = '{id}')"
    );
    let mut seen = false;
    for _ in 0..160 {
        if app.sql(&indexed).await == 1 {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "the indexer never indexed the save");
}

/// The transaction id of the document's vector (each write of it has its own).
async fn vector_xid(db: &mut diesel_async::AsyncPgConnection, id: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Vector {
        #[diesel(sql_type = diesel::sql_types::Text)]
        xid: String,
    }
    let v: Vector = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(format!(
            "SELECT xid::text AS xid FROM file_search WHERE file_id = '{id}'"
        )),
        db,
    )
    .await
    .unwrap();
    v.xid
}

#[tokio::test(flavor = "multi_thread")]
async fn a_save_during_an_indexing_round_waits_the_delay_again() {
    use diesel_async::SimpleAsyncConnection;
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let p = project(&app, &owner, "Busy").await;
    let id = doc(&app, &owner, &p, "busy.md", "# Busy\nstart\n").await;
    let put = |text: &'static str| {
        let (app, owner, id) = (&app, &owner, &id);
        async move {
            let (status, body) = app
                .call(
                    reqwest::Method::PUT,
                    &format!("/api/v1/files/{id}"),
                    Some(&owner.access),
                    Some(json!({ "content": text })),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    let mut db = app.db().await;
    let created = vector_xid(&mut db, &id).await;
    put("# Busy\nfirst save\n").await;
    // Hold the document's vector row: the indexer's next round (2 s after the save) computes
    // the vector and then waits here to store it.
    let mut holder = app.db().await;
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM file_search WHERE file_id = '{id}' FOR UPDATE"
        ))
        .await
        .unwrap();
    let waiting = "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                   AND query LIKE 'WITH turn AS%'";
    let mut blocked = false;
    for _ in 0..300 {
        if app.sql(waiting).await == 1 {
            blocked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(blocked, "the indexer's round never reached the held row");
    // A save lands while the round runs: its queue entry is renumbered, so the round leaves it.
    put("# Busy\nsecond save\n").await;
    holder.batch_execute("COMMIT").await.unwrap();
    let mut stored = created.clone();
    for _ in 0..200 {
        stored = vector_xid(&mut db, &id).await;
        if stored != created {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_ne!(stored, created, "the round never stored its vector");
    // The document was just indexed: the next vector waits the delay (2 s) again, instead of
    // coming on the next round (every 200 ms) as if the save were 2 s old.
    for _ in 0..15 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            vector_xid(&mut db, &id).await,
            stored,
            "the document was indexed again within the delay"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_process_at_a_time_runs_the_background_indexer() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let p = project(&app, &owner, "Turns").await;
    let id = doc(&app, &owner, &p, "turn.md", "# Turn\nThe wombat sleeps.\n").await;
    // Another process of the deployment is indexing: it holds the indexer's lock.
    let mut other = app.db().await;
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut other,
        &format!(
            "BEGIN; SELECT pg_advisory_xact_lock({})",
            mdz_files::repo::INDEXER_LOCK
        ),
    )
    .await
    .unwrap();
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/files/{id}"),
            Some(&owner.access),
            Some(json!({ "content": "# Turn\nThe numbat digs.\n" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let queued = format!("SELECT 1 FROM search_queue WHERE file_id = '{id}'");
    // Past the indexer's settling delay (2 s) and several of its rounds, this process has
    // left the document to the holder of the lock.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(app.sql(&queued).await, 1, "two processes indexed at once");
    diesel_async::SimpleAsyncConnection::batch_execute(&mut other, "COMMIT")
        .await
        .unwrap();
    let mut indexed = false;
    for _ in 0..200 {
        if app.sql(&queued).await == 0 {
            indexed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(indexed, "the indexer never took its turn back");
}

#[tokio::test(flavor = "multi_thread")]
async fn renames_trash_and_restore_are_searched_as_they_are() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let p = project(&app, &owner, "Moves").await;
    let id = doc(&app, &owner, &p, "notes/draft.md", "Nothing to see.\n").await;
    let at = format!("/api/v1/projects/{p}/search");

    // A rename queues the document; the next search finds it under its new path.
    let (status, body) = app
        .patch(
            &format!("/api/v1/files/{id}"),
            Some(&owner.access),
            json!({"path": "plans/kangaroo.md"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, page) = search(&app, &owner, &at, "kangaroo").await;
    assert_eq!(paths(&page), ["plans/kangaroo.md"]);
    let (_, page) = search(&app, &owner, &at, "draft").await;
    assert!(paths(&page).is_empty(), "{page}");

    // In the trash it is not found; restored, it is.
    let (status, _) = app
        .delete(&format!("/api/v1/files/{id}"), Some(&owner.access))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, page) = search(&app, &owner, &at, "kangaroo").await;
    assert!(paths(&page).is_empty(), "{page}");
    let (status, body) = app
        .post(
            &format!("/api/v1/files/{id}/restore"),
            Some(&owner.access),
            json!({}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let (_, page) = search(&app, &owner, &at, "kangaroo").await;
    assert_eq!(paths(&page), ["plans/kangaroo.md"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_search_table_migration_reverts_and_reapplies_keeping_every_vector() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let p = project(&app, &owner, "Migrations").await;
    let id = doc(
        &app,
        &owner,
        &p,
        "zoo/wombat.md",
        "# Burrow\nThe wombat digs.\n",
    )
    .await;
    // A save leaves the document queued (the background indexer waits two seconds).
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/files/{id}"),
            Some(&owner.access),
            Some(json!({"content": "# Burrow\nThe wombat sleeps.\n"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    app.revert_migrations_through("2026-11-22-001100").await;
    assert_eq!(
        app.sql("SELECT 1 FROM files WHERE search @@ to_tsquery('simple', 'wombat')")
            .await,
        1
    );
    app.migrate().await;
    assert_eq!(
        app.sql("SELECT 1 FROM file_search WHERE search @@ to_tsquery('simple', 'sleeps')")
            .await
            + app
                .sql("SELECT 1 FROM search_queue WHERE project_id IS NOT NULL")
                .await,
        1,
        "the vector is current or the document is queued"
    );
    let (_, page) = search(
        &app,
        &owner,
        &format!("/api/v1/projects/{p}/search"),
        "sleeps",
    )
    .await;
    assert_eq!(paths(&page), ["zoo/wombat.md"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prefix_completes_to_words_of_live_documents_only() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let p = project(&app, &owner, "Completions").await;
    let old: String = (1..=20).map(|i| format!("zeta{i:02} ")).collect();
    let id = doc(&app, &owner, &p, "old.md", &old).await;
    // Indexed in the same segment, so the segment outlives old.md's first text.
    doc(&app, &owner, &p, "other.md", "unrelated words").await;
    let at = format!("/api/v1/projects/{p}/search");
    let (_, page) = search(&app, &owner, &at, "zet").await;
    assert_eq!(paths(&page), ["old.md"]);
    // The old text's words stay in that segment (deleted) until a merge.
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/files/{id}"),
            Some(&owner.access),
            Some(json!({ "content": "nothing to see" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    doc(&app, &owner, &p, "new.md", "zeta99 is here").await;

    // Before, the twenty dead words sorted first and took every completion slot.
    let (status, page) = search(&app, &owner, &at, "zet").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(paths(&page), ["new.md"]);
}
