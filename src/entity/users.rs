use sea_orm::entity::prelude::*;

stored_enum! {
    /// What an account may do: `admin` also administers.
    pub enum Role: "String(StringLen::N(16))" {
        Admin = "admin",
        User = "user",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    pub quota_bytes: i64,
    pub quota_objects: i64,
    pub used_bytes: i64,
    pub used_objects: i64,
    pub reserved_bytes: i64,
    pub reserved_objects: i64,
    pub tokens_valid_after: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_login: Option<DateTimeUtc>,
    /// The identity provider that vouches for this account; `None`: a local account.
    pub auth_provider: Option<String>,
    /// The account's id at that provider (stable across renames).
    pub auth_subject: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
