//! Operations: liveness and readiness checks and the Prometheus scrape, which adds what
//! the database and the store hold now to the in-memory metrics.

pub mod routes;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use sea_orm::{DatabaseConnection, DbErr};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest, Sha256};

use crate::audit::AuditLog;
use crate::storage::ObjectStore;
use crate::telemetry::metrics::{self, Metrics};
use crate::{admin, tasks, tiering};

/// What `/readyz` and `/metrics` read.
pub struct OpsService {
    db: DatabaseConnection,
    store: Arc<dyn ObjectStore>,
    audit: AuditLog,
    metrics: Arc<Metrics>,
    token: Option<SecretString>,
    /// The cloud tier's store, checked by `/readyz` when configured.
    cloud: Option<Arc<dyn ObjectStore>>,
}

/// Which dependencies answered.
pub struct Readiness {
    pub database: bool,
    pub object_store: bool,
    /// `None` when no cloud tier is configured.
    pub cloud_tier: Option<bool>,
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
            cloud: None,
        }
    }

    /// Checks the cloud tier's store too.
    pub fn with_cloud(mut self, cloud: Option<Arc<dyn ObjectStore>>) -> OpsService {
        self.cloud = cloud;
        self
    }

    /// Pings the database and the stores at once; a failure is logged, not returned.
    pub async fn readiness(&self) -> Readiness {
        let cloud = async {
            match &self.cloud {
                Some(cloud) => Some(cloud.check().await),
                None => None,
            }
        };
        let (db, store, cloud) = tokio::join!(self.db.ping(), self.store.check(), cloud);
        if let Some(Err(e)) = &cloud {
            tracing::warn!(error = %e, "readiness: cloud tier unreachable");
        }
        if let Err(e) = &db {
            tracing::warn!(error = %e, "readiness: database unreachable");
        }
        if let Err(e) = &store {
            tracing::warn!(error = %e, "readiness: object store unreachable");
        }
        Readiness {
            database: db.is_ok(),
            object_store: store.is_ok(),
            cloud_tier: cloud.map(|c| c.is_ok()),
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

    /// The whole exposition: in-memory counters, then what the store client, the audit
    /// writer and the database hold now (a registry built for this scrape).
    pub async fn render(&self) -> Result<String, DbErr> {
        let mut now = Registry::default();
        self.register_counters(&mut now);
        self.register_database(&mut now).await?;
        let mut out = String::with_capacity(16 * 1024);
        self.metrics.render(&mut out);
        metrics::render(&mut out, &now);
        Ok(out)
    }

    /// Counters kept by the store client and the audit writer.
    fn register_counters(&self, r: &mut Registry) {
        let (waits, waited) = self.audit.waits();
        for (name, help, value) in [
            (
                "coffer_store_errors",
                "Failed requests to the object store",
                self.store.error_count(),
            ),
            (
                "coffer_audit_events_dropped",
                "Audit events dropped because the writer fell behind",
                self.audit.dropped(),
            ),
            (
                "coffer_audit_waits",
                "Audit events whose request waited for room in the writer's backlog",
                waits,
            ),
        ] {
            let counter = Counter::<u64>::default();
            counter.inc_by(value);
            r.register(name, help, counter);
        }
        let seconds = Counter::<f64, AtomicU64>::default();
        seconds.inc_by(waited.as_secs_f64());
        r.register(
            "coffer_audit_wait_seconds",
            "Time requests spent waiting for room in the audit writer's backlog",
            seconds,
        );
    }

    /// Queue depth, accounts and quota totals, as the database holds them now.
    async fn register_database(&self, r: &mut Registry) -> Result<(), DbErr> {
        let tasks = Family::<TaskLabels, Gauge>::default();
        for (kind, state, n) in tasks::repo::count_by_kind_and_state(&self.db).await? {
            tasks.get_or_create(&TaskLabels { kind, state }).set(n);
        }
        r.register(
            "coffer_tasks",
            "Tasks by kind and state (queued: the queue depth)",
            tasks,
        );
        let t = admin::repo::totals(&self.db).await?;
        for (name, help, value) in [
            ("coffer_users", "Accounts", t.users),
            (
                "coffer_users_disabled",
                "Disabled accounts",
                t.disabled_users,
            ),
            (
                "coffer_used_bytes",
                "Bytes stored, over every user",
                t.used_bytes,
            ),
            (
                "coffer_used_objects",
                "Objects stored, over every user",
                t.used_objects,
            ),
            (
                "coffer_reserved_bytes",
                "Bytes reserved by open uploads",
                t.reserved_bytes,
            ),
            (
                "coffer_reserved_objects",
                "Objects reserved by open uploads",
                t.reserved_objects,
            ),
            (
                "coffer_quota_bytes",
                "Byte quotas, summed over every user",
                t.quota_bytes,
            ),
            (
                "coffer_quota_objects",
                "Object quotas, summed over every user",
                t.quota_objects,
            ),
        ] {
            let gauge = Gauge::<i64>::default();
            gauge.set(value);
            r.register(name, help, gauge);
        }
        // The heaviest users, for a dashboard: a fixed few, so the series stay bounded.
        let used = Family::<UserLabels, Gauge>::default();
        let quota = Family::<UserLabels, Gauge>::default();
        for u in admin::repo::top_users(&self.db, TOP_USERS).await? {
            let user = UserLabels { user: u.username };
            used.get_or_create(&user).set(u.used_bytes);
            quota.get_or_create(&user).set(u.quota_bytes);
        }
        r.register(
            "coffer_top_user_used_bytes",
            "Bytes stored by each of the users storing the most",
            used,
        );
        r.register(
            "coffer_top_user_quota_bytes",
            "Byte quota of each of the users storing the most",
            quota,
        );
        if self.cloud.is_some() {
            self.register_tier(r).await?;
        }
        Ok(())
    }

    /// The cloud tier, read from the tables (the worker that copies runs elsewhere).
    async fn register_tier(&self, r: &mut Registry) -> Result<(), DbErr> {
        let (files, bytes, oldest) = tiering::repo::pending(&self.db).await?;
        let (synced, failed) = tiering::repo::totals(&self.db).await?;
        let oldest = oldest.map_or(0, |o| (chrono::Utc::now() - o).num_seconds().max(0));
        for (name, help, value) in [
            (
                "coffer_tier_synced_bytes",
                "Bytes copied to the cloud tier and verified, over every run",
                synced,
            ),
            (
                "coffer_tier_pending_bytes",
                "Bytes of active files without a verified cloud copy",
                bytes,
            ),
            (
                "coffer_tier_pending_files",
                "Active files without a verified cloud copy",
                files,
            ),
            (
                "coffer_tier_oldest_unsynced_seconds",
                "Age of the oldest file without a verified cloud copy",
                oldest,
            ),
            (
                "coffer_tier_failed_copies",
                "Cloud copies that failed (to copy, or a later verification)",
                failed,
            ),
        ] {
            let gauge = Gauge::<i64>::default();
            gauge.set(value);
            r.register(name, help, gauge);
        }
        Ok(())
    }
}

/// How many of the users storing the most the scrape names.
const TOP_USERS: u64 = 10;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UserLabels {
    user: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    kind: String,
    state: String,
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}
