//! The only uploads code that touches sea-orm. An open upload is a quota reservation.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    Set,
};
use uuid::Uuid;

use crate::entity::uploads;

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
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?
    .into())
}

/// An upload of `user`; another user's id is indistinguishable from a missing one.
pub async fn find_owned(
    db: &impl ConnectionTrait,
    user: Uuid,
    id: Uuid,
) -> Result<Option<Upload>, DbErr> {
    Ok(uploads::Entity::find_by_id(id)
        .filter(uploads::Column::UserId.eq(user))
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
