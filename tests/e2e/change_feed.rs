//! The change feed under concurrency: numbers are taken at commit, so they are gap-free and in
//! commit order, and a writer still inside its transaction holds up none of the project's
//! other writers.

use diesel_async::SimpleAsyncConnection;
use mdz_tests::{TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn feed(app: &TestApp, user: &TestUser, project: &str) -> Vec<Value> {
    let (status, page) = app
        .get(
            &format!("/api/v1/projects/{project}/changes?limit=1000"),
            Some(&user.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

fn seqs(items: &[Value]) -> Vec<i64> {
    items.iter().map(|c| c["seq"].as_i64().unwrap()).collect()
}

/// A change written by a transaction that has not committed (as a slow save's would be).
async fn pending_change(conn: &mut diesel_async::AsyncPgConnection, project: &str, by: &str) {
    conn.batch_execute(&format!(
        "BEGIN; INSERT INTO file_changes (project_id, file_id, kind, path, revision, created_by, \
         updated_by) VALUES ('{project}', gen_random_uuid(), 'updated', 'slow.md', 2, '{by}', \
         '{by}')"
    ))
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_inside_its_transaction_holds_up_no_other_writer() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let mut slow = app.db().await;
    pending_change(&mut slow, &project, &owner.id).await;

    // Before numbers were taken at commit, this save waited for the slow transaction's end.
    let fast = tokio::time::timeout(
        Duration::from_secs(30),
        app.create_file(&owner, &project, "fast.md", "fast"),
    )
    .await
    .expect("a save waited for another transaction of its project");
    assert!(fast["id"].is_string(), "{fast}");
    slow.batch_execute("COMMIT").await.unwrap();

    // Numbered in commit order: the save that committed first comes first.
    let items = feed(&app, &owner, &project).await;
    let paths: Vec<&str> = items.iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["fast.md", "slow.md"]);
    assert_eq!(seqs(&items), [1, 2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_get_gap_free_numbers_and_rollbacks_give_theirs_back() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let names: Vec<String> = (0..24).map(|i| format!("doc-{i}.md")).collect();
    let saves = names
        .iter()
        .map(|name| app.create_file(&owner, &project, name, "text"));
    futures_util::future::join_all(saves).await;

    let mut aborted = app.db().await;
    pending_change(&mut aborted, &project, &owner.id).await;
    aborted.batch_execute("ROLLBACK").await.unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/projects/{project}/files"),
            Some(&owner.access),
            json!({"path": "last.md", "content": "last"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let items = feed(&app, &owner, &project).await;
    assert_eq!(seqs(&items), (1..=25).collect::<Vec<i64>>());
    let mut created: Vec<&str> = items[..24]
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    created.sort_unstable();
    let mut expected: Vec<&str> = names.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(created, expected);
    assert_eq!(items[24]["path"], "last.md");
}
