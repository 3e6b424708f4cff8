//! The sharing rules: only owners share; a share names a user and a permission; a link
//! is a random token of which only the hash is kept, redeemed under its expiry,
//! password and download limit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use uuid::Uuid;

use super::repo::{self, Link, NewLink, Share};
use super::tokens::{new_token, plausible_token, token_hash};
use super::ShareError;
use crate::archives::service::ArchiveService;
use crate::auth::password::{check_policy, PasswordHasher};
use crate::auth::repo as users;
use crate::auth::service::normalize_username;
use crate::db::Db;
use crate::files::access::{self, Access, Actor, Permission};
use crate::files::repo::{self as files, FileState, Node};
use crate::files::service::{Download, FileService, Page};
use crate::files::FileError;
use crate::tasks::dto::TaskResponse;

/// How long the presigned GET behind a redeemed link lives.
pub const LINK_PRESIGN_TTL: Duration = Duration::from_secs(60);
/// Largest download limit a link may carry.
pub const MAX_DOWNLOAD_LIMIT: i64 = 1_000_000_000;

/// A share as its owner sees it: on this node, or inherited from a folder above it.
pub struct ShareView {
    pub share: Share,
    pub grantee: String,
    pub inherited: bool,
}

pub struct SharedItem {
    pub share: Share,
    pub owner: String,
    pub node: Node,
}

pub struct LinkRequest {
    pub expires_at: Option<DateTime<Utc>>,
    pub password: Option<SecretString>,
    pub max_downloads: Option<i64>,
}

/// Why a link redemption was refused (audit detail; the client sees less).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, revoked, expired or used up: one answer for all.
    Gone,
    PasswordRequired,
    PasswordInvalid,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Gone => "unavailable",
            Refusal::PasswordRequired => "password_required",
            Refusal::PasswordInvalid => "password_invalid",
        }
    }
}

#[derive(Clone)]
pub struct ShareService {
    db: Db,
    hasher: PasswordHasher,
    files: FileService,
    archives: ArchiveService,
}

impl ShareService {
    pub fn new(
        db: Db,
        hasher: PasswordHasher,
        files: FileService,
        archives: ArchiveService,
    ) -> ShareService {
        ShareService {
            db,
            hasher,
            files,
            archives,
        }
    }

    /// A node `owner` owns (grantees get 403, strangers 404).
    async fn owned(&self, owner: Actor, id: Uuid) -> Result<Node, ShareError> {
        Ok(access::require(self.db.conn(), owner, id, Access::Owner)
            .await?
            .0)
    }

    /// Shares `id` with `username`, or changes the permission of an existing share.
    /// Returns the share, the grantee's id and whether it is new.
    pub async fn share(
        &self,
        owner: Actor,
        id: Uuid,
        username: &str,
        permission: &str,
    ) -> Result<(Share, bool), ShareError> {
        let node = self.owned(owner, id).await?;
        let Some(permission) = crate::entity::parse::<Permission>(permission) else {
            return Err(FileError::Invalid("permission must be `read` or `write`.".into()).into());
        };
        if permission == Permission::Write && !node.is_folder() {
            return Err(FileError::Invalid(
                "Write shares are for folders; share a file for reading.".into(),
            )
            .into());
        }
        let name = normalize_username(username).map_err(|_| ShareError::UnknownUser)?;
        let grantee = users::find_user_by_username(self.db.conn(), &name)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(ShareError::UnknownUser)?;
        if grantee.id == owner.id {
            return Err(FileError::Invalid("You cannot share with yourself.".into()).into());
        }
        let txn = self.db.write().await?;
        let out = repo::upsert(&*txn, node.id, owner.id, grantee.id, permission).await?;
        txn.commit().await?;
        Ok(out)
    }

    /// Who has access to `id`: shares on it and on every folder above it (for a
    /// confined token, up to its folder).
    pub async fn shares(&self, owner: Actor, id: Uuid) -> Result<Vec<ShareView>, ShareError> {
        let node = self.owned(owner, id).await?;
        let mut chain = access::chain(self.db.conn(), &node).await?;
        if let Some(end) = owner
            .root
            .and_then(|r| chain.iter().position(|id| *id == r))
        {
            chain.truncate(end + 1);
        }
        Ok(repo::on_nodes(self.db.conn(), &chain)
            .await?
            .into_iter()
            .map(|(share, grantee)| ShareView {
                inherited: share.file_id != node.id,
                share,
                grantee,
            })
            .collect())
    }

