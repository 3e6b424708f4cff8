//! HTTP handlers of `/api/v1/files` and `/api/v1/folders`.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::{
    CreateFolderRequest, DownloadQuery, DownloadResponse, FileList, FileResponse, ListQuery,
    UpdateFileRequest,
};
use super::service::Change;
use crate::audit::OK;
use crate::auth::AuthUser;
use crate::error::{AppError, ErrorBody};
use crate::state::AppState;

pub fn configure_files(cfg: &mut ServiceConfig) {
    // actix tries routes in this order, matching each `{id}` pattern with a regex: the
    // hot path (downloads of HPC clients) goes first.
    cfg.service(download)
        .service(get_file)
        .service(update_file)
        .service(copy_file)
        .service(delete_file);
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
    security(("bearer" = []))
)]
#[post("")]
async fn create_folder(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<CreateFolderRequest>,
) -> Result<HttpResponse, AppError> {
    let node = state
        .files
        .create_folder(auth.user.id, &body.name, body.parent_id)
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
    security(("bearer" = []))
)]
#[get("/{id}/items")]
async fn list_folder(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<FileList>, AppError> {
    let folder = match path.as_str() {
        "root" => None,
        other => Some(Uuid::parse_str(other).map_err(|_| {
            AppError::bad_request("INVALID_PATH", "The folder id must be a UUID or `root`.")
        })?),
    };
    let page = state
        .files
        .list(auth.user.id, folder, query.limit, query.cursor.as_deref())
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
    security(("bearer" = []))
)]
#[get("/{id}")]
async fn get_file(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<FileResponse>, AppError> {
    Ok(web::Json(state.files.get(auth.user.id, *id).await?.into()))
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
    security(("bearer" = []))
)]
#[patch("/{id}")]
async fn update_file(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<UpdateFileRequest>,
) -> Result<web::Json<FileResponse>, AppError> {
    let body = body.into_inner();
    let change = Change {
        name: body.name,
        parent: body.parent_id,
    };
    Ok(web::Json(
        state.files.update(auth.user.id, *id, change).await?.into(),
    ))
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
    security(("bearer" = []))
)]
#[post("/{id}/copy")]
async fn copy_file(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let body: UpdateFileRequest = crate::error::optional_json(&body)?;
    let change = Change {
        name: body.name,
        parent: body.parent_id,
    };
    let node = state.files.copy(auth.user.id, *id, change).await?;
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
    security(("bearer" = []))
)]
#[delete("/{id}")]
async fn delete_file(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    state.files.delete(auth.user.id, *id).await?;
    Ok(HttpResponse::NoContent().finish())
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
    security(("bearer" = []))
)]
#[get("/{id}/download")]
async fn download(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<Uuid>,
    query: web::Query<DownloadQuery>,
) -> Result<HttpResponse, AppError> {
    let d = state.files.download(auth.user.id, *id).await?;
    state
        .audit
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
