//! HTTP handlers of `/api/v1/admin` (admin role only; everyone else 403).

use actix_web::{delete, get, patch, web, HttpResponse};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::{
    AdminUserList, AdminUserResponse, AuditList, AuditQuery, DeletedUser, SessionList, StatsQuery,
    StatsResponse, UpdateUserRequest, UserQuery,
};
use super::repo::{self, UserChange};
use super::{AdminUser, ROLE_ADMIN, ROLE_USER};
use crate::audit::repo::{self as audit, Filter};
use crate::audit::OK;
use crate::auth::repo as users;
use crate::entity::files;
use crate::error::{AppError, ErrorBody};
use crate::files::service::page_limit;
use crate::page::{rows_for, Page};
use crate::runtime::{RuntimeSettings, SettingsPatch};
use crate::state::AppState;
use crate::tasks::now_ms;
use crate::tasks::purge::{self, MultipartRef, PurgePayload};

/// Content-type groups listed by the statistics.
const CONTENT_TYPE_GROUPS: u64 = 50;
/// Heaviest users listed by the statistics, by default and at most.
const TOP_USERS: u64 = 10;
const MAX_TOP_USERS: u64 = 100;

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
        .service(audit_log);
}

async fn user_or_404(state: &AppState, id: Uuid) -> Result<crate::entity::users::Model, AppError> {
    repo::user(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)
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
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<UserQuery>,
) -> Result<web::Json<AdminUserList>, AppError> {
    let limit = page_limit(query.limit)?;
    let rows = repo::list_users(
        &state.db,
        query.q.as_deref(),
        query.cursor.as_deref(),
        rows_for(limit),
    )
    .await?;
    let page = Page::from_rows(rows, limit, |u| u.username.clone()).map(Into::into);
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
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<AdminUserResponse>, AppError> {
    Ok(web::Json(user_or_404(&state, *id).await?.into()))
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
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<Uuid>,
    body: web::Json<UpdateUserRequest>,
) -> Result<web::Json<AdminUserResponse>, AppError> {
    let target = user_or_404(&state, *id).await?;
    let body = body.into_inner();
    if let Some(role) = body.role.as_deref() {
        if role != ROLE_ADMIN && role != ROLE_USER {
            return Err(AppError::unprocessable(
                "INVALID_REQUEST",
                "role must be `admin` or `user`.",
            ));
        }
    }
    if body.quota_bytes.is_some_and(|b| b < 0) || body.quota_objects.is_some_and(|o| o < 0) {
        return Err(AppError::unprocessable(
            "INVALID_REQUEST",
            "Quotas cannot be negative.",
        ));
    }
    let me = admin.0.user.id == target.id;
    if me && (body.disabled == Some(true) || body.role.as_deref() == Some(ROLE_USER)) {
        return Err(AppError::unprocessable(
            "INVALID_REQUEST",
            "You cannot disable or demote yourself; ask another admin.",
        ));
    }
    let change = UserChange {
        role: body.role,
        quota_bytes: body.quota_bytes,
        quota_objects: body.quota_objects,
        disabled: body.disabled,
    };
    let txn = state.gate.begin(&state.db).await?;
    repo::update_user(&*txn, target.id, &change).await?;
    if change.disabled == Some(true) {
        if let Some(user) = users::find_user(&*txn, target.id).await? {
            users::revoke_everything(&*txn, &user, None).await?;
        }
    }
    txn.commit().await?;
    state.auth.forget_user(target.id);
    state
        .audit
        .record(
            admin
                .0
                .event("admin.user_updated", OK)
                .target("user", target.id)
                .detail(json!({
                    "username": target.username,
                    "role": change.role,
                    "quota_bytes": change.quota_bytes,
                    "quota_objects": change.quota_objects,
                    "disabled": change.disabled,
                })),
        )
        .await;
    Ok(web::Json(user_or_404(&state, target.id).await?.into()))
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
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let target = user_or_404(&state, *id).await?;
    if admin.0.user.id == target.id {
        return Err(AppError::unprocessable(
            "INVALID_REQUEST",
            "You cannot delete yourself; ask another admin.",
        ));
    }
    let ttl = state.uploads.presign_ttl().await?;
    let txn = state.gate.begin(&state.db).await?;
    let removed = repo::delete_user(&*txn, target.id).await?;
    let multipart = removed
        .multipart
        .into_iter()
        .map(|(key, upload_id)| MultipartRef { key, upload_id })
        .collect();
    let now = PurgePayload {
        keys: removed.archive_keys,
        multipart,
        prefix: Some(removed.prefix.clone()),
    };
    // A payload with a prefix is never empty: a task is always enqueued.
    let task_id = purge::enqueue(&*txn, now, now_ms())
        .await?
        .unwrap_or_default();
    // Again once every URL handed out before the deletion has expired, for objects
    // put with them in the meantime.
    let later = PurgePayload {
        prefix: Some(removed.prefix),
        ..PurgePayload::default()
    };
    purge::enqueue(&*txn, later, purge::late_sweep_at(ttl)).await?;
    txn.commit().await?;
    state.auth.forget_user(target.id);
    state
        .audit
        .record(
            admin
                .0
                .event("admin.user_deleted", OK)
                .target("user", target.id)
                .detail(json!({
                    "username": target.username,
                    "objects": target.used_objects,
                    "bytes": target.used_bytes,
                })),
        )
        .await;
    Ok(HttpResponse::Accepted().json(DeletedUser {
        id: target.id,
        username: target.username,
        purged_objects: target.used_objects,
        purged_bytes: target.used_bytes,
        purge_task_id: task_id,
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
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<StatsQuery>,
) -> Result<web::Json<StatsResponse>, AppError> {
    let top = query.top.unwrap_or(TOP_USERS);
    if !(1..=MAX_TOP_USERS).contains(&top) {
        return Err(AppError::unprocessable(
            "INVALID_REQUEST",
            format!("top must be between 1 and {MAX_TOP_USERS}."),
        ));
    }
    let db = &state.db;
    let t = repo::totals(db).await?;
    let open_uploads = repo::open_uploads(db).await?;
    let top_users = repo::top_users(db, top).await?;
    let by_tier = repo::stored_by(db, files::Column::Tier, None).await?;
    let by_content_type =
        repo::stored_by(db, files::Column::ContentType, Some(CONTENT_TYPE_GROUPS)).await?;
    Ok(web::Json(StatsResponse {
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
    }))
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
    state: web::Data<AppState>,
    _admin: AdminUser,
) -> Result<web::Json<RuntimeSettings>, AppError> {
    Ok(web::Json(state.runtime.get().await?.as_ref().clone()))
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
    state: web::Data<AppState>,
    admin: AdminUser,
    body: web::Json<SettingsPatch>,
) -> Result<web::Json<RuntimeSettings>, AppError> {
    let patch = body.into_inner().normalized();
    patch
        .validate()
        .map_err(|detail| AppError::unprocessable("INVALID_REQUEST", detail))?;
    let txn = state.gate.begin(&state.db).await?;
    state.runtime.store(&*txn, &patch, admin.0.user.id).await?;
    txn.commit().await?;
    state.runtime.invalidate();
    state
        .audit
        .record(
            admin
                .0
                .event("admin.settings_updated", OK)
                .target("settings", "runtime")
                .detail(serde_json::to_value(&patch).unwrap_or_default()),
        )
        .await;
    Ok(web::Json(state.runtime.get().await?.as_ref().clone()))
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
    state: web::Data<AppState>,
    _admin: AdminUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<SessionList>, AppError> {
    let user = user_or_404(&state, *id).await?;
    let items = repo::families(&state.db, user.id).await?;
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
    state: web::Data<AppState>,
    admin: AdminUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (id, family) = path.into_inner();
    let user = user_or_404(&state, id).await?;
    let txn = state.gate.begin(&state.db).await?;
    let n = users::revoke_family(&*txn, user.id, family).await?;
    txn.commit().await?;
    if n == 0 {
        return Err(AppError::not_found());
    }
    state
        .audit
        .record(
            admin
                .0
                .event("admin.session_revoked", OK)
                .target("user", user.id)
                .detail(json!({ "session_id": family })),
        )
        .await;
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
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let user = users::find_user(&state.db, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let txn = state.gate.begin(&state.db).await?;
    users::revoke_everything(&*txn, &user, None).await?;
    txn.commit().await?;
    state.auth.forget_user(user.id);
    state
        .audit
        .record(
            admin
                .0
                .event("admin.sessions_revoked", OK)
                .target("user", user.id),
        )
        .await;
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
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditList>, AppError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let filter = Filter {
        actor_id: query.actor_id,
        action: query.action,
        target: query.target,
        outcome: query.outcome,
        since: query.since,
        until: query.until,
        after: query.cursor,
    };
    let rows = audit::query(&state.db, &filter, rows_for(limit)).await?;
    let page = Page::from_rows(rows, limit, |e| e.id).map(Into::into);
    Ok(web::Json(AuditList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
