//! The audit trail: who did what to which target, from where, with what outcome.
//! Events go through a bounded channel to one background writer that inserts them in
//! batches, so recording an event does not wait for the database. When the writer falls
//! behind and the channel is full, the request recording an event waits for room — up
//! to a bound, and every wait is counted — rather than losing the event: an audit log
//! that drops events under load cannot be trusted. Only a writer stuck longer than the
//! bound (a database down) makes an event be dropped, counted and logged.

pub mod repo;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::db::Db;
use crate::http::context::Origin;
use crate::telemetry::metrics::Metrics;

pub const OK: &str = "ok";
pub const DENIED: &str = "denied";
pub const FAILED: &str = "failed";

/// The longest a request waits for room in a full backlog before its event is dropped.
const MAX_WAIT: Duration = Duration::from_secs(10);
/// Most events one write takes. SQLite's multi-row insert binds 11 parameters per event
/// (its limit is 32,766); PostgreSQL's `COPY` binds none, and each write costs about
/// the same fixed time whatever its size, so there the batch is as large as keeps one
/// write under a few megabytes.
fn batch_size(backend: sea_orm::DbBackend) -> usize {
    match backend {
        sea_orm::DbBackend::Postgres => 10_000,
        _ => 1000,
    }
}
/// How long the writer waits for more events before writing a partial batch.
const LINGER: Duration = Duration::from_millis(50);
/// The longest pause between two attempts to write a batch.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub action: &'static str,
    pub target: Option<String>,
    pub outcome: &'static str,
    /// Boxed, like `via` shared: most events carry neither, and the event travels by
    /// value through the writer's channel.
    pub detail: Option<Box<serde_json::Value>>,
    /// The credential other than a session the request was made with: `token:<id>`.
    pub via: Option<Arc<str>>,
}

impl AuditEvent {
    pub fn new(action: &'static str, outcome: &'static str) -> AuditEvent {
        AuditEvent {
            id: Uuid::now_v7(),
            at: Utc::now(),
            actor_id: None,
            actor_name: None,
            ip: None,
            request_id: None,
            action,
            target: None,
            outcome,
            detail: None,
            via: None,
        }
    }

    pub fn actor(mut self, id: Uuid, name: &str) -> AuditEvent {
        self.actor_id = Some(id);
        self.actor_name = Some(name.to_owned());
        self
    }

    pub fn target(mut self, kind: &str, id: impl std::fmt::Display) -> AuditEvent {
        self.target = Some(format!("{kind}:{id}"));
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> AuditEvent {
        self.detail = Some(Box::new(detail));
        self
    }
}

/// Audit events are stamped here rather than in the leaf `http::context`, which
/// knows nothing of auditing.
impl Origin {
    /// An event stamped with this origin.
    pub fn event(&self, action: &'static str, outcome: &'static str) -> AuditEvent {
        let mut e = AuditEvent::new(action, outcome);
        e.ip = self.ip.map(|ip| ip.to_string());
        e.request_id = self.request_id.clone();
        e
    }
}

/// The sending side of the audit trail; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Message>,
    stats: Arc<Backpressure>,
    metrics: Arc<Metrics>,
}

/// How often recording had to wait for the writer, and for how long in all.
#[derive(Default)]
struct Backpressure {
    dropped: AtomicU64,
    waits: AtomicU64,
    waited_us: AtomicU64,
}

impl AuditLog {
    /// Starts the writer on the current runtime. It drains what is queued and stops
    /// when the last `AuditLog` is dropped.
    pub fn spawn(db: Db, metrics: Arc<Metrics>, backlog: usize) -> AuditLog {
        let (tx, rx) = mpsc::channel(backlog.max(1));
        tokio::spawn(write_loop(db, rx));
        AuditLog {
            tx,
            stats: Arc::default(),
            metrics,
        }
    }

