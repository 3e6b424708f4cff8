//! Connecting to the metadata database (SQLite or PostgreSQL) and migrating it.

use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::Settings;

/// The file behind a `sqlite:` URL, if any.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Turns off SQLite's global memory statistics before its first use: with them on, every
/// allocation in every connection takes one process-wide mutex, and concurrent reads
/// spend their time contending for it.
fn sqlite_without_memstatus() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config may be called before sqlite3_initialize, which the Once
        // runs ahead of this process's first SQLite connection; called later it only
        // returns SQLITE_MISUSE, which is harmless.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_config(
                libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::debug!(rc, "SQLite memory statistics stay on");
        }
    });
}

pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    connect_with(settings, settings.db_max_connections, false).await
}

/// On PostgreSQL, a second small pool whose commits do not wait for the WAL flush
/// (`synchronous_commit = off`), for writes whose loss in a *database* crash is
/// harmless: an upload start, which reserves quota in one statement (lost together
/// with its rows, so nothing drifts; the client simply starts again). Elsewhere: the
/// same connection.
pub async fn connect_relaxed(
    settings: &Settings,
    db: &DatabaseConnection,
) -> Result<DatabaseConnection, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(db.clone());
    }
    connect_with(settings, settings.db_max_connections.div_ceil(2), true).await
}

async fn connect_with(
    settings: &Settings,
    max_connections: u32,
    relaxed: bool,
) -> Result<DatabaseConnection, DbErr> {
    if settings.is_sqlite() {
        sqlite_without_memstatus();
    }
    if let Some(path) = sqlite_path(&settings.database_url).map(std::path::Path::new) {
        let cannot =
            |e: std::io::Error| DbErr::Custom(format!("cannot create {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::secrets::create_private_dir(dir).map_err(cannot)?;
        }
        crate::secrets::create_private_file(path).map_err(cannot)?;
    }
    let mut opts = ConnectOptions::new(settings.database_url.clone());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
        })
        .map_sqlx_postgres_opts(move |o| {
            if relaxed {
                o.options([("synchronous_commit", "off")])
            } else {
                o
            }
        });
    Database::connect(opts).await
}

/// A raw statement written with PostgreSQL's `$1, $2, …` placeholders, for either
/// backend: SQLite gets `?1, ?2, …`, its spelling of the same numbered parameters.
/// (SQLite would read `$1` as a *named* parameter, numbered by first appearance.)
pub fn statement(
    backend: DbBackend,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> sea_orm::Statement {
    let sql = match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_owned(),
    };
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn finds_the_sqlite_file() {
        assert_eq!(
            sqlite_path("sqlite://./data/coffer.db?mode=rwc"),
            Some("./data/coffer.db")
        );
        assert_eq!(sqlite_path("sqlite:/tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://localhost/db"), None);
    }
}

/// Serialises write transactions inside this process on SQLite, which allows one writer
/// at a time: waiting here is a fair queue, where waiting in SQLite's busy handler is a
/// series of sleeps that ruins tail latency. PostgreSQL needs no gate.
#[derive(Clone)]
pub struct WriteGate(Option<Arc<Mutex<()>>>);

impl WriteGate {
    pub fn for_connection(db: &DatabaseConnection) -> WriteGate {
        match db.get_database_backend() {
            DbBackend::Sqlite => WriteGate(Some(Arc::new(Mutex::new(())))),
            _ => WriteGate(None),
        }
    }

    /// Begins a write transaction (after waiting for the gate on SQLite).
    ///
    /// On SQLite the transaction is `IMMEDIATE`: it holds the write lock from its first
    /// statement, so what it reads cannot change before it writes, even when another
    /// process (a `coffer-worker`) writes to the same file. A deferred transaction that
    /// read first would instead fail with `SQLITE_BUSY_SNAPSHOT` when it came to write.
    pub async fn begin(&self, db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
        let Some(gate) = &self.0 else {
            return Ok(WriteTxn {
                txn: db.begin().await?,
                _guard: None,
            });
        };
        let guard = gate.clone().lock_owned().await;
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(WriteTxn {
            txn: db.begin_with_options(options).await?,
            _guard: Some(guard),
        })
    }
}

/// A write transaction holding the gate until it ends.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }

    /// Commits when `outcome` is a success, rolls back otherwise; returns the outcome.
    pub async fn end<T, E: From<DbErr>>(self, outcome: Result<T, E>) -> Result<T, E> {
        match outcome {
            Ok(value) => {
                self.commit().await?;
                Ok(value)
            }
            Err(e) => {
                self.rollback().await?;
                Err(e)
            }
        }
    }
}
