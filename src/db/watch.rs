//! When an API token read from the database may be served from memory: only while
//! nothing can have removed it since, on this replica or any other. Each token check
//! takes a [`Stamp`] of the database before reading it; a cached token is served only
//! while the stamp is unchanged.
//!
//! - **SQLite** (WAL mode): the WAL-index header at the start of the `-shm` file, which
//!   SQLite rewrites in every commit, by any process (its `iChange` counter, the WAL's
//!   last frame and its salts; see SQLite's "WAL-mode file format"), read from a
//!   mapping of the file (no system call per check). A header not seen before starts a new epoch, and the stamp is the
//!   epoch: any commit — a revocation, a cascade from a deleted user or folder, a hand
//!   edit — makes the next check read the database again. Except one kind: a commit
//!   made through [`Watch::quiet`] (the audit writer's, which cannot remove a token)
//!   keeps the epoch, because while its transaction holds SQLite's single write lock no
//!   other commit can come between the header it saw and the one its commit wrote
//!   (`iChange` one higher). Without that, on a busy server the audit log's own commits
//!   would send every token back to the database dozens of times a second.
//!   SQLite deletes the `-shm` file when the last connection to the database closes,
//!   and truncates it when a process finds nobody else using it: the watch holds a
//!   connection of its own that has the WAL index open for as long as it lives, so the
//!   file stays, at its size, while it is mapped. The watch's own descriptor of the
//!   file is never closed (a close would drop SQLite's POSIX locks on it).
//! - **PostgreSQL**: a trigger announces every removed token, and every change of what
//!   one grants (expiry, scopes, folder, owner), on the `coffer_api_tokens` channel; a
//!   `LISTEN` connection counts the announcements, and the stamp is that count. While
//!   the connection is down nothing is cached (announcements may be lost).
//! - Anything else (no `-shm` file): no stamp, no caching.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use memmap2::Mmap;
use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{Connection as _, PgPool};
use sea_orm::{DatabaseConnection, DbBackend};

/// The channel the migration's trigger announces removed tokens on.
const CHANNEL: &str = "coffer_api_tokens";
/// Bytes of the first copy of the WAL-index header.
const WAL_HEADER: usize = 48;
/// Offset of the header's `iChange` counter (native byte order), one higher per commit.
const I_CHANGE: usize = 8;
/// Offset of the header's `isInit` flag.
const IS_INIT: usize = 12;
/// Pause before listening again after the connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// A state of the database as far as tokens are concerned: equal stamps, nothing
/// removed between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    Epoch(u64),
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

/// The open `-shm` file, the connection that keeps SQLite from deleting it, and what
/// was seen in it.
struct Shm {
    map: Mmap,
    /// Never closed: closing any descriptor of a file ends every POSIX lock this process
    /// holds on it, and SQLite's locks on the `-shm` file are such locks (its shared
    /// lock that marks the file in use among them). One descriptor per watch is kept
    /// open for the life of the process instead.
    _file: std::mem::ManuallyDrop<File>,
    _held: Mutex<SqliteConnection>,
    seen: Mutex<Seen>,
    /// Notified when a quiet commit ends.
    ended: tokio::sync::Notify,
}

