//! The worker's composition, in one place: `coffer-worker` builds it from the settings,
//! `cofferd` (with the in-process worker on) from the services it already runs.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::archives::handler::ZipHandler;
use crate::audit::{AuditEvent, AuditLog, DENIED};
use crate::config::Settings;
use crate::db::Db;
use crate::files::service::FileService;
use crate::runtime::Runtime;
use crate::storage::{ObjectStore, StorageError};
use crate::tasks::purge::PurgeHandler;
use crate::tasks::worker::Worker;
use crate::tasks::{KIND_PURGE, KIND_ZIP};
use crate::telemetry::metrics::Metrics;
use crate::tiering::service::{ScheduleJob, TierService};
use crate::tiering::sync::TierRunHandler;
use crate::tiering::KIND_TIER_RUN;
use crate::trash::service::{ExpiryJob, TrashService};
use crate::uploads::finish::ReconcileJob;
use crate::uploads::UploadService;

/// Why a worker process could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerStartError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("object store: {0}")]
    Storage(#[from] StorageError),
}

/// A worker process: the task loop over the database and store the settings name.
pub struct WorkerApp {
    worker: Worker,
}

impl WorkerApp {
    /// Connects to the database and the store. `cofferd` creates and migrates the
    /// schema: start it first.
    pub async fn build(settings: &Settings) -> Result<WorkerApp, WorkerStartError> {
        let db = crate::db::connect(settings).await?;
        let store = crate::storage::connect::connect(settings)?;
        let cloud = crate::storage::connect::connect_tier(settings)?;
        let db = Db::new(db);
        crate::db::spawn_checkpointer(&db);
        let runtime = Runtime::new(db.conn().clone(), settings);
        let files = FileService::new(
            db.clone(),
            store.clone(),
            runtime.clone(),
            settings.cache_ttl,
        )
        .with_cloud(cloud.clone());
        // The worker starts no uploads: the relaxed pool of upload starts is not needed.
        let uploads = UploadService::new(
            db.clone(),
            db.conn().clone(),
            store.clone(),
            settings.uploads.clone(),
            runtime.clone(),
            files,
        );
        let audit = AuditLog::spawn(db.clone(), Arc::new(Metrics::new()), settings.audit_backlog);
        let parts = Parts {
            db,
            store,
            cloud,
            uploads,
            audit,
            runtime,
        };
        Ok(WorkerApp {
            worker: compose(parts, settings),
        })
    }

    /// Runs tasks until `shutdown` turns true.
    pub async fn run_until_stopped(self, shutdown: watch::Receiver<bool>) {
        self.worker.run_until_stopped(shutdown).await;
    }
}

/// What a worker is built from.
pub struct Parts {
    pub db: Db,
    pub store: Arc<dyn ObjectStore>,
    /// The cloud tier's store, when one is configured.
    pub cloud: Option<Arc<dyn ObjectStore>>,
    pub uploads: UploadService,
    pub audit: AuditLog,
    pub runtime: Runtime,
}

/// How often a worker purges the trash items whose retention ended.
const TRASH_EXPIRY_EVERY: Duration = Duration::from_secs(60);

/// How often a worker looks at the tier schedule.
const SCHEDULE_EVERY: Duration = Duration::from_secs(1);

/// A worker with every task handler and periodic job of this crate.
pub fn compose(parts: Parts, settings: &Settings) -> Worker {
    let Parts {
        db,
        store,
        cloud,
        uploads,
        audit,
        runtime,
    } = parts;
    let cfg = &settings.worker;
    let mut worker = Worker::new(db.conn().clone(), store, cfg.clone())
        .handle(
            KIND_ZIP,
            Arc::new(ZipHandler {
                cfg: settings.archives.clone(),
                cloud: cloud.clone(),
            }),
        )
        .handle(
            KIND_PURGE,
            Arc::new(PurgeHandler {
                cloud: cloud.clone(),
            }),
        )
        .every(cfg.reconcile_every, Arc::new(ReconcileJob(uploads.clone())));
    // The schedule's runs: the lifecycle rules, and the sync when a cloud tier is set.
    let tiered = cloud.is_some();
    worker = worker
        .handle(
            KIND_TIER_RUN,
            Arc::new(TierRunHandler {
                cloud,
                uploads: uploads.clone(),
                runtime: runtime.clone(),
                backoff_base: cfg.backoff_base,
                audit: audit.clone(),
            }),
        )
        .every(
            SCHEDULE_EVERY,
            Arc::new(ScheduleJob {
                service: TierService::new(db.clone(), runtime, tiered),
                since: chrono::Utc::now(),
            }),
        );
    worker
        .every(
            TRASH_EXPIRY_EVERY,
            Arc::new(ExpiryJob(TrashService::new(db.clone()))),
        )
        .every(
            settings.benchwrap.poll_every,
            Arc::new(NoticeJob { uploads, audit }),
        )
}

/// Notices the objects of open unsized uploads (the benchwrap protocol), so they count
/// even when their client never calls again.
struct NoticeJob {
    uploads: UploadService,
    audit: AuditLog,
}

#[async_trait::async_trait]
impl crate::tasks::worker::Periodic for NoticeJob {
    fn name(&self) -> &'static str {
        "notice_unsized_uploads"
    }

    async fn run(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        for (upload, noticed) in self.uploads.notice_open(None, 100).await? {
            if let crate::uploads::sizeless::Noticed::Refused { size } = noticed {
                let event = AuditEvent::new("upload.refused", DENIED);
                self.audit
                    .record(crate::benchwrap::routes::refused_event(
                        event, &upload, size,
                    ))
                    .await;
            }
        }
        Ok(())
    }
}
