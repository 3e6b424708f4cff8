use sea_orm::entity::prelude::*;

stored_enum! {
    /// What started a run of the cloud sync.
    pub enum RunTrigger: "String(StringLen::N(12))" {
        Manual = "manual",
        Scheduled = "scheduled",
    }
}

stored_enum! {
    /// `running` while files are copied (or released), `held` when releasing would free
    /// more of the primary store than allowed and an admin must confirm, `done`.
    pub enum RunState: "String(StringLen::N(12))" {
        Running = "running",
        Held = "held",
        Done = "done",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tier_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub trigger: RunTrigger,
    pub scheduled_for: Option<DateTimeUtc>,
    pub state: RunState,
    pub files_planned: i64,
    pub bytes_planned: i64,
    pub files_copied: i64,
    pub bytes_copied: i64,
    pub files_failed: i64,
    pub files_released: i64,
    pub bytes_released: i64,
    /// Files the lifecycle rules moved to the trash or deleted, and their bytes.
    pub files_expired: i64,
    pub bytes_expired: i64,
    pub release_confirmed: bool,
    pub error: Option<String>,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
