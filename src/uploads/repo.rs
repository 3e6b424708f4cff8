//! The only uploads code that touches sea-orm. An open upload is a quota reservation.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, QuerySelect, Set, SqlErr, Statement,
};
use uuid::Uuid;

use crate::db::WriteGate;
use crate::entity::uploads;
use crate::files::repo::{self as files, NewNode, Node};
use crate::quotas::repo as quotas;

pub const OPEN: &str = "open";
pub const COMPLETED: &str = "completed";
pub const ABORTED: &str = "aborted";

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
    pub state: String,
    /// Who started it when that is not `user_id`, the owner billed for it.
    pub created_by: Option<Uuid>,
}

impl Upload {
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
        }
    }
}

pub struct NewUpload<'a> {
    pub user_id: Uuid,
    pub file_id: Uuid,
    pub object_key: &'a str,
    pub declared_size: i64,
    pub content_type: &'a str,
    pub part_size: Option<i64>,
    pub part_count: i32,
    pub expires_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewUpload<'_>) -> Result<Upload, DbErr> {
    let now = Utc::now();
    Ok(uploads::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(new.user_id),
        file_id: Set(Some(new.file_id)),
        object_key: Set(new.object_key.to_owned()),
        declared_size: Set(new.declared_size),
        content_type: Set(new.content_type.to_owned()),
        multipart_upload_id: Set(None),
        part_size: Set(new.part_size),
        part_count: Set(new.part_count),
        expires_at: Set(new.expires_at),
        state: Set(OPEN.to_owned()),
        created_by: Set(new.created_by),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?
    .into())
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

pub async fn find_open_for_file(
    db: &impl ConnectionTrait,
    file_id: Uuid,
) -> Result<Option<Upload>, DbErr> {
    Ok(uploads::Entity::find()
        .filter(uploads::Column::FileId.eq(file_id))
        .filter(uploads::Column::State.eq(OPEN))
        .one(db)
        .await?
        .map(Upload::from))
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
        .filter(uploads::Column::State.eq(OPEN))
        .filter(uploads::Column::ExpiresAt.lt(now))
        .order_by_asc(uploads::Column::ExpiresAt)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Upload::from)
        .collect())
}

/// Moves an open upload to `to`; true for exactly one caller.
pub async fn close(db: &impl ConnectionTrait, id: Uuid, to: &str) -> Result<bool, DbErr> {
    let res = uploads::Entity::update_many()
        .col_expr(uploads::Column::State, Expr::value(to))
        .col_expr(uploads::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(uploads::Column::Id.eq(id))
        .filter(uploads::Column::State.eq(OPEN))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Open reservations per user (bytes, count), for the usage check.
pub async fn reserved_by_user(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, i64, i64)>, DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(FromQueryResult)]
    struct Row {
        user_id: Uuid,
        bytes: Option<i64>,
        uploads: i64,
    }
    let rows = uploads::Entity::find()
        .select_only()
        .column(uploads::Column::UserId)
        .column_as(
            uploads::Column::DeclaredSize.sum().cast_as("BIGINT"),
            "bytes",
        )
        .column_as(uploads::Column::Id.count(), "uploads")
        .filter(uploads::Column::State.eq(OPEN))
        .group_by(uploads::Column::UserId)
        .into_model::<Row>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.user_id, r.bytes.unwrap_or(0), r.uploads))
        .collect())
}

/// What creating a reserved upload came to.
#[allow(clippy::large_enum_variant)] // a short-lived return value
pub enum Reserved {
    Created(Node, Upload),
    NameTaken,
    QuotaExceeded,
}

