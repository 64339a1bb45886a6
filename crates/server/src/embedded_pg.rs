//! The embedded default database: a private PostgreSQL cluster under the data directory,
//! started from the machine's PostgreSQL binaries when no `DATABASE_URL` is configured.

use base64::Engine;
use mdz_core::secret::Secret;
use std::path::{Path, PathBuf};
use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL binaries (initdb, pg_ctl) were not found. Install them \
         (Debian/Ubuntu: `apt-get install postgresql`), point MDZ_PG_BIN_DIR at their directory, \
         or set DATABASE_URL to use an existing PostgreSQL server"
    )]
    BinariesMissing,
    #[error(
        "mdz runs as root, and PostgreSQL refuses to; the embedded cluster needs the `postgres` \
         system user (install the postgresql package) or set DATABASE_URL"
    )]
    NoPostgresUser,
    #[error("embedded PostgreSQL: {step} failed: {detail}")]
    Step { step: &'static str, detail: String },
}

fn step(step: &'static str) -> impl Fn(std::io::Error) -> EmbeddedError {
    move |e| EmbeddedError::Step {
        step,
        detail: e.to_string(),
    }
}

/// A running embedded cluster; [`EmbeddedPostgres::stop`] shuts it down.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    pg_dir: PathBuf,
    as_postgres: bool,
    url: Secret,
    port: u16,
}

impl EmbeddedPostgres {
    /// Initialise (first run) and start the cluster in `data_dir/postgres`.
    pub async fn start(
        data_dir: &Path,
        bin_override: Option<&Path>,
    ) -> Result<Self, EmbeddedError> {
        let bin_dir = find_binaries(bin_override).ok_or(EmbeddedError::BinariesMissing)?;
        std::fs::create_dir_all(data_dir).map_err(step("creating the data directory"))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(step("resolving the data directory"))?;
        let pg_dir = data_dir.join("postgres");
        let as_postgres = running_as_root();
        if as_postgres && !user_exists("postgres").await {
            return Err(EmbeddedError::NoPostgresUser);
        }
        let password_file = data_dir.join("postgres.password");
        let this = |password: String, port: u16| Self {
            bin_dir: bin_dir.clone(),
            pg_dir: pg_dir.clone(),
            as_postgres,
            url: Secret::new(format!(
                "postgres://mdz:{password}@127.0.0.1:{port}/postgres"
            )),
            port,
        };

        if !pg_dir.join("PG_VERSION").exists() {
            let password = random_password()?;
            write_private(&password_file, &password)?;
            let pg = this(password.clone(), 0);
            pg.init(&data_dir, &password).await?;
            tracing::info!(dir = %pg_dir.display(), "initialised the embedded PostgreSQL cluster");
        }
        let password = std::fs::read_to_string(&password_file)
            .map_err(step("reading the embedded PostgreSQL password"))?
            .trim()
            .to_owned();

        // A previous mdz that died without stopping its cluster leaves it running: stop it.
        if pg_dir.join("postmaster.pid").exists() {
            let probe = this(password.clone(), 0);
            if probe.pg_ctl(&["status"]).await.is_ok() {
                tracing::warn!(
                    "an embedded PostgreSQL from an earlier run is still up; restarting it"
                );
                probe.pg_ctl(&["stop", "-m", "fast", "-w"]).await?;
            }
        }

        let port = free_port().map_err(step("finding a free port"))?;
        let pg = this(password, port);
        let options =
            format!("-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=");
        let log = pg_dir.join("mdz-postgres.log");
        let log = log.to_string_lossy();
        pg.pg_ctl(&["start", "-w", "-t", "60", "-l", &log, "-o", &options])
            .await?;
        tracing::info!(
            port,
            dir = %pg.pg_dir.display(),
            "started the embedded PostgreSQL (set DATABASE_URL to use your own server)"
        );
        Ok(pg)
    }

