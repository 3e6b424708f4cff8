//! HTTP handlers of `/api/v1/uploads`, and the two writes of `/api/v1/files` that
//! change usage: copy and delete.

use std::collections::BTreeMap;

use actix_web::{delete, get, post, web, HttpResponse};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::{
    CompleteBatchItem, CompleteBatchRequest, CompleteBatchResponse, CompleteUploadRequest, PartUrl,
    PartUrlsRequest, PartUrlsResponse, PresignedRequest, StartBatchItem, StartBatchRequest,
    StartBatchResponse, StartUploadRequest, StoredPartResponse, UploadLimitsResponse,
    UploadResponse, UploadStatusResponse,
};
use super::repo::Upload;
use super::service::{StartUpload, Started, UploadService, MAX_START_BATCH};
use super::UploadError;
use crate::audit::{AuditLog, OK};
use crate::auth::{AuthUser, FilesRead, FilesWrite};
use crate::error::{AppError, ErrorBody};
use crate::files::access::Actor;
use crate::files::dto::{FileResponse, UpdateFileRequest};
use crate::files::service::Change;

pub fn configure(cfg: &mut ServiceConfig) {
    // The batch routes first: `/batch/complete` would otherwise match `/{id}/complete`.
    cfg.service(start_batch)
        .service(complete_batch)
        .service(limits)
        .service(start)
        .service(part_urls)
        .service(status)
        .service(complete)
        .service(abort);
}

/// In the `/api/v1/files` scope, after the files routes.
pub fn configure_file_writes(cfg: &mut ServiceConfig) {
    cfg.service(copy_file).service(delete_file);
}

fn mode(u: &Upload) -> String {
    if u.part_size.is_some() {
        "multipart"
    } else {
        "single"
    }
    .to_owned()
}

