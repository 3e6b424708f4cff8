//! The SQL of the cloud tier: planning, the copy rows, the runs.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entity::file_copies::{self, CopyLocation, CopyState};
use crate::entity::files::{self, FileKind, FileState};
use crate::entity::tier_runs::{self, RunState, RunTrigger};
use crate::entity::users;

/// Which files a run takes.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Files changed after this are too young.
    pub changed_before: DateTime<Utc>,
    pub min_size: i64,
    /// Only these owners' files; `None`: everyone's.
    pub owners: Option<Vec<Uuid>>,
    /// Most bytes planned; 0: no cap.
    pub max_bytes: u64,
}

/// A file a run copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub file_id: Uuid,
    pub size: i64,
}

/// The ids of the users named (unknown names are skipped).
pub async fn user_ids(db: &impl ConnectionTrait, names: &[String]) -> Result<Vec<Uuid>, DbErr> {
    users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::Username.is_in(names.iter().cloned()))
        .into_tuple()
        .all(db)
        .await
}

/// Active files on the primary store whose cloud copy is not verified yet.
fn unsynced() -> sea_orm::Select<files::Entity> {
    use files::Column as C;
    let verified = Query::select()
        .column(file_copies::Column::FileId)
        .from(file_copies::Entity)
        .and_where(Expr::col(file_copies::Column::Location).eq(CopyLocation::Cloud.as_str()))
        .and_where(Expr::col(file_copies::Column::State).eq(CopyState::Verified.as_str()))
        .to_owned();
    files::Entity::find()
        .filter(C::Kind.eq(FileKind::File))
        .filter(C::State.eq(FileState::Active))
        .filter(C::Tier.eq("primary"))
        .filter(C::ObjectKey.is_not_null())
        .filter(C::Id.not_in_subquery(verified))
}

/// The files `policy` takes, oldest first, up to its byte cap.
pub async fn plan(db: &impl ConnectionTrait, policy: &Policy) -> Result<Vec<Planned>, DbErr> {
    use files::Column as C;
    let mut q = unsynced()
        .filter(C::UpdatedAt.lte(policy.changed_before))
        .filter(C::Size.gte(policy.min_size));
    if let Some(owners) = &policy.owners {
        q = q.filter(C::OwnerId.is_in(owners.iter().copied()));
    }
    let rows: Vec<(Uuid, i64)> = q
        .select_only()
        .columns([C::Id, C::Size])
        .order_by_asc(C::UpdatedAt)
        .order_by_asc(C::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut total = 0u64;
    let mut planned = Vec::with_capacity(rows.len());
    for (file_id, size) in rows {
        let size_u = Ord::max(size, 0) as u64;
        if policy.max_bytes > 0 && total + size_u > policy.max_bytes {
            // Smaller files further on may still fit.
            continue;
        }
        total += size_u;
        planned.push(Planned { file_id, size });
    }
    Ok(planned)
}

/// Files not yet verified in the cloud (any age): count, bytes and the oldest change.
pub async fn pending(
    db: &impl ConnectionTrait,
) -> Result<(i64, i64, Option<DateTime<Utc>>), DbErr> {
    use files::Column as C;
    let row: Option<(i64, Option<i64>, Option<DateTime<Utc>>)> = unsynced()
        .select_only()
        .column_as(C::Id.count(), "n")
        .column_as(C::Size.sum().cast_as("BIGINT"), "bytes")
        .column_as(C::UpdatedAt.min(), "oldest")
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.map_or((0, 0, None), |(n, b, o)| (n, b.unwrap_or(0), o)))
}

/// The run in progress (running or held), if any.
pub async fn open_run(db: &impl ConnectionTrait) -> Result<Option<tier_runs::Model>, DbErr> {
    tier_runs::Entity::find()
        .filter(tier_runs::Column::State.ne(RunState::Done))
        .order_by_desc(tier_runs::Column::StartedAt)
        .one(db)
        .await
}

