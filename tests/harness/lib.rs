//! The TestApp harness: the real mdz app on port 0, against its own database (cloned from a
//! migrated template) in the PostgreSQL cluster that `scripts/test.sh` started, and optionally
//! the real Redis it started, or a private `redis-server` a test may kill.

#![expect(
    clippy::expect_used,
    reason = "a harness that cannot set up must fail the test loudly"
)]

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use mdz_server::{Application, Config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;

pub use reqwest;

mod events;
mod fake_llm;
mod js;
mod mail;
mod oidc;
mod outbox;
mod pg;
mod process;
mod restore_target;
mod team;
mod webhooks;
pub use events::{EVENT_WAIT, EventStream, Next, Sse, open_events};
pub use fake_llm::{FakeLlm, SLOW_PIECES};
pub use js::JsClient;
pub use mail::{Mail, MailSink};
pub use oidc::{Browser, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OidcProvider, location};
pub use pg::PgServer;
pub use process::{MdzProcess, mdz, mdz_spawn, mdz_to_file};
pub use restore_target::RestoreTarget;
pub use team::{ROLES, Suggestions, Team};
pub use webhooks::{Received, WebhookReceiver, verify_with_standardwebhooks};

/// Which Redis the app under test uses.
#[derive(Debug, Clone, Default)]
pub enum Redis {
    /// None: the in-process implementation.
    #[default]
    None,
    /// The suite's shared `redis-server` (`REDIS_URL`), with a key prefix of this test's own.
    Shared,
    /// A specific URL (e.g. a private server from [`RedisServer`]).
    Url(String),
}

/// What a second replica shares with the first: database, data directory (signing key), Redis prefix.
#[derive(Debug, Clone)]
pub struct Replica {
    db_url: String,
    data_dir: PathBuf,
    redis_prefix: String,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub redis: Redis,
    /// Keep attachments in the suite's S3 server (a bucket of this test's own) instead of the
    /// local store.
    pub s3: bool,
    /// Run as another replica of this app instead of on a database of its own.
    pub replica_of: Option<Replica>,
    /// Extra configuration keys, as in `mdz.toml`.
    pub config: Vec<(&'static str, Value)>,
    /// Serve this (migrated) database instead of a clone of the template, e.g. a private
    /// [`PgServer`]'s.
    pub database_url: Option<String>,
    /// Use this data directory (kept when the app stops) instead of a fresh one.
    pub data_dir: Option<PathBuf>,
    /// With `s3`: this bucket instead of a fresh one.
    pub s3_bucket: Option<String>,
}

/// A running app for one test. Dropping it stops the server and drops its database.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// The separate `/metrics` listener's port, when `metrics_listen` is configured.
    pub metrics_port: Option<u16>,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    handle: actix_web::dev::ServerHandle,
    admin_url: String,
    db_name: String,
    db_url: String,
    redis_prefix: String,
    owns_db: bool,
    owns_dir: bool,
    /// The configuration as `mdz` command-line environment (database, data dir, S3).
    cli_env: Vec<(String, String)>,
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL is not set: run the suite with `scripts/test.sh`, which starts PostgreSQL \
         and Redis, or point DATABASE_URL at a PostgreSQL server you may create databases on",
    )
}

/// A fresh bucket name for the suite's S3 server.
pub fn new_bucket() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..20])
}

/// The configuration keys of the suite's S3 server, with `bucket`.
fn s3_settings(bucket: &str) -> Vec<(&'static str, String)> {
    let env = |k: &str| {
        std::env::var(k)
            .unwrap_or_else(|_| panic!("{k} is not set: run the suite with `scripts/test.sh`"))
    };
    vec![
        ("s3_endpoint", env("TEST_S3_ENDPOINT")),
        ("s3_bucket", bucket.to_owned()),
        ("s3_access_key_id", env("TEST_S3_ACCESS_KEY")),
        ("s3_secret_access_key", env("TEST_S3_SECRET_KEY")),
    ]
}

/// Replace the database name in a postgres URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// The template's name changes whenever a migration does.
fn template_name() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read migrations/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for entry in entries {
        hasher.update(entry.to_string_lossy().as_bytes());
        if let Ok(sql) = std::fs::read(entry.join("up.sql")) {
            hasher.update(&sql);
        }
    }
    format!("mdz_tpl_{}", &hex::encode(hasher.finalize())[..12])
}

