//! The change feed under concurrency: writers append unnumbered entries and take no lock; a
//! sequencer numbers committed entries afterwards, gap-free, and a reader never finds a new
//! entry below a number it has already read.

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

    let items = feed(&app, &owner, &project).await;
    let mut paths: Vec<&str> = items.iter().map(|c| c["path"].as_str().unwrap()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["fast.md", "slow.md"]);
    assert_eq!(seqs(&items), [1, 2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_save_waits_for_no_one_holding_the_feed_counter() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    app.create_file(&owner, &project, "first.md", "first").await;
    let _ = feed(&app, &owner, &project).await;
    // Another transaction holds the project's counter row, as a numbering transaction
    // flushing its commit does. Before, every save took that row lock at its own COMMIT and
    // waited here.
    let mut holder = app.db().await;
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT seq FROM file_change_counters WHERE project_id = '{project}' FOR UPDATE"
        ))
        .await
        .unwrap();
    let saved = tokio::time::timeout(
        Duration::from_secs(30),
        app.create_file(&owner, &project, "second.md", "second"),
    )
    .await
    .expect("a save waited for the holder of the project's feed counter");
    assert!(saved["id"].is_string(), "{saved}");
    holder.batch_execute("COMMIT").await.unwrap();
    let items = feed(&app, &owner, &project).await;
    assert_eq!(seqs(&items), [1, 2]);
    assert_eq!(items[1]["path"], "second.md");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_never_finds_a_new_entry_below_its_cursor() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    // An entry written first but committed last: it must come after what was read meanwhile.
    let mut slow = app.db().await;
    pending_change(&mut slow, &project, &owner.id).await;
    app.create_file(&owner, &project, "a.md", "a").await;
    let first = feed(&app, &owner, &project).await;
    assert_eq!(seqs(&first), [1]);
    assert_eq!(first[0]["path"], "a.md");
    slow.batch_execute("COMMIT").await.unwrap();
    app.create_file(&owner, &project, "b.md", "b").await;

    let (status, page) = app
        .get(
            &format!("/api/v1/projects/{project}/changes?cursor=1"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let after = page["items"].as_array().unwrap();
    assert_eq!(seqs(after), [2, 3]);
    let mut paths: Vec<&str> = after.iter().map(|c| c["path"].as_str().unwrap()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["b.md", "slow.md"]);
    assert_eq!(page["cursor"], "3");
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

/// The feed's status for cursor 0 once the purger has dropped `gone` of the project's two
/// entries (waits at most 30 s).
async fn status_after_purge(app: &TestApp, user: &TestUser, project: &str, gone: i64) -> u16 {
    let mut db = app.db().await;
    for _ in 0..300 {
        let (status, _) = app
            .get(
                &format!("/api/v1/projects/{project}/changes?cursor=0"),
                Some(&user.access),
            )
            .await;
        let left: i64 = diesel_async::RunQueryDsl::get_result::<Count>(
            diesel::sql_query(format!(
                "SELECT count(*) AS n FROM file_changes WHERE project_id = '{project}'"
            )),
            &mut db,
        )
        .await
        .unwrap()
        .n;
        if left <= 2 - gone {
            return status.as_u16();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the purger did not compact the feed");
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread")]
async fn compaction_never_lowers_the_horizon() {
    let app = TestApp::spawn_with(mdz_tests::Options {
        config: vec![("purge_interval_secs", json!(1))],
        ..Default::default()
    })
    .await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    app.create_file(&owner, &project, "one.md", "1").await;
    app.create_file(&owner, &project, "two.md", "2").await;
    assert_eq!(seqs(&feed(&app, &owner, &project).await), [1, 2]);
    let mut db = app.db().await;
    // Entries are dropped by age but numbered in the order they were seen: the younger number
    // may be the older entry. First entry 2 ages out, then entry 1.
    db.batch_execute(&format!(
        "UPDATE file_changes SET created_at = now() - interval '400 days' \
         WHERE project_id = '{project}' AND seq = 2"
    ))
    .await
    .unwrap();
    assert_eq!(status_after_purge(&app, &owner, &project, 1).await, 410);
    db.batch_execute(&format!(
        "UPDATE file_changes SET created_at = now() - interval '400 days' \
         WHERE project_id = '{project}' AND seq = 1"
    ))
    .await
    .unwrap();
    status_after_purge(&app, &owner, &project, 2).await;
    // Before, the second compaction set the horizon back to 1: a client at cursor 1 got an
    // empty page instead of 410, and entry 2 was lost to it without a word.
    let (status, body) = app
        .get(
            &format!("/api/v1/projects/{project}/changes?cursor=1"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    // The 410 says: list again and continue from a fresh GET /changes. Before, a fresh GET
    // (no cursor) meant cursor 0, below the horizon: 410 again, forever.
    let (status, body) = app
        .get(
            &format!("/api/v1/projects/{project}/changes"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cursor"], "2", "{body}");
    app.create_file(&owner, &project, "three.md", "3").await;
    let (status, body) = app
        .get(
            &format!("/api/v1/projects/{project}/changes?cursor=2"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["path"], "three.md", "{body}");
}
