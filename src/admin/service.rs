//! The admin rules: who may be changed how, what deleting a user leaves for the worker,
//! and the settings changed at run time. Handlers only map these to HTTP.

use sea_orm::DbErr;
use uuid::Uuid;

use super::dto::{StatsResponse, UpdateUserRequest};
use super::repo::{self, Family, UserChange};
use super::Role;
use crate::audit::repo::{self as audit, Filter, StoredEvent};
use crate::auth::repo as users;
use crate::auth::AuthService;
use crate::db::Db;
use crate::entity::{files, users::Model as UserRow};
use crate::error::AppError;
use crate::page::{page_limit, rows_for, BadLimit, Page};
use crate::runtime::{Runtime, RuntimeSettings, SettingsPatch};
use crate::tasks::now_ms;
use crate::tasks::purge::{self, MultipartRef, PurgePayload};

/// Content-type groups listed by the statistics.
const CONTENT_TYPE_GROUPS: u64 = 50;
/// Heaviest users listed by the statistics, by default and at most.
const TOP_USERS: u64 = 10;
const MAX_TOP_USERS: u64 = 100;

/// Why an admin operation failed; knows nothing of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    BadLimit(#[from] BadLimit),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl From<AdminError> for AppError {
    fn from(e: AdminError) -> AppError {
        match e {
            AdminError::NotFound => AppError::not_found(),
            AdminError::Invalid(d) => AppError::unprocessable("INVALID_REQUEST", d),
            AdminError::BadLimit(e) => e.into(),
            AdminError::Db(e) => e.into(),
        }
    }
}

fn invalid(detail: &str) -> AdminError {
    AdminError::Invalid(detail.to_owned())
}

/// A user as an admin changed it: before and after, and what was asked.
pub struct UserUpdate {
    pub before: UserRow,
    pub after: UserRow,
    pub change: UserChange,
}

/// A deleted user, and the task purging their objects.
pub struct UserDeletion {
    pub user: UserRow,
    pub purge_task_id: Uuid,
}

#[derive(Clone)]
pub struct AdminService {
    db: Db,
    auth: AuthService,
    runtime: Runtime,
}

impl AdminService {
    pub fn new(db: Db, auth: AuthService, runtime: Runtime) -> AdminService {
        AdminService { db, auth, runtime }
    }

    pub async fn user(&self, id: Uuid) -> Result<UserRow, AdminError> {
        repo::user(self.db.conn(), id)
            .await?
            .ok_or(AdminError::NotFound)
    }

