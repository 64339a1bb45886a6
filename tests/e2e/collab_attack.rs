//! Attacks on the size limit, the three-way merge across replicas, and presence ownership,
//! from a review of the collab merge: each test states a property an attacker or a race
//! tried to break.

use crate::collab::{content, eventually, raw_socket, setup_with, update_frame};
use crate::collab_abuse::rooms_loaded;
use futures_util::SinkExt;
use mdz_tests::{JsClient, MdzProcess, Options, Redis, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact, Update};

const LIMIT: usize = 3000;

fn limited(extra: &[(&'static str, serde_json::Value)]) -> Options {
    let mut config = vec![
        ("max_file_bytes", json!(LIMIT)),
        ("collab_max_message_bytes", json!(4096)),
    ];
    config.extend_from_slice(extra);
    Options {
        config,
        ..Options::default()
    }
}

/// `text` inserted at the start of an empty document by a client of its own.
fn insert_update(text: &str) -> Vec<u8> {
    let doc = Doc::new();
    let t = doc.get_or_insert_text("content");
    t.insert(&mut doc.transact_mut(), 0, text);
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_held_back_for_a_missing_one_passes_the_size_limit() {
    let s = setup_with(limited(&[]), &"x".repeat(2000)).await;
    let mut watcher = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    watcher.synced().await;
    // `small`: one character by client 1_000_001. `big`: 1,500 characters typed after it by
    // client 1_000_002, encoded without `small`: alone, it waits for `small` (pending).
    let first = Doc::with_client_id(1_000_001);
    let t1 = first.get_or_insert_text("content");
    t1.insert(&mut first.transact_mut(), 0, "a");
    let small = first
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let sv = first.transact().state_vector();
    let second = Doc::with_client_id(1_000_002);
    let t2 = second.get_or_insert_text("content");
    second
        .transact_mut()
        .apply_update(Update::decode_v1(&small).unwrap())
        .unwrap();
    t2.insert(&mut second.transact_mut(), 1, &"B".repeat(1500));
    let big = second.transact().encode_state_as_update_v1(&sv);

    let mut ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    ws.send(Message::Binary(update_frame(&big).into()))
        .await
        .unwrap();
    ws.send(Message::Binary(update_frame(&small).into()))
        .await
        .unwrap();
    let seen = watcher
        .call(json!({"cmd": "wait_text", "contains": "a", "timeout_ms": 5000}))
        .await;
    let text = seen["text"].as_str().unwrap();
    assert!(
        text.len() <= LIMIT,
        "the live text is {} bytes, past the {LIMIT}-byte limit",
        text.len()
    );
    watcher.stop().await;
}

/// An update held back for good (its dependency never comes) counts once against the limit,
/// not again with every later update: the others keep typing (before, each later update
/// added its size, and typing was refused with 1009 after a few dozen keystrokes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_held_back_for_good_does_not_stop_the_others_typing() {
    let s = setup_with(limited(&[]), &"x".repeat(2000)).await;
    let mut typist = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    typist.synced().await;
    // 400 characters by a client whose first character never arrives.
    let first = Doc::with_client_id(1_000_003);
    let t1 = first.get_or_insert_text("content");
    t1.insert(&mut first.transact_mut(), 0, "a");
    let sv = first.transact().state_vector();
    t1.insert(&mut first.transact_mut(), 1, &"H".repeat(400));
    let held = first.transact().encode_state_as_update_v1(&sv);
    let mut ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    ws.send(Message::Binary(update_frame(&held).into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..150 {
        typist.append(&(i % 10).to_string()).await;
    }
    let codes = typist.close_codes(Duration::from_millis(500)).await;
    assert!(codes.is_empty(), "typing was refused: {codes:?}");
    let text = typist.wait_contains("789").await;
    assert_eq!(text.len(), 2150, "every keystroke is in");
    typist.stop().await;
}

/// With an update held back for good and the text near the limit, growing is refused but a
/// deletion is not (before, every update measured on a copy was refused: the copy held the
/// held-back structs too, and any held-back struct counted as this update's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_the_limit_with_an_update_held_back_a_deletion_still_passes() {
    let s = setup_with(limited(&[]), &"x".repeat(2000)).await;
    // Held back for good, just within the limit: text and held-back bytes come within a
    // small update's size of it, so the next update is measured on a copy.
    let first = Doc::with_client_id(1_000_004);
    let t1 = first.get_or_insert_text("content");
    t1.insert(&mut first.transact_mut(), 0, "a");
    let sv = first.transact().state_vector();
    t1.insert(&mut first.transact_mut(), 1, &"H".repeat(985));
    let held = first.transact().encode_state_as_update_v1(&sv);
    assert!(held.len() <= LIMIT - 2000, "{} bytes", held.len());
    let mut ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    ws.send(Message::Binary(update_frame(&held).into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut trimmer = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    trimmer.synced().await;
    trimmer
        .call(json!({"cmd": "delete", "pos": 0, "len": 5}))
        .await;
    let codes = trimmer.close_codes(Duration::from_millis(1000)).await;
    assert!(codes.is_empty(), "a deletion was refused: {codes:?}");
    trimmer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_near_the_limit_cannot_both_pass_it() {
    let s = setup_with(limited(&[]), &"x".repeat(2000)).await;
    let mut watcher = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    watcher.synced().await;
    // Hold the document's journal row so both updates are checked before either is applied.
    let mut locker = s.app.db().await;
    let file = s.file.clone();
    let lock = async {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        locker
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                diesel::sql_query(format!(
                    "SELECT 1 FROM collab_docs WHERE file_id = '{file}' FOR UPDATE"
                ))
                .execute(conn)
                .await?;
                tokio::time::sleep(Duration::from_secs(2)).await;
                Ok(())
            })
            .await
            .unwrap();
    };
    let mut one = raw_socket(&s.app, &s.file, &s.editor.access).await;
    let mut two = raw_socket(&s.app, &s.file, &s.editor.access).await;
    let send = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let a = update_frame(&insert_update(&format!("ONE{}", "1".repeat(897))));
        let b = update_frame(&insert_update(&format!("TWO{}", "2".repeat(897))));
        one.send(Message::Binary(a.into())).await.unwrap();
        two.send(Message::Binary(b.into())).await.unwrap();
    };
    tokio::join!(lock, send);
    // Each alone fits (2,900 bytes); together they make 3,800.
    let seen = watcher
        .call(json!({"cmd": "wait_text", "contains": "TWO", "timeout_ms": 3000}))
        .await;
    let seen_one = watcher
        .call(json!({"cmd": "wait_text", "contains": "ONE", "timeout_ms": 3000}))
        .await;
    let text = seen_one["text"].as_str().unwrap();
    assert!(
        text.len() <= LIMIT,
        "the live text is {} bytes, past the {LIMIT}-byte limit ({})",
        text.len(),
        seen["ok"]
    );
    watcher.stop().await;
}

/// A REST write within the limit, merged with live typing, can make a text longer than the
/// limit: nothing of either is dropped; the text cannot grow further, can be shortened, and
/// reaches the file once it fits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_merge_past_the_limit_loses_nothing_and_reaches_the_file_once_shortened() {
    let base = format!("head\n{}", "x".repeat(1995));
    // The REST write comes well within the flush window (500 ms): the typing is not yet in
    // the file.
    let s = setup_with(limited(&[("collab_flush_ms", json!(500))]), &base).await;
    let mut writer = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    let mut reader = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    writer.synced().await;
    reader.synced().await;
    let typed = format!("\ntyped{}", "t".repeat(894));
    writer.append(&typed).await;
    reader.wait_contains("typed").await;
    // A REST write of 2,900 bytes (within the limit) from the file's text.
    let prefix = format!("REST{}", "r".repeat(896));
    let (status, body) = s
        .app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/files/{}", s.file),
            Some(&s.owner.access),
            Some(json!({"content": format!("{prefix}{base}")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = reader.wait_contains("REST").await;
    assert_eq!(text, format!("{prefix}{base}{typed}"), "both kept");
    assert!(text.len() > LIMIT);

    // Growing it is refused.
    let mut grower = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    grower.synced().await;
    grower.append("more").await;
    let codes = grower.close_codes(Duration::from_millis(1500)).await;
    assert!(
        codes.contains(&1009),
        "close codes after growing: {codes:?}"
    );
    // (The stock client would send its refused text again when it reconnects: stop it.)
    grower.stop().await;
    // Shortening is not, and once it fits the text reaches the file.
    writer
        .call(json!({"cmd": "delete", "pos": 0, "len": prefix.len()}))
        .await;
    let codes = writer.close_codes(Duration::from_millis(500)).await;
    assert!(codes.is_empty(), "close codes after a deletion: {codes:?}");
    let expected = format!("{base}{typed}");
    let app = &s.app;
    assert!(
        eventually(|| async { content(app, &s.owner, &s.file).await == expected }).await,
        "the file has the shortened text: {} bytes",
        content(app, &s.owner, &s.file).await.len()
    );
    writer.stop().await;
    reader.stop().await;
}

/// PUT `edit(current text)` through `client` at `address`, conditional on the ETag.
async fn put_over(
    client: &reqwest::Client,
    address: &str,
    user: &TestUser,
    file: &str,
    edit: impl FnOnce(&str) -> String,
) -> StatusCode {
    let url = format!("{address}/api/v1/files/{file}");
    let res = client
        .get(&url)
        .bearer_auth(&user.access)
        .send()
        .await
        .unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    let res = client
        .put(&url)
        .bearer_auth(&user.access)
        .header("if-match", etag)
        .json(&json!({"content": edit(body["content"].as_str().unwrap())}))
        .send()
        .await
        .unwrap();
    res.status()
}

const BASE: &str = "first line\nsecond line\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_loading_at_once_apply_a_rest_write_once() {
    let unload = ("collab_idle_unload_secs", json!(0));
    let s = setup_with(
        Options {
            redis: Redis::Shared,
            config: vec![unload.clone()],
            ..Options::default()
        },
        BASE,
    )
    .await;
    let b = TestApp::spawn_with(Options {
        redis: Redis::Shared,
        replica_of: Some(s.app.replica()),
        config: vec![unload],
        ..Options::default()
    })
    .await;
    // The document has collab state and no room anywhere.
    let mut first = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    first.synced().await;
    first.append("typed\n").await;
    first.stop().await;
    let app = &s.app;
    assert!(eventually(|| async { !rooms_loaded(app).await }).await);
    let expected = "FIRST line\nsecond line\ntyped\n";

    // The journal is slow (held): B's merge of its REST write and A's load overlap.
    let mut locker = s.app.db().await;
    let lock = async {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        locker
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                diesel::sql_query("LOCK TABLE collab_updates IN ACCESS EXCLUSIVE MODE")
                    .execute(conn)
                    .await?;
                tokio::time::sleep(Duration::from_secs(3)).await;
                Ok(())
            })
            .await
            .unwrap();
    };
    let rest = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        put_over(&b.client, &b.address, &s.owner, &s.file, |t| {
            t.replace("first", "FIRST")
        })
        .await
    };
    let join_a = async {
        // After the REST write committed, a collaborator opens the document on A.
        let file = s.file.clone();
        assert!(
            eventually(|| async {
                app.sql(&format!(
                    "SELECT 1 FROM files WHERE id = '{file}' AND content LIKE 'FIRST%'"
                ))
                .await
                    == 1
            })
            .await
        );
        let mut c = JsClient::connect(&s.app.ws_base(), &s.file, &s.viewer.access).await;
        c.synced().await;
        c
    };
    let ((), status, on_a) = tokio::join!(lock, rest, join_a);
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut fresh = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    fresh.synced().await;
    let text = fresh.text().await;
    assert_eq!(text, expected, "the REST change is in the document once");
    on_a.stop().await;
    fresh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_on_one_replica_cannot_erase_a_rest_write_made_on_another() {
    let s = setup_with(
        Options {
            redis: Redis::Shared,
            config: vec![("collab_flush_ms", json!(500))],
            ..Options::default()
        },
        BASE,
    )
    .await;
    let redis = std::env::var("REDIS_URL").expect("REDIS_URL");
    let b = MdzProcess::start(&s.app.replica(), 0, &[("MDZ_REDIS_URL", redis)]).await;
    let mut writer = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    let mut reader = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    writer.synced().await;
    reader.synced().await;
    writer.append("typed on A\n").await;
    reader.wait_contains("typed on A").await;

    // Slow collab storage (held) while B takes a REST write and A flushes.
    let mut locker = s.app.db().await;
    let lock = async {
        use diesel_async::{AsyncConnection, RunQueryDsl};
        locker
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                diesel::sql_query("LOCK TABLE collab_docs IN ACCESS EXCLUSIVE MODE")
                    .execute(conn)
                    .await?;
                tokio::time::sleep(Duration::from_secs(3)).await;
                Ok(())
            })
            .await
            .unwrap();
    };
    let file = s.file.clone();
    let app = &s.app;
    let owner = s.owner.clone();
    let address = b.address();
    let put = tokio::spawn(async move {
        // After the lock below is held.
        tokio::time::sleep(Duration::from_millis(100)).await;
        put_over(&reqwest::Client::new(), &address, &owner, &file, |t| {
            t.replace("second", "SECOND")
        })
        .await
    });
    let file = s.file.clone();
    let pause_b = async {
        // B committed the REST write; its merge waits for storage. B stalls there (a GC
        // pause, a busy CPU: SIGSTOP stands in for it) while A's flush commits.
        assert!(
            eventually(|| async {
                app.sql(&format!(
                    "SELECT 1 FROM files WHERE id = '{file}' AND content LIKE '%SECOND%'"
                ))
                .await
                    == 1
            })
            .await
        );
        b.signal("STOP");
    };
    tokio::join!(lock, pause_b);
    let flushed = eventually(|| async {
        app.sql(&format!(
            "SELECT 1 FROM files WHERE id = '{file}' AND content LIKE '%typed on A%'"
        ))
        .await
            == 1
    })
    .await;
    b.signal("CONT");
    assert_eq!(put.await.unwrap(), StatusCode::OK);
    assert!(flushed, "A flushed");
    let expected = "first line\nSECOND line\ntyped on A\n";
    let both = eventually(|| async { content(app, &s.owner, &s.file).await == expected }).await;
    let live = reader.text().await;
    assert!(
        both,
        "file {:?}, live {live:?}: the acknowledged REST write is gone",
        content(app, &s.owner, &s.file).await
    );
    writer.stop().await;
    reader.stop().await;
    drop(b);
}

/// A NUL typed live cannot be stored in the file (PostgreSQL refuses U+0000): the file gets
/// U+FFFD in its place, instead of a save that fails on every retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_typed_live_reaches_the_file_as_a_replacement_character() {
    let s = setup_with(limited(&[("collab_flush_ms", json!(100))]), "start\n").await;
    let mut typist = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    typist.synced().await;
    typist.append("a\u{0}b\n").await;
    let app = &s.app;
    assert!(
        eventually(|| async { content(app, &s.owner, &s.file).await == "start\na\u{FFFD}b\n" })
            .await,
        "the file: {:?}",
        content(app, &s.owner, &s.file).await
    );
    typist.stop().await;
}
