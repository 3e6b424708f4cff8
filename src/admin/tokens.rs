//! HTTP handlers of `/api/v1/admin/tokens`: every user's API tokens, and revoking any.

use actix_web::{delete, get, web, HttpResponse};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::AdminUser;
use crate::audit::{AuditLog, OK};
use crate::auth::api_tokens::dto::{AdminTokenList, AdminTokenQuery, ApiTokenResponse};
use crate::auth::AuthService;
use crate::error::{AppError, ErrorBody};
use crate::page::{page_limit, rows_for, Page};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_tokens).service(revoke_token);
}

/// API tokens of every user (or of one), oldest first; page on with `cursor`.
#[utoipa::path(
    tag = "admin",
    params(AdminTokenQuery),
    responses(
        (status = 200, description = "One page", body = AdminTokenList),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "`limit` out of range", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/tokens")]
async fn list_tokens(
    accounts: web::Data<AuthService>,
    _caller: AdminUser,
    query: web::Query<AdminTokenQuery>,
) -> Result<web::Json<AdminTokenList>, AppError> {
    let limit = page_limit(query.limit)?;
    let rows = accounts
        .api_tokens()
        .list_all(query.user_id, query.cursor, rows_for(limit))
        .await?;
    let page = Page::from_rows(rows, limit, |t| t.id).map(ApiTokenResponse::from);
    Ok(web::Json(AdminTokenList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Revoke any user's API token: it fails from the next request on.
#[utoipa::path(
    tag = "admin",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/tokens/{id}")]
async fn revoke_token(
    accounts: web::Data<AuthService>,
    audit: web::Data<AuditLog>,
    caller: AdminUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    let token = accounts
        .api_tokens()
        .revoke(None, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let event = caller
        .0
        .event("admin.token_revoked", OK)
        .target("token", token.id)
        .detail(json!({ "user_id": token.user_id, "name": token.name }));
    audit.record(event).await;
    Ok(HttpResponse::NoContent().finish())
}
