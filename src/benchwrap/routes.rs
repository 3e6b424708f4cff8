//! HTTP handlers of the benchwrap protocol under `/api`.
//!
//! The client sends its password and refresh token in the query string. They are
//! accepted there because deployed clients send them so, and equally as a form or JSON
//! body; none reaches a log line (the request log names only the route pattern, and
//! these handlers log nothing of their input).

use actix_web::http::header::{self, ContentType};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::{AuditLog, DENIED, OK};
use crate::auth::routes::{audited, client_info};
use crate::auth::service::{AuthService, Session};
use crate::auth::{AuthUser, FilesRead, FilesWrite};
use crate::benchwrap::service::Benchwrap;
use crate::error::{json_error, AppError, ErrorBody};
use crate::files::access::Actor;
use crate::http::context::{ClientIp, Origin};
use crate::http::ratelimit::RateLimits;
use crate::uploads::repo::Upload;

/// The OpenAPI tag of these routes.
pub const TAG: &str = "benchwrap compatibility";

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(probe)
        .service(register)
        .service(password)
        .service(refresh)
        .service(presign_upload)
        .service(presign_download)
        .service(list);
}

#[derive(Serialize, ToSchema)]
pub struct ProbeResponse {
    #[schema(example = "Coffer: benchwrap protocol")]
    pub message: String,
}

/// The client's health probe.
#[utoipa::path(tag = TAG, responses((status = 200, description = "Serving", body = ProbeResponse)))]
#[get("/")]
async fn probe() -> HttpResponse {
    HttpResponse::Ok().json(ProbeResponse {
        message: format!("Coffer {}: benchwrap protocol", env!("CARGO_PKG_VERSION")),
    })
}

/// A token pair as the benchwrap client reads it. The access token's payload carries
/// a `username` claim, which the client reads without verifying.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PairResponse {
    /// The access token: `Authorization: Bearer` on every other call.
    pub access: String,
    /// The refresh token; single use: each refresh returns a new one.
    pub refresh: String,
}

fn pair(session: Session) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(PairResponse {
            access: session.access_token,
            refresh: session.refresh_token,
        })
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterBody {
    #[schema(example = "alice")]
    pub username: String,
    #[schema(value_type = String, format = Password, example = "correct horse battery staple")]
    pub password: SecretString,
}

/// Creates an account (when registration is open) and signs it in.
#[utoipa::path(
    tag = TAG,
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered and signed in", body = PairResponse),
        (status = 409, description = "The username is taken", body = ErrorBody),
        (status = 422, description = "Invalid username or password", body = ErrorBody),
        (status = 403, description = "Registration is closed", body = ErrorBody),
    )
)]
#[post("/auth/register")]
async fn register(
    limits: web::Data<RateLimits>,
    accounts: web::Data<AuthService>,
    audit: web::Data<AuditLog>,
    origin: Origin,
    req: HttpRequest,
    ip: ClientIp,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse, AppError> {
    limits.check_ip(ip.0)?;
    let body = body.into_inner();
    let result = accounts
        .register(&body.username, &body.password, None)
        .await;
    let event = origin
        .event("auth.register", OK)
        .detail(serde_json::json!({ "username": body.username.trim().to_lowercase() }));
    let user = audited(&audit, event, result, |u| (u.id, u.username.clone())).await?;
    let result = accounts.session_for(user.id, client_info(&req, &ip)).await;
    let session = audited(&audit, origin.event("auth.login", OK), result, |s| {
        (s.user.id, s.user.username.clone())
    })
    .await?;
    let mut res = pair(session);
    *res.status_mut() = actix_web::http::StatusCode::CREATED;
    Ok(res)
}

/// Where the client's fields may come from: the query string, else the body (a form or
/// JSON object with the same fields).
fn fields<T: serde::de::DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, AppError> {
    if !req.query_string().is_empty() {
        return serde_urlencoded::from_str(req.query_string()).map_err(|e| {
            AppError::unprocessable("INVALID_QUERY", format!("The query is not valid: {e}."))
        });
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(ContentType::json().essence_str()));
    if json {
        serde_json::from_slice(body).map_err(|e| json_error(&e))
    } else {
        serde_urlencoded::from_bytes(body).map_err(|e| {
            AppError::unprocessable("INVALID_BODY", format!("The form is not valid: {e}."))
        })
    }
}

/// The password sign-in's fields (`u`, `p`).
#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct PasswordParams {
    /// The username.
    pub u: String,
    /// The password (accepted here because deployed clients send it so; never logged).
    #[param(value_type = String, format = Password)]
    #[schema(value_type = String, format = Password)]
    pub p: SecretString,
}

