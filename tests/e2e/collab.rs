//! Collab: the stock npm `yjs` + `y-websocket` client against mdz — convergence, late joiners,
//! presence, roles, REST and collab as one document, durability across `kill -9`, two
//! replicas over Redis with a lost message healed, and hostile frames.

use futures_util::{SinkExt, StreamExt};
use mdz_tests::{JsClient, MdzProcess, Options, Redis, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact};

/// Poll `check` every 50 ms for up to 10 s; true as soon as it holds.
pub(crate) async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub(crate) async fn content(app: &TestApp, user: &TestUser, file: &str) -> String {
    let (status, body) = app
        .get(&format!("/api/v1/files/{file}"), Some(&user.access))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["content"].as_str().unwrap().to_owned()
}

pub(crate) struct Setup {
    pub app: TestApp,
    pub owner: TestUser,
    pub editor: TestUser,
    pub viewer: TestUser,
    pub project: String,
    pub file: String,
}

pub(crate) async fn setup_with(options: Options, text: &str) -> Setup {
    let app = TestApp::spawn_with(options).await;
    let owner = app.new_user().await;
    let editor = app.new_user().await;
    let viewer = app.new_user().await;
    let project = app
        .project_with(&owner, &[(&editor, "editor"), (&viewer, "viewer")])
        .await;
    let file = app.create_file(&owner, &project, "plan.md", text).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup {
        app,
        owner,
        editor,
        viewer,
        project,
        file,
    }
}

