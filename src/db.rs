//! Connecting to the metadata database (SQLite or PostgreSQL) and migrating it.

pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::Settings;
use watch::Watch;

/// The file behind a `sqlite:` URL, if any.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Configures SQLite before its first use, once per process:
/// - its global memory statistics off: with them on, every allocation in every
///   connection takes one process-wide mutex, and concurrent reads contend for it;
/// - its allocations on mimalloc, like the rest of the process: through glibc's
///   malloc, the copies sqlx makes of every column value of every row spent most of a
///   folder listing's time in `malloc_consolidate`;
/// - every connection it opens with a stable query planner (see [`stable_plans`]).
fn configure_sqlite() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config may be called before sqlite3_initialize, which the Once
        // runs ahead of this process's first SQLite connection; called later it only
        // returns SQLITE_MISUSE, which is harmless. The methods table is static.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_config(
                libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::debug!(rc, "SQLite memory statistics stay on");
        }
        // SAFETY: as above; SQLite copies the table, whose functions only forward to
        // mimalloc.
        let methods = sqlite_mem::methods();
        let rc = unsafe {
            libsqlite3_sys::sqlite3_config(
                libsqlite3_sys::SQLITE_CONFIG_MALLOC,
                &methods as *const libsqlite3_sys::sqlite3_mem_methods,
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::debug!(rc, "SQLite keeps the system allocator");
        }
        // SAFETY: registers a function SQLite calls on every connection it opens.
        let rc = unsafe { libsqlite3_sys::sqlite3_auto_extension(Some(stable_plans)) };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::warn!(rc, "SQLite re-plans statements with a LIMIT on every run");
        }
    });
}

/// Turns on SQLite's query planner stability guarantee for a new connection, its
/// counterpart of PostgreSQL's `force_generic_plan` (see [`connect_with`]). Without it
/// SQLite (3.51, as bundled) plans a statement with the values bound to it in view,
/// and a statement whose `LIMIT` is a parameter -- every sea-orm `.one()`, every page
/// of a listing -- is compiled again on every run: 12% of a folder listing's CPU time.
/// No query needs a plan made for its values: there are no `ANALYZE` statistics, and
/// the two `LIKE`s with a parameter pattern (user search, audit action prefix) cannot
/// use an index under SQLite's case-insensitive `LIKE` anyway.
unsafe extern "C" fn stable_plans(
    db: *mut libsqlite3_sys::sqlite3,
    _error: *mut *mut std::ffi::c_char,
    _api: *const libsqlite3_sys::sqlite3_api_routines,
) -> std::ffi::c_int {
    let on: std::ffi::c_int = 1;
    // SAFETY: SQLite passes the connection it is opening; the option takes an int and
    // an optional out-pointer for the new state.
    unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            on,
            std::ptr::null_mut::<std::ffi::c_int>(),
        );
    }
    libsqlite3_sys::SQLITE_OK
}

/// SQLite's allocator interface, served by mimalloc (16-byte aligned, as SQLite needs
/// at least 8).
mod sqlite_mem {
    use std::ffi::{c_int, c_void};

    use libmimalloc_sys as mi;
    use libsqlite3_sys::{sqlite3_mem_methods, SQLITE_OK};

    unsafe extern "C" fn malloc(n: c_int) -> *mut c_void {
        // SAFETY: mimalloc's malloc has no preconditions.
        unsafe { mi::mi_malloc(n.max(0) as usize) }
    }

    unsafe extern "C" fn free(p: *mut c_void) {
        // SAFETY: SQLite frees only what `malloc`/`realloc` above returned.
        unsafe { mi::mi_free(p) }
    }

    unsafe extern "C" fn realloc(p: *mut c_void, n: c_int) -> *mut c_void {
        // SAFETY: as for `free`.
        unsafe { mi::mi_realloc(p, n.max(0) as usize) }
    }

    unsafe extern "C" fn size(p: *mut c_void) -> c_int {
        // SAFETY: as for `free`; SQLite allocations stay far below 2 GiB.
        unsafe { mi::mi_usable_size(p) as c_int }
    }

    unsafe extern "C" fn roundup(n: c_int) -> c_int {
        (n.max(0) + 7) & !7
    }

    unsafe extern "C" fn init(_: *mut c_void) -> c_int {
        SQLITE_OK
    }

    unsafe extern "C" fn shutdown(_: *mut c_void) {}

    pub fn methods() -> sqlite3_mem_methods {
        sqlite3_mem_methods {
            xMalloc: Some(malloc),
            xFree: Some(free),
            xRealloc: Some(realloc),
            xSize: Some(size),
            xRoundup: Some(roundup),
            xInit: Some(init),
            xShutdown: Some(shutdown),
            pAppData: std::ptr::null_mut(),
        }
    }
}

pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    connect_with(settings, settings.db_max_connections, false).await
}

/// How often the WAL is copied back into the SQLite database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL frames (pages) beyond which the WAL is copied back and truncated with writers
/// held off: under sustained writes a passive checkpoint never catches up with the
/// WAL's end, which would otherwise grow without bound.
const WAL_LIMIT_FRAMES: i64 = 4_096;

/// Checkpoints the SQLite WAL in the background (nothing on PostgreSQL). Left to
/// SQLite, the commit that crosses 1,000 WAL pages runs the checkpoint itself, with the
/// `fsync` that `synchronous = NORMAL` does only then — so every few hundred commits one
/// waits for the disk, with the write lock held. Connections are opened with automatic
/// checkpoints off, and this task runs a `PASSIVE` checkpoint every 250 ms instead,
/// which never blocks a writer; only a WAL past [`WAL_LIMIT_FRAMES`] is truncated, with
/// this process's writers waiting at the gate meanwhile.
pub fn spawn_checkpointer(db: &Db) {
    let (db, gate) = (db.conn.clone(), db.gate.clone());
    if db.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let outcome = match checkpoint(&db, "PASSIVE").await {
                Ok(frames) if frames > WAL_LIMIT_FRAMES => {
                    let _writers_wait = gate.hold().await;
                    checkpoint(&db, "RESTART").await
                }
                other => other,
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "SQLite checkpoint failed");
            }
        }
    });
}

