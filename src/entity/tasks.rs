use sea_orm::entity::prelude::*;

stored_enum! {
    /// Where a task is: `queued` (due or waiting for a retry), `running` (leased), `done`, `failed`.
    pub enum TaskState: "String(StringLen::N(12))" {
        Queued = "queued",
        Running = "running",
        Done = "done",
        Failed = "failed",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub payload: String,
    pub owner_id: Option<Uuid>,
    pub state: TaskState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_after_ms: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_ms: Option<i64>,
    pub progress: Option<String>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
