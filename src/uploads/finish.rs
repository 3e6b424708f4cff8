//! Ending uploads: completion (the store must hold exactly the declared bytes), abort
//! (reservation released, stored bytes removed) and reconciliation of expired uploads.
//! Each ending is one transaction under the owner's lock (see
//! [`crate::quotas::repo::lock`]) that moves the upload out of `open` — which succeeds
//! for exactly one caller — so a reservation turns into usage or is released once.

use std::collections::HashMap;

use chrono::Utc;
use tracing::instrument;
use uuid::Uuid;

use super::repo::{self, Upload, UploadState};
use super::service::UploadService;
use super::UploadError;
use crate::auth::api_tokens::repo as api_tokens;
use crate::files::access::Actor;
use crate::files::repo::{self as files, Node};
use crate::files::FileError;
use crate::quotas::repo as quotas;
use crate::storage::ObjectMeta;
use crate::tasks::purge::{self, MultipartRef, PurgePayload};
use crate::tasks::worker::Periodic;

/// Completions of one batch run this many at a time.
const COMPLETING_AT_ONCE: usize = 8;

/// The owner prefix of an object key (`<owner>/`).
fn prefix_of(key: &str) -> &str {
    key.find('/').map_or("", |i| &key[..=i])
}

impl UploadService {
    /// Completes the upload: the store must hold exactly the declared bytes.
    /// `checksum_sha256`, multipart uploads only, is the whole file's SHA-256 as the
    /// client computed it while sending the parts (the store verified each part's MD5):
    /// recorded in the file's metadata as declared.
    #[instrument(skip_all, fields(upload.id = %id), err(level = "info", Display))]
    pub async fn complete(
        &self,
        actor: Actor,
        id: Uuid,
        checksum_sha256: Option<&str>,
    ) -> Result<Node, UploadError> {
        let upload = self.find(actor, id).await?;
        let declared = match checksum_sha256 {
            None => None,
            Some(_) if upload.multipart_upload_id.is_none() => {
                return Err(UploadError::Checksum(
                    "A single-part upload's checksum is declared at start, where it is \
                     signed into the PUT; checksum_sha256 at complete is for multipart \
                     uploads."
                        .into(),
                ))
            }
            Some(c) => Some(super::service::sha256_checksum(c)?),
        };
        self.complete_found(&upload, declared.as_deref(), None)
            .await
    }

    /// Completes a found upload; `listed` is what a listing of the store showed of its
    /// object (it is looked up otherwise).
    async fn complete_found(
        &self,
        upload: &Upload,
        declared: Option<&str>,
        listed: Option<ObjectMeta>,
    ) -> Result<Node, UploadError> {
        match upload.state {
            UploadState::Completed => self.file_of(upload).await,
            UploadState::Aborted => Err(UploadError::Aborted),
            _ if upload.is_unsized() => self.complete_unsized(upload).await,
            _ => self.complete_open_with(upload, declared, listed).await,
        }
    }

