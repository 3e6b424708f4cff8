//! The only API-token code that touches the database.

use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::{split_scopes, TokenInfo};
use crate::db::Db;
use crate::entity::api_tokens::{self, Column, Entity};
use crate::entity::files::{self, FileKind};

impl From<api_tokens::Model> for TokenInfo {
    fn from(m: api_tokens::Model) -> TokenInfo {
        TokenInfo {
            id: m.id,
            user_id: m.user_id,
            name: m.name,
            scopes: split_scopes(&m.scopes),
            created_at: m.created_at,
            expires_at: m.expires_at,
            last_used_at: m.last_used_at,
            last_used_ip: m.last_used_ip,
            folder_id: m.folder_id,
            budget_bytes: m.budget_bytes,
            budget_used: m.budget_used,
        }
    }
}

pub struct NewRow<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: &'a str,
    pub token_hash: String,
    pub scopes: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub folder_id: Option<Uuid>,
    pub budget_bytes: Option<i64>,
}

pub async fn insert(db: &impl ConnectionTrait, row: NewRow<'_>) -> Result<TokenInfo, DbErr> {
    let model = api_tokens::ActiveModel {
        id: Set(row.id),
        user_id: Set(row.user_id),
        name: Set(row.name.to_owned()),
        token_hash: Set(row.token_hash),
        scopes: Set(row.scopes),
        expires_at: Set(row.expires_at),
        created_at: Set(row.created_at),
        last_used_at: Set(None),
        last_used_ip: Set(None),
        folder_id: Set(row.folder_id),
        budget_bytes: Set(row.budget_bytes),
        budget_used: Set(0),
    }
    .insert(db)
    .await?;
    Ok(model.into())
}

/// The token stored under `hash`, expired or not.
pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<TokenInfo>, DbErr> {
    Ok(Entity::find()
        .filter(Column::TokenHash.eq(hash))
        .one(db)
        .await?
        .map(TokenInfo::from))
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<TokenInfo>, DbErr> {
    Ok(Entity::find_by_id(id).one(db).await?.map(TokenInfo::from))
}

/// How many unexpired tokens the user holds (after [`delete_expired`]: all of them).
/// The folders `user`'s confined tokens are confined to (each token dies with its folder).
pub async fn confining_folders(
    db: &impl ConnectionTrait,
    user: Uuid,
) -> Result<BTreeSet<Uuid>, DbErr> {
    let rows: Vec<Option<Uuid>> = Entity::find()
        .select_only()
        .column(Column::FolderId)
        .filter(Column::UserId.eq(user))
        .filter(Column::FolderId.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().flatten().collect())
}

pub async fn count(db: &impl ConnectionTrait, user: Uuid) -> Result<u64, DbErr> {
    Entity::find()
        .filter(Column::UserId.eq(user))
        .count(db)
        .await
}

pub async fn list_of(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<TokenInfo>, DbErr> {
    Ok(Entity::find()
        .filter(Column::UserId.eq(user))
        .order_by_desc(Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(TokenInfo::from)
        .collect())
}

/// Tokens of every user (or of `user`), by id, after the cursor `after`.
pub async fn list_all(
    db: &impl ConnectionTrait,
    user: Option<Uuid>,
    after: Option<Uuid>,
    rows: u64,
) -> Result<Vec<TokenInfo>, DbErr> {
    let mut q = Entity::find();
    if let Some(user) = user {
        q = q.filter(Column::UserId.eq(user));
    }
    if let Some(after) = after {
        q = q.filter(Column::Id.gt(after));
    }
    Ok(q.order_by_asc(Column::Id)
        .limit(rows)
        .all(db)
        .await?
        .into_iter()
        .map(TokenInfo::from)
        .collect())
}

pub async fn delete(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Revokes every token of the user (password change, account disabled).
pub async fn delete_for_user(db: &impl ConnectionTrait, user: Uuid) -> Result<u64, DbErr> {
    Ok(Entity::delete_many()
        .filter(Column::UserId.eq(user))
        .exec(db)
        .await?
        .rows_affected)
}

/// Clears the user's tokens that expired before `now`.
pub async fn delete_expired(
    db: &impl ConnectionTrait,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::UserId.eq(user))
        .filter(Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(())
}

/// Records a use: one statement, outside any transaction.
pub async fn touch(db: &Db, id: Uuid, at: DateTime<Utc>, ip: Option<String>) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::LastUsedAt, Expr::value(at))
        .col_expr(Column::LastUsedIp, Expr::value(ip))
        .filter(Column::Id.eq(id))
        .exec(db.conn())
        .await?;
    Ok(())
}

/// A token's byte budget as the upload path sees it.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// `None`: no budget.
    pub bytes: Option<i64>,
    pub used: i64,
}

impl Budget {
    pub fn fits(&self, size: i64) -> bool {
        self.bytes.is_none_or(|b| self.used + size <= b)
    }
}

/// The budgets of `tokens` that still exist, their rows locked for the rest of the
/// transaction (in id order; callers lock the billed users' rows first).
pub async fn locked_budgets(
    db: &impl ConnectionTrait,
    tokens: &BTreeSet<Uuid>,
) -> Result<HashMap<Uuid, Budget>, DbErr> {
    if tokens.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Option<i64>, i64)> = Entity::find()
        .select_only()
        .column(Column::Id)
        .column(Column::BudgetBytes)
        .column(Column::BudgetUsed)
        .filter(Column::Id.is_in(tokens.iter().copied()))
        .order_by_asc(Column::Id)
        .lock(LockType::NoKeyUpdate)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, bytes, used)| (id, Budget { bytes, used }))
        .collect())
}

/// Adds `bytes` (negative: gives them back) to what the token's uploads reserved.
pub async fn charge(db: &impl ConnectionTrait, token: Uuid, bytes: i64) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::BudgetUsed, Expr::col(Column::BudgetUsed).add(bytes))
        .filter(Column::Id.eq(token))
        .exec(db)
        .await?;
    Ok(())
}

/// Whether `folder` is a folder of `user`'s.
pub async fn is_folder_of(
    db: &impl ConnectionTrait,
    user: Uuid,
    folder: Uuid,
) -> Result<bool, DbErr> {
    Ok(files::Entity::find_by_id(folder)
        .filter(files::Column::OwnerId.eq(user))
        .filter(files::Column::Kind.eq(FileKind::Folder))
        .count(db)
        .await?
        > 0)
}
