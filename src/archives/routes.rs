//! `POST /api/v1/archives`: a zip bundle of files and folders, built by a worker.

use actix_web::{post, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use super::dto::CreateArchiveRequest;
use crate::auth::AuthUser;
use crate::error::{AppError, ErrorBody};
use crate::state::AppState;
use crate::tasks::dto::TaskAccepted;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_archive);
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
    security(("bearer" = []))
)]
#[post("")]
async fn create_archive(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<CreateArchiveRequest>,
) -> Result<HttpResponse, AppError> {
    let id = state
        .archives
        .create(auth.user.id, &body.ids, body.name.as_deref())
        .await?;
    Ok(HttpResponse::Accepted().json(TaskAccepted {
        task_id: id,
        state: crate::tasks::QUEUED.into(),
    }))
}
