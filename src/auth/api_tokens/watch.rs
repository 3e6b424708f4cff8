//! When an API token read from the database may be served from memory: only while
//! nothing can have removed it since, on this replica or any other. Each token check
//! takes a [`Stamp`] of the database before reading it; a cached token is served only
//! while the stamp is unchanged.
//!
//! - **SQLite** (WAL mode): the stamp is the WAL-index header at the start of the
//!   `-shm` file, which SQLite rewrites in every commit, by any process (its `iChange`
//!   counter, the WAL's last frame and its salts; see SQLite's "WAL-mode file format").
//!   A 48-byte `pread`: any commit — a revocation, a cascade from a deleted user or
//!   folder, or any other write — makes the next check read the database again. SQLite
//!   deletes the `-shm` file when the last connection to the database closes, and a
//!   handle on a deleted file would never change again: the watch holds a connection
//!   of its own for as long as it lives, so the file stays while it is read.
//! - **PostgreSQL**: a trigger announces every removed token, and every change of what
//!   one grants (expiry, scopes, folder, owner), on the `coffer_api_tokens` channel; a
//!   `LISTEN` connection counts the announcements, and the stamp is that count. While
//!   the connection is down nothing is cached (announcements may be lost).
//! - Anything else (no `-shm` file): no stamp, no caching.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{Connection as _, PgPool};
use sea_orm::{DatabaseConnection, DbBackend};

/// The channel the migration's trigger announces removed tokens on.
const CHANNEL: &str = "coffer_api_tokens";
/// Bytes of the first copy of the WAL-index header.
const WAL_HEADER: usize = 48;
/// Offset of the header's `isInit` flag.
const IS_INIT: usize = 12;
/// Pause before listening again after the connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// A state of the database as far as tokens are concerned: equal stamps, nothing
/// removed between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    Wal([u8; WAL_HEADER]),
    Removals(u64),
}

/// Watches the database for changes that may remove a token.
pub struct Watch {
    kind: Kind,
}

enum Kind {
    /// Set once the watch's own connection is open.
    Wal(Arc<OnceLock<Shm>>),
    Notify(Arc<Removals>),
    Off,
}

/// The open `-shm` file, and the connection that keeps SQLite from deleting it.
struct Shm {
    file: File,
    _held: Mutex<SqliteConnection>,
}

/// Removals announced on PostgreSQL, counted by the listening task.
struct Removals {
    count: AtomicU64,
    listening: AtomicBool,
    announced: tokio::sync::Notify,
}

impl Watch {
    /// Starts watching `db` (on PostgreSQL, a task that listens; it ends with the
    /// runtime).
    pub fn start(db: &DatabaseConnection) -> Watch {
        let kind = match db.get_database_backend() {
            DbBackend::Sqlite if tokio::runtime::Handle::try_current().is_ok() => {
                let shm = Arc::new(OnceLock::new());
                let options = (*db.get_sqlite_connection_pool().connect_options()).clone();
                tokio::spawn(hold_shm(options, shm.clone()));
                Kind::Wal(shm)
            }
            DbBackend::Postgres if tokio::runtime::Handle::try_current().is_ok() => {
                let removals = Arc::new(Removals {
                    count: AtomicU64::new(0),
                    listening: AtomicBool::new(false),
                    announced: tokio::sync::Notify::new(),
                });
                let options = (*db.get_postgres_connection_pool().connect_options()).clone();
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .max_lifetime(None)
                    .idle_timeout(None)
                    .connect_lazy_with(options);
                tokio::spawn(listen(pool, removals.clone()));
                Kind::Notify(removals)
            }
            _ => Kind::Off,
        };
        Watch { kind }
    }

    /// The database's stamp now; `None` when tokens must not be cached now.
    pub fn stamp(&self) -> Option<Stamp> {
        match &self.kind {
            Kind::Wal(shm) => wal_stamp(shm.get()?),
            Kind::Notify(r) => r
                .listening
                .load(Ordering::Acquire)
                .then(|| Stamp::Removals(r.count.load(Ordering::Acquire))),
            Kind::Off => None,
        }
    }

    /// Waits (a second at most) until this replica has heard of a removal made after
    /// `before` was taken, so that a revocation answered to a client is already known
    /// here; other replicas hear of it at the same moment. Returns at once on SQLite.
    pub async fn settle(&self, before: Option<Stamp>) {
        let (Kind::Notify(r), Some(Stamp::Removals(seen))) = (&self.kind, before) else {
            return;
        };
        let heard = async {
            loop {
                let announced = r.announced.notified();
                if r.count.load(Ordering::Acquire) > seen {
                    return;
                }
                announced.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), heard).await;
    }
}

fn wal_stamp(shm: &Shm) -> Option<Stamp> {
    let mut header = [0u8; WAL_HEADER];
    shm.file.read_exact_at(&mut header, 0).ok()?;
    (header[IS_INIT] != 0).then_some(Stamp::Wal(header))
}

/// Opens the watch's own connection, then the `-shm` file; until both are open (or if
/// either fails) nothing is cached.
async fn hold_shm(options: SqliteConnectOptions, shm: Arc<OnceLock<Shm>>) {
    let mut path = options.get_filename().as_os_str().to_owned();
    path.push("-shm");
    let path = PathBuf::from(path);
    let held = match SqliteConnection::connect_with(&options).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the database; API tokens are not cached");
            return;
        }
    };
    match File::open(&path) {
        Ok(file) => {
            let _ = shm.set(Shm {
                file,
                _held: Mutex::new(held),
            });
        }
        Err(e) => tracing::warn!(error = %e, "no -shm file to watch; API tokens are not cached"),
    }
}

/// Counts removals while listening; stops caching whenever the connection is lost.
async fn listen(pool: PgPool, removals: Arc<Removals>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    // Whatever was cached before the connection came up is stale.
                    removals.count.fetch_add(1, Ordering::AcqRel);
                    removals.listening.store(true, Ordering::Release);
                    while let Ok(Some(_)) = listener.try_recv().await {
                        removals.count.fetch_add(1, Ordering::AcqRel);
                        removals.announced.notify_waiters();
                    }
                    tracing::warn!(
                        "lost the token-removal listener; API tokens are not cached meanwhile"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen for token removals"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot connect to listen for token removals"),
        }
        removals.listening.store(false, Ordering::Release);
        removals.count.fetch_add(1, Ordering::AcqRel);
        tokio::time::sleep(RETRY).await;
    }
}