    /// Users by username, those whose name contains `q` if given.
    pub async fn users(
        &self,
        q: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<UserRow, String>, AdminError> {
        let limit = page_limit(limit)?;
        let rows = repo::list_users(self.db.conn(), q, cursor, rows_for(limit)).await?;
        Ok(Page::from_rows(rows, limit, |u| u.username.clone()))
    }

    /// Changes a user's role, quota or disabled flag; disabling ends every session.
    /// An admin cannot disable or demote themselves.
    pub async fn update_user(
        &self,
        admin: Uuid,
        id: Uuid,
        body: UpdateUserRequest,
    ) -> Result<UserUpdate, AdminError> {
        let before = self.user(id).await?;
        let role = match body.role.as_deref() {
            None => None,
            Some(r) => Some(
                crate::entity::parse::<Role>(r)
                    .ok_or_else(|| invalid("role must be `admin` or `user`."))?,
            ),
        };
        if body.quota_bytes.is_some_and(|b| b < 0) || body.quota_objects.is_some_and(|o| o < 0) {
            return Err(invalid("Quotas cannot be negative."));
        }
        let demoted = body.disabled == Some(true) || role == Some(Role::User);
        if admin == before.id && demoted {
            return Err(invalid(
                "You cannot disable or demote yourself; ask another admin.",
            ));
        }
        let change = UserChange {
            role,
            quota_bytes: body.quota_bytes,
            quota_objects: body.quota_objects,
            disabled: body.disabled,
        };
        let stamp = self.auth.api_tokens().stamp().await;
        let txn = self.db.write().await?;
        repo::update_user(&*txn, before.id, &change).await?;
        if change.disabled == Some(true) {
            if let Some(user) = users::find_user(&*txn, before.id).await? {
                users::revoke_everything(&*txn, &user, None).await?;
            }
            crate::auth::api_tokens::repo::delete_for_user(&*txn, before.id).await?;
        }
        txn.commit().await?;
        self.auth.forget_user(before.id);
        if change.disabled == Some(true) {
            self.auth.api_tokens().settle(stamp).await;
        }
        let after = self.user(before.id).await?;
        Ok(UserUpdate {
            before,
            after,
            change,
        })
    }

    /// Deletes a user with everything they own, and enqueues the purge of their objects:
    /// now, and again once every URL handed out before the deletion has expired.
    pub async fn delete_user(&self, admin: Uuid, id: Uuid) -> Result<UserDeletion, AdminError> {
        let user = self.user(id).await?;
        if admin == user.id {
            return Err(invalid("You cannot delete yourself; ask another admin."));
        }
        let ttl = self.runtime.get().await?.presign_ttl();
        let txn = self.db.write().await?;
        let removed = repo::delete_user(&*txn, user.id).await?;
        let multipart = removed
            .multipart
            .into_iter()
            .map(|(key, upload_id)| MultipartRef { key, upload_id })
            .collect();
        let now = PurgePayload {
            keys: removed.archive_keys,
            multipart,
            prefix: Some(removed.prefix.clone()),
            ..PurgePayload::default()
        };
        // A payload with a prefix is never empty: a task is always enqueued.
        let purge_task_id = purge::enqueue(&*txn, now, now_ms())
            .await?
            .unwrap_or_default();
        // Objects put in the meantime with URLs handed out before.
        let later = PurgePayload {
            prefix: Some(removed.prefix),
            ..PurgePayload::default()
        };
        purge::enqueue(&*txn, later, purge::late_sweep_at(ttl)).await?;
        txn.commit().await?;
        self.auth.forget_user(user.id);
        Ok(UserDeletion {
            user,
            purge_task_id,
        })
    }

    /// Totals, the `top` heaviest users, and stored files by tier and content type.
    pub async fn stats(&self, top: Option<u64>) -> Result<StatsResponse, AdminError> {
        let top = top.unwrap_or(TOP_USERS);
        if !(1..=MAX_TOP_USERS).contains(&top) {
            return Err(AdminError::Invalid(format!(
                "top must be between 1 and {MAX_TOP_USERS}."
            )));
        }
        let db = self.db.conn();
        let t = repo::totals(db).await?;
        let open_uploads = repo::open_uploads(db).await?;
        let top_users = repo::top_users(db, top).await?;
        let by_tier = repo::stored_by(db, files::Column::Tier, None).await?;
        let by_content_type =
            repo::stored_by(db, files::Column::ContentType, Some(CONTENT_TYPE_GROUPS)).await?;
        Ok(StatsResponse {
            users: t.users,
            disabled_users: t.disabled_users,
            used_bytes: t.used_bytes,
            used_objects: t.used_objects,
            reserved_bytes: t.reserved_bytes,
            reserved_objects: t.reserved_objects,
            open_uploads,
            quota_bytes: t.quota_bytes,
            quota_objects: t.quota_objects,
            top_users: top_users.into_iter().map(Into::into).collect(),
            by_tier: by_tier.into_iter().map(Into::into).collect(),
            by_content_type: by_content_type.into_iter().map(Into::into).collect(),
        })
    }

    pub async fn settings(&self) -> Result<RuntimeSettings, AdminError> {
        Ok(self.runtime.get().await?.as_ref().clone())
    }

    /// Stores a change of settings (normalised and validated first) and returns the
    /// settings now in force.
    pub async fn update_settings(
        &self,
        admin: Uuid,
        patch: SettingsPatch,
    ) -> Result<(SettingsPatch, RuntimeSettings), AdminError> {
        let patch = patch.normalized();
        patch.validate().map_err(AdminError::Invalid)?;
        let txn = self.db.write().await?;
        self.runtime.store(&*txn, &patch, admin).await?;
        txn.commit().await?;
        self.runtime.invalidate();
        Ok((patch, self.settings().await?))
    }

    /// A user's sessions, newest first.
    pub async fn sessions(&self, id: Uuid) -> Result<Vec<Family>, AdminError> {
        let user = self.user(id).await?;
        Ok(repo::families(self.db.conn(), user.id).await?)
    }

    /// Ends one live session of a user.
    pub async fn revoke_session(&self, id: Uuid, family: Uuid) -> Result<(), AdminError> {
        let user = self.user(id).await?;
        let txn = self.db.write().await?;
        let n = users::revoke_family(&*txn, user.id, family).await?;
        txn.commit().await?;
        if n == 0 {
            return Err(AdminError::NotFound);
        }
        Ok(())
    }

    /// Ends every session of a user, access tokens included.
    pub async fn revoke_sessions(&self, id: Uuid) -> Result<(), AdminError> {
        let user = users::find_user(self.db.conn(), id)
            .await?
            .ok_or(AdminError::NotFound)?;
        let txn = self.db.write().await?;
        users::revoke_everything(&*txn, &user, None).await?;
        txn.commit().await?;
        self.auth.forget_user(user.id);
        Ok(())
    }

    /// A page of the audit log, oldest first.
    pub async fn audit(
        &self,
        filter: &Filter,
        limit: Option<u64>,
    ) -> Result<Page<StoredEvent, Uuid>, AdminError> {
        let limit = page_limit(limit)?;
        let rows = audit::query(self.db.conn(), filter, rows_for(limit)).await?;
        Ok(Page::from_rows(rows, limit, |e| e.id))
    }
}
