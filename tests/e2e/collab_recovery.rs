//! Collab under faults: a REST write reaching a document whose room is not loaded (after a
//! `kill -9`, or on another replica) keeps the journaled typing that never reached the file;
//! a room that cannot load refuses connections and writes nothing; live text obeys the
//! file-size limit.

use crate::collab::{
    Setup, close_code_after, content, eventually, raw_socket, sample_update, setup_with,
    update_frame,
};
use futures_util::SinkExt;
use mdz_tests::{JsClient, MdzProcess, Options, Redis, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const BASE: &str = "first line\nsecond line\n";

/// PUT `content` as `user` through the server at `address`, conditional on the current ETag.
async fn put_over_rest(
    client: &reqwest::Client,
    address: &str,
    user: &TestUser,
    file: &str,
    edit: impl FnOnce(&str) -> String,
) -> String {
    let url = format!("{address}/api/v1/files/{file}");
    let res = client
        .get(&url)
        .bearer_auth(&user.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    let before = body["content"].as_str().unwrap().to_owned();
    let res = client
        .put(&url)
        .bearer_auth(&user.access)
        .header("if-match", etag)
        .json(&json!({"content": edit(&before)}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_write_after_kill_9_keeps_the_typing_that_never_reached_the_file() {
    let s = setup_with(Options::default(), BASE).await;
    let flush = [("MDZ_COLLAB_FLUSH_MS", "500".to_owned())];
    let server = MdzProcess::start(&s.app.replica(), 0, &flush).await;
    let port = server.port;
    let ws_base = format!("ws://127.0.0.1:{port}/api/v1/collab");
    let mut writer = JsClient::connect(&ws_base, &s.file, &s.editor.access).await;
    let mut reader = JsClient::connect(&ws_base, &s.file, &s.owner.access).await;
    writer.synced().await;
    reader.synced().await;
    writer.append("typed live\n").await;
    // Another client saw it, so it is journaled; kill before the 500 ms flush to the file.
    reader.wait_contains("typed live").await;
    server.kill9().await;
    writer.stop().await;
    reader.stop().await;

    let server = MdzProcess::start(&s.app.replica(), port, &flush).await;
    let client = reqwest::Client::new();
    // Before any client reconnects: the file lacks the typing, and a REST write changes it.
    let before = put_over_rest(&client, &server.address(), &s.owner, &s.file, |text| {
        text.replace("first", "FIRST")
    })
    .await;
    assert_eq!(before, BASE, "the kill came before the flush");

    let expected = "FIRST line\nsecond line\ntyped live\n";
    let mut fresh = JsClient::connect(&ws_base, &s.file, &s.viewer.access).await;
    fresh.synced().await;
    assert_eq!(
        fresh.text().await,
        expected,
        "both the typing and the REST write"
    );
    let app = &s.app;
    assert!(
        eventually(|| async { content(app, &s.owner, &s.file).await == expected }).await,
        "the file has both: {:?}",
        content(app, &s.owner, &s.file).await
    );
    fresh.stop().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_write_on_another_replica_keeps_live_typing() {
    let s = setup_with(
        Options {
            redis: Redis::Shared,
            config: vec![("collab_flush_ms", json!(500))],
            ..Options::default()
        },
        BASE,
    )
    .await;
    let b = TestApp::spawn_with(Options {
        redis: Redis::Shared,
        replica_of: Some(s.app.replica()),
        config: vec![("collab_flush_ms", json!(500))],
        ..Options::default()
    })
    .await;
    let mut writer = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    let mut reader = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    writer.synced().await;
    reader.synced().await;
    writer.append("typed on A\n").await;
    reader.wait_contains("typed on A").await;
    // Within A's flush window, a REST write reaches B, which holds no room for the document.
    let before = put_over_rest(&b.client, &b.address, &s.owner, &s.file, |text| {
        text.replace("second", "SECOND")
    })
    .await;
    assert!(
        !before.contains("typed on A"),
        "the PUT came before A's flush"
    );

    let expected = "first line\nSECOND line\ntyped on A\n";
    let text = writer.wait_contains("SECOND").await;
    assert_eq!(text, expected, "A's clients have both");
    let app = &s.app;
    assert!(
        eventually(|| async { content(app, &s.owner, &s.file).await == expected }).await,
        "the file has both: {:?}",
        content(app, &s.owner, &s.file).await
    );
    writer.stop().await;
    reader.stop().await;
}

/// A document with collab state whose room has left memory.
async fn unloaded_collab_document(options: Options) -> Setup {
    let mut options = options;
    options.config.push(("collab_idle_unload_secs", json!(0)));
    let s = setup_with(options, BASE).await;
    let mut a = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    a.synced().await;
    a.append("typed\n").await;
    a.stop().await;
    let app = &s.app;
    assert!(
        eventually(|| async {
            let (_, m) = app.get("/metrics", None).await;
            m.as_str()
                .unwrap_or_default()
                .lines()
                .any(|l| l == "mdz_collab_rooms 0")
        })
        .await,
        "the room left memory"
    );
    assert_eq!(
        content(app, &s.owner, &s.file).await,
        format!("{BASE}typed\n")
    );
    s
}

async fn stored_updates(app: &TestApp, file: &str) -> usize {
    app.sql(&format!(
        "SELECT 1 FROM collab_updates WHERE file_id = '{file}'"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_document_is_refused_never_served_blank() {
    let s = unloaded_collab_document(Options::default()).await;
    // Half a snapshot: it does not decode.
    s.app
        .sql(&format!(
            "UPDATE collab_docs SET snapshot = substring(snapshot from 1 for length(snapshot) / 2), \
             snapshot_seq = last_seq WHERE file_id = '{}'",
            s.file
        ))
        .await;
    s.app
        .sql(&format!(
            "DELETE FROM collab_updates WHERE file_id = '{}'",
            s.file
        ))
        .await;
    let ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    assert_eq!(close_code_after(ws, vec![1, 0]).await, Some(1011));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        content(&s.app, &s.owner, &s.file).await,
        format!("{BASE}typed\n"),
        "the file is untouched"
    );
    assert_eq!(
        stored_updates(&s.app, &s.file).await,
        0,
        "nothing was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_that_cannot_load_in_time_closes_with_1013_and_loads_later() {
    let s = unloaded_collab_document(Options {
        config: vec![("database_timeout_secs", json!(1))],
        ..Options::default()
    })
    .await;
    let updates = stored_updates(&s.app, &s.file).await;
    // Another session holds the journal locked: loading the room blocks.
    let mut locker = s.app.db().await;
    let lock = async {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        locker
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                diesel::sql_query("LOCK TABLE collab_updates IN ACCESS EXCLUSIVE MODE")
                    .execute(conn)
                    .await?;
                tokio::time::sleep(Duration::from_secs(4)).await;
                Ok(())
            })
            .await
            .unwrap();
    };
    let refused = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
        close_code_after(ws, vec![1, 0]).await
    };
    let ((), code) = tokio::join!(lock, refused);
    assert_eq!(code, Some(1013), "try again later");
    // Once the lock is gone the stock client gets the whole document.
    let mut a = JsClient::connect(&s.app.ws_base(), &s.file, &s.viewer.access).await;
    a.synced().await;
    assert_eq!(a.text().await, format!("{BASE}typed\n"));
    a.stop().await;
    assert_eq!(stored_updates(&s.app, &s.file).await, updates);
    assert_eq!(
        content(&s.app, &s.owner, &s.file).await,
        format!("{BASE}typed\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_text_obeys_the_file_size_limit() {
    let s = setup_with(
        Options {
            config: vec![
                ("max_file_bytes", json!(3000)),
                ("collab_max_message_bytes", json!(4096)),
            ],
            ..Options::default()
        },
        &"x".repeat(2000),
    )
    .await;
    let mut watcher = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    watcher.synced().await;
    // 1,200 more bytes would make 3,200: refused with 1009 before anything is stored.
    let ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    let big = update_frame(&sample_update(&format!("BIG{}", "y".repeat(1197))));
    assert_eq!(close_code_after(ws, big).await, Some(1009));
    // 900 bytes fit.
    let mut ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    let small = update_frame(&sample_update(&format!("SMALL{}", "z".repeat(895))));
    ws.send(Message::Binary(small.into())).await.unwrap();
    let text = watcher.wait_contains("SMALL").await;
    drop(ws);
    assert_eq!(text.len(), 2900);
    assert!(!text.contains("BIG"));
    let app = &s.app;
    assert!(
        eventually(|| async { content(app, &s.owner, &s.file).await == text }).await,
        "the file follows the room"
    );
    // The stock client's own over-limit edit closes its socket with 1009 too.
    watcher.append(&"w".repeat(200)).await;
    assert!(
        watcher
            .close_codes(Duration::from_millis(500))
            .await
            .contains(&1009)
    );
    watcher.stop().await;
    assert_eq!(content(app, &s.owner, &s.file).await, text);
    let (status, versions) = app
        .get(
            &format!("/api/v1/files/{}/versions", s.file),
            Some(&s.owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        versions["items"][0]["size"].as_i64().unwrap() <= 3000,
        "{versions}"
    );
}
