//! A webhook receiver on 127.0.0.1 for the webhook tests, and signature checks with the
//! reference `standardwebhooks` Python library (`tests/webhooks-py/verify.py`).
//!
//! The receiver answers by path: `/redirect` → 302 to `/hook`; `/fail` → always 500; `/big`
//! → 200 with 5,000 bytes; any other path → 500 for the first `fail_first` requests, then
//! 200 `thanks`.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: String,
    /// The status it was answered with.
    pub answered: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

pub struct WebhookReceiver {
    pub port: u16,
    requests: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(socket: &mut TcpStream) -> Option<(String, HashMap<String, String>, String)> {
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
    let mut lines = head.lines();
    let path = lines.next()?.split_whitespace().nth(1)?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    while buf.len() < header_end + length {
        let n = socket.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = String::from_utf8_lossy(&buf[header_end..header_end + length]).to_string();
    Some((path, headers, body))
}

impl WebhookReceiver {
    /// Listen on a free port; fail the first `fail_first` requests to ordinary paths.
    pub async fn start(fail_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests: Arc<Mutex<Vec<Received>>> = Arc::default();
        let fail = Arc::new(AtomicUsize::new(fail_first));
        let (seen, left) = (requests.clone(), fail);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    continue;
                };
                let (seen, left) = (seen.clone(), left.clone());
                tokio::spawn(async move {
                    let Some((path, headers, body)) = read_request(&mut socket).await else {
                        return;
                    };
                    let path_is_big = path == "/big";
                    let (status, extra) = if path == "/redirect" {
                        (302, "location: /hook\r\n")
                    } else if path == "/big" {
                        (200, "")
                    } else if path == "/fail"
                        || left
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok()
                    {
                        (500, "")
                    } else {
                        (200, "")
                    };
                    seen.lock().expect("lock").push(Received {
                        path,
                        headers,
                        body,
                        answered: status,
                    });
                    let big = "x".repeat(5000);
                    let text = match (status, path_is_big) {
                        (200, true) => big.as_str(),
                        (200, false) => "thanks",
                        _ => "not now",
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\n{extra}content-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    drop(socket.write_all(reply.as_bytes()).await);
                    drop(socket.shutdown().await);
                });
            }
        });
        Self {
            port,
            requests,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().expect("lock").clone()
    }

    /// Wait (up to `secs`) until at least `n` requests came; all of them.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        for _ in 0..secs * 10 {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{n} webhook requests expected within {secs} s, got {:?}",
            self.requests()
        );
    }
}

/// Verify each request with the `standardwebhooks` library under `secret`: for each,
/// `Ok(payload)` or `Err(why)`.
pub async fn verify_with_standardwebhooks(
    secret: &str,
    requests: &[Received],
) -> Vec<Result<Value, String>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("webhooks-py");
    let mut child = tokio::process::Command::new(dir.join(".venv/bin/python"))
        .arg(dir.join("verify.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect(
            "run verify.py (scripts/test.sh installs standardwebhooks in tests/webhooks-py/.venv)",
        );
    let job = json!({
        "secret": secret,
        "requests": requests.iter().map(|r| json!({"headers": r.headers, "body": r.body})).collect::<Vec<_>>(),
    });
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(job.to_string().as_bytes())
        .await
        .expect("write job");
    drop(stdin);
    let out = child.wait_with_output().await.expect("verify.py output");
    assert!(out.status.success(), "verify.py failed");
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("verify.py JSON");
    results
        .into_iter()
        .map(|r| {
            if r["ok"] == true {
                Ok(r["payload"].clone())
            } else {
                Err(r["error"].as_str().unwrap_or_default().to_owned())
            }
        })
        .collect()
}
