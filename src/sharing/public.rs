//! `/s/{token}`: share links for anyone holding the token, no account needed. Unknown,
//! revoked, expired and used-up links all answer the same 404; every refusal and
//! redemption is audited (never with the token or password).

use actix_web::http::{header, StatusCode};
use actix_web::ResponseError as _;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use secrecy::SecretString;
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::dto::{ArchiveLinkRequest, BrowseQuery, LinkInfo, PublicItem, RedeemRequest};
use super::repo::Link;
use super::service::{Refusal, ShareService};
use crate::audit::{AuditLog, DENIED, OK};
use crate::error::{AppError, ErrorBody};
use crate::files::dto::DownloadResponse;
use crate::files::repo::Node;
use crate::http::context::{ClientIp, Origin};
use crate::http::ratelimit::RateLimits;
use crate::tasks::dto::{TaskAccepted, TaskResponse};
use crate::tasks::TaskState;

/// The header that carries a link's password on `GET /s/{token}` (folder listings).
pub const PASSWORD_HEADER: &str = "x-link-password";

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(link_info)
        .service(redeem)
        .service(archive)
        .service(archive_status);
}

/// What every handler here reads: the link rules, the audit log, the per-IP limits, and
/// who is asking.
struct Visitor {
    shares: web::Data<ShareService>,
    audit: web::Data<AuditLog>,
    limits: web::Data<RateLimits>,
    origin: Origin,
    ip: ClientIp,
}

impl actix_web::FromRequest for Visitor {
    type Error = AppError;
    type Future = std::future::Ready<Result<Visitor, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        fn data<T: 'static>(req: &HttpRequest) -> Result<web::Data<T>, AppError> {
            req.app_data::<web::Data<T>>()
                .cloned()
                .ok_or_else(|| AppError::Internal("app data missing".into()))
        }
        let visitor = (|| {
            Ok(Visitor {
                shares: data(req)?,
                audit: data(req)?,
                limits: data(req)?,
                origin: Origin::of(req),
                ip: ClientIp::extract(req).into_inner()?,
            })
        })();
        std::future::ready(visitor)
    }
}

async fn refused(v: &Visitor, link: Option<&Link>, refusal: Refusal) -> AppError {
    let mut event = v
        .origin
        .event("link.refused", DENIED)
        .detail(json!({ "reason": refusal.reason() }));
    if let Some(link) = link {
        event = event.target("link", link.id);
    }
    v.audit.record(event).await;
    match refusal {
        Refusal::Gone => AppError::not_found(),
        Refusal::PasswordRequired => {
            AppError::unauthorized("LINK_PASSWORD_REQUIRED", "This link needs its password.")
        }
        Refusal::PasswordInvalid => {
            AppError::unauthorized("LINK_PASSWORD_INVALID", "The password is wrong.")
        }
    }
}

/// The live link and its target, after the per-IP limit.
async fn open(v: &Visitor, token: &str, used_up_ok: bool) -> Result<(Link, Node), AppError> {
    v.limits.check_public(v.ip.0)?;
    match v.shares.open(token, used_up_ok).await {
        Ok(found) => Ok(found),
        Err(r) => Err(refused(v, None, r).await),
    }
}

/// Checks the password of a protected link; attempts are limited per link and per IP.
async fn unlock(v: &Visitor, link: &Link, password: Option<&SecretString>) -> Result<(), AppError> {
    if link.password_hash.is_some() && password.is_some() {
        if let Err(e) = v.limits.check_link_password(link.id, v.ip.0) {
            let event = v
                .origin
                .event("link.refused", DENIED)
                .target("link", link.id)
                .detail(json!({ "reason": "throttled" }));
            v.audit.record(event).await;
            return Err(e);
        }
    }
    match v.shares.check_password(link, password).await? {
        Ok(()) => Ok(()),
        Err(r) => Err(refused(v, Some(link), r).await),
    }
}

/// A share link's metadata; for a folder, one page of its contents. A browser
/// (`Accept` preferring `text/html`) gets the link's web page instead, or a 404 page
/// for a link that is not available.
#[utoipa::path(
    tag = "public links",
    params(
        ("token" = String, Path, description = "The link token"),
        ("X-Link-Password" = Option<String>, Header, description = "The password, to list a protected folder"),
        BrowseQuery,
    ),
    responses(
        (status = 200, description = "Metadata (and for folders a listing)", body = LinkInfo),
        (status = 401, description = "Wrong password in X-Link-Password", body = ErrorBody),
        (status = 404, description = "Unknown, revoked, expired or used-up link; or no such folder below it", body = ErrorBody),
        (status = 429, description = "Too many requests or password attempts", body = ErrorBody),
    )
)]
#[get("/{token}")]
async fn link_info(
    req: HttpRequest,
    v: Visitor,
    token: web::Path<String>,
    query: web::Query<BrowseQuery>,
) -> Result<HttpResponse, AppError> {
    if crate::web::wants_html(&req) {
        // A browser: the link's page (which reads this route as JSON), or the one page
        // for links that are not available.
        return match open(&v, &token, false).await {
            Ok(_) => Ok(crate::web::link_page()),
            Err(e) if e.status_code() == StatusCode::NOT_FOUND => Ok(crate::web::gone_page()),
            Err(e) => Err(e),
        };
    }
    let (link, target) = open(&v, &token, false).await?;
    let mut info = LinkInfo {
        name: target.name.clone(),
        kind: target.kind,
        size: target.size,
        content_type: target.content_type.clone(),
        expires_at: link.expires_at,
        password_required: link.password_hash.is_some(),
        downloads_remaining: link.max_downloads.map(|m| (m - link.download_count).max(0)),
        items: None,
        next_cursor: None,
    };
    if target.is_folder() {
        let password = req
            .headers()
            .get(PASSWORD_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|p| SecretString::from(p.to_owned()));
        if link.password_hash.is_none() || password.is_some() {
            unlock(&v, &link, password.as_ref()).await?;
            let page = v
                .shares
                .browse(
                    &target,
                    query.folder_id,
                    query.limit,
                    query.cursor.as_deref(),
                )
                .await?;
            info.items = Some(page.items.into_iter().map(PublicItem::from).collect());
            info.next_cursor = page.next_cursor;
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::VARY, "Accept"))
        .json(info))
}

