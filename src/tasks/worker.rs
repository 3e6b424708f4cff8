//! The worker loop: claim a task with a lease, renew the lease while the handler runs,
//! record the outcome (done, retry with exponential backoff, failed with the error).
//! `try_execute_task` runs one step, so tests can drive workers deterministically.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::watch;
use tracing::Instrument as _;
use uuid::Uuid;

use super::dto::TaskProgress;
use super::{now_ms, repo, Task};
use crate::config::WorkerSettings;
use crate::storage::{ObjectStore, StorageError};

/// What a handler gets besides its task.
pub struct TaskContext {
    pub db: DatabaseConnection,
    pub store: Arc<dyn ObjectStore>,
    pub worker_id: String,
    pub task_id: Uuid,
}

impl TaskContext {
    /// Records progress for clients polling the task (best effort).
    pub async fn progress(&self, progress: &TaskProgress) {
        let progress = match serde_json::to_value(progress) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "could not encode task progress");
                return;
            }
        };
        if let Err(e) = repo::set_progress(&self.db, self.task_id, &self.worker_id, &progress).await
        {
            tracing::warn!(error = %e, "could not record task progress");
        }
    }
}

/// Why a task handler failed; the message is kept on the task.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("bad payload: {0}")]
    Payload(#[source] serde_json::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Failed(String),
}

/// Runs one kind of task. Handlers must be idempotent: a task whose worker died is run
/// again by another.
#[async_trait]
pub trait Handler: Send + Sync {
    async fn run(&self, ctx: &TaskContext, task: &Task) -> Result<serde_json::Value, TaskError>;
}

