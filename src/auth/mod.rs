//! Accounts and tokens: register, login, refresh with rotation and reuse detection,
//! logout, logout-all, password change; API tokens and device login.

pub mod api_tokens;
pub mod cookies;
pub mod device;
pub mod dto;
pub mod external;
pub mod extractor;
pub mod password;
pub mod repo;
pub mod routes;
pub mod service;
pub mod tokens;

pub use crate::entity::users::Role;
pub use extractor::{
    Accepts, AnyToken, AuthUser, Credential, FilesRead, FilesWrite, JobsWrite, SharesWrite,
};
pub use service::AuthService;

/// Why an auth operation failed; knows nothing of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    #[error("weak password: {0}")]
    WeakPassword(String),
    #[error("username taken")]
    UsernameTaken,
    #[error("registration is closed")]
    RegistrationClosed,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account disabled")]
    AccountDisabled,
    #[error("missing or invalid access token")]
    InvalidAccessToken,
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error("refresh token expired")]
    RefreshTokenExpired,
    #[error("refresh token reused")]
    RefreshTokenReused { user: uuid::Uuid },
    #[error("API tokens are not accepted here")]
    TokenNotAccepted,
    /// A state-changing request authenticated by the session cookie without the
    /// [`extractor::CSRF_HEADER`] a page of this origin sends.
    #[error("a change authenticated by cookie came without the CSRF header")]
    CsrfHeaderMissing,
    #[error("the API token lacks the scope {}", .0.as_str())]
    TokenScope(api_tokens::Scope),
    #[error("invalid API token request: {0}")]
    InvalidTokenRequest(String),
    #[error("too many API tokens")]
    TooManyTokens,
    #[error("the identity provider is unavailable")]
    ProviderUnavailable,
    #[error("too many password hashes in flight")]
    Busy,
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<AuthError> for crate::error::AppError {
    fn from(e: AuthError) -> Self {
        use crate::error::AppError;
        use actix_web::http::StatusCode;
        match e {
            AuthError::InvalidUsername(d) => AppError::unprocessable("INVALID_USERNAME", d),
            AuthError::WeakPassword(d) => AppError::unprocessable("WEAK_PASSWORD", d),
            AuthError::UsernameTaken => {
                AppError::conflict("USERNAME_TAKEN", "That username is taken.")
            }
            AuthError::RegistrationClosed => AppError::forbidden(
                "REGISTRATION_CLOSED",
                "Self-registration is closed on this server.",
            ),
            AuthError::InvalidCredentials => {
                AppError::unauthorized("INVALID_CREDENTIALS", "Username or password is wrong.")
            }
            AuthError::AccountDisabled => {
                AppError::forbidden("ACCOUNT_DISABLED", "This account is disabled.")
            }
            AuthError::InvalidAccessToken => AppError::unauthorized(
                "INVALID_TOKEN",
                "A valid access token is required (Authorization: Bearer <token>).",
            ),
            AuthError::InvalidRefreshToken => {
                AppError::unauthorized("INVALID_REFRESH_TOKEN", "The refresh token is not valid.")
            }
            AuthError::RefreshTokenExpired => AppError::unauthorized(
                "REFRESH_TOKEN_EXPIRED",
                "The refresh token has expired; log in again.",
            ),
            AuthError::RefreshTokenReused { .. } => AppError::unauthorized(
                "REFRESH_TOKEN_REUSED",
                "The refresh token was already used; the session has been revoked. Log in again.",
            ),
            AuthError::CsrfHeaderMissing => AppError::forbidden(
                "CSRF_HEADER_REQUIRED",
                "A request signed in by cookie that changes something must carry the \
                 X-Coffer-CSRF header.",
            ),
            AuthError::TokenNotAccepted => AppError::forbidden(
                "TOKEN_SCOPE",
                "API tokens cannot be used here; sign in with a password.",
            ),
            AuthError::TokenScope(scope) => AppError::forbidden(
                "TOKEN_SCOPE",
                format!("This API token lacks the scope `{}`.", scope.as_str()),
            ),
            AuthError::InvalidTokenRequest(d) => AppError::unprocessable("INVALID_REQUEST", d),
            AuthError::TooManyTokens => AppError::unprocessable(
                "TOO_MANY_TOKENS",
                format!(
                    "At most {} unexpired API tokens per user; revoke one first.",
                    api_tokens::MAX_TOKENS_PER_USER
                ),
            ),
            AuthError::ProviderUnavailable => AppError::retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "IDENTITY_PROVIDER_UNAVAILABLE",
                "The identity service that checks this account is not answering; retry later. \
                 Local accounts still sign in.",
                30,
            ),
            AuthError::Busy => AppError::retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "AUTH_BUSY",
                "Too many logins in progress; retry shortly.",
                1,
            ),
            AuthError::Db(e) => e.into(),
            AuthError::Internal(e) => AppError::Internal(e.into()),
        }
    }
}
