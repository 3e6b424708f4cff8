use sea_orm::entity::prelude::*;

stored_enum! {
    /// Which store a copy is in.
    pub enum CopyLocation: "String(StringLen::N(8))" {
        Primary = "primary",
        Cloud = "cloud",
    }
}

stored_enum! {
    /// `copying` while the sync works on it (or waits to retry), `verified` once its
    /// size and checksum were checked, `released` (primary only) once deleted in favour
    /// of the verified cloud copy, `failed` when the sync gave up (the cause is kept).
    pub enum CopyState: "String(StringLen::N(10))" {
        Copying = "copying",
        Verified = "verified",
        Released = "released",
        Failed = "failed",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "file_copies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub file_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub location: CopyLocation,
    pub state: CopyState,
    pub size: i64,
    pub checksum_sha256: Option<String>,
    pub etag: Option<String>,
    pub run_id: Option<Uuid>,
    pub attempts: i32,
    pub next_try_ms: i64,
    pub error: Option<String>,
    pub verified_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