impl Shm {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Header = [u8; WAL_HEADER];

/// The last header seen and its epoch, and the header a quiet commit in flight started
/// from.
struct Seen {
    header: Header,
    epoch: u64,
    quiet_from: Option<Header>,
}

impl Seen {
    /// A header read after every header seen before. `None` while a quiet commit is in
    /// flight and the header moved: the caller waits for the commit's end, which alone
    /// can tell whether the move was that commit.
    fn observe(&mut self, header: Header) -> Option<u64> {
        if header != self.header {
            if self.quiet_from.is_some() {
                return None;
            }
            self.epoch += 1;
            self.header = header;
        }
        Some(self.epoch)
    }
}

fn i_change(header: &Header) -> u32 {
    let mut n = [0u8; 4];
    n.copy_from_slice(&header[I_CHANGE..I_CHANGE + 4]);
    u32::from_ne_bytes(n)
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

    /// The database's stamp now; `None` when tokens must not be cached now. On SQLite,
    /// waits while a quiet commit that may have moved the header is ending.
    pub async fn stamp(&self) -> Option<Stamp> {
        match &self.kind {
            Kind::Wal(shm) => {
                let shm = shm.get()?;
                loop {
                    let header = read_header(shm)?;
                    let ended = shm.ended.notified();
                    if let Some(epoch) = shm.seen().observe(header) {
                        return Some(Stamp::Epoch(epoch));
                    }
                    ended.await;
                }
            }
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

/// A write transaction that removes no token, whose commit keeps the epoch (see the
/// module's notes). Take it with [`Watch::quiet`] while the transaction holds SQLite's
/// write lock (after `BEGIN IMMEDIATE`); once the transaction has ended, call
/// [`Quiet::committed`] if its commit succeeded, or drop it. Anywhere but SQLite it
/// does nothing.
pub struct Quiet<'a> {
    shm: Option<&'a Shm>,
}

impl Watch {
    /// See [`Quiet`].
    pub fn quiet(&self) -> Quiet<'_> {
        let Kind::Wal(shm) = &self.kind else {
            return Quiet { shm: None };
        };
        let Some(shm) = shm.get() else {
            return Quiet { shm: None };
        };
        let Some(header) = read_header(shm) else {
            return Quiet { shm: None };
        };
        let mut seen = shm.seen();
        if seen.quiet_from.is_some() {
            // Another quiet commit is in flight (not while writers queue at the gate):
            // this one keeps no epoch.
            return Quiet { shm: None };
        }
        // The write lock is held: `header` is the last commit's, and nothing commits
        // before this transaction does.
        let _ = seen.observe(header);
        seen.quiet_from = Some(header);
        Quiet { shm: Some(shm) }
    }
}

impl Quiet<'_> {
    /// The transaction committed: when the header read now is the one after the header
    /// it started from (`iChange` one higher), no other commit came between, and the
    /// epoch stays.
    pub fn committed(mut self) {
        self.end(true);
    }

    fn end(&mut self, committed: bool) {
        let Some(shm) = self.shm.take() else { return };
        let header = read_header(shm);
        let mut seen = shm.seen();
        let Some(from) = seen.quiet_from.take() else {
            return;
        };
        match header {
            Some(header) if header == seen.header => {}
            Some(header)
                if committed
                    && seen.header == from
                    && i_change(&header) == i_change(&from).wrapping_add(1) =>
            {
                seen.header = header;
            }
            Some(header) => {
                seen.epoch += 1;
                seen.header = header;
            }
            None => seen.epoch += 1,
        }
        drop(seen);
        shm.ended.notify_waiters();
    }
}

impl Drop for Quiet<'_> {
    /// Ended without a commit (or its outcome unknown): whatever moved is a change.
    fn drop(&mut self) {
        self.end(false);
    }
}

/// The `-shm` file's WAL-index header, once SQLite has initialised it.
fn read_header(shm: &Shm) -> Option<Header> {
    if shm.map.len() < WAL_HEADER {
        return None;
    }
    // SAFETY: the mapping holds at least WAL_HEADER bytes and lives as long as `shm`
    // (SQLite never shrinks the file while a connection, such as the one `shm` holds,
    // has it open). SQLite writes those bytes concurrently, so they are copied with a
    // volatile read: a torn copy is only a header not seen before — a change, never a
    // missed one.
    let header = unsafe { std::ptr::read_volatile(shm.map.as_ptr().cast::<Header>()) };
    (header[IS_INIT] != 0).then_some(header)
}

