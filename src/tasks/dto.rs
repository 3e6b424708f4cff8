//! Response types of the tasks API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::TaskState;

/// How far a zip task got; written by the worker as the task's `progress`.
#[derive(Serialize, Deserialize, ToSchema, Default)]
pub struct TaskProgress {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TaskDownload {
    /// A presigned GET of the archive. A bearer credential: do not share or log it.
    pub url: String,
    pub expires_at: DateTime<Utc>,
    /// When the archive itself is deleted.
    pub archive_expires_at: DateTime<Utc>,
    pub size: u64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TaskResponse {
    pub id: Uuid,
    #[schema(example = "zip")]
    pub kind: String,
    pub state: TaskStatus,
    pub attempts: i32,
    pub progress: TaskProgress,
    /// When done: where to download the result.
    pub download: Option<TaskDownload>,
    /// When failed: what went wrong, in general terms.
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TaskAccepted {
    pub task_id: Uuid,
    pub state: TaskState,
}

/// A task's state as the API shows it: the stored state, or `expired` for a finished
/// archive that was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Running,
    Done,
    Failed,
    Expired,
}

impl From<TaskState> for TaskStatus {
    fn from(s: TaskState) -> TaskStatus {
        match s {
            TaskState::Queued => TaskStatus::Queued,
            TaskState::Running => TaskStatus::Running,
            TaskState::Done => TaskStatus::Done,
            TaskState::Failed => TaskStatus::Failed,
        }
    }
}

/// What a finished zip task stores as its result (not an API type: the API presents it
/// as a [`TaskDownload`]).
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub struct ZipResult {
    /// The archive's object key.
    pub key: String,
    /// The file name the download presents.
    pub name: String,
    pub size: u64,
    pub entries: u64,
    /// When the archive is purged, in milliseconds since the epoch.
    pub expires_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_results_keep_the_stored_shape() {
        // The shape earlier versions stored: a queued result must still read.
        let stored = serde_json::json!({
            "key": "archives/t.zip", "name": "bundle.zip", "size": 42,
            "entries": 3, "expires_at_ms": 1_700_000_000_000i64,
        });
        let result: ZipResult = serde_json::from_value(stored.clone()).expect("reads");
        assert_eq!(result.name, "bundle.zip");
        assert_eq!(serde_json::to_value(&result).expect("writes"), stored);
    }
}