pub async fn run(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<tier_runs::Model>, DbErr> {
    tier_runs::Entity::find_by_id(id).one(db).await
}

pub async fn last_run(db: &impl ConnectionTrait) -> Result<Option<tier_runs::Model>, DbErr> {
    tier_runs::Entity::find()
        .order_by_desc(tier_runs::Column::StartedAt)
        .one(db)
        .await
}

/// When the latest scheduled run was scheduled for.
pub async fn last_scheduled(db: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, DbErr> {
    let at: Option<Option<DateTime<Utc>>> = tier_runs::Entity::find()
        .select_only()
        .column(tier_runs::Column::ScheduledFor)
        .filter(tier_runs::Column::ScheduledFor.is_not_null())
        .order_by_desc(tier_runs::Column::ScheduledFor)
        .into_tuple()
        .one(db)
        .await?;
    Ok(at.flatten())
}

/// Inserts a run and the copy rows of its files (in the caller's transaction). A
/// scheduled run that another worker planned already fails on the unique index.
pub async fn create_run(
    db: &impl ConnectionTrait,
    id: Uuid,
    trigger: RunTrigger,
    scheduled_for: Option<DateTime<Utc>>,
    files: &[Planned],
) -> Result<(), DbErr> {
    let now = Utc::now();
    tier_runs::Entity::insert(tier_runs::ActiveModel {
        id: Set(id),
        trigger: Set(trigger),
        scheduled_for: Set(scheduled_for),
        state: Set(RunState::Running),
        files_planned: Set(files.len() as i64),
        bytes_planned: Set(files.iter().map(|f| f.size).sum()),
        files_copied: Set(0),
        bytes_copied: Set(0),
        files_failed: Set(0),
        files_released: Set(0),
        bytes_released: Set(0),
        files_expired: Set(0),
        bytes_expired: Set(0),
        release_confirmed: Set(false),
        error: Set(None),
        started_at: Set(now),
        finished_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    for chunk in files.chunks(500) {
        let rows = chunk.iter().map(|f| file_copies::ActiveModel {
            file_id: Set(f.file_id),
            location: Set(CopyLocation::Cloud),
            state: Set(CopyState::Copying),
            size: Set(f.size),
            checksum_sha256: Set(None),
            etag: Set(None),
            run_id: Set(Some(id)),
            attempts: Set(0),
            next_try_ms: Set(0),
            error: Set(None),
            verified_at: Set(None),
            updated_at: Set(now),
        });
        file_copies::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([file_copies::Column::FileId, file_copies::Column::Location])
                    .update_columns([
                        file_copies::Column::State,
                        file_copies::Column::Size,
                        file_copies::Column::RunId,
                        file_copies::Column::Attempts,
                        file_copies::Column::NextTryMs,
                        file_copies::Column::Error,
                        file_copies::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Copies of `run` still to do whose next try is due, at most `limit`.
pub async fn due_copies(
    db: &impl ConnectionTrait,
    run: Uuid,
    now_ms: i64,
    limit: u64,
) -> Result<Vec<file_copies::Model>, DbErr> {
    file_copies::Entity::find()
        .filter(file_copies::Column::RunId.eq(run))
        .filter(file_copies::Column::State.eq(CopyState::Copying))
        .filter(file_copies::Column::NextTryMs.lte(now_ms))
        .order_by_asc(file_copies::Column::NextTryMs)
        .limit(limit)
        .all(db)
        .await
}

/// Copies of `run` still to do, and the earliest next try among them.
pub async fn copies_left(
    db: &impl ConnectionTrait,
    run: Uuid,
) -> Result<(u64, Option<i64>), DbErr> {
    let q = file_copies::Entity::find()
        .filter(file_copies::Column::RunId.eq(run))
        .filter(file_copies::Column::State.eq(CopyState::Copying));
    let left = q.clone().count(db).await?;
    let next: Option<Option<i64>> = q
        .select_only()
        .column_as(file_copies::Column::NextTryMs.min(), "next")
        .into_tuple()
        .one(db)
        .await?;
    Ok((left, next.flatten()))
}

/// The file behind a copy row.
pub async fn file(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<files::Model>, DbErr> {
    files::Entity::find_by_id(id).one(db).await
}

/// What a verified copy records.
#[derive(Debug, Clone)]
pub struct Verified {
    pub file_id: Uuid,
    pub object_key: String,
    pub size: i64,
    pub sha256_hex: String,
    pub cloud_etag: Option<String>,
}

/// Records a verified cloud copy (and the primary copy it was read from), if the file
/// still has the content that was copied; `false` when it was deleted or changed
/// meanwhile (the caller removes its copy).
pub async fn record_verified(
    db: &impl ConnectionTrait,
    run: Uuid,
    v: &Verified,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let copied = file_copies::Entity::update_many()
        .col_expr(
            file_copies::Column::State,
            Expr::value(CopyState::Verified.as_str()),
        )
        .col_expr(file_copies::Column::Size, Expr::value(v.size))
        .col_expr(
            file_copies::Column::ChecksumSha256,
            Expr::value(v.sha256_hex.clone()),
        )
        .col_expr(file_copies::Column::Etag, Expr::value(v.cloud_etag.clone()))
        .col_expr(
            file_copies::Column::Error,
            Expr::value(Option::<String>::None),
        )
        .col_expr(file_copies::Column::VerifiedAt, Expr::value(now))
        .col_expr(file_copies::Column::UpdatedAt, Expr::value(now))
        .filter(file_copies::Column::FileId.eq(v.file_id))
        .filter(file_copies::Column::Location.eq(CopyLocation::Cloud))
        .filter(file_copies::Column::State.eq(CopyState::Copying))
        .filter(file_copies::Column::RunId.eq(run))
        .exec(db)
        .await?;
    if copied.rows_affected == 0 {
        return Ok(false);
    }
    // The file must still hold the bytes that were copied.
    let synced = files::Entity::update_many()
        .col_expr(files::Column::SyncedAt, Expr::value(now))
        .filter(files::Column::Id.eq(v.file_id))
        .filter(files::Column::State.eq(FileState::Active))
        .filter(files::Column::ObjectKey.eq(v.object_key.clone()))
        .filter(files::Column::Size.eq(v.size))
        .exec(db)
        .await?;
    if synced.rows_affected == 0 {
        return Ok(false);
    }
    file_copies::Entity::insert(file_copies::ActiveModel {
        file_id: Set(v.file_id),
        location: Set(CopyLocation::Primary),
        state: Set(CopyState::Verified),
        size: Set(v.size),
        checksum_sha256: Set(Some(v.sha256_hex.clone())),
        etag: Set(None),
        run_id: Set(Some(run)),
        attempts: Set(0),
        next_try_ms: Set(0),
        error: Set(None),
        verified_at: Set(Some(now)),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([file_copies::Column::FileId, file_copies::Column::Location])
            .update_columns([
                file_copies::Column::State,
                file_copies::Column::Size,
                file_copies::Column::ChecksumSha256,
                file_copies::Column::RunId,
                file_copies::Column::VerifiedAt,
                file_copies::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    add_to_run(db, run, RunCount::Copied(v.size)).await?;
    Ok(true)
}

/// Removes the copy row of a file whose copy was abandoned (deleted or changed meanwhile).
pub async fn drop_copy(db: &impl ConnectionTrait, file: Uuid, run: Uuid) -> Result<(), DbErr> {
    file_copies::Entity::delete_many()
        .filter(file_copies::Column::FileId.eq(file))
        .filter(file_copies::Column::Location.eq(CopyLocation::Cloud))
        .filter(file_copies::Column::RunId.eq(run))
        .filter(file_copies::Column::State.ne(CopyState::Verified))
        .exec(db)
        .await?;
    Ok(())
}

/// Records a failed attempt: tried again at `next_try_ms`, or failed for good.
pub async fn record_failure(
    db: &impl ConnectionTrait,
    file: Uuid,
    run: Uuid,
    attempts: i32,
    error: &str,
    next_try_ms: Option<i64>,
) -> Result<(), DbErr> {
    let state = match next_try_ms {
        Some(_) => CopyState::Copying,
        None => CopyState::Failed,
    };
    let res = file_copies::Entity::update_many()
        .col_expr(file_copies::Column::State, Expr::value(state.as_str()))
        .col_expr(file_copies::Column::Attempts, Expr::value(attempts))
        .col_expr(
            file_copies::Column::NextTryMs,
            Expr::value(next_try_ms.unwrap_or(0)),
        )
        .col_expr(file_copies::Column::Error, Expr::value(error.to_owned()))
        .col_expr(file_copies::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(file_copies::Column::FileId.eq(file))
        .filter(file_copies::Column::Location.eq(CopyLocation::Cloud))
        .filter(file_copies::Column::RunId.eq(run))
        .filter(file_copies::Column::State.eq(CopyState::Copying))
        .exec(db)
        .await?;
    if next_try_ms.is_none() && res.rows_affected > 0 {
        add_to_run(db, run, RunCount::Failed).await?;
    }
    Ok(())
}

/// A counter of a run.
pub enum RunCount {
    Copied(i64),
    Failed,
    Released(i64),
    Expired(i64),
}

pub async fn add_to_run(db: &impl ConnectionTrait, run: Uuid, what: RunCount) -> Result<(), DbErr> {
    use tier_runs::Column as C;
    let q = tier_runs::Entity::update_many().filter(C::Id.eq(run));
    let q = match what {
        RunCount::Copied(bytes) => q
            .col_expr(C::FilesCopied, Expr::col(C::FilesCopied).add(1))
            .col_expr(C::BytesCopied, Expr::col(C::BytesCopied).add(bytes)),
        RunCount::Failed => q.col_expr(C::FilesFailed, Expr::col(C::FilesFailed).add(1)),
        RunCount::Released(bytes) => q
            .col_expr(C::FilesReleased, Expr::col(C::FilesReleased).add(1))
            .col_expr(C::BytesReleased, Expr::col(C::BytesReleased).add(bytes)),
        RunCount::Expired(bytes) => q
            .col_expr(C::FilesExpired, Expr::col(C::FilesExpired).add(1))
            .col_expr(C::BytesExpired, Expr::col(C::BytesExpired).add(bytes)),
    };
    q.exec(db).await?;
    Ok(())
}

/// Sets a run's state (and, when done, its end).
pub async fn set_run_state(
    db: &impl ConnectionTrait,
    run: Uuid,
    state: RunState,
    error: Option<&str>,
) -> Result<(), DbErr> {
    let finished = (state == RunState::Done).then(Utc::now);
    tier_runs::Entity::update_many()
        .col_expr(tier_runs::Column::State, Expr::value(state.as_str()))
        .col_expr(tier_runs::Column::FinishedAt, Expr::value(finished))
        .col_expr(
            tier_runs::Column::Error,
            Expr::value(error.map(str::to_owned)),
        )
        .filter(tier_runs::Column::Id.eq(run))
        .exec(db)
        .await?;
    Ok(())
}

/// Confirms the held run's release; `None` when no run is held.
pub async fn confirm_held(db: &impl ConnectionTrait) -> Result<Option<Uuid>, DbErr> {
    let Some(run) = tier_runs::Entity::find()
        .filter(tier_runs::Column::State.eq(RunState::Held))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let res = tier_runs::Entity::update_many()
        .col_expr(
            tier_runs::Column::State,
            Expr::value(RunState::Running.as_str()),
        )
        .col_expr(tier_runs::Column::ReleaseConfirmed, Expr::value(true))
        .filter(tier_runs::Column::Id.eq(run.id))
        .filter(tier_runs::Column::State.eq(RunState::Held))
        .exec(db)
        .await?;
    Ok((res.rows_affected > 0).then_some(run.id))
}

/// A file whose primary copy may be released.
#[derive(Debug, Clone)]
pub struct Releasable {
    pub file_id: Uuid,
    pub object_key: String,
    pub size: i64,
    pub cloud_etag: Option<String>,
    pub cloud_size: i64,
}

/// Files on the primary store whose cloud copy was verified before `verified_before`.
pub async fn releasable(
    db: &impl ConnectionTrait,
    verified_before: DateTime<Utc>,
) -> Result<Vec<Releasable>, DbErr> {
    let copies = file_copies::Entity::find()
        .filter(file_copies::Column::Location.eq(CopyLocation::Cloud))
        .filter(file_copies::Column::State.eq(CopyState::Verified))
        .filter(file_copies::Column::VerifiedAt.lte(verified_before))
        .all(db)
        .await?;
    let mut out = Vec::new();
    for chunk in copies.chunks(500) {
        let ids: Vec<Uuid> = chunk.iter().map(|c| c.file_id).collect();
        let rows: Vec<(Uuid, Option<String>, i64)> = files::Entity::find()
            .select_only()
            .columns([
                files::Column::Id,
                files::Column::ObjectKey,
                files::Column::Size,
            ])
            .filter(files::Column::Id.is_in(ids))
            .filter(files::Column::Tier.eq("primary"))
            .filter(files::Column::State.eq(FileState::Active))
            .filter(files::Column::SyncedAt.is_not_null())
            .into_tuple()
            .all(db)
            .await?;
        for (file_id, key, size) in rows {
            let Some(copy) = chunk.iter().find(|c| c.file_id == file_id) else {
                continue;
            };
            if let Some(object_key) = key {
                out.push(Releasable {
                    file_id,
                    object_key,
                    size,
                    cloud_etag: copy.etag.clone(),
                    cloud_size: copy.size,
                });
            }
        }
    }
    Ok(out)
}

/// Bytes of active files on the primary store.
pub async fn primary_bytes(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let sum: Option<Option<i64>> = files::Entity::find()
        .select_only()
        .column_as(files::Column::Size.sum().cast_as("BIGINT"), "bytes")
        .filter(files::Column::Kind.eq(FileKind::File))
        .filter(files::Column::State.eq(FileState::Active))
        .filter(files::Column::Tier.eq("primary"))
        .into_tuple()
        .one(db)
        .await?;
    Ok(sum.flatten().unwrap_or(0))
}

/// Marks a file as living in the cloud only (its primary copy released), if it still
/// holds the verified content; `false` otherwise.
pub async fn mark_released(db: &impl ConnectionTrait, r: &Releasable) -> Result<bool, DbErr> {
    let now = Utc::now();
    let res = files::Entity::update_many()
        .col_expr(files::Column::Tier, Expr::value("cloud"))
        .filter(files::Column::Id.eq(r.file_id))
        .filter(files::Column::Tier.eq("primary"))
        .filter(files::Column::State.eq(FileState::Active))
        .filter(files::Column::ObjectKey.eq(r.object_key.clone()))
        .filter(files::Column::SyncedAt.is_not_null())
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    file_copies::Entity::update_many()
        .col_expr(
            file_copies::Column::State,
            Expr::value(CopyState::Released.as_str()),
        )
        .col_expr(file_copies::Column::UpdatedAt, Expr::value(now))
        .filter(file_copies::Column::FileId.eq(r.file_id))
        .filter(file_copies::Column::Location.eq(CopyLocation::Primary))
        .exec(db)
        .await?;
    Ok(true)
}

/// A cloud copy found changed behind Coffer's back: failed, and the file counts as
/// unsynced again (it is copied anew by the next run).
pub async fn mark_corrupt(db: &impl ConnectionTrait, file: Uuid, error: &str) -> Result<(), DbErr> {
    let now = Utc::now();
    file_copies::Entity::update_many()
        .col_expr(
            file_copies::Column::State,
            Expr::value(CopyState::Failed.as_str()),
        )
        .col_expr(file_copies::Column::Error, Expr::value(error.to_owned()))
        .col_expr(file_copies::Column::UpdatedAt, Expr::value(now))
        .filter(file_copies::Column::FileId.eq(file))
        .filter(file_copies::Column::Location.eq(CopyLocation::Cloud))
        .exec(db)
        .await?;
    files::Entity::update_many()
        .col_expr(
            files::Column::SyncedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(files::Column::Id.eq(file))
        .filter(files::Column::Tier.eq("primary"))
        .exec(db)
        .await?;
    Ok(())
}

/// Failed cloud copies, most recent first.
pub async fn failed_copies(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<(file_copies::Model, Option<String>)>, DbErr> {
    let copies = file_copies::Entity::find()
        .filter(file_copies::Column::Location.eq(CopyLocation::Cloud))
        .filter(file_copies::Column::State.eq(CopyState::Failed))
        .order_by_desc(file_copies::Column::UpdatedAt)
        .limit(limit)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = copies.iter().map(|c| c.file_id).collect();
    let names: Vec<(Uuid, String)> = files::Entity::find()
        .select_only()
        .columns([files::Column::Id, files::Column::Name])
        .filter(files::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(copies
        .into_iter()
        .map(|c| {
            let name = names
                .iter()
                .find(|(id, _)| *id == c.file_id)
                .map(|(_, n)| n.clone());
            (c, name)
        })
        .collect())
}

/// Bytes synced over every run, and cloud copies failed now.
pub async fn totals(db: &impl ConnectionTrait) -> Result<(i64, i64), DbErr> {
    let synced: Option<Option<i64>> = tier_runs::Entity::find()
        .select_only()
        .column_as(
            tier_runs::Column::BytesCopied.sum().cast_as("BIGINT"),
            "bytes",
        )
        .into_tuple()
        .one(db)
        .await?;
    let failed = file_copies::Entity::find()
        .filter(file_copies::Column::Location.eq(CopyLocation::Cloud))
        .filter(file_copies::Column::State.eq(CopyState::Failed))
        .count(db)
        .await?;
    Ok((synced.flatten().unwrap_or(0), failed as i64))
}

/// The object key of every file with a cloud copy row, and whether the copy must exist
/// (verified); copies still in flight or failed may or may not have an object.
pub async fn cloud_keys(db: &impl ConnectionTrait) -> Result<Vec<(String, bool)>, DbErr> {
    let copies: Vec<(Uuid, CopyState)> = file_copies::Entity::find()
        .select_only()
        .columns([file_copies::Column::FileId, file_copies::Column::State])
        .filter(file_copies::Column::Location.eq(CopyLocation::Cloud))
        .into_tuple()
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(copies.len());
    for chunk in copies.chunks(500) {
        let keys: Vec<(Uuid, Option<String>)> = files::Entity::find()
            .select_only()
            .columns([files::Column::Id, files::Column::ObjectKey])
            .filter(files::Column::Id.is_in(chunk.iter().map(|(id, _)| *id)))
            .into_tuple()
            .all(db)
            .await?;
        for (id, key) in keys {
            let verified = chunk
                .iter()
                .any(|(f, state)| *f == id && *state == CopyState::Verified);
            if let Some(key) = key {
                out.push((key, verified));
            }
        }
    }
    Ok(out)
}

/// The active files a lifecycle rule matches at `now`: (id, owner, size).
pub async fn expirable(
    db: &impl ConnectionTrait,
    rule: &crate::runtime::LifecycleRule,
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, Uuid, i64)>, DbErr> {
    use files::Column as C;
    let cutoff = now - chrono::Duration::days(i64::from(rule.min_age_days));
    let mut q = files::Entity::find()
        .select_only()
        .columns([C::Id, C::OwnerId, C::Size])
        .filter(C::Kind.eq(FileKind::File))
        .filter(C::State.eq(FileState::Active))
        .filter(C::UpdatedAt.lte(cutoff));
    if !rule.users.is_empty() {
        q = q.filter(C::OwnerId.is_in(user_ids(db, &rule.users).await?));
    }
    let Some(folder) = rule.folder_id else {
        return q.order_by_asc(C::Id).into_tuple().all(db).await;
    };
    let Some(folder) = files::Entity::find_by_id(folder).one(db).await? else {
        return Ok(Vec::new());
    };
    if folder.kind != FileKind::Folder {
        return Ok(Vec::new());
    }
    let below: Vec<Uuid> = crate::files::repo::subtree_rows(db, folder.owner_id, folder.id)
        .await?
        .into_iter()
        .filter(|m| m.kind == FileKind::File)
        .map(|m| m.id)
        .collect();
    let mut out = Vec::new();
    for chunk in below.chunks(500) {
        out.extend(
            q.clone()
                .filter(C::Id.is_in(chunk.to_vec()))
                .into_tuple::<(Uuid, Uuid, i64)>()
                .all(db)
                .await?,
        );
    }
    Ok(out)
}
