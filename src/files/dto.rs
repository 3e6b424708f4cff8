//! Request and response types of the files and folders API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::repo::{Entry, FileKind, FileState, Node};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct FileResponse {
    pub id: Uuid,
    /// The containing folder; null at the root.
    pub parent_id: Option<Uuid>,
    #[schema(example = "results.tar.gz")]
    pub name: String,
    pub kind: FileKind,
    /// Bytes (declared size while pending; 0 for folders).
    pub size: i64,
    pub content_type: Option<String>,
    pub state: FileState,
    pub etag: Option<String>,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
    /// The SHA-256 of the content (base64), when its upload declared one: the store
    /// refused any other bytes.
    #[schema(example = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=")]
    pub checksum_sha256: Option<String>,
    /// Where the bytes live: the primary store, the cloud tier, or both.
    pub storage_location: StorageLocation,
    /// When the cloud copy was last verified; null when there is none.
    #[serde(serialize_with = "crate::rfc3339::serialize_opt")]
    pub synced_at: Option<DateTime<Utc>>,
}

/// Where a file's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StorageLocation {
    Primary,
    Cloud,
    Both,
}

impl StorageLocation {
    /// From the file's tier and its cloud copy's verification time.
    pub fn of(tier: &str, synced_at: Option<DateTime<Utc>>) -> StorageLocation {
        match (tier, synced_at) {
            ("cloud", _) => StorageLocation::Cloud,
            (_, Some(_)) => StorageLocation::Both,
            _ => StorageLocation::Primary,
        }
    }
}

impl From<Node> for FileResponse {
    fn from(n: Node) -> FileResponse {
        Entry::from(n).into()
    }
}

impl From<Entry> for FileResponse {
    fn from(n: Entry) -> FileResponse {
        FileResponse {
            id: n.id,
            parent_id: n.parent_id,
            name: n.name,
            kind: n.kind,
            size: n.size,
            content_type: n.content_type,
            state: n.state,
            etag: n.etag,
            created_at: n.created_at,
            updated_at: n.updated_at,
            checksum_sha256: n.checksum_sha256,
            storage_location: StorageLocation::of(&n.tier, n.synced_at),
            synced_at: n.synced_at,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct FileList {
    pub items: Vec<FileResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFolderRequest {
    #[schema(example = "job-4711", min_length = 1)]
    pub name: String,
    /// The parent folder; omitted or null for the root.
    pub parent_id: Option<Uuid>,
}

/// Distinguishes an absent field (keep) from an explicit null (the root).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Uuid>>, D::Error> {
    Option::<Uuid>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateFileRequest {
    /// A new name.
    #[schema(min_length = 1)]
    pub name: Option<String>,
    /// A new parent folder; `null` moves to the root; omitted keeps the place.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DownloadResponse {
    /// A presigned GET, valid until `expires_at`. A bearer credential: do not share or log it.
    pub url: String,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// Answer 302 to the URL instead of JSON (for `curl -L`).
    #[serde(default)]
    pub redirect: bool,
}
