//! Request and response types of `/api/v1/tokens` (and the admin's token list).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Scope, TokenInfo};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// What the token is for, to recognise it in the list.
    #[schema(example = "slurm jobs on cluster-a", min_length = 1, max_length = 100)]
    pub name: String,
    /// What the token may do.
    #[schema(min_items = 1, example = json!(["files:read", "files:write"]))]
    pub scopes: Vec<Scope>,
    /// When the token stops working: required, at most the `api_token_max_days` runtime
    /// setting (90 days unless an admin changed it) away.
    pub expires_at: DateTime<Utc>,
    /// Confines the token to this folder of yours: it sees and writes only the folder
    /// and what lies below it (everything else answers 404), and its root (`root`,
    /// or no `parent_id`) is that folder. The token dies with the folder.
    #[serde(default)]
    pub folder_id: Option<Uuid>,
    /// Most bytes the token's uploads and copies may reserve over its life; beyond it
    /// they answer 413 `TOKEN_BUDGET_EXCEEDED`. Aborted uploads give their bytes back;
    /// deleting files does not.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub budget_bytes: Option<i64>,
}

/// An API token as listed: never its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenResponse {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Written at most once a minute per token and replica.
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    /// The folder the token is confined to.
    pub folder_id: Option<Uuid>,
    /// The token's byte budget, if it has one.
    pub budget_bytes: Option<i64>,
    /// Bytes its uploads reserved so far.
    pub budget_used: i64,
    /// Expired tokens stay listed until the user's next token creation clears them.
    pub expired: bool,
}

impl From<TokenInfo> for ApiTokenResponse {
    fn from(t: TokenInfo) -> ApiTokenResponse {
        ApiTokenResponse {
            expired: t.expires_at <= Utc::now(),
            id: t.id,
            user_id: t.user_id,
            name: t.name,
            scopes: t.scopes,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            last_used_ip: t.last_used_ip,
            folder_id: t.folder_id,
            budget_bytes: t.budget_bytes,
            budget_used: t.budget_used,
        }
    }
}

/// A new token with its secret: shown this once, never again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedTokenResponse {
    /// The secret: `cft_` and 43 URL-safe characters (256 random bits). Send it as
    /// `Authorization: Bearer cft_…`.
    #[schema(example = "cft_3q2-7wAbCdEfGhIjKlMnOpQrStUvWxYz0123456789A")]
    pub token: String,
    #[serde(flatten)]
    pub info: ApiTokenResponse,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenList {
    /// Newest first.
    pub items: Vec<ApiTokenResponse>,
}

/// Every user's tokens, for admins.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminTokenList {
    /// Oldest first.
    pub items: Vec<ApiTokenResponse>,
    pub next_cursor: Option<Uuid>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminTokenQuery {
    /// Only this user's tokens.
    pub user_id: Option<Uuid>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}
