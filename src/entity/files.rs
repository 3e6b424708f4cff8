use sea_orm::entity::prelude::*;

pub const KIND_FILE: &str = "file";
pub const KIND_FOLDER: &str = "folder";
pub const STATE_PENDING: &str = "pending";
pub const STATE_ACTIVE: &str = "active";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub parent_key: Uuid,
    pub name: String,
    pub kind: String,
    pub size: i64,
    pub content_type: Option<String>,
    pub object_key: Option<String>,
    pub etag: Option<String>,
    pub state: String,
    pub tier: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub synced_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
