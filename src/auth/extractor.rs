//! `AuthUser`: the extractor every authenticated handler takes. Its type parameter says
//! which credentials the endpoint accepts: a session only (the default, so an endpoint
//! accepts API tokens only where its handler says so), any API token, or an API token
//! with one scope.

use std::marker::PhantomData;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::api_tokens::{Scope, TokenGrant, TOKEN_PREFIX};
use super::cookies;
use super::repo::User;
use super::tokens::AccessClaims;
use super::{AuthError, AuthService};
use crate::audit::AuditEvent;
use crate::error::AppError;
use crate::http::context::{Origin, RenewedAccess};
use crate::http::ratelimit::RateLimits;

/// Which API tokens an endpoint accepts besides sessions.
pub enum TokenRule {
    /// None: sessions only (token management, password change, admin).
    Never,
    /// Any token, whatever its scopes (who am I).
    Any,
    /// Tokens holding this scope.
    Scope(Scope),
}

/// The credentials an endpoint accepts: the type parameter of [`AuthUser`].
pub trait Accepts {
    const TOKENS: TokenRule;
}

macro_rules! accepts {
    ($($(#[$meta:meta])* $name:ident => $rule:expr;)+) => {$(
        $(#[$meta])*
        pub struct $name;
        impl Accepts for $name {
            const TOKENS: TokenRule = $rule;
        }
    )+};
}

accepts! {
    /// A session (access token or cookie) only.
    SessionOnly => TokenRule::Never;
    /// A session or any API token.
    AnyToken => TokenRule::Any;
    /// A session or an API token with `files:read`.
    FilesRead => TokenRule::Scope(Scope::FilesRead);
    /// A session or an API token with `files:write`.
    FilesWrite => TokenRule::Scope(Scope::FilesWrite);
    /// A session or an API token with `shares:write`.
    SharesWrite => TokenRule::Scope(Scope::SharesWrite);
    /// A session or an API token with `jobs:write`.
    JobsWrite => TokenRule::Scope(Scope::JobsWrite);
}

/// What the caller authenticated with.
pub enum Credential {
    /// A signed-in session.
    Session(Arc<AccessClaims>),
    /// An API token.
    Token(Arc<TokenGrant>),
}

/// The authenticated caller: credential checked, user loaded and enabled, rate limit
/// applied, and the credential accepted by the endpoint (`A`).
pub struct AuthUser<A: Accepts = SessionOnly> {
    pub user: Arc<User>,
    pub credential: Credential,
    /// Where the request came from, for audit events.
    pub origin: Origin,
    accepts: PhantomData<A>,
}

impl<A: Accepts> AuthUser<A> {
    /// An audit event by this user, stamped with the request's origin and, for an API
    /// token, the token it used.
    pub fn event(&self, action: &'static str, outcome: &'static str) -> AuditEvent {
        let mut event = self
            .origin
            .event(action, outcome)
            .actor(self.user.id, &self.user.username);
        if let Credential::Token(grant) = &self.credential {
            event.via = Some(grant.via.clone());
        }
        event
    }

    /// The session's claims; `None` for an API token.
    pub fn session(&self) -> Option<&AccessClaims> {
        match &self.credential {
            Credential::Session(claims) => Some(claims),
            Credential::Token(_) => None,
        }
    }
}

/// The header a page of Coffer's own origin sends with every state-changing request
/// authenticated by the session cookie (any value).
pub const CSRF_HEADER: &str = "x-coffer-csrf";

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether an endpoint with rule `rule` serves a request made with `grant`.
fn admits(rule: &TokenRule, grant: &TokenGrant) -> Result<(), AuthError> {
    match rule {
        TokenRule::Never => Err(AuthError::TokenNotAccepted),
        TokenRule::Any => Ok(()),
        TokenRule::Scope(scope) if grant.allows(*scope) => Ok(()),
        TokenRule::Scope(scope) => Err(AuthError::TokenScope(*scope)),
    }
}

impl<A: Accepts + 'static> FromRequest for AuthUser<A> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<AuthUser<A>, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (Some(auth), Some(limits)) = (
                req.app_data::<web::Data<AuthService>>(),
                req.app_data::<web::Data<RateLimits>>(),
            ) else {
                return Err(AppError::Internal("auth service missing".into()));
            };
            let origin = Origin::of(&req);
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
            if from_cookie && !req.method().is_safe() && !req.headers().contains_key(CSRF_HEADER) {
                // Another site cannot set a custom header without a CORS preflight, which
                // this origin does not grant it (SameSite=Strict already keeps the cookie
                // off its requests; this holds in browsers that ignore SameSite too).
                return Err(AuthError::CsrfHeaderMissing.into());
            }
            let (user, credential) = if !from_cookie && token.starts_with(TOKEN_PREFIX) {
                let (user, grant) = match auth.authenticate_api_token(token, origin.ip).await {
                    // Each unknown token costs a database read: like failed logins,
                    // they count against the client IP's credential limit.
                    Err(AuthError::InvalidAccessToken) => {
                        if let Some(ip) = origin.ip {
                            limits.check_ip(ip)?;
                        }
                        return Err(AuthError::InvalidAccessToken.into());
                    }
                    other => other?,
                };
                admits(&A::TOKENS, &grant)?;
                (user, Credential::Token(grant))
            } else {
                let (user, claims) = auth.authenticate(token).await?;
                if from_cookie && auth.cookie_due(claims.exp) {
                    let (fresh, exp) = auth.reissue_access(&claims)?;
                    let max_age = exp - chrono::Utc::now().timestamp();
                    req.extensions_mut()
                        .insert(RenewedAccess(cookies::access(fresh, max_age)));
                }
                (user, Credential::Session(claims))
            };
            tracing::Span::current().record("user_id", tracing::field::display(user.id));
            limits.check_user(user.id)?;
            Ok(AuthUser {
                user,
                credential,
                origin,
                accepts: PhantomData,
            })
        })
    }
}
