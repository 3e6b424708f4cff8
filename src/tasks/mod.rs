//! The SQL task queue shared by `cofferd` (which enqueues) and the workers (which claim
//! with a lease, renew it while working, retry with backoff, and finally fail keeping
//! the error).

pub mod dto;
pub mod purge;
pub mod repo;
pub mod worker;

use uuid::Uuid;

pub use crate::entity::tasks::TaskState;

/// Task kinds.
pub const KIND_ZIP: &str = "zip";
pub const KIND_PURGE: &str = "purge";
pub const KIND_DELETE_ARCHIVE: &str = "delete_archive";

/// A claimed or stored task.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    pub owner_id: Option<Uuid>,
    pub state: TaskState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub progress: Option<serde_json::Value>,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl From<crate::entity::tasks::Model> for Task {
    fn from(m: crate::entity::tasks::Model) -> Task {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        Task {
            id: m.id,
            kind: m.kind,
            payload: serde_json::from_str(&m.payload).unwrap_or(serde_json::Value::Null),
            owner_id: m.owner_id,
            state: m.state,
            attempts: m.attempts,
            max_attempts: m.max_attempts,
            progress: parse(m.progress),
            result: parse(m.result),
            error: m.error,
        }
    }
}

/// Milliseconds since the epoch: how the queue keeps time, identically on every backend.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
