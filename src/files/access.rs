//! Who may do what to a file or folder. The owner may do everything; anyone else only
//! what a share on the node or one of its ancestors grants — so a folder share covers
//! everything below it, and moving a node in or out of a shared folder changes who sees
//! it with no share rows touched. Decided from the database on every request, so a
//! revocation holds from the next request on.
//!
//! An API token may be confined to a folder: its [`Actor`] then sees only that folder
//! and what lies below it (everything else is as missing as another user's files), its
//! root is that folder, and the folder itself cannot be renamed, moved or deleted
//! through it.

use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::repo::{self as files, Node};
use super::FileError;
use crate::auth::{Accepts, AuthUser, Credential};

/// What an actor may do with a node; ordered from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// List, read metadata, download, archive.
    Read,
    /// Also create, rename, move and delete inside (a grantee of a folder share).
    Write,
    Owner,
}

pub use crate::entity::shares::Permission;

impl Access {
    pub fn from_permission(p: Permission) -> Access {
        match p {
            Permission::Read => Access::Read,
            Permission::Write => Access::Write,
        }
    }
}

/// Who acts: a user and, for an API token confined to a folder, that folder; for a
/// token, also the token (its byte budget is charged for what it uploads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub id: Uuid,
    /// The folder a confined token sees; `None`: the user's whole tree.
    pub root: Option<Uuid>,
    /// The API token acting, if any.
    pub token: Option<Uuid>,
}

impl Actor {
    /// A user acting with a session: their whole tree.
    pub fn user(id: Uuid) -> Actor {
        Actor {
            id,
            root: None,
            token: None,
        }
    }

    /// Who acts in an authenticated request.
    pub fn of<A: Accepts>(auth: &AuthUser<A>) -> Actor {
        match &auth.credential {
            Credential::Session(_) => Actor::user(auth.user.id),
            Credential::Token(grant) => Actor {
                id: auth.user.id,
                root: grant.folder,
                token: Some(grant.id),
            },
        }
    }

    /// A folder as this actor names it: `None` (the root) is the confining folder.
    pub fn place(self, folder: Option<Uuid>) -> Option<Uuid> {
        folder.or(self.root)
    }

    /// Whether `node` lies in what this actor sees (always, when not confined).
    pub async fn sees(self, db: &impl ConnectionTrait, node: &Node) -> Result<bool, DbErr> {
        match self.root {
            None => Ok(true),
            Some(root) => is_within(db, node, root).await,
        }
    }
}

/// Deepest folder chain walked before giving up (a guard against corrupt cycles).
const MAX_DEPTH: usize = 10_000;

/// The node and what `actor` may do with it; `None` when the actor may not see it (or
/// it does not exist: the two are indistinguishable).
pub async fn resolve(
    db: &impl ConnectionTrait,
    actor: Actor,
    id: Uuid,
) -> Result<Option<(Node, Access)>, DbErr> {
    let Some(node) = files::find(db, id).await? else {
        return Ok(None);
    };
    let access = access_to(db, actor, &node).await?;
    Ok(access.map(|a| (node, a)))
}

/// What `actor` may do with `node`, which is already loaded.
pub async fn access_to(
    db: &impl ConnectionTrait,
    actor: Actor,
    node: &Node,
) -> Result<Option<Access>, DbErr> {
    if !actor.sees(db, node).await? {
        return Ok(None);
    }
    if node.owner_id == actor.id {
        return Ok(Some(Access::Owner));
    }
    // Most nodes are not shared with most users: one query settles that.
    let grants = files::grants(db, node.owner_id, actor.id).await?;
    if grants.is_empty() {
        return Ok(None);
    }
    let chain = chain(db, node).await?;
    let best = grants
        .iter()
        .filter(|(f, _)| chain.contains(f))
        .map(|(_, p)| Access::from_permission(*p))
        .max();
    Ok(best)
}

/// The node if `actor` has at least `need` on it: 404 when they cannot see it, 403
/// when they can but not enough.
pub async fn require(
    db: &impl ConnectionTrait,
    actor: Actor,
    id: Uuid,
    need: Access,
) -> Result<(Node, Access), FileError> {
    let (node, access) = resolve(db, actor, id).await?.ok_or(FileError::NotFound)?;
    if access < need {
        return Err(FileError::Forbidden);
    }
    Ok((node, access))
}

/// Whether `actor` may rename, move or delete `node`: the owner always; a grantee when
/// they may write to the folder that holds it (so never the shared folder itself, and
/// never anything at the owner's root), and never a confined token's own folder or
/// anything outside it.
pub async fn may_modify(
    db: &impl ConnectionTrait,
    actor: Actor,
    node: &Node,
) -> Result<bool, DbErr> {
    if actor.root == Some(node.id) || !actor.sees(db, node).await? {
        return Ok(false);
    }
    if node.owner_id == actor.id {
        return Ok(true);
    }
    let Some(parent) = node.parent_id else {
        return Ok(false);
    };
    let Some(folder) = files::find_owned(db, node.owner_id, parent).await? else {
        return Ok(false);
    };
    Ok(access_to(db, actor, &folder).await? >= Some(Access::Write))
}

/// Whether `node` is `ancestor` or lies below it.
pub async fn is_within(
    db: &impl ConnectionTrait,
    node: &Node,
    ancestor: Uuid,
) -> Result<bool, DbErr> {
    Ok(chain(db, node).await?.contains(&ancestor))
}

/// The node's id and those of every folder above it, nearest first.
pub async fn chain(db: &impl ConnectionTrait, node: &Node) -> Result<Vec<Uuid>, DbErr> {
    let mut ids = vec![node.id];
    let mut parent = node.parent_id;
    while let Some(p) = parent {
        if ids.len() > MAX_DEPTH {
            break;
        }
        ids.push(p);
        parent = files::find_owned(db, node.owner_id, p)
            .await?
            .and_then(|n| n.parent_id);
    }
    Ok(ids)
}
