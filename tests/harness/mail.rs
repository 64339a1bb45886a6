//! A real SMTP server for the mail tests (aiosmtpd, `tests/mail-py/sink.py`), and reading the
//! mail an app delivered to it.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One delivered mail, bodies decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The first link in the plain-text body that contains `marker` (up to the whitespace
    /// after it).
    pub fn link(&self, marker: &str) -> String {
        let at = self
            .text
            .find(marker)
            .unwrap_or_else(|| panic!("no {marker} in {}", self.text));
        let start = self.text[..at]
            .rfind(char::is_whitespace)
            .map_or(0, |i| i + 1);
        let end = self.text[at..]
            .find(char::is_whitespace)
            .map_or(self.text.len(), |i| at + i);
        self.text[start..end].to_owned()
    }

    /// The token of the link holding `marker` (`token=` or `/invite/`).
    pub fn token(&self, marker: &str) -> String {
        let link = self.link(marker);
        let at = link.find(marker).expect("marker") + marker.len();
        link[at..].to_owned()
    }
}

/// aiosmtpd listening on 127.0.0.1, writing each message it accepts to a directory.
pub struct MailSink {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl MailSink {
    /// Start on a free port.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("mdz-mail-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("mail directory");
        let mut sink = Self {
            port,
            dir,
            child: None,
        };
        sink.resume().await;
        sink
    }

    /// `SMTP_URL` for the app: plain SMTP to this local server.
    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Stop listening (the port then refuses connections).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.kill().await);
        }
    }

    /// Listen again on the same port.
    pub async fn resume(&mut self) {
        let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mail-py/.venv/bin/python");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mail-py/sink.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start aiosmtpd (scripts/test.sh installs it in tests/mail-py/.venv)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("aiosmtpd ready in time")
        .expect("read aiosmtpd");
        assert_eq!(line.trim(), "ready", "aiosmtpd said {line}");
        self.child = Some(child);
    }

    /// Every mail delivered so far, oldest first.
    pub fn all(&self) -> Vec<Mail> {
        let mut names: Vec<_> = std::fs::read_dir(&self.dir)
            .expect("mail directory")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                let v: Value =
                    serde_json::from_slice(&std::fs::read(p).expect("mail")).expect("mail json");
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                Mail {
                    to: v["to"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    from: s("from"),
                    subject: s("subject"),
                    text: s("text"),
                    html: s("html"),
                }
            })
            .collect()
    }

    /// Mails delivered to `to` so far.
    pub fn to(&self, to: &str) -> Vec<Mail> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .collect()
    }

    /// Wait (up to 30 s) until `n` mails were delivered to `to`; the newest.
    pub async fn wait_for_nth(&self, to: &str, n: usize) -> Mail {
        for _ in 0..300 {
            let mails = self.to(to);
            if mails.len() >= n {
                return mails[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no mail #{n} to {to} arrived within 30 s");
    }

    /// Wait (up to 30 s) for a mail to `to` whose subject is `subject`.
    pub async fn wait_for_subject(&self, to: &str, subject: &str) -> Mail {
        for _ in 0..300 {
            if let Some(mail) = self.to(to).into_iter().find(|m| m.subject == subject) {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no mail \"{subject}\" to {to} arrived within 30 s");
    }

    /// Wait for the first mail to `to`.
    pub async fn wait_for(&self, to: &str) -> Mail {
        self.wait_for_nth(to, 1).await
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        drop(std::fs::remove_dir_all(&self.dir));
    }
}
