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
