//! The admin queries over users and refresh tokens.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::archives::archive_key;
use crate::entity::users::Role;
use crate::entity::{files, refresh_tokens, tasks, uploads, users};
use crate::files::repo::{FileKind, FileState};
use crate::storage::keys::user_prefix;
use crate::tasks::KIND_ZIP;
use crate::uploads::repo::UploadState;

/// Users whose name contains `q`, by username, after `after`.
pub async fn list_users(
    db: &impl ConnectionTrait,
    q: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<users::Model>, DbErr> {
    let mut query = users::Entity::find();
    if let Some(q) = q.filter(|q| !q.is_empty()) {
        query = query.filter(users::Column::Username.contains(q.to_lowercase()));
    }
    if let Some(after) = after {
        query = query.filter(users::Column::Username.gt(after));
    }
    query
        .order_by_asc(users::Column::Username)
        .limit(limit)
        .all(db)
        .await
}

pub async fn user(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id).one(db).await
}

/// What an admin may change about a user.
#[derive(Debug, Default, Clone)]
pub struct UserChange {
    pub role: Option<Role>,
    pub quota_bytes: Option<i64>,
    pub quota_objects: Option<i64>,
    pub disabled: Option<bool>,
}

pub async fn update_user(
    db: &impl ConnectionTrait,
    id: Uuid,
    change: &UserChange,
) -> Result<(), DbErr> {
    let mut update = users::Entity::update_many()
        .col_expr(users::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(users::Column::Id.eq(id));
    if let Some(role) = &change.role {
        update = update.col_expr(users::Column::Role, Expr::value(*role));
    }
    if let Some(b) = change.quota_bytes {
        update = update.col_expr(users::Column::QuotaBytes, Expr::value(b));
    }
    if let Some(o) = change.quota_objects {
        update = update.col_expr(users::Column::QuotaObjects, Expr::value(o));
    }
    if let Some(d) = change.disabled {
        update = update.col_expr(users::Column::Disabled, Expr::value(d));
    }
    update.exec(db).await?;
    Ok(())
}

pub async fn admin_exists(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(users::Entity::find()
        .filter(users::Column::Role.eq(super::Role::Admin))
        .one(db)
        .await?
        .is_some())
}

/// A login session: one refresh-token family.
#[derive(Debug, Clone)]
pub struct Family {
    pub id: Uuid,
    pub started_at: DateTime<Utc>,
    pub last_refreshed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub active: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// The user's sessions, newest first.
pub async fn families(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<Family>, DbErr> {
    let tokens = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::UserId.eq(user))
        .order_by_asc(refresh_tokens::Column::CreatedAt)
        .all(db)
        .await?;
    let now = Utc::now();
    let mut by_family: BTreeMap<Uuid, Family> = BTreeMap::new();
    for t in tokens {
        let live = t.revoked_at.is_none()
            && t.used_at.is_none()
            && t.expires_at > now
            && t.absolute_expires_at > now;
        let f = by_family.entry(t.family_id).or_insert_with(|| Family {
            id: t.family_id,
            started_at: t.created_at,
            last_refreshed_at: t.created_at,
            expires_at: t.expires_at,
            active: false,
            user_agent: None,
            ip: None,
        });
        f.last_refreshed_at = t.created_at;
        f.expires_at = t.expires_at.min(t.absolute_expires_at);
        f.active |= live;
        f.user_agent = t.user_agent;
        f.ip = t.ip;
    }
    let mut out: Vec<Family> = by_family.into_values().collect();
    out.sort_by_key(|f| std::cmp::Reverse(f.started_at));
    Ok(out)
}

/// `SUM` as a BIGINT on every backend (PostgreSQL sums BIGINTs as NUMERIC), 0 over no rows.
fn sum(column: &str) -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"))
}

/// Usage summed over every user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub users: i64,
    pub disabled_users: i64,
    pub used_bytes: i64,
    pub used_objects: i64,
    pub reserved_bytes: i64,
    pub reserved_objects: i64,
    pub quota_bytes: i64,
    pub quota_objects: i64,
}

