//! `/api/v1/admin/tiering`: the cloud tier's status, runs and release confirmation
//! (admin role only).

use actix_web::{get, post, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use super::dto::{RunQuery, TierPlan, TierRun, TierStatus};
use super::service::TierService;
use crate::admin::AdminUser;
use crate::audit::{AuditLog, OK};
use crate::entity::tier_runs::RunTrigger;
use crate::error::{AppError, ErrorBody};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(status).service(run).service(confirm);
}

/// Where the sync stands: pending files and bytes, the oldest unsynced file's age, the
/// last run, failed copies with their causes.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "The status", body = TierStatus),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("")]
async fn status(
    tier: web::Data<TierService>,
    _caller: AdminUser,
) -> Result<web::Json<TierStatus>, AppError> {
    Ok(web::Json(tier.status().await?))
}

/// Runs the sync now; `?dry_run=true` answers what it would copy and release.
#[utoipa::path(
    tag = "admin",
    params(RunQuery),
    responses(
        (status = 202, description = "The run, queued for the worker", body = TierRun),
        (status = 200, description = "The plan (dry run)", body = TierPlan),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "No cloud tier, or a run is in progress", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/run")]
async fn run(
    tier: web::Data<TierService>,
    audit: web::Data<AuditLog>,
    caller: AdminUser,
    query: web::Query<RunQuery>,
) -> Result<HttpResponse, AppError> {
    if query.dry_run {
        return Ok(HttpResponse::Ok().json(tier.plan().await?));
    }
    let Some(run) = tier.start(RunTrigger::Manual, None).await? else {
        return Err(super::service::TierError::RunInProgress.into());
    };
    let event = caller
        .0
        .event("tier.run_started", OK)
        .target("tier_run", run.id)
        .detail(serde_json::json!({ "files": run.files_planned, "bytes": run.bytes_planned }));
    audit.record(event).await;
    Ok(HttpResponse::Accepted().json(run))
}

/// Confirms the release of primary copies that a run holds (it would have freed more of
/// the primary store than `tier_release_max_percent`); the run goes on.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "The run, going on", body = TierRun),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "No run waits for a confirmation", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/confirm")]
async fn confirm(
    tier: web::Data<TierService>,
    audit: web::Data<AuditLog>,
    caller: AdminUser,
) -> Result<web::Json<TierRun>, AppError> {
    let id = tier.confirm().await?;
    let event = caller
        .0
        .event("tier.release_confirmed", OK)
        .target("tier_run", id);
    audit.record(event).await;
    let held = tier.run(id).await?.ok_or_else(AppError::not_found)?;
    Ok(web::Json(held))
}
