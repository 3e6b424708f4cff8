//! The trash API's types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::entity::files::FileKind;
use crate::entity::trash_items;

/// A deleted file or folder.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrashItem {
    /// The trash item's id (restore and delete it with this).
    pub id: Uuid,
    /// The deleted file's or folder's id, which it keeps when restored.
    pub file_id: Uuid,
    pub name: String,
    pub kind: FileKind,
    /// The folder it was deleted from; null at the root.
    pub original_parent_id: Option<Uuid>,
    /// Bytes and files it holds, still counted in your usage until purged.
    pub size: i64,
    pub files: i64,
    pub trashed_at: DateTime<Utc>,
    /// When the worker purges it.
    pub expires_at: DateTime<Utc>,
}

impl From<trash_items::Model> for TrashItem {
    fn from(m: trash_items::Model) -> TrashItem {
        TrashItem {
            id: m.id,
            file_id: m.file_id,
            name: m.name,
            kind: m.kind,
            original_parent_id: m.parent_id,
            size: m.bytes,
            files: m.objects,
            trashed_at: m.trashed_at,
            expires_at: m.expires_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrashList {
    pub items: Vec<TrashItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TrashQuery {
    /// 1 to 1000 (default 100).
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// What emptying the trash purged.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Emptied {
    pub items: u64,
    pub bytes: i64,
    pub files: i64,
}
