//! The only device-login code that touches the database.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entity::device_codes::{ActiveModel, Column, DeviceState, Entity, Model};

pub async fn insert(db: &impl ConnectionTrait, row: Model) -> Result<(), DbErr> {
    ActiveModel::from(row).insert(db).await?;
    Ok(())
}

pub async fn find_by_device_code(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::DeviceCodeHash.eq(hash))
        .one(db)
        .await
}

pub async fn find_by_user_code(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::UserCodeHash.eq(hash))
        .one(db)
        .await
}

/// Records a poll at `at` and the interval the device must keep from now on.
pub async fn polled(
    db: &impl ConnectionTrait,
    id: Uuid,
    at: DateTime<Utc>,
    interval: i32,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::LastPollAt, Expr::value(at))
        .col_expr(Column::IntervalSecs, Expr::value(interval))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves an approved login to `redeemed`; false when it was not approved (any more).
pub async fn redeem(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    let done = Entity::update_many()
        .col_expr(Column::State, Expr::value(DeviceState::Redeemed))
        .filter(Column::Id.eq(id))
        .filter(Column::State.eq(DeviceState::Approved))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Approves or denies a pending, unexpired login; false when it is not pending any more.
pub async fn decide(
    db: &impl ConnectionTrait,
    id: Uuid,
    user: Uuid,
    state: DeviceState,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = Entity::update_many()
        .col_expr(Column::State, Expr::value(state))
        .col_expr(Column::UserId, Expr::value(user))
        .col_expr(Column::DecidedAt, Expr::value(at))
        .filter(Column::Id.eq(id))
        .filter(Column::State.eq(DeviceState::Pending))
        .filter(Column::ExpiresAt.gt(at))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Clears logins that expired before `before`.
pub async fn clear_ended(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::ExpiresAt.lt(before))
        .exec(db)
        .await?;
    Ok(())
}
