//! Quota arithmetic on the `users` row; the only quota code that touches sea-orm.

use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::entity::users::{self, Column as C};
use crate::entity::{files, uploads};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub used_bytes: i64,
    pub used_objects: i64,
    pub reserved_bytes: i64,
    pub reserved_objects: i64,
    pub quota_bytes: i64,
    pub quota_objects: i64,
}

impl From<&users::Model> for Usage {
    fn from(u: &users::Model) -> Usage {
        Usage {
            used_bytes: u.used_bytes,
            used_objects: u.used_objects,
            reserved_bytes: u.reserved_bytes,
            reserved_objects: u.reserved_objects,
            quota_bytes: u.quota_bytes,
            quota_objects: u.quota_objects,
        }
    }
}

/// used + reserved + the request stays within both quotas.
fn fits(bytes: i64, objects: i64) -> Condition {
    Condition::all()
        .add(
            Expr::col(C::UsedBytes)
                .add(Expr::col(C::ReservedBytes))
                .add(bytes)
                .lte(Expr::col(C::QuotaBytes)),
        )
        .add(
            Expr::col(C::UsedObjects)
                .add(Expr::col(C::ReservedObjects))
                .add(objects)
                .lte(Expr::col(C::QuotaObjects)),
        )
}

/// Applies deltas to a user's counters; with `only_if_fits`, only when the added usage
/// or reservation keeps them within quota. True when the row changed.
async fn adjust(
    db: &impl ConnectionTrait,
    user: Uuid,
    (used_bytes, used_objects): (i64, i64),
    (reserved_bytes, reserved_objects): (i64, i64),
    only_if_fits: bool,
) -> Result<bool, DbErr> {
    let mut update = users::Entity::update_many()
        .col_expr(C::UsedBytes, Expr::col(C::UsedBytes).add(used_bytes))
        .col_expr(C::UsedObjects, Expr::col(C::UsedObjects).add(used_objects))
        .col_expr(
            C::ReservedBytes,
            Expr::col(C::ReservedBytes).add(reserved_bytes),
        )
        .col_expr(
            C::ReservedObjects,
            Expr::col(C::ReservedObjects).add(reserved_objects),
        )
        .filter(C::Id.eq(user));
    if only_if_fits {
        update = update.filter(fits(
            used_bytes + reserved_bytes,
            used_objects + reserved_objects,
        ));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

pub async fn usage(db: &impl ConnectionTrait, user: Uuid) -> Result<Option<Usage>, DbErr> {
    Ok(users::Entity::find_by_id(user)
        .one(db)
        .await?
        .as_ref()
        .map(Usage::from))
}

/// Locks the user's row until the transaction ends; false when the user is gone.
///
/// Every transaction that changes a user's files, uploads or counters takes this lock
/// first, so on PostgreSQL they run one after another per user and each sees the tree
/// as the previous one left it: what a delete reads is what it deletes, a folder
/// cannot vanish under a start, and no two of them wait for each other's row locks in
/// opposite orders. (`NO KEY UPDATE`: rows referencing the user can still be inserted
/// meanwhile.) On SQLite the write gate already runs writers one at a time, and this
/// only checks that the user exists.
pub async fn lock(db: &impl ConnectionTrait, user: Uuid) -> Result<bool, DbErr> {
    let row: Option<Uuid> = users::Entity::find_by_id(user)
        .select_only()
        .column(C::Id)
        .lock(LockType::NoKeyUpdate)
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.is_some())
}

/// Adds `objects` reservations of `bytes` in all; the caller checked the quota.
pub async fn add_reserved(
    db: &impl ConnectionTrait,
    user: Uuid,
    bytes: i64,
    objects: i64,
) -> Result<(), DbErr> {
    adjust(db, user, (0, 0), (bytes, objects), false)
        .await
        .map(drop)
}

/// Turns a reservation of `reserved` bytes into usage of `actual` bytes.
pub async fn commit(
    db: &impl ConnectionTrait,
    user: Uuid,
    reserved: i64,
    actual: i64,
) -> Result<(), DbErr> {
    commit_many(db, user, reserved, actual, 1).await
}

/// Turns `objects` reservations of `reserved` bytes in all into usage of `actual` bytes.
pub async fn commit_many(
    db: &impl ConnectionTrait,
    user: Uuid,
    reserved: i64,
    actual: i64,
    objects: i64,
) -> Result<(), DbErr> {
    if objects == 0 {
        return Ok(());
    }
    adjust(db, user, (actual, objects), (-reserved, -objects), false)
        .await
        .map(drop)
}

/// Reserves `objects` objects of `bytes` in all when they fit the quota; true if so.
pub async fn reserve_if_fits(
    db: &impl ConnectionTrait,
    user: Uuid,
    bytes: i64,
    objects: i64,
) -> Result<bool, DbErr> {
    adjust(db, user, (0, 0), (bytes, objects), true).await
}

/// Turns a reservation of `reserved` bytes into the new content of a stored file that
/// held `old` bytes and now holds `new`: one object reserved less, none used more.
pub async fn commit_replacement(
    db: &impl ConnectionTrait,
    user: Uuid,
    reserved: i64,
    old: i64,
    new: i64,
) -> Result<(), DbErr> {
    adjust(db, user, (new - old, 0), (-reserved, -1), false)
        .await
        .map(drop)
}

/// Gives back `objects` reservations of `bytes` in all.
pub async fn release(
    db: &impl ConnectionTrait,
    user: Uuid,
    bytes: i64,
    objects: i64,
) -> Result<(), DbErr> {
    adjust(db, user, (0, 0), (-bytes, -objects), false)
        .await
        .map(drop)
}

/// Frees usage of deleted files.
pub async fn remove_used(
    db: &impl ConnectionTrait,
    user: Uuid,
    bytes: i64,
    objects: i64,
) -> Result<(), DbErr> {
    adjust(db, user, (-bytes, -objects), (0, 0), false)
        .await
        .map(drop)
}

/// Every user's stored counters, for the usage check.
pub async fn all_usage(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, String, Usage)>, DbErr> {
    Ok(users::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username.clone(), Usage::from(&u)))
        .collect())
}

