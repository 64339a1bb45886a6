//! Collab against a hostile client: presence it does not own, presence floods, frames packed
//! with requests, rate limits that count messages.

use crate::collab::{close_code_after, eventually, raw_socket, setup, setup_with, update_frame};
use futures_util::{SinkExt, StreamExt};
use mdz_tests::{JsClient, MdzProcess, Options};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact, Update};

/// `[awareness, varuint length, update]`.
fn awareness_frame(entries: &[(u64, u32, &str)]) -> Vec<u8> {
    let update = AwarenessUpdate {
        clients: entries
            .iter()
            .map(|(id, clock, json)| {
                (
                    yrs::block::ClientID::new(*id),
                    AwarenessUpdateEntry {
                        clock: *clock,
                        json: (*json).into(),
                    },
                )
            })
            .collect::<HashMap<_, _>>(),
    };
    let raw = update.encode_v1();
    let mut frame = vec![1];
    let mut n = raw.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            frame.push(byte);
            break;
        }
        frame.push(byte | 0x80);
    }
    frame.extend_from_slice(&raw);
    frame
}

fn names(states: &Value) -> Vec<String> {
    let mut names: Vec<String> = states
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user"]["name"].as_str().unwrap_or("?").to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cannot_erase_forge_or_flood_presence() {
    let s = setup("hello").await;
    let mut ann = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    ann.synced().await;
    ann.call(json!({"cmd": "set_awareness", "state": {"user": {"name": "Ann"}}}))
        .await;
    let ann_id = ann.call(json!({"cmd": "client_id"})).await["client_id"]
        .as_u64()
        .unwrap();

    // A viewer's raw socket: erase Ann, forge Ann, add 1,000 clients, one huge state.
    let mut attacker = raw_socket(&s.app, &s.file, &s.viewer.access).await;
    let forged = r#"{"user":{"name":"Mallory as Ann"}}"#;
    let huge = format!(
        r#"{{"user":{{"name":"Huge"}},"pad":"{}"}}"#,
        "x".repeat(20_000)
    );
    let mut frames = vec![
        awareness_frame(&[(ann_id, 1_000, "null")]),
        awareness_frame(&[(ann_id, 1_001, forged)]),
        awareness_frame(&[(7, 1, &huge)]),
    ];
    for chunk in 0..10 {
        let flood: Vec<(u64, u32, String)> = (0..100)
            .map(|i| {
                let id = 1_000 + chunk * 100 + i;
                (id, 1, format!(r#"{{"user":{{"name":"bot{id}"}}}}"#))
            })
            .collect();
        let entries: Vec<(u64, u32, &str)> = flood
            .iter()
            .map(|(id, c, j)| (*id, *c, j.as_str()))
            .collect();
        frames.push(awareness_frame(&entries));
    }
    for frame in frames {
        attacker.send(Message::Binary(frame.into())).await.unwrap();
    }
    // The socket stays open (stock clients echo others' removals; that is no reason to close).
    attacker
        .send(Message::Binary(vec![3].into()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut answered = false;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, attacker.next()).await {
        if let Message::Binary(b) = msg
            && b.first() == Some(&1)
        {
            answered = true;
            break;
        }
    }
    assert!(answered, "the attacker's socket still answers queries");

    // A latecomer sees Ann as she is, and at most 4 of the attacker's clients.
    let mut late = JsClient::connect(&s.app.ws_base(), &s.file, &s.owner.access).await;
    late.synced().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let states = late.call(json!({"cmd": "awareness"})).await["states"].clone();
    let names = names(&states);
    assert!(names.contains(&"Ann".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("Mallory") || n == "Huge"),
        "{names:?}"
    );
    assert!(names.len() <= 1 + 4, "{} states: {names:?}", names.len());
    ann.stop().await;
    late.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_packed_with_messages_are_refused_and_counted() {
    let s = setup_with(
        Options {
            config: vec![("collab_messages_per_sec", json!(5))],
            ..Options::default()
        },
        "packed",
    )
    .await;
    // A million sync step 1 requests in one 4 MB frame: refused whole, nothing answered.
    let step1 = [0_u8, 0, 1, 0];
    let flood: Vec<u8> = step1.iter().copied().cycle().take(4 * 1_000_000).collect();
    let ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    assert_eq!(close_code_after(ws, flood).await, Some(1002));
    // Presence with more entries than a room can have: refused.
    let many: Vec<String> = (0..3000).map(|_| "{}".to_owned()).collect();
    let entries: Vec<(u64, u32, &str)> = many
        .iter()
        .enumerate()
        .map(|(i, j)| (i as u64, 1, j.as_str()))
        .collect();
    let ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    assert_eq!(
        close_code_after(ws, awareness_frame(&entries)).await,
        Some(1002)
    );
    // 20 requests in one frame pass the frame bound but not a bucket of 10: 1008.
    let twenty: Vec<u8> = step1.iter().copied().cycle().take(4 * 20).collect();
    let ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    assert_eq!(close_code_after(ws, twenty).await, Some(1008));
    // A stock client still works.
    let mut a = JsClient::connect(&s.app.ws_base(), &s.file, &s.editor.access).await;
    a.synced().await;
    assert_eq!(a.text().await, "packed");
    a.stop().await;
}

/// Reviewer's attacks on the first version of the presence and load rules.
pub(crate) async fn rooms_loaded(app: &mdz_tests::TestApp) -> bool {
    let (_, m) = app.get("/metrics", None).await;
    !m.as_str()
        .unwrap_or_default()
        .lines()
        .any(|l| l == "mdz_collab_rooms 0")
}

fn removals_frame(ids: std::ops::Range<u64>) -> Vec<u8> {
    let entries: Vec<(u64, u32, &str)> = ids.map(|id| (id, 1, "null")).collect();
    awareness_frame(&entries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cannot_relay_removals_of_clients_it_never_introduced() {
    let s = setup_with(Options::default(), "hello").await;
    let server = MdzProcess::start(&s.app.replica(), 0, &[]).await;
    let ws_url = |token: &str| {
        format!(
            "ws://127.0.0.1:{}/api/v1/collab/{}?token={token}",
            server.port, s.file
        )
    };
    let (mut watcher, _) = tokio_tungstenite::connect_async(ws_url(&s.owner.access))
        .await
        .unwrap();
    let (mut attacker, _) = tokio_tungstenite::connect_async(ws_url(&s.viewer.access))
        .await
        .unwrap();
    let before = server.rss_kib();
    // A viewer sends 150 frames of 2,000 removals each, for ids nobody ever introduced.
    for k in 0..150_u64 {
        let frame = removals_frame(1_000_000 + k * 2000..1_000_000 + (k + 1) * 2000);
        attacker.send(Message::Binary(frame.into())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Count the presence bytes the watcher is sent.
    let mut relayed = 0_usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, watcher.next()).await {
        if let Message::Binary(b) = msg
            && b.first() == Some(&1)
        {
            relayed += b.len();
        }
    }
    let after = server.rss_kib();
    assert_eq!(
        relayed, 0,
        "the watcher was sent {relayed} bytes of removals of strangers; RSS {before} -> {after} KiB"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_cannot_make_a_document_unloadable() {
    let s = setup_with(
        Options {
            config: vec![("collab_idle_unload_secs", json!(0))],
            ..Options::default()
        },
        "steady\n",
    )
    .await;
    // Client 7's first item is a character; its second claims that character as its parent
    // (encoded from a document where 7:0 was a map). It decodes; applying it fails.
    let q = Doc::with_client_id(7);
    let qt = q.get_or_insert_text("content");
    qt.insert(&mut q.transact_mut(), 0, "s");
    let first = q
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let p = Doc::with_client_id(7);
    let m = p.get_or_insert_map("m");
    {
        use yrs::Map;
        m.insert(&mut p.transact_mut(), "k", yrs::MapPrelim::from([("a", 1)]));
    }
    let mut sv = StateVector::default();
    sv.set_max(yrs::block::ClientID::new(7), 1);
    let second = p.transact().encode_state_as_update_v1(&sv);
    assert!(Update::decode_v1(&second).is_ok());

    let mut ws = raw_socket(&s.app, &s.file, &s.editor.access).await;
    ws.send(Message::Binary(update_frame(&first).into()))
        .await
        .unwrap();
    ws.send(Message::Binary(update_frame(&second).into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(ws.close(None).await);
    let app = &s.app;
    assert!(eventually(|| async { !rooms_loaded(app).await }).await);
    // The next collaborator opens the document.
    let mut next = raw_socket(&s.app, &s.file, &s.owner.access).await;
    let first_reply = tokio::time::timeout(Duration::from_secs(10), next.next()).await;
    assert!(
        matches!(first_reply, Ok(Some(Ok(Message::Binary(_))))),
        "the document no longer loads: {first_reply:?}"
    );
}
