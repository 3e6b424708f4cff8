use sea_orm::entity::prelude::*;

stored_enum! {
    /// What a share grants: `read`, or `write` (also create, rename, move, delete inside).
    pub enum Permission: "String(StringLen::N(8))" {
        Read = "read",
        Write = "write",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "shares")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub grantee_id: Uuid,
    pub permission: Permission,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
