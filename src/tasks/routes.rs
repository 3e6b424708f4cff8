//! `GET /api/v1/tasks/{id}`: a task's state, progress and, when done, its download.

use actix_web::{get, web};
use chrono::{TimeZone, Utc};
use serde::Deserialize as _;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::{TaskDownload, TaskProgress, TaskResponse, ZipResult};
use super::{repo, DONE, FAILED};
use crate::auth::AuthUser;
use crate::error::{AppError, ErrorBody};
use crate::files::download::content_disposition;
use crate::state::AppState;
use crate::storage::GetOptions;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_task);
}

/// A task's state and progress; when a zip bundle is done, a presigned download.
#[utoipa::path(
    tag = "archives",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The task", body = TaskResponse),
        (status = 404, description = "No such task", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/{id}")]
async fn get_task(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<TaskResponse>, AppError> {
    let task = repo::find_owned(&state.db, auth.user.id, *id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let body = describe(&state, &task, state.uploads.presign_ttl().await?).await?;
    if body.download.is_some() {
        state
            .audit
            .record(
                auth.event("presign.archive", crate::audit::OK)
                    .target("task", task.id),
            )
            .await;
    }
    Ok(web::Json(body))
}

/// A task as the API shows it; a finished archive comes with a GET that lives `ttl`.
pub async fn describe(
    state: &AppState,
    task: &super::Task,
    ttl: std::time::Duration,
) -> Result<TaskResponse, AppError> {
    let progress = task
        .progress
        .as_ref()
        .and_then(|p| TaskProgress::deserialize(p).ok())
        .unwrap_or_default();
    let mut body = TaskResponse {
        id: task.id,
        kind: task.kind.clone(),
        state: task.state.clone(),
        attempts: task.attempts,
        progress,
        download: None,
        error: (task.state == FAILED)
            .then(|| format!("The task failed after {} attempts.", task.attempts)),
    };
    if task.state == DONE {
        // A result that does not read as a zip result (none should) counts as expired.
        if let Some(result) = task.result.as_ref() {
            let Ok(result) = ZipResult::deserialize(result) else {
                body.state = "expired".into();
                return Ok(body);
            };
            let archive_expires_at = Utc
                .timestamp_millis_opt(result.expires_at_ms)
                .single()
                .unwrap_or_else(Utc::now);
            match archive_expires_at > Utc::now() {
                true => {
                    let options = GetOptions {
                        content_disposition: content_disposition(&result.name),
                        content_type: "application/zip".into(),
                    };
                    let url = state.store.presign_get(&result.key, &options, ttl).await?;
                    tracing::info!(task.id = %task.id, presign = "get", "archive URL issued");
                    body.download = Some(TaskDownload {
                        url,
                        expires_at: Utc::now()
                            + chrono::Duration::from_std(ttl)
                                .unwrap_or(chrono::Duration::minutes(10)),
                        archive_expires_at,
                        size: result.size,
                    });
                }
                false => body.state = "expired".into(),
            }
        }
    }
    Ok(body)
}
