//! The only auth code that touches sea-orm.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set, SqlErr,
};
use uuid::Uuid;

use crate::entity::users::Role;
use crate::entity::{refresh_tokens, users};

/// A user as the rest of the code sees one.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    pub tokens_valid_after: i64,
    pub created_at: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
    /// The identity provider vouching for the account; `None`: a local account.
    pub auth_provider: Option<String>,
}

impl From<users::Model> for User {
    fn from(m: users::Model) -> User {
        User {
            id: m.id,
            username: m.username,
            email: m.email,
            password_hash: m.password_hash,
            role: m.role,
            disabled: m.disabled,
            tokens_valid_after: m.tokens_valid_after,
            auth_provider: m.auth_provider,
            created_at: m.created_at,
            last_login: m.last_login,
        }
    }
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub password_hash: String,
    pub role: Role,
    pub quota_bytes: i64,
    pub quota_objects: i64,
    /// (provider, subject) of an account an identity provider vouches for.
    pub external: Option<(&'a str, &'a str)>,
}

/// `Ok(None)` when the username is taken (unique violation).
pub async fn insert_user(
    db: &impl ConnectionTrait,
    new: NewUser<'_>,
) -> Result<Option<User>, DbErr> {
    let now = Utc::now();
    let model = users::ActiveModel {
        id: Set(Uuid::new_v4()),
        username: Set(new.username.to_owned()),
        email: Set(new.email.map(str::to_owned)),
        password_hash: Set(new.password_hash),
        role: Set(new.role),
        disabled: Set(false),
        quota_bytes: Set(new.quota_bytes),
        quota_objects: Set(new.quota_objects),
        used_bytes: Set(0),
        used_objects: Set(0),
        reserved_bytes: Set(0),
        reserved_objects: Set(0),
        tokens_valid_after: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        last_login: Set(None),
        auth_provider: Set(new.external.map(|(p, _)| p.to_owned())),
        auth_subject: Set(new.external.map(|(_, s)| s.to_owned())),
    };
    match model.insert(db).await {
        Ok(m) => Ok(Some(m.into())),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn find_user(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<User>, DbErr> {
    Ok(users::Entity::find_by_id(id).one(db).await?.map(User::from))
}

pub async fn find_user_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<User>, DbErr> {
    Ok(users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(db)
        .await?
        .map(User::from))
}

/// The account `provider` knows as `subject`.
pub async fn find_external(
    db: &impl ConnectionTrait,
    provider: &str,
    subject: &str,
) -> Result<Option<User>, DbErr> {
    Ok(users::Entity::find()
        .filter(users::Column::AuthProvider.eq(provider))
        .filter(users::Column::AuthSubject.eq(subject))
        .one(db)
        .await?
        .map(User::from))
}

/// Updates what the identity provider owns of an account: its name and email. `Ok(false)`
/// when the new name is taken by another account (nothing changes then).
pub async fn update_external(
    db: &impl ConnectionTrait,
    id: Uuid,
    username: &str,
    email: Option<&str>,
) -> Result<bool, DbErr> {
    let done = users::Entity::update_many()
        .col_expr(users::Column::Username, Expr::value(username))
        .col_expr(users::Column::Email, Expr::value(email))
        .col_expr(users::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await;
    match done {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn touch_last_login(
    db: &impl ConnectionTrait,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    users::Entity::update_many()
        .col_expr(users::Column::LastLogin, Expr::value(at))
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Makes every earlier access token of the user fail (their `ver` no longer matches)
/// and revokes every refresh-token family; optionally sets a new password hash.
/// Returns the new `tokens_valid_after`.
pub async fn revoke_everything(
    db: &impl ConnectionTrait,
    user: &User,
    new_password_hash: Option<String>,
) -> Result<i64, DbErr> {
    let now = Utc::now();
    let ver = now.timestamp_millis().max(user.tokens_valid_after + 1);
    let mut update = users::Entity::update_many()
        .col_expr(users::Column::TokensValidAfter, Expr::value(ver))
        .col_expr(users::Column::UpdatedAt, Expr::value(now));
    if let Some(hash) = new_password_hash {
        update = update.col_expr(users::Column::PasswordHash, Expr::value(hash));
    }
    update
        .filter(users::Column::Id.eq(user.id))
        .exec(db)
        .await?;
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
        .filter(refresh_tokens::Column::UserId.eq(user.id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(ver)
}

/// A stored refresh token, never the token itself.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub struct NewRefresh<'a> {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub user_agent: Option<&'a str>,
    pub ip: Option<String>,
}

pub async fn insert_refresh(db: &impl ConnectionTrait, new: NewRefresh<'_>) -> Result<Uuid, DbErr> {
    let id = Uuid::new_v4();
    refresh_tokens::ActiveModel {
        id: Set(id),
        user_id: Set(new.user_id),
        family_id: Set(new.family_id),
        token_hash: Set(new.token_hash),
        expires_at: Set(new.expires_at),
        absolute_expires_at: Set(new.absolute_expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
        replaced_by: Set(None),
        created_at: Set(Utc::now()),
        user_agent: Set(new.user_agent.map(|ua| ua.chars().take(256).collect())),
        ip: Set(new.ip),
    }
    .insert(db)
    .await?;
    Ok(id)
}

pub async fn find_refresh_by_hash(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<RefreshRecord>, DbErr> {
    Ok(refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(hash))
        .one(db)
        .await?
        .map(|m| RefreshRecord {
            id: m.id,
            user_id: m.user_id,
            family_id: m.family_id,
            expires_at: m.expires_at,
            absolute_expires_at: m.absolute_expires_at,
            used_at: m.used_at,
            revoked_at: m.revoked_at,
        }))
}

/// Marks a refresh token used, atomically: true for exactly one caller.
pub async fn claim_refresh(
    db: &impl ConnectionTrait,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::UsedAt, Expr::value(at))
        .filter(refresh_tokens::Column::Id.eq(id))
        .filter(refresh_tokens::Column::UsedAt.is_null())
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn set_replaced_by(db: &impl ConnectionTrait, id: Uuid, by: Uuid) -> Result<(), DbErr> {
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::ReplacedBy, Expr::value(by))
        .filter(refresh_tokens::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes every token of a family; returns how many were still live.
pub async fn revoke_family(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    family_id: Uuid,
) -> Result<u64, DbErr> {
    let res = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_tokens::Column::UserId.eq(user_id))
        .filter(refresh_tokens::Column::FamilyId.eq(family_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
