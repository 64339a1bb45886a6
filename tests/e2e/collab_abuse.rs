//! Collab against a hostile client: presence it does not own, presence floods, frames packed
//! with requests, rate limits that count messages.

use crate::collab::{close_code_after, raw_socket, setup, setup_with};
use futures_util::{SinkExt, StreamExt};
use mdz_tests::{JsClient, Options};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
use yrs::updates::encoder::Encode;

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
