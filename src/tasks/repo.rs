//! The only task-queue code that touches sea-orm.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    Set, Statement,
};
use uuid::Uuid;

use super::{now_ms, Task, TaskState};
use crate::entity::tasks::{self, Column as C};

pub struct NewTask<'a> {
    pub kind: &'a str,
    pub payload: serde_json::Value,
    pub owner_id: Option<Uuid>,
    pub max_attempts: i32,
    pub run_after_ms: i64,
}

pub async fn enqueue(db: &impl ConnectionTrait, new: NewTask<'_>) -> Result<Uuid, DbErr> {
    let now = Utc::now();
    let id = Uuid::new_v4();
    tasks::ActiveModel {
        id: Set(id),
        kind: Set(new.kind.to_owned()),
        payload: Set(new.payload.to_string()),
        owner_id: Set(new.owner_id),
        state: Set(TaskState::Queued.to_owned()),
        attempts: Set(0),
        max_attempts: Set(new.max_attempts),
        run_after_ms: Set(new.run_after_ms),
        lease_owner: Set(None),
        lease_expires_ms: Set(None),
        progress: Set(None),
        result: Set(None),
        error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(id)
}

const CLAIM_PG: &str = r#"
UPDATE tasks SET state = 'running', lease_owner = $1, lease_expires_ms = $2,
                 attempts = attempts + 1, updated_at = $3
WHERE id = (
    SELECT id FROM tasks
    WHERE (state = 'queued' AND run_after_ms <= $4) OR (state = 'running' AND lease_expires_ms < $4)
    ORDER BY run_after_ms
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING *"#;

/// SQLite runs one writing statement at a time, so the same UPDATE is atomic there.
const CLAIM_SQLITE: &str = r#"
UPDATE tasks SET state = 'running', lease_owner = ?1, lease_expires_ms = ?2,
                 attempts = attempts + 1, updated_at = ?3
WHERE id = (
    SELECT id FROM tasks
    WHERE (state = 'queued' AND run_after_ms <= ?4) OR (state = 'running' AND lease_expires_ms < ?4)
    ORDER BY run_after_ms
    LIMIT 1
)
RETURNING *"#;

/// Claims the next due task (or one whose lease expired) for `worker`, atomically:
/// several workers never hold the same task at once.
pub async fn claim(
    db: &impl ConnectionTrait,
    worker: &str,
    lease_ms: i64,
) -> Result<Option<Task>, DbErr> {
    let now = now_ms();
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => CLAIM_PG,
        _ => CLAIM_SQLITE,
    };
    let values: Vec<sea_orm::Value> = vec![
        worker.into(),
        (now + lease_ms).into(),
        Utc::now().into(),
        now.into(),
    ];
    let stmt = Statement::from_sql_and_values(backend, sql, values);
    Ok(tasks::Entity::find()
        .from_raw_sql(stmt)
        .one(db)
        .await?
        .map(Task::from))
}

fn owned_by(id: Uuid, worker: &str) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(C::Id.eq(id))
        .add(C::LeaseOwner.eq(worker))
        .add(C::State.eq(TaskState::Running))
}

