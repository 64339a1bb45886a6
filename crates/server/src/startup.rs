//! Building and running the server: dependencies first (database, shared store, keys), then
//! the HTTP server with every domain composed in, then an orderly shutdown.

use crate::embedded_pg::EmbeddedPostgres;
use crate::middleware;
use crate::openapi;
use crate::ops::{MetricsHere, PoolGauges};
use crate::routes;
use actix_cors::Cors;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpResponse, web};
use anyhow::Context;
use mdz_auth::AuthModule;
use mdz_chat::ChatModule;
use mdz_collab::CollabModule;
use mdz_core::client::ClientIpPolicy;
use mdz_core::config::Config;
use mdz_core::db::{self, DbPool};
use mdz_core::kv::{MemoryKv, RedisKv, SharedKv};
use mdz_core::metrics::{HttpMetrics, new_registry};
use mdz_core::revocation::Revocations;
use mdz_files::FilesModule;
use mdz_mail::MailModule;
use mdz_projects::ProjectsModule;
use mdz_sessions::SessionsModule;
use mdz_webhooks::WebhooksModule;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

/// Where the database comes from: the configured URL, or a cluster this process owns.
pub struct Database {
    pub url: String,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Use `DATABASE_URL`, or start the embedded cluster.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        match &config.database_url {
            Some(url) => Ok(Self {
                url: url.expose().to_owned(),
                embedded: None,
            }),
            None => {
                tracing::info!(
                    data_dir = %config.data_dir.display(),
                    "no DATABASE_URL: starting the embedded PostgreSQL"
                );
                let pg =
                    EmbeddedPostgres::start(&config.data_dir, config.pg_bin_dir.as_deref()).await?;
                Ok(Self {
                    url: pg.url().expose().to_owned(),
                    embedded: Some(pg),
                })
            }
        }
    }

    pub async fn close(&self) {
        if let Some(pg) = &self.embedded {
            pg.stop().await;
        }
    }
}

/// A built server bound to its port, not yet running.
pub struct Application {
    port: u16,
    server: Server,
    /// The separate `/metrics` listener (`METRICS_LISTEN`): its port and server.
    metrics: Option<(u16, Server)>,
    pool: DbPool,
    database: Database,
}

/// What `build_on` makes.
struct Built {
    port: u16,
    server: Server,
    metrics: Option<(u16, Server)>,
    pool: DbPool,
}

