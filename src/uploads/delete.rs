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
use crate::entity::trash_items;
use crate::files::access::{self, Actor};
use crate::files::repo::{self as files, FileKind, FileState, Node};
use crate::files::FileError;
use crate::quotas::repo as quotas;
use crate::tasks::now_ms;
use crate::tasks::purge::{self, PurgePayload};
use crate::trash::repo as trash;

impl UploadService {
    /// Deletes a file, or a folder with everything below it, in one transaction under
    /// the owner's lock: open uploads inside are aborted and their reservations
    /// released; then, with a trash retention, the rows go to the owner's trash (still
    /// counted), else exactly the deleted files' usage is freed and the purge of their
    /// objects is queued — once now, and once more after the presigned URLs that may
    /// still create them have expired.
    pub async fn delete(&self, actor: Actor, id: Uuid) -> Result<(), UploadError> {
        self.delete_as(actor, id, false).await
    }

    /// A lifecycle rule's delete of one file, as its owner: to the trash, or for good.
    pub async fn expire(&self, owner: Uuid, id: Uuid, for_good: bool) -> Result<(), UploadError> {
        self.delete_as(Actor::user(owner), id, for_good).await
    }

    #[instrument(skip_all, fields(file.id = %id), err(level = "info", Display))]
    async fn delete_as(&self, actor: Actor, id: Uuid, for_good: bool) -> Result<(), UploadError> {
        let root = self.files.get(actor, id).await?;
        self.files.require_modify(actor, &root).await?;
        let settings = self.settings().await?;
        let ttl = settings.presign_ttl();
        let retention = settings.trash_retention().filter(|_| !for_good);
        let watch = self.db.watch();
        let before = watch.stamp().await;
        let txn = self.db.write().await?;
        let deleted = self
            .delete_locked(&*txn, actor, &root, ttl, retention)
            .await;
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
        retention: Option<chrono::Duration>,
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
        let (deleted, trashed) = match retention {
            None => (files::delete_subtree(txn, owner, root.id).await?, false),
            Some(keep) => self.trash_locked(txn, actor, root, keep).await?,
        };
        if deleted.is_empty() {
            return Err(FileError::NotFound.into());
        }
        // What the trash took still counts; the rest is freed now.
        let stored: Vec<&Node> = deleted
            .iter()
            .filter(|n| !trashed && !n.is_folder() && n.state == FileState::Active)
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
            .filter(|n| !trashed || n.state != FileState::Active)
            .filter_map(|n| n.object_key.clone())
            .chain(aborted.iter().map(|u| u.object_key.clone()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        purge::enqueue(txn, PurgePayload::keys(late), purge::late_sweep_at(ttl)).await?;
        let ended_tokens = deleted.iter().any(|n| confining.contains(&n.id));
        Ok((deleted, ended_tokens))
    }

    /// Deletes the subtree into its owner's trash (under the owner's lock): its folders
    /// and active files are kept with the shares, links, job attachments and copies
    /// their deletion takes along; pending files (whose uploads were just aborted) are
    /// not. Returns the deleted rows and whether a trash item was made.
    async fn trash_locked(
        &self,
        txn: &impl ConnectionTrait,
        actor: Actor,
        root: &Node,
        keep: chrono::Duration,
    ) -> Result<(Vec<Node>, bool), UploadError> {
        use chrono::SubsecRound as _;
        let owner = root.owner_id;
        // Read whole before the delete, under the owner's lock (which every change of
        // the owner's tree takes): the delete's own answer leaves out the folders that
        // went by cascade with their parent.
        let rows = files::subtree_rows(txn, owner, root.id).await?;
        let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
        let taken = trash::dependents(txn, &ids).await?;
        let deleted = files::delete_subtree(txn, owner, root.id).await?;
        if deleted.is_empty() {
            return Ok((deleted, false));
        }
        // Every file read is a file deleted (folders may go by cascade, unreported).
        let files_of = |ids: &mut dyn Iterator<Item = (Uuid, FileKind)>| {
            let mut v: Vec<Uuid> = ids
                .filter(|(_, k)| *k == FileKind::File)
                .map(|(id, _)| id)
                .collect();
            v.sort_unstable();
            v
        };
        if files_of(&mut rows.iter().map(|m| (m.id, m.kind)))
            != files_of(&mut deleted.iter().map(|n| (n.id, n.kind)))
        {
            return Err(
                sea_orm::DbErr::Custom("the tree changed under its owner's lock".into()).into(),
            );
        }
        let kept: Vec<_> = rows
            .iter()
            .filter(|m| m.kind == FileKind::Folder || m.state == FileState::Active)
            .cloned()
            .collect();
        let trashed = !kept.is_empty();
        if trashed {
            let stored: Vec<_> = kept.iter().filter(|m| m.kind == FileKind::File).collect();
            // Microseconds: the listing's cursor holds them.
            let now = Utc::now().trunc_subsecs(6);
            let item = trash_items::Model {
                id: Uuid::new_v4(),
                owner_id: owner,
                file_id: root.id,
                name: root.name.clone(),
                kind: root.kind,
                parent_id: root.parent_id,
                bytes: stored.iter().map(|m| m.size).sum(),
                objects: stored.len() as i64,
                deleted_by: Some(actor.id),
                trashed_at: now,
                expires_at: now + keep,
            };
            trash::stash(txn, item, &kept, &taken).await?;
        }
        Ok((rows.into_iter().map(Node::from).collect(), trashed))
    }
}
