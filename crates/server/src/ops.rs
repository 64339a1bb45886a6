//! Operations endpoints: liveness, readiness (PostgreSQL and the shared store), Prometheus metrics.

use actix_web::{HttpResponse, get, web};
use mdz_core::db::{self, DbPool};
use mdz_core::kv::SharedKv;
use prometheus::{IntGauge, Registry};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(live).service(ready).service(metrics);
}

/// The app of the separate metrics listener: `/metrics` and nothing else.
pub fn configure_metrics_only(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(metrics);
}

/// What readiness found for one dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Which implementation: `postgres`, `redis`, `memory`.
    pub backend: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    pub postgres: Check,
    pub redis: Check,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    pub status: &'static str,
    pub version: &'static str,
}

/// The process is up.
#[utoipa::path(tag = "ops", responses((status = 200, body = Liveness)))]
#[get("/health/live")]
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Liveness {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// PostgreSQL and Redis (when configured) answer; 503 names the one that does not.
#[utoipa::path(
    tag = "ops",
    responses(
        (status = 200, body = Readiness),
        (status = 503, description = "A dependency is down", body = Readiness),
    )
)]
#[get("/health/ready")]
async fn ready(pool: web::Data<DbPool>, kv: web::Data<SharedKv>) -> HttpResponse {
    let limit = Duration::from_secs(2);
    let (pg, store) = tokio::join!(
        tokio::time::timeout(limit, db::ping(&pool)),
        tokio::time::timeout(limit, kv.ping()),
    );
    let pg_ok = matches!(pg, Ok(Ok(())));
    let kv_ok = matches!(store, Ok(Ok(())));
    if !pg_ok {
        tracing::warn!("readiness: PostgreSQL unavailable");
    }
    if !kv_ok {
        tracing::warn!(
            backend = kv.backend(),
            "readiness: shared store unavailable"
        );
    }
    let check = |ok: bool, backend| Check {
        status: if ok { "ok" } else { "unavailable" },
        backend,
    };
    let body = Readiness {
        status: if pg_ok && kv_ok {
            "ready"
        } else {
            "unavailable"
        },
        postgres: check(pg_ok, "postgres"),
        redis: check(kv_ok, kv.backend()),
    };
    if pg_ok && kv_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Gauges of the PostgreSQL pool and the Redis bus, refreshed at each scrape.
#[derive(Clone)]
pub struct PoolGauges {
    size: IntGauge,
    available: IntGauge,
    waiting: IntGauge,
    max: IntGauge,
    bus: IntGauge,
}

impl PoolGauges {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let g = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let gauge = IntGauge::new(name, help)?;
            registry.register(Box::new(gauge.clone()))?;
            Ok(gauge)
        };
        Ok(Self {
            size: g("mdz_db_pool_connections", "Open PostgreSQL connections")?,
            available: g("mdz_db_pool_idle", "Idle PostgreSQL connections")?,
            waiting: g(
                "mdz_db_pool_waiting",
                "Requests waiting for a PostgreSQL connection",
            )?,
            max: g("mdz_db_pool_max", "Maximum PostgreSQL connections")?,
            bus: g(
                "mdz_redis_bus_connected",
                "1 while the pub/sub bus between replicas is subscribed (always 1 without Redis)",
            )?,
        })
    }

    fn update(&self, pool: &DbPool, kv: &SharedKv) {
        let s = pool.status();
        let to_i64 = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.size.set(to_i64(s.size));
        self.available.set(to_i64(s.available));
        self.waiting.set(to_i64(s.waiting));
        self.max.set(to_i64(s.max_size));
        self.bus.set(i64::from(kv.bus_connected()));
    }
}

/// Where `/metrics` is served: registered as app data of each listener's app.
#[derive(Debug, Clone, Copy)]
pub struct MetricsHere(pub bool);

/// Prometheus text exposition (404 on the main listener when `METRICS_LISTEN` is set).
#[utoipa::path(
    tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4", body = String))
)]
#[get("/metrics")]
async fn metrics(
    registry: web::Data<Registry>,
    gauges: web::Data<PoolGauges>,
    pool: web::Data<DbPool>,
    kv: web::Data<SharedKv>,
    here: Option<web::Data<MetricsHere>>,
) -> HttpResponse {
    if here.is_some_and(|h| !h.0) {
        return crate::middleware::not_found().await;
    }
    gauges.update(&pool, &kv);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(mdz_core::metrics::render(&registry))
}