    /// The URL of the cluster that a running `mdz serve` started in `data_dir`, when one is
    /// up (its port is the fourth line of `postmaster.pid`). The caller does not own it and
    /// must not stop it: `mdz backup` reads through it while mdz serves.
    pub async fn running(
        data_dir: &Path,
        bin_override: Option<&Path>,
    ) -> Result<Option<Secret>, EmbeddedError> {
        let Some(bin_dir) = find_binaries(bin_override) else {
            return Ok(None);
        };
        let Ok(data_dir) = data_dir.canonicalize() else {
            return Ok(None);
        };
        let pg_dir = data_dir.join("postgres");
        let Ok(pid_file) = std::fs::read_to_string(pg_dir.join("postmaster.pid")) else {
            return Ok(None);
        };
        let Some(port) = pid_file
            .lines()
            .nth(3)
            .and_then(|l| l.trim().parse::<u16>().ok())
        else {
            return Ok(None);
        };
        let probe = Self {
            bin_dir,
            pg_dir,
            as_postgres: running_as_root(),
            url: Secret::new(String::new()),
            port,
        };
        if probe.pg_ctl(&["status"]).await.is_err() {
            return Ok(None);
        }
        let password = std::fs::read_to_string(data_dir.join("postgres.password"))
            .map_err(step("reading the embedded PostgreSQL password"))?;
        Ok(Some(Secret::new(format!(
            "postgres://mdz:{}@127.0.0.1:{port}/postgres",
            password.trim()
        ))))
    }

    pub fn url(&self) -> &Secret {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Fast shutdown: disconnect clients, checkpoint, stop.
    pub async fn stop(&self) {
        match self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]).await {
            Ok(()) => tracing::info!("stopped the embedded PostgreSQL"),
            Err(e) => tracing::error!(error = %e, "could not stop the embedded PostgreSQL"),
        }
    }

    async fn init(&self, data_dir: &Path, password: &str) -> Result<(), EmbeddedError> {
        std::fs::create_dir_all(&self.pg_dir).map_err(step("creating the cluster directory"))?;
        let pwfile = data_dir.join(".initdb-pw");
        write_private(&pwfile, password)?;
        if self.as_postgres {
            chown_postgres(&self.pg_dir).await?;
            chown_postgres(&pwfile).await?;
        }
        let pg_dir = self.pg_dir.to_string_lossy().into_owned();
        let pw = format!("--pwfile={}", pwfile.to_string_lossy());
        let result = self
            .run(
                "initdb",
                &[
                    "-D",
                    &pg_dir,
                    "-U",
                    "mdz",
                    "--auth=scram-sha-256",
                    &pw,
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
            )
            .await;
        // Best effort: the password also lives in `postgres.password`.
        drop(std::fs::remove_file(&pwfile));
        result
    }

    async fn pg_ctl(&self, args: &[&str]) -> Result<(), EmbeddedError> {
        let pg_dir = self.pg_dir.to_string_lossy().into_owned();
        let mut full = vec!["-D", pg_dir.as_str()];
        full.extend_from_slice(args);
        self.run("pg_ctl", &full).await
    }

    async fn run(&self, program: &'static str, args: &[&str]) -> Result<(), EmbeddedError> {
        let binary = self.bin_dir.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&binary);
            c
        } else {
            Command::new(&binary)
        };
        cmd.args(args).stdin(std::process::Stdio::null());
        let out = cmd.output().await.map_err(step(program))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(EmbeddedError::Step {
                step: program,
                detail: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stderr).trim(),
                    String::from_utf8_lossy(&out.stdout).trim()
                ),
            })
        }
    }
}

/// `bin_override`, else `initdb` on PATH, else the newest `/usr/lib/postgresql/*/bin`.
fn find_binaries(bin_override: Option<&Path>) -> Option<PathBuf> {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = bin_override {
        return usable(dir).then(|| dir.to_owned());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if usable(&dir) {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            usable(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

async fn user_exists(name: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(name)
        .output()
        .await
        .is_ok_and(|o| o.status.success())
}

async fn chown_postgres(path: &Path) -> Result<(), EmbeddedError> {
    let out = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .output()
        .await
        .map_err(step("chown"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(EmbeddedError::Step {
            step: "chown",
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

fn free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|a| a.port())
}

fn random_password() -> Result<String, EmbeddedError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| EmbeddedError::Step {
        step: "generating a password",
        detail: e.to_string(),
    })?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn write_private(path: &Path, content: &str) -> Result<(), EmbeddedError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(step("writing a private file"))?;
    f.write_all(content.as_bytes())
        .map_err(step("writing a private file"))
}