async fn exec(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Create a fresh, migrated database for one test.
async fn create_database() -> (String, String) {
    let admin = admin_url();
    let template = template_name();
    let db_name = format!("mdz_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = AsyncPgConnection::establish(&admin)
        .await
        .expect("connect to the test PostgreSQL");
    // One process at a time builds the template; the others wait, then clone it.
    exec(&mut conn, "SELECT pg_advisory_lock(727274)").await;
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let found: Exists = diesel::sql_query(format!(
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{template}') AS exists"
    ))
    .get_result(&mut conn)
    .await
    .expect("look up the template");
    if !found.exists {
        let building = format!("{template}_building");
        exec(&mut conn, &format!("DROP DATABASE IF EXISTS {building}")).await;
        exec(&mut conn, &format!("CREATE DATABASE {building}")).await;
        mdz_core::db::run_migrations(&with_database(&admin, &building))
            .await
            .expect("migrate the template");
        exec(
            &mut conn,
            &format!("ALTER DATABASE {building} RENAME TO {template}"),
        )
        .await;
    }
    exec(
        &mut conn,
        &format!("CREATE DATABASE {db_name} TEMPLATE {template}"),
    )
    .await;
    exec(&mut conn, "SELECT pg_advisory_unlock(727274)").await;
    (with_database(&admin, &db_name), db_name)
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        init_logs();
        let owns_dir = options.replica_of.is_none() && options.data_dir.is_none();
        let owns_db = owns_dir && options.database_url.is_none();
        let (db_url, db_name, data_dir, redis_prefix) = match options.replica_of {
            Some(r) => (r.db_url, String::new(), r.data_dir, r.redis_prefix),
            None => {
                let (url, name) = match options.database_url {
                    Some(url) => (url, String::new()),
                    None => create_database().await,
                };
                let dir = options.data_dir.clone().unwrap_or_else(|| {
                    std::env::temp_dir().join(format!("mdz-test-{}", uuid::Uuid::new_v4()))
                });
                (
                    url,
                    name,
                    dir,
                    format!("t{}:", uuid::Uuid::new_v4().simple()),
                )
            }
        };
        let redis_url = match options.redis {
            Redis::None => None,
            Redis::Shared => Some(
                std::env::var("REDIS_URL")
                    .expect("REDIS_URL is not set: run the suite with `scripts/test.sh`"),
            ),
            Redis::Url(url) => Some(url),
        };
        let mut config: Vec<(&str, Value)> = vec![
            ("listen", json!("127.0.0.1:0")),
            ("data_dir", json!(data_dir)),
            ("database_url", json!(db_url.clone())),
            ("database_pool_size", json!(4)),
            ("database_timeout_secs", json!(3)),
            ("workers", json!(2)),
            ("redis_prefix", json!(redis_prefix.clone())),
            ("log_level", json!("warn")),
            // Tests register many users from one address; the limit has its own test.
            ("register_max_per_ip", json!(1_000_000)),
        ];
        if let Some(url) = redis_url {
            config.push(("redis_url", json!(url)));
        }
        let mut cli_env = vec![
            ("DATABASE_URL".to_owned(), db_url.clone()),
            (
                "MDZ_DATA_DIR".to_owned(),
                data_dir.to_string_lossy().into_owned(),
            ),
        ];
        if options.s3 {
            let bucket = options.s3_bucket.clone().unwrap_or_else(new_bucket);
            for (key, value) in s3_settings(&bucket) {
                cli_env.push((format!("MDZ_{}", key.to_uppercase()), value.clone()));
                config.push((key, json!(value)));
            }
        }
        config.extend(options.config);
        let config = Config::with_overrides(&config).expect("test configuration");
        let app = Application::build(config).await.expect("build the app");
        let port = app.port();
        let metrics_port = app.metrics_port();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Self {
            address: format!("http://127.0.0.1:{port}"),
            port,
            metrics_port,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            data_dir,
            handle,
            admin_url: admin_url(),
            db_name,
            db_url,
            redis_prefix,
            owns_db,
            owns_dir,
            cli_env,
        }
    }

    /// This app's configuration as environment for the `mdz` binary ([`mdz`]).
    pub fn cli_env(&self) -> Vec<(String, String)> {
        self.cli_env.clone()
    }

    /// Revert the newest `n` migrations of this test's database (all of them for `usize::MAX`),
    /// running their `down.sql`.
    pub async fn revert_migrations(&self, n: usize) {
        use diesel_migrations::MigrationHarness;
        let conn = AsyncPgConnection::establish(&self.db_url)
            .await
            .expect("connect to the test database");
        let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
        tokio::task::block_in_place(|| {
            if n == usize::MAX {
                // The app's background tasks (indexer, change-feed sequencer, mail sender)
                // keep querying while the tables go: PostgreSQL may break a deadlock between
                // a DROP and one of them by failing the DROP. Each migration reverts in its
                // own transaction, so trying again goes on from where it stopped.
                let mut tries = 0;
                while let Err(e) = harness.revert_all_migrations(mdz_core::db::MIGRATIONS) {
                    tries += 1;
                    assert!(tries < 5, "revert every migration: {e}");
                    eprintln!("reverting the migrations failed ({e}); trying again");
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            } else {
                for _ in 0..n {
                    harness
                        .revert_last_migration(mdz_core::db::MIGRATIONS)
                        .expect("revert a migration");
                }
            }
        });
    }

    /// Revert migrations, newest first, down to and including the one whose directory starts
    /// with `version` (`2026-11-22-001100`).
    pub async fn revert_migrations_through(&self, version: &str) {
        use diesel_migrations::MigrationHarness;
        let conn = AsyncPgConnection::establish(&self.db_url)
            .await
            .expect("connect to the test database");
        let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
        let wanted = version.replace('-', "");
        tokio::task::block_in_place(|| {
            loop {
                let reverted = harness
                    .revert_last_migration(mdz_core::db::MIGRATIONS)
                    .expect("revert a migration");
                if reverted.to_string().replace('-', "") == wanted {
                    return;
                }
            }
        });
    }

    /// Apply the pending migrations of this test's database again.
    pub async fn migrate(&self) {
        mdz_core::db::run_migrations(&self.db_url)
            .await
            .expect("re-apply the migrations");
    }

    /// A connection of its own to this app's database (to hold locks, inject faults).
    pub async fn db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.db_url)
            .await
            .expect("connect to the test database")
    }

    /// Run SQL directly on this app's database (to age rows, inspect state); rows affected.
    pub async fn sql(&self, query: &str) -> usize {
        let mut conn = AsyncPgConnection::establish(&self.db_url)
            .await
            .expect("connect to the test database");
        diesel::sql_query(query)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, token, None).await
    }

    /// What another replica of this app needs to share its state.
    pub fn replica(&self) -> Replica {
        Replica {
            db_url: self.db_url.clone(),
            data_dir: self.data_dir.clone(),
            redis_prefix: self.redis_prefix.clone(),
        }
    }

    /// Where the stock y-websocket provider connects (`serverUrl`).
    pub fn ws_base(&self) -> String {
        format!("ws://127.0.0.1:{}/api/v1/collab", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request with an optional bearer token.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let rb = self.client.request(method, self.url(path));
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Send a JSON body (or none) and return status and parsed body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self.request(method, path, token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let res = rb.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Register a user and verify its address through the real flow (the token of the
    /// verification mail, read from the outbox); returns the whole auth response.
    pub async fn register(&self, email: &str, password: &str, name: &str) -> Value {
        let body = self.register_unverified(email, password, name).await;
        self.verify_email(email).await;
        body
    }

    /// Register a user and leave its address unverified; returns the whole auth response.
    pub async fn register_unverified(&self, email: &str, password: &str, name: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": email, "password": password, "display_name": name}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {email}: {body}");
        body
    }

    /// A project owned by `owner` with `others` as members of the given roles; its id.
    pub async fn project_with(&self, owner: &TestUser, others: &[(&TestUser, &str)]) -> String {
        let (status, p) = self
            .post(
                "/api/v1/projects",
                Some(&owner.access),
                json!({"name": "Docs"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        let id = p["id"].as_str().expect("project id").to_owned();
        for (user, role) in others {
            let (status, body) = self
                .post(
                    &format!("/api/v1/projects/{id}/members"),
                    Some(&owner.access),
                    json!({"email": user.email, "role": role}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        id
    }

    /// Create a document; returns its JSON.
    pub async fn create_file(
        &self,
        user: &TestUser,
        project: &str,
        path: &str,
        content: &str,
    ) -> Value {
        let (status, body) = self
            .post(
                &format!("/api/v1/projects/{project}/files"),
                Some(&user.access),
                json!({"path": path, "content": content}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Register a fresh user with a unique email; returns (email, access token, body).
    pub async fn new_user(&self) -> TestUser {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let body = self.register(&email, PASSWORD, "Test User").await;
        TestUser::from_auth(email, &body)
    }
}

pub const PASSWORD: &str = "violet-harbour-42";

/// A signed-in user of a test.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub email: String,
    pub id: String,
    pub access: String,
    pub refresh: String,
}

impl TestUser {
    pub fn from_auth(email: String, body: &Value) -> Self {
        Self {
            email,
            id: body["user"]["id"].as_str().expect("user.id").to_owned(),
            access: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: body["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let admin = self.admin_url.clone();
        let db = self.db_name.clone();
        let data_dir = self.data_dir.clone();
        let owns_db = self.owns_db;
        let owns_dir = self.owns_dir;
        // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                drop(tokio::time::timeout(Duration::from_secs(5), handle.stop(false)).await);
                if !owns_db {
                    return;
                }
                if let Ok(mut conn) = AsyncPgConnection::establish(&admin).await {
                    drop(
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                            .execute(&mut conn)
                            .await,
                    );
                }
            });
            if owns_dir {
                drop(std::fs::remove_dir_all(data_dir));
            }
        });
        drop(cleanup.join());
    }
}

fn init_logs() {
    let level = std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into());
    mdz_core::telemetry::init(mdz_core::config::LogFormat::Pretty, &level);
}

/// A private `redis-server` on a free port, for tests that stop it.
pub struct RedisServer {
    pub port: u16,
    child: tokio::process::Child,
}

impl RedisServer {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        Self::start_on(port).await
    }

    /// Start on `port` (again, after [`RedisServer::stop`]): an empty Redis, as after a
    /// restart without persistence.
    pub async fn start_on(port: u16) -> Self {
        let binary = std::env::var("TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = tokio::process::Command::new(binary)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start redis-server (installed by scripts/test.sh)");
        let server = Self { port, child };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {port}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn stop(&mut self) {
        drop(self.child.kill().await);
        drop(self.child.wait().await);
    }
}
