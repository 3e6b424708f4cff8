//! Uploads whose size is not known beforehand (the benchwrap protocol): the start
//! reserves the most such an upload may hold and hands out a PUT URL that pins nothing
//! but the key; nobody says when the PUT is done. The server notices the object (a
//! HEAD, whenever the uploader calls again and from the worker's poll), then turns the
//! reservation into the real size in one transaction under the owner's lock, like any
//! completion — or, when more arrived than was reserved, deletes it and releases all.
//!
//! An unsized upload of a name that holds an active file replaces that file's content
//! when it arrives: same file id, the new object, the old one purged, usage corrected
//! by the difference. A later start of the same name ends an earlier open one (the
//! later start wins).

use std::collections::BTreeSet;

use chrono::Utc;
use uuid::Uuid;

use super::repo::{self, Upload, UploadState, UNSIZED};
use super::reserve::{Reservation, Reserved};
use super::service::{Presigned, UploadService};
use super::UploadError;
use crate::auth::api_tokens::repo as api_tokens;
use crate::files::access::Actor;
use crate::files::repo::{self as files, FileState, Node};
use crate::files::FileError;
use crate::jobs::repo as jobs;
use crate::quotas::repo as quotas;
use crate::storage::keys;
use crate::tasks::now_ms;
use crate::tasks::purge::{self, PurgePayload};

/// Where noticing an unsized upload left it.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a short-lived return value
pub enum Noticed {
    /// Nothing stored under its key yet.
    NotYet,
    /// Completed: the file as it is now.
    Completed(Node),
    /// More bytes arrived than it reserved: deleted, everything released.
    Refused { size: u64 },
    /// Ended by someone else meanwhile.
    Gone,
}

/// Attempts at a start whose name keeps changing under it (the first reserves blind).
const START_ATTEMPTS: usize = 4;

impl UploadService {
    /// Starts an unsized upload of `name` in `parent` (a folder `actor` owns), reserving
    /// `max` bytes. Replaces the name's active file once it arrives; ends an earlier
    /// open unsized upload of the name.
    pub async fn start_unsized(
        &self,
        actor: Actor,
        parent: Uuid,
        name: &str,
        content_type: &str,
        max: u64,
        job: Option<Uuid>,
    ) -> Result<(Upload, Presigned), UploadError> {
        let max = i64::try_from(max).map_err(|_| UploadError::TooLarge { max })?;
        // A new name is the common case: reserve first, look at the name once it is taken.
        let mut look = false;
        for _ in 0..START_ATTEMPTS {
            let existing = match look {
                true => files::find_by_name(self.db.conn(), actor.id, Some(parent), name).await?,
                false => None,
            };
            look = true;
            let upload = match existing {
                None => {
                    match self
                        .reserver
                        .reserve(Reservation {
                            owner: actor.id,
                            created_by: None,
                            token: actor.token,
                            parent: Some(parent),
                            object_key: keys::object_key(actor.id, name),
                            name: name.to_owned(),
                            size: max,
                            content_type: content_type.to_owned(),
                            part_size: None,
                            part_count: UNSIZED,
                            expires_at: Utc::now() + self.cfg.upload_expiry,
                            job,
                            checksum: None,
                        })
                        .await?
                    {
                        Reserved::Created(_, upload) => upload,
                        Reserved::NameTaken => continue,
                        Reserved::QuotaExceeded => return Err(UploadError::QuotaExceeded),
                        Reserved::BudgetExceeded => return Err(UploadError::BudgetExceeded),
                        Reserved::TokenRevoked => return Err(UploadError::TokenRevoked),
                        Reserved::ParentGone => return Err(FileError::NotFound.into()),
                    }
                }
                Some(node) if node.is_folder() => return Err(FileError::NameTaken.into()),
                Some(node) if node.state == FileState::Pending => {
                    // An earlier start of the name, still open: the later start wins.
                    match repo::find_open_for_file(self.db.conn(), node.id).await? {
                        Some(earlier) if earlier.is_unsized() => {
                            self.close_aborted(&earlier).await?;
                        }
                        Some(_) => return Err(FileError::NameTaken.into()),
                        None => {}
                    }
                    continue;
                }
                Some(node) => match self
                    .start_replacement(actor, &node, content_type, max, job)
                    .await?
                {
                    Some(upload) => upload,
                    None => continue,
                },
            };
            let ttl = self.presign_ttl().await?;
            let url = self
                .store
                .presign_put_unsized(&upload.object_key, ttl)
                .await?;
            tracing::info!(upload.id = %upload.id, presign = "put", "unsized upload URL issued");
            return Ok((
                upload,
                Presigned {
                    url,
                    expires_at: Utc::now() + ttl,
                },
            ));
        }
        Err(FileError::NameTaken.into())
    }

