//! A stock `yjs` + `y-websocket` client in Node, driven line by line (see
//! `tests/collab-js/driver.mjs`, installed by `scripts/test.sh`).

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

pub struct JsClient {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    next_id: u64,
    /// Events seen so far (`{"event": "close", "code": 4403}`, status changes).
    pub events: Vec<Value>,
}

fn driver() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("collab-js/driver.mjs")
}

impl JsClient {
    /// Connect to `ws_base` (e.g. `ws://127.0.0.1:1234/api/v1/collab`), room `file_id`.
    pub async fn connect(ws_base: &str, file_id: &str, token: &str) -> Self {
        let mut child = Command::new("node")
            .arg(driver())
            .args([ws_base, file_id, token])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start node (installed by scripts/test.sh)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        Self {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            next_id: 1,
            events: Vec::new(),
        }
    }

    /// Send a command and wait for its answer (at most 30 s).
    pub async fn call(&mut self, mut command: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        command["id"] = json!(id);
        let line = format!("{command}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to node");
        let answer = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .expect("read from node")
                    .expect("node exited");
                let value: Value = serde_json::from_str(&line).expect("json from node");
                if value["id"] == json!(id) {
                    return value;
                }
                self.events.push(value);
            }
        })
        .await
        .expect("node answered in time");
        assert!(answer.get("error").is_none(), "{command} failed: {answer}");
        answer
    }

    pub async fn synced(&mut self) {
        let answer = self.call(json!({"cmd": "synced"})).await;
        assert_eq!(answer["ok"], true, "client did not sync: {answer}");
    }

    pub async fn append(&mut self, text: &str) {
        self.call(json!({"cmd": "append", "text": text})).await;
    }

    pub async fn text(&mut self) -> String {
        let answer = self.call(json!({"cmd": "text"})).await;
        answer["text"].as_str().unwrap_or_default().to_owned()
    }

    /// Wait until the text contains `needle`; returns the text.
    pub async fn wait_contains(&mut self, needle: &str) -> String {
        let answer = self
            .call(json!({"cmd": "wait_text", "contains": needle, "timeout_ms": 10_000}))
            .await;
        let text = answer["text"].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            answer["ok"], true,
            "text never contained {needle:?}: {text:?}"
        );
        text
    }

    /// Close codes the server sent so far (after pumping pending events for `wait`).
    pub async fn close_codes(&mut self, wait: Duration) -> Vec<i64> {
        tokio::time::sleep(wait).await;
        // A cheap command flushes the events that arrived before its answer.
        self.call(json!({"cmd": "text"})).await;
        self.events
            .iter()
            .filter(|e| e["event"] == "close")
            .filter_map(|e| e["code"].as_i64())
            .collect()
    }

    pub async fn stop(mut self) {
        drop(self.stdin.shutdown().await);
        drop(tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await);
        drop(self.child.kill().await);
    }
}
