//! The admin queries over users and refresh tokens.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entity::{refresh_tokens, users};

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
    pub role: Option<String>,
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
        update = update.col_expr(users::Column::Role, Expr::value(role.clone()));
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
        .filter(users::Column::Role.eq(super::ROLE_ADMIN))
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
