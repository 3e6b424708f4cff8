use sea_orm::entity::prelude::*;

stored_enum! {
    /// An upload holds its reservation while `open`.
    pub enum UploadState: "String(StringLen::N(12))" {
        Open = "open",
        Completed = "completed",
        Aborted = "aborted",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "uploads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub file_id: Option<Uuid>,
    pub object_key: String,
    pub declared_size: i64,
    pub content_type: String,
    pub multipart_upload_id: Option<String>,
    pub part_size: Option<i64>,
    pub part_count: i32,
    pub expires_at: DateTimeUtc,
    pub state: UploadState,
    pub created_by: Option<Uuid>,
    /// The API token that started it, if one did (its budget is charged).
    pub token_id: Option<Uuid>,
    /// The HPC job its file joins once it completes.
    pub job_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