    /// Ends `username`'s share of `id`; returns the grantee's id.
    pub async fn unshare(
        &self,
        owner: Actor,
        id: Uuid,
        username: &str,
    ) -> Result<Uuid, ShareError> {
        let node = self.owned(owner, id).await?;
        let name = normalize_username(username).map_err(|_| FileError::NotFound)?;
        let grantee = users::find_user_by_username(self.db.conn(), &name)
            .await?
            .ok_or(FileError::NotFound)?;
        let txn = self.db.write().await?;
        let gone = repo::delete(&*txn, node.id, grantee.id).await?;
        txn.commit().await?;
        if !gone {
            return Err(FileError::NotFound.into());
        }
        Ok(grantee.id)
    }

    /// What others shared with `actor`, oldest share first. Nothing for a token
    /// confined to a folder: its folder is the user's own, and others' files never lie
    /// in it.
    pub async fn shared_with_me(
        &self,
        actor: Actor,
        limit: u64,
        after: Option<Uuid>,
    ) -> Result<Vec<SharedItem>, ShareError> {
        if actor.root.is_some() {
            return Ok(Vec::new());
        }
        let rows = repo::granted_to(self.db.conn(), actor.id, after, limit).await?;
        let ids: Vec<Uuid> = rows.iter().map(|(s, _)| s.file_id).collect();
        let mut nodes: std::collections::HashMap<Uuid, Node> =
            files::find_many(self.db.conn(), &ids)
                .await?
                .into_iter()
                .map(|n| (n.id, n))
                .collect();
        Ok(rows
            .into_iter()
            .filter_map(|(share, owner)| {
                let node = nodes.remove(&share.file_id)?;
                Some(SharedItem { share, owner, node })
            })
            .collect())
    }

