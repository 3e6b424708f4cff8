//! HTTP handlers of `/api/v1/auth`: extract, call the service, map to a DTO.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse, HttpResponseBuilder};
use secrecy::SecretString;
use utoipa_actix_web::service_config::ServiceConfig;

use super::dto::{
    AuthOptions, ChangePasswordRequest, LoginRequest, RefreshRequest, RegisterRequest,
    TokenResponse, UserResponse,
};
use super::service::{AuthService, ClientInfo, Session};
use super::{cookies, AnyToken, AuthError, AuthUser};
use crate::audit::{AuditEvent, AuditLog, DENIED, FAILED, OK};
use crate::error::{AppError, ErrorBody};
use crate::http::context::{ClientIp, Origin};
use crate::http::ratelimit::RateLimits;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(options)
        .service(register)
        .service(login)
        .service(refresh)
        .service(logout)
        .service(logout_all)
        .service(me)
        .service(change_password);
}

pub(crate) fn client_info(req: &HttpRequest, ip: &ClientIp) -> ClientInfo {
    ClientInfo {
        ip: Some(ip.0.to_string()),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// Records the outcome of an auth call; failures keep the error code, never a secret.
pub(crate) async fn audited<T>(
    audit: &AuditLog,
    event: AuditEvent,
    result: Result<T, AuthError>,
    actor: impl Fn(&T) -> (uuid::Uuid, String),
) -> Result<T, AppError> {
    match result {
        Ok(v) => {
            let (id, name) = actor(&v);
            audit.record(event.actor(id, &name)).await;
            Ok(v)
        }
        Err(e) => {
            let mut event = event;
            if let AuthError::RefreshTokenReused { user } = &e {
                event.action = "auth.refresh_reuse_detected";
                event.actor_id = Some(*user);
            }
            let e = AppError::from(e);
            event.outcome = if actix_web::ResponseError::status_code(&e).is_server_error() {
                FAILED
            } else {
                DENIED
            };
            let mut detail = event
                .detail
                .take()
                .map_or_else(|| serde_json::json!({}), |d| *d);
            detail["error_code"] = e.code().into();
            audit.record(event.detail(detail)).await;
            Err(e)
        }
    }
}

pub(crate) fn session_response(session: Session, cookie: bool) -> HttpResponse {
    let now = chrono::Utc::now().timestamp();
    let expires_in = session.access_expires_at - now;
    let refresh_expires_in = session.refresh_expires_at.timestamp() - now;
    let user = UserResponse::from(&session.user);
    let mut res = HttpResponse::Ok();
    no_store(&mut res);
    if cookie {
        res.cookie(cookies::access(session.access_token, expires_in));
        res.cookie(cookies::refresh(session.refresh_token, refresh_expires_in));
        return res.json(TokenResponse {
            token_type: "cookie".into(),
            access_token: None,
            expires_in,
            refresh_token: None,
            refresh_expires_in,
            user,
        });
    }
    res.json(TokenResponse {
        token_type: "Bearer".into(),
        access_token: Some(session.access_token),
        expires_in,
        refresh_token: Some(session.refresh_token),
        refresh_expires_in,
        user,
    })
}

fn no_store(res: &mut HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, "no-store"));
}

/// Create an account.
/// What a sign-in page may offer: whether self-registration is open and device login
/// on (the web interface shows "Create an account" only while registration is open).
#[utoipa::path(
    tag = "auth",
    responses((status = 200, description = "The options in force", body = AuthOptions))
)]
#[get("/options")]
async fn options(accounts: web::Data<AuthService>) -> Result<web::Json<AuthOptions>, AppError> {
    let (registration_open, device_login_enabled) = accounts.options().await?;
    Ok(web::Json(AuthOptions {
        registration_open,
        device_login_enabled,
    }))
}

