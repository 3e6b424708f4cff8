//! HTTP handlers of `/api/v1/jobs`.

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::repo::{Filter, Job, JobState};
use super::{JobChange, JobService, NewJob};
use crate::audit::{AuditLog, OK};
use crate::auth::{AuthUser, FilesRead, JobsWrite};
use crate::error::{AppError, ErrorBody};
use crate::files::access::Actor;
use crate::files::dto::FileResponse;
use crate::page::page_limit;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_one)
        .service(update)
        .service(files);
}

#[derive(Serialize, ToSchema)]
pub struct JobResponse {
    pub id: Uuid,
    pub slurm_job_id: Option<String>,
    /// `""` when not given.
    pub cluster: String,
    pub benchmark: Option<String>,
    pub state: JobState,
    pub submitted_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub exit_code: Option<i32>,
    /// Free-form JSON object (at most 16 KiB).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// The outputs folder, `jobs/<id>/` in the owner's root.
    pub folder_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Job> for JobResponse {
    fn from(j: Job) -> JobResponse {
        JobResponse {
            id: j.id,
            slurm_job_id: j.slurm_job_id,
            cluster: j.cluster,
            benchmark: j.benchmark,
            state: j.state,
            submitted_at: j.submitted_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            exit_code: j.exit_code,
            metadata: j.metadata.and_then(|m| serde_json::from_str(&m).ok()),
            folder_id: j.folder_id,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateJobRequest {
    #[schema(example = "4242")]
    pub slurm_job_id: Option<String>,
    #[schema(example = "levante")]
    pub cluster: Option<String>,
    #[schema(example = "flops_matrix_mul")]
    pub benchmark: Option<String>,
    /// Default `PENDING`.
    pub state: Option<JobState>,
    /// Default now.
    pub submitted_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// Records a job (one per Slurm id and cluster) and creates its outputs folder.
#[utoipa::path(
    tag = "jobs",
    request_body = CreateJobRequest,
    responses(
        (status = 201, description = "Recorded", body = JobResponse),
        (status = 409, description = "This Slurm job is recorded already (`JOB_EXISTS`)", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["jobs:write"]))
)]
#[post("")]
async fn create(
    jobs: web::Data<JobService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<JobsWrite>,
    body: web::Json<CreateJobRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let job = jobs
        .create(
            Actor::of(&auth),
            NewJob {
                slurm_job_id: b.slurm_job_id,
                cluster: b.cluster,
                benchmark: b.benchmark,
                state: b.state,
                submitted_at: b.submitted_at,
                metadata: b.metadata,
            },
        )
        .await?;
    audit
        .record(auth.event("job.create", OK).target("job", job.id))
        .await;
    Ok(HttpResponse::Created().json(JobResponse::from(job)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    pub state: Option<JobState>,
    pub benchmark: Option<String>,
    pub slurm_job_id: Option<String>,
    /// Submitted at or after this time.
    pub submitted_after: Option<DateTime<Utc>>,
    /// Submitted before this time.
    pub submitted_before: Option<DateTime<Utc>>,
    /// Items per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct JobList {
    pub items: Vec<JobResponse>,
    pub next_cursor: Option<String>,
}

/// The caller's jobs, oldest first, filtered.
#[utoipa::path(
    tag = "jobs",
    params(JobQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobList),
        (status = 400, description = "A malformed filter or cursor", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("")]
async fn list(
    jobs: web::Data<JobService>,
    auth: AuthUser<FilesRead>,
    query: web::Query<JobQuery>,
) -> Result<web::Json<JobList>, AppError> {
    let q = query.into_inner();
    let limit = page_limit(q.limit)?;
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(Uuid::parse_str(c).map_err(|_| {
            AppError::bad_request("INVALID_CURSOR", "The cursor is not one this list gave.")
        })?),
    };
    let filter = Filter {
        state: q.state,
        benchmark: q.benchmark,
        slurm_job_id: q.slurm_job_id,
        submitted_after: q.submitted_after,
        submitted_before: q.submitted_before,
    };
    let page = jobs.list(Actor::of(&auth), &filter, after, limit).await?;
    Ok(web::Json(JobList {
        next_cursor: page.next_cursor.map(|c| c.to_string()),
        items: page.items.into_iter().map(JobResponse::from).collect(),
    }))
}

/// One of the caller's jobs; another user's answers 404.
#[utoipa::path(
    tag = "jobs",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The job", body = JobResponse),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("/{id}")]
async fn get_one(
    jobs: web::Data<JobService>,
    auth: AuthUser<FilesRead>,
    id: web::Path<Uuid>,
) -> Result<web::Json<JobResponse>, AppError> {
    Ok(web::Json(jobs.get(Actor::of(&auth), *id).await?.into()))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateJobRequest {
    /// `PENDING` → `RUNNING` → `DONE`/`FAILED`/`CANCELLED` (or straight from `PENDING`
    /// to a final state); final states do not change.
    pub state: Option<JobState>,
    pub exit_code: Option<i32>,
    /// Replaces the metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// Moves a job on (times are set as its state changes), records its exit code or
/// replaces its metadata.
#[utoipa::path(
    tag = "jobs",
    params(("id" = Uuid, Path)),
    request_body = UpdateJobRequest,
    responses(
        (status = 200, description = "The job as it is now", body = JobResponse),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not a transition the job can make (`INVALID_TRANSITION`)", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["jobs:write"]))
)]
#[patch("/{id}")]
async fn update(
    jobs: web::Data<JobService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<JobsWrite>,
    id: web::Path<Uuid>,
    body: web::Json<UpdateJobRequest>,
) -> Result<web::Json<JobResponse>, AppError> {
    let b = body.into_inner();
    let job = jobs
        .update(
            Actor::of(&auth),
            *id,
            JobChange {
                state: b.state,
                exit_code: b.exit_code,
                metadata: b.metadata,
            },
        )
        .await?;
    audit
        .record(
            auth.event("job.update", OK)
                .target("job", job.id)
                .detail(serde_json::json!({ "state": job.state })),
        )
        .await;
    Ok(web::Json(job.into()))
}

#[derive(Serialize, ToSchema)]
pub struct JobFiles {
    pub items: Vec<FileResponse>,
}

/// The job's files: those attached to it (the benchwrap protocol attaches what it
/// stores for a Slurm job) and those in its outputs folder.
#[utoipa::path(
    tag = "jobs",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The job's files", body = JobFiles),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("/{id}/files")]
async fn files(
    jobs: web::Data<JobService>,
    auth: AuthUser<FilesRead>,
    id: web::Path<Uuid>,
) -> Result<web::Json<JobFiles>, AppError> {
    let nodes = jobs.files(Actor::of(&auth), *id).await?;
    Ok(web::Json(JobFiles {
        items: nodes.into_iter().map(FileResponse::from).collect(),
    }))
}