/// Opens the watch's own connection, then the `-shm` file; until both are open (or if
/// either fails) nothing is cached.
async fn hold_shm(options: SqliteConnectOptions, shm: Arc<OnceLock<Shm>>) {
    let mut path = options.get_filename().as_os_str().to_owned();
    path.push("-shm");
    let path = PathBuf::from(path);
    let mut held = match SqliteConnection::connect_with(&options).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the database; API tokens are not cached");
            return;
        }
    };
    // One read maps the WAL index in this connection, and while the connection is open
    // SQLite in this process holds the `-shm` file's shared "dead man switch" lock: no
    // process then truncates the file (as one that finds nobody using it does) or
    // deletes it under the mapping below.
    if let Err(e) = sea_orm::sqlx::query("SELECT 1 FROM sqlite_master LIMIT 1")
        .execute(&mut held)
        .await
    {
        tracing::warn!(error = %e, "cannot watch the database; API tokens are not cached");
        return;
    }
    let opened = File::open(&path).and_then(|file| {
        // SAFETY: a read-only shared mapping of a file SQLite keeps at its size while
        // it is in use (see above), read only through volatile copies.
        let map = unsafe { Mmap::map(&file) }?;
        Ok((file, map))
    });
    match opened {
        Ok((file, map)) => {
            let _ = shm.set(Shm {
                map,
                _file: std::mem::ManuallyDrop::new(file),
                _held: Mutex::new(held),
                seen: Mutex::new(Seen {
                    header: [0; WAL_HEADER],
                    epoch: 0,
                    quiet_from: None,
                }),
                ended: tokio::sync::Notify::new(),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::sqlx::{self, SqlitePool};
    use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection};

    use super::{Stamp, Watch};

    /// A fresh SQLite file in WAL mode with one table, and a watch on it once it
    /// watches.
    async fn watched() -> (DatabaseConnection, Watch, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("coffer-watch-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}/w.db?mode=rwc", dir.display());
        let db = Database::connect(url).await.expect("sqlite");
        db.execute_unprepared("PRAGMA journal_mode=WAL; CREATE TABLE t (n INTEGER);")
            .await
            .expect("schema");
        let watch = Watch::start(&db);
        for _ in 0..200 {
            if watch.stamp().await.is_some() {
                return (db, watch, dir);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the watch never started");
    }

    fn pool(db: &DatabaseConnection) -> &SqlitePool {
        db.get_sqlite_connection_pool()
    }

    async fn plain_insert(db: &DatabaseConnection) {
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(pool(db))
            .await
            .expect("insert");
    }

    /// A write transaction holding SQLite's write lock.
    async fn begin(db: &DatabaseConnection) -> sqlx::Transaction<'static, sqlx::Sqlite> {
        pool(db).begin_with("BEGIN IMMEDIATE").await.expect("begin")
    }

    async fn insert(txn: &mut sqlx::Transaction<'static, sqlx::Sqlite>) {
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut **txn)
            .await
            .expect("insert");
    }

    async fn stamp(watch: &Watch) -> Stamp {
        watch.stamp().await.expect("a stamp")
    }

    #[tokio::test]
    async fn only_a_quiet_commit_with_nothing_between_keeps_the_stamp() {
        let (db, watch, dir) = watched().await;
        let s0 = stamp(&watch).await;
        assert_eq!(stamp(&watch).await, s0, "nothing committed");

        // A quiet commit: the stamp stays.
        let mut txn = begin(&db).await;
        let quiet = watch.quiet();
        insert(&mut txn).await;
        txn.commit().await.expect("commit");
        quiet.committed();
        assert_eq!(stamp(&watch).await, s0, "the quiet commit keeps the epoch");

        // Any other commit moves it.
        plain_insert(&db).await;
        let s1 = stamp(&watch).await;
        assert_ne!(s1, s0, "a plain commit is a change");

        // Another commit after the quiet one, before it is known to have committed: a
        // change, though the quiet commit itself was not.
        let mut txn = begin(&db).await;
        let quiet = watch.quiet();
        insert(&mut txn).await;
        txn.commit().await.expect("commit");
        plain_insert(&db).await;
        quiet.committed();
        let s2 = stamp(&watch).await;
        assert_ne!(s2, s1, "the commit after the quiet one is seen");

        // A quiet transaction whose outcome is not reported (dropped): a change.
        let mut txn = begin(&db).await;
        let quiet = watch.quiet();
        insert(&mut txn).await;
        txn.commit().await.expect("commit");
        drop(quiet);
        assert_ne!(stamp(&watch).await, s2, "an unreported end is a change");
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_stamp_taken_while_a_quiet_commit_ends_waits_for_its_outcome() {
        let (db, watch, dir) = watched().await;
        let watch = std::sync::Arc::new(watch);
        let s0 = stamp(&watch).await;
        let mut txn = begin(&db).await;
        let quiet = watch.quiet();
        insert(&mut txn).await;
        txn.commit().await.expect("commit");
        // The header moved and the quiet commit has not reported yet: a stamp waits.
        let early = tokio::spawn({
            let watch = watch.clone();
            async move { watch.stamp().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!early.is_finished(), "the stamp waits for the quiet commit");
        quiet.committed();
        let early = tokio::time::timeout(Duration::from_secs(5), early)
            .await
            .expect("the stamp returns once the quiet commit reported")
            .expect("task");
        assert_eq!(early, Some(s0));
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }
}
