//! PostgreSQL: the connection pool, embedded migrations, and the error a lost database becomes.

use crate::problem::ApiError;
use deadpool::Runtime;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::time::Duration;

/// Every migration of every domain, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = Object<AsyncPgConnection>;

/// Why a database call failed: the database is out of reach (503) or a query failed (500).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(#[from] PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
}

/// Did the query fail because the connection went away (the server restarted, failed over
/// or ended the session: SQLSTATE 57P01–57P03), not because of the query? diesel-async
/// reports every error that carries no SQLSTATE (the socket reset or closed, the connection
/// task gone) as `UnableToSendCommand` with the driver's text, which varies with the moment
/// the server went away, so the kind alone decides.
pub fn connection_lost(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        Error::DatabaseError(_, info) => {
            let message = info.message();
            message.starts_with("terminating connection")
                || message.contains("the database system is shutting down")
                || message.contains("the database system is starting up")
                || message.contains("connection closed")
        }
        Error::BrokenTransactionManager => true,
        _ => false,
    }
}

/// Did PostgreSQL give up on a query that would succeed if tried again: a serialization
/// failure (40001), a deadlock it broke (40P01, "deadlock detected"), a statement cancelled by
/// a timeout or an administrator (57014), or a write sent to a server that became a read-only
/// standby in a failover (25006)? Like a lost connection, the client should retry: 503.
pub fn transient(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        Error::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, _) => true,
        Error::DatabaseError(_, info) => {
            let message = info.message();
            message.starts_with("deadlock detected")
                || message.starts_with("canceling statement due to")
                || message.starts_with("could not serialize access")
                || message.starts_with("cannot execute")
                    && message.ends_with("in a read-only transaction")
        }
        _ => false,
    }
}

/// Did PostgreSQL refuse text it cannot store: U+0000 in a text value (SQLSTATE 22021,
/// "invalid byte sequence for encoding \"UTF8\": 0x00"), `\u0000` in JSON (22P05,
/// "unsupported Unicode escape sequence") or a character without an equivalent in the
/// database encoding (22P05)? diesel-async keeps only the message of such errors, not the
/// SQLSTATE, so their English text is matched (the embedded cluster runs in the C locale; on
/// a server with translated `lc_messages` this net misses and the boundary checks of
/// `crate::text` are all there is).
pub fn unstorable_text(e: &diesel::result::Error) -> bool {
    match e {
        diesel::result::Error::DatabaseError(_, info) => {
            let message = info.message();
            message.starts_with("invalid byte sequence for encoding")
                || message.starts_with("unsupported Unicode escape sequence")
                || message.contains("has no equivalent in encoding")
        }
        _ => false,
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::unavailable("the database is not reachable; try again shortly")
            }
            DbError::Query(cause) if connection_lost(&cause) => {
                tracing::warn!(error = %cause, "database connection lost");
                ApiError::unavailable("the database connection was lost; try again shortly")
            }
            DbError::Query(cause) if transient(&cause) => {
                tracing::warn!(error = %cause, "database query gave up; the client may retry");
                ApiError::unavailable("the database was busy with a conflicting change; try again")
            }
            DbError::Query(cause) if unstorable_text(&cause) => {
                // A field reached the database unchecked: the input is at fault, not the
                // server, but the check belongs at the boundary (crate::text), so say so.
                tracing::warn!(error = %cause, "text PostgreSQL cannot store reached a query");
                ApiError::new(
                    actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    "Validation failed",
                )
                .detail("the request holds text that cannot be stored: NUL characters (U+0000) are not allowed")
            }
            DbError::Query(cause) => ApiError::internal(&cause),
        }
    }
}

/// Build the pool. Connections are made lazily; a dead database shows as 503, not a crash.
pub fn build_pool(url: &str, max_size: usize, timeout: Duration) -> Result<DbPool, String> {
    let mut manager_config = ManagerConfig::default();
    manager_config.recycling_method = RecyclingMethod::Fast;
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, manager_config);
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| e.to_string())
}

/// Take a connection from the pool.
pub async fn conn(pool: &DbPool) -> Result<DbConn, DbError> {
    Ok(pool.get().await?)
}

/// Run every pending migration; returns how many ran. Needs the multi-thread runtime.
pub async fn run_migrations(url: &str) -> Result<usize, String> {
    let conn = AsyncPgConnection::establish(url)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let ran = tokio::task::block_in_place(|| {
        harness
            .run_pending_migrations(MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| format!("migration failed: {e}"))
    })?;
    Ok(ran)
}

/// `SELECT 1` through the pool, for readiness.
pub async fn ping(pool: &DbPool) -> Result<(), DbError> {
    let mut conn = conn(pool).await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}

/// Is this a unique-constraint violation (the caller turns it into a 409)?
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// A statement of fixed SQL run as a cached prepared statement: one round trip instead of two.
///
/// Diesel never caches `UPDATE`s nor `sql_query`s (their SQL may vary without bound), so each
/// run prepares them first, in a round trip of its own. A statement whose SQL is one of a few
/// fixed strings (the same for every call from one place in the code) is safe to cache;
/// wrapping it says so. Not for SQL that varies with the input (an `IN` list, a changeset that
/// skips `None` fields).
#[derive(Debug, Clone, Copy)]
pub struct Cached<Q>(pub Q);

impl<Q> diesel::query_builder::QueryFragment<diesel::pg::Pg> for Cached<Q>
where
    Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &diesel::pg::Pg) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> diesel::query_builder::QueryId for Cached<Q> {
    // Cached by its SQL text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    fn error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_reset_socket_is_a_lost_connection_whatever_its_text() {
        // What diesel-async makes of a tokio-postgres I/O error (seen under load while the
        // server restarted: a REST write answered 500 instead of 503).
        for text in [
            "error communicating with the server: Connection reset by peer (os error 104)",
            "error communicating with the server: Broken pipe (os error 32)",
            "connection closed",
        ] {
            assert!(
                connection_lost(&error(DatabaseErrorKind::UnableToSendCommand, text)),
                "{text}"
            );
        }
        assert!(!connection_lost(&error(
            DatabaseErrorKind::Unknown,
            "relation \"nope\" does not exist"
        )));
    }

    #[test]
    fn deadlocks_timeouts_and_failovers_are_transient_and_answer_503() {
        for (kind, text) in [
            (DatabaseErrorKind::Unknown, "deadlock detected"),
            (
                DatabaseErrorKind::SerializationFailure,
                "could not serialize access due to concurrent update",
            ),
            (
                DatabaseErrorKind::Unknown,
                "canceling statement due to statement timeout",
            ),
            (
                DatabaseErrorKind::ReadOnlyTransaction,
                "cannot execute UPDATE in a read-only transaction",
            ),
            (
                DatabaseErrorKind::Unknown,
                "cannot execute INSERT in a read-only transaction",
            ),
        ] {
            let e = error(kind, text);
            assert!(transient(&e), "{text}");
            let status = ApiError::from(DbError::Query(e)).status();
            assert_eq!(
                status,
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "{text}"
            );
        }
        for text in [
            "duplicate key value violates unique constraint \"x\"",
            "relation \"nope\" does not exist",
        ] {
            assert!(
                !transient(&error(DatabaseErrorKind::Unknown, text)),
                "{text}"
            );
        }
    }
}
