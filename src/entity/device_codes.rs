use sea_orm::entity::prelude::*;

stored_enum! {
    /// Where a device login stands: `pending` until a signed-in user approves or denies
    /// it; an approved one becomes `redeemed` when the device collects its tokens.
    pub enum DeviceState: "String(StringLen::N(12))" {
        Pending = "pending",
        Approved = "approved",
        Denied = "denied",
        Redeemed = "redeemed",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the device code, hex.
    pub device_code_hash: String,
    /// SHA-256 of the user code (normalized: 8 letters, no dash), hex.
    pub user_code_hash: String,
    pub client_name: String,
    pub client_host: String,
    pub client_ip: Option<String>,
    pub state: DeviceState,
    /// Who approved or denied it.
    pub user_id: Option<Uuid>,
    /// The polling interval the device must keep, in seconds (grows on `slow_down`).
    pub interval_secs: i32,
    pub last_poll_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