/// Signs in with a username and password, given as `?u=&p=` (as the client sends
/// them), or as a form or JSON body with the same fields.
#[utoipa::path(
    tag = TAG,
    params(PasswordParams),
    request_body(
        content = PasswordParams,
        content_type = "application/x-www-form-urlencoded",
        description = "The same fields as a form or JSON object, when the query has none",
    ),
    responses(
        (status = 200, description = "Signed in", body = PairResponse),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 422, description = "Fields missing", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
    )
)]
#[post("/auth/password")]
async fn password(
    limits: web::Data<RateLimits>,
    accounts: web::Data<AuthService>,
    audit: web::Data<AuditLog>,
    origin: Origin,
    req: HttpRequest,
    ip: ClientIp,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    limits.check_ip(ip.0)?;
    let f: PasswordParams = fields(&req, &body)?;
    let result = accounts.login(&f.u, &f.p, client_info(&req, &ip)).await;
    let event = origin
        .event("auth.login", OK)
        .detail(serde_json::json!({ "username": f.u.trim().to_lowercase() }));
    let session = audited(&audit, event, result, |s| {
        (s.user.id, s.user.username.clone())
    })
    .await?;
    Ok(pair(session))
}

/// The refresh's field (`rid`).
#[derive(Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct RefreshParams {
    /// The refresh token (never logged).
    #[param(value_type = String)]
    #[schema(value_type = String)]
    pub rid: SecretString,
}

/// Exchanges a refresh token (`?rid=`, or a form or JSON body) for a new pair. The old
/// one is spent; presenting it again ends the whole session.
#[utoipa::path(
    tag = TAG,
    params(RefreshParams),
    request_body(
        content = RefreshParams,
        content_type = "application/x-www-form-urlencoded",
        description = "The same field as a form or JSON object, when the query has none",
    ),
    responses(
        (status = 200, description = "A new pair", body = PairResponse),
        (status = 401, description = "Invalid, expired or reused refresh token", body = ErrorBody),
        (status = 422, description = "Field missing", body = ErrorBody),
    )
)]
#[post("/auth/refresh")]
async fn refresh(
    limits: web::Data<RateLimits>,
    accounts: web::Data<AuthService>,
    audit: web::Data<AuditLog>,
    origin: Origin,
    req: HttpRequest,
    ip: ClientIp,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    limits.check_ip(ip.0)?;
    let f: RefreshParams = fields(&req, &body)?;
    let result = accounts
        .refresh(f.rid.expose_secret(), client_info(&req, &ip))
        .await;
    let session = audited(&audit, origin.event("auth.refresh", OK), result, |s| {
        (s.user.id, s.user.username.clone())
    })
    .await?;
    Ok(pair(session))
}

/// Records the caller's uploads that arrived larger than they could be.
async fn noticed<A: crate::auth::Accepts>(
    bw: &Benchwrap,
    audit: &AuditLog,
    auth: &AuthUser<A>,
) -> Result<Actor, AppError> {
    let actor = Actor::of(auth);
    for (upload, size) in bw.notice(actor, None).await? {
        audit
            .record(refused_event(
                auth.event("upload.refused", DENIED),
                &upload,
                size,
            ))
            .await;
    }
    Ok(actor)
}

/// Notices the caller's uploads in the background (once at a time per user), so a
/// start does not wait for the store: the refusals are audited as they are found.
fn notice_later<A: crate::auth::Accepts>(bw: &Benchwrap, audit: &AuditLog, auth: &AuthUser<A>) {
    if !bw.notice_due(auth.user.id) {
        return;
    }
    let template = auth.event("upload.refused", DENIED);
    let audit = audit.clone();
    bw.notice_later(Actor::of(auth), move |refused| async move {
        for (upload, size) in refused {
            // A fresh id and time for each event; who, from where and how as the call.
            let event = crate::audit::AuditEvent {
                id: uuid::Uuid::now_v7(),
                at: chrono::Utc::now(),
                ..template.clone()
            };
            audit.record(refused_event(event, &upload, size)).await;
        }
    });
}

/// The audit event of an unsized upload deleted for holding more than it reserved.
pub fn refused_event(
    event: crate::audit::AuditEvent,
    upload: &Upload,
    size: u64,
) -> crate::audit::AuditEvent {
    event.target("upload", upload.id).detail(serde_json::json!({
        "user": upload.user_id,
        "size": size,
        "max": upload.declared_size,
    }))
}

