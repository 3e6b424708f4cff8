//! Request and response types of `/api/v1/auth/device`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::entity::device_codes::DeviceState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceStartRequest {
    /// What is asking, shown to the approving user.
    #[schema(example = "coffer 0.1", min_length = 1, max_length = 100)]
    pub client_name: String,
    /// The machine it runs on, shown to the approving user.
    #[schema(example = "login01.cluster-a", min_length = 1, max_length = 255)]
    pub host: String,
}

/// RFC 8628 §3.2's device authorization response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceStartResponse {
    /// The device's secret: poll with it. Single use.
    pub device_code: String,
    /// What the user types at `verification_uri`: `XXXX-XXXX`.
    #[schema(example = "BDFG-HJKL")]
    pub user_code: String,
    #[schema(example = "http://127.0.0.1:8080/device")]
    pub verification_uri: String,
    /// The same page with the code filled in (it still asks before approving).
    #[schema(example = "http://127.0.0.1:8080/device?code=BDFG-HJKL")]
    pub verification_uri_complete: String,
    /// Seconds until both codes expire (600).
    pub expires_in: i64,
    /// Seconds to wait between polls (5).
    pub interval: i32,
}

#[derive(Deserialize, ToSchema)]
pub struct DeviceTokenRequest {
    pub device_code: String,
    /// `urn:ietf:params:oauth:grant-type:device_code`, if given.
    #[serde(default)]
    pub grant_type: Option<String>,
}

/// A refused poll: RFC 6749 §5.2's `error` (`authorization_pending`, `slow_down`,
/// `access_denied`, `expired_token`, `invalid_grant`) beside Coffer's usual fields.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceTokenError {
    #[schema(example = "authorization_pending")]
    pub error: String,
    pub error_description: String,
    /// The same, upper-cased (`AUTHORIZATION_PENDING`).
    pub error_code: String,
    pub detail: String,
    /// The interval to keep from now on (after `slow_down`, 5 s longer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<i32>,
}

/// A device login as the approving user sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceRequestView {
    pub id: Uuid,
    pub client_name: String,
    pub client_host: String,
    /// The address the request came from.
    pub client_ip: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: DeviceState,
}

impl From<super::Request> for DeviceRequestView {
    fn from(r: super::Request) -> DeviceRequestView {
        DeviceRequestView {
            id: r.id,
            client_name: r.client_name,
            client_host: r.client_host,
            client_ip: r.client_ip,
            requested_at: r.created_at,
            expires_at: r.expires_at,
            state: r.state,
        }
    }
}
