//! HTTP handlers of `/api/v1/admin` (admin role only; everyone else 403).

use actix_web::{delete, get, patch, web, HttpResponse};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::{
    AdminUserList, AdminUserResponse, AuditList, AuditQuery, DeletedUser, SessionList, StatsQuery,
    StatsResponse, UpdateUserRequest, UserQuery,
};
use super::service::{AdminService, UserDeletion};
use super::AdminUser;
use crate::audit::repo::Filter;
use crate::audit::{AuditLog, OK};
use crate::error::{AppError, ErrorBody};
use crate::runtime::{RuntimeSettings, SettingsPatch};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_users)
        .service(get_user)
        .service(update_user)
        .service(delete_user)
        .service(stats)
        .service(get_settings)
        .service(update_settings)
        .service(list_sessions)
        .service(revoke_session)
        .service(revoke_sessions)
        .service(audit_log)
        .configure(super::tokens::configure);
}

/// Users by username, optionally those whose name contains `q`.
#[utoipa::path(
    tag = "admin",
    params(UserQuery),
    responses(
        (status = 200, description = "One page", body = AdminUserList),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "`limit` out of range, or a bad cursor", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/users")]
async fn list_users(
    admin: web::Data<AdminService>,
    _caller: AdminUser,
    query: web::Query<UserQuery>,
) -> Result<web::Json<AdminUserList>, AppError> {
    let page = admin
        .users(query.q.as_deref(), query.cursor.as_deref(), query.limit)
        .await?
        .map(Into::into);
    Ok(web::Json(AdminUserList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One user, with usage and quota.
#[utoipa::path(
    tag = "admin",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The user", body = AdminUserResponse),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/users/{id}")]
async fn get_user(
    admin: web::Data<AdminService>,
    _caller: AdminUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<AdminUserResponse>, AppError> {
    Ok(web::Json(admin.user(*id).await?.into()))
}

/// Change a user's role, quota or disabled flag. Disabling ends every session at once.
#[utoipa::path(
    tag = "admin",
    params(("id" = Uuid, Path)),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = AdminUserResponse),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Bad role or quota, or an admin disabling or demoting themselves", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[patch("/users/{id}")]
async fn update_user(
    admin: web::Data<AdminService>,
    audit: web::Data<AuditLog>,
    caller: AdminUser,
    id: web::Path<Uuid>,
    body: web::Json<UpdateUserRequest>,
) -> Result<web::Json<AdminUserResponse>, AppError> {
    let done = admin
        .update_user(caller.0.user.id, *id, body.into_inner())
        .await?;
    let change = &done.change;
    let event = caller
        .0
        .event("admin.user_updated", OK)
        .target("user", done.before.id)
        .detail(json!({
            "username": done.before.username,
            "role": change.role,
            "quota_bytes": change.quota_bytes,
            "quota_objects": change.quota_objects,
            "disabled": change.disabled,
        }));
    audit.record(event).await;
    Ok(web::Json(done.after.into()))
}

/// Delete a user: their files, uploads, shares, links and sessions go at once; the
/// worker purges every object under their prefix. The audit log keeps their events.
#[utoipa::path(
    tag = "admin",
    params(("id" = Uuid, Path)),
    responses(
        (status = 202, description = "Deleted; the objects are being purged", body = DeletedUser),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "An admin deleting themselves", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/users/{id}")]
async fn delete_user(
    admin: web::Data<AdminService>,
    audit: web::Data<AuditLog>,
    caller: AdminUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let UserDeletion {
        user,
        purge_task_id,
    } = admin.delete_user(caller.0.user.id, *id).await?;
    let event = caller
        .0
        .event("admin.user_deleted", OK)
        .target("user", user.id)
        .detail(json!({
            "username": user.username,
            "objects": user.used_objects,
            "bytes": user.used_bytes,
        }));
    audit.record(event).await;
    Ok(HttpResponse::Accepted().json(DeletedUser {
        id: user.id,
        username: user.username,
        purged_objects: user.used_objects,
        purged_bytes: user.used_bytes,
        purge_task_id,
    }))
}

/// Totals, the heaviest users, and stored files by tier and by content type.
#[utoipa::path(
    tag = "admin",
    params(StatsQuery),
    responses(
        (status = 200, description = "Statistics", body = StatsResponse),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "`top` out of range", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/stats")]
async fn stats(
    admin: web::Data<AdminService>,
    _caller: AdminUser,
    query: web::Query<StatsQuery>,
) -> Result<web::Json<StatsResponse>, AppError> {
    Ok(web::Json(admin.stats(query.top).await?))
}

/// The settings in force: stored changes over the environment's values.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "The settings", body = RuntimeSettings),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/settings")]
async fn get_settings(
    admin: web::Data<AdminService>,
    _caller: AdminUser,
) -> Result<web::Json<RuntimeSettings>, AppError> {
    Ok(web::Json(admin.settings().await?))
}

/// Change settings; they apply from the next request on, without a restart.
#[utoipa::path(
    tag = "admin",
    request_body = SettingsPatch,
    responses(
        (status = 200, description = "The settings now in force", body = RuntimeSettings),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "An unknown setting or a value out of range", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[patch("/settings")]
async fn update_settings(
    admin: web::Data<AdminService>,
    audit: web::Data<AuditLog>,
    caller: AdminUser,
    body: web::Json<SettingsPatch>,
) -> Result<web::Json<RuntimeSettings>, AppError> {
    let (patch, now) = admin
        .update_settings(caller.0.user.id, body.into_inner())
        .await?;
    let event = caller
        .0
        .event("admin.settings_updated", OK)
        .target("settings", "runtime")
        .detail(serde_json::to_value(&patch).unwrap_or_default());
    audit.record(event).await;
    Ok(web::Json(now))
}

/// A user's sessions (refresh-token families), newest first.
#[utoipa::path(
    tag = "admin",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Sessions", body = SessionList),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/users/{id}/sessions")]
async fn list_sessions(
    admin: web::Data<AdminService>,
    _caller: AdminUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<SessionList>, AppError> {
    let items = admin.sessions(*id).await?;
    Ok(web::Json(SessionList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// End one session of a user: its refresh token stops working.
#[utoipa::path(
    tag = "admin",
    params(("id" = Uuid, Path), ("session_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Ended"),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user or live session", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/users/{id}/sessions/{session_id}")]
async fn revoke_session(
    admin: web::Data<AdminService>,
    audit: web::Data<AuditLog>,
    caller: AdminUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (id, family) = path.into_inner();
    admin.revoke_session(id, family).await?;
    let event = caller
        .0
        .event("admin.session_revoked", OK)
        .target("user", id)
        .detail(json!({ "session_id": family }));
    audit.record(event).await;
    Ok(HttpResponse::NoContent().finish())
}

/// End every session of a user at once, access tokens included.
#[utoipa::path(
    tag = "admin",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Every session ended"),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/users/{id}/sessions")]
async fn revoke_sessions(
    admin: web::Data<AdminService>,
    audit: web::Data<AuditLog>,
    caller: AdminUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    admin.revoke_sessions(*id).await?;
    let event = caller
        .0
        .event("admin.sessions_revoked", OK)
        .target("user", *id);
    audit.record(event).await;
    Ok(HttpResponse::NoContent().finish())
}

/// The audit log, oldest first, filtered; page on with `cursor`.
#[utoipa::path(
    tag = "admin",
    params(AuditQuery),
    responses(
        (status = 200, description = "One page", body = AuditList),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "`limit` out of range", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/audit")]
async fn audit_log(
    admin: web::Data<AdminService>,
    _caller: AdminUser,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditList>, AppError> {
    let query = query.into_inner();
    let filter = Filter {
        actor_id: query.actor_id,
        action: query.action,
        target: query.target,
        outcome: query.outcome,
        since: query.since,
        until: query.until,
        after: query.cursor,
    };
    let page = admin.audit(&filter, query.limit).await?.map(Into::into);
    Ok(web::Json(AuditList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