/// Start an upload: reserves quota and returns a presigned PUT (single) or a multipart
/// plan whose part URLs come from `/parts`. Retrying an identical start answers the same
/// upload (200).
#[utoipa::path(
    tag = "uploads",
    request_body = StartUploadRequest,
    responses(
        (status = 201, description = "Upload started", body = UploadResponse),
        (status = 200, description = "A retry of an identical open upload", body = UploadResponse),
        (status = 404, description = "No such folder", body = ErrorBody),
        (status = 409, description = "Name taken in that folder", body = ErrorBody),
        (status = 413, description = "Over quota (QUOTA_EXCEEDED), over the API token's byte budget (TOKEN_BUDGET_EXCEEDED) or over the size limit (UPLOAD_TOO_LARGE)", body = ErrorBody),
        (status = 422, description = "Invalid name or content type, or the parent is not a folder", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[post("")]
async fn start(
    uploads: web::Data<UploadService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<FilesWrite>,
    body: web::Json<StartUploadRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let started = uploads.start(Actor::of(&auth), start_of(body)).await?;
    record_start(&audit, &auth, &started).await;
    Ok(if started.replayed {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    }
    .json(upload_response(started)))
}

fn start_of(body: StartUploadRequest) -> StartUpload {
    StartUpload {
        name: body.name,
        parent_id: body.parent_id,
        size: body.size,
        content_type: body.content_type,
        checksum_sha256: body.checksum_sha256,
    }
}

async fn record_start(audit: &AuditLog, auth: &AuthUser<FilesWrite>, started: &Started) {
    let upload = &started.upload;
    audit
        .record(
            auth.event("presign.upload", OK)
                .target("file", started.file.id)
                .detail(json!({
                    "upload_id": upload.id,
                    "size": upload.declared_size,
                    "multipart": upload.part_size.is_some(),
                    "owner_id": upload.user_id,
                })),
        )
        .await;
}

fn upload_response(started: Started) -> UploadResponse {
    let upload = started.upload;
    let checksum = started.file.checksum_sha256.clone();
    let put = started.put.map(|p| {
        let mut headers = BTreeMap::from([
            (
                "Content-Length".to_owned(),
                upload.declared_size.to_string(),
            ),
            ("Content-Type".to_owned(), upload.content_type.clone()),
        ]);
        if let Some(sha256) = checksum {
            headers.insert("x-amz-checksum-sha256".to_owned(), sha256);
        }
        PresignedRequest {
            method: "PUT".into(),
            url: p.url,
            headers,
            expires_at: p.expires_at,
        }
    });
    UploadResponse {
        upload_id: upload.id,
        file: FileResponse::from(started.file),
        state: upload.state,
        mode: mode(&upload),
        size: upload.declared_size,
        part_size: upload.part_size,
        part_count: upload.part_count,
        put,
        expires_at: upload.expires_at,
    }
}

/// The status and body one item of a batch gets for an error.
fn item_error(e: UploadError) -> (u16, crate::error::ErrorBody) {
    use actix_web::ResponseError as _;
    let e = AppError::from(e);
    (e.status_code().as_u16(), e.body())
}

fn batch_size(n: usize, what: &str) -> Result<(), AppError> {
    if n == 0 || n > MAX_START_BATCH {
        return Err(AppError::unprocessable(
            "INVALID_REQUEST",
            format!("Give 1 to {MAX_START_BATCH} {what}."),
        ));
    }
    Ok(())
}

/// Start up to 1,000 uploads in one request and one transaction. Each start is decided
/// as `POST /uploads` decides it (in the request's order, the quota counted over the
/// whole batch under one lock) and gets its own result: the batch answers 200 even when
/// some starts were refused.
#[utoipa::path(
    tag = "uploads",
    request_body = StartBatchRequest,
    responses(
        (status = 200, description = "One result per start, in order", body = StartBatchResponse),
        (status = 422, description = "No starts, or more than 1,000", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[post("/batch")]
async fn start_batch(
    uploads: web::Data<UploadService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<FilesWrite>,
    body: web::Json<StartBatchRequest>,
) -> Result<web::Json<StartBatchResponse>, AppError> {
    let body = body.into_inner();
    batch_size(body.uploads.len(), "uploads")?;
    let results = uploads
        .start_many(
            Actor::of(&auth),
            body.uploads.into_iter().map(start_of).collect(),
        )
        .await?;
    let mut items = Vec::with_capacity(results.len());
    for result in results {
        items.push(match result {
            Ok(started) => {
                record_start(&audit, &auth, &started).await;
                StartBatchItem {
                    status: if started.replayed { 200 } else { 201 },
                    upload: Some(upload_response(started)),
                    error: None,
                }
            }
            Err(e) => {
                let (code, error) = item_error(e);
                StartBatchItem {
                    status: code,
                    upload: None,
                    error: Some(error),
                }
            }
        });
    }
    Ok(web::Json(StartBatchResponse { items }))
}

/// What a client needs to plan its uploads: the multipart threshold and the largest
/// upload allowed.
#[utoipa::path(
    tag = "uploads",
    responses((status = 200, description = "The limits in force", body = UploadLimitsResponse)),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("/limits")]
async fn limits(
    uploads: web::Data<UploadService>,
    _auth: AuthUser<FilesRead>,
) -> Result<web::Json<UploadLimitsResponse>, AppError> {
    let (threshold, max) = uploads.limits().await?;
    Ok(web::Json(UploadLimitsResponse {
        multipart_threshold_bytes: threshold,
        max_upload_bytes: max,
        max_batch: MAX_START_BATCH,
    }))
}

/// Complete up to 1,000 uploads in one request, each as `POST /uploads/{id}/complete`
/// completes it, with its own result: the batch answers 200 even when some failed.
#[utoipa::path(
    tag = "uploads",
    request_body = CompleteBatchRequest,
    responses(
        (status = 200, description = "One result per upload, in order", body = CompleteBatchResponse),
        (status = 422, description = "No ids, more than 1,000, or one twice", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[post("/batch/complete")]
async fn complete_batch(
    uploads: web::Data<UploadService>,
    auth: AuthUser<FilesWrite>,
    body: web::Json<CompleteBatchRequest>,
) -> Result<web::Json<CompleteBatchResponse>, AppError> {
    let ids = body.into_inner().upload_ids;
    batch_size(ids.len(), "upload ids")?;
    let unique: std::collections::HashSet<Uuid> = ids.iter().copied().collect();
    if unique.len() != ids.len() {
        return Err(AppError::unprocessable(
            "INVALID_REQUEST",
            "Each upload id may appear once.",
        ));
    }
    let items = uploads
        .complete_many(Actor::of(&auth), ids)
        .await
        .into_iter()
        .map(|(id, result)| match result {
            Ok(file) => CompleteBatchItem {
                upload_id: id,
                status: 200,
                file: Some(file.into()),
                error: None,
            },
            Err(e) => {
                let (code, error) = item_error(e);
                CompleteBatchItem {
                    upload_id: id,
                    status: code,
                    file: None,
                    error: Some(error),
                }
            }
        })
        .collect();
    Ok(web::Json(CompleteBatchResponse { items }))
}

/// Presigned URLs for a batch of parts of a multipart upload (each signs its part's size).
#[utoipa::path(
    tag = "uploads",
    params(("id" = Uuid, Path)),
    request_body = PartUrlsRequest,
    responses(
        (status = 200, description = "Part URLs", body = PartUrlsResponse),
        (status = 404, description = "No such upload", body = ErrorBody),
        (status = 409, description = "The upload is completed or aborted", body = ErrorBody),
        (status = 422, description = "Bad part numbers, or not a multipart upload", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[post("/{id}/parts")]
async fn part_urls(
    uploads: web::Data<UploadService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<FilesWrite>,
    id: web::Path<Uuid>,
    body: web::Json<PartUrlsRequest>,
) -> Result<web::Json<PartUrlsResponse>, AppError> {
    let (parts, expires_at) = uploads
        .part_urls(
            Actor::of(&auth),
            *id,
            &body.part_numbers,
            body.content_md5.as_deref(),
        )
        .await?;
    audit
        .record(
            auth.event("presign.parts", OK)
                .target("upload", *id)
                .detail(json!({ "parts": parts.len() })),
        )
        .await;
    Ok(web::Json(PartUrlsResponse {
        parts: parts
            .into_iter()
            .map(|p| PartUrl {
                part_number: p.number,
                size: p.size,
                method: "PUT".into(),
                url: p.url,
                headers: match p.content_md5 {
                    Some(md5) => BTreeMap::from([
                        ("Content-Length".to_owned(), p.size.to_string()),
                        ("Content-MD5".to_owned(), md5),
                    ]),
                    None => BTreeMap::from([("Content-Length".to_owned(), p.size.to_string())]),
                },
            })
            .collect(),
        expires_at,
    }))
}

/// What the store already holds, so an interrupted client re-sends only missing parts.
#[utoipa::path(
    tag = "uploads",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Status", body = UploadStatusResponse),
        (status = 404, description = "No such upload", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[get("/{id}")]
async fn status(
    uploads: web::Data<UploadService>,
    auth: AuthUser<FilesWrite>,
    id: web::Path<Uuid>,
) -> Result<web::Json<UploadStatusResponse>, AppError> {
    let s = uploads.status(Actor::of(&auth), *id).await?;
    let u = s.upload;
    Ok(web::Json(UploadStatusResponse {
        upload_id: u.id,
        file_id: u.file_id,
        mode: mode(&u),
        state: u.state,
        size: u.declared_size,
        part_size: u.part_size,
        part_count: u.part_count,
        parts_done: s
            .parts_done
            .into_iter()
            .map(|p| StoredPartResponse {
                part_number: p.number,
                size: p.size,
                etag: p.etag,
            })
            .collect(),
        missing_parts: s.missing,
        expires_at: u.expires_at,
    }))
}

/// Complete an upload: the store must hold exactly the declared size. Safe to retry.
#[utoipa::path(
    tag = "uploads",
    params(("id" = Uuid, Path)),
    request_body(content = Option<CompleteUploadRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The file, now active", body = FileResponse),
        (status = 404, description = "No such upload", body = ErrorBody),
        (status = 409, description = "Parts or object missing (UPLOAD_INCOMPLETE), or aborted", body = ErrorBody),
        (status = 422, description = "Size mismatch: object deleted, reservation released; or an invalid checksum", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[post("/{id}/complete")]
async fn complete(
    uploads: web::Data<UploadService>,
    auth: AuthUser<FilesWrite>,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<web::Json<FileResponse>, AppError> {
    let body: CompleteUploadRequest = crate::error::optional_json(&body)?;
    let checksum = body.checksum_sha256.as_deref();
    Ok(web::Json(
        uploads
            .complete(Actor::of(&auth), *id, checksum)
            .await?
            .into(),
    ))
}

/// Abort an upload: the reservation is released and stored parts deleted. Safe to retry.
#[utoipa::path(
    tag = "uploads",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Aborted"),
        (status = 404, description = "No such upload", body = ErrorBody),
        (status = 409, description = "Already completed", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[post("/{id}/abort")]
async fn abort(
    uploads: web::Data<UploadService>,
    auth: AuthUser<FilesWrite>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    uploads.abort(Actor::of(&auth), *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Copy a file server-side to a new object (counted against the quota). Without a name
/// in the same folder, the copy is called "Copy of <name>".
#[utoipa::path(
    tag = "files",
    params(("id" = Uuid, Path)),
    request_body = UpdateFileRequest,
    responses(
        (status = 201, description = "Copied", body = FileResponse),
        (status = 404, description = "No such file or target folder", body = ErrorBody),
        (status = 409, description = "Name taken, or the file is still uploading", body = ErrorBody),
        (status = 413, description = "Quota exceeded", body = ErrorBody),
        (status = 422, description = "Folders cannot be copied; invalid name", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[post("/{id}/copy")]
async fn copy_file(
    uploads: web::Data<UploadService>,
    auth: AuthUser<FilesWrite>,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let body: UpdateFileRequest = crate::error::optional_json(&body)?;
    let change = Change {
        name: body.name,
        parent: body.parent_id,
    };
    let node = uploads.copy(Actor::of(&auth), *id, change).await?;
    Ok(HttpResponse::Created().json(FileResponse::from(node)))
}

/// Delete a file, or a folder with everything in it.
#[utoipa::path(
    tag = "files",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such file", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[delete("/{id}")]
async fn delete_file(
    uploads: web::Data<UploadService>,
    auth: AuthUser<FilesWrite>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    uploads.delete(Actor::of(&auth), *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
