//! The only uploads code that touches sea-orm. An open upload is a quota reservation.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entity::uploads;
use crate::files::repo as files;

pub use crate::entity::uploads::UploadState;

#[derive(Debug, Clone)]
pub struct Upload {
    pub id: Uuid,
    pub user_id: Uuid,
    pub file_id: Option<Uuid>,
    pub object_key: String,
    pub declared_size: i64,
    pub content_type: String,
    pub multipart_upload_id: Option<String>,
    pub part_size: Option<i64>,
    pub part_count: i32,
    pub expires_at: DateTime<Utc>,
    pub state: UploadState,
    /// Who started it when that is not `user_id`, the owner billed for it.
    pub created_by: Option<Uuid>,
    /// The API token that started it, whose budget it is charged to.
    pub token_id: Option<Uuid>,
    /// The HPC job its file joins once it completes.
    pub job_id: Option<Uuid>,
}

/// `part_count` of an upload whose size is not known beforehand (the benchwrap
/// protocol): `declared_size` is then the most it may hold, reserved while it is open.
pub const UNSIZED: i32 = 0;

impl Upload {
    /// Whether the size was unknown at the start (see [`UNSIZED`]).
    pub fn is_unsized(&self) -> bool {
        self.part_count == UNSIZED
    }

    /// The user who started the upload.
    pub fn uploader(&self) -> Uuid {
        self.created_by.unwrap_or(self.user_id)
    }
}

impl From<uploads::Model> for Upload {
    fn from(m: uploads::Model) -> Upload {
        Upload {
            id: m.id,
            user_id: m.user_id,
            file_id: m.file_id,
            object_key: m.object_key,
            declared_size: m.declared_size,
            content_type: m.content_type,
            multipart_upload_id: m.multipart_upload_id,
            part_size: m.part_size,
            part_count: m.part_count,
            expires_at: m.expires_at,
            state: m.state,
            created_by: m.created_by,
            token_id: m.token_id,
            job_id: m.job_id,
        }
    }
}

/// An upload `user` is billed for or started; another user's id is indistinguishable
/// from a missing one.
pub async fn find_owned(
    db: &impl ConnectionTrait,
    user: Uuid,
    id: Uuid,
) -> Result<Option<Upload>, DbErr> {
    Ok(uploads::Entity::find_by_id(id)
        .filter(
            sea_orm::Condition::any()
                .add(uploads::Column::UserId.eq(user))
                .add(uploads::Column::CreatedBy.eq(user)),
        )
        .one(db)
        .await?
        .map(Upload::from))
}