pub async fn totals(db: &impl ConnectionTrait) -> Result<Totals, DbErr> {
    type Row = (i64, i64, i64, i64, i64, i64, i64, i64);
    let row: Option<Row> = users::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "users")
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(CASE WHEN disabled THEN 1 ELSE 0 END), 0) AS BIGINT)"),
            "disabled_users",
        )
        .column_as(sum("used_bytes"), "used_bytes")
        .column_as(sum("used_objects"), "used_objects")
        .column_as(sum("reserved_bytes"), "reserved_bytes")
        .column_as(sum("reserved_objects"), "reserved_objects")
        .column_as(sum("quota_bytes"), "quota_bytes")
        .column_as(sum("quota_objects"), "quota_objects")
        .into_tuple()
        .one(db)
        .await?;
    Ok(row
        .map(|r| Totals {
            users: r.0,
            disabled_users: r.1,
            used_bytes: r.2,
            used_objects: r.3,
            reserved_bytes: r.4,
            reserved_objects: r.5,
            quota_bytes: r.6,
            quota_objects: r.7,
        })
        .unwrap_or_default())
}

/// The `n` users using the most bytes.
pub async fn top_users(db: &impl ConnectionTrait, n: u64) -> Result<Vec<users::Model>, DbErr> {
    users::Entity::find()
        .order_by_desc(users::Column::UsedBytes)
        .order_by_asc(users::Column::Username)
        .limit(n)
        .all(db)
        .await
}

/// Stored files (objects and bytes) grouped by `column` of `files`, most bytes first.
pub async fn stored_by(
    db: &impl ConnectionTrait,
    column: files::Column,
    limit: Option<u64>,
) -> Result<Vec<(Option<String>, i64, i64)>, DbErr> {
    files::Entity::find()
        .select_only()
        .column(column)
        .column_as(Expr::cust("COUNT(*)"), "objects")
        .column_as(sum("size"), "bytes")
        .filter(files::Column::Kind.eq(FileKind::File))
        .filter(files::Column::State.eq(FileState::Active))
        .group_by(column)
        .order_by_desc(Expr::cust("3"))
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// How many uploads are open.
pub async fn open_uploads(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let n: Option<i64> = uploads::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "uploads")
        .filter(uploads::Column::State.eq(UploadState::Open))
        .into_tuple()
        .one(db)
        .await?;
    Ok(n.unwrap_or_default())
}

/// What deleting a user leaves for the worker.
#[derive(Debug, Default)]
pub struct Removed {
    /// The user's own objects (`<user id>/...`).
    pub prefix: String,
    /// Archives built for the user.
    pub archive_keys: Vec<String>,
    /// Multipart uploads still open in the store: `(key, upload id)`.
    pub multipart: Vec<(String, String)>,
}

/// Deletes a user with everything they own (files, uploads, shares both ways, links,
/// sessions and tasks: by foreign-key cascade and here). The audit log stays.
pub async fn delete_user(db: &impl ConnectionTrait, id: Uuid) -> Result<Removed, DbErr> {
    let multipart = uploads::Entity::find()
        .filter(uploads::Column::UserId.eq(id))
        .filter(uploads::Column::State.eq(UploadState::Open))
        .filter(uploads::Column::MultipartUploadId.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(|u| Some((u.object_key, u.multipart_upload_id?)))
        .collect();
    let owned_tasks = tasks::Entity::find()
        .filter(tasks::Column::OwnerId.eq(id))
        .all(db)
        .await?;
    let archive_keys = owned_tasks
        .iter()
        .filter(|t| t.kind == KIND_ZIP)
        .map(|t| archive_key(t.id))
        .collect();
    tasks::Entity::delete_many()
        .filter(tasks::Column::OwnerId.eq(id))
        .exec(db)
        .await?;
    users::Entity::delete_by_id(id).exec(db).await?;
    Ok(Removed {
        prefix: user_prefix(id),
        archive_keys,
        multipart,
    })
}
