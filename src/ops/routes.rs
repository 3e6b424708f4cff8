//! `/healthz` (the process is up), `/readyz` (database and object store reachable) and
//! `/metrics` (Prometheus text format; with `COFFER_METRICS_TOKEN` set, scrapes need
//! `Authorization: Bearer <token>`).

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::OpsService;
use crate::error::{AppError, ErrorBody};

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` when every check passed, else `unavailable`.
    pub status: &'static str,
    pub database: bool,
    pub object_store: bool,
    /// The cloud tier's store; absent when none is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_tier: Option<bool>,
}

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, description = "Up", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// The database and the object store answer.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "A dependency is unreachable", body = Readiness),
    )
)]
#[get("/readyz")]
pub async fn readyz(ops: web::Data<OpsService>) -> HttpResponse {
    let r = ops.readiness().await;
    let ready = r.database && r.object_store && r.cloud_tier != Some(false);
    let body = Readiness {
        status: if ready { "ok" } else { "unavailable" },
        database: r.database,
        object_store: r.object_store,
        cloud_tier: r.cloud_tier,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics (text format). Needs `Authorization: Bearer <COFFER_METRICS_TOKEN>`
/// when that setting is set.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "The metrics, Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "A metrics token is set and was not given", body = ErrorBody),
    )
)]
#[get("/metrics")]
pub async fn metrics(
    ops: web::Data<OpsService>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !ops.scrape_allowed(given) {
        return Err(AppError::unauthorized(
            "METRICS_TOKEN_REQUIRED",
            "Scraping needs `Authorization: Bearer` with the metrics token.",
        ));
    }
    let body = ops.render().await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}
