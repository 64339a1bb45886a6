//! A fake OpenAI-compatible provider on a local port, speaking the real wire format:
//! `POST /v1/chat/completions` answered with `data: {chunk}` Server-Sent Events and
//! `data: [DONE]`. What it does is chosen by a tag in the last user message:
//! `[slow]` (ten pieces, 150 ms apart), `[500]` (an error status whose body holds a secret),
//! `[hang]` (never answers), `[malformed]` (one good piece, then garbage); otherwise
//! "Hello world" in three pieces with usage. `POST …/messages` answers in the Anthropic
//! Messages event format instead (`message_start`, `content_block_delta`, `message_delta`,
//! `message_stop`). `POST /model/{id}/converse-stream` answers as AWS Bedrock does: frames of
//! the `application/vnd.amazon.eventstream` encoding (prelude, CRC32s, typed headers), written
//! here from the format's description, carrying `messageStart`, `contentBlockDelta`,
//! `contentBlockStop`, `messageStop` and `metadata`.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Text of the `[slow]` answer, piece by piece.
pub const SLOW_PIECES: [&str; 10] = [
    "one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight ", "nine ", "ten",
];

/// Requests received: the `authorization` header and the JSON body.
pub type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

pub struct FakeLlm {
    pub base_url: String,
    /// Every request body received, with its `authorization` header.
    pub requests: Received,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn chunk(text: &str) -> String {
    let c = json!({"id": "c1", "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
    format!("data: {c}\n\n")
}

/// The request's path, its key (`authorization` or `x-api-key`) and its JSON body.
async fn read_request(socket: &mut TcpStream) -> Option<(String, Option<String>, Value)> {
    let mut buf = Vec::new();
    let mut tmp = [0_u8; 8192];
    let header_end = loop {
        let n = socket.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .find(|l| l.to_lowercase().starts_with(&format!("{name}:")))
            .map(|l| l[name.len() + 1..].trim().to_owned())
    };
    let length: usize = header("content-length")?.parse().ok()?;
    while buf.len() < header_end + length {
        let n = socket.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = serde_json::from_slice(&buf[header_end..header_end + length]).ok()?;
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    Some((
        path,
        header("authorization").or_else(|| header("x-api-key")),
        body,
    ))
}

/// One frame of the AWS event-stream encoding: total length, headers length, prelude CRC32,
/// string headers (type 7), payload, message CRC32.
pub fn event_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut head = Vec::new();
    for (name, value) in headers {
        head.push(u8::try_from(name.len()).expect("short name"));
        head.extend_from_slice(name.as_bytes());
        head.push(7);
        head.extend_from_slice(
            &u16::try_from(value.len())
                .expect("short value")
                .to_be_bytes(),
        );
        head.extend_from_slice(value.as_bytes());
    }
    let total = 12 + head.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).expect("small").to_be_bytes());
    out.extend_from_slice(&u32::try_from(head.len()).expect("small").to_be_bytes());
    let prelude = crc32fast::hash(&out);
    out.extend_from_slice(&prelude.to_be_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn bedrock_event(kind: &str, payload: &Value) -> Vec<u8> {
    event_frame(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// The text pieces of an answer and the milliseconds between them, by the question's tag.
fn pieces_for(last: &str) -> (Vec<&'static str>, u64) {
    if last.contains("[slow]") {
        (SLOW_PIECES.to_vec(), 150)
    } else if last.contains("[malformed]") {
        (vec!["partial "], 10)
    } else {
        (vec!["Hel", "lo", " world"], 10)
    }
}

/// The Bedrock ConverseStream answer.
async fn serve_bedrock(mut socket: TcpStream, last: &str) {
    if last.contains("[500]") {
        let body = r#"{"message":"internal failure for key sk-fake-SECRET"}"#;
        let res = format!(
            "HTTP/1.1 500 Internal Server Error\r\nx-amzn-errortype: InternalServerException\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        drop(socket.write_all(res.as_bytes()).await);
        return;
    }
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\nx-amzn-requestid: r1\r\nconnection: close\r\n\r\n";
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let (pieces, gap) = pieces_for(last);
    let start = bedrock_event("messageStart", &json!({"role": "assistant", "p": "abc"}));
    if socket.write_all(&start).await.is_err() {
        return;
    }
    for piece in pieces {
        let delta = bedrock_event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": piece}, "p": "abcdef"}),
        );
        if socket.write_all(&delta).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }
    if last.contains("[malformed]") {
        let mut broken = bedrock_event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": "never"}}),
        );
        let end = broken.len() - 1;
        broken[end] ^= 0xff;
        drop(socket.write_all(&broken).await);
        return;
    }
    let mut tail = bedrock_event("contentBlockStop", &json!({"contentBlockIndex": 0}));
    tail.extend(bedrock_event(
        "messageStop",
        &json!({"stopReason": "end_turn"}),
    ));
    tail.extend(bedrock_event(
        "metadata",
        &json!({"usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15}, "metrics": {"latencyMs": 5}}),
    ));
    drop(socket.write_all(&tail).await);
}

async fn serve(mut socket: TcpStream, requests: Received) {
    let Some((path, auth, body)) = read_request(&mut socket).await else {
        return;
    };
    let anthropic = path.ends_with("/messages");
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str().or(m["content"][0]["text"].as_str()))
        .unwrap_or_default();
    // Providers that need alternating turns get earlier unanswered questions joined to the
    // last one: the tag counts in the newest paragraph only.
    let last = last.rsplit("\n\n").next().unwrap_or_default().to_owned();
    requests.lock().expect("lock").push((auth, body));
    if last.contains("[hang]") {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    if path.contains("/model/") && path.ends_with("/converse-stream") {
        serve_bedrock(socket, &last).await;
        return;
    }
    if last.contains("[500]") {
        let body = r#"{"error":{"message":"internal failure for key sk-fake-SECRET","type":"server_error"}}"#;
        let res = format!(
            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        drop(socket.write_all(res.as_bytes()).await);
        return;
    }
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let (pieces, gap) = pieces_for(&last);
    if anthropic {
        let start = json!({"type": "message_start", "message": {"id": "m1", "usage": {"input_tokens": 12, "output_tokens": 1}}});
        let text = format!(
            "event: message_start\ndata: {start}\n\nevent: ping\ndata: {{\"type\": \"ping\"}}\n\n"
        );
        if socket.write_all(text.as_bytes()).await.is_err() {
            return;
        }
    }
    for piece in pieces {
        let event = if anthropic {
            let d = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}});
            format!("event: content_block_delta\ndata: {d}\n\n")
        } else {
            chunk(piece)
        };
        if socket.write_all(event.as_bytes()).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }
    if anthropic && !last.contains("[malformed]") {
        let end = json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}});
        let text = format!(
            "event: message_delta\ndata: {end}\n\nevent: message_stop\ndata: {{\"type\": \"message_stop\"}}\n\n"
        );
        drop(socket.write_all(text.as_bytes()).await);
        return;
    }
    if last.contains("[malformed]") {
        drop(socket.write_all(b"data: {\"choices\": [oops\n\n").await);
        return;
    }
    let usage = json!({"id": "c1", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}});
    drop(
        socket
            .write_all(format!("data: {usage}\n\ndata: [DONE]\n\n").as_bytes())
            .await,
    );
}

impl FakeLlm {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, seen.clone()));
            }
        });
        Self {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            requests,
            task,
        }
    }
}
