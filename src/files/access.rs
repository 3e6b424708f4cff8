//! Who may do what to a file or folder. The owner may do everything; anyone else only
//! what a share on the node or one of its ancestors grants — so a folder share covers
//! everything below it, and moving a node in or out of a shared folder changes who sees
//! it with no share rows touched. Decided from the database on every request, so a
//! revocation holds from the next request on.

use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::repo::{self as files, Node};
use super::FileError;

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

/// Deepest folder chain walked before giving up (a guard against corrupt cycles).
const MAX_DEPTH: usize = 10_000;

/// The node and what `actor` may do with it; `None` when the actor may not see it (or
/// it does not exist: the two are indistinguishable).
pub async fn resolve(
    db: &impl ConnectionTrait,
    actor: Uuid,
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
    actor: Uuid,
    node: &Node,
) -> Result<Option<Access>, DbErr> {
    if node.owner_id == actor {
        return Ok(Some(Access::Owner));
    }
    // Most nodes are not shared with most users: one query settles that.
    let grants = files::grants(db, node.owner_id, actor).await?;
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
    actor: Uuid,
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
/// never anything at the owner's root).
pub async fn may_modify(
    db: &impl ConnectionTrait,
    actor: Uuid,
    node: &Node,
) -> Result<bool, DbErr> {
    if node.owner_id == actor {
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
