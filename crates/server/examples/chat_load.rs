//! Chat streaming benchmark for `scripts/bench.sh`: how much mdz adds to the time to the
//! first streamed byte of an answer, over a provider that answers at once. Prints figures;
//! asserts nothing.
//!
//! - `chat_load provider <port> <token-ms>`: an OpenAI-compatible provider (SSE) on `port`
//!   whose first chunk leaves at once; the rest of the answer (20 more chunks) follows one
//!   chunk every `token-ms` like a model generating (0: all at once).
//! - `chat_load measure <mdz-base> <token> <project> <provider-base> <streams> <seconds>
//!   <start>`: `streams` sessions and as many concurrent loops, each timing (a) a direct
//!   request to the provider until its first `data:` chunk and (b) a message posted to mdz with
//!   `Accept: text/event-stream` until its first `delta` event, each read to its end; prints
//!   p50/p99 of both and of the pairwise difference. The first 2 s of every loop warm the
//!   connections up and are not counted; then it runs `seconds`. `start`: `together` (every
//!   loop starts at the same instant; with answers of a fixed length they stay in step, so
//!   all the posts of a round arrive in the same millisecond) or `spread` (loop `i` starts
//!   `i / streams` of a second late, like people asking independently). An optional last
//!   argument picks what is posted: `chat` (the default: a message in a session), `edit` (an
//!   AI edit of a document, `POST /files/{id}/ai/edit`, which ends as a suggestion) or
//!   `complete` (a ghost-text completion, `POST /files/{id}/ai/complete`); each loop has a
//!   session or a document of its own.

#![expect(clippy::print_stdout, reason = "a benchmark tool prints its figures")]

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serve_one(mut socket: tokio::net::TcpStream, token_ms: u64) {
    let mut buf = Vec::new();
    let mut tmp = [0_u8; 16384];
    loop {
        let Ok(n) = socket.read(&mut tmp).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let Ok(n) = socket.read(&mut tmp).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            break;
        }
    }
    let chunk = |piece: &str| {
        let c = json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
        format!("data: {c}\n\n")
    };
    let first = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{}",
        chunk("Hello")
    );
    if socket.write_all(first.as_bytes()).await.is_err() {
        return;
    }
    let mut rest = String::new();
    for _ in 0..20 {
        rest.push_str(&chunk(" word"));
        if token_ms > 0 {
            tokio::time::sleep(Duration::from_millis(token_ms)).await;
            if socket.write_all(rest.as_bytes()).await.is_err() {
                return;
            }
            rest.clear();
        }
    }
    let usage = json!({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 21}});
    rest.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
    drop(socket.write_all(rest.as_bytes()).await);
    drop(socket.shutdown().await);
}

async fn provider(port: u16, token_ms: u64) {
    let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await else {
        println!("provider: cannot bind {port}");
        return;
    };
    while let Ok((socket, _)) = listener.accept().await {
        drop(socket.set_nodelay(true));
        tokio::spawn(serve_one(socket, token_ms));
    }
}

/// Time until the response body holds `marker`.
async fn first(req: reqwest::RequestBuilder, marker: &str) -> Option<Duration> {
    let started = Instant::now();
    let res = req.send().await.ok()?;
    if !res.status().is_success() {
        return None;
    }
    let mut body = res.bytes_stream();
    let mut seen = Vec::new();
    while let Some(Ok(chunk)) = body.next().await {
        seen.extend_from_slice(&chunk);
        if seen.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            let at = started.elapsed();
            // Drain the rest so the answer completes normally.
            while body.next().await.is_some() {}
            return Some(at);
        }
    }
    None
}

/// What each loop posts and times.
#[derive(Debug, Clone, Copy)]
enum What {
    Chat,
    Edit,
    Complete,
}

impl What {
    fn parse(arg: &str) -> Self {
        match arg {
            "edit" => Self::Edit,
            "complete" => Self::Complete,
            _ => Self::Chat,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Edit => "AI edit",
            Self::Complete => "AI completion",
        }
    }

    /// The path (under `/api/v1/`) and body of one request about `target` (a session's or a
    /// document's id).
    fn request(self, target: &str) -> (String, Value) {
        match self {
            Self::Chat => (
                format!("sessions/{target}/messages"),
                json!({"content": "hi"}),
            ),
            Self::Edit => (
                format!("files/{target}/ai/edit"),
                json!({"instruction": "make it shorter"}),
            ),
            Self::Complete => (
                format!("files/{target}/ai/complete"),
                json!({"position": 12}),
            ),
        }
    }
}

