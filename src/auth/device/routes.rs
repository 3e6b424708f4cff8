//! HTTP handlers of `/api/v1/auth/device`: the device's start and polls (public), and
//! the signed-in user's look at a request and decision (sessions only).

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;

use super::dto::{
    DeviceRequestView, DeviceStartRequest, DeviceStartResponse, DeviceTokenError,
    DeviceTokenRequest,
};
use super::{DeviceError, DeviceLogins, Poll};
use crate::audit::{AuditLog, OK};
use crate::auth::dto::TokenResponse;
use crate::auth::routes::{audited, client_info, session_response};
use crate::auth::{AuthService, AuthUser};
use crate::error::{AppError, ErrorBody};
use crate::http::context::{ClientIp, Origin};
use crate::http::middleware::RequestConfig;
use crate::http::ratelimit::RateLimits;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(start)
        .service(token)
        .service(show)
        .service(approve)
        .service(deny);
}

impl From<DeviceError> for AppError {
    fn from(e: DeviceError) -> AppError {
        match e {
            DeviceError::Disabled => AppError::forbidden(
                "DEVICE_LOGIN_DISABLED",
                "Device login is turned off on this server; sign in with a password.",
            ),
            DeviceError::Invalid(d) => AppError::unprocessable("INVALID_REQUEST", d),
            DeviceError::UnknownCode => AppError::not_found(),
            DeviceError::Decided => AppError::conflict(
                "DEVICE_CODE_DECIDED",
                "This request was already approved or denied.",
            ),
            DeviceError::Db(e) => e.into(),
        }
    }
}

/// Start a device login (RFC 8628 §3.1): show `user_code` and `verification_uri` to the
/// user, then poll `/auth/device/token` every `interval` seconds.
#[utoipa::path(
    tag = "auth",
    request_body = DeviceStartRequest,
    responses(
        (status = 200, description = "Codes issued", body = DeviceStartResponse),
        (status = 403, description = "Device login is turned off (`DEVICE_LOGIN_DISABLED`)", body = ErrorBody),
        (status = 422, description = "Bad client name or host", body = ErrorBody),
        (status = 429, description = "Too many requests from this address", body = ErrorBody),
    )
)]
#[post("/device")]
async fn start(
    req: HttpRequest,
    devices: web::Data<DeviceLogins>,
    limits: web::Data<RateLimits>,
    audit: web::Data<AuditLog>,
    request: web::Data<RequestConfig>,
    ip: ClientIp,
    body: web::Json<DeviceStartRequest>,
) -> Result<HttpResponse, AppError> {
    limits.check_ip(ip.0)?;
    let origin = Origin::of(&req);
    let started = devices
        .start(&body.client_name, &body.host, Some(ip.0.to_string()))
        .await?;
    audit
        .record(
            origin
                .event("device.request", OK)
                .target("device", started.id)
                .detail(json!({"client_name": body.client_name.trim(), "host": body.host.trim()})),
        )
        .await;
    let base = crate::http::client_ip::public_origin(&req, &request.trusted_proxies);
    let verification_uri = format!("{base}/device");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(DeviceStartResponse {
            verification_uri_complete: format!("{verification_uri}?code={}", started.user_code),
            verification_uri,
            device_code: started.device_code,
            user_code: started.user_code,
            expires_in: started.expires_in,
            interval: started.interval,
        }))
}

fn poll_error(error: &str, description: &str, interval: Option<i32>) -> HttpResponse {
    HttpResponse::BadRequest()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(DeviceTokenError {
            error: error.to_owned(),
            error_description: description.to_owned(),
            error_code: error.to_ascii_uppercase(),
            detail: description.to_owned(),
            interval,
        })
}

