//! `DELETE /files/{id}`: a file, or a folder with everything below it, and with them
//! the usage they held and the uploads still open inside.

use std::time::Duration;

use chrono::Utc;
use sea_orm::ConnectionTrait;
use tracing::instrument;
use uuid::Uuid;

use super::finish::{purge_of, refund_budgets};
use super::repo;
use super::UploadError;
use super::UploadService;
use crate::auth::api_tokens::repo as api_tokens;
use crate::files::access::{self, Actor};
use crate::files::repo::{self as files, FileState, Node};
use crate::files::FileError;
use crate::quotas::repo as quotas;
use crate::tasks::now_ms;
use crate::tasks::purge::{self, PurgePayload};

impl UploadService {
    /// Deletes a file, or a folder with everything below it, in one transaction under
    /// the owner's lock: open uploads inside are aborted and their reservations
    /// released, exactly the deleted files' usage is freed, and the purge of their
    /// objects is queued — once now, and once more after the presigned URLs that may
    /// still create them have expired.
    #[instrument(skip_all, fields(file.id = %id), err(level = "info", Display))]
    pub async fn delete(&self, actor: Actor, id: Uuid) -> Result<(), UploadError> {
        let root = self.files.get(actor, id).await?;
        self.files.require_modify(actor, &root).await?;
        let ttl = self.presign_ttl().await?;
        let watch = self.db.watch();
        let before = watch.stamp().await;
        let txn = self.db.write().await?;
        let deleted = self.delete_locked(&*txn, actor, &root, ttl).await;
        let (deleted, ended_tokens) = txn.end(deleted).await?;
        for node in &deleted {
            self.files.forget(node.id);
        }
        if ended_tokens {
            // Tokens confined to a deleted folder died with it: like a revocation, the
            // answer waits until this replica knows (see `Watch::settle`).
            watch.settle(before).await;
        }
        Ok(())
    }

    async fn delete_locked(
        &self,
        txn: &impl ConnectionTrait,
        actor: Actor,
        root: &Node,
        ttl: Duration,
    ) -> Result<(Vec<Node>, bool), UploadError> {
        let owner = root.owner_id;
        if !quotas::lock(txn, owner).await? {
            return Err(FileError::NotFound.into());
        }
        if owner != actor.id || actor.root.is_some() {
            // A grantee's (or a confined token's) right depends on where the node is now.
            let now = files::find(txn, root.id)
                .await?
                .ok_or(FileError::NotFound)?;
            if !access::may_modify(txn, actor, &now).await? {
                return Err(FileError::Forbidden.into());
            }
        }
        let confining = api_tokens::confining_folders(txn, owner).await?;
        // Uploads first: deleting their files would unlink them.
        let aborted = repo::abort_open_under(txn, owner, root.id).await?;
        let deleted = files::delete_subtree(txn, owner, root.id).await?;
        if deleted.is_empty() {
            return Err(FileError::NotFound.into());
        }
        let stored: Vec<&Node> = deleted
            .iter()
            .filter(|n| !n.is_folder() && n.state == FileState::Active)
            .collect();
        if !stored.is_empty() {
            let bytes = stored.iter().map(|n| n.size).sum();
            quotas::remove_used(txn, owner, bytes, stored.len() as i64).await?;
        }
        if !aborted.is_empty() {
            let bytes = aborted.iter().map(|u| u.declared_size).sum();
            quotas::release(txn, owner, bytes, aborted.len() as i64).await?;
            refund_budgets(txn, &aborted).await?;
        }
        let mut now = purge_of(&aborted);
        now.keys
            .extend(stored.iter().filter_map(|n| n.object_key.clone()));
        purge::enqueue(txn, now, now_ms()).await?;
        // Keys whose upload may still have a live PUT URL: started within an upload's
        // lifetime plus a URL's.
        let since = Utc::now() - (self.upload_expiry() + ttl);
        // And the keys of the uploads ended here, which are not always their file's (an
        // unsized upload replacing a stored file has a key of its own).
        let late = deleted
            .iter()
            .filter(|n| n.created_at > since)
            .filter_map(|n| n.object_key.clone())
            .chain(aborted.iter().map(|u| u.object_key.clone()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        purge::enqueue(txn, PurgePayload::keys(late), purge::late_sweep_at(ttl)).await?;
        let ended_tokens = deleted.iter().any(|n| confining.contains(&n.id));
        Ok((deleted, ended_tokens))
    }
}