/// The uploads of `ids` that `user` is billed for or started (see [`find_owned`]).
pub async fn find_owned_many(
    db: &impl ConnectionTrait,
    user: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Upload>, DbErr> {
    Ok(uploads::Entity::find()
        .filter(uploads::Column::Id.is_in(ids.iter().copied()))
        .filter(
            sea_orm::Condition::any()
                .add(uploads::Column::UserId.eq(user))
                .add(uploads::Column::CreatedBy.eq(user)),
        )
        .all(db)
        .await?
        .into_iter()
        .map(Upload::from)
        .collect())
}

/// Which of `ids` are open uploads.
pub async fn open_among(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, DbErr> {
    Ok(uploads::Entity::find()
        .select_only()
        .column(uploads::Column::Id)
        .filter(uploads::Column::Id.is_in(ids.iter().copied()))
        .filter(uploads::Column::State.eq(UploadState::Open))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

pub async fn find_open_for_file(
    db: &impl ConnectionTrait,
    file_id: Uuid,
) -> Result<Option<Upload>, DbErr> {
    Ok(uploads::Entity::find()
        .filter(uploads::Column::FileId.eq(file_id))
        .filter(uploads::Column::State.eq(UploadState::Open))
        .one(db)
        .await?
        .map(Upload::from))
}

/// Every open upload of the file (an unsized upload replacing an active file may have
/// a later one beside it for a moment).
pub async fn open_of_file(db: &impl ConnectionTrait, file_id: Uuid) -> Result<Vec<Upload>, DbErr> {
    Ok(uploads::Entity::find()
        .filter(uploads::Column::FileId.eq(file_id))
        .filter(uploads::Column::State.eq(UploadState::Open))
        .all(db)
        .await?
        .into_iter()
        .map(Upload::from)
        .collect())
}

/// Open unsized uploads started after `since`, of one user or of all, newest first.
pub async fn open_unsized(
    db: &impl ConnectionTrait,
    user: Option<Uuid>,
    since: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Upload>, DbErr> {
    use sea_orm::sea_query::Expr;
    use sea_orm::QueryOrder;
    let after = crate::db::least_id_at(since);
    let mut q = uploads::Entity::find()
        // Literals, not parameters: only then may the databases use the partial index
        // `ix_uploads_unsized_open`, whose condition this is.
        .filter(Expr::cust(format!(
            "part_count = {UNSIZED} AND state = '{}'",
            UploadState::Open.as_str()
        )))
        .filter(uploads::Column::Id.gt(after));
    if let Some(user) = user {
        q = q.filter(uploads::Column::UserId.eq(user));
    }
    Ok(q.order_by_desc(uploads::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Upload::from)
        .collect())
}

/// The row of an upload created at `at`.
pub(super) fn new_row(u: &Upload, at: DateTime<Utc>) -> uploads::ActiveModel {
    use sea_orm::Set;
    uploads::ActiveModel {
        id: Set(u.id),
        user_id: Set(u.user_id),
        file_id: Set(u.file_id),
        object_key: Set(u.object_key.clone()),
        declared_size: Set(u.declared_size),
        content_type: Set(u.content_type.clone()),
        multipart_upload_id: Set(None),
        part_size: Set(u.part_size),
        part_count: Set(u.part_count),
        expires_at: Set(u.expires_at),
        state: Set(u.state),
        created_by: Set(u.created_by),
        token_id: Set(u.token_id),
        job_id: Set(u.job_id),
        created_at: Set(at),
        updated_at: Set(at),
    }
}

/// Records an open upload of an existing file (the file row is not touched).
pub async fn insert_open(db: &impl ConnectionTrait, u: &Upload) -> Result<(), DbErr> {
    uploads::Entity::insert(new_row(u, Utc::now()))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn set_multipart_id(
    db: &impl ConnectionTrait,
    id: Uuid,
    upload_id: &str,
) -> Result<(), DbErr> {
    uploads::Entity::update_many()
        .col_expr(uploads::Column::MultipartUploadId, Expr::value(upload_id))
        .col_expr(uploads::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(uploads::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Open uploads whose expiry has passed, oldest first.
pub async fn expired_open(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<Upload>, DbErr> {
    use sea_orm::QueryOrder;
    Ok(uploads::Entity::find()
        .filter(uploads::Column::State.eq(UploadState::Open))
        .filter(uploads::Column::ExpiresAt.lt(now))
        .order_by_asc(uploads::Column::ExpiresAt)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Upload::from)
        .collect())
}

/// Aborts the open uploads of the pending files in `root`'s subtree (see
/// [`files::SUBTREE_CTE`]); returns exactly the uploads this statement aborted.
pub async fn abort_open_under(
    db: &impl ConnectionTrait,
    owner: Uuid,
    root: Uuid,
) -> Result<Vec<Upload>, DbErr> {
    let sql = format!(
        "{} UPDATE uploads SET state = $3, updated_at = $4 \
         WHERE state = $5 AND file_id IN (SELECT id FROM sub) RETURNING *",
        files::SUBTREE_CTE
    );
    let values = [
        root.into(),
        owner.into(),
        UploadState::Aborted.into(),
        Utc::now().into(),
        UploadState::Open.into(),
    ];
    let stmt = crate::db::statement(db.get_database_backend(), &sql, values);
    Ok(uploads::Entity::find()
        .from_raw_sql(stmt)
        .all(db)
        .await?
        .into_iter()
        .map(Upload::from)
        .collect())
}

/// Moves an open upload to `to`; true for exactly one caller.
pub async fn close(db: &impl ConnectionTrait, id: Uuid, to: UploadState) -> Result<bool, DbErr> {
    let res = uploads::Entity::update_many()
        .col_expr(uploads::Column::State, Expr::value(to))
        .col_expr(uploads::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(uploads::Column::Id.eq(id))
        .filter(uploads::Column::State.eq(UploadState::Open))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Moves those of `ids` still open to `to`; how many it moved.
pub async fn close_many(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    to: UploadState,
) -> Result<u64, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    let res = uploads::Entity::update_many()
        .col_expr(uploads::Column::State, Expr::value(to))
        .col_expr(uploads::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(uploads::Column::Id.is_in(ids.iter().copied()))
        .filter(uploads::Column::State.eq(UploadState::Open))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Keys of open uploads (objects that may legitimately exist without an active file).
pub async fn open_keys(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    Ok(uploads::Entity::find()
        .filter(uploads::Column::State.eq(UploadState::Open))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.object_key)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_since_a_time_sort_after_its_least_id() {
        let before = Uuid::now_v7();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let since = Utc::now();
        let bound = crate::db::least_id_at(since);
        let after = Uuid::now_v7();
        assert!(before < bound, "an id made before is below");
        assert!(after > bound, "an id made since is above");
        // Stored as text on SQLite: the hyphenated form sorts the same way.
        assert!(before.to_string() < bound.to_string() && after.to_string() > bound.to_string());
        assert_eq!(
            crate::db::least_id_at(since - chrono::Duration::days(100_000)).get_version_num(),
            7
        );
    }
}
