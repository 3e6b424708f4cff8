//! HTTP handlers of `/api/v1/files/{id}/shares`, `/api/v1/files/{id}/links` and
//! `/api/v1/shared-with-me`.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::{
    CreateLinkRequest, CreateShareRequest, CreatedLink, LinkList, LinkResponse, ShareList,
    ShareResponse, SharedWithMeList,
};
use super::service::ShareService;
use super::service::{LinkRequest, ShareView};
use crate::audit::AuditLog;
use crate::audit::OK;
use crate::auth::{AuthUser, FilesRead, SharesWrite};
use crate::error::{AppError, ErrorBody};
use crate::files::access::Actor;
use crate::files::dto::ListQuery;
use crate::http::middleware::RequestConfig;
use crate::page::page_limit;
use crate::page::{rows_for, Page};

/// Mounted in the `/api/v1/files` scope.
pub fn configure_file_routes(cfg: &mut ServiceConfig) {
    cfg.service(create_share)
        .service(list_shares)
        .service(delete_share)
        .service(create_link)
        .service(list_links)
        .service(revoke_link);
}

pub fn configure_shared_with_me(cfg: &mut ServiceConfig) {
    cfg.service(shared_with_me);
}

/// Share a file (read) or folder (read or write) with a user. Sharing again with the
/// same user changes the permission. Only the owner shares.
#[utoipa::path(
    tag = "sharing",
    params(("id" = Uuid, Path)),
    request_body = CreateShareRequest,
    responses(
        (status = 201, description = "Shared", body = ShareResponse),
        (status = 200, description = "The existing share's permission changed", body = ShareResponse),
        (status = 403, description = "Not the owner (a grantee cannot reshare)", body = ErrorBody),
        (status = 404, description = "No such file", body = ErrorBody),
        (status = 422, description = "Unknown user, yourself, bad permission, or write on a file", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["shares:write"]))
)]
#[post("/{id}/shares")]
async fn create_share(
    shares: web::Data<ShareService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<SharesWrite>,
    id: web::Path<Uuid>,
    body: web::Json<CreateShareRequest>,
) -> Result<HttpResponse, AppError> {
    let (share, created) = shares
        .share(Actor::of(&auth), *id, &body.username, &body.permission)
        .await?;
    audit
        .record(
            auth.event(
                if created {
                    "share.created"
                } else {
                    "share.updated"
                },
                OK,
            )
            .target("file", share.file_id)
            .detail(json!({ "grantee": share.grantee_id, "permission": share.permission })),
        )
        .await;
    let body = ShareResponse::from(ShareView {
        grantee: body.username.trim().to_lowercase(),
        inherited: false,
        share,
    });
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// Who has access to a file or folder: its own shares and those of folders above it.
#[utoipa::path(
    tag = "sharing",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Shares", body = ShareList),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such file", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["shares:write"]))
)]
#[get("/{id}/shares")]
async fn list_shares(
    shares: web::Data<ShareService>,
    auth: AuthUser<SharesWrite>,
    id: web::Path<Uuid>,
) -> Result<web::Json<ShareList>, AppError> {
    let items = shares.shares(Actor::of(&auth), *id).await?;
    Ok(web::Json(ShareList {
        items: items.into_iter().map(ShareResponse::from).collect(),
    }))
}

