//! Request and response types of the sharing API and the public link endpoints.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::repo::Link;
use super::service::{ShareView, SharedItem};
use crate::entity::shares::Permission;
use crate::files::dto::FileResponse;
use crate::files::repo::{Entry, FileKind, FileState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShareRequest {
    /// The user to share with.
    #[schema(example = "bob")]
    pub username: String,
    /// `read` (list, download) or `write` (also upload, rename, move and delete inside;
    /// folders only).
    #[schema(value_type = Permission, example = "read")]
    pub permission: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ShareResponse {
    pub id: Uuid,
    /// The shared file or folder (for an inherited share: the folder above).
    pub file_id: Uuid,
    #[schema(example = "bob")]
    pub username: String,
    pub permission: Permission,
    /// True when the share is on a folder above this item.
    pub inherited: bool,
    pub created_at: DateTime<Utc>,
}

impl From<ShareView> for ShareResponse {
    fn from(v: ShareView) -> ShareResponse {
        ShareResponse {
            id: v.share.id,
            file_id: v.share.file_id,
            username: v.grantee,
            permission: v.share.permission,
            inherited: v.inherited,
            created_at: v.share.created_at,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ShareList {
    pub items: Vec<ShareResponse>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct SharedWithMeItem {
    pub share_id: Uuid,
    /// Who shared it.
    #[schema(example = "alice")]
    pub owner: String,
    pub permission: Permission,
    pub shared_at: DateTime<Utc>,
    pub file: FileResponse,
}

impl From<SharedItem> for SharedWithMeItem {
    fn from(i: SharedItem) -> SharedWithMeItem {
        SharedWithMeItem {
            share_id: i.share.id,
            owner: i.owner,
            permission: i.share.permission,
            shared_at: i.share.created_at,
            file: i.node.into(),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct SharedWithMeList {
    pub items: Vec<SharedWithMeItem>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateLinkRequest {
    /// When the link stops working; omitted or null: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// A password every redemption must give (8–1024 characters).
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
    /// How many downloads the link allows; omitted or null: unlimited.
    #[schema(example = 5)]
    pub max_downloads: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct LinkResponse {
    pub id: Uuid,
    pub file_id: Uuid,
    /// `active`, `expired`, `exhausted` or `revoked`.
    #[schema(example = "active")]
    pub state: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub password_protected: bool,
    pub max_downloads: Option<i64>,
    pub download_count: i64,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Link> for LinkResponse {
    fn from(l: Link) -> LinkResponse {
        let now = Utc::now();
        let state = if l.revoked_at.is_some() {
            "revoked"
        } else if l.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else if l.max_downloads.is_some_and(|m| l.download_count >= m) {
            "exhausted"
        } else {
            "active"
        };
        LinkResponse {
            id: l.id,
            file_id: l.file_id,
            state: state.into(),
            expires_at: l.expires_at,
            password_protected: l.password_hash.is_some(),
            max_downloads: l.max_downloads,
            download_count: l.download_count,
            revoked_at: l.revoked_at,
            created_at: l.created_at,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedLink {
    #[serde(flatten)]
    pub link: LinkResponse,
    /// The secret token; shown once, never stored (only its hash is).
    pub token: String,
    /// The public URL of the link: `GET` it for metadata, `POST …/download` to download.
    #[schema(example = "http://127.0.0.1:8080/s/3q2-7wQ9…")]
    pub url: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct LinkList {
    pub items: Vec<LinkResponse>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BrowseQuery {
    /// A folder below the link's folder to list (default: the link's folder).
    pub folder_id: Option<Uuid>,
    /// Items per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An item of a shared folder as anonymous visitors see it (no owner, no keys).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PublicItem {
    pub id: Uuid,
    pub name: String,
    pub kind: FileKind,
    pub size: i64,
    pub content_type: Option<String>,
    pub state: FileState,
    pub updated_at: DateTime<Utc>,
}

impl From<Entry> for PublicItem {
    fn from(n: Entry) -> PublicItem {
        PublicItem {
            id: n.id,
            name: n.name,
            kind: n.kind,
            size: n.size,
            content_type: n.content_type,
            state: n.state,
            updated_at: n.updated_at,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct LinkInfo {
    #[schema(example = "results.tar.gz")]
    pub name: String,
    pub kind: FileKind,
    /// Bytes (0 for folders).
    pub size: i64,
    pub content_type: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether downloads (and folder listings) need the password.
    pub password_required: bool,
    /// Downloads left, when the link has a limit.
    pub downloads_remaining: Option<i64>,
    /// For folder links: one page of the folder (withheld from password-protected links
    /// unless the request carries `X-Link-Password`).
    pub items: Option<Vec<PublicItem>>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    /// The link's password, when it has one.
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
    /// For folder links: the file (anywhere below the folder) to download.
    pub file_id: Option<Uuid>,
    /// Answer 200 with JSON instead of 302 (default: redirect, for `curl -L`).
    #[serde(default)]
    pub no_redirect: bool,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ArchiveLinkRequest {
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
}
