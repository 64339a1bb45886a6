//! The web app in a real browser (tests/web-js/browser.mjs: playwright-core driving the OS
//! chromium): sign-up, projects, members, two people editing one document, a viewer, hostile
//! Markdown, offline edits across a reload, history, the AI panel, accessibility scans. It
//! prints its measurements (first-load size, navigation to synced, keystroke latency).

use mdz_tests::{FakeLlm, Options, TestApp};
use serde_json::json;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn the_web_app_works_in_a_browser() {
    // Chat answers come from a local fake OpenAI-compatible server.
    let llm = FakeLlm::start().await;
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("llm_provider", json!("openai")),
            ("llm_base_url", json!(llm.base_url.clone())),
            ("llm_api_key", json!("sk-fake")),
            ("llm_model", json!("gpt-test")),
        ],
        ..Default::default()
    })
    .await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web-js/browser.mjs");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: run the suite with scripts/test.sh, which installs chromium"
    );
    let mailbox = app.data_dir.join("mailbox.json");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(&app.address)
        .env("CHROMIUM", &chromium)
        .env("MDZ_MAILBOX", &mailbox)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node (installed by scripts/test.sh)");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut output = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.expect("read node's output") {
            eprintln!("{line}");
            output.push(line);
        }
        child.wait().await.expect("wait for node")
    };
    // People sign up in the browser; follow their verification links as they would, except
    // for `mailbox-` addresses: their mails' tokens go to the script, which opens the links.
    let verifier = async {
        let mut done = std::collections::HashSet::new();
        loop {
            app.verify_pending_except(&mut done, "mailbox-").await;
            let tokens = app.mail_tokens_to("mailbox-").await;
            std::fs::write(&mailbox, serde_json::to_vec(&tokens).unwrap()).unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let status = tokio::time::timeout(Duration::from_secs(300), async {
        tokio::select! {
            status = run => status,
            _ = verifier => unreachable!("the verifier loops until the run ends"),
        }
    })
    .await
    .expect("the browser tests finish within 300 s");
    let failed: Vec<&String> = output.iter().filter(|l| l.starts_with("not ok")).collect();
    assert!(
        status.success() && failed.is_empty(),
        "browser tests failed ({status}):\n{}",
        output.join("\n")
    );
}
