//! The audit trail: who did what to which target, from where, with what outcome.
//! Events go through a bounded channel to one background writer that inserts them in
//! batches, so recording an event never waits on, or fails, the request it describes.

pub mod repo;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::db::WriteGate;
use crate::error::AppError;
use crate::http::client_ip::ClientIp;
use crate::http::metrics::Metrics;
use crate::http::middleware::RequestId;

pub const OK: &str = "ok";
pub const DENIED: &str = "denied";
pub const FAILED: &str = "failed";

/// Events waiting for the writer; beyond this, new events are dropped and counted.
const BACKLOG: usize = 65_536;
/// Most events one insert writes (10 parameters each, well within SQLite's and
/// PostgreSQL's limits).
const BATCH: usize = 1000;
/// How long the writer waits for more events before writing a partial batch.
const LINGER: Duration = Duration::from_millis(50);

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
    pub detail: Option<serde_json::Value>,
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
        self.detail = Some(detail);
        self
    }
}

/// Where a request came from, for its audit events.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

impl Origin {
    pub fn of(req: &HttpRequest) -> Origin {
        let ext = req.extensions();
        Origin {
            ip: ext
                .get::<ClientIp>()
                .map(|c| c.0)
                .or_else(|| req.peer_addr().map(|a| a.ip())),
            request_id: ext.get::<RequestId>().map(|r| r.0.clone()),
        }
    }

    /// An event stamped with this origin.
    pub fn event(&self, action: &'static str, outcome: &'static str) -> AuditEvent {
        let mut e = AuditEvent::new(action, outcome);
        e.ip = self.ip.map(|ip| ip.to_string());
        e.request_id = self.request_id.clone();
        e
    }
}

impl FromRequest for Origin {
    type Error = AppError;
    type Future = std::future::Ready<Result<Origin, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Origin::of(req)))
    }
}

/// The sending side of the audit trail; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<AuditEvent>,
    dropped: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

impl AuditLog {
    /// Starts the writer on the current runtime. It drains what is queued and stops
    /// when the last `AuditLog` is dropped.
    pub fn spawn(db: DatabaseConnection, gate: WriteGate, metrics: Arc<Metrics>) -> AuditLog {
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(write_loop(db, gate, rx));
        AuditLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            metrics,
        }
    }

    /// Counts the event in the metrics and queues it; never waits. A full backlog drops
    /// the event, counts and logs it.
    pub fn record(&self, event: AuditEvent) {
        self.metrics.observe_event(&event);
        if let Err(e) = self.tx.try_send(event) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let action = match &e {
                mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => {
                    ev.action
                }
            };
            tracing::error!(
                action,
                dropped_total = n,
                "audit event dropped: the writer is behind"
            );
        }
    }

    /// Events dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn write_loop(db: DatabaseConnection, gate: WriteGate, mut rx: mpsc::Receiver<AuditEvent>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        // Let a burst gather: fewer, larger transactions (on SQLite each one holds the
        // single write lock that uploads need too).
        if batch.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
        }
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=5 {
            match write_batch(&db, &gate, &batch).await {
                Ok(()) => break,
                Err(e) if attempt == 5 => {
                    tracing::error!(error = %e, lost = batch.len(), "audit events could not be written");
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "audit write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        batch.clear();
    }
}

async fn write_batch(
    db: &DatabaseConnection,
    gate: &WriteGate,
    batch: &[AuditEvent],
) -> Result<(), sea_orm::DbErr> {
    let txn = gate.begin(db).await?;
    repo::insert_many(&*txn, batch).await?;
    txn.commit().await
}
