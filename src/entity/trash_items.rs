use sea_orm::entity::prelude::*;

use super::files::FileKind;

/// A deleted file or folder, restorable until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trash_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    /// The deleted file's or folder's id (it keeps it when restored).
    pub file_id: Uuid,
    pub name: String,
    pub kind: FileKind,
    /// The folder it was in; null at the root.
    pub parent_id: Option<Uuid>,
    /// Bytes and files it holds, still counted in the owner's usage.
    pub bytes: i64,
    pub objects: i64,
    pub deleted_by: Option<Uuid>,
    pub trashed_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