/// End a user's share of this file or folder; it holds from their next request.
#[utoipa::path(
    tag = "sharing",
    params(("id" = Uuid, Path), ("username" = String, Path)),
    responses(
        (status = 204, description = "Share ended"),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such file, or no share with that user on it", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["shares:write"]))
)]
#[delete("/{id}/shares/{username}")]
async fn delete_share(
    shares: web::Data<ShareService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<SharesWrite>,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, username) = path.into_inner();
    let grantee = shares.unshare(Actor::of(&auth), id, &username).await?;
    audit
        .record(
            auth.event("share.revoked", OK)
                .target("file", id)
                .detail(json!({ "grantee": grantee })),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Create a share link to a file or folder, optionally with an expiry, a password and a
/// download limit. The token is in the answer only: keep it.
#[utoipa::path(
    tag = "sharing",
    params(("id" = Uuid, Path)),
    request_body(content = CreateLinkRequest, description = "All fields optional; `{}` (or no body) makes a permanent, unlimited link"),
    responses(
        (status = 201, description = "Link created", body = CreatedLink),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such file", body = ErrorBody),
        (status = 409, description = "The file is still uploading", body = ErrorBody),
        (status = 422, description = "Expiry in the past, bad limit, or weak password", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["shares:write"]))
)]
#[post("/{id}/links")]
async fn create_link(
    req: HttpRequest,
    shares: web::Data<ShareService>,
    audit: web::Data<AuditLog>,
    request: web::Data<RequestConfig>,
    auth: AuthUser<SharesWrite>,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let body: CreateLinkRequest = crate::error::optional_json(&body)?;
    let (link, token) = shares
        .create_link(
            Actor::of(&auth),
            *id,
            LinkRequest {
                expires_at: body.expires_at,
                password: body.password,
                max_downloads: body.max_downloads,
            },
        )
        .await?;
    audit
        .record(
            auth.event("link.created", OK)
                .target("link", link.id)
                .detail(json!({
                    "file_id": link.file_id,
                    "expires_at": link.expires_at,
                    "password": link.password_hash.is_some(),
                    "max_downloads": link.max_downloads,
                })),
        )
        .await;
    let origin = crate::http::client_ip::public_origin(&req, &request.trusted_proxies);
    let url = format!("{origin}/s/{token}");
    Ok(HttpResponse::Created().json(CreatedLink {
        link: link.into(),
        token,
        url,
    }))
}

/// The links of a file or folder, with their download counts (tokens are not kept).
#[utoipa::path(
    tag = "sharing",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Links, oldest first", body = LinkList),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such file", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["shares:write"]))
)]
#[get("/{id}/links")]
async fn list_links(
    shares: web::Data<ShareService>,
    auth: AuthUser<SharesWrite>,
    id: web::Path<Uuid>,
) -> Result<web::Json<LinkList>, AppError> {
    let links = shares.links(Actor::of(&auth), *id).await?;
    Ok(web::Json(LinkList {
        items: links.into_iter().map(LinkResponse::from).collect(),
    }))
}

/// Revoke a link: from now on it answers 404, like a link that never existed.
#[utoipa::path(
    tag = "sharing",
    params(("id" = Uuid, Path), ("link_id" = Uuid, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such file, or no live link with that id on it", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["shares:write"]))
)]
#[delete("/{id}/links/{link_id}")]
async fn revoke_link(
    shares: web::Data<ShareService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<SharesWrite>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (id, link) = path.into_inner();
    shares.revoke_link(Actor::of(&auth), id, link).await?;
    audit
        .record(auth.event("link.revoked", OK).target("link", link))
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Files and folders other users shared with you, oldest share first. Open a shared
/// folder with `GET /api/v1/folders/{id}/items`.
#[utoipa::path(
    tag = "sharing",
    params(ListQuery),
    responses(
        (status = 200, description = "One page", body = SharedWithMeList),
        (status = 422, description = "Bad limit or cursor", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("")]
async fn shared_with_me(
    shares: web::Data<ShareService>,
    auth: AuthUser<FilesRead>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<SharedWithMeList>, AppError> {
    let limit = page_limit(query.limit)?;
    let after = match query.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| Uuid::from_slice(&b).ok())
                .ok_or_else(|| {
                    AppError::unprocessable("INVALID_REQUEST", "The cursor is not valid.")
                })?,
        ),
    };
    let rows = shares
        .shared_with_me(Actor::of(&auth), rows_for(limit), after)
        .await?;
    let page = Page::from_rows(rows, limit, |i| {
        URL_SAFE_NO_PAD.encode(i.share.id.as_bytes())
    })
    .map(Into::into);
    Ok(web::Json(SharedWithMeList {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
