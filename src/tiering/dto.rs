//! The cloud tier's admin API types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::entity::tier_runs::{self, RunState, RunTrigger};

/// One run of the sync.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TierRun {
    pub id: Uuid,
    pub trigger: RunTrigger,
    /// The time the schedule named (scheduled runs).
    pub scheduled_for: Option<DateTime<Utc>>,
    pub state: RunState,
    pub files_planned: i64,
    pub bytes_planned: i64,
    pub files_copied: i64,
    pub bytes_copied: i64,
    /// Files whose copy failed for good in this run (the next run tries them again).
    pub files_failed: i64,
    pub files_released: i64,
    pub bytes_released: i64,
    /// Files the lifecycle rules moved to the trash or deleted, and their bytes.
    pub files_expired: i64,
    pub bytes_expired: i64,
    /// Whether an admin confirmed a release the guard held.
    pub release_confirmed: bool,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<tier_runs::Model> for TierRun {
    fn from(m: tier_runs::Model) -> TierRun {
        TierRun {
            id: m.id,
            trigger: m.trigger,
            scheduled_for: m.scheduled_for,
            state: m.state,
            files_planned: m.files_planned,
            bytes_planned: m.bytes_planned,
            files_copied: m.files_copied,
            bytes_copied: m.bytes_copied,
            files_failed: m.files_failed,
            files_released: m.files_released,
            bytes_released: m.bytes_released,
            files_expired: m.files_expired,
            bytes_expired: m.bytes_expired,
            release_confirmed: m.release_confirmed,
            error: m.error,
            started_at: m.started_at,
            finished_at: m.finished_at,
        }
    }
}

/// A file whose cloud copy failed, and why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FailedCopy {
    pub file_id: Uuid,
    /// The file's name (null when it was deleted since).
    pub name: Option<String>,
    pub attempts: i32,
    pub error: Option<String>,
    pub failed_at: DateTime<Utc>,
}

/// Where the sync stands.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TierStatus {
    /// Whether a cloud tier is configured (`COFFER_TIER_S3_ENDPOINT`).
    pub enabled: bool,
    /// Active files without a verified cloud copy, whatever their age.
    pub pending_files: i64,
    pub pending_bytes: i64,
    /// Age of the oldest of them, in seconds.
    pub oldest_unsynced_age_seconds: Option<i64>,
    /// When the schedule runs the sync next.
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run: Option<TierRun>,
    /// Up to 100 failed copies, most recent first.
    pub failed: Vec<FailedCopy>,
}

/// What a run would do now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TierPlan {
    /// Files the run would copy, and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// Primary copies it would release now (verified, past the grace time), and their bytes.
    pub release_files: u64,
    pub release_bytes: u64,
    /// Bytes on the primary store.
    pub primary_bytes: i64,
    /// Whether that release exceeds the allowed share and would wait for a confirmation.
    pub release_needs_confirmation: bool,
    /// Files the lifecycle rules would move to the trash or delete, and their bytes.
    pub expire_files: u64,
    pub expire_bytes: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RunQuery {
    /// Only answer what a run would do.
    #[serde(default)]
    pub dry_run: bool,
}
