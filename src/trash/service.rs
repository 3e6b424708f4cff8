//! Listing, restoring and purging trashed items.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::dto::{Emptied, TrashItem};
use super::repo;
use crate::db::Db;
use crate::error::AppError;
use crate::files::access::Actor;
use crate::files::repo::{self as files, Node};
use crate::files::FileError;
use crate::page::{page_limit, rows_for, Page};
use crate::quotas::repo as quotas;
use crate::tasks::now_ms;
use crate::tasks::purge::{self, PurgePayload};

#[derive(Debug, thiserror::Error)]
pub enum TrashError {
    #[error("no such trash item")]
    NotFound,
    #[error("a confined API token cannot reach the trash")]
    Confined,
    #[error("bad cursor")]
    BadCursor,
    #[error(transparent)]
    Files(#[from] FileError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl From<crate::page::BadLimit> for TrashError {
    fn from(e: crate::page::BadLimit) -> TrashError {
        TrashError::Files(FileError::BadLimit(e))
    }
}

impl From<TrashError> for AppError {
    fn from(e: TrashError) -> AppError {
        match e {
            TrashError::NotFound => AppError::not_found(),
            TrashError::Confined => AppError::forbidden(
                "TOKEN_CONFINED",
                "This token is confined to a folder; the trash is outside it.",
            ),
            TrashError::BadCursor => {
                AppError::unprocessable("INVALID_CURSOR", "The cursor is not valid.")
            }
            TrashError::Files(e) => e.into(),
            TrashError::Db(e) => e.into(),
        }
    }
}

#[derive(Clone)]
pub struct TrashService {
    db: Db,
}

fn owner_of(actor: Actor) -> Result<Uuid, TrashError> {
    match actor.root {
        Some(_) => Err(TrashError::Confined),
        None => Ok(actor.id),
    }
}

fn encode_cursor(item: &TrashItem) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        item.trashed_at.timestamp_micros(),
        item.id
    ))
}

fn decode_cursor(s: &str) -> Result<(DateTime<Utc>, Uuid), TrashError> {
    let text = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(TrashError::BadCursor)?;
    let (micros, id) = text.split_once(':').ok_or(TrashError::BadCursor)?;
    let at = micros
        .parse()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or(TrashError::BadCursor)?;
    Ok((at, id.parse().map_err(|_| TrashError::BadCursor)?))
}

/// Purges one item under its owner's lock (in the caller's transaction): frees exactly
/// its bytes and files, and queues the deletion of its objects (in every store). False
/// when it was gone already.
async fn purge_locked(
    db: &impl ConnectionTrait,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<(i64, i64)>, DbErr> {
    if !quotas::lock(db, owner).await? {
        return Ok(None);
    }
    let Some(item) = repo::item(db, owner, id).await? else {
        return Ok(None);
    };
    let keys = repo::keys(db, id).await?;
    if !repo::remove(db, id).await? {
        return Ok(None);
    }
    quotas::remove_used(db, owner, item.bytes, item.objects).await?;
    purge::enqueue(db, PurgePayload::keys(keys), now_ms()).await?;
    Ok(Some((item.bytes, item.objects)))
}

impl TrashService {
    pub fn new(db: Db) -> TrashService {
        TrashService { db }
    }

    /// A page of the caller's trash, newest first.
    pub async fn list(
        &self,
        actor: Actor,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<TrashItem, String>, TrashError> {
        let owner = owner_of(actor)?;
        let limit = page_limit(limit)?;
        let after = cursor.map(decode_cursor).transpose()?;
        let rows = repo::items(self.db.conn(), owner, after, rows_for(limit)).await?;
        let rows: Vec<TrashItem> = rows.into_iter().map(Into::into).collect();
        Ok(Page::from_rows(rows, limit, encode_cursor))
    }

    /// Puts an item back where it was (or at the root), under a free name.
    pub async fn restore(&self, actor: Actor, id: Uuid) -> Result<Node, TrashError> {
        let owner = owner_of(actor)?;
        let txn = self.db.write().await?;
        let restored = async {
            if !quotas::lock(&*txn, owner).await? {
                return Err(TrashError::NotFound);
            }
            let item = repo::item(&*txn, owner, id)
                .await?
                .ok_or(TrashError::NotFound)?;
            Ok(repo::restore(&*txn, &item).await?)
        }
        .await;
        let root = txn.end(restored).await?;
        files::find(self.db.conn(), root)
            .await?
            .ok_or(TrashError::NotFound)
    }

    /// Deletes an item for good.
    pub async fn delete(&self, actor: Actor, id: Uuid) -> Result<(), TrashError> {
        let owner = owner_of(actor)?;
        let txn = self.db.write().await?;
        let purged = purge_locked(&*txn, owner, id).await;
        match txn.end(purged).await? {
            Some(_) => Ok(()),
            None => Err(TrashError::NotFound),
        }
    }

    /// Deletes everything in the caller's trash for good.
    pub async fn empty(&self, actor: Actor) -> Result<Emptied, TrashError> {
        let owner = owner_of(actor)?;
        let mut done = Emptied {
            items: 0,
            bytes: 0,
            files: 0,
        };
        for id in repo::item_ids(self.db.conn(), owner).await? {
            let txn = self.db.write().await?;
            let purged = purge_locked(&*txn, owner, id).await;
            if let Some((bytes, files)) = txn.end(purged).await? {
                done.items += 1;
                done.bytes += bytes;
                done.files += files;
            }
        }
        Ok(done)
    }

    /// Purges items whose retention ended (the worker); how many.
    pub async fn purge_expired(&self, limit: u64) -> Result<u64, DbErr> {
        let mut n = 0;
        for (id, owner) in repo::expired(self.db.conn(), Utc::now(), limit).await? {
            let txn = self.db.write().await?;
            let purged = purge_locked(&*txn, owner, id).await;
            if txn.end(purged).await?.is_some() {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// The worker's periodic purge of expired trash.
pub struct ExpiryJob(pub TrashService);

#[async_trait::async_trait]
impl crate::tasks::worker::Periodic for ExpiryJob {
    fn name(&self) -> &'static str {
        "trash_expiry"
    }

    async fn run(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        while self.0.purge_expired(100).await? == 100 {}
        Ok(())
    }
}