/// Redeem a link: counts one download and answers 302 to a presigned GET that lives
/// 60 seconds (`curl -L`). For folder links, name the `file_id` to download.
#[utoipa::path(
    tag = "public links",
    params(("token" = String, Path, description = "The link token")),
    request_body(content = RedeemRequest, description = "Optional for unprotected file links"),
    responses(
        (status = 302, description = "Redirect to the presigned GET"),
        (status = 200, description = "The presigned GET (with `no_redirect`)", body = DownloadResponse),
        (status = 401, description = "Password missing or wrong", body = ErrorBody),
        (status = 404, description = "Unknown, revoked, expired or used-up link; or no such file below it", body = ErrorBody),
        (status = 409, description = "The file is still uploading", body = ErrorBody),
        (status = 422, description = "A folder link without file_id", body = ErrorBody),
        (status = 429, description = "Too many requests or password attempts", body = ErrorBody),
    )
)]
#[post("/{token}/download")]
async fn redeem(
    v: Visitor,
    token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let body: RedeemRequest = crate::error::optional_json(&body)?;
    let (link, target) = open(&v, &token, false).await?;
    unlock(&v, &link, body.password.as_ref()).await?;
    let Some((node, d)) = v.shares.redeem(&link, &target, body.file_id).await? else {
        return Err(refused(&v, Some(&link), Refusal::Gone).await);
    };
    let event = v
        .origin
        .event("link.redeemed", OK)
        .target("link", link.id)
        .detail(json!({ "file_id": node.id, "presign": "get" }));
    v.audit.record(event).await;
    if body.no_redirect {
        return Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(DownloadResponse {
                url: d.url,
                expires_at: d.expires_at,
            }));
    }
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, d.url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// "Download all" of a folder link: counts one download and has the worker build a zip.
/// Poll `GET /s/{token}/archives/{task_id}`.
#[utoipa::path(
    tag = "public links",
    params(("token" = String, Path, description = "The link token")),
    request_body(content = ArchiveLinkRequest, description = "The password, for protected links"),
    responses(
        (status = 202, description = "Archive task enqueued", body = TaskAccepted),
        (status = 401, description = "Password missing or wrong", body = ErrorBody),
        (status = 404, description = "Unknown, revoked, expired or used-up link", body = ErrorBody),
        (status = 413, description = "Over the archive size limit", body = ErrorBody),
        (status = 422, description = "Not a folder link, or nothing to archive", body = ErrorBody),
        (status = 429, description = "Too many requests or password attempts", body = ErrorBody),
    )
)]
#[post("/{token}/archives")]
async fn archive(
    v: Visitor,
    token: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let body: ArchiveLinkRequest = crate::error::optional_json(&body)?;
    let (link, target) = open(&v, &token, false).await?;
    unlock(&v, &link, body.password.as_ref()).await?;
    let Some(task) = v.shares.download_all(&link, &target).await? else {
        return Err(refused(&v, Some(&link), Refusal::Gone).await);
    };
    let event = v
        .origin
        .event("link.redeemed", OK)
        .target("link", link.id)
        .detail(json!({ "file_id": target.id, "archive_task": task }));
    v.audit.record(event).await;
    Ok(HttpResponse::Accepted().json(TaskAccepted {
        task_id: task,
        state: TaskState::Queued,
    }))
}

/// A "download all" task of this link; when done, a GET of the zip that lives 60 s.
#[utoipa::path(
    tag = "public links",
    params(("token" = String, Path, description = "The link token"), ("task_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The task", body = TaskResponse),
        (status = 404, description = "Unknown link, or no such task of it", body = ErrorBody),
    )
)]
#[get("/{token}/archives/{task_id}")]
async fn archive_status(
    v: Visitor,
    path: web::Path<(String, Uuid)>,
) -> Result<web::Json<TaskResponse>, AppError> {
    let (token, task_id) = path.into_inner();
    let (link, _) = open(&v, &token, true).await?;
    Ok(web::Json(v.shares.link_task(link.id, task_id).await?))
}
