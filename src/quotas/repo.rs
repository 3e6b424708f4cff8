//! Quota arithmetic on the `users` row; the only quota code that touches sea-orm.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::users::{self, Column as C};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub used_bytes: i64,
    pub used_objects: i64,
    pub reserved_bytes: i64,
    pub reserved_objects: i64,
    pub quota_bytes: i64,
    pub quota_objects: i64,
}

pub async fn usage(db: &impl ConnectionTrait, user: Uuid) -> Result<Option<Usage>, DbErr> {
    Ok(users::Entity::find_by_id(user)
        .one(db)
        .await?
        .map(|u| Usage {
            used_bytes: u.used_bytes,
            used_objects: u.used_objects,
            reserved_bytes: u.reserved_bytes,
            reserved_objects: u.reserved_objects,
            quota_bytes: u.quota_bytes,
            quota_objects: u.quota_objects,
        }))
}

/// Reserves `bytes` and one object if used + reserved + request stays within quota.
pub async fn reserve(db: &impl ConnectionTrait, user: Uuid, bytes: i64) -> Result<bool, DbErr> {
    let res = users::Entity::update_many()
        .col_expr(C::ReservedBytes, Expr::col(C::ReservedBytes).add(bytes))
        .col_expr(C::ReservedObjects, Expr::col(C::ReservedObjects).add(1))
        .filter(C::Id.eq(user))
        .filter(
            Expr::col(C::UsedBytes)
                .add(Expr::col(C::ReservedBytes))
                .add(bytes)
                .lte(Expr::col(C::QuotaBytes)),
        )
        .filter(
            Expr::col(C::UsedObjects)
                .add(Expr::col(C::ReservedObjects))
                .add(1)
                .lte(Expr::col(C::QuotaObjects)),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Turns a reservation of `reserved` bytes into usage of `actual` bytes.
pub async fn commit(
    db: &impl ConnectionTrait,
    user: Uuid,
    reserved: i64,
    actual: i64,
) -> Result<(), DbErr> {
    users::Entity::update_many()
        .col_expr(C::ReservedBytes, Expr::col(C::ReservedBytes).sub(reserved))
        .col_expr(C::ReservedObjects, Expr::col(C::ReservedObjects).sub(1))
        .col_expr(C::UsedBytes, Expr::col(C::UsedBytes).add(actual))
        .col_expr(C::UsedObjects, Expr::col(C::UsedObjects).add(1))
        .filter(C::Id.eq(user))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives a reservation back.
pub async fn release(db: &impl ConnectionTrait, user: Uuid, reserved: i64) -> Result<(), DbErr> {
    users::Entity::update_many()
        .col_expr(C::ReservedBytes, Expr::col(C::ReservedBytes).sub(reserved))
        .col_expr(C::ReservedObjects, Expr::col(C::ReservedObjects).sub(1))
        .filter(C::Id.eq(user))
        .exec(db)
        .await?;
    Ok(())
}

/// Adds usage directly (server-side copies) if it stays within quota.
pub async fn add_used(
    db: &impl ConnectionTrait,
    user: Uuid,
    bytes: i64,
    objects: i64,
) -> Result<bool, DbErr> {
    let res = users::Entity::update_many()
        .col_expr(C::UsedBytes, Expr::col(C::UsedBytes).add(bytes))
        .col_expr(C::UsedObjects, Expr::col(C::UsedObjects).add(objects))
        .filter(C::Id.eq(user))
        .filter(
            Expr::col(C::UsedBytes)
                .add(Expr::col(C::ReservedBytes))
                .add(bytes)
                .lte(Expr::col(C::QuotaBytes)),
        )
        .filter(
            Expr::col(C::UsedObjects)
                .add(Expr::col(C::ReservedObjects))
                .add(objects)
                .lte(Expr::col(C::QuotaObjects)),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Frees usage of deleted files.
pub async fn remove_used(
    db: &impl ConnectionTrait,
    user: Uuid,
    bytes: i64,
    objects: i64,
) -> Result<(), DbErr> {
    users::Entity::update_many()
        .col_expr(C::UsedBytes, Expr::col(C::UsedBytes).sub(bytes))
        .col_expr(C::UsedObjects, Expr::col(C::UsedObjects).sub(objects))
        .filter(C::Id.eq(user))
        .exec(db)
        .await?;
    Ok(())
}

/// Every user's stored counters, for the usage check.
pub async fn all_usage(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, String, Usage)>, DbErr> {
    Ok(users::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|u| {
            let usage = Usage {
                used_bytes: u.used_bytes,
                used_objects: u.used_objects,
                reserved_bytes: u.reserved_bytes,
                reserved_objects: u.reserved_objects,
                quota_bytes: u.quota_bytes,
                quota_objects: u.quota_objects,
            };
            (u.id, u.username, usage)
        })
        .collect())
}
