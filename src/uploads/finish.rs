//! Ending uploads: completion (the store must hold exactly the declared bytes), abort
//! (reservation released, stored bytes removed) and reconciliation of expired uploads.

use chrono::Utc;
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::repo::{self, Upload, ABORTED, COMPLETED};
use super::service::UploadService;
use crate::archives::handler::PURGE_ATTEMPTS;
use crate::files::repo::{self as files, Node};
use crate::files::FileError;
use crate::quotas::repo as quotas;
use crate::tasks::repo::NewTask;
use crate::tasks::{now_ms, KIND_PURGE};

impl UploadService {
    /// Completes the upload: the store must hold exactly the declared bytes.
    #[instrument(skip_all, fields(upload.id = %id), err(Display))]
    pub async fn complete(&self, user: Uuid, id: Uuid) -> Result<Node, FileError> {
        let upload = self.find(user, id).await?;
        match upload.state.as_str() {
            COMPLETED => self.file_of(&upload).await,
            ABORTED => Err(FileError::UploadAborted),
            _ => self.complete_open(&upload).await,
        }
    }

    /// Completes an open upload if the store holds exactly its declared bytes.
    async fn complete_open(&self, upload: &Upload) -> Result<Node, FileError> {
        if let Some(mp) = upload.multipart_upload_id.as_deref() {
            let (parts, missing) = self.stored_parts(upload).await?;
            if !missing.is_empty() {
                return Err(FileError::UploadIncomplete { missing });
            }
            if let Err(e) = self
                .store
                .complete_multipart(&upload.object_key, mp, &parts)
                .await
            {
                // A concurrent complete may have finished it: the HEAD below decides.
                tracing::warn!(error = %e, "completing the multipart upload failed");
            }
        }
        let Some(meta) = self.store.head(&upload.object_key).await? else {
            return Err(FileError::UploadIncomplete {
                missing: Vec::new(),
            });
        };
        if meta.size != upload.declared_size as u64 {
            self.close_aborted(upload).await?;
            return Err(FileError::SizeMismatch {
                declared: upload.declared_size as u64,
                actual: meta.size,
            });
        }
        let txn = self.gate.begin(&self.db).await?;
        if !repo::close(&*txn, upload.id, COMPLETED).await? {
            txn.rollback().await?;
            // Someone closed it first: answer as they left it.
            let now = self.find(upload.user_id, upload.id).await?;
            return match now.state.as_str() {
                COMPLETED => self.file_of(&now).await,
                _ => {
                    self.store.delete(&upload.object_key).await?;
                    Err(FileError::UploadAborted)
                }
            };
        }
        quotas::commit(
            &*txn,
            upload.user_id,
            upload.declared_size,
            upload.declared_size,
        )
        .await?;
        if let Some(file_id) = upload.file_id {
            files::activate(&*txn, file_id, upload.declared_size, meta.etag.as_deref()).await?;
        }
        txn.commit().await?;
        tracing::info!(upload.id = %upload.id, "upload completed");
        self.file_of(upload).await
    }

    async fn file_of(&self, upload: &Upload) -> Result<Node, FileError> {
        let file_id = upload.file_id.ok_or(FileError::NotFound)?;
        files::find_owned(&self.db, upload.user_id, file_id)
            .await?
            .ok_or(FileError::NotFound)
    }

    /// Aborts an open upload; aborting an aborted upload is a no-op.
    #[instrument(skip_all, fields(upload.id = %id), err(Display))]
    pub async fn abort(&self, user: Uuid, id: Uuid) -> Result<(), FileError> {
        let upload = self.find(user, id).await?;
        match upload.state.as_str() {
            ABORTED => Ok(()),
            COMPLETED => Err(FileError::UploadCompleted),
            _ => self.close_aborted(&upload).await,
        }
    }

    /// Closes an open upload as aborted: reservation released and pending file removed
    /// in one transaction, then the store cleaned (multipart aborted, object deleted).
    pub async fn close_aborted(&self, upload: &Upload) -> Result<(), FileError> {
        let txn = self.gate.begin(&self.db).await?;
        if repo::close(&*txn, upload.id, ABORTED).await? {
            quotas::release(&*txn, upload.user_id, upload.declared_size).await?;
            if let Some(file_id) = upload.file_id {
                files::delete(&*txn, &[file_id]).await?;
            }
        }
        txn.commit().await?;
        if let Err(e) = self.clean_store(upload).await {
            // The rows are gone already; let the worker finish the job.
            tracing::warn!(error = %e, "store cleanup failed; purge enqueued");
            let payload = json!({
                "keys": [upload.object_key],
                "multipart": upload.multipart_upload_id.as_ref().map(|id| vec![json!({"key": upload.object_key, "upload_id": id})]),
            });
            crate::tasks::repo::enqueue(
                &self.db,
                NewTask {
                    kind: KIND_PURGE,
                    payload,
                    owner_id: None,
                    max_attempts: PURGE_ATTEMPTS,
                    run_after_ms: now_ms(),
                },
            )
            .await?;
        }
        tracing::info!(upload.id = %upload.id, "upload aborted");
        Ok(())
    }

    async fn clean_store(&self, upload: &Upload) -> Result<(), crate::storage::StorageError> {
        if let Some(mp) = upload.multipart_upload_id.as_deref() {
            self.store.abort_multipart(&upload.object_key, mp).await?;
        }
        self.store.delete(&upload.object_key).await
    }

    /// Ends open uploads past their expiry: completed when the store holds the declared
    /// bytes, aborted (reservation released) otherwise. Safe with several workers: every
    /// ending is a conditional update. Returns (completed, aborted).
    pub async fn reconcile_expired(&self, limit: u64) -> Result<(usize, usize), FileError> {
        let (mut completed, mut aborted) = (0, 0);
        for upload in repo::expired_open(&self.db, Utc::now(), limit).await? {
            match self.complete_open(&upload).await {
                Ok(_) => completed += 1,
                Err(FileError::UploadIncomplete { .. }) => {
                    self.close_aborted(&upload).await?;
                    aborted += 1;
                }
                Err(FileError::SizeMismatch { .. }) => aborted += 1,
                Err(e) => {
                    tracing::warn!(upload.id = %upload.id, error = %e, "reconciliation left the upload open")
                }
            }
        }
        if completed + aborted > 0 {
            tracing::info!(completed, aborted, "expired uploads reconciled");
        }
        Ok((completed, aborted))
    }
}