/// The client's `object_name` (a relative path), and for uploads its benchmark.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ObjectParams {
    /// A relative path such as `flops_matrix_mul/job_4242/4242_batch_c0107.h5`, at most
    /// 256 characters, without `..`, `\\` or control characters.
    pub object_name: String,
    /// The benchmark the object belongs to (kept for job records).
    pub benchmark_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PresignedUpload {
    /// `<username>/<object_name>`.
    pub key: String,
    /// A presigned PUT that pins neither size nor type (sizes are checked on arrival).
    pub url: String,
    /// Seconds the URL lives, as a string.
    #[schema(example = "600")]
    pub expires_in: String,
    /// Headers to send with the PUT besides `Content-Type` and `Content-Length`: none.
    #[schema(value_type = Object)]
    pub headers: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct PresignedDownload {
    pub key: String,
    pub url: String,
    #[schema(example = "600")]
    pub expires_in: String,
}

fn seconds_until(t: chrono::DateTime<chrono::Utc>) -> String {
    (t - chrono::Utc::now()).num_seconds().max(0).to_string()
}

/// A presigned PUT for `object_name`: its folders are created, the most an upload may
/// hold (`COFFER_BENCHWRAP_MAX_UPLOAD_BYTES`) is reserved, and the real size counts once
/// the object has arrived (noticed on the caller's next call here, or by the worker).
/// A name that holds a file gets its content replaced on arrival.
#[utoipa::path(
    tag = TAG,
    params(ObjectParams),
    responses(
        (status = 200, description = "Presigned PUT", body = PresignedUpload),
        (status = 400, description = "No object_name", body = ErrorBody),
        (status = 422, description = "An unsafe object_name", body = ErrorBody),
        (status = 409, description = "A folder has that name", body = ErrorBody),
        (status = 413, description = "The quota cannot hold the most an upload may hold", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:write"]))
)]
#[post("/storage/presign/upload")]
async fn presign_upload(
    bw: web::Data<Benchwrap>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<FilesWrite>,
    query: web::Query<ObjectParams>,
) -> Result<HttpResponse, AppError> {
    notice_later(&bw, &audit, &auth);
    let actor = Actor::of(&auth);
    let (upload, put) = bw
        .presign_upload(actor, &query.object_name, query.benchmark_name.as_deref())
        .await?;
    let mut event = auth.event("presign.upload", OK).target("upload", upload.id);
    if let Some(benchmark) = query.benchmark_name.as_deref() {
        event = event.detail(serde_json::json!({ "benchmark": benchmark }));
    }
    audit.record(event).await;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(PresignedUpload {
            key: format!("{}/{}", auth.user.username, query.object_name),
            url: put.url,
            expires_in: seconds_until(put.expires_at),
            headers: serde_json::Map::new(),
        }))
}

/// A presigned GET of the stored object at `object_name`.
#[utoipa::path(
    tag = TAG,
    params(ObjectParams),
    responses(
        (status = 200, description = "Presigned GET", body = PresignedDownload),
        (status = 404, description = "No such object", body = ErrorBody),
        (status = 422, description = "An unsafe object_name", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("/storage/presign/download")]
async fn presign_download(
    bw: web::Data<Benchwrap>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<FilesRead>,
    query: web::Query<ObjectParams>,
) -> Result<HttpResponse, AppError> {
    notice_later(&bw, &audit, &auth);
    let actor = Actor::of(&auth);
    let (node, download) = bw.presign_download(actor, &query.object_name).await?;
    audit
        .record(auth.event("presign.download", OK).target("file", node.id))
        .await;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(PresignedDownload {
            key: format!("{}/{}", auth.user.username, query.object_name),
            url: download.url,
            expires_in: seconds_until(download.expires_at),
        }))
}

#[derive(Serialize, ToSchema)]
pub struct ListedObject {
    /// `<username>/<path>`.
    pub key: String,
    pub size: i64,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ListResponse {
    pub objects: Vec<ListedObject>,
}

/// Every stored object of the caller (uploads not yet arrived are not listed).
#[utoipa::path(
    tag = TAG,
    responses((status = 200, description = "The caller's objects", body = ListResponse)),
    security(("bearer" = []), ("api_token" = ["files:read"]))
)]
#[get("/storage/list")]
async fn list(
    bw: web::Data<Benchwrap>,
    audit: web::Data<AuditLog>,
    auth: AuthUser<FilesRead>,
) -> Result<HttpResponse, AppError> {
    let actor = noticed(&bw, &audit, &auth).await?;
    let objects = bw
        .list(actor)
        .await?
        .into_iter()
        .map(|o| ListedObject {
            key: format!("{}/{}", auth.user.username, o.path),
            size: o.size,
            last_modified: o.modified,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListResponse { objects }))
}
