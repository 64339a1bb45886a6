//! The `mdz` binary as a user runs it: help, config errors, the OpenAPI command, and the
//! embedded default (its own PostgreSQL, no configuration) through a graceful SIGTERM, and
//! backup and restore on it.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the helpers of these tests fail them loudly"
)]

use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

fn mdz() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mdz"));
    // Only what each test sets: nothing from the suite's environment.
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    cmd
}

#[tokio::test]
async fn help_lists_the_commands() {
    let out = mdz().arg("--help").output().await.unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for command in ["serve", "migrate", "openapi", "backup", "restore"] {
        assert!(text.contains(command), "{text}");
    }
}

#[tokio::test]
async fn unknown_and_bad_keys_fail_start_up_naming_the_key() {
    let out = mdz().env("MDZ_COLOUR", "blue").output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("colour"), "{err}");

    let out = mdz().env("MDZ_LOG_FORMAT", "xml").output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("log_format"), "{err}");

    let out = mdz()
        .env("DATABASE_URL", "mysql://user:hunter2@db/x")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("database_url"), "{err}");
    assert!(!err.contains("hunter2"), "secrets are never printed: {err}");
}

#[tokio::test]
async fn openapi_prints_the_document() {
    let out = mdz().arg("openapi").output().await.unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["info"]["title"], "mdz");
    assert!(doc["paths"]["/api/v1/auth/login"].is_object());
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_default_serves_ready_and_stops_cleanly_on_sigterm() {
    let data_dir = std::env::temp_dir().join(format!("mdz-cli-{}", std::process::id()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = mdz()
        .arg("serve")
        .env("MDZ_DATA_DIR", &data_dir)
        .env("MDZ_LISTEN", format!("127.0.0.1:{port}"))
        .env("MDZ_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/health/ready");
    let mut ready = None;
    for _ in 0..300 {
        if let Ok(res) = reqwest::get(&url).await {
            ready = Some((res.status(), res.text().await.unwrap()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = ready.expect("mdz did not come up within 30 s");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""postgres":{"status":"ok""#), "{body}");
    let pid_file = data_dir.join("postgres/postmaster.pid");
    assert!(
        pid_file.exists(),
        "the embedded cluster runs in the data directory"
    );
    assert!(data_dir.join("keys/jwt-ed25519.pem").exists());

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("mdz did not stop within 60 s of SIGTERM")
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{logs}");
    assert!(logs.contains("started the embedded PostgreSQL"), "{logs}");
    assert!(logs.contains("stopped the embedded PostgreSQL"), "{logs}");
    assert!(!pid_file.exists(), "PostgreSQL was stopped with mdz");
    // Every log line is JSON.
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
    }
    drop(std::fs::remove_dir_all(&data_dir));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `mdz serve` on the embedded default in `data_dir`, ready.
async fn serve(data_dir: &std::path::Path, port: u16) -> tokio::process::Child {
    let child = mdz()
        .arg("serve")
        .env("MDZ_DATA_DIR", data_dir)
        .env("MDZ_LISTEN", format!("127.0.0.1:{port}"))
        .env("MDZ_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/health/ready");
    for _ in 0..300 {
        if reqwest::get(&url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("mdz did not come up within 30 s");
}

async fn stop(child: tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await;
    assert!(killed.unwrap().success());
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("mdz did not stop within 60 s of SIGTERM")
        .unwrap();
    assert!(out.status.success());
}

async fn post(url: String, token: Option<&str>, body: serde_json::Value) -> serde_json::Value {
    let mut req = reqwest::Client::new().post(url).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_backup_while_serving_restores_into_a_fresh_data_dir() {
    let base = std::env::temp_dir().join(format!("mdz-cli-backup-{}", std::process::id()));
    let (source, target) = (base.join("source"), base.join("target"));
    let file = base.join("backup.zip");
    let port = free_port();
    let server = serve(&source, port).await;
    let api = format!("http://127.0.0.1:{port}/api/v1");
    let credentials = serde_json::json!({
        "email": "ada@example.com", "password": "violet-harbour-42", "display_name": "Ada"
    });
    let auth = post(format!("{api}/auth/register"), None, credentials).await;
    let token = auth["access_token"].as_str().unwrap().to_owned();
    let project = post(
        format!("{api}/projects"),
        Some(&token),
        serde_json::json!({"name": "P"}),
    )
    .await;
    let project = project["id"].as_str().unwrap();
    let doc = post(
        format!("{api}/projects/{project}/files"),
        Some(&token),
        serde_json::json!({"path": "a.md", "content": "kept"}),
    )
    .await;

    // Backed up through the cluster the running server owns, which keeps serving.
    let out = mdz()
        .args(["backup", &file.to_string_lossy()])
        .env("MDZ_DATA_DIR", &source)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/health/ready")).await;
    assert!(
        ready.unwrap().status().is_success(),
        "the server kept its database"
    );
    // Restoring under the running server is refused: its rooms and caches would write their
    // state back over the restore.
    let out = mdz()
        .args(["restore", "--force", &file.to_string_lossy()])
        .env("MDZ_DATA_DIR", &source)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success(), "restored under a running server");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a running mdz serves"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop(server).await;

    let out = mdz()
        .args(["restore", &file.to_string_lossy()])
        .env("MDZ_DATA_DIR", &target)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let restored = serve(&target, port).await;
    let api = format!("http://127.0.0.1:{port}/api/v1");
    let login = serde_json::json!({"email": "ada@example.com", "password": "violet-harbour-42"});
    let login = post(format!("{api}/auth/login"), None, login).await;
    let token = login["access_token"].as_str().unwrap();
    let read = reqwest::Client::new()
        .get(format!("{api}/files/{}", doc["id"].as_str().unwrap()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let read: serde_json::Value = read.json().await.unwrap();
    assert_eq!(read["content"], "kept");
    stop(restored).await;
    drop(std::fs::remove_dir_all(&base));
}

#[tokio::test]
async fn a_backup_of_a_data_dir_without_a_database_creates_nothing() {
    let dir = std::env::temp_dir().join(format!("mdz-cli-nothing-{}", std::process::id()));
    let file = dir.with_extension("zip");
    let out = mdz()
        .args(["backup", &file.to_string_lossy()])
        .env("MDZ_DATA_DIR", &dir)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no embedded database"), "{err}");
    assert!(!dir.join("postgres").exists(), "no cluster was made");
    assert!(!file.exists(), "no backup file was left");
    drop(std::fs::remove_dir_all(&dir));
}
