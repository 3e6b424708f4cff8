//! `/healthz` (the process is up) and `/readyz` (database and object store reachable).

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

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
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (db, store) = tokio::join!(state.db.ping(), state.store.check());
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    if let Err(e) = &store {
        tracing::warn!(error = %e, "readiness: object store unreachable");
    }
    let body = Readiness {
        status: if db.is_ok() && store.is_ok() {
            "ok"
        } else {
            "unavailable"
        },
        database: db.is_ok(),
        object_store: store.is_ok(),
    };
    if db.is_ok() && store.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
