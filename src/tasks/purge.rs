//! Purges: objects (and multipart uploads) whose rows are gone, deleted by the worker.
//! A purge is enqueued in the same transaction that removes the rows, so no object can
//! outlive its row unnoticed; objects awaiting a purge count as accounted for.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::repo::{self as tasks, NewTask};
use super::worker::{Handler, TaskContext, TaskError};
use super::{now_ms, Task, KIND_PURGE};
use crate::entity::file_copies::CopyLocation;
use crate::storage::ObjectStore;

/// Attempts a purge gets.
pub const PURGE_ATTEMPTS: i32 = 10;
/// Objects per purge task.
pub const PURGE_BATCH: usize = 1000;
/// How long after the last presigned URL of a key expires its late sweep runs.
pub const LATE_SWEEP_MARGIN_MS: i64 = 60_000;

/// A multipart upload to abort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartRef {
    pub key: String,
    pub upload_id: String,
}

/// What a purge deletes: the `keys` listed, the multipart uploads, and everything under
/// `prefix` when given (a deleted user's) -- in every store (the primary and, when one
/// is configured, the cloud tier), or only in `only`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgePayload {
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub multipart: Vec<MultipartRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Only this store (a released primary copy); every store when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<CopyLocation>,
}

/// What a finished purge records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeResult {
    /// Objects deleted (or already gone).
    pub deleted: usize,
}

impl PurgePayload {
    pub fn keys(keys: Vec<String>) -> PurgePayload {
        PurgePayload {
            keys,
            ..PurgePayload::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.multipart.is_empty() && self.prefix.is_none()
    }

    /// The payload of a queued purge task; `None` when it is not one.
    pub fn of(task: &Task) -> Option<PurgePayload> {
        (task.kind == KIND_PURGE)
            .then(|| serde_json::from_value(task.payload.clone()).ok())
            .flatten()
    }
}

/// Enqueues a purge of `payload` due at `run_after_ms`, in batches of [`PURGE_BATCH`]
/// keys; nothing when it is empty. Returns the first task's id.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    mut payload: PurgePayload,
    run_after_ms: i64,
) -> Result<Option<Uuid>, DbErr> {
    let mut first = None;
    while !payload.is_empty() {
        let rest = payload.keys.split_off(payload.keys.len().min(PURGE_BATCH));
        let only = payload.only;
        let batch = std::mem::replace(
            &mut payload,
            PurgePayload {
                only,
                ..PurgePayload::keys(rest)
            },
        );
        let id = tasks::enqueue(
            db,
            NewTask {
                kind: KIND_PURGE,
                payload: serde_json::to_value(&batch).map_err(|e| DbErr::Json(e.to_string()))?,
                owner_id: None,
                max_attempts: PURGE_ATTEMPTS,
                run_after_ms,
            },
        )
        .await?;
        first.get_or_insert(id);
    }
    Ok(first)
}

/// When the late sweep of keys whose presigned URLs live `ttl` from now runs.
pub fn late_sweep_at(ttl: std::time::Duration) -> i64 {
    now_ms() + ttl.as_millis() as i64 + LATE_SWEEP_MARGIN_MS
}

/// Runs purges. Idempotent: a missing object or upload is not an error.
pub struct PurgeHandler {
    /// The cloud tier, whose copies go with the primary ones.
    pub cloud: Option<Arc<dyn ObjectStore>>,
}

impl PurgeHandler {
    /// The stores a payload names, with the location of each.
    fn stores<'a>(
        &'a self,
        ctx: &'a TaskContext,
        only: Option<CopyLocation>,
    ) -> Vec<(CopyLocation, &'a Arc<dyn ObjectStore>)> {
        let mut stores = Vec::with_capacity(2);
        if only != Some(CopyLocation::Cloud) {
            stores.push((CopyLocation::Primary, &ctx.store));
        }
        if let (Some(cloud), true) = (&self.cloud, only != Some(CopyLocation::Primary)) {
            stores.push((CopyLocation::Cloud, cloud));
        }
        stores
    }
}

#[async_trait]
impl Handler for PurgeHandler {
    async fn run(&self, ctx: &TaskContext, task: &Task) -> Result<serde_json::Value, TaskError> {
        let payload: PurgePayload =
            serde_json::from_value(task.payload.clone()).map_err(TaskError::Payload)?;
        let mut deleted = 0;
        for (location, store) in self.stores(ctx, payload.only) {
            // Multipart uploads are the primary store's (the sync aborts its own).
            if location == CopyLocation::Primary {
                for u in &payload.multipart {
                    store.abort_multipart(&u.key, &u.upload_id).await?;
                }
            }
            let mut keys = payload.keys.clone();
            // A deleted user's prefix: whatever is under it now, including objects put
            // by URLs handed out before the deletion.
            if let Some(prefix) = payload.prefix.as_deref().filter(|p| !p.is_empty()) {
                let listed = store.list(prefix).await?;
                keys.extend(listed.into_iter().map(|(key, _)| key));
            }
            for key in &keys {
                store.delete(key).await?;
            }
            deleted = deleted.max(keys.len());
        }
        Ok(serde_json::to_value(PurgeResult { deleted })?)
    }
}
