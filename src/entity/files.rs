use sea_orm::entity::prelude::*;

stored_enum! {
    /// A file or a folder.
    pub enum FileKind: "String(StringLen::N(8))" {
        File = "file",
        Folder = "folder",
    }
}

stored_enum! {
    /// `pending` while its upload is open, then `active`.
    pub enum FileState: "String(StringLen::N(8))" {
        Pending = "pending",
        Active = "active",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub parent_key: Uuid,
    pub name: String,
    pub kind: FileKind,
    pub size: i64,
    pub content_type: Option<String>,
    pub object_key: Option<String>,
    pub etag: Option<String>,
    pub state: FileState,
    pub tier: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub synced_at: Option<DateTimeUtc>,
    pub checksum_sha256: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
