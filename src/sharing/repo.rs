//! The only sharing code that touches sea-orm: shares and share links.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::entity::shares::Permission;
use crate::entity::{share_links, shares, users};

/// A per-user share as the rest of the code sees one.
#[derive(Debug, Clone)]
pub struct Share {
    pub id: Uuid,
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub grantee_id: Uuid,
    pub permission: Permission,
    pub created_at: DateTime<Utc>,
}

impl From<shares::Model> for Share {
    fn from(m: shares::Model) -> Share {
        Share {
            id: m.id,
            file_id: m.file_id,
            owner_id: m.owner_id,
            grantee_id: m.grantee_id,
            permission: m.permission,
            created_at: m.created_at,
        }
    }
}

/// Creates the share, or changes the permission of an existing one; `true` when new.
pub async fn upsert(
    db: &impl ConnectionTrait,
    file_id: Uuid,
    owner: Uuid,
    grantee: Uuid,
    permission: Permission,
) -> Result<(Share, bool), DbErr> {
    let existing = find(db, file_id, grantee).await?;
    let model = shares::ActiveModel {
        id: Set(existing.as_ref().map(|s| s.id).unwrap_or_else(Uuid::now_v7)),
        file_id: Set(file_id),
        owner_id: Set(owner),
        grantee_id: Set(grantee),
        permission: Set(permission),
        created_at: Set(existing
            .as_ref()
            .map(|s| s.created_at)
            .unwrap_or_else(Utc::now)),
    };
    shares::Entity::insert(model)
        .on_conflict(
            OnConflict::columns([shares::Column::FileId, shares::Column::GranteeId])
                .update_column(shares::Column::Permission)
                .to_owned(),
        )
        .exec(db)
        .await?;
    let share = find(db, file_id, grantee)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("share".into()))?;
    Ok((share, existing.is_none()))
}

pub async fn find(
    db: &impl ConnectionTrait,
    file_id: Uuid,
    grantee: Uuid,
) -> Result<Option<Share>, DbErr> {
    Ok(shares::Entity::find()
        .filter(shares::Column::FileId.eq(file_id))
        .filter(shares::Column::GranteeId.eq(grantee))
        .one(db)
        .await?
        .map(Share::from))
}

/// Shares on any of `nodes`, with the grantee's username, oldest first.
pub async fn on_nodes(
    db: &impl ConnectionTrait,
    nodes: &[Uuid],
) -> Result<Vec<(Share, String)>, DbErr> {
    let rows = shares::Entity::find()
        .filter(shares::Column::FileId.is_in(nodes.iter().copied()))
        .order_by_asc(shares::Column::Id)
        .all(db)
        .await?;
    with_usernames(db, rows, |s| s.grantee_id).await
}

