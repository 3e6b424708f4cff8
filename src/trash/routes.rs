//! `/api/v1/trash`: the caller's deleted files and folders.

use actix_web::{delete, get, post, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::{Emptied, TrashList, TrashQuery};
use super::service::TrashService;
use crate::audit::{AuditLog, OK};
use crate::auth::{AuthUser, FilesRead, FilesWrite};
use crate::error::{AppError, ErrorBody};
use crate::files::access::Actor;
use crate::files::dto::FileResponse;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(empty)
        .service(restore)
        .service(remove);
}

/// Your deleted files and folders, newest first; each is purged when its retention ends.
#[utoipa::path(
    tag = "files",
    params(TrashQuery),
    responses(
        (status = 200, description = "One page", body = TrashList),
        (status = 403, description = "A token confined to a folder", body = ErrorBody),
        (status = 422, description = "`limit` out of range, or a bad cursor", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("")]
async fn list(
    trash: web::Data<TrashService>,
    auth: AuthUser<FilesRead>,
    query: web::Query<TrashQuery>,
) -> Result<web::Json<TrashList>, AppError> {
    let page = trash
        .list(Actor::of(&auth), query.cursor.as_deref(), query.limit)
        .await?;
    Ok(web::Json(TrashList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Puts an item back into the folder it was deleted from (or the root when that is
/// gone), with its shares and links; a name taken meanwhile gets a ` (1)` suffix.
#[utoipa::path(
    tag = "files",
    params(("id" = Uuid, Path, description = "The trash item's id")),
    responses(
        (status = 200, description = "The restored file or folder", body = FileResponse),
        (status = 403, description = "A token confined to a folder", body = ErrorBody),
        (status = 404, description = "No such item in your trash", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[post("/{id}/restore")]
async fn restore(
    trash: web::Data<TrashService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<FilesWrite>,
    id: web::Path<Uuid>,
) -> Result<web::Json<FileResponse>, AppError> {
    let node = trash.restore(Actor::of(&auth), *id).await?;
    audit
        .record(auth.event("trash.restored", OK).target("file", node.id))
        .await;
    Ok(web::Json(node.into()))
}

/// Deletes one item for good: its bytes leave your usage and its objects are purged.
#[utoipa::path(
    tag = "files",
    params(("id" = Uuid, Path, description = "The trash item's id")),
    responses(
        (status = 204, description = "Deleted for good"),
        (status = 403, description = "A token confined to a folder", body = ErrorBody),
        (status = 404, description = "No such item in your trash", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[delete("/{id}")]
async fn remove(
    trash: web::Data<TrashService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<FilesWrite>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, AppError> {
    trash.delete(Actor::of(&auth), *id).await?;
    audit
        .record(auth.event("trash.purged", OK).target("trash_item", *id))
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Empties your trash: everything in it is deleted for good.
#[utoipa::path(
    tag = "files",
    responses(
        (status = 200, description = "What was purged", body = Emptied),
        (status = 403, description = "A token confined to a folder", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[delete("")]
async fn empty(
    trash: web::Data<TrashService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<FilesWrite>,
) -> Result<web::Json<Emptied>, AppError> {
    let done = trash.empty(Actor::of(&auth)).await?;
    audit
        .record(
            auth.event("trash.emptied", OK)
                .detail(serde_json::json!({ "items": done.items, "bytes": done.bytes })),
        )
        .await;
    Ok(web::Json(done))
}