impl Application {
    /// Open the database (migrating it), the shared store and the domains, and bind the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let database = Database::open(&config).await?;
        match Self::build_on(config, &database.url).await {
            Ok(built) => Ok(Self {
                port: built.port,
                server: built.server,
                metrics: built.metrics,
                pool: built.pool,
                database,
            }),
            Err(e) => {
                database.close().await;
                Err(e)
            }
        }
    }

    async fn build_on(config: Config, db_url: &str) -> anyhow::Result<Built> {
        let ran = db::run_migrations(db_url)
            .await
            .map_err(anyhow::Error::msg)?;
        if ran > 0 {
            tracing::info!(migrations = ran, "database migrated");
        }
        let pool = db::build_pool(
            db_url,
            config.database_pool_size,
            Duration::from_secs(config.database_timeout_secs),
        )
        .map_err(anyhow::Error::msg)?;
        // The collab journal's own connections, made and driven on its writer's thread.
        let journal_pool = db::build_pool(
            db_url,
            mdz_collab::JOURNAL_CONNECTIONS,
            Duration::from_secs(config.database_timeout_secs),
        )
        .map_err(anyhow::Error::msg)?;

        let kv: SharedKv = match &config.redis_url {
            Some(url) => {
                tracing::info!("shared state in Redis: this node can run beside others");
                Arc::new(RedisKv::new(
                    url.expose(),
                    &config.redis_prefix,
                    Duration::from_secs(2),
                )?)
            }
            None => {
                tracing::info!(
                    "no REDIS_URL: rate limits and revocations live in this process (single node)"
                );
                Arc::new(MemoryKv::new())
            }
        };

        let registry = new_registry();
        let http_metrics = HttpMetrics::register(&registry)?;
        let pool_gauges = PoolGauges::register(&registry)?;
        let revocations = Revocations::start(kv.clone());
        let listener = TcpListener::bind(&config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let bound = listener.local_addr()?;
        let port = bound.port();
        let mail = MailModule::new(
            &config,
            pool.clone(),
            &config.public_base_url(bound),
            &registry,
        )
        .context("setting up mail")?;
        mail.spawn_sender();
        let auth = AuthModule::new(
            &config,
            pool.clone(),
            kv.clone(),
            revocations.clone(),
            mail.outbox(),
            &config.public_base_url(bound),
        )
        .await
        .context("setting up auth")?;
        let verifier = web::Data::from(auth.token_verifier());

        let projects = ProjectsModule::new(
            &config,
            pool.clone(),
            kv.clone(),
            auth.user_directory(),
            config.public_base_url(bound),
            mail.outbox(),
        );
        let access = web::Data::from(projects.access());
        projects.spawn_purger(Duration::from_secs(config.purge_interval_secs));
        let files = FilesModule::new(
            &config,
            pool.clone(),
            projects.access(),
            projects.creator(),
            &config.public_base_url(bound),
            kv.clone(),
            auth.password_hasher(),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        files.spawn_purger(Duration::from_secs(config.purge_interval_secs));
        files.spawn_indexer(Duration::from_millis(200));
        files.spawn_sequencer(mdz_files::changes::NUMBER_EVERY);
        let collab = CollabModule::new(
            &config,
            (pool.clone(), journal_pool),
            kv.clone(),
            projects.access(),
            files.documents(),
            auth.user_directory(),
            &registry,
        )
        .map_err(anyhow::Error::msg)?;
        files.connect_live(collab.live_documents());
        collab.spawn_mention_mails(&config, mail.outbox());
        let webhooks = WebhooksModule::new(
            &config,
            pool.clone(),
            projects.access(),
            files.project_feed(),
            auth.user_directory(),
            mail.outbox(),
            &registry,
        )
        .context("setting up webhooks")?;
        webhooks.spawn();
        let provider_names = config.llm_providers().into_iter().map(|(n, _)| n).collect();
        let sessions = SessionsModule::new(
            pool.clone(),
            kv.clone(),
            projects.access(),
            files.documents(),
            provider_names,
        );
        let chat = ChatModule::new(
            &config,
            pool.clone(),
            projects.access(),
            sessions.chat_sessions(),
            files.documents(),
            collab.live_edits(),
            &registry,
        )
        .map_err(anyhow::Error::msg)?;
        chat.spawn_sweeper(mdz_chat::SWEEP_EVERY);
        let workspace: web::Data<dyn mdz_core::workspace::Workspace> =
            web::Data::from(Arc::new(crate::workspace::DomainWorkspace {
                projects: projects.service(),
                files: files.service(),
                suggestions: collab.suggestions(),
            }) as Arc<dyn mdz_core::workspace::Workspace>);
        let doc = web::Data::new(openapi::DocumentJson::new(&openapi::document())?);
        let json_limit = config.max_json_bytes;
        let shell_policy = web::Data::new(crate::web_app::ShellPolicy::from_config(&config));
        let cors_origins = config.cors_origin_list();
        let ip_policy = ClientIpPolicy {
            trust_proxy: config.trust_proxy,
            trusted_proxies: config.trusted_proxy_list().into(),
        };
        let shared = (
            web::Data::new(pool.clone()),
            web::Data::new(kv),
            web::Data::new(registry),
            web::Data::new(http_metrics),
            web::Data::new(pool_gauges),
        );
        let metrics_here = web::Data::new(MetricsHere(config.metrics_listen.is_none()));
        let metrics = match &config.metrics_listen {
            Some(addr) => Some(metrics_server(addr, &shared)?),
            None => None,
        };

        let server = actix_web::HttpServer::new(move || {
            let (pool, kv, registry, http_metrics, pool_gauges) = shared.clone();
            App::new()
                .into_utoipa_app()
                .app_data(mdz_core::json::json_config(json_limit))
                .app_data(mdz_core::json::form_config(json_limit))
                .app_data(mdz_core::json::path_config())
                .app_data(mdz_core::json::query_config())
                .app_data(web::PayloadConfig::new(json_limit))
                .app_data(ip_policy.clone())
                .app_data(pool)
                .app_data(kv)
                .app_data(registry)
                .app_data(http_metrics)
                .app_data(pool_gauges)
                .app_data(metrics_here.clone())
                .app_data(doc.clone())
                .app_data(shell_policy.clone())
                .app_data(verifier.clone())
                .app_data(web::Data::from(revocations.clone()))
                .app_data(access.clone())
                .app_data(workspace.clone())
                .configure(|cfg| auth.app_data(cfg))
                .configure(|cfg| projects.app_data(cfg))
                .configure(|cfg| files.app_data(cfg))
                .configure(|cfg| collab.app_data(cfg))
                .configure(|cfg| sessions.app_data(cfg))
                .configure(|cfg| chat.app_data(cfg))
                .configure(|cfg| webhooks.app_data(cfg))
                .configure(routes::mount)
                .into_app()
                .configure(mdz_mcp::routes)
                // After the API: a pattern registered first is tried on every request.
                .service(
                    SwaggerUi::new("/docs/{_:.*}")
                        .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json")),
                )
                .route(
                    "/docs",
                    web::get().to(|| async {
                        HttpResponse::PermanentRedirect()
                            .insert_header(("location", "/docs/"))
                            .finish()
                    }),
                )
                .default_service(web::to(crate::web_app::serve))
                .wrap(actix_web::middleware::Condition::new(
                    !cors_origins.is_empty(),
                    cors(&cors_origins),
                ))
                .wrap(actix_web::middleware::from_fn(middleware::observe))
        })
        .workers(config.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        }))
        // Small collab frames must leave at once, not wait for Nagle.
        .on_connect(|conn, _| {
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>()
                && let Err(e) = tcp.set_nodelay(true)
            {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
        })
        .shutdown_timeout(config.shutdown_timeout_secs)
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Built {
            port,
            server,
            metrics,
            pool,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate `/metrics` listener, when `METRICS_LISTEN` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serve until stopped through the handle, then close the metrics listener, the pool and
    /// the embedded database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let result = self.server.await;
        if let Some((handle, task)) = metrics {
            handle.stop(true).await;
            match task.await {
                Ok(Err(e)) => tracing::warn!(error = %e, "metrics listener failed"),
                Err(e) => tracing::warn!(error = %e, "metrics listener task failed"),
                Ok(Ok(())) => {}
            }
        }
        self.pool.close();
        self.database.close().await;
        result.context("HTTP server failed")
    }
}

type Shared = (
    web::Data<DbPool>,
    web::Data<SharedKv>,
    web::Data<prometheus::Registry>,
    web::Data<HttpMetrics>,
    web::Data<PoolGauges>,
);

/// The listener of `METRICS_LISTEN`: `/metrics` and a problem+json 404 for anything else.
fn metrics_server(addr: &str, shared: &Shared) -> anyhow::Result<(u16, Server)> {
    let listener =
        TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr} (metrics)"))?;
    let port = listener.local_addr()?.port();
    let (pool, kv, registry, _, gauges) = shared.clone();
    let server = actix_web::HttpServer::new(move || {
        App::new()
            .app_data(pool.clone())
            .app_data(kv.clone())
            .app_data(registry.clone())
            .app_data(gauges.clone())
            .configure(crate::ops::configure_metrics_only)
            .default_service(web::to(middleware::not_found))
    })
    .workers(1)
    .shutdown_timeout(1)
    .disable_signals()
    .listen(listener)?
    .run();
    tracing::info!(%addr, "serving /metrics on its own listener");
    Ok((port, server))
}

fn cors(origins: &[String]) -> Cors {
    if origins.is_empty() {
        return Cors::default();
    }
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            "authorization",
            "content-type",
            "if-match",
            "x-request-id",
            "accept",
        ])
        .expose_headers(["x-request-id", "etag", "retry-after", "location"])
        .max_age(3600);
    if origins.iter().any(|o| o == "*") {
        cors = cors.allow_any_origin();
    } else {
        for origin in origins {
            cors = cors.allowed_origin(origin);
        }
    }
    cors
}

/// Stop gracefully on SIGTERM or SIGINT: stop accepting, let in-flight requests finish.
pub async fn stop_on_signal(handle: ServerHandle) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
    handle.stop(true).await;
}