#[utoipa::path(
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = UserResponse),
        (status = 403, description = "Self-registration is closed", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid username or weak password", body = ErrorBody),
    )
)]
#[post("/register")]
async fn register(
    limits: web::Data<RateLimits>,
    accounts: web::Data<AuthService>,
    audit: web::Data<AuditLog>,
    origin: Origin,
    ip: ClientIp,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, AppError> {
    limits.check_ip(ip.0)?;
    let body = body.into_inner();
    if let Some(email) = body.email.as_deref() {
        if email.len() > 320 || !email.contains('@') || email.chars().any(char::is_whitespace) {
            return Err(AppError::unprocessable(
                "INVALID_EMAIL",
                "The email address is not valid.",
            ));
        }
    }
    let result = accounts
        .register(&body.username, &body.password, body.email.as_deref())
        .await;
    let event = origin
        .event("auth.register", OK)
        .detail(serde_json::json!({ "username": body.username.trim().to_lowercase() }));
    let user = audited(&audit, event, result, |u| (u.id, u.username.clone())).await?;
    Ok(HttpResponse::Created().json(UserResponse::from(&user)))
}

/// Log in with username and password; returns an access token and a refresh token.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 422, description = "A body of the wrong shape", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 503, description = "The identity provider that checks this (non-local) account is not answering (`IDENTITY_PROVIDER_UNAVAILABLE`)", body = ErrorBody),
    )
)]
#[post("/login")]
async fn login(
    limits: web::Data<RateLimits>,
    accounts: web::Data<AuthService>,
    audit: web::Data<AuditLog>,
    origin: Origin,
    req: HttpRequest,
    ip: ClientIp,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    limits.check_ip(ip.0)?;
    let body = body.into_inner();
    let result = accounts
        .login(&body.username, &body.password, client_info(&req, &ip))
        .await;
    let event = origin
        .event("auth.login", OK)
        .detail(serde_json::json!({ "username": body.username.trim().to_lowercase() }));
    let session = audited(&audit, event, result, |s| {
        (s.user.id, s.user.username.clone())
    })
    .await?;
    tracing::Span::current().record("user_id", tracing::field::display(session.user.id));
    Ok(session_response(session, body.cookie))
}

/// Exchange a refresh token for a new pair. Each refresh token works once; presenting
/// a used one revokes the whole session.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = TokenResponse),
        (status = 401, description = "Invalid, expired or reused refresh token", body = ErrorBody),
        (status = 422, description = "A body of the wrong shape", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
    )
)]
#[post("/refresh")]
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
    // The body is optional: in cookie mode the token comes from the cookie.
    let body: RefreshRequest = crate::error::optional_json(&body)?;
    let (token, cookie) = match body.refresh_token {
        Some(t) => (t, body.cookie),
        None => match req.cookie(cookies::REFRESH_COOKIE) {
            Some(c) => (SecretString::from(c.value().to_owned()), true),
            None => return Err(AuthError::InvalidRefreshToken.into()),
        },
    };
    use secrecy::ExposeSecret as _;
    let result = accounts
        .refresh(token.expose_secret(), client_info(&req, &ip))
        .await;
    let event = origin.event("auth.refresh", OK);
    let session = audited(&audit, event, result, |s| {
        (s.user.id, s.user.username.clone())
    })
    .await?;
    tracing::Span::current().record("user_id", tracing::field::display(session.user.id));
    Ok(session_response(session, cookie))
}

fn signed_out() -> HttpResponse {
    let mut res = HttpResponse::NoContent();
    for c in cookies::cleared() {
        res.cookie(c);
    }
    res.finish()
}

/// End this session: its refresh tokens stop working (its access token lives out its
/// few minutes; use logout-all to end those at once).
#[utoipa::path(
    tag = "auth",
    responses((status = 204, description = "Session ended")),
    security(("bearer" = []))
)]
#[post("/logout")]
async fn logout(
    accounts: web::Data<AuthService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser,
) -> Result<HttpResponse, AppError> {
    // A session-only endpoint: an API token never gets here.
    let session = auth.session().ok_or(AuthError::TokenNotAccepted)?.sid;
    accounts.logout(&auth.user, session).await?;
    audit.record(auth.event("auth.logout", OK)).await;
    Ok(signed_out())
}

/// End every session of the caller: every access and refresh token issued so far fails.
#[utoipa::path(
    tag = "auth",
    path = "/logout-all",
    responses((status = 204, description = "Every session ended")),
    security(("bearer" = []))
)]
#[post("/logout-all")]
async fn logout_all(
    accounts: web::Data<AuthService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser,
) -> Result<HttpResponse, AppError> {
    accounts.logout_all(&auth.user).await?;
    audit.record(auth.event("auth.logout_all", OK)).await;
    Ok(signed_out())
}

/// The caller's account.
#[utoipa::path(
    tag = "auth",
    responses((status = 200, description = "The caller", body = UserResponse)),
    security(("bearer" = []), ("api_token" = []))
)]
#[get("/me")]
async fn me(auth: AuthUser<AnyToken>) -> web::Json<UserResponse> {
    web::Json(UserResponse::from(auth.user.as_ref()))
}

/// Change the password; every session (including this one) ends.
#[utoipa::path(
    tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed; log in again"),
        (status = 401, description = "Current password wrong", body = ErrorBody),
        (status = 422, description = "New password too weak", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/password")]
async fn change_password(
    accounts: web::Data<AuthService>,
    audit: web::Data<AuditLog>,
    auth: AuthUser,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, AppError> {
    let result = accounts
        .change_password(&auth.user, &body.current_password, &body.new_password)
        .await;
    let event = auth.event("auth.password_change", OK);
    audited(&audit, event, result, |_| {
        (auth.user.id, auth.user.username.clone())
    })
    .await?;
    Ok(signed_out())
}
