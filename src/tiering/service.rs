//! The cloud tier as the API and the scheduler see it: status, plans, starting runs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use uuid::Uuid;

use super::dto::{FailedCopy, TierPlan, TierRun, TierStatus};
use super::repo::{self, Policy};
use super::{RunPayload, KIND_TIER_RUN};
use crate::db::Db;
use crate::entity::tier_runs::RunTrigger;
use crate::error::AppError;
use crate::runtime::{Runtime, RuntimeSettings};
use crate::schedule::Schedule;
use crate::tasks::now_ms;
use crate::tasks::repo::{self as tasks, NewTask};

/// A run's task may be claimed again this often (a worker killed mid-run).
const RUN_ATTEMPTS: i32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum TierError {
    #[error("no cloud tier is configured")]
    Disabled,
    #[error("a run is in progress")]
    RunInProgress,
    #[error("no run waits for a confirmation")]
    NothingHeld,
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl From<TierError> for AppError {
    fn from(e: TierError) -> AppError {
        match e {
            TierError::Disabled => AppError::conflict(
                "TIERING_DISABLED",
                "No cloud tier is configured (COFFER_TIER_S3_ENDPOINT) and no lifecycle rule is set.",
            ),
            TierError::RunInProgress => AppError::conflict(
                "TIER_RUN_IN_PROGRESS",
                "A run of the sync is in progress or waits for a confirmation.",
            ),
            TierError::NothingHeld => {
                AppError::conflict("NO_HELD_RUN", "No run waits for a confirmation.")
            }
            TierError::Db(e) => e.into(),
        }
    }
}

#[derive(Clone)]
pub struct TierService {
    db: Db,
    runtime: Runtime,
    enabled: bool,
}

impl TierService {
    pub fn new(db: Db, runtime: Runtime, enabled: bool) -> TierService {
        TierService {
            db,
            runtime,
            enabled,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The runtime settings it reads.
    pub fn runtime(&self) -> Runtime {
        self.runtime.clone()
    }

    /// The files a run started now takes.
    async fn policy(&self, s: &RuntimeSettings) -> Result<Policy, DbErr> {
        let owners = match s.tier_users.is_empty() {
            true => None,
            false => Some(repo::user_ids(self.db.conn(), &s.tier_users).await?),
        };
        let age =
            chrono::Duration::seconds(s.tier_min_age_seconds.min(i64::MAX as u64 / 1000) as i64);
        Ok(Policy {
            changed_before: Utc::now() - age,
            min_size: s.tier_min_size_bytes.min(i64::MAX as u64) as i64,
            owners,
            max_bytes: s.tier_max_bytes_per_run,
        })
    }

    pub async fn status(&self) -> Result<TierStatus, TierError> {
        let db = self.db.conn();
        let s = self.runtime.get().await?;
        let (pending_files, pending_bytes, oldest) = repo::pending(db).await?;
        let now = Utc::now();
        let next_run_at = match self.enabled || !s.lifecycle_rules.is_empty() {
            true => Schedule::new(&s.tier_schedule, &s.tier_time_zone)
                .ok()
                .and_then(|sc| sc.next(now)),
            false => None,
        };
        let failed = repo::failed_copies(db, 100)
            .await?
            .into_iter()
            .map(|(c, name)| FailedCopy {
                file_id: c.file_id,
                name,
                attempts: c.attempts,
                error: c.error,
                failed_at: c.updated_at,
            })
            .collect();
        Ok(TierStatus {
            enabled: self.enabled,
            pending_files,
            pending_bytes,
            oldest_unsynced_age_seconds: oldest.map(|o| (now - o).num_seconds().max(0)),
            next_run_at,
            last_run: repo::last_run(db).await?.map(Into::into),
            failed,
        })
    }

    /// What a run started now would do.
    pub async fn plan(&self) -> Result<TierPlan, TierError> {
        let db = self.db.conn();
        let s = self.runtime.get().await?;
        if !self.enabled && s.lifecycle_rules.is_empty() {
            return Err(TierError::Disabled);
        }
        let (expire_files, expire_bytes) = expirable(db, &s).await?;
        let planned = match self.enabled {
            true => repo::plan(db, &self.policy(&s).await?).await?,
            false => Vec::new(),
        };
        let (release_files, release_bytes) = match s.tier_release_primary && self.enabled {
            true => {
                let before = Utc::now()
                    - chrono::Duration::seconds(
                        s.tier_release_grace_seconds.min(i64::MAX as u64 / 1000) as i64,
                    );
                let r = repo::releasable(db, before).await?;
                (r.len() as u64, r.iter().map(|r| r.size.max(0) as u64).sum())
            }
            false => (0, 0),
        };
        let primary_bytes = repo::primary_bytes(db).await?;
        Ok(TierPlan {
            files: planned.len() as u64,
            bytes: planned.iter().map(|p| p.size.max(0) as u64).sum(),
            release_files,
            release_bytes,
            primary_bytes,
            release_needs_confirmation: release_bytes as i128 * 100
                > s.tier_release_max_percent as i128 * primary_bytes.max(0) as i128,
            expire_files,
            expire_bytes,
        })
    }

    /// Plans a run and queues it. A scheduled run that another worker planned already
    /// answers `None`.
    pub async fn start(
        &self,
        trigger: RunTrigger,
        scheduled_for: Option<DateTime<Utc>>,
    ) -> Result<Option<TierRun>, TierError> {
        let s = self.runtime.get().await?;
        if !self.enabled && s.lifecycle_rules.is_empty() {
            return Err(TierError::Disabled);
        }
        let policy = self.policy(&s).await?;
        let txn = self.db.write().await?;
        if repo::open_run(&*txn).await?.is_some() {
            txn.rollback().await?;
            return Err(TierError::RunInProgress);
        }
        // Without a cloud tier a run only applies the lifecycle rules.
        let planned = match self.enabled {
            true => repo::plan(&*txn, &policy).await?,
            false => Vec::new(),
        };
        let id = Uuid::new_v4();
        if let Err(e) = repo::create_run(&*txn, id, trigger, scheduled_for, &planned).await {
            txn.rollback().await?;
            // Another replica planned this scheduled run, or opened a run, meanwhile.
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) {
                return match scheduled_for {
                    Some(_) => Ok(None),
                    None => Err(TierError::RunInProgress),
                };
            }
            return Err(e.into());
        }
        enqueue_run(&*txn, id).await?;
        let run = repo::run(&*txn, id).await?;
        txn.commit().await?;
        tracing::info!(run = %id, files = planned.len(), ?trigger, "tier run planned");
        Ok(run.map(Into::into))
    }

    /// Confirms the release a run holds; it goes on.
    pub async fn confirm(&self) -> Result<Uuid, TierError> {
        let txn = self.db.write().await?;
        let Some(id) = repo::confirm_held(&*txn).await? else {
            txn.rollback().await?;
            return Err(TierError::NothingHeld);
        };
        enqueue_run(&*txn, id).await?;
        txn.commit().await?;
        Ok(id)
    }

    pub async fn run(&self, id: Uuid) -> Result<Option<TierRun>, TierError> {
        Ok(repo::run(self.db.conn(), id).await?.map(Into::into))
    }

    /// Starts the scheduled run that is due, if any: the latest time the schedule names
    /// that is later than the last scheduled run (or, when there was none, than
    /// `since`). One missed while no worker ran is caught up once.
    pub async fn run_if_due(&self, since: DateTime<Utc>) -> Result<Option<TierRun>, TierError> {
        let s = self.runtime.get().await?;
        if !self.enabled && s.lifecycle_rules.is_empty() {
            return Ok(None);
        }
        let schedule = match Schedule::new(&s.tier_schedule, &s.tier_time_zone) {
            Ok(schedule) => schedule,
            Err(e) => {
                tracing::warn!(error = %e, "the tier schedule is not valid");
                return Ok(None);
            }
        };
        let Some(due) = schedule.latest(Utc::now()) else {
            return Ok(None);
        };
        let after = repo::last_scheduled(self.db.conn()).await?.unwrap_or(since);
        if due <= after {
            return Ok(None);
        }
        match self.start(RunTrigger::Scheduled, Some(due)).await {
            // Tried again on the next tick, after the run in progress.
            Err(TierError::RunInProgress) => Ok(None),
            other => other,
        }
    }
}

/// What the lifecycle rules match now, each file once: files and bytes.
async fn expirable(
    db: &impl sea_orm::ConnectionTrait,
    s: &RuntimeSettings,
) -> Result<(u64, u64), DbErr> {
    let now = Utc::now();
    let mut seen = std::collections::HashSet::new();
    let mut bytes = 0u64;
    for rule in &s.lifecycle_rules {
        for (id, _, size) in repo::expirable(db, rule, now).await? {
            if seen.insert(id) {
                bytes += size.max(0) as u64;
            }
        }
    }
    Ok((seen.len() as u64, bytes))
}

async fn enqueue_run(db: &impl sea_orm::ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    tasks::enqueue(
        db,
        NewTask {
            kind: KIND_TIER_RUN,
            payload: serde_json::to_value(RunPayload { run_id: id })
                .map_err(|e| DbErr::Json(e.to_string()))?,
            owner_id: None,
            max_attempts: RUN_ATTEMPTS,
            run_after_ms: now_ms(),
        },
    )
    .await?;
    Ok(())
}

/// The worker's periodic look at the schedule.
pub struct ScheduleJob {
    pub service: TierService,
    /// When this worker started: a schedule's first run is the first time it names
    /// after that.
    pub since: DateTime<Utc>,
}

#[async_trait]
impl crate::tasks::worker::Periodic for ScheduleJob {
    fn name(&self) -> &'static str {
        "tier_schedule"
    }

    async fn run(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.service.run_if_due(self.since).await?;
        Ok(())
    }
}
