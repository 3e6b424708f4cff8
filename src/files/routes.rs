//! HTTP handlers of `/api/v1/files` and `/api/v1/folders`.

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::access::Actor;
use super::dto::{
    CreateFolderRequest, DownloadQuery, DownloadResponse, FileList, FileResponse, ListQuery,
    UpdateFileRequest,
};
use super::service::Change;
use super::service::FileService;
use crate::audit::AuditLog;
use crate::audit::OK;
use crate::auth::{AuthUser, FilesRead, FilesWrite};
use crate::error::{AppError, ErrorBody};

pub fn configure_files(cfg: &mut ServiceConfig) {
    // actix tries routes in this order, matching each `{id}` pattern with a regex: the
    // hot path (downloads of HPC clients) goes first.
    cfg.service(download).service(get_file).service(update_file);
}

pub fn configure_folders(cfg: &mut ServiceConfig) {
    cfg.service(create_folder).service(list_folder);
}

/// Create a folder.
#[utoipa::path(
    tag = "files",
    request_body = CreateFolderRequest,
    responses(
        (status = 201, description = "Folder created", body = FileResponse),
        (status = 404, description = "No such parent folder", body = ErrorBody),
        (status = 409, description = "Name taken in that folder", body = ErrorBody),
        (status = 422, description = "Invalid name, or the parent is not a folder", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[post("")]
async fn create_folder(
    files: web::Data<FileService>,
    auth: AuthUser<FilesWrite>,
    body: web::Json<CreateFolderRequest>,
) -> Result<HttpResponse, AppError> {
    let node = files
        .create_folder(Actor::of(&auth), &body.name, body.parent_id)
        .await?;
    Ok(HttpResponse::Created().json(FileResponse::from(node)))
}

/// List a folder (`root` for the top level): folders first, then files, by name.
#[utoipa::path(
    tag = "files",
    params(("id" = String, Path, description = "A folder id, or `root`"), ListQuery),
    responses(
        (status = 200, description = "One page", body = FileList),
        (status = 404, description = "No such folder", body = ErrorBody),
        (status = 422, description = "Bad limit or cursor, or not a folder", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("/{id}/items")]
async fn list_folder(
    files: web::Data<FileService>,
    auth: AuthUser<FilesRead>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<FileList>, AppError> {
    let folder = match path.as_str() {
        "root" => None,
        other => Some(Uuid::parse_str(other).map_err(|_| {
            AppError::bad_request("INVALID_PATH", "The folder id must be a UUID or `root`.")
        })?),
    };
    let page = files
        .list(
            Actor::of(&auth),
            folder,
            query.limit,
            query.cursor.as_deref(),
        )
        .await?;
    Ok(web::Json(FileList {
        items: page.items.into_iter().map(FileResponse::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// A file's or folder's metadata.
#[utoipa::path(
    tag = "files",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Metadata", body = FileResponse),
        (status = 404, description = "No such file", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("/{id}")]
async fn get_file(
    files: web::Data<FileService>,
    auth: AuthUser<FilesRead>,
    id: web::Path<Uuid>,
) -> Result<web::Json<FileResponse>, AppError> {
    Ok(web::Json(files.get(Actor::of(&auth), *id).await?.into()))
}

/// Rename and/or move a file or folder (metadata only; no bytes are copied).
#[utoipa::path(
    tag = "files",
    params(("id" = Uuid, Path)),
    request_body = UpdateFileRequest,
    responses(
        (status = 200, description = "Updated", body = FileResponse),
        (status = 404, description = "No such file or target folder", body = ErrorBody),
        (status = 409, description = "Name taken, or a folder moved into its own subtree", body = ErrorBody),
        (status = 422, description = "Invalid name, or the target is not a folder", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[patch("/{id}")]
async fn update_file(
    files: web::Data<FileService>,
    auth: AuthUser<FilesWrite>,
    id: web::Path<Uuid>,
    body: web::Json<UpdateFileRequest>,
) -> Result<web::Json<FileResponse>, AppError> {
    let body = body.into_inner();
    let change = Change {
        name: body.name,
        parent: body.parent_id,
    };
    Ok(web::Json(
        files.update(Actor::of(&auth), *id, change).await?.into(),
    ))
}

/// A short-lived presigned download URL; `?redirect=true` answers 302 to it.
#[utoipa::path(
    tag = "files",
    params(("id" = Uuid, Path), DownloadQuery),
    responses(
        (status = 200, description = "Presigned GET", body = DownloadResponse),
        (status = 302, description = "Redirect to the presigned GET"),
        (status = 404, description = "No such file", body = ErrorBody),
        (status = 409, description = "Still uploading", body = ErrorBody),
        (status = 422, description = "A folder", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("/{id}/download")]
async fn download(
    files: web::Data<FileService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<FilesRead>,
    id: web::Path<Uuid>,
    query: web::Query<DownloadQuery>,
) -> Result<HttpResponse, AppError> {
    let d = files.download(Actor::of(&auth), *id).await?;
    audit
        .record(auth.event("presign.download", OK).target("file", *id))
        .await;
    if query.redirect {
        return Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, d.url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(DownloadResponse {
            url: d.url,
            expires_at: d.expires_at,
        }))
}
