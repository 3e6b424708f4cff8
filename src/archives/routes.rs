//! `POST /api/v1/archives`: a zip bundle of files and folders, built by a worker; and
//! `GET /api/v1/tasks/{id}`: its state, progress and, when done, its download.

use actix_web::{get, post, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::CreateArchiveRequest;
use super::service::ArchiveService;
use crate::audit::{AuditLog, OK};
use crate::auth::{AuthUser, FilesRead};
use crate::error::{AppError, ErrorBody};
use crate::files::access::Actor;
use crate::tasks::dto::{TaskAccepted, TaskResponse};
use crate::tasks::TaskState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_archive);
}

/// `/api/v1/tasks`: the tasks users see are archive tasks.
pub fn configure_tasks(cfg: &mut ServiceConfig) {
    cfg.service(get_task);
}

/// Bundle files and folders into one zip (stored, ZIP64) for download. Answers 202 with
/// a task; poll `GET /api/v1/tasks/{id}` for progress and, when done, the download.
#[utoipa::path(
    tag = "archives",
    request_body = CreateArchiveRequest,
    responses(
        (status = 202, description = "Archive task enqueued", body = TaskAccepted),
        (status = 404, description = "No such file or folder", body = ErrorBody),
        (status = 409, description = "A selected file is still uploading", body = ErrorBody),
        (status = 413, description = "Over the archive size limit (ARCHIVE_TOO_LARGE)", body = ErrorBody),
        (status = 422, description = "Nothing to archive, too many files, or a bad name", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[post("")]
async fn create_archive(
    archives: web::Data<ArchiveService>,
    auth: AuthUser<FilesRead>,
    body: web::Json<CreateArchiveRequest>,
) -> Result<HttpResponse, AppError> {
    let id = archives
        .create(Actor::of(&auth), &body.ids, body.name.as_deref())
        .await?;
    Ok(HttpResponse::Accepted().json(TaskAccepted {
        task_id: id,
        state: TaskState::Queued,
    }))
}

/// A task's state and progress; when a zip bundle is done, a presigned download.
#[utoipa::path(
    tag = "archives",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The task", body = TaskResponse),
        (status = 404, description = "No such task", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("/{id}")]
async fn get_task(
    archives: web::Data<ArchiveService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<FilesRead>,
    id: web::Path<Uuid>,
) -> Result<web::Json<TaskResponse>, AppError> {
    let body = archives.task(Actor::of(&auth), *id).await?;
    if body.download.is_some() {
        let event = auth.event("presign.archive", OK).target("task", body.id);
        audit.record(event).await;
    }
    Ok(web::Json(body))
}
