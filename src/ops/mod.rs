//! Operations: liveness and readiness checks and the Prometheus scrape, which adds what
//! the database and the store hold now to the in-memory metrics.

pub mod routes;

use std::fmt::Write as _;
use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest, Sha256};

use crate::audit::AuditLog;
use crate::storage::ObjectStore;
use crate::telemetry::metrics::{family, gauge, labels, Metrics};
use crate::{admin, tasks};

/// What `/readyz` and `/metrics` read.
pub struct OpsService {
    db: DatabaseConnection,
    store: Arc<dyn ObjectStore>,
    audit: AuditLog,
    metrics: Arc<Metrics>,
    token: Option<SecretString>,
}

/// Which dependencies answered.
pub struct Readiness {
    pub database: bool,
    pub object_store: bool,
}

impl OpsService {
    pub fn new(
        db: DatabaseConnection,
        store: Arc<dyn ObjectStore>,
        audit: AuditLog,
        metrics: Arc<Metrics>,
        token: Option<SecretString>,
    ) -> OpsService {
        OpsService {
            db,
            store,
            audit,
            metrics,
            token,
        }
    }

    /// Pings the database and the store at once; a failure is logged, not returned.
    pub async fn readiness(&self) -> Readiness {
        let (db, store) = tokio::join!(self.db.ping(), self.store.check());
        if let Err(e) = &db {
            tracing::warn!(error = %e, "readiness: database unreachable");
        }
        if let Err(e) = &store {
            tracing::warn!(error = %e, "readiness: object store unreachable");
        }
        Readiness {
            database: db.is_ok(),
            object_store: store.is_ok(),
        }
    }

    /// Whether a scrape presenting `given` (the bearer token, if any) may read.
    pub fn scrape_allowed(&self, given: Option<&str>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        // Digests compare in time independent of where the token differs.
        digest(given.unwrap_or("")) == digest(token.expose_secret())
    }

    /// The whole exposition: in-memory counters, then what the database holds now.
    pub async fn render(&self) -> Result<String, DbErr> {
        let mut out = String::with_capacity(16 * 1024);
        self.metrics.render(&mut out);
        self.render_counters(&mut out);
        self.render_database(&mut out).await?;
        Ok(out)
    }

    /// Counters kept by the store client and the audit writer.
    fn render_counters(&self, out: &mut String) {
        family(
            out,
            "coffer_store_errors_total",
            "counter",
            "Failed requests to the object store.",
        );
        let _ = writeln!(
            out,
            "coffer_store_errors_total {}",
            self.store.error_count()
        );
        family(
            out,
            "coffer_audit_events_dropped_total",
            "counter",
            "Audit events dropped because the writer fell behind.",
        );
        let _ = writeln!(
            out,
            "coffer_audit_events_dropped_total {}",
            self.audit.dropped()
        );
        let (waits, waited) = self.audit.waits();
        family(
            out,
            "coffer_audit_waits_total",
            "counter",
            "Audit events whose request waited for room in the writer's backlog.",
        );
        let _ = writeln!(out, "coffer_audit_waits_total {waits}");
        family(
            out,
            "coffer_audit_wait_seconds_total",
            "counter",
            "Time requests spent waiting for room in the audit writer's backlog.",
        );
        let _ = writeln!(
            out,
            "coffer_audit_wait_seconds_total {}",
            waited.as_secs_f64()
        );
    }

    /// Queue depth, accounts and quota totals, as the database holds them now.
    async fn render_database(&self, out: &mut String) -> Result<(), DbErr> {
        let name = "coffer_tasks";
        family(
            out,
            name,
            "gauge",
            "Tasks by kind and state (queued: the queue depth).",
        );
        for (kind, task_state, n) in tasks::repo::count_by_kind_and_state(&self.db).await? {
            let _ = writeln!(
                out,
                "{name}{} {n}",
                labels(&[("kind", &kind), ("state", &task_state)])
            );
        }
        let t = admin::repo::totals(&self.db).await?;
        for (name, help, value) in [
            ("coffer_users", "Accounts.", t.users),
            (
                "coffer_users_disabled",
                "Disabled accounts.",
                t.disabled_users,
            ),
            (
                "coffer_used_bytes",
                "Bytes stored, over every user.",
                t.used_bytes,
            ),
            (
                "coffer_used_objects",
                "Objects stored, over every user.",
                t.used_objects,
            ),
            (
                "coffer_reserved_bytes",
                "Bytes reserved by open uploads.",
                t.reserved_bytes,
            ),
            (
                "coffer_reserved_objects",
                "Objects reserved by open uploads.",
                t.reserved_objects,
            ),
            (
                "coffer_quota_bytes",
                "Byte quotas, summed over every user.",
                t.quota_bytes,
            ),
            (
                "coffer_quota_objects",
                "Object quotas, summed over every user.",
                t.quota_objects,
            ),
        ] {
            gauge(out, name, help, value);
        }
        Ok(())
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}
