use sea_orm::entity::prelude::*;

stored_enum! {
    /// Where an HPC job stands; `DONE`, `FAILED` and `CANCELLED` are final.
    pub enum JobState: "String(StringLen::N(12))" {
        Pending = "PENDING",
        Running = "RUNNING",
        Done = "DONE",
        Failed = "FAILED",
        Cancelled = "CANCELLED",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub slurm_job_id: Option<String>,
    /// `""` when unknown (one job per owner, cluster and Slurm id).
    pub cluster: String,
    pub benchmark: Option<String>,
    pub state: JobState,
    pub submitted_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub exit_code: Option<i32>,
    /// A JSON object, as text.
    pub metadata: Option<String>,
    /// The outputs folder (`jobs/<id>/` in the owner's root).
    pub folder_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
