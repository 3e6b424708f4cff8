//! `AuthUser`: the extractor every authenticated handler takes.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::cookies::{self, RenewedAccess};
use super::repo::User;
use super::tokens::AccessClaims;
use super::AuthError;
use crate::audit::AuditEvent;
use crate::error::AppError;
use crate::http::context::Origin;
use crate::state::AppState;

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
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| AppError::Internal("AppState missing".into()))?;
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
            let (user, claims) = state.auth.authenticate(token).await?;
            tracing::Span::current().record("user_id", tracing::field::display(user.id));
            state.limits.check_user(user.id)?;
            let left = claims.exp - chrono::Utc::now().timestamp();
            if from_cookie && left < state.settings.cookie_refresh_before.as_secs() as i64 {
                let (fresh, exp) = state.auth.reissue_access(&claims)?;
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
