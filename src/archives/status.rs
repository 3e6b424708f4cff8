//! What a task's owner, or a share link's holder, sees of an archive task: its state
//! and progress and, once the bundle is built, a presigned download of it.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde::Deserialize as _;
use uuid::Uuid;

use super::service::{ArchiveService, ZipPlan};
use super::ArchiveError;
use crate::files::access::Actor;
use crate::files::download::content_disposition;
use crate::files::FileError;
use crate::storage::GetOptions;
use crate::tasks::dto::{TaskDownload, TaskProgress, TaskResponse, TaskStatus, ZipResult};
use crate::tasks::{repo, Task, TaskState};

impl ArchiveService {
    /// A task of `actor`'s, with a download when it is a finished archive. A token
    /// confined to a folder sees only the archives asked for under that confinement.
    pub async fn task(&self, actor: Actor, id: Uuid) -> Result<TaskResponse, ArchiveError> {
        let task = repo::find_owned(&self.db, actor.id, id)
            .await?
            .ok_or(FileError::NotFound)?;
        if actor.root.is_some() {
            let root = ZipPlan::deserialize(&task.payload)
                .ok()
                .and_then(|p| p.root);
            if root != actor.root {
                return Err(FileError::NotFound.into());
            }
        }
        self.describe(&task, self.runtime.get().await?.presign_ttl())
            .await
    }

    /// The "download all" task of share link `link`; its download lives at most `ttl`.
    pub async fn link_task(
        &self,
        link: Uuid,
        id: Uuid,
        ttl: Duration,
    ) -> Result<TaskResponse, ArchiveError> {
        let task = repo::find_for_link(&self.db, link, id)
            .await?
            .ok_or(FileError::NotFound)?;
        let ttl = ttl.min(self.runtime.get().await?.presign_ttl());
        self.describe(&task, ttl).await
    }

    /// A task as the API shows it; a finished archive comes with a GET that lives `ttl`.
    async fn describe(&self, task: &Task, ttl: Duration) -> Result<TaskResponse, ArchiveError> {
        let progress = task
            .progress
            .as_ref()
            .and_then(|p| TaskProgress::deserialize(p).ok())
            .unwrap_or_default();
        let mut body = TaskResponse {
            id: task.id,
            kind: task.kind.clone(),
            state: task.state.into(),
            attempts: task.attempts,
            progress,
            download: None,
            error: (task.state == TaskState::Failed)
                .then(|| format!("The task failed after {} attempts.", task.attempts)),
        };
        if task.state == TaskState::Done {
            // A result that does not read as a zip result (none should) counts as expired.
            if let Some(result) = task.result.as_ref() {
                let Ok(result) = ZipResult::deserialize(result) else {
                    body.state = TaskStatus::Expired;
                    return Ok(body);
                };
                let archive_expires_at = Utc
                    .timestamp_millis_opt(result.expires_at_ms)
                    .single()
                    .unwrap_or_else(Utc::now);
                match archive_expires_at > Utc::now() {
                    true => {
                        let options = GetOptions {
                            content_disposition: content_disposition(&result.name),
                            content_type: "application/zip".into(),
                        };
                        let url = self.store.presign_get(&result.key, &options, ttl).await?;
                        tracing::info!(task.id = %task.id, presign = "get", "archive URL issued");
                        body.download = Some(TaskDownload {
                            url,
                            expires_at: Utc::now() + ttl,
                            archive_expires_at,
                            size: result.size,
                        });
                    }
                    false => body.state = TaskStatus::Expired,
                }
            }
        }
        Ok(body)
    }
}
