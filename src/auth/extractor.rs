//! `AuthUser`: the extractor every authenticated handler takes.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::cookies;
use super::repo::User;
use super::tokens::AccessClaims;
use super::{AuthError, AuthService};
use crate::audit::AuditEvent;
use crate::error::AppError;
use crate::http::context::{Origin, RenewedAccess};
use crate::http::ratelimit::RateLimits;

/// The authenticated caller: token checked, user loaded and enabled, rate limit applied.
pub struct AuthUser {
    pub user: Arc<User>,
    pub claims: Arc<AccessClaims>,
    /// Where the request came from, for audit events.
    pub origin: Origin,
}

impl AuthUser {
    /// An audit event by this user, stamped with the request's origin.
    pub fn event(&self, action: &'static str, outcome: &'static str) -> AuditEvent {
        self.origin
            .event(action, outcome)
            .actor(self.user.id, &self.user.username)
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<AuthUser, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (Some(auth), Some(limits)) = (
                req.app_data::<web::Data<AuthService>>(),
                req.app_data::<web::Data<RateLimits>>(),
            ) else {
                return Err(AppError::Internal("auth service missing".into()));
            };
            let cookie;
            let (token, from_cookie) = match bearer(&req) {
                Some(t) => (t, false),
                None => match req.cookie(cookies::ACCESS_COOKIE) {
                    Some(c) => {
                        cookie = c;
                        (cookie.value(), true)
                    }
                    None => return Err(AuthError::InvalidAccessToken.into()),
                },
            };
            let (user, claims) = auth.authenticate(token).await?;
            tracing::Span::current().record("user_id", tracing::field::display(user.id));
            limits.check_user(user.id)?;
            if from_cookie && auth.cookie_due(claims.exp) {
                let (fresh, exp) = auth.reissue_access(&claims)?;
                let max_age = exp - chrono::Utc::now().timestamp();
                req.extensions_mut()
                    .insert(RenewedAccess(cookies::access(fresh, max_age)));
            }
            Ok(AuthUser {
                user,
                claims,
                origin: Origin::of(&req),
            })
        })
    }
}
