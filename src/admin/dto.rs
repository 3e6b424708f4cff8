//! Request and response types of the admin API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::repo::Family;
use crate::audit::repo::StoredEvent;
use crate::entity::users;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AdminUserResponse {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub role: users::Role,
    pub disabled: bool,
    pub quota_bytes: i64,
    pub quota_objects: i64,
    pub used_bytes: i64,
    pub used_objects: i64,
    /// Held by open uploads.
    pub reserved_bytes: i64,
    pub reserved_objects: i64,
    pub created_at: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
}

impl From<users::Model> for AdminUserResponse {
    fn from(u: users::Model) -> AdminUserResponse {
        AdminUserResponse {
            id: u.id,
            username: u.username,
            email: u.email,
            role: u.role,
            disabled: u.disabled,
            quota_bytes: u.quota_bytes,
            quota_objects: u.quota_objects,
            used_bytes: u.used_bytes,
            used_objects: u.used_objects,
            reserved_bytes: u.reserved_bytes,
            reserved_objects: u.reserved_objects,
            created_at: u.created_at,
            last_login: u.last_login,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AdminUserList {
    pub items: Vec<AdminUserResponse>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Part of a username to search for.
    pub q: Option<String>,
    /// Items per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[schema(value_type = Option<users::Role>)]
    pub role: Option<String>,
    pub quota_bytes: Option<i64>,
    pub quota_objects: Option<i64>,
    /// Disabling ends every session of the user at once.
    pub disabled: Option<bool>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct SessionResponse {
    /// The refresh-token family.
    pub id: Uuid,
    pub started_at: DateTime<Utc>,
    pub last_refreshed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Whether its refresh token still works.
    pub active: bool,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl From<Family> for SessionResponse {
    fn from(f: Family) -> SessionResponse {
        SessionResponse {
            id: f.id,
            started_at: f.started_at,
            last_refreshed_at: f.last_refreshed_at,
            expires_at: f.expires_at,
            active: f.active,
            user_agent: f.user_agent,
            ip: f.ip,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionResponse>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events by this user id.
    pub actor_id: Option<Uuid>,
    /// An action (`auth.login`), or a prefix ending in a dot (`link.`).
    pub action: Option<String>,
    /// A target such as `file:<uuid>`, `link:<uuid>` or `user:<uuid>`.
    pub target: Option<String>,
    /// `ok`, `denied` or `failed`.
    pub outcome: Option<String>,
    /// Events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Items per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditEventResponse {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    #[schema(example = "auth.login")]
    pub action: String,
    #[schema(example = "file:6f1c…")]
    pub target: Option<String>,
    #[schema(example = "ok")]
    pub outcome: String,
    pub detail: Option<serde_json::Value>,
    /// `token:<id>` when the request was made with an API token; absent for a session.
    #[schema(example = "token:0193…")]
    pub via: Option<String>,
}

impl From<StoredEvent> for AuditEventResponse {
    fn from(e: StoredEvent) -> AuditEventResponse {
        AuditEventResponse {
            id: e.id,
            at: e.at,
            actor_id: e.actor_id,
            actor_name: e.actor_name,
            ip: e.ip,
            request_id: e.request_id,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            detail: e.detail,
            via: e.via,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    /// Oldest first.
    pub items: Vec<AuditEventResponse>,
    pub next_cursor: Option<Uuid>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// How many of the heaviest users to list, 1–100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub top: Option<u64>,
}

/// Usage of one user among the heaviest.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct UserUsage {
    pub id: Uuid,
    pub username: String,
    pub used_bytes: i64,
    pub used_objects: i64,
    pub reserved_bytes: i64,
    pub quota_bytes: i64,
    pub quota_objects: i64,
}

impl From<users::Model> for UserUsage {
    fn from(u: users::Model) -> UserUsage {
        UserUsage {
            id: u.id,
            username: u.username,
            used_bytes: u.used_bytes,
            used_objects: u.used_objects,
            reserved_bytes: u.reserved_bytes,
            quota_bytes: u.quota_bytes,
            quota_objects: u.quota_objects,
        }
    }
}

/// Stored files of one tier or content type.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct GroupCount {
    /// The tier or content type (`null`: none recorded).
    pub key: Option<String>,
    pub objects: i64,
    pub bytes: i64,
}

impl From<(Option<String>, i64, i64)> for GroupCount {
    fn from((key, objects, bytes): (Option<String>, i64, i64)) -> GroupCount {
        GroupCount {
            key,
            objects,
            bytes,
        }
    }
}

/// The whole service at a glance.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct StatsResponse {
    pub users: i64,
    pub disabled_users: i64,
    /// Bytes and objects stored (completed uploads), over every user.
    pub used_bytes: i64,
    pub used_objects: i64,
    /// Bytes and objects held for open uploads.
    pub reserved_bytes: i64,
    pub reserved_objects: i64,
    pub open_uploads: i64,
    /// The sum of every user's quota.
    pub quota_bytes: i64,
    pub quota_objects: i64,
    /// The heaviest users, most bytes first.
    pub top_users: Vec<UserUsage>,
    /// Stored files by storage tier.
    pub by_tier: Vec<GroupCount>,
    /// Stored files by content type, most bytes first (the 50 largest groups).
    pub by_content_type: Vec<GroupCount>,
}

/// What deleting a user handed to the worker.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeletedUser {
    pub id: Uuid,
    pub username: String,
    /// Objects and bytes the user had stored; the worker purges them.
    pub purged_objects: i64,
    pub purged_bytes: i64,
    /// The purge task that empties the user's prefix in the store.
    pub purge_task_id: Uuid,
}