    /// Completes up to a thousand uploads, each as [`Self::complete`] does, with one
    /// result per id in order. The uploads are read in one query and the single-part
    /// objects looked for with LIST requests (their time-ordered keys sit side by side)
    /// instead of a HEAD each; those the listing shows whole are completed together in
    /// one transaction. Every other one (multipart, unsized, closed, not listed, the
    /// wrong size, someone else's) takes [`Self::complete`]'s own path.
    pub async fn complete_many(
        &self,
        actor: Actor,
        ids: Vec<Uuid>,
    ) -> Vec<(Uuid, Result<Node, UploadError>)> {
        use futures_util::StreamExt as _;
        let mut found: HashMap<Uuid, Upload> =
            match repo::find_owned_many(self.db.conn(), actor.id, &ids).await {
                // Another owner's upload (a shared folder's) is checked one by one.
                Ok(all) => all
                    .into_iter()
                    .filter(|u| u.user_id == actor.id && actor.root.is_none())
                    .map(|u| (u.id, u))
                    .collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "reading a batch of uploads failed");
                    HashMap::new()
                }
            };
        let keys: Vec<&str> = found
            .values()
            .filter(|u| {
                u.state == UploadState::Open && !u.is_unsized() && u.multipart_upload_id.is_none()
            })
            .map(|u| u.object_key.as_str())
            .collect();
        let listed = self.listed(keys).await;
        let whole: Vec<(Upload, ObjectMeta)> = ids
            .iter()
            .filter_map(|id| {
                let u = found.get(id)?;
                let meta = listed.get(&u.object_key)?;
                let whole = u.state == UploadState::Open
                    && !u.is_unsized()
                    && u.multipart_upload_id.is_none()
                    && meta.size == u.declared_size as u64;
                let meta = meta.clone();
                whole.then(|| found.remove(id)).flatten().map(|u| (u, meta))
            })
            .collect();
        let mut done = match self.complete_listed(&whole).await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "completing a batch together failed; one by one");
                HashMap::new()
            }
        };
        let listed = &listed;
        let found = &found;
        let mut rest: HashMap<Uuid, Result<Node, UploadError>> =
            futures_util::stream::iter(ids.iter().filter(|id| !done.contains_key(id)))
                .map(|&id| async move {
                    let upload = match found.get(&id) {
                        Some(u) => Ok(u.clone()),
                        None => self.find(actor, id).await,
                    };
                    let result = match upload {
                        Ok(u) => {
                            let seen = listed.get(&u.object_key).cloned();
                            self.complete_found(&u, None, seen).await
                        }
                        Err(e) => Err(e),
                    };
                    (id, result)
                })
                .buffer_unordered(COMPLETING_AT_ONCE)
                .collect()
                .await;
        ids.into_iter()
            .map(|id| {
                let result = match done.remove(&id) {
                    Some(node) => Ok(node),
                    None => rest.remove(&id).unwrap_or(Err(FileError::NotFound.into())),
                };
                (id, result)
            })
            .collect()
    }

    /// Completes open single-part uploads whose objects a listing showed with their
    /// declared size, in one transaction: under each owner's lock (owners in id order),
    /// each upload is closed and its pending file activated, and the owner's
    /// reservations turn into usage at once. Returns the files of those it completed;
    /// one found closed meanwhile, or without its pending file, is left to the caller.
    async fn complete_listed(
        &self,
        whole: &[(Upload, ObjectMeta)],
    ) -> Result<HashMap<Uuid, Node>, UploadError> {
        if whole.is_empty() {
            return Ok(HashMap::new());
        }
        let mut by_owner: std::collections::BTreeMap<Uuid, Vec<&(Upload, ObjectMeta)>> =
            Default::default();
        for item in whole {
            by_owner.entry(item.0.user_id).or_default().push(item);
        }
        let mut completed: Vec<(Uuid, Uuid)> = Vec::with_capacity(whole.len());
        let txn = self.db.write().await?;
        for (owner, items) in by_owner {
            if !quotas::lock(&*txn, owner).await? {
                continue;
            }
            // Every ending takes the owner's lock: what is open now stays so until this
            // commits, and an open upload has its pending file.
            let ids: Vec<Uuid> = items.iter().map(|(u, _)| u.id).collect();
            let open = repo::open_among(&*txn, &ids).await?;
            let (mut bytes, mut closing) = (0, Vec::with_capacity(items.len()));
            for (upload, meta) in items {
                let Some(file_id) = upload.file_id.filter(|_| open.contains(&upload.id)) else {
                    continue;
                };
                let etag = meta.etag.as_deref();
                if files::activate(&*txn, file_id, upload.declared_size, etag, None).await? {
                    bytes += upload.declared_size;
                    closing.push(upload.id);
                    completed.push((upload.id, file_id));
                }
            }
            let closed = repo::close_many(&*txn, &closing, UploadState::Completed).await?;
            if closed != closing.len() as u64 {
                // Cannot happen under the lock; if it did, nothing is committed.
                txn.rollback().await?;
                return Err(sea_orm::DbErr::Custom(format!(
                    "{closed} of {} uploads closed under their owner's lock",
                    closing.len()
                ))
                .into());
            }
            quotas::commit_many(&*txn, owner, bytes, bytes, closing.len() as i64).await?;
        }
        txn.commit().await?;
        tracing::info!(completed = completed.len(), "uploads completed together");
        let file_ids: Vec<Uuid> = completed.iter().map(|&(_, f)| f).collect();
        let mut nodes: HashMap<Uuid, Node> = files::find_many(self.db.conn(), &file_ids)
            .await?
            .into_iter()
            .map(|n| (n.id, n))
            .collect();
        Ok(completed
            .into_iter()
            .filter_map(|(upload, file)| Some((upload, nodes.remove(&file)?)))
            .collect())
    }

    /// What LIST requests show of these keys, grouped by owner prefix: from just before
    /// the smallest key to the largest, a few pages at most. A failed listing shows
    /// nothing (each object is then looked up alone).
    async fn listed(&self, mut keys: Vec<&str>) -> HashMap<String, ObjectMeta> {
        const PAGE: usize = 1000;
        keys.sort_unstable();
        let mut seen = HashMap::new();
        for group in keys.chunk_by(|a, b| prefix_of(a) == prefix_of(b)) {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            let wanted: std::collections::HashSet<&str> = group.iter().copied().collect();
            let prefix = prefix_of(first);
            // A proper prefix of the first key sorts just before it.
            let mut after = first[..first.len() - 1].to_owned();
            for _ in 0..group.len() / PAGE + 3 {
                let page = match self.store.list_after(prefix, &after, PAGE).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "listing uploaded objects failed");
                        break;
                    }
                };
                let full = page.len() == PAGE;
                let mut past = false;
                for (key, meta) in page {
                    past = key.as_str() > *last;
                    if past {
                        break;
                    }
                    if wanted.contains(key.as_str()) {
                        seen.insert(key.clone(), meta);
                    }
                    after = key;
                }
                if past || !full {
                    break;
                }
            }
        }
        seen
    }

    /// Completes an open upload if the store holds exactly its declared bytes; a
    /// multipart upload's `declared` whole-file SHA-256 goes into the file's metadata.
    pub(crate) async fn complete_open(
        &self,
        upload: &Upload,
        declared: Option<&str>,
    ) -> Result<Node, UploadError> {
        self.complete_open_with(upload, declared, None).await
    }

    async fn complete_open_with(
        &self,
        upload: &Upload,
        declared: Option<&str>,
        listed: Option<ObjectMeta>,
    ) -> Result<Node, UploadError> {
        if let Some(mp) = upload.multipart_upload_id.as_deref() {
            let (parts, missing) = self.stored_parts(upload).await?;
            if !missing.is_empty() {
                return Err(UploadError::Incomplete { missing });
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
        let meta = match listed {
            Some(m) if upload.multipart_upload_id.is_none() => Some(m),
            _ => self.store.head(&upload.object_key).await?,
        };
        let Some(meta) = meta else {
            return Err(UploadError::Incomplete {
                missing: Vec::new(),
            });
        };
        if meta.size != upload.declared_size as u64 {
            self.close_aborted(upload).await?;
            return Err(UploadError::SizeMismatch {
                declared: upload.declared_size as u64,
                actual: meta.size,
            });
        }
        let txn = self.db.write().await?;
        let closed = quotas::lock(&*txn, upload.user_id).await?
            && repo::close(&*txn, upload.id, UploadState::Completed).await?;
        // The pending file goes with its upload whenever that is aborted, in the same
        // transaction: an upload still open has its file.
        let activated = closed
            && match upload.file_id {
                Some(file_id) => {
                    files::activate(
                        &*txn,
                        file_id,
                        upload.declared_size,
                        meta.etag.as_deref(),
                        declared,
                    )
                    .await?
                }
                None => false,
            };
        if closed && !activated {
            // An open upload without its pending file cannot be completed: end it.
            txn.rollback().await?;
            self.close_aborted(upload).await?;
            return Err(UploadError::Aborted);
        }
        if !closed {
            txn.rollback().await?;
            return self.answer_closed(upload).await;
        }
        quotas::commit(
            &*txn,
            upload.user_id,
            upload.declared_size,
            upload.declared_size,
        )
        .await?;
        txn.commit().await?;
        tracing::info!(upload.id = %upload.id, "upload completed");
        self.file_of(upload).await
    }

    /// Answers a complete that found the upload closed by someone else (a concurrent
    /// complete, an abort, the delete of its folder) as they left it.
    pub(super) async fn answer_closed(&self, upload: &Upload) -> Result<Node, UploadError> {
        let now = repo::find_owned(self.db.conn(), upload.user_id, upload.id).await?;
        match now.as_ref().map(|u| u.state) {
            Some(UploadState::Completed) => self.file_of(upload).await,
            _ => {
                // Its purge is queued; remove the bytes now as well.
                self.store.delete(&upload.object_key).await?;
                Err(UploadError::Aborted)
            }
        }
    }

    async fn file_of(&self, upload: &Upload) -> Result<Node, UploadError> {
        let file_id = upload.file_id.ok_or(FileError::NotFound)?;
        files::find_owned(self.db.conn(), upload.user_id, file_id)
            .await?
            .ok_or(FileError::NotFound.into())
    }

    /// Aborts an open upload; aborting an aborted upload is a no-op.
    #[instrument(skip_all, fields(upload.id = %id), err(level = "info", Display))]
    pub async fn abort(&self, actor: Actor, id: Uuid) -> Result<(), UploadError> {
        let upload = self.find(actor, id).await?;
        match upload.state {
            UploadState::Aborted => Ok(()),
            UploadState::Completed => Err(UploadError::Completed),
            _ => self.close_aborted(&upload).await.map(drop),
        }
    }

    /// Closes an open upload as aborted: the reservation released, the pending file
    /// removed and a purge of its bytes queued, in one transaction; then the store is
    /// cleaned at once as well. The purge runs after the upload's presigned URLs
    /// expired, so it also removes what a client PUT in the meantime.
    /// Returns whether this call closed it (false: it was closed already, and its
    /// object is left alone: it may be a completed file's).
    pub async fn close_aborted(&self, upload: &Upload) -> Result<bool, UploadError> {
        let late = purge::late_sweep_at(self.presign_ttl().await?);
        let txn = self.db.write().await?;
        let closed = quotas::lock(&*txn, upload.user_id).await?
            && repo::close(&*txn, upload.id, UploadState::Aborted).await?;
        if closed {
            quotas::release(&*txn, upload.user_id, upload.declared_size, 1).await?;
            refund_budgets(&*txn, std::slice::from_ref(upload)).await?;
            if let Some(file_id) = upload.file_id {
                files::delete_pending(&*txn, file_id).await?;
            }
            purge::enqueue(&*txn, purge_of(std::slice::from_ref(upload)), late).await?;
        }
        txn.commit().await?;
        if !closed {
            // Ended meanwhile: completed (its object is the file's now) or aborted by
            // whoever ended it, who cleans up.
            return Ok(false);
        }
        if let Err(e) = self.clean_store(upload).await {
            tracing::warn!(error = %e, "store cleanup failed; the queued purge will retry");
        }
        tracing::info!(upload.id = %upload.id, "upload aborted");
        Ok(true)
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
    pub async fn reconcile_expired(&self, limit: u64) -> Result<(usize, usize), UploadError> {
        let (mut completed, mut aborted) = (0, 0);
        for upload in repo::expired_open(self.db.conn(), Utc::now(), limit).await? {
            let outcome = if upload.is_unsized() {
                self.complete_unsized(&upload).await
            } else {
                self.complete_open(&upload, None).await
            };
            match outcome {
                Ok(_) => completed += 1,
                Err(UploadError::Incomplete { .. }) => {
                    self.close_aborted(&upload).await?;
                    aborted += 1;
                }
                Err(UploadError::SizeMismatch { .. } | UploadError::TooLarge { .. }) => {
                    aborted += 1
                }
                // Ended meanwhile by its client or another worker.
                Err(UploadError::Aborted) => {}
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

/// The purge of aborted uploads' bytes: their keys and multipart uploads.
pub(crate) fn purge_of(uploads: &[Upload]) -> PurgePayload {
    PurgePayload {
        keys: uploads.iter().map(|u| u.object_key.clone()).collect(),
        multipart: uploads
            .iter()
            .filter_map(|u| {
                Some(MultipartRef {
                    key: u.object_key.clone(),
                    upload_id: u.multipart_upload_id.clone()?,
                })
            })
            .collect(),
        prefix: None,
        only: None,
    }
}

/// The reconciliation of expired uploads, as a periodic job of the worker.
pub struct ReconcileJob(pub UploadService);

#[async_trait::async_trait]
impl Periodic for ReconcileJob {
    fn name(&self) -> &'static str {
        "reconcile_expired_uploads"
    }

    async fn run(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.reconcile_expired(100).await?;
        Ok(())
    }
}

/// Gives the bytes of aborted uploads back to the budgets of the tokens that started
/// them; in the transaction that aborted them, after the owner's lock.
pub(super) async fn refund_budgets(
    txn: &impl sea_orm::ConnectionTrait,
    aborted: &[Upload],
) -> Result<(), sea_orm::DbErr> {
    let mut refunds: std::collections::BTreeMap<Uuid, i64> = Default::default();
    for u in aborted {
        if let Some(token) = u.token_id {
            *refunds.entry(token).or_default() += u.declared_size;
        }
    }
    for (token, bytes) in refunds {
        api_tokens::charge(txn, token, -bytes).await?;
    }
    Ok(())
}