/// Runs a checkpoint; returns the frames in the WAL.
async fn checkpoint(db: &DatabaseConnection, mode: &str) -> Result<i64, DbErr> {
    let stmt = sea_orm::Statement::from_string(
        DbBackend::Sqlite,
        format!("PRAGMA wal_checkpoint({mode})"),
    );
    let row = db.query_one_raw(stmt).await?;
    row.map_or(Ok(0), |r| r.try_get_by_index::<i64>(1))
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

/// Rows a SQLite connection's thread may read ahead of the query's reader: more than
/// the largest page a listing asks for.
const ROW_CHANNEL: usize = 4096;

async fn connect_with(
    settings: &Settings,
    max_connections: u32,
    relaxed: bool,
) -> Result<DatabaseConnection, DbErr> {
    if settings.is_sqlite() {
        configure_sqlite();
    }
    if let Some(path) = sqlite_path(settings.database_url.as_str()).map(std::path::Path::new) {
        let cannot =
            |e: std::io::Error| DbErr::Custom(format!("cannot create {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::secrets::create_private_dir(dir).map_err(cannot)?;
        }
        crate::secrets::create_private_file(path).map_err(cannot)?;
    }
    let mut opts = ConnectOptions::new(settings.database_url.0.clone());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings a connection on every checkout by default: a second round trip
        // for every query. Only connections idle long enough to have been dropped by
        // the server or a firewall are pinged.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                // See `spawn_checkpointer`.
                .pragma("wal_autocheckpoint", "0")
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
                // A connection's thread hands rows over through a channel of this many
                // and stops when it is full until the reader takes one: at sqlx's 50,
                // a page of a listing (up to twice 1,001 rows) passed between two
                // threads row by row, and more threads meant more pages per second.
                .row_buffer_size(ROW_CHANNEL)
        })
        .map_sqlx_postgres_opts(move |o| {
            // Prepared statements are planned once, not on every run: left to choose,
            // PostgreSQL re-plans a statement whose generic plan looks costlier than
            // its custom ones (a folder listing's did), and planning then took several
            // times the query's own time. The queries are written so the generic plan is
            // right (a kind is a literal, never a parameter).
            let o = o.options([("plan_cache_mode", "force_generic_plan")]);
            if relaxed {
                o.options([("synchronous_commit", "off")])
            } else {
                o
            }
        });
    Database::connect(opts).await
}

/// The least UUIDv7 made at `at` (to the millisecond): ids made from then on sort at
/// or after it, so it bounds a range of time-ordered ids.
pub fn least_id_at(at: chrono::DateTime<chrono::Utc>) -> uuid::Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid()
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

    #[tokio::test]
    async fn sqlite_connections_keep_their_plans() {
        use sea_orm::sqlx::{Connection as _, SqliteConnection};
        super::configure_sqlite();
        let mut conn = SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("open");
        let mut handle = conn.lock_handle().await.expect("handle");
        let ask: std::ffi::c_int = -1;
        let mut on: std::ffi::c_int = -1;
        // SAFETY: a live connection; -1 asks for the current state without changing it.
        unsafe {
            libsqlite3_sys::sqlite3_db_config(
                handle.as_raw_handle().as_ptr(),
                libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
                ask,
                &mut on as *mut std::ffi::c_int,
            );
        }
        assert_eq!(on, 1, "the query planner stability guarantee is on");
    }

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

/// The database as services hold it: the connection, and the gate every write
/// transaction of this process queues at (SQLite; nothing on PostgreSQL).
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    gate: WriteGate,
    /// Started on first use.
    watch: Arc<std::sync::OnceLock<Arc<Watch>>>,
}

impl Db {
    pub fn new(conn: DatabaseConnection) -> Db {
        let gate = WriteGate::for_connection(&conn);
        Db {
            conn,
            gate,
            watch: Arc::default(),
        }
    }

    /// The watch for changes that may remove an API token, one per `Db` and its clones
    /// (started here on first use: call it inside the runtime).
    pub fn watch(&self) -> Arc<Watch> {
        self.watch
            .get_or_init(|| Arc::new(Watch::start(&self.conn)))
            .clone()
    }

    /// For reads (and for writes that are one statement).
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn gate(&self) -> &WriteGate {
        &self.gate
    }

    /// Begins a write transaction: see [`WriteGate::begin`].
    pub async fn write(&self) -> Result<WriteTxn, DbErr> {
        self.gate.begin(&self.conn).await
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

    /// Holds the gate (on SQLite) until the guard is dropped: this process's writers
    /// wait meanwhile.
    pub async fn hold(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.0 {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        }
    }

    /// Begins a write transaction (after waiting for the gate on SQLite).
    ///
    /// On SQLite the transaction is `IMMEDIATE`: it holds the write lock from its first
    /// statement, so what it reads cannot change before it writes, even when another
    /// process (a `coffer-worker`) writes to the same file. A deferred transaction that
    /// read first would instead fail with `SQLITE_BUSY_SNAPSHOT` when it came to write.
    pub async fn begin(&self, db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
        if self.0.is_none() {
            return Ok(WriteTxn {
                txn: db.begin().await?,
                _guard: None,
            });
        }
        let guard = self.hold().await;
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(WriteTxn {
            txn: db.begin_with_options(options).await?,
            _guard: guard,
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