    /// Creates a link to `id`; returns it with its token, which is never stored.
    pub async fn create_link(
        &self,
        owner: Actor,
        id: Uuid,
        req: LinkRequest,
    ) -> Result<(Link, String), ShareError> {
        let node = self.owned(owner, id).await?;
        if !node.is_folder() && node.state != FileState::Active {
            return Err(FileError::NotReady.into());
        }
        if req.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(FileError::Invalid("expires_at must be in the future.".into()).into());
        }
        if req
            .max_downloads
            .is_some_and(|m| !(1..=MAX_DOWNLOAD_LIMIT).contains(&m))
        {
            return Err(FileError::Invalid(format!(
                "max_downloads must be between 1 and {MAX_DOWNLOAD_LIMIT}."
            ))
            .into());
        }
        let password_hash = match &req.password {
            Some(p) => {
                check_policy(p)?;
                Some(self.hasher.hash(p).await?)
            }
            None => None,
        };
        let token = new_token();
        let hash = token_hash(&token);
        let txn = self.db.write().await?;
        let link = repo::insert_link(
            &*txn,
            NewLink {
                file_id: node.id,
                owner_id: owner.id,
                token_hash: &hash,
                expires_at: req.expires_at,
                password_hash,
                max_downloads: req.max_downloads,
            },
        )
        .await?;
        txn.commit().await?;
        Ok((link, token))
    }

    pub async fn links(&self, owner: Actor, id: Uuid) -> Result<Vec<Link>, ShareError> {
        let node = self.owned(owner, id).await?;
        Ok(repo::links_of(self.db.conn(), node.id).await?)
    }

    pub async fn revoke_link(&self, owner: Actor, id: Uuid, link: Uuid) -> Result<(), ShareError> {
        let node = self.owned(owner, id).await?;
        let txn = self.db.write().await?;
        let revoked = repo::revoke_link(&*txn, node.id, link).await?;
        txn.commit().await?;
        if !revoked {
            return Err(FileError::NotFound.into());
        }
        Ok(())
    }

    /// The live link behind `token` and its target. With `used_up_ok`, a link whose
    /// downloads ran out still opens (to fetch an archive already paid for).
    pub async fn open(&self, token: &str, used_up_ok: bool) -> Result<(Link, Node), Refusal> {
        if !plausible_token(token) {
            return Err(Refusal::Gone);
        }
        let link = repo::find_link_by_hash(self.db.conn(), &token_hash(token))
            .await
            .map_err(|_| Refusal::Gone)?
            .filter(|l| {
                let now = Utc::now();
                l.is_live(now)
                    || (used_up_ok
                        && l.revoked_at.is_none()
                        && l.expires_at.is_none_or(|e| e > now))
            })
            .ok_or(Refusal::Gone)?;
        // A disabled owner's links stop working with the rest of their account.
        let owner_ok = users::find_user(self.db.conn(), link.owner_id)
            .await
            .map_err(|_| Refusal::Gone)?
            .is_some_and(|u| !u.disabled);
        if !owner_ok {
            return Err(Refusal::Gone);
        }
        let node = files::find(self.db.conn(), link.file_id)
            .await
            .map_err(|_| Refusal::Gone)?
            .ok_or(Refusal::Gone)?;
        Ok((link, node))
    }

    /// Checks the link's password, if it has one. `Ok(false)`: refused.
    pub async fn check_password(
        &self,
        link: &Link,
        password: Option<&SecretString>,
    ) -> Result<Result<(), Refusal>, ShareError> {
        let Some(hash) = link.password_hash.as_deref() else {
            return Ok(Ok(()));
        };
        let Some(password) = password else {
            return Ok(Err(Refusal::PasswordRequired));
        };
        if self.hasher.verify(password, Some(hash)).await? {
            Ok(Ok(()))
        } else {
            Ok(Err(Refusal::PasswordInvalid))
        }
    }

    /// A folder at or below the link's target folder.
    async fn folder_below(&self, target: &Node, id: Option<Uuid>) -> Result<Node, ShareError> {
        let Some(id) = id.filter(|id| *id != target.id) else {
            return Ok(target.clone());
        };
        let node = self.node_below(target, id).await?;
        if !node.is_folder() {
            return Err(FileError::NotAFolder.into());
        }
        Ok(node)
    }

    /// A node below the link's target folder; anything else is not found.
    async fn node_below(&self, target: &Node, id: Uuid) -> Result<Node, ShareError> {
        let node = files::find_owned(self.db.conn(), target.owner_id, id)
            .await?
            .ok_or(FileError::NotFound)?;
        if !target.is_folder() || !access::is_within(self.db.conn(), &node, target.id).await? {
            return Err(FileError::NotFound.into());
        }
        Ok(node)
    }

    /// A page of the link's folder (or a folder below it).
    pub async fn browse(
        &self,
        target: &Node,
        folder: Option<Uuid>,
        limit: Option<u64>,
        cursor: Option<&str>,
    ) -> Result<Page, ShareError> {
        let folder = self.folder_below(target, folder).await?;
        Ok(self
            .files
            .list_in(folder.owner_id, Some(folder.id), limit, cursor)
            .await?)
    }

    /// Redeems one download: the file (the target, or a file below a folder target) is
    /// checked, then the download is counted, then a short-lived GET is signed.
    pub async fn redeem(
        &self,
        link: &Link,
        target: &Node,
        file: Option<Uuid>,
    ) -> Result<Option<(Node, Download)>, ShareError> {
        let node = match file {
            None if target.is_folder() => {
                return Err(FileError::Invalid(
                    "This link is to a folder: name the file_id to download, or ask for the whole folder as a zip.".into(),
                ).into())
            }
            None => target.clone(),
            Some(id) if id == target.id && !target.is_folder() => target.clone(),
            Some(id) => self.node_below(target, id).await?,
        };
        if node.is_folder() {
            return Err(FileError::NotAFile.into());
        }
        if node.state != FileState::Active {
            return Err(FileError::NotReady.into());
        }
        if !self.count(link).await? {
            return Ok(None);
        }
        let download = self
            .files
            .presign_download(&node, Some(LINK_PRESIGN_TTL))
            .await?;
        Ok(Some((node, download)))
    }

    /// Counts one download atomically; `false` when the link ran out meanwhile.
    async fn count(&self, link: &Link) -> Result<bool, ShareError> {
        let txn = self.db.write().await?;
        let counted = repo::count_download(&*txn, link.id).await?;
        txn.commit().await?;
        Ok(counted)
    }

    /// "Download all" of a folder link: counts one download and enqueues a zip task.
    pub async fn download_all(
        &self,
        link: &Link,
        target: &Node,
    ) -> Result<Option<Uuid>, ShareError> {
        if !target.is_folder() {
            return Err(FileError::NotAFolder.into());
        }
        if !self.count(link).await? {
            return Ok(None);
        }
        match self.archives.create_for_link(link.id, target.clone()).await {
            Ok(task) => Ok(Some(task)),
            Err(e) => {
                // Nothing was delivered: give the download back.
                let txn = self.db.write().await?;
                repo::uncount_download(&*txn, link.id).await?;
                txn.commit().await?;
                Err(e.into())
            }
        }
    }

    /// A "download all" task of `link`; its download lives [`LINK_PRESIGN_TTL`].
    pub async fn link_task(&self, link: Uuid, task: Uuid) -> Result<TaskResponse, ShareError> {
        Ok(self
            .archives
            .link_task(link, task, LINK_PRESIGN_TTL)
            .await?)
    }
}