/// Extends the lease; false when the task is no longer ours.
pub async fn heartbeat(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    lease_ms: i64,
) -> Result<bool, DbErr> {
    let res = tasks::Entity::update_many()
        .col_expr(C::LeaseExpiresMs, Expr::value(now_ms() + lease_ms))
        .filter(owned_by(id, worker))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn set_progress(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    progress: &serde_json::Value,
) -> Result<(), DbErr> {
    tasks::Entity::update_many()
        .col_expr(C::Progress, Expr::value(progress.to_string()))
        .filter(owned_by(id, worker))
        .exec(db)
        .await?;
    Ok(())
}

fn end_lease() -> [(C, Expr); 3] {
    [
        (C::LeaseOwner, Expr::value(Option::<String>::None)),
        (C::LeaseExpiresMs, Expr::value(Option::<i64>::None)),
        (C::UpdatedAt, Expr::value(Utc::now())),
    ]
}

/// Marks the task done with its result; false when the task is no longer ours.
pub async fn finish(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    result: &serde_json::Value,
) -> Result<bool, DbErr> {
    let mut update = tasks::Entity::update_many()
        .col_expr(C::State, Expr::value(TaskState::Done))
        .col_expr(C::Result, Expr::value(result.to_string()))
        .col_expr(C::Error, Expr::value(Option::<String>::None));
    for (col, value) in end_lease() {
        update = update.col_expr(col, value);
    }
    Ok(update
        .filter(owned_by(id, worker))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Records a failed attempt: queued again after `retry_after_ms`, or failed for good
/// when no attempt is left (`retry_after_ms` None). The error is kept either way.
pub async fn fail(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    error: &str,
    retry_after_ms: Option<i64>,
) -> Result<bool, DbErr> {
    let mut update = tasks::Entity::update_many().col_expr(C::Error, Expr::value(error));
    update = match retry_after_ms {
        Some(at) => update
            .col_expr(C::State, Expr::value(TaskState::Queued))
            .col_expr(C::RunAfterMs, Expr::value(at)),
        None => update.col_expr(C::State, Expr::value(TaskState::Failed)),
    };
    for (col, value) in end_lease() {
        update = update.col_expr(col, value);
    }
    Ok(update
        .filter(owned_by(id, worker))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Gives an unfinished task back (shutdown): queued at once, the attempt not counted.
pub async fn release(db: &impl ConnectionTrait, id: Uuid, worker: &str) -> Result<bool, DbErr> {
    let mut update = tasks::Entity::update_many()
        .col_expr(C::State, Expr::value(TaskState::Queued))
        .col_expr(C::RunAfterMs, Expr::value(now_ms()))
        .col_expr(C::Attempts, Expr::col(C::Attempts).sub(1));
    for (col, value) in end_lease() {
        update = update.col_expr(col, value);
    }
    Ok(update
        .filter(owned_by(id, worker))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Task>, DbErr> {
    Ok(tasks::Entity::find_by_id(id).one(db).await?.map(Task::from))
}

/// A task of `owner`; another owner's id is indistinguishable from a missing one.
pub async fn find_owned(
    db: &impl ConnectionTrait,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<Task>, DbErr> {
    Ok(tasks::Entity::find_by_id(id)
        .filter(C::OwnerId.eq(owner))
        .one(db)
        .await?
        .map(Task::from))
}

/// A zip task made for share link `link` ("download all"), if that is what `id` is.
pub async fn find_for_link(
    db: &impl ConnectionTrait,
    link: Uuid,
    id: Uuid,
) -> Result<Option<Task>, DbErr> {
    Ok(tasks::Entity::find_by_id(id)
        .filter(C::OwnerId.is_null())
        .one(db)
        .await?
        .map(Task::from)
        .filter(|t| {
            t.payload
                .get("link_id")
                .and_then(|l| l.as_str()?.parse::<Uuid>().ok())
                == Some(link)
        }))
}

/// Tasks of `kind` not finished yet (for the storage check: archives still to delete).
pub async fn pending_of_kind(db: &impl ConnectionTrait, kind: &str) -> Result<Vec<Task>, DbErr> {
    Ok(tasks::Entity::find()
        .filter(C::Kind.eq(kind))
        .filter(C::State.is_in([TaskState::Queued, TaskState::Running]))
        .all(db)
        .await?
        .into_iter()
        .map(Task::from)
        .collect())
}

/// How many tasks there are of each kind in each state (queued: the queue depth).
pub async fn count_by_kind_and_state(
    db: &impl ConnectionTrait,
) -> Result<Vec<(String, String, i64)>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    tasks::Entity::find()
        .select_only()
        .column(C::Kind)
        .column(C::State)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(C::Kind)
        .group_by(C::State)
        .order_by_asc(C::Kind)
        .order_by_asc(C::State)
        .into_tuple()
        .all(db)
        .await
}