/// Work the worker does now and then between tasks (reconciling expired uploads, say).
/// Every replica runs it: it must be safe to run concurrently.
#[async_trait]
pub trait Periodic: Send + Sync {
    /// For the log.
    fn name(&self) -> &'static str;
    async fn run(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// What one step of the worker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(Uuid),
    /// Failed; queued again for a later attempt.
    Retrying(Uuid),
    /// Failed for good; the error is kept on the task.
    Failed(Uuid),
    /// Given back unfinished (shutdown).
    Released(Uuid),
    /// The lease was lost to another worker; this worker's result was dropped.
    Lost(Uuid),
}

#[derive(Clone)]
pub struct Worker {
    id: String,
    db: DatabaseConnection,
    store: Arc<dyn ObjectStore>,
    cfg: WorkerSettings,
    handlers: HashMap<String, Arc<dyn Handler>>,
    periodic: Vec<(Duration, Arc<dyn Periodic>)>,
}

impl Worker {
    pub fn new(db: DatabaseConnection, store: Arc<dyn ObjectStore>, cfg: WorkerSettings) -> Worker {
        let id = format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into()),
            Uuid::new_v4().simple()
        );
        Worker {
            id,
            db,
            store,
            cfg,
            handlers: HashMap::new(),
            periodic: Vec::new(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Registers the handler of a task kind.
    pub fn handle(mut self, kind: &str, handler: Arc<dyn Handler>) -> Worker {
        self.handlers.insert(kind.to_owned(), handler);
        self
    }

    /// Registers work to run every `every` (first at start).
    pub fn every(mut self, every: Duration, job: Arc<dyn Periodic>) -> Worker {
        self.periodic.push((every, job));
        self
    }

    /// Runs the periodic jobs that are due, and says when each is due next.
    async fn run_due(&self, next: &mut [tokio::time::Instant]) {
        for ((every, job), at) in self.periodic.iter().zip(next.iter_mut()) {
            if tokio::time::Instant::now() < *at {
                continue;
            }
            if let Err(e) = job.run().await {
                tracing::warn!(job = job.name(), error = %e, "periodic job failed");
            }
            *at = tokio::time::Instant::now() + *every;
        }
    }

    fn lease_ms(&self) -> i64 {
        self.cfg.lease.as_millis() as i64
    }

    /// Delay before attempt `attempts + 1`: base × 2^(attempts − 1), at most an hour.
    fn backoff_ms(&self, attempts: i32) -> i64 {
        let exp = attempts.clamp(1, 20) as u32 - 1;
        (self.cfg.backoff_base.as_millis() as i64)
            .saturating_mul(1i64 << exp)
            .min(3_600_000)
    }

    /// Claims and runs at most one task. `None` when nothing is due.
    pub async fn try_execute_task(&self) -> Result<Option<Outcome>, DbErr> {
        self.execute(None).await
    }

    async fn execute(
        &self,
        shutdown: Option<watch::Receiver<bool>>,
    ) -> Result<Option<Outcome>, DbErr> {
        let Some(task) = repo::claim(&self.db, &self.id, self.lease_ms()).await? else {
            return Ok(None);
        };
        let span = tracing::info_span!("task", task.id = %task.id, task.kind = %task.kind, attempt = task.attempts);
        self.run_claimed(task, shutdown)
            .instrument(span)
            .await
            .map(Some)
    }

    async fn run_claimed(
        &self,
        task: Task,
        shutdown: Option<watch::Receiver<bool>>,
    ) -> Result<Outcome, DbErr> {
        if task.attempts > task.max_attempts {
            // Its worker died during the last attempt.
            repo::fail(
                &self.db,
                task.id,
                &self.id,
                "the lease expired during the last attempt",
                None,
            )
            .await?;
            return Ok(Outcome::Failed(task.id));
        }
        let Some(handler) = self.handlers.get(&task.kind).cloned() else {
            let error = format!("no handler for task kind {:?}", task.kind);
            repo::fail(&self.db, task.id, &self.id, &error.to_string(), None).await?;
            return Ok(Outcome::Failed(task.id));
        };
        let ctx = TaskContext {
            db: self.db.clone(),
            store: self.store.clone(),
            worker_id: self.id.clone(),
            task_id: task.id,
        };
        let work = async {
            tokio::select! {
                result = handler.run(&ctx, &task) => Some(result),
                () = self.keep_lease(task.id) => None,
            }
        };
        let result = match shutdown {
            None => work.await,
            Some(rx) => tokio::select! {
                result = work => result,
                () = shutdown_then_grace(rx, self.cfg.shutdown_grace) => {
                    repo::release(&self.db, task.id, &self.id).await?;
                    tracing::info!("task released at shutdown");
                    return Ok(Outcome::Released(task.id));
                }
            },
        };
        let outcome = match result {
            None => {
                tracing::warn!("lease lost; result dropped");
                Outcome::Lost(task.id)
            }
            Some(Ok(value)) => {
                if repo::finish(&self.db, task.id, &self.id, &value).await? {
                    tracing::info!("task done");
                    Outcome::Done(task.id)
                } else {
                    Outcome::Lost(task.id)
                }
            }
            Some(Err(error)) if task.attempts >= task.max_attempts => {
                tracing::warn!(%error, "task failed for good");
                repo::fail(&self.db, task.id, &self.id, &error.to_string(), None).await?;
                Outcome::Failed(task.id)
            }
            Some(Err(error)) => {
                let at = now_ms() + self.backoff_ms(task.attempts);
                tracing::warn!(%error, "task failed; will retry");
                repo::fail(&self.db, task.id, &self.id, &error.to_string(), Some(at)).await?;
                Outcome::Retrying(task.id)
            }
        };
        Ok(outcome)
    }

    /// Renews the lease every third of its length; returns only when the lease is lost.
    async fn keep_lease(&self, id: Uuid) {
        let every = self.cfg.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match repo::heartbeat(&self.db, id, &self.id, self.lease_ms()).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
        }
    }

    /// The loop: run due tasks and, now and then, the periodic jobs; on shutdown
    /// stop claiming, finishing (or, after the grace period, releasing) the task in hand.
    pub async fn run_until_stopped(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, "worker started");
        let mut next = vec![tokio::time::Instant::now(); self.periodic.len()];
        while !*shutdown.borrow() {
            self.run_due(&mut next).await;
            match self.execute(Some(shutdown.clone())).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "claiming a task failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.cfg.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.id, "worker stopped");
    }
}

async fn shutdown_then_grace(mut rx: watch::Receiver<bool>, grace: Duration) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            // The sender is gone: nobody will ask us to stop.
            std::future::pending::<()>().await;
        }
    }
    tokio::time::sleep(grace).await;
}