/// The session (chat) or document (AI edits, completions) loop `i` works on.
async fn prepare(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    project: &str,
    what: What,
    i: usize,
) -> Option<String> {
    let (path, body) = match what {
        What::Chat => (format!("projects/{project}/sessions"), json!({})),
        What::Edit | What::Complete => (
            format!("projects/{project}/files"),
            json!({"path": format!("bench/loop-{i}.md"), "content": "# Notes\n\nSome text that an AI edit rewrites.\n"}),
        ),
    };
    let made: Value = match client
        .post(format!("{base}/api/v1/{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let id = made["id"].as_str().map(str::to_owned);
    if id.is_none() {
        println!("could not prepare loop {i}: {made}");
    }
    id
}

/// How long every stream runs before its figures count.
const WARM_UP: Duration = Duration::from_secs(2);

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// How a measurement runs: concurrent loops, seconds counted, their start, what they post.
struct Plan {
    streams: usize,
    seconds: u64,
    spread: bool,
    what: What,
}

async fn measure(base: String, token: String, project: String, provider: String, plan: Plan) {
    let Plan {
        streams,
        seconds,
        spread,
        what,
    } = plan;
    let client = reqwest::Client::new();
    // The first rounds open HTTP and database connections; only steady state is recorded.
    let warm_until = Instant::now() + WARM_UP;
    let until = warm_until + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..streams {
        // One round (a direct answer and one through mdz) of the paced provider is ~1 s.
        let offset = if spread {
            Duration::from_secs(1) * u32::try_from(i).unwrap_or(0)
                / u32::try_from(streams).unwrap_or(1)
        } else {
            Duration::ZERO
        };
        let (client, base, token, project, provider) = (
            client.clone(),
            base.clone(),
            token.clone(),
            project.clone(),
            provider.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut direct = Vec::new();
            let mut through = Vec::new();
            let Some(target) = prepare(&client, &base, &token, &project, what, i).await else {
                return (direct, through);
            };
            tokio::time::sleep(offset).await;
            while Instant::now() < until {
                let counts = Instant::now() >= warm_until;
                let d = first(
                    client
                        .post(format!("{provider}/chat/completions"))
                        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true})),
                    "data:",
                )
                .await;
                let (path, body) = what.request(&target);
                let t = first(
                    client
                        .post(format!("{base}/api/v1/{path}"))
                        .bearer_auth(&token)
                        .header("accept", "text/event-stream")
                        .json(&body),
                    "event: delta",
                )
                .await;
                if let (Some(d), Some(t), true) = (d, t, counts) {
                    direct.push(d.as_secs_f64() * 1000.0);
                    through.push(t.as_secs_f64() * 1000.0);
                }
            }
            (direct, through)
        }));
    }
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for t in tasks {
        if let Ok((d, th)) = t.await {
            direct.extend(d);
            through.extend(th);
        }
    }
    let mut added: Vec<f64> = through.iter().zip(&direct).map(|(t, d)| t - d).collect();
    direct.sort_by(f64::total_cmp);
    through.sort_by(f64::total_cmp);
    added.sort_by(f64::total_cmp);
    println!(
        "{} first byte, {streams} concurrent streams (started {}), {} answers: provider direct p50 {:.2} ms p99 {:.2} ms; through mdz p50 {:.2} ms p99 {:.2} ms; added by mdz p50 {:.2} ms p99 {:.2} ms (p99 of the pairwise difference)",
        what.name(),
        if spread {
            "spread over 1 s"
        } else {
            "together"
        },
        through.len(),
        pct(&direct, 0.5),
        pct(&direct, 0.99),
        pct(&through, 0.5),
        pct(&through, 0.99),
        pct(&added, 0.5),
        pct(&added, 0.99),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    match arg(0).as_str() {
        "provider" => provider(arg(1).parse().unwrap_or(0), arg(2).parse().unwrap_or(0)).await,
        "measure" => {
            measure(
                arg(1),
                arg(2),
                arg(3),
                arg(4),
                Plan {
                    streams: arg(5).parse().unwrap_or(32),
                    seconds: arg(6).parse().unwrap_or(10),
                    spread: arg(7) == "spread",
                    what: What::parse(&arg(8)),
                },
            )
            .await;
        }
        _ => println!("usage: chat_load provider <port> | measure … (see the module docs)"),
    }
}
