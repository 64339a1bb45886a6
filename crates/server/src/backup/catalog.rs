//! What the schema holds (tables in foreign-key order, their columns, sequences, applied
//! migrations), and migrating a database up to a given version.

use super::{BackupError, SequenceEntry, ident};
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection};
use diesel_migrations::MigrationHarness;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use tokio_postgres::Client;

/// Tables a backup leaves out, and why:
/// - `__diesel_schema_migrations`: the manifest lists the versions; a restore's migrations
///   write the table;
/// - `auth_sessions`, `refresh_tokens`: sign-in sessions. The signing key is not in the backup
///   (it lives in `DATA_DIR/keys`), so a restored instance's old access tokens are void anyway;
///   everyone signs in again (passwords and personal access tokens are kept);
/// - `collab_tickets` (60 s), `blob_grants` (minutes), `auth_oidc_flows` (single sign-ons
///   under way, minutes): single-use grants of the old instance;
/// - `file_search_gone`: tombstones for other processes' search indexes (kept 24 h), which a
///   restored instance builds afresh;
/// - `mail_outbox`: its bodies hold live links (a password reset is valid 30 minutes), which a
///   backup copied elsewhere must not carry; mail still queued is not sent by the restored
///   instance (people ask again).
pub const EXCLUDED: &[&str] = &[
    "mail_outbox",
    "__diesel_schema_migrations",
    "auth_sessions",
    "refresh_tokens",
    "collab_tickets",
    "blob_grants",
    "auth_oidc_flows",
    "file_search_gone",
];

/// The applied migrations, oldest first.
pub async fn applied_migrations(client: &Client) -> Result<Vec<String>, BackupError> {
    let exists = client
        .query_one(
            "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(BackupError::query("looking for the migrations table"))?;
    if !exists.get::<_, bool>(0) {
        return Err(BackupError::NothingToBackUp(
            "the database has no mdz schema (run `mdz migrate` or `mdz serve` first)".into(),
        ));
    }
    let rows = client
        .query(
            "SELECT version::text FROM __diesel_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(BackupError::query("reading the applied migrations"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The schema's tables but [`EXCLUDED`], parents before the tables that reference them.
pub async fn tables(client: &Client) -> Result<Vec<String>, BackupError> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
             ORDER BY c.relname",
            &[],
        )
        .await
        .map_err(BackupError::query("listing the tables"))?;
    let names: BTreeSet<String> = rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|t| !EXCLUDED.contains(&t.as_str()))
        .collect();
    let edges = client
        .query(
            "SELECT c.relname::text, p.relname::text FROM pg_constraint k
             JOIN pg_class c ON c.oid = k.conrelid
             JOIN pg_class p ON p.oid = k.confrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE k.contype = 'f' AND n.nspname = current_schema()",
            &[],
        )
        .await
        .map_err(BackupError::query("reading the foreign keys"))?;
    let edges: Vec<(String, String)> = edges.iter().map(|r| (r.get(0), r.get(1))).collect();
    load_order(&names, &edges)
}

/// Kahn's algorithm over `(child, parent)` edges; self-references are fine (a COPY checks
/// them at its end), a cycle between tables is not.
fn load_order(
    names: &BTreeSet<String>,
    edges: &[(String, String)],
) -> Result<Vec<String>, BackupError> {
    let mut parents: BTreeMap<&str, BTreeSet<&str>> = names
        .iter()
        .map(|n| (n.as_str(), BTreeSet::new()))
        .collect();
    for (child, parent) in edges {
        if child != parent
            && names.contains(parent)
            && let Some(set) = parents.get_mut(child.as_str())
        {
            set.insert(parent.as_str());
        }
    }
    let mut order: Vec<String> = Vec::with_capacity(names.len());
    while !parents.is_empty() {
        let ready: Vec<&str> = parents
            .iter()
            .filter(|(_, ps)| ps.is_empty())
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            let left: Vec<&str> = parents.keys().copied().collect();
            return Err(BackupError::NothingToBackUp(format!(
                "the foreign keys between {left:?} form a cycle"
            )));
        }
        for name in ready {
            parents.remove(name);
            for ps in parents.values_mut() {
                ps.remove(name);
            }
            order.push(name.to_owned());
        }
    }
    Ok(order)
}

/// The columns a backup copies: all but generated ones (PostgreSQL computes them) and
/// transaction ids (`xid8` stamps mean nothing in another cluster; they take their default,
/// the restoring transaction).
pub async fn columns(client: &Client, table: &str) -> Result<Vec<String>, BackupError> {
    let rows = client
        .query(
            "SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attgenerated = ''
               AND a.atttypid NOT IN ('xid'::regtype, 'xid8'::regtype)
             ORDER BY a.attnum",
            &[&ident(table)],
        )
        .await
        .map_err(BackupError::query(format!(
            "reading the columns of {table}"
        )))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The schema's sequences that have been used, with their values.
pub async fn sequences(client: &Client) -> Result<Vec<SequenceEntry>, BackupError> {
    let rows = client
        .query(
            "SELECT sequencename::text, last_value FROM pg_sequences
             WHERE schemaname = current_schema() AND last_value IS NOT NULL
             ORDER BY sequencename",
            &[],
        )
        .await
        .map_err(BackupError::query("reading the sequences"))?;
    Ok(rows
        .iter()
        .map(|r| SequenceEntry {
            name: r.get(0),
            value: r.get(1),
        })
        .collect())
}

/// The versions of the migrations compiled into this binary, oldest first.
pub fn known_migrations() -> Result<Vec<String>, BackupError> {
    let mut versions: Vec<String> = MigrationSource::<Pg>::migrations(&mdz_core::db::MIGRATIONS)
        .map_err(BackupError::Migration)?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    versions.sort();
    Ok(versions)
}

/// Apply the pending migrations whose version is at most `up_to` (all with `None`).
pub async fn migrate(url: &str, up_to: Option<&str>) -> Result<usize, BackupError> {
    let conn = AsyncPgConnection::establish(url)
        .await
        .map_err(|e| BackupError::Migration(Box::new(e)))?;
    let mut harness = AsyncMigrationHarness::new(conn);
    tokio::task::block_in_place(|| {
        let applied: HashSet<String> = harness
            .applied_migrations()
            .map_err(BackupError::Migration)?
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut all = MigrationSource::<Pg>::migrations(&mdz_core::db::MIGRATIONS)
            .map_err(BackupError::Migration)?;
        all.sort_by_key(|m| m.name().version().to_string());
        let mut ran = 0;
        for migration in &all {
            let version = migration.name().version().to_string();
            if applied.contains(&version) {
                continue;
            }
            if up_to.is_some_and(|last| version.as_str() > last) {
                break;
            }
            harness
                .run_migration(migration.as_ref())
                .map_err(BackupError::Migration)?;
            ran += 1;
        }
        Ok(ran)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn edge(c: &str, p: &str) -> (String, String) {
        (c.to_owned(), p.to_owned())
    }

    #[test]
    fn parents_come_first_and_self_references_are_fine() {
        let names = set(&["comments", "files", "projects", "users"]);
        let edges = [
            edge("files", "projects"),
            edge("projects", "users"),
            edge("comments", "files"),
            edge("comments", "comments"),
            edge("comments", "excluded_table"),
        ];
        let order = load_order(&names, &edges).unwrap();
        assert_eq!(order, ["users", "projects", "files", "comments"]);
    }

    #[test]
    fn a_cycle_is_refused() {
        let names = set(&["a", "b"]);
        let edges = [edge("a", "b"), edge("b", "a")];
        assert!(load_order(&names, &edges).is_err());
    }
}
