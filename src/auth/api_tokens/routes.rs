//! HTTP handlers of `/api/v1/tokens`: a signed-in user's API tokens. Sessions only: a
//! token cannot create, list or revoke tokens.

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::{ApiTokenList, ApiTokenResponse, CreateTokenRequest, CreatedTokenResponse};
use super::NewToken;
use crate::audit::{AuditLog, OK};
use crate::auth::{AuthService, AuthUser};
use crate::error::{AppError, ErrorBody};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create).service(list).service(revoke);
}

/// Create an API token for programs (batch jobs, CI, scripts). The secret is in this
/// answer only.
#[utoipa::path(
    tag = "tokens",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "Created; `token` is shown this once", body = CreatedTokenResponse),
        (status = 403, description = "Called with an API token (`TOKEN_SCOPE`)", body = ErrorBody),
        (status = 422, description = "Bad name, scopes, expiry, folder or budget, or too many tokens", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("")]
async fn create(
    accounts: web::Data<AuthService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser,
    body: web::Json<CreateTokenRequest>,
) -> Result<HttpResponse, AppError> {
    let new = NewToken {
        name: &body.name,
        scopes: &body.scopes,
        expires_at: body.expires_at,
        folder: body.folder_id,
        budget_bytes: body.budget_bytes,
    };
    let (info, token) = accounts.api_tokens().create(auth.user.id, new).await?;
    let event = auth
        .event("token.create", OK)
        .target("token", info.id)
        .detail(serde_json::json!({
            "name": info.name,
            "scopes": info.scopes,
            "expires_at": info.expires_at,
            "folder_id": info.folder_id,
            "budget_bytes": info.budget_bytes,
        }));
    audit.record(event).await;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedTokenResponse {
            token,
            info: info.into(),
        }))
}

/// The caller's API tokens, newest first (never their secrets).
#[utoipa::path(
    tag = "tokens",
    responses(
        (status = 200, description = "The caller's tokens", body = ApiTokenList),
        (status = 403, description = "Called with an API token (`TOKEN_SCOPE`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("")]
async fn list(
    accounts: web::Data<AuthService>,
    auth: AuthUser,
) -> Result<web::Json<ApiTokenList>, AppError> {
    let items = accounts.api_tokens().list(auth.user.id).await?;
    Ok(web::Json(ApiTokenList {
        items: items.into_iter().map(ApiTokenResponse::from).collect(),
    }))
}

/// Revoke one of the caller's API tokens: it fails from the next request on.
#[utoipa::path(
    tag = "tokens",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Called with an API token (`TOKEN_SCOPE`)", body = ErrorBody),
        (status = 404, description = "No such token of the caller", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[delete("/{id}")]
async fn revoke(
    accounts: web::Data<AuthService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    accounts
        .api_tokens()
        .revoke(Some(auth.user.id), *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    audit
        .record(auth.event("token.revoke", OK).target("token", *id))
        .await;
    Ok(HttpResponse::NoContent().finish())
}