/// Records a pending file and its open upload and reserves their quota, atomically.
///
/// PostgreSQL does it in one statement (data-modifying CTEs), so the user's quota row —
/// which every start of that user contends for — is locked for one statement instead of
/// several round trips. SQLite, which has no data-modifying CTEs, runs a transaction
/// behind the write gate, touching the quota row last.
pub async fn create_reserved(
    db: &DatabaseConnection,
    gate: &WriteGate,
    file: NewNode<'_>,
    upload: NewUpload<'_>,
) -> Result<Reserved, DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        return create_reserved_pg(db, file, upload).await;
    }
    let txn = gate.begin(db).await?;
    let Some(node) = files::insert(&*txn, file).await? else {
        txn.rollback().await?;
        return Ok(Reserved::NameTaken);
    };
    let created = insert(
        &*txn,
        NewUpload {
            file_id: node.id,
            ..upload
        },
    )
    .await?;
    if !quotas::reserve(&*txn, created.user_id, created.declared_size).await? {
        txn.rollback().await?;
        return Ok(Reserved::QuotaExceeded);
    }
    txn.commit().await?;
    Ok(Reserved::Created(node, created))
}

const CREATE_RESERVED_PG: &str = r#"
WITH q AS (
    UPDATE users
    SET reserved_bytes = reserved_bytes + $1, reserved_objects = reserved_objects + 1
    WHERE id = $2
      AND used_bytes + reserved_bytes + $1 <= quota_bytes
      AND used_objects + reserved_objects + 1 <= quota_objects
    RETURNING id
), f AS (
    INSERT INTO files (id, owner_id, parent_id, parent_key, name, kind, size, content_type,
                       object_key, etag, state, tier, created_at, updated_at, synced_at)
    SELECT $3, $2, $4, $5, $6, $7, $1, $8, $9, NULL, $10, 'primary', $11, $11, NULL FROM q
    RETURNING id
)
INSERT INTO uploads (id, user_id, file_id, object_key, declared_size, content_type,
                     multipart_upload_id, part_size, part_count, expires_at, state,
                     created_at, updated_at, created_by)
SELECT $12, $2, f.id, $9, $1, $8, NULL, $13, $14, $15, $16, $11, $11, $17 FROM f
"#;

async fn create_reserved_pg(
    db: &DatabaseConnection,
    file: NewNode<'_>,
    upload: NewUpload<'_>,
) -> Result<Reserved, DbErr> {
    let now = Utc::now();
    let (file_id, upload_id) = (Uuid::new_v4(), Uuid::new_v4());
    let parent_key = files::parent_key(file.owner_id, file.parent_id);
    let values: Vec<sea_orm::Value> = vec![
        upload.declared_size.into(),
        file.owner_id.into(),
        file_id.into(),
        file.parent_id.into(),
        parent_key.into(),
        file.name.into(),
        file.kind.into(),
        upload.content_type.into(),
        upload.object_key.into(),
        file.state.into(),
        now.into(),
        upload_id.into(),
        upload.part_size.into(),
        upload.part_count.into(),
        upload.expires_at.into(),
        OPEN.into(),
        upload.created_by.into(),
    ];
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, CREATE_RESERVED_PG, values);
    let res = match db.execute_raw(stmt).await {
        Ok(res) => res,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Ok(Reserved::NameTaken)
        }
        Err(e) => return Err(e),
    };
    if res.rows_affected() == 0 {
        return Ok(Reserved::QuotaExceeded);
    }
    let node = Node {
        id: file_id,
        owner_id: file.owner_id,
        parent_id: file.parent_id,
        name: file.name.to_owned(),
        kind: file.kind.to_owned(),
        size: file.size,
        content_type: file.content_type.map(str::to_owned),
        object_key: file.object_key.map(str::to_owned),
        etag: None,
        state: file.state.to_owned(),
        tier: "primary".to_owned(),
        created_at: now,
        updated_at: now,
    };
    let created = Upload {
        id: upload_id,
        user_id: upload.user_id,
        file_id: Some(file_id),
        object_key: upload.object_key.to_owned(),
        declared_size: upload.declared_size,
        content_type: upload.content_type.to_owned(),
        multipart_upload_id: None,
        part_size: upload.part_size,
        part_count: upload.part_count,
        expires_at: upload.expires_at,
        state: OPEN.to_owned(),
        created_by: upload.created_by,
    };
    Ok(Reserved::Created(node, created))
}

/// Keys of open uploads (objects that may legitimately exist without an active file).
pub async fn open_keys(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    Ok(uploads::Entity::find()
        .filter(uploads::Column::State.eq(OPEN))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.object_key)
        .collect())
}