/// Active file bytes and count per owner, for the usage check.
pub async fn usage_by_owner(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, i64, i64)>, DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(FromQueryResult)]
    struct Row {
        owner_id: Uuid,
        bytes: Option<i64>,
        objects: i64,
    }
    let rows = files::Entity::find()
        .select_only()
        .column(files::Column::OwnerId)
        .column_as(files::Column::Size.sum().cast_as("BIGINT"), "bytes")
        .column_as(files::Column::Id.count(), "objects")
        .filter(files::Column::Kind.eq(files::FileKind::File))
        .filter(files::Column::State.eq(files::FileState::Active))
        .group_by(files::Column::OwnerId)
        .into_model::<Row>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.owner_id, r.bytes.unwrap_or(0), r.objects))
        .collect())
}

/// Open reservations per user (bytes, count), for the usage check.
pub async fn reserved_by_user(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, i64, i64)>, DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(FromQueryResult)]
    struct Row {
        user_id: Uuid,
        bytes: Option<i64>,
        uploads: i64,
    }
    let rows = uploads::Entity::find()
        .select_only()
        .column(uploads::Column::UserId)
        .column_as(
            uploads::Column::DeclaredSize.sum().cast_as("BIGINT"),
            "bytes",
        )
        .column_as(uploads::Column::Id.count(), "uploads")
        .filter(uploads::Column::State.eq(uploads::UploadState::Open))
        .group_by(uploads::Column::UserId)
        .into_model::<Row>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.user_id, r.bytes.unwrap_or(0), r.uploads))
        .collect())
}

/// Bytes and files in trash per owner (the usage check).
pub async fn trash_by_owner(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, i64, i64)>, DbErr> {
    let rows: Vec<(Uuid, Option<i64>, Option<i64>)> = crate::entity::trash_items::Entity::find()
        .select_only()
        .column(crate::entity::trash_items::Column::OwnerId)
        .column_as(
            crate::entity::trash_items::Column::Bytes
                .sum()
                .cast_as("BIGINT"),
            "bytes",
        )
        .column_as(
            crate::entity::trash_items::Column::Objects
                .sum()
                .cast_as("BIGINT"),
            "objects",
        )
        .group_by(crate::entity::trash_items::Column::OwnerId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(o, b, n)| (o, b.unwrap_or(0), n.unwrap_or(0)))
        .collect())
}

/// Bytes and files in `owner`'s trash.
pub async fn trash_of(db: &impl ConnectionTrait, owner: Uuid) -> Result<(i64, i64), DbErr> {
    let row: Option<(Option<i64>, Option<i64>)> = crate::entity::trash_items::Entity::find()
        .select_only()
        .column_as(
            crate::entity::trash_items::Column::Bytes
                .sum()
                .cast_as("BIGINT"),
            "bytes",
        )
        .column_as(
            crate::entity::trash_items::Column::Objects
                .sum()
                .cast_as("BIGINT"),
            "objects",
        )
        .filter(crate::entity::trash_items::Column::OwnerId.eq(owner))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.map_or((0, 0), |(b, n)| (b.unwrap_or(0), n.unwrap_or(0))))
}
