//! Fault injection under live editing and REST traffic: PostgreSQL restarted, Redis
//! restarted, a replica killed with `kill -9` mid-batch. mdz recovers by itself (no
//! restart), clients reconnect, and nothing acknowledged is lost.

use crate::collab::{content, eventually};
use mdz_tests::{JsClient, MdzProcess, Options, PgServer, Redis, RedisServer, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

struct Team {
    owner: TestUser,
    editor: TestUser,
    project: String,
    file: String,
}

async fn team(app: &TestApp, text: &str) -> Team {
    let owner = app.new_user().await;
    let editor = app.new_user().await;
    let project = app.project_with(&owner, &[(&editor, "editor")]).await;
    let file = app.create_file(&owner, &project, "live.md", text).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Team {
        owner,
        editor,
        project,
        file,
    }
}

fn alphabet(n: usize) -> String {
    (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect()
}

/// PUT `n` numbered versions of another document one after the other while `stop` is not
/// set; every answer is 200 or 503 (never a 500), and the last 200's text is returned.
async fn rest_traffic(
    app: &TestApp,
    user: &TestUser,
    file: &str,
    stop: &std::sync::atomic::AtomicBool,
) -> String {
    let mut acked = String::new();
    let mut i = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        i += 1;
        let text = format!("rest write {i}\n");
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/api/v1/files/{file}"),
                Some(&user.access),
                Some(json!({"content": text})),
            )
            .await;
        match status {
            StatusCode::OK => acked = text,
            StatusCode::SERVICE_UNAVAILABLE => {}
            other => panic!("a REST write during the outage answered {other}: {body}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_editing_and_rest_loses_nothing_acknowledged() {
    let pg = PgServer::start().await;
    let app = TestApp::spawn_with(Options {
        database_url: Some(pg.url()),
        config: vec![("database_timeout_secs", json!(1))],
        ..Options::default()
    })
    .await;
    let t = team(&app, "pg:").await;
    let other = app.create_file(&t.owner, &t.project, "rest.md", "").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut writer = JsClient::connect(&app.ws_base(), &t.file, &t.editor.access).await;
    let mut reader = JsClient::connect(&app.ws_base(), &t.file, &t.owner.access).await;
    writer.synced().await;
    reader.synced().await;

    let typed = alphabet(300);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (_, seen, acked) = tokio::join!(
        writer.call(json!({"cmd": "type", "text": typed, "every_ms": 10})),
        async {
            reader.wait_contains("pg:abcdefghij").await;
            let seen = reader.text().await;
            pg.stop().await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            pg.start_again().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            seen
        },
        rest_traffic(&app, &t.owner, &other, &stop),
    );
    let expected = format!("pg:{typed}");
    assert_eq!(writer.text().await, expected);
    // The writer's client re-sent what the outage refused; the reader heard it all.
    let text = reader
        .call(json!({"cmd": "wait_text", "equals": expected, "timeout_ms": 20_000}))
        .await;
    assert_eq!(text["ok"], true, "{text}");
    assert!(
        expected.starts_with(&seen),
        "seen before the outage: {seen:?}"
    );
    assert!(
        eventually(|| async { content(&app, &t.owner, &t.file).await == expected }).await,
        "the file follows: {:?}",
        content(&app, &t.owner, &t.file).await
    );
    // Every acknowledged REST write is there, and REST works without a restart.
    assert!(!acked.is_empty(), "some REST write succeeded");
    assert_eq!(content(&app, &t.owner, &other).await, acked);
    writer.stop().await;
    reader.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_fan_out_heals_and_caches_are_bypassed_meanwhile() {
    let mut redis = RedisServer::start().await;
    let port = redis.port;
    let a = TestApp::spawn_with(Options {
        redis: Redis::Url(redis.url()),
        ..Options::default()
    })
    .await;
    let b = TestApp::spawn_with(Options {
        redis: Redis::Url(redis.url()),
        replica_of: Some(a.replica()),
        ..Options::default()
    })
    .await;
    let t = team(&a, "redis:").await;
    let mut on_a = JsClient::connect(&a.ws_base(), &t.file, &t.editor.access).await;
    let mut on_b = JsClient::connect(&b.ws_base(), &t.file, &t.owner.access).await;
    on_a.synced().await;
    on_b.synced().await;
    // Warm A's role cache for the editor.
    on_a.append(" warm").await;
    on_b.wait_contains("warm").await;

    redis.stop().await;
    on_a.append(" during-outage").await;
    // Meanwhile the editor is removed on B: A must not trust its cached role.
    let (status, body) = b
        .delete(
            &format!("/api/v1/projects/{}/members/{}", t.project, t.editor.id),
            Some(&t.owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(
        on_a.close_codes(Duration::from_secs(3))
            .await
            .contains(&4403),
        "the removed editor's socket on A closed while Redis was down"
    );

    let _redis = RedisServer::start_on(port).await;
    // B hears what A stored during the outage (the bus resubscribes and catches up).
    let text = on_b.wait_contains("during-outage").await;
    assert_eq!(text, "redis: warm during-outage");
    on_a.stop().await;
    on_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_batch_loses_nothing_another_replica_saw() {
    let redis = RedisServer::start().await;
    let seed = TestApp::spawn_with(Options {
        redis: Redis::Url(redis.url()),
        ..Options::default()
    })
    .await;
    let t = team(&seed, "kill:").await;
    let env = [("MDZ_REDIS_URL", redis.url())];
    let a = MdzProcess::start(&seed.replica(), 0, &env).await;
    let b = MdzProcess::start(&seed.replica(), 0, &env).await;
    let ws = |p: &MdzProcess| format!("ws://127.0.0.1:{}/api/v1/collab", p.port);
    let mut writer = JsClient::connect(&ws(&a), &t.file, &t.editor.access).await;
    let mut reader = JsClient::connect(&ws(&b), &t.file, &t.owner.access).await;
    writer.synced().await;
    reader.synced().await;
    let typed = alphabet(400);
    let b_ws = ws(&b);
    let (_, seen) = tokio::join!(
        writer.call(json!({"cmd": "type", "text": typed, "every_ms": 2})),
        async {
            reader.wait_contains("kill:abcdefghijklmnopqrst").await;
            a.kill9().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            reader.text().await
        }
    );
    writer.stop().await;
    // What B's client saw was committed: a fresh client of B has all of it.
    let mut fresh = JsClient::connect(&b_ws, &t.file, &t.owner.access).await;
    fresh.synced().await;
    let after = fresh.text().await;
    assert!(
        after.starts_with(&seen),
        "seen on B before A died:\n{seen:?}\nafter: {after:?}"
    );
    assert!(seen.len() >= "kill:".len() + 20, "{seen:?}");
    fresh.stop().await;
    reader.stop().await;
    drop(b);
}
