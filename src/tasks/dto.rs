//! Response types of the tasks API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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
    /// `queued`, `running`, `done`, `failed` or `expired` (done, archive deleted).
    #[schema(example = "running")]
    pub state: String,
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
    pub state: String,
}