/// Poll for the device's tokens (RFC 8628 §3.4): `400` with the RFC's `error` until the
/// user decides, then the usual token pair, once.
#[utoipa::path(
    tag = "auth",
    request_body = DeviceTokenRequest,
    responses(
        (status = 200, description = "Approved: a new session", body = TokenResponse),
        (status = 400, description = "`authorization_pending`, `slow_down` (the interval grows by 5 s), `access_denied`, `expired_token` or `invalid_grant` (unknown or already used)", body = DeviceTokenError),
        (status = 403, description = "Device login is turned off (`DEVICE_LOGIN_DISABLED`)", body = ErrorBody),
    )
)]
#[post("/device/token")]
async fn token(
    req: HttpRequest,
    devices: web::Data<DeviceLogins>,
    accounts: web::Data<AuthService>,
    limits: web::Data<RateLimits>,
    audit: web::Data<AuditLog>,
    ip: ClientIp,
    body: web::Json<DeviceTokenRequest>,
) -> Result<HttpResponse, AppError> {
    let origin = Origin::of(&req);
    let grant = "urn:ietf:params:oauth:grant-type:device_code";
    if body.grant_type.as_deref().is_some_and(|g| g != grant) {
        return Ok(poll_error(
            "unsupported_grant_type",
            "grant_type must be urn:ietf:params:oauth:grant-type:device_code.",
            None,
        ));
    }
    let (id, user) = match devices.poll(&body.device_code).await? {
        Poll::Approved { id, user } => (id, user),
        Poll::Pending => {
            return Ok(poll_error(
                "authorization_pending",
                "The user has not approved this device yet; poll again after the interval.",
                None,
            ))
        }
        Poll::SlowDown => {
            return Ok(poll_error(
                "slow_down",
                "Polling faster than the interval: wait 5 seconds longer from now on.",
                None,
            ))
        }
        Poll::Denied => {
            return Ok(poll_error(
                "access_denied",
                "The user denied this device.",
                None,
            ))
        }
        Poll::Expired => {
            return Ok(poll_error(
                "expired_token",
                "The device code expired; start again.",
                None,
            ))
        }
        Poll::Invalid => {
            // Each unknown device code costs a database read: counted like a failed login.
            limits.check_ip(ip.0)?;
            return Ok(poll_error(
                "invalid_grant",
                "Unknown or already used device code.",
                None,
            ));
        }
    };
    let result = accounts.session_for(user, client_info(&req, &ip)).await;
    let event = origin.event("device.redeem", OK).target("device", id);
    let session = audited(&audit, event, result, |s| {
        (s.user.id, s.user.username.clone())
    })
    .await?;
    Ok(session_response(session, false))
}

/// What is asking to sign in with this user code: client name, host, address and time.
/// Looking never approves. Lookups are limited per user and per address.
#[utoipa::path(
    tag = "auth",
    params(("user_code" = String, Path, description = "`XXXX-XXXX`, any case, dash optional")),
    responses(
        (status = 200, description = "The request", body = DeviceRequestView),
        (status = 404, description = "No such code, or it expired", body = ErrorBody),
        (status = 429, description = "Too many codes tried", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/device/{user_code}")]
async fn show(
    devices: web::Data<DeviceLogins>,
    limits: web::Data<RateLimits>,
    auth: AuthUser,
    ip: ClientIp,
    code: web::Path<String>,
) -> Result<web::Json<DeviceRequestView>, AppError> {
    limits.check_device_code(auth.user.id, ip.0)?;
    Ok(web::Json(devices.show(&code).await?.into()))
}

async fn decide(
    devices: &DeviceLogins,
    limits: &RateLimits,
    audit: &AuditLog,
    auth: &AuthUser,
    ip: &ClientIp,
    code: &str,
    approving: bool,
) -> Result<web::Json<DeviceRequestView>, AppError> {
    limits.check_device_code(auth.user.id, ip.0)?;
    let request = devices.decide(auth.user.id, code, approving).await?;
    let action = match approving {
        true => "device.approve",
        false => "device.deny",
    };
    audit
        .record(
            auth.event(action, OK)
                .target("device", request.id)
                .detail(json!({"client_name": request.client_name, "host": request.client_host})),
        )
        .await;
    Ok(web::Json(request.into()))
}

/// Approve: the device's next poll gets a session of yours.
#[utoipa::path(
    tag = "auth",
    params(("user_code" = String, Path)),
    responses(
        (status = 200, description = "Approved", body = DeviceRequestView),
        (status = 404, description = "No such code, or it expired", body = ErrorBody),
        (status = 409, description = "Already approved or denied", body = ErrorBody),
        (status = 429, description = "Too many codes tried", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/device/{user_code}/approve")]
async fn approve(
    devices: web::Data<DeviceLogins>,
    limits: web::Data<RateLimits>,
    audit: web::Data<AuditLog>,
    auth: AuthUser,
    ip: ClientIp,
    code: web::Path<String>,
) -> Result<web::Json<DeviceRequestView>, AppError> {
    decide(&devices, &limits, &audit, &auth, &ip, &code, true).await
}

/// Deny: the device's next poll gets `access_denied`.
#[utoipa::path(
    tag = "auth",
    params(("user_code" = String, Path)),
    responses(
        (status = 200, description = "Denied", body = DeviceRequestView),
        (status = 404, description = "No such code, or it expired", body = ErrorBody),
        (status = 409, description = "Already approved or denied", body = ErrorBody),
        (status = 429, description = "Too many codes tried", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/device/{user_code}/deny")]
async fn deny(
    devices: web::Data<DeviceLogins>,
    limits: web::Data<RateLimits>,
    audit: web::Data<AuditLog>,
    auth: AuthUser,
    ip: ClientIp,
    code: web::Path<String>,
) -> Result<web::Json<DeviceRequestView>, AppError> {
    decide(&devices, &limits, &audit, &auth, &ip, &code, false).await
}
