//! The real `mdz` binary as a child process, for tests that kill it (`kill -9`).

use crate::Replica;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub struct MdzProcess {
    pub port: u16,
    child: Child,
}

/// The `mdz` binary next to the test executable (`cargo nextest --workspace` builds it).
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    dir.join("mdz")
}

/// Run `mdz ARGS` to its end with only `env` (and `PATH`) in its environment; its output.
pub async fn mdz(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    command(args, env)
        .output()
        .await
        .expect("run the mdz binary")
}

/// Start `mdz ARGS` as [`mdz`] runs it, and leave it running (killed when dropped); for
/// commands that run until stopped (`mdz sync` watching).
pub fn mdz_spawn(args: &[&str], env: &[(String, String)]) -> Child {
    command(args, env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the mdz binary")
}

/// `mdz ARGS` with only `env` (and `PATH`, and warnings-only logs) in its environment.
fn command(args: &[&str], env: &[(String, String)]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MDZ_LOG_LEVEL", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    command
}

/// Run `mdz ARGS` as [`mdz`] does, its standard output going to the file `stdout` (created
/// with `mode`, as a shell's `>` would with that umask); its output (stderr only).
pub async fn mdz_to_file(
    args: &[&str],
    env: &[(String, String)],
    stdout: &std::path::Path,
    mode: u32,
) -> std::process::Output {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(stdout)
        .expect("create the output file");
    command(args, env)
        .stdout(file)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the mdz binary")
        // Not `output()`: tokio's pipes stdout as well, whatever was set.
        .wait_with_output()
        .await
        .expect("wait for the mdz binary")
}

impl MdzProcess {
    /// Serve the replica's database and data directory on `port` (0: pick a free one).
    pub async fn start(replica: &Replica, port: u16, env: &[(&str, String)]) -> Self {
        let port = if port == 0 {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port()
        } else {
            port
        };
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &replica.db_url)
            .env("MDZ_LISTEN", format!("127.0.0.1:{port}"))
            .env("MDZ_DATA_DIR", &replica.data_dir)
            .env("MDZ_REDIS_PREFIX", &replica.redis_prefix)
            .env("MDZ_DATABASE_POOL_SIZE", "4")
            .env("MDZ_WORKERS", "2")
            .env("MDZ_LOG_LEVEL", "warn")
            .env("MDZ_REGISTER_MAX_PER_IP", "1000000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("start the mdz binary");
        let process = Self { port, child };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(res) = client
                .get(format!("http://127.0.0.1:{port}/health/ready"))
                .send()
                .await
                && res.status().is_success()
            {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mdz did not become ready on port {port}");
    }

    /// Resident memory of the process (`VmRSS` in `/proc`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("mdz is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS")
    }

    /// Send the process a signal by name (`STOP`, `CONT`): freeze it and let it go on.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("mdz is running");
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid}");
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    pub async fn kill9(mut self) {
        self.child.start_kill().expect("SIGKILL mdz");
        drop(self.child.wait().await);
    }
}
