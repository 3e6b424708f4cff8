//! The only jobs code that touches sea-orm.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::entity::{job_files, jobs};

pub use crate::entity::jobs::{JobState, Model as Job};

/// What a list asks for.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub state: Option<JobState>,
    pub benchmark: Option<String>,
    pub slurm_job_id: Option<String>,
    pub submitted_after: Option<DateTime<Utc>>,
    pub submitted_before: Option<DateTime<Utc>>,
}

pub async fn insert(db: &impl ConnectionTrait, job: &Job) -> Result<(), DbErr> {
    jobs::Entity::insert(jobs::ActiveModel::from(job.clone()))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// `owner`'s job; another user's is indistinguishable from a missing one.
pub async fn find_owned(
    db: &impl ConnectionTrait,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<Job>, DbErr> {
    jobs::Entity::find_by_id(id)
        .filter(jobs::Column::OwnerId.eq(owner))
        .one(db)
        .await
}

pub async fn find_by_slurm(
    db: &impl ConnectionTrait,
    owner: Uuid,
    cluster: &str,
    slurm_job_id: &str,
) -> Result<Option<Job>, DbErr> {
    jobs::Entity::find()
        .filter(jobs::Column::OwnerId.eq(owner))
        .filter(jobs::Column::Cluster.eq(cluster))
        .filter(jobs::Column::SlurmJobId.eq(slurm_job_id))
        .one(db)
        .await
}

/// `owner`'s jobs matching `filter`, by id (creation order), after `after`.
pub async fn list(
    db: &impl ConnectionTrait,
    owner: Uuid,
    filter: &Filter,
    after: Option<Uuid>,
    rows: u64,
) -> Result<Vec<Job>, DbErr> {
    let mut q = jobs::Entity::find().filter(jobs::Column::OwnerId.eq(owner));
    if let Some(state) = filter.state {
        q = q.filter(jobs::Column::State.eq(state));
    }
    if let Some(b) = &filter.benchmark {
        q = q.filter(jobs::Column::Benchmark.eq(b.as_str()));
    }
    if let Some(s) = &filter.slurm_job_id {
        q = q.filter(jobs::Column::SlurmJobId.eq(s.as_str()));
    }
    if let Some(t) = filter.submitted_after {
        q = q.filter(jobs::Column::SubmittedAt.gte(t));
    }
    if let Some(t) = filter.submitted_before {
        q = q.filter(jobs::Column::SubmittedAt.lt(t));
    }
    if let Some(after) = after {
        q = q.filter(jobs::Column::Id.gt(after));
    }
    q.order_by_asc(jobs::Column::Id).limit(rows).all(db).await
}

/// Writes the job's state, times, exit code and metadata when its state is still
/// `from`; true if it was.
pub async fn update_if(
    db: &impl ConnectionTrait,
    job: &Job,
    from: JobState,
) -> Result<bool, DbErr> {
    let res = jobs::Entity::update_many()
        .set(jobs::ActiveModel {
            state: Set(job.state),
            started_at: Set(job.started_at),
            finished_at: Set(job.finished_at),
            exit_code: Set(job.exit_code),
            metadata: Set(job.metadata.clone()),
            updated_at: Set(job.updated_at),
            ..Default::default()
        })
        .filter(jobs::Column::Id.eq(job.id))
        .filter(jobs::Column::State.eq(from))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The ids of the files attached to a job.
pub async fn attached(db: &impl ConnectionTrait, job: Uuid) -> Result<Vec<Uuid>, DbErr> {
    job_files::Entity::find()
        .select_only()
        .column(job_files::Column::FileId)
        .filter(job_files::Column::JobId.eq(job))
        .into_tuple()
        .all(db)
        .await
}

/// Attaches `file` to `job` unless it is already attached or the job is gone.
pub async fn attach(db: &impl ConnectionTrait, job: Uuid, file: Uuid) -> Result<(), DbErr> {
    let sql = "INSERT INTO job_files (job_id, file_id) SELECT id, $2 FROM jobs WHERE id = $1 \
               ON CONFLICT (job_id, file_id) DO NOTHING";
    let stmt = crate::db::statement(db.get_database_backend(), sql, [job.into(), file.into()]);
    db.execute_raw(stmt).await?;
    Ok(())
}
