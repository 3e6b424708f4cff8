//! HTTP handlers of `/api/v1/admin` (admin role only; everyone else 403).

use actix_web::{delete, get, patch, web, HttpResponse};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::{
    AdminUserList, AdminUserResponse, AuditList, AuditQuery, SessionList, UpdateUserRequest,
    UserQuery,
};
use super::repo::{self, UserChange};
use super::{AdminUser, ROLE_ADMIN, ROLE_USER};
use crate::audit::repo::{self as audit, Filter};
use crate::audit::OK;
use crate::auth::repo as users;
use crate::error::{AppError, ErrorBody};
use crate::files::service::page_limit;
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_users)
        .service(get_user)
        .service(update_user)
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
    let mut items = repo::list_users(
        &state.db,
        query.q.as_deref(),
        query.cursor.as_deref(),
        limit + 1,
    )
    .await?;
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(|u| u.username.clone())
    } else {
        None
    };
    Ok(web::Json(AdminUserList {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor,
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
    state.audit.record(
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
    );
    Ok(web::Json(user_or_404(&state, target.id).await?.into()))
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
    state.audit.record(
        admin
            .0
            .event("admin.session_revoked", OK)
            .target("user", user.id)
            .detail(json!({ "session_id": family })),
    );
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
    state.audit.record(
        admin
            .0
            .event("admin.sessions_revoked", OK)
            .target("user", user.id),
    );
    Ok(HttpResponse::NoContent().finish())
}

/// The audit log, oldest first, filtered; page on with `cursor`.
#[utoipa::path(
    tag = "admin",
    params(AuditQuery),
    responses(
        (status = 200, description = "One page", body = AuditList),
        (status = 403, description = "Not an admin", body = ErrorBody),
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
    let mut items = audit::query(&state.db, &filter, limit + 1).await?;
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(|e| e.id)
    } else {
        None
    };
    Ok(web::Json(AuditList {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}
