use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// SHA-256 of the secret, hex; the secret itself is never stored.
    pub token_hash: String,
    /// Space-separated scopes (`files:read files:write`).
    pub scopes: String,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub last_used_ip: Option<String>,
    /// The folder the token is confined to: it sees and writes only that subtree.
    pub folder_id: Option<Uuid>,
    /// Most bytes uploads started with the token may reserve, over its life.
    pub budget_bytes: Option<i64>,
    /// Bytes reserved by uploads started with the token (aborted ones given back).
    pub budget_used: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
