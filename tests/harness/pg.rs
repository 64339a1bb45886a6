//! A private PostgreSQL cluster on a free port, for tests that stop and restart it under a
//! running mdz (the suite's shared cluster serves every other test and must stay up).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

/// `initdb`/`pg_ctl` live here (`scripts/test.sh` exports `TEST_PG_BIN`).
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
        .pop()
        .expect("PostgreSQL binaries (TEST_PG_BIN or /usr/lib/postgresql)")
}

fn is_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap_or(false)
}

impl PgServer {
    /// `initdb`, start, create the `mdz` database and migrate it.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = std::env::temp_dir().join(format!("mdz-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        if is_root() {
            let chown = std::process::Command::new("chown")
                .arg("postgres")
                .arg(&dir)
                .status()
                .expect("chown the cluster directory");
            assert!(chown.success());
        }
        let server = Self {
            port,
            dir,
            bin: bin_dir(),
        };
        server
            .run(
                "initdb",
                &["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
            )
            .await;
        server.start_again().await;
        let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let mut conn =
            <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&admin)
                .await
                .expect("connect to the private cluster");
        diesel_async::RunQueryDsl::execute(diesel::sql_query("CREATE DATABASE mdz"), &mut conn)
            .await
            .expect("create the database");
        mdz_core::db::run_migrations(&server.url())
            .await
            .expect("migrate the private cluster");
        server
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/mdz", self.port)
    }

    async fn run(&self, tool: &str, args: &[&str]) {
        let path = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let status = command
            .arg("-D")
            .arg(&self.dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        assert!(status.success(), "{tool} {args:?} failed");
    }

    /// Start (again) on the same port and data.
    pub async fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=100",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        let log = log.to_string_lossy();
        self.run("pg_ctl", &["-l", &log, "-w", "-o", &options, "start"])
            .await;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("PostgreSQL did not start on port {}", self.port);
    }

    /// Stop: `fast` ends every session (what a restart or a failover does to clients).
    pub async fn stop(&self) {
        self.run("pg_ctl", &["-m", "fast", "-w", "stop"]).await;
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let mut command = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            std::process::Command::new(&path)
        };
        drop(
            command
                .arg("-D")
                .arg(&self.dir)
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
        );
        drop(std::fs::remove_dir_all(&self.dir));
    }
}