/// Shares granted to `grantee` after the cursor, with the owner's username.
pub async fn granted_to(
    db: &impl ConnectionTrait,
    grantee: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<(Share, String)>, DbErr> {
    let mut q = shares::Entity::find().filter(shares::Column::GranteeId.eq(grantee));
    if let Some(after) = after {
        q = q.filter(shares::Column::Id.gt(after));
    }
    let rows = q
        .order_by_asc(shares::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    with_usernames(db, rows, |s| s.owner_id).await
}

async fn with_usernames(
    db: &impl ConnectionTrait,
    rows: Vec<shares::Model>,
    who: impl Fn(&shares::Model) -> Uuid,
) -> Result<Vec<(Share, String)>, DbErr> {
    let ids: Vec<Uuid> = rows.iter().map(&who).collect();
    let names: std::collections::HashMap<Uuid, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    Ok(rows
        .into_iter()
        .map(|s| {
            let name = names.get(&who(&s)).cloned().unwrap_or_default();
            (Share::from(s), name)
        })
        .collect())
}

pub async fn delete(
    db: &impl ConnectionTrait,
    file_id: Uuid,
    grantee: Uuid,
) -> Result<bool, DbErr> {
    let res = shares::Entity::delete_many()
        .filter(shares::Column::FileId.eq(file_id))
        .filter(shares::Column::GranteeId.eq(grantee))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// A share link as the rest of the code sees one (never the token: only its hash exists).
#[derive(Debug, Clone)]
pub struct Link {
    pub id: Uuid,
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
    pub password_hash: Option<String>,
    pub max_downloads: Option<i64>,
    pub download_count: i64,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Link {
    /// Whether the link can still be redeemed at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none()
            && self.expires_at.is_none_or(|e| e > now)
            && self.max_downloads.is_none_or(|m| self.download_count < m)
    }
}

impl From<share_links::Model> for Link {
    fn from(m: share_links::Model) -> Link {
        Link {
            id: m.id,
            file_id: m.file_id,
            owner_id: m.owner_id,
            expires_at: m.expires_at,
            password_hash: m.password_hash,
            max_downloads: m.max_downloads,
            download_count: m.download_count,
            revoked_at: m.revoked_at,
            created_at: m.created_at,
        }
    }
}

pub struct NewLink<'a> {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub token_hash: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
    pub password_hash: Option<String>,
    pub max_downloads: Option<i64>,
}

pub async fn insert_link(db: &impl ConnectionTrait, new: NewLink<'_>) -> Result<Link, DbErr> {
    Ok(share_links::ActiveModel {
        id: Set(Uuid::now_v7()),
        file_id: Set(new.file_id),
        owner_id: Set(new.owner_id),
        token_hash: Set(new.token_hash.to_owned()),
        expires_at: Set(new.expires_at),
        password_hash: Set(new.password_hash),
        max_downloads: Set(new.max_downloads),
        download_count: Set(0),
        revoked_at: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?
    .into())
}

pub async fn links_of(db: &impl ConnectionTrait, file_id: Uuid) -> Result<Vec<Link>, DbErr> {
    Ok(share_links::Entity::find()
        .filter(share_links::Column::FileId.eq(file_id))
        .order_by_asc(share_links::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Link::from)
        .collect())
}

pub async fn find_link(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Link>, DbErr> {
    Ok(share_links::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(Link::from))
}

pub async fn find_link_by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<Link>, DbErr> {
    Ok(share_links::Entity::find()
        .filter(share_links::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?
        .map(Link::from))
}

/// Revokes a live link of `file_id`; `false` when there is none (or it was revoked).
pub async fn revoke_link(
    db: &impl ConnectionTrait,
    file_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let res = share_links::Entity::update_many()
        .col_expr(
            share_links::Column::RevokedAt,
            Expr::value(Some(Utc::now())),
        )
        .filter(share_links::Column::Id.eq(id))
        .filter(share_links::Column::FileId.eq(file_id))
        .filter(share_links::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Counts one download if the link is still live: one statement, so with
/// `max_downloads = N` exactly N calls succeed however many race.
pub async fn count_download(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    let now = Utc::now();
    let res = share_links::Entity::update_many()
        .col_expr(
            share_links::Column::DownloadCount,
            Expr::col(share_links::Column::DownloadCount).add(1),
        )
        .filter(share_links::Column::Id.eq(id))
        .filter(share_links::Column::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(share_links::Column::ExpiresAt.is_null())
                .add(share_links::Column::ExpiresAt.gt(now)),
        )
        .filter(
            Condition::any()
                .add(share_links::Column::MaxDownloads.is_null())
                .add(
                    Expr::col(share_links::Column::DownloadCount)
                        .lt(Expr::col(share_links::Column::MaxDownloads)),
                ),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Gives back a download counted for a redemption that then failed.
pub async fn uncount_download(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    share_links::Entity::update_many()
        .col_expr(
            share_links::Column::DownloadCount,
            Expr::col(share_links::Column::DownloadCount).sub(1),
        )
        .filter(share_links::Column::Id.eq(id))
        .filter(share_links::Column::DownloadCount.gt(0))
        .exec(db)
        .await?;
    Ok(())
}
