//! The `mdz` binary as a user runs it: help, config errors, the OpenAPI command, and the
//! embedded default (its own PostgreSQL, no configuration) through a graceful SIGTERM.

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
    for command in ["serve", "migrate", "openapi"] {
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