    /// An open unsized upload that will replace the active file `file`, in one
    /// transaction under the owner's lock that also ends the file's earlier open
    /// uploads. `None` when the file is no longer an active file.
    async fn start_replacement(
        &self,
        actor: Actor,
        file: &Node,
        content_type: &str,
        max: i64,
        job: Option<Uuid>,
    ) -> Result<Option<Upload>, UploadError> {
        let late = purge::late_sweep_at(self.presign_ttl().await?);
        let upload = Upload {
            id: Uuid::now_v7(),
            user_id: file.owner_id,
            file_id: Some(file.id),
            object_key: keys::object_key(file.owner_id, &file.name),
            declared_size: max,
            content_type: content_type.to_owned(),
            multipart_upload_id: None,
            part_size: None,
            part_count: UNSIZED,
            expires_at: Utc::now() + self.cfg.upload_expiry,
            state: UploadState::Open,
            created_by: None,
            token_id: actor.token,
            job_id: job,
        };
        let txn = self.db.write().await?;
        if !quotas::lock(&*txn, file.owner_id).await? {
            return Err(FileError::NotFound.into());
        }
        let now = files::find(&*txn, file.id).await?;
        if !now.is_some_and(|n| n.state == FileState::Active && !n.is_folder()) {
            return Ok(None);
        }
        let earlier = repo::open_of_file(&*txn, file.id).await?;
        let mut ended = Vec::new();
        for e in earlier {
            if repo::close(&*txn, e.id, UploadState::Aborted).await? {
                ended.push(e);
            }
        }
        if !ended.is_empty() {
            let bytes = ended.iter().map(|u| u.declared_size).sum();
            quotas::release(&*txn, file.owner_id, bytes, ended.len() as i64).await?;
            super::finish::refund_budgets(&*txn, &ended).await?;
            let keys: Vec<String> = ended.iter().map(|u| u.object_key.clone()).collect();
            purge::enqueue(&*txn, PurgePayload::keys(keys.clone()), now_ms()).await?;
            purge::enqueue(&*txn, PurgePayload::keys(keys), late).await?;
        }
        if let Some(token) = actor.token {
            let budgets = api_tokens::locked_budgets(&*txn, &BTreeSet::from([token])).await?;
            match budgets.get(&token) {
                None => return Err(UploadError::TokenRevoked),
                Some(b) if !b.fits(max) => return Err(UploadError::BudgetExceeded),
                Some(_) => api_tokens::charge(&*txn, token, max).await?,
            }
        }
        if !quotas::reserve_if_fits(&*txn, file.owner_id, max, 1).await? {
            return Err(UploadError::QuotaExceeded);
        }
        repo::insert_open(&*txn, &upload).await?;
        txn.commit().await?;
        Ok(Some(upload))
    }

    /// Looks for the object of an open unsized upload and, when it is there, completes
    /// the upload with the size found (or refuses it when larger than reserved).
    pub async fn notice(&self, upload: &Upload) -> Result<Noticed, UploadError> {
        let Some(meta) = self.store.head(&upload.object_key).await? else {
            return Ok(Noticed::NotYet);
        };
        if meta.size > upload.declared_size as u64 {
            if !self.close_aborted(upload).await? {
                return Ok(Noticed::Gone);
            }
            tracing::info!(upload.id = %upload.id, size = meta.size, "unsized upload larger than reserved: deleted");
            return Ok(Noticed::Refused { size: meta.size });
        }
        let size = meta.size as i64;
        let late = purge::late_sweep_at(self.presign_ttl().await?);
        let txn = self.db.write().await?;
        if !(quotas::lock(&*txn, upload.user_id).await?
            && repo::close(&*txn, upload.id, UploadState::Completed).await?)
        {
            txn.rollback().await?;
            return Ok(Noticed::Gone);
        }
        let file_id = upload.file_id.ok_or(FileError::NotFound)?;
        let etag = meta.etag.as_deref();
        if files::activate(&*txn, file_id, size, etag, None).await? {
            quotas::commit(&*txn, upload.user_id, upload.declared_size, size).await?;
        } else if let Some(old) =
            files::replace_content(&*txn, file_id, &upload.object_key, size, etag).await?
        {
            quotas::commit_replacement(&*txn, upload.user_id, upload.declared_size, old.size, size)
                .await?;
            // Once the download URLs handed out for the old content have expired.
            let old_key = old.object_key.into_iter().collect();
            purge::enqueue(&*txn, PurgePayload::keys(old_key), late).await?;
        } else {
            // Its file was deleted meanwhile (which would have ended it): end it.
            txn.rollback().await?;
            self.close_aborted(upload).await?;
            return Ok(Noticed::Gone);
        }
        if let Some(token) = upload.token_id {
            // The token was charged the most the upload could hold: give back the rest.
            api_tokens::charge(&*txn, token, size - upload.declared_size).await?;
        }
        if let Some(job) = upload.job_id {
            jobs::attach(&*txn, job, file_id).await?;
        }
        txn.commit().await?;
        self.files.forget(file_id);
        tracing::info!(upload.id = %upload.id, "unsized upload completed");
        let node = files::find(self.db.conn(), file_id)
            .await?
            .ok_or(FileError::NotFound)?;
        Ok(Noticed::Completed(node))
    }

    /// Completes an unsized upload when its object has arrived.
    pub(super) async fn complete_unsized(&self, upload: &Upload) -> Result<Node, UploadError> {
        match self.notice(upload).await? {
            Noticed::Completed(node) => Ok(node),
            Noticed::NotYet => Err(UploadError::Incomplete {
                missing: Vec::new(),
            }),
            Noticed::Refused { .. } => Err(UploadError::TooLarge {
                max: upload.declared_size as u64,
            }),
            Noticed::Gone => self.answer_closed(upload).await,
        }
    }

    /// Notices the open unsized uploads of `user` (of everyone when `None`) whose PUT
    /// URL may still be in use or just was (started within the presign lifetime and a
    /// minute), at most `limit`, newest first; returns each with where it was left.
    /// Older ones cannot receive bytes any more: they are looked at once more when they
    /// expire (see [`UploadService::reconcile_expired`]).
    pub async fn notice_open(
        &self,
        user: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<(Upload, Noticed)>, UploadError> {
        let live = self.presign_ttl().await? + std::time::Duration::from_secs(60);
        let since = Utc::now() - live;
        let mut out = Vec::new();
        for upload in repo::open_unsized(self.db.conn(), user, since, limit).await? {
            let noticed = self.notice(&upload).await?;
            out.push((upload, noticed));
        }
        Ok(out)
    }
}