    /// What the event adds to the metrics: presigned URLs handed out (by kind) and
    /// refused authentication (by action).
    fn count(&self, event: &AuditEvent) {
        let (action, ok) = (event.action, event.outcome == OK);
        if action == "auth.refresh_reuse_detected" {
            self.metrics.auth_failure("refresh_reuse_detected");
        } else if let (Some(kind), true) = (action.strip_prefix("presign."), ok) {
            self.metrics.presign(kind);
        } else if action == "link.redeemed" && ok {
            self.metrics.presign("link");
        } else if let (Some(what), false) = (action.strip_prefix("auth."), ok) {
            self.metrics.auth_failure(what);
        }
    }

    /// Counts the event in the metrics and queues it. When the backlog is full, waits
    /// for room (counted), at most [`MAX_WAIT`]; only then is the event dropped,
    /// counted and logged.
    pub async fn record(&self, event: AuditEvent) {
        self.count(&event);
        let event = match self.tx.try_send(Message::Event(event)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(Message::Event(event))) => event,
            Err(
                mpsc::error::TrySendError::Closed(message)
                | mpsc::error::TrySendError::Full(message),
            ) => {
                if let Message::Event(event) = message {
                    self.drop_event(&event);
                }
                return;
            }
        };
        let started = std::time::Instant::now();
        let sent = tokio::time::timeout(MAX_WAIT, self.tx.reserve()).await;
        self.stats.waits.fetch_add(1, Ordering::Relaxed);
        self.stats
            .waited_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match sent {
            Ok(Ok(permit)) => permit.send(Message::Event(event)),
            _ => self.drop_event(&event),
        }
    }

    /// Resolves once every event recorded before the call is in the database.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    fn drop_event(&self, event: &AuditEvent) {
        let n = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::error!(
            action = event.action,
            dropped_total = n,
            "audit event dropped: the writer is stuck"
        );
    }

    /// Events dropped because the writer was stuck longer than the bound.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    /// Events whose request waited for room in the backlog, and the time waited in all.
    pub fn waits(&self) -> (u64, Duration) {
        (
            self.stats.waits.load(Ordering::Relaxed),
            Duration::from_micros(self.stats.waited_us.load(Ordering::Relaxed)),
        )
    }
}

/// What the writer receives: events, and requests to say when all before are written.
enum Message {
    Event(AuditEvent),
    Flush(oneshot::Sender<()>),
}

async fn write_loop(db: Db, mut rx: mpsc::Receiver<Message>) {
    let most = batch_size(db.conn().get_database_backend());
    let mut inbox = Vec::with_capacity(most);
    while rx.recv_many(&mut inbox, most).await > 0 {
        // Let a burst gather: fewer, larger transactions (on SQLite each one holds the
        // single write lock that uploads need too).
        if inbox.len() < most {
            tokio::time::sleep(LINGER).await;
            while inbox.len() < most {
                match rx.try_recv() {
                    Ok(message) => inbox.push(message),
                    Err(_) => break,
                }
            }
        }
        let mut batch = Vec::with_capacity(inbox.len());
        let mut flushed = Vec::new();
        for message in inbox.drain(..) {
            match message {
                Message::Event(event) => batch.push(event),
                Message::Flush(done) => flushed.push(done),
            }
        }
        write_until_done(&db, &batch).await;
        for done in flushed {
            let _ = done.send(());
        }
    }
}

/// Writes a batch, retrying with backoff (at most [`MAX_RETRY_DELAY`] apart) until the
/// database takes it: while it does not, the backlog fills and requests wait.
async fn write_until_done(db: &Db, batch: &[AuditEvent]) {
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1u32;
    while let Err(e) = write_batch(db, batch).await {
        tracing::warn!(error = %e, attempt, events = batch.len(), "audit write failed; retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_RETRY_DELAY);
        attempt += 1;
    }
}

async fn write_batch(db: &Db, batch: &[AuditEvent]) -> Result<(), sea_orm::DbErr> {
    let conn = db.conn();
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        return repo::copy_many(conn.get_postgres_connection_pool(), batch).await;
    }
    let _writers_wait = db.gate().hold().await;
    repo::insert_many(conn.get_sqlite_connection_pool(), &db.watch(), batch).await
}
