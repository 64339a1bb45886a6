//! What a save waits for. A save serializes with other writers of the same document, and with
//! no one else: transactions that only reference the document (the search indexer writing its
//! vector, a comment or a suggestion being added) hold a KEY SHARE lock on the file's row for
//! as long as they run, and a save must not queue behind them.

use diesel_async::SimpleAsyncConnection;
use mdz_tests::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_save_waits_for_no_one_who_only_references_the_document() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let file = app.create_file(&owner, &project, "notes.md", "first").await;
    let id = file["id"].as_str().unwrap();
    // A transaction that references the document and has not committed, as the search
    // indexer's upsert of the document's vector does (its foreign key locks the file's row
    // FOR KEY SHARE until it commits; a batch of vectors takes tens of milliseconds).
    let mut indexer = app.db().await;
    indexer
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM files WHERE id = '{id}' FOR KEY SHARE"
        ))
        .await
        .unwrap();
    let save = app
        .request(
            Method::PUT,
            &format!("/api/v1/files/{id}"),
            Some(&owner.access),
        )
        .header("if-match", "\"1\"")
        .json(&json!({"content": "second"}))
        .send();
    let saved = tokio::time::timeout(Duration::from_secs(30), save)
        .await
        .expect("a save waited for a transaction that only references the document")
        .unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    indexer.batch_execute("COMMIT").await.unwrap();

    // Two writers of the same document still take turns: a transaction holding the row as a
    // writer does makes the save wait until it ends.
    let mut writer = app.db().await;
    writer
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM files WHERE id = '{id}' FOR NO KEY UPDATE"
        ))
        .await
        .unwrap();
    let save = app
        .request(
            Method::PUT,
            &format!("/api/v1/files/{id}"),
            Some(&owner.access),
        )
        .json(&json!({"content": "third"}))
        .send();
    let waiting = tokio::spawn(save);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a save ran past another writer's lock"
    );
    writer.batch_execute("COMMIT").await.unwrap();
    let saved = waiting.await.unwrap().unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let (_, file) = app
        .get(&format!("/api/v1/files/{id}"), Some(&owner.access))
        .await;
    assert_eq!(file["content"], "third");
    assert_eq!(file["revision"], 3);
}

/// Saves racing on one document, by one author (coalesced into the head version) and by two
/// (each starting a version): every version still rebuilds to a text some save wrote, each
/// version's size is its text's, and the head is the document. The save's locked read and its
/// versions read go out pipelined; were the versions read before the lock, a save would
/// coalesce into or number after a head another save had already replaced.
#[tokio::test(flavor = "multi_thread")]
async fn racing_saves_keep_a_history_that_rebuilds() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let editor = app.new_user().await;
    let project = app.project_with(&owner, &[(&editor, "editor")]).await;
    let file = app
        .create_file(&owner, &project, "race.md", "start\n")
        .await;
    let id = file["id"].as_str().unwrap().to_owned();
    let text = |who: usize, i: usize| {
        let mut t = String::from("# Race\n");
        for line in 0..40 {
            t.push_str(&format!(
                "line {line} {}\n",
                if line == i { who } else { 0 }
            ));
        }
        t.push_str(&format!("writer {who} save {i}\n"));
        t
    };
    let mut written = vec!["start\n".to_owned()];
    let mut tasks = Vec::new();
    for who in 0..6 {
        let user = if who % 2 == 0 { &owner } else { &editor };
        let (app, id, access) = (&app, &id, user.access.clone());
        let texts: Vec<String> = (0..6).map(|i| text(who, i)).collect();
        written.extend(texts.iter().cloned());
        tasks.push(async move {
            for t in texts {
                let res = app
                    .request(Method::PUT, &format!("/api/v1/files/{id}"), Some(&access))
                    .json(&json!({ "content": t }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    res.status(),
                    StatusCode::OK,
                    "{}",
                    res.text().await.unwrap()
                );
            }
        });
    }
    futures_util::future::join_all(tasks).await;

    let (_, head) = app
        .get(&format!("/api/v1/files/{id}"), Some(&owner.access))
        .await;
    let (status, versions) = app
        .get(
            &format!("/api/v1/files/{id}/versions?limit=100"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    let items = versions["items"].as_array().unwrap();
    assert!(items.len() > 1, "{versions}");
    let newest = items
        .iter()
        .map(|v| v["n"].as_i64().unwrap())
        .max()
        .unwrap();
    for v in items {
        let n = v["n"].as_i64().unwrap();
        let (status, version) = app
            .get(
                &format!("/api/v1/files/{id}/versions/{n}"),
                Some(&owner.access),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "version {n}: {version}");
        let content = version["content"].as_str().unwrap();
        assert!(
            written.iter().any(|w| w == content),
            "version {n} rebuilt to {content:?}"
        );
        assert_eq!(
            version["size"].as_u64().unwrap(),
            content.len() as u64,
            "version {n}"
        );
        if n == newest {
            assert_eq!(content, head["content"].as_str().unwrap());
        }
    }
}

/// Registering sweeps long-expired e-mail tokens on the way; a sweep under way elsewhere (an
/// open transaction deleting the same rows) is skipped, not waited for: before, every
/// registration and password reset queued behind it.
#[tokio::test(flavor = "multi_thread")]
async fn a_registration_does_not_wait_for_another_sweep_of_expired_tokens() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    app.sql(&format!(
        "INSERT INTO auth_email_tokens (token_hash, user_id, purpose, email, expires_at)
         VALUES ('\\x01', '{}', 'verify', '{}', now() - interval '3 days')",
        user.id, user.email
    ))
    .await;
    let mut sweeper = app.db().await;
    sweeper
        .batch_execute(
            "BEGIN; DELETE FROM auth_email_tokens WHERE expires_at < now() - interval '1 day'",
        )
        .await
        .unwrap();
    let register = app
        .request(Method::POST, "/api/v1/auth/register", None)
        .json(&json!({
            "email": "second-sweep@example.com",
            "password": mdz_tests::PASSWORD,
            "display_name": "Second"
        }))
        .send();
    let registered = tokio::time::timeout(Duration::from_secs(30), register)
        .await
        .expect("a registration waited for another transaction's sweep")
        .unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    sweeper.batch_execute("ROLLBACK").await.unwrap();
}
