use sea_orm::entity::prelude::*;

/// A row a trashed item took along, as JSON.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trash_rows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub item_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i32,
    /// `file`, `share`, `link`, `job_file`, `copy` or `job_folder`.
    pub kind: String,
    pub data: String,
    /// The object of a stored file (the storage check and the purge read it).
    pub object_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
