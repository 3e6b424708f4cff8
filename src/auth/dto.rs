//! Request and response types of the auth API.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::repo::User;
use crate::entity::users::Role;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–64 characters of `a-z 0-9 . _ -`; compared case-insensitively.
    #[schema(example = "alice", min_length = 3, max_length = 64)]
    pub username: String,
    /// 8–1024 characters, not one of the most common passwords.
    #[schema(value_type = String, format = Password, example = "correct horse battery staple", min_length = 8, max_length = 1024)]
    pub password: SecretString,
    #[schema(example = "alice@example.org")]
    pub email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "alice", min_length = 1)]
    pub username: String,
    #[schema(value_type = String, format = Password, example = "correct horse battery staple", min_length = 1)]
    pub password: SecretString,
    /// Browsers: set the tokens as HttpOnly, Secure, SameSite=Strict cookies instead of
    /// returning them in the body.
    #[serde(default)]
    pub cookie: bool,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token; in cookie mode it comes from the `coffer_refresh` cookie.
    #[schema(value_type = Option<String>)]
    pub refresh_token: Option<SecretString>,
    /// Answer with cookies instead of tokens in the body.
    #[serde(default)]
    pub cookie: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(value_type = String, format = Password, min_length = 1)]
    pub current_password: SecretString,
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 1024)]
    pub new_password: SecretString,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    #[schema(example = "alice")]
    pub username: String,
    pub email: Option<String>,
    /// `admin` or `user`.
    #[schema(example = "user")]
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
}

impl From<&User> for UserResponse {
    fn from(u: &User) -> UserResponse {
        UserResponse {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            role: u.role,
            created_at: u.created_at,
            last_login: u.last_login,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// `Bearer`, or `cookie` when the tokens were set as cookies.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// The access token (absent in cookie mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Seconds until the access token expires.
    #[schema(example = 300)]
    pub expires_in: i64,
    /// The refresh token (absent in cookie mode). Single use: every refresh returns a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the refresh token expires unless used.
    pub refresh_expires_in: i64,
    pub user: UserResponse,
}

/// What a sign-in page may offer (no authentication needed).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuthOptions {
    /// Whether `POST /auth/register` accepts new accounts.
    pub registration_open: bool,
    /// Whether command-line clients may sign in with device login.
    pub device_login_enabled: bool,
}
