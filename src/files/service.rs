//! The files rules: ownership, names, moves without cycles, copies within quota,
//! recursive deletes, and downloads that can never run script in a browser.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::db::Db;
use serde::{Deserialize, Serialize};
use tracing::instrument;
use uuid::Uuid;

use super::download::{content_disposition, served_content_type};
use super::names::display_name;
use super::repo::{self, Entry, FileKind, FileState, NewNode, Node};
use super::FileError;
use crate::cache::TtlCache;
use crate::files::access::{self, Access, Actor};
use crate::page::page_limit;
use crate::quotas::repo as quotas;
use crate::runtime::Runtime;
use crate::storage::{GetOptions, ObjectStore, StorageError};

/// Where a listing resumes: the kind and name of the last item returned.
#[derive(Serialize, Deserialize)]
struct Cursor {
    k: FileKind,
    n: String,
}

fn encode_cursor(node: &Entry) -> String {
    let c = Cursor {
        k: node.kind,
        n: node.name.clone(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default())
}

fn decode_cursor(s: &str) -> Result<Cursor, FileError> {
    let bad = || FileError::Invalid("The cursor is not valid.".into());
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// A page of a folder: entries, and the cursor of the next page.
pub type Page = crate::page::Page<Entry, String>;

pub struct Download {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A change of name and/or place; `parent: Some(None)` means the root.
pub struct Change {
    pub name: Option<String>,
    pub parent: Option<Option<Uuid>>,
}

#[derive(Clone)]
pub struct FileService {
    db: Db,
    store: Arc<dyn ObjectStore>,
    /// The presign TTL, as admins set it.
    runtime: Runtime,
    /// Active files behind recent downloads (the hot path of HPC clients).
    cache: Arc<TtlCache<Uuid, Node>>,
    /// The cloud tier, where files whose primary copy was released are read from.
    cloud: Option<Arc<dyn ObjectStore>>,
}

impl FileService {
    pub fn new(
        db: Db,
        store: Arc<dyn ObjectStore>,
        runtime: Runtime,
        cache_ttl: Duration,
    ) -> FileService {
        FileService {
            db,
            store,
            runtime,
            cache: Arc::new(TtlCache::new(cache_ttl)),
            cloud: None,
        }
    }

    /// Reads files released from the primary store from `cloud`.
    pub fn with_cloud(mut self, cloud: Option<Arc<dyn ObjectStore>>) -> FileService {
        self.cloud = cloud;
        self
    }

    /// The store that holds `node`'s bytes: the primary, or the cloud tier once the
    /// primary copy was released.
    pub fn store_of(&self, node: &Node) -> Result<&Arc<dyn ObjectStore>, StorageError> {
        if node.tier != "cloud" {
            return Ok(&self.store);
        }
        self.cloud.as_ref().ok_or_else(|| {
            StorageError::Config(
                "a file lives in the cloud tier, but COFFER_TIER_S3_ENDPOINT is not set".into(),
            )
        })
    }

    /// A node `actor` may read, and whether its row came from the cache (rows behind
    /// downloads and listings, the hot paths of HPC clients). The right to read it is
    /// checked every time (owners without a query).
    async fn readable(&self, actor: Actor, id: Uuid) -> Result<(Arc<Node>, bool), FileError> {
        let (node, cached) = match self.cache.get(&id) {
            Some(node) => (node, true),
            None => (
                Arc::new(
                    repo::find(self.db.conn(), id)
                        .await?
                        .ok_or(FileError::NotFound)?,
                ),
                false,
            ),
        };
        if (node.owner_id != actor.id || actor.root.is_some())
            && access::access_to(self.db.conn(), actor, &node)
                .await?
                .is_none()
        {
            return Err(FileError::NotFound);
        }
        Ok((node, cached))
    }

    /// Caches a row just read from the database. Never a row served from the cache:
    /// renewed on every hit, a hot row would never expire, and changes made through
    /// another replica (a rename, a move out of a shared folder) would never be seen.
    fn remember(&self, node: &Arc<Node>, cached: bool) {
        if !cached {
            self.cache.put(node.id, node.clone());
        }
    }

    /// An active file `actor` may read; see [`FileService::readable`]. Only active files
    /// are cached (a pending one becomes downloadable as soon as it completes).
    async fn readable_file(&self, actor: Actor, id: Uuid) -> Result<Arc<Node>, FileError> {
        let (node, cached) = self.readable(actor, id).await?;
        if node.is_folder() {
            return Err(FileError::NotAFile);
        }
        if node.state != FileState::Active {
            return Err(FileError::NotReady);
        }
        self.remember(&node, cached);
        Ok(node)
    }

    /// A folder `actor` may list; see [`FileService::readable`].
    async fn readable_folder(&self, actor: Actor, id: Uuid) -> Result<Arc<Node>, FileError> {
        let (node, cached) = self.readable(actor, id).await?;
        if !node.is_folder() {
            return Err(FileError::NotAFolder);
        }
        self.remember(&node, cached);
        Ok(node)
    }

    /// Drops a node from the download cache (it was deleted).
    pub fn forget(&self, id: Uuid) {
        self.cache.invalidate(&id);
    }

    /// A node `actor` may read.
    pub async fn get(&self, actor: Actor, id: Uuid) -> Result<Node, FileError> {
        Ok(access::require(self.db.conn(), actor, id, Access::Read)
            .await?
            .0)
    }

    /// A folder on which `actor` has at least `need`.
    async fn folder(&self, actor: Actor, id: Uuid, need: Access) -> Result<Node, FileError> {
        let (node, _) = access::require(self.db.conn(), actor, id, need).await?;
        if !node.is_folder() {
            return Err(FileError::NotAFolder);
        }
        Ok(node)
    }

    /// Whose tree a new node in `parent` (None: the actor's root, already resolved with
    /// [`Actor::place`]) belongs to, checking that `actor` may write there.
    pub async fn writable_parent(
        &self,
        actor: Actor,
        parent: Option<Uuid>,
    ) -> Result<Uuid, FileError> {
        match parent {
            None => Ok(actor.id),
            Some(id) => Ok(self.folder(actor, id, Access::Write).await?.owner_id),
        }
    }

    /// Whether `actor` may rename, move or delete `node`; `Forbidden` if not.
    pub async fn require_modify(&self, actor: Actor, node: &Node) -> Result<(), FileError> {
        if access::may_modify(self.db.conn(), actor, node).await? {
            Ok(())
        } else {
            Err(FileError::Forbidden)
        }
    }

    /// The folder `name` in `parent` (`None`: the actor's root), created when missing
    /// and `create`; `None` when missing otherwise. A file of that name is `NameTaken`.
    pub async fn folder_named(
        &self,
        actor: Actor,
        parent: Option<Uuid>,
        name: &str,
        create: bool,
    ) -> Result<Option<Node>, FileError> {
        let place = actor.place(parent);
        let found = repo::find_by_name(self.db.conn(), actor.id, place, name).await?;
        let node = match found {
            Some(node) => node,
            None if !create => return Ok(None),
            None => match self.create_folder(actor, name, parent).await {
                Ok(node) => node,
                // Created meanwhile by a parallel request.
                Err(FileError::NameTaken) => {
                    repo::find_by_name(self.db.conn(), actor.id, place, name)
                        .await?
                        .ok_or(FileError::NotFound)?
                }
                Err(e) => return Err(e),
            },
        };
        if !node.is_folder() {
            return Err(FileError::NameTaken);
        }
        Ok(Some(node))
    }

    #[instrument(skip_all, err(level = "info", Display))]
    pub async fn create_folder(
        &self,
        actor: Actor,
        name: &str,
        parent: Option<Uuid>,
    ) -> Result<Node, FileError> {
        let name = display_name(name)?;
        let parent = actor.place(parent);
        let owner = self.writable_parent(actor, parent).await?;
        let new = NewNode {
            owner_id: owner,
            parent_id: parent,
            name: &name,
            kind: FileKind::Folder,
            size: 0,
            content_type: None,
            object_key: None,
            etag: None,
            state: FileState::Active,
        };
        let txn = self.db.write().await?;
        let inserted = match self.lock_parent(&*txn, owner, parent).await? {
            true => repo::insert(&*txn, new).await?.ok_or(FileError::NameTaken),
            false => Err(FileError::NotFound),
        };
        txn.end(inserted).await
    }

    /// Takes the owner's lock (see [`quotas::lock`]) and checks that `parent` (None:
    /// the root) is still a folder of theirs; false when it or the owner is gone.
    async fn lock_parent(
        &self,
        txn: &impl ConnectionTrait,
        owner: Uuid,
        parent: Option<Uuid>,
    ) -> Result<bool, FileError> {
        if !quotas::lock(txn, owner).await? {
            return Ok(false);
        }
        Ok(match parent {
            None => true,
            Some(p) => repo::find_owned(txn, owner, p)
                .await?
                .is_some_and(|f| f.is_folder()),
        })
    }

    /// A page of a folder (None: the root), folders first, then files, each by name.
    pub async fn list(
        &self,
        actor: Actor,
        folder: Option<Uuid>,
        limit: Option<u64>,
        cursor: Option<&str>,
    ) -> Result<Page, FileError> {
        let folder = actor.place(folder);
        let owner = match folder {
            Some(id) => self.readable_folder(actor, id).await?.owner_id,
            None => actor.id,
        };
        self.list_in(owner, folder, limit, cursor).await
    }

    /// A page of a folder of `owner`, with no access check (the caller made it).
    pub async fn list_in(
        &self,
        user: Uuid,
        folder: Option<Uuid>,
        limit: Option<u64>,
        cursor: Option<&str>,
    ) -> Result<Page, FileError> {
        let limit = page_limit(limit)?;
        let cursor = cursor.map(decode_cursor).transpose()?;
        let want = crate::page::rows_for(limit);
        let items = match &cursor {
            Some(c) if c.k == FileKind::File => {
                repo::list_kind(
                    self.db.conn(),
                    user,
                    folder,
                    FileKind::File,
                    Some(&c.n),
                    want,
                )
                .await?
            }
            _ => {
                let after = cursor.as_ref().map(|c| c.n.as_str());
                repo::list_from_folders(self.db.conn(), user, folder, after, want).await?
            }
        };
        Ok(Page::from_rows(items, limit, encode_cursor))
    }

    /// Renames and/or moves a file or folder: metadata only, no bytes move.
    #[instrument(skip_all, fields(file.id = %id), err(level = "info", Display))]
    pub async fn update(&self, actor: Actor, id: Uuid, change: Change) -> Result<Node, FileError> {
        let node = self.get(actor, id).await?;
        self.require_modify(actor, &node).await?;
        let name = match &change.name {
            Some(n) => display_name(n)?,
            None => node.name.clone(),
        };
        let parent = change.parent.map_or(node.parent_id, |p| actor.place(p));
        if change.parent.is_some() {
            match parent {
                // The root named by a grantee is their own: another owner's tree.
                None if node.owner_id != actor.id => return Err(FileError::CrossOwner),
                None => {}
                Some(target) => {
                    let folder = self.folder(actor, target, Access::Write).await?;
                    if folder.owner_id != node.owner_id {
                        return Err(FileError::CrossOwner);
                    }
                }
            }
        }
        let txn = self.db.write().await?;
        let moved = self.move_locked(&*txn, &node, &name, parent).await;
        txn.end(moved).await?;
        self.cache.invalidate(&id);
        self.get(actor, id).await
    }

    /// The rename or move itself, under the owner's lock: the node, the target folder
    /// and the ancestry the cycle check walks are read as they are now, so two
    /// concurrent moves cannot make a cycle.
    async fn move_locked(
        &self,
        txn: &impl ConnectionTrait,
        node: &Node,
        name: &str,
        parent: Option<Uuid>,
    ) -> Result<(), FileError> {
        let owner = node.owner_id;
        if !self.lock_parent(txn, owner, parent).await? {
            return Err(FileError::NotFound);
        }
        let node = repo::find_owned(txn, owner, node.id)
            .await?
            .ok_or(FileError::NotFound)?;
        if let Some(target) = parent.filter(|_| node.is_folder()) {
            let folder = repo::find_owned(txn, owner, target)
                .await?
                .ok_or(FileError::NotFound)?;
            if access::is_within(txn, &folder, node.id).await? {
                return Err(FileError::Cycle);
            }
        }
        if !repo::rename_move(txn, &node, name, parent).await? {
            return Err(FileError::NameTaken);
        }
        Ok(())
    }

    /// A presigned GET that downloads as an attachment with a harmless content type.
    #[instrument(skip_all, fields(file.id = %id), err(level = "info", Display))]
    pub async fn download(&self, actor: Actor, id: Uuid) -> Result<Download, FileError> {
        let node = self.readable_file(actor, id).await?;
        self.presign_download(&node, None).await
    }

    /// A presigned GET of an active file, living the presign TTL, or `shorter` if given
    /// and shorter.
    pub async fn presign_download(
        &self,
        node: &Node,
        shorter: Option<Duration>,
    ) -> Result<Download, FileError> {
        let ttl = self.runtime.get().await?.presign_ttl();
        let ttl = shorter.map_or(ttl, |s| s.min(ttl));
        let key = node.object_key.as_deref().ok_or(FileError::NotReady)?;
        let options = GetOptions {
            content_disposition: content_disposition(&node.name),
            content_type: served_content_type(node.content_type.as_deref()),
        };
        let url = self.store_of(node)?.presign_get(key, &options, ttl).await?;
        tracing::info!(file.id = %node.id, presign = "get", "download URL issued");
        Ok(Download {
            url,
            expires_at: Utc::now() + ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert!(decode_cursor("!!!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode(br#"{"k":"evil","n":"x"}"#)).is_err());
        let c = decode_cursor(&URL_SAFE_NO_PAD.encode(br#"{"k":"file","n":"x"}"#)).expect("valid");
        assert_eq!((c.k.as_str(), c.n.as_str()), ("file", "x"));
    }
}
