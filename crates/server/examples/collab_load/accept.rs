//! `collab_load accept <api-base> <ws-url> <token> <file> <observers> <count>`: how long an
//! accepted suggestion takes to reach live clients. `observers` yrs clients sit in the
//! document's room; `count` times a suggestion (replace `word-k` by `word-k+1`, by offsets
//! into the current revision) is made over REST, then accepted, timing from sending the
//! accept until every observer's text has the new word. Alternating with it, a REST save of
//! the whole text (`PUT /files/{id}`, merged into the room) is timed the same way: the
//! floor of a server-side edit reaching the clients, in the same run.

use super::Client;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use yrs::{GetString, Transact};

/// One observer: applies every frame, and reports the first moment its text holds the word
/// being waited for.
async fn observe(
    mut client: Client,
    wanted: watch::Receiver<String>,
    seen: mpsc::Sender<(String, Instant)>,
) {
    let text = client.doc.get_or_insert_text("content");
    let mut reported = String::new();
    while let Some(Ok(frame)) = client.ws.next().await {
        let Message::Binary(data) = frame else {
            continue;
        };
        client.on_frame(&data).await;
        let want = wanted.borrow().clone();
        if want.is_empty() || want == reported {
            continue;
        }
        if text.get_string(&client.doc.transact()).contains(&want) {
            reported = want.clone();
            if seen.send((want, Instant::now())).await.is_err() {
                return;
            }
        }
    }
}

/// Wait until `observers` reports for `word`; the latest of them.
async fn all_saw(
    seen: &mut mpsc::Receiver<(String, Instant)>,
    word: &str,
    observers: usize,
) -> Option<Instant> {
    let mut last = None;
    let mut got = 0;
    while got < observers {
        let (w, at) = tokio::time::timeout(Duration::from_secs(10), seen.recv())
            .await
            .ok()??;
        if w == word {
            got += 1;
            last = Some(last.map_or(at, |l: Instant| l.max(at)));
        }
    }
    last
}

async fn call(req: reqwest::RequestBuilder) -> Option<Value> {
    let res = req.send().await.ok()?;
    if !res.status().is_success() {
        println!(
            "accept bench: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
        return None;
    }
    res.json().await.ok()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub async fn run(api: &str, ws_url: &str, token: &str, file: &str, observers: usize, count: usize) {
    let http = reqwest::Client::new();
    let (want_tx, want_rx) = watch::channel(String::new());
    let (seen_tx, mut seen) = mpsc::channel(observers * 4);
    for _ in 0..observers {
        let Ok(mut c) = Client::connect(ws_url).await else {
            println!("accept bench: cannot connect");
            return;
        };
        if c.until_synced().await.is_err() {
            println!("accept bench: not synced");
            return;
        }
        tokio::spawn(observe(c, want_rx.clone(), seen_tx.clone()));
    }
    let file_url = format!("{api}/api/v1/files/{file}");
    let (mut accepts, mut saves) = (Vec::new(), Vec::new());
    for k in 0..count {
        // The file as REST has it (the room saves its text back shortly after each change).
        let mut current = None;
        for _ in 0..100 {
            current = call(http.get(&file_url).bearer_auth(token)).await;
            if current
                .as_ref()
                .and_then(|f| f["content"].as_str())
                .is_some_and(|c| c.contains(&format!("word-{k} ")))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let Some(current) = current else { return };
        let content = current["content"].as_str().unwrap_or_default().to_owned();

        // The floor: a REST save appending a line, reaching the same clients.
        let marker = format!("save-{k}\n");
        want_tx.send_replace(marker.clone());
        let started = Instant::now();
        let content = format!("{content}{marker}");
        let Some(saved) = call(
            http.put(&file_url)
                .bearer_auth(token)
                .json(&json!({"content": content})),
        )
        .await
        else {
            return;
        };
        let Some(at) = all_saw(&mut seen, &marker, observers).await else {
            println!("accept bench: the observers never saw {marker:?}");
            return;
        };
        saves.push(at.duration_since(started).as_secs_f64() * 1000.0);

        // A suggestion on the saved revision (the PUT answers its metadata), then its accept.
        let Some(byte) = content.find(&format!("word-{k} ")) else {
            println!("accept bench: word-{k} is not in the text");
            return;
        };
        let from = content[..byte].chars().count();
        let to = from + format!("word-{k}").chars().count();
        let next = format!("word-{} ", k + 1);
        let range = json!({"from": from, "to": to, "revision": saved["revision"]});
        let made = call(
            http.post(format!("{file_url}/suggestions"))
                .bearer_auth(token)
                .json(&json!({"range": range, "proposed": next.trim_end()})),
        )
        .await;
        let Some(id) = made.as_ref().and_then(|m| m["id"].as_str()) else {
            return;
        };
        want_tx.send_replace(next.clone());
        let started = Instant::now();
        call(
            http.post(format!("{api}/api/v1/suggestions/{id}/accept"))
                .bearer_auth(token),
        )
        .await;
        let Some(at) = all_saw(&mut seen, &next, observers).await else {
            println!("accept bench: the observers never saw {next:?}");
            return;
        };
        accepts.push(at.duration_since(started).as_secs_f64() * 1000.0);
    }
    accepts.sort_by(f64::total_cmp);
    saves.sort_by(f64::total_cmp);
    println!(
        "accept to visible in all {observers} clients, {} accepts: p50 {:.2} ms p99 {:.2} ms; REST save to visible (the floor) p50 {:.2} ms p99 {:.2} ms",
        accepts.len(),
        pct(&accepts, 0.5),
        pct(&accepts, 0.99),
        pct(&saves, 0.5),
        pct(&saves, 0.99),
    );
}
