//! The only files code that touches sea-orm.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};
use uuid::Uuid;

use crate::entity::files;

pub const KIND_FILE: &str = "file";
pub const KIND_FOLDER: &str = "folder";
pub const STATE_PENDING: &str = "pending";
pub const STATE_ACTIVE: &str = "active";

/// A file or folder as the rest of the code sees one.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub kind: String,
    pub size: i64,
    pub content_type: Option<String>,
    pub object_key: Option<String>,
    pub etag: Option<String>,
    pub state: String,
    pub tier: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Node {
    pub fn is_folder(&self) -> bool {
        self.kind == KIND_FOLDER
    }
}

impl From<files::Model> for Node {
    fn from(m: files::Model) -> Node {
        Node {
            id: m.id,
            owner_id: m.owner_id,
            parent_id: m.parent_id,
            name: m.name,
            kind: m.kind,
            size: m.size,
            content_type: m.content_type,
            object_key: m.object_key,
            etag: m.etag,
            state: m.state,
            tier: m.tier,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// The key that makes (owner, parent, name) unique at the root too.
pub fn parent_key(owner: Uuid, parent: Option<Uuid>) -> Uuid {
    parent.unwrap_or(owner)
}

pub struct NewNode<'a> {
    pub owner_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: &'a str,
    pub kind: &'a str,
    pub size: i64,
    pub content_type: Option<&'a str>,
    pub object_key: Option<&'a str>,
    pub etag: Option<&'a str>,
    pub state: &'a str,
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// `Ok(None)` when the name is taken in that folder.
pub async fn insert(db: &impl ConnectionTrait, new: NewNode<'_>) -> Result<Option<Node>, DbErr> {
    let now = Utc::now();
    let model = files::ActiveModel {
        id: Set(Uuid::new_v4()),
        owner_id: Set(new.owner_id),
        parent_id: Set(new.parent_id),
        parent_key: Set(parent_key(new.owner_id, new.parent_id)),
        name: Set(new.name.to_owned()),
        kind: Set(new.kind.to_owned()),
        size: Set(new.size),
        content_type: Set(new.content_type.map(str::to_owned)),
        object_key: Set(new.object_key.map(str::to_owned)),
        etag: Set(new.etag.map(str::to_owned)),
        state: Set(new.state.to_owned()),
        tier: Set("primary".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        synced_at: Set(None),
    };
    match model.insert(db).await {
        Ok(m) => Ok(Some(m.into())),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A node of anyone: callers decide access (see `crate::sharing::access`).
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<Node>, DbErr> {
    Ok(files::Entity::find_by_id(id).one(db).await?.map(Node::from))
}

/// Nodes of anyone by id, in no particular order (missing ids are skipped).
pub async fn find_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Node>, DbErr> {
    Ok(files::Entity::find()
        .filter(files::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(Node::from)
        .collect())
}

/// A node of `owner`; another owner's id is indistinguishable from a missing one.
pub async fn find_owned(
    db: &impl ConnectionTrait,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<Node>, DbErr> {
    Ok(files::Entity::find_by_id(id)
        .filter(files::Column::OwnerId.eq(owner))
        .one(db)
        .await?
        .map(Node::from))
}

pub async fn find_by_name(
    db: &impl ConnectionTrait,
    owner: Uuid,
    parent: Option<Uuid>,
    name: &str,
) -> Result<Option<Node>, DbErr> {
    Ok(files::Entity::find()
        .filter(files::Column::OwnerId.eq(owner))
        .filter(files::Column::ParentKey.eq(parent_key(owner, parent)))
        .filter(files::Column::Name.eq(name))
        .one(db)
        .await?
        .map(Node::from))
}

/// One kind of child of a folder, by name, after `after` (keyset).
pub async fn list_kind(
    db: &impl ConnectionTrait,
    owner: Uuid,
    parent: Option<Uuid>,
    kind: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Node>, DbErr> {
    let mut q = files::Entity::find()
        .filter(files::Column::OwnerId.eq(owner))
        .filter(files::Column::ParentKey.eq(parent_key(owner, parent)))
        .filter(files::Column::Kind.eq(kind));
    if let Some(name) = after {
        q = q.filter(files::Column::Name.gt(name));
    }
    Ok(q.order_by_asc(files::Column::Name)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(Node::from)
        .collect())
}

/// All children of any of `parents` (one level).
pub async fn children_of(
    db: &impl ConnectionTrait,
    owner: Uuid,
    parents: &[Uuid],
) -> Result<Vec<Node>, DbErr> {
    Ok(files::Entity::find()
        .filter(files::Column::OwnerId.eq(owner))
        .filter(files::Column::ParentId.is_in(parents.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(Node::from)
        .collect())
}

/// Renames and/or moves; `Ok(false)` when the name is taken at the destination.
pub async fn rename_move(
    db: &impl ConnectionTrait,
    node: &Node,
    name: &str,
    parent: Option<Uuid>,
) -> Result<bool, DbErr> {
    let res = files::Entity::update_many()
        .col_expr(files::Column::Name, Expr::value(name))
        .col_expr(files::Column::ParentId, Expr::value(parent))
        .col_expr(
            files::Column::ParentKey,
            Expr::value(parent_key(node.owner_id, parent)),
        )
        .col_expr(files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(files::Column::Id.eq(node.id))
        .exec(db)
        .await;
    match res {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Marks a pending file active with the size and etag the store reported; false when
/// it is gone or not pending.
pub async fn activate(
    db: &impl ConnectionTrait,
    id: Uuid,
    size: i64,
    etag: Option<&str>,
) -> Result<bool, DbErr> {
    let res = files::Entity::update_many()
        .col_expr(files::Column::State, Expr::value(STATE_ACTIVE))
        .col_expr(files::Column::Size, Expr::value(size))
        .col_expr(files::Column::Etag, Expr::value(etag.map(str::to_owned)))
        .col_expr(files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(files::Column::Id.eq(id))
        .filter(files::Column::State.eq(STATE_PENDING))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// `root` (a node of `owner`) and everything below it, as a recursive CTE named `sub`
/// over the parameters `$1` (root) and `$2` (owner). `UNION`, not `UNION ALL`, so even
/// a corrupt cycle ends.
pub const SUBTREE_CTE: &str = "WITH RECURSIVE sub(id) AS (
    SELECT id FROM files WHERE id = $1 AND owner_id = $2
    UNION
    SELECT f.id FROM files f JOIN sub ON f.parent_id = sub.id
)";

/// Deletes `root` and everything below it; returns exactly the rows these statements
/// deleted. Files go first: SQLite runs a foreign key's cascade row by row, so a file
/// removed by its folder's cascade would be deleted but not returned. Folders carry no
/// usage, so those the cascade takes need no accounting. The caller holds the owner's
/// lock, so no child appears meanwhile that a cascade would take along unaccounted.
pub async fn delete_subtree(
    db: &impl ConnectionTrait,
    owner: Uuid,
    root: Uuid,
) -> Result<Vec<Node>, DbErr> {
    let mut deleted = Vec::new();
    for only in [Some(KIND_FILE), None] {
        let kind = only.map_or(String::new(), |k| format!("kind = '{k}' AND "));
        let sql = format!(
            "{SUBTREE_CTE} DELETE FROM files WHERE {kind}id IN (SELECT id FROM sub) RETURNING *"
        );
        let stmt =
            crate::db::statement(db.get_database_backend(), &sql, [root.into(), owner.into()]);
        let rows = files::Entity::find().from_raw_sql(stmt).all(db).await?;
        deleted.extend(rows.into_iter().map(Node::from));
    }
    Ok(deleted)
}

/// Deletes a pending file (an aborted upload's); false when it is gone or not pending.
pub async fn delete_pending(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    let res = files::Entity::delete_many()
        .filter(files::Column::Id.eq(id))
        .filter(files::Column::State.eq(STATE_PENDING))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Active file bytes and count per owner, for the usage check.
pub async fn usage_by_owner(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, i64, i64)>, DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(FromQueryResult)]
    struct Row {
        owner_id: Uuid,
        bytes: Option<i64>,
        objects: i64,
    }
    let rows = files::Entity::find()
        .select_only()
        .column(files::Column::OwnerId)
        .column_as(files::Column::Size.sum().cast_as("BIGINT"), "bytes")
        .column_as(files::Column::Id.count(), "objects")
        .filter(files::Column::Kind.eq(KIND_FILE))
        .filter(files::Column::State.eq(STATE_ACTIVE))
        .group_by(files::Column::OwnerId)
        .into_model::<Row>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.owner_id, r.bytes.unwrap_or(0), r.objects))
        .collect())
}

/// Every object key a file row points at, with the row's state (for the storage check).
pub async fn object_keys(db: &impl ConnectionTrait) -> Result<Vec<(String, String)>, DbErr> {
    Ok(files::Entity::find()
        .filter(files::Column::ObjectKey.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(|f| Some((f.object_key?, f.state)))
        .collect())
}