pub(crate) async fn setup(text: &str) -> Setup {
    setup_with(Options::default(), text).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stock_clients_converge_and_a_latecomer_gets_everything() {
    let s = setup("# Plan\n").await;
    let mut a = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    let mut b = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    a.synced().await;
    b.synced().await;
    assert_eq!(a.text().await, "# Plan\n", "the room starts from the file");
    assert_eq!(b.text().await, "# Plan\n");

    // Both type at once.
    let (ra, rb) = tokio::join!(
        a.call(json!({"cmd": "type", "text": "alpha ", "every_ms": 3})),
        b.call(json!({"cmd": "type", "text": "beta ", "every_ms": 3})),
    );
    assert_eq!(ra["ok"], true);
    assert_eq!(rb["ok"], true);
    // Every keystroke of both reaches both, interleaved the same way.
    let expected_len = "# Plan\n".len() + "alpha ".len() + "beta ".len();
    let mut ta = String::new();
    let mut tb = String::new();
    for _ in 0..200 {
        ta = a.text().await;
        tb = b.text().await;
        if ta == tb && ta.len() == expected_len {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ta, tb, "both clients converge");
    assert_eq!(ta.len(), expected_len, "{ta:?}");
    let mut letters: Vec<char> = ta["# Plan\n".len()..].chars().collect();
    letters.sort_unstable();
    let mut typed: Vec<char> = "alpha beta ".chars().collect();
    typed.sort_unstable();
    assert_eq!(letters, typed, "{ta:?}");

    let mut c = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    c.synced().await;
    assert_eq!(
        c.wait_contains(&ta).await,
        ta,
        "a late joiner gets the full state"
    );
    for client in [a, b, c] {
        client.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awareness_appears_and_disappears_when_a_client_leaves() {
    let s = setup("hello").await;
    let mut a = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    let mut b = JsClient::connect(&s.app.ws_base(), &s.file, &s.viewer.access).await;
    a.synced().await;
    b.synced().await;
    a.call(json!({"cmd": "set_awareness", "state": {"user": {"name": "Ann", "color": "#f00"}}}))
        .await;
    let seen = b
        .call(json!({"cmd": "wait_awareness", "count": 1, "timeout_ms": 10_000}))
        .await;
    assert_eq!(seen["ok"], true, "{seen}");
    assert_eq!(seen["states"][0]["user"]["name"], "Ann");

    // A latecomer sees Ann's presence from the server's copy.
    let mut c = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    c.synced().await;
    let seen = c
        .call(json!({"cmd": "wait_awareness", "count": 1, "timeout_ms": 10_000}))
        .await;
    assert_eq!(seen["ok"], true, "{seen}");

    a.stop().await;
    let gone = b
        .call(json!({"cmd": "wait_awareness", "count": 0, "timeout_ms": 10_000}))
        .await;
    assert_eq!(
        gone["ok"], true,
        "Ann's presence is removed when her socket ends: {gone}"
    );
    b.stop().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collab_edits_reach_the_file_its_versions_and_search() {
    let s = setup("# Notes\n").await;
    let mut a = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    a.synced().await;
    a.append("the zebrafish migrates\n").await;
    let app = &s.app;
    assert!(
        eventually(|| async { content(app, &s.owner, &s.file).await.contains("zebrafish") }).await,
        "the edit reaches GET /files/{{id}}"
    );
    let (status, versions) = app
        .get(
            &format!("/api/v1/files/{}/versions", s.file),
            Some(&s.owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        versions["items"][0]["author"].as_str(),
        Some(s.editor.id.as_str()),
        "the version is the editor's: {versions}"
    );
    let (status, hits) = app
        .get(
            &format!("/api/v1/projects/{}/search?q=zebrafish", s.project),
            Some(&s.owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        hits["items"][0]["file_id"].as_str(),
        Some(s.file.as_str()),
        "{hits}"
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_put_merges_into_the_room_without_losing_typing() {
    let s = setup("# Plan\n\nbody\n").await;
    let mut a = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    let mut b = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    a.synced().await;
    b.synced().await;
    let typing = "0123456789abcdefghij";
    let (typed, put) = tokio::join!(
        a.call(json!({"cmd": "type", "text": typing, "every_ms": 10})),
        async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            // The REST client read the file before the typing reached it.
            s.app
                .request(
                    Method::PUT,
                    &format!("/api/v1/files/{}", s.file),
                    Some(&s.owner.access),
                )
                .json(&json!({"content": "# Final plan\n\nbody\n"}))
                .send()
                .await
                .unwrap()
        }
    );
    assert_eq!(typed["ok"], true);
    assert_eq!(put.status(), StatusCode::OK);
    let text_b = b.wait_contains("# Final plan").await;
    let text_b = b.wait_contains(typing).await.max(text_b);
    let text_a = a.wait_contains("# Final plan").await;
    assert_eq!(text_a, text_b, "both editors converge");
    assert!(text_a.starts_with("# Final plan\n\nbody\n"), "{text_a:?}");
    assert!(text_a.contains(typing), "no typing lost: {text_a:?}");
    assert!(!text_a.contains("# Plan\n"), "{text_a:?}");
    let app = &s.app;
    assert!(
        eventually(|| async { content(app, &s.owner, &s.file).await == text_a }).await,
        "the file ends with the merged text"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_writes_are_dropped_and_removing_a_member_closes_their_socket() {
    let s = setup("shared text").await;
    let mut editor = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    let mut viewer = JsClient::connect(&s.app.ws_base(), &s.file, &s.viewer.access).await;
    editor.synced().await;
    viewer.synced().await;
    viewer.append(" EVIL").await;
    editor.append(" GOOD").await;
    viewer.wait_contains("GOOD").await;
    let text = editor.wait_contains("GOOD").await;
    assert!(
        !text.contains("EVIL"),
        "a viewer's write never reaches others: {text:?}"
    );
    let app = &s.app;
    assert!(eventually(|| async { content(app, &s.owner, &s.file).await.contains("GOOD") }).await);
    assert!(!content(app, &s.owner, &s.file).await.contains("EVIL"));
    let (_, metrics) = app.get("/metrics", None).await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("mdz_collab_dropped_writes_total") && !l.ends_with(" 0")),
        "dropped writes are counted"
    );

    let (status, _) = app
        .delete(
            &format!("/api/v1/projects/{}/members/{}", s.project, s.editor.id),
            Some(&s.owner.access),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let codes = editor.close_codes(Duration::from_millis(1500)).await;
    assert!(
        codes.contains(&4403),
        "the removed member's socket is closed: {codes:?}"
    );
    editor.stop().await;
    viewer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_bad_tokens_are_refused_before_the_upgrade() {
    let s = setup("secret").await;
    let stranger = s.app.new_user().await;
    let ws = format!("{}/{}", s.app.ws_base(), s.file);
    let refused = |url: String| async move {
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => 101,
        }
    };
    assert_eq!(
        refused(format!("{ws}?token={}", stranger.access)).await,
        404
    );
    assert_eq!(refused(ws.clone()).await, 401);
    assert_eq!(refused(format!("{ws}?token=garbage")).await, 401);
    let missing = uuid::Uuid::now_v7();
    assert_eq!(
        refused(format!(
            "{}/{missing}?token={}",
            s.app.ws_base(),
            s.owner.access
        ))
        .await,
        404
    );
    // The problem body is problem+json.
    let res = s
        .app
        .request(
            Method::GET,
            &format!("/api/v1/collab/{}", s.file),
            Some(&stranger.access),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    // The subprotocol carries a token too.
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws.as_str())
            .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        format!("mdz, mdz.token.{}", s.owner.access)
            .parse()
            .unwrap(),
    );
    let (_, res) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(res.headers()["sec-websocket-protocol"], "mdz");
}

pub(crate) async fn raw_socket(
    app: &TestApp,
    file: &str,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (ws, _) =
        tokio_tungstenite::connect_async(format!("{}/{file}?token={token}", app.ws_base()))
            .await
            .unwrap();
    ws
}

/// Send `frame`, then read until the server closes; the close code.
pub(crate) async fn close_code_after(
    mut ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    frame: Vec<u8>,
) -> Option<u16> {
    ws.send(Message::Binary(frame.into())).await.ok()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, ws.next()).await {
        match msg {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

pub(crate) fn sample_update(text: &str) -> Vec<u8> {
    let doc = Doc::new();
    let t = doc.get_or_insert_text("content");
    t.insert(&mut doc.transact_mut(), 0, text);
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

pub(crate) fn update_frame(update: &[u8]) -> Vec<u8> {
    // [sync, update, varuint length, bytes]
    let mut frame = vec![0, 2];
    let mut n = update.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            frame.push(byte);
            break;
        }
        frame.push(byte | 0x80);
    }
    frame.extend_from_slice(update);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_close_the_socket_and_never_hurt_the_room() {
    let s = setup_with(
        Options {
            config: vec![
                ("collab_max_message_bytes", json!(4096)),
                ("max_file_bytes", json!(3000)),
            ],
            ..Options::default()
        },
        "steady",
    )
    .await;
    let mut watcher = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    watcher.synced().await;

    // Truncated sync messages: 1002, never stored.
    let good = update_frame(&sample_update("TRUNCATED"));
    for cut in [1, 2, 3, good.len() / 2, good.len() - 1] {
        let ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
        assert_eq!(
            close_code_after(ws, good[..cut].to_vec()).await,
            Some(1002),
            "cut {cut}"
        );
    }
    // Random bytes.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for len in [1_usize, 2, 5, 17, 64, 300, 1000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
        let code = close_code_after(ws, bytes).await;
        assert!(
            matches!(code, Some(1002) | None),
            "random frame of {len}: {code:?}"
        );
    }
    // Too big: 1009.
    let ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    assert_eq!(close_code_after(ws, vec![0; 8192]).await, Some(1009));

    // The room still works, and nothing hostile was stored.
    let mut after = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    after.synced().await;
    after.append(" still fine").await;
    let text = watcher.wait_contains("still fine").await;
    assert_eq!(text, "steady still fine");
    assert!(!text.contains("TRUNCATED"));
    // A well-formed frame from a raw socket is accepted (the parser is not just refusing all).
    let mut ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    ws.send(Message::Binary(update_frame(&sample_update("RAW ")).into()))
        .await
        .unwrap();
    watcher.wait_contains("RAW").await;
    watcher.stop().await;
    after.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_a_client_saw_survives_kill_9() {
    let s = setup("durable:").await;
    let server = MdzProcess::start(&s.app.replica(), 0, &[]).await;
    let ws_base = format!("ws://127.0.0.1:{}/api/v1/collab", server.port);
    let mut writer = JsClient::connect(&ws_base, &s.file, &s.editor.access).await;
    let mut reader = JsClient::connect(&ws_base, &s.file, &s.owner.access).await;
    writer.synced().await;
    reader.synced().await;
    // Type steadily; kill the server while updates are in flight.
    let typed: String = (0..400)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let port = server.port;
    let (_, seen) = tokio::join!(
        writer.call(json!({"cmd": "type", "text": typed, "every_ms": 2})),
        async {
            reader
                .wait_contains("durable:abcdefghijklmnopqrstuvwxyzabcdefghij")
                .await;
            server.kill9().await;
            reader.text().await
        }
    );
    writer.stop().await;
    reader.stop().await;
    assert!(seen.len() > "durable:".len() + 30, "{seen:?}");

    let server = MdzProcess::start(&s.app.replica(), port, &[]).await;
    let mut fresh = JsClient::connect(&ws_base, &s.file, &s.owner.access).await;
    fresh.synced().await;
    let after = fresh.text().await;
    assert!(
        after.starts_with(&seen),
        "everything the reader saw before the kill is there after restart:\nseen:  {seen:?}\nafter: {after:?}"
    );
    fresh.stop().await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_edit_one_document_and_heal_a_lost_message() {
    let s = setup_with(
        Options {
            redis: Redis::Shared,
            ..Options::default()
        },
        "multi:",
    )
    .await;
    let b_app = TestApp::spawn_with(Options {
        redis: Redis::Shared,
        replica_of: Some(s.app.replica()),
        ..Options::default()
    })
    .await;
    let mut a = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    let mut b = JsClient::connect(&b_app.ws_base(), &s.file, &s.editor.access).await;
    a.synced().await;
    b.synced().await;
    a.append(" from-A").await;
    b.append(" from-B").await;
    let ta = a.wait_contains("from-B").await;
    let tb = b.wait_contains("from-A").await;
    let ta = if ta == tb {
        ta
    } else {
        a.wait_contains(&tb).await
    };
    assert_eq!(ta, tb, "replicas converge");

    // An update committed by some replica whose bus message was lost: only the journal has it.
    let lost = sample_update("HEALED ");
    let hex: String = lost.iter().map(|b| format!("{b:02x}")).collect();
    s.app
        .sql(&format!(
            "WITH seq AS (UPDATE collab_docs SET last_seq = last_seq + 1 \
             WHERE file_id = '{f}' RETURNING last_seq) \
             INSERT INTO collab_updates (file_id, seq, data) \
             SELECT '{f}', last_seq, '\\x{hex}'::bytea FROM seq",
            f = s.file
        ))
        .await;
    let ta = a.wait_contains("HEALED").await;
    let tb = b.wait_contains("HEALED").await;
    assert_eq!(ta, tb);
    // And the decoded lost update is what arrived.
    assert!(yrs::Update::decode_v1(&lost).is_ok());
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_room_is_unloaded_and_reloads_from_the_journal() {
    let s = setup_with(
        Options {
            config: vec![
                ("collab_idle_unload_secs", json!(0)),
                ("collab_compact_after", json!(10)),
            ],
            ..Options::default()
        },
        "",
    )
    .await;
    let mut a = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    a.synced().await;
    for i in 0..30 {
        a.append(&format!("{i},")).await;
    }
    let text = a.wait_contains("29,").await;
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
        "the idle room left memory"
    );
    // Compaction folded the updates into the snapshot (SELECT answers its row count).
    let left = app
        .sql(&format!(
            "SELECT 1 FROM collab_updates WHERE file_id = '{}'",
            s.file
        ))
        .await;
    assert!(left < 30, "{left} of 30 updates still outside the snapshot");
    let mut b = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    b.synced().await;
    assert_eq!(b.text().await, text, "reloaded from snapshot + journal");
    assert_eq!(content(app, &s.owner, &s.file).await, text);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_and_message_limits_apply_per_socket() {
    let s = setup_with(
        Options {
            config: vec![
                ("collab_max_connections_per_doc", json!(2)),
                ("collab_messages_per_sec", json!(5)),
            ],
            ..Options::default()
        },
        "limits",
    )
    .await;
    let first = raw_socket(&s.app, &s.file, &s.owner.access).await;
    let mut second = raw_socket(&s.app, &s.file, &s.editor.access).await;
    let full = tokio_tungstenite::connect_async(format!(
        "{}/{}?token={}",
        s.app.ws_base(),
        s.file,
        s.viewer.access
    ))
    .await;
    match full {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 503);
        }
        other => panic!(
            "a third connection was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    // Awareness queries as fast as possible: past the burst the socket is closed with 1008.
    for _ in 0..30 {
        if second.send(Message::Binary(vec![3].into())).await.is_err() {
            break;
        }
    }
    assert_eq!(close_code_after(second, vec![3]).await, Some(1008));
    // The other socket is untouched.
    assert_eq!(close_code_after(first, vec![0, 9]).await, Some(1002));
}
