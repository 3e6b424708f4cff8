//! HTTP handlers of `/api/v1/uploads`, and the two writes of `/api/v1/files` that
//! change usage: copy and delete.

use std::collections::BTreeMap;

use actix_web::{delete, get, post, web, HttpResponse};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::{
    PartUrl, PartUrlsRequest, PartUrlsResponse, PresignedRequest, StartUploadRequest,
    StoredPartResponse, UploadResponse, UploadStatusResponse,
};
use super::repo::Upload;
use super::service::{StartUpload, UploadService};
use crate::audit::{AuditLog, OK};
use crate::auth::{AuthUser, FilesWrite};
use crate::error::{AppError, ErrorBody};
use crate::files::access::Actor;
use crate::files::dto::{FileResponse, UpdateFileRequest};
use crate::files::service::Change;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(start)
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
    let started = uploads
        .start(
            Actor::of(&auth),
            StartUpload {
                name: body.name,
                parent_id: body.parent_id,
                size: body.size,
                content_type: body.content_type,
            },
        )
        .await?;
    let upload = started.upload;
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
    let put = started.put.map(|p| PresignedRequest {
        method: "PUT".into(),
        url: p.url,
        headers: BTreeMap::from([
            (
                "Content-Length".to_owned(),
                upload.declared_size.to_string(),
            ),
            ("Content-Type".to_owned(), upload.content_type.clone()),
        ]),
        expires_at: p.expires_at,
    });
    let body = UploadResponse {
        upload_id: upload.id,
        file: FileResponse::from(started.file),
        state: upload.state,
        mode: mode(&upload),
        size: upload.declared_size,
        part_size: upload.part_size,
        part_count: upload.part_count,
        put,
        expires_at: upload.expires_at,
    };
    Ok(if started.replayed {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    }
    .json(body))
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
        .part_urls(Actor::of(&auth), *id, &body.part_numbers)
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
                headers: BTreeMap::from([("Content-Length".to_owned(), p.size.to_string())]),
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
    responses(
        (status = 200, description = "The file, now active", body = FileResponse),
        (status = 404, description = "No such upload", body = ErrorBody),
        (status = 409, description = "Parts or object missing (UPLOAD_INCOMPLETE), or aborted", body = ErrorBody),
        (status = 422, description = "Size mismatch: object deleted, reservation released", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[post("/{id}/complete")]
async fn complete(
    uploads: web::Data<UploadService>,
    auth: AuthUser<FilesWrite>,
    id: web::Path<Uuid>,
) -> Result<web::Json<FileResponse>, AppError> {
    Ok(web::Json(
        uploads.complete(Actor::of(&auth), *id).await?.into(),
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
