//! `GET /api/v1/me/usage`.

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::service::QuotaService;
use crate::auth::{AuthUser, FilesRead};
use crate::error::AppError;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(my_usage);
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageResponse {
    /// Bytes of completed files.
    pub used_bytes: i64,
    /// Bytes reserved by open uploads.
    pub reserved_bytes: i64,
    pub quota_bytes: i64,
    pub used_objects: i64,
    pub reserved_objects: i64,
    pub quota_objects: i64,
    /// Of `used_bytes` and `used_objects`: what your trash holds. It counts against the
    /// quota until it is purged (emptied, deleted for good, or at the end of its
    /// retention).
    pub trash_bytes: i64,
    pub trash_objects: i64,
}

/// The caller's usage, open reservations and quota.
#[utoipa::path(
    tag = "files",
    responses((status = 200, description = "Usage", body = UsageResponse)),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("/usage")]
async fn my_usage(
    quotas: web::Data<QuotaService>,
    auth: AuthUser<FilesRead>,
) -> Result<web::Json<UsageResponse>, AppError> {
    let u = quotas
        .usage(auth.user.id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let (trash_bytes, trash_objects) = quotas.trash(auth.user.id).await?;
    Ok(web::Json(UsageResponse {
        used_bytes: u.used_bytes,
        reserved_bytes: u.reserved_bytes,
        quota_bytes: u.quota_bytes,
        used_objects: u.used_objects,
        reserved_objects: u.reserved_objects,
        quota_objects: u.quota_objects,
        trash_bytes,
        trash_objects,
    }))
}
