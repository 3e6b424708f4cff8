//! The only files code that touches sea-orm.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};
use uuid::Uuid;

use crate::entity::shares::Permission;
use crate::entity::{files, shares};

pub use crate::entity::files::{FileKind, FileState};

/// A file or folder as the rest of the code sees one.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub kind: FileKind,
    pub size: i64,
    pub content_type: Option<String>,
    pub object_key: Option<String>,
    pub etag: Option<String>,
    pub state: FileState,
    pub tier: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The SHA-256 its uploader declared (base64), which the store verified.
    pub checksum_sha256: Option<String>,
    /// When its cloud copy was last verified.
    pub synced_at: Option<DateTime<Utc>>,
}

impl Node {
    pub fn is_folder(&self) -> bool {
        self.kind == FileKind::Folder
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
            checksum_sha256: m.checksum_sha256,
            synced_at: m.synced_at,
        }
    }
}

/// A folder's child as a listing shows it: the columns the API returns, no more (a
/// page reads and decodes every column of up to a thousand rows).
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub kind: FileKind,
    pub size: i64,
    pub content_type: Option<String>,
    pub state: FileState,
    pub etag: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub checksum_sha256: Option<String>,
    /// `primary`, or `cloud` once the primary copy was released.
    pub tier: String,
    pub synced_at: Option<DateTime<Utc>>,
}

/// The listed part of a full row.
impl From<Node> for Entry {
    fn from(n: Node) -> Entry {
        Entry {
            id: n.id,
            parent_id: n.parent_id,
            name: n.name,
            kind: n.kind,
            size: n.size,
            content_type: n.content_type,
            state: n.state,
            etag: n.etag,
            created_at: n.created_at,
            updated_at: n.updated_at,
            checksum_sha256: n.checksum_sha256,
            tier: n.tier,
            synced_at: n.synced_at,
        }
    }
}

/// The columns of an [`Entry`], in the order its rows are read.
const ENTRY_COLUMNS: &str = "id, parent_id, name, kind, size, content_type, state, etag, \
     created_at, updated_at, checksum_sha256, tier, synced_at";

/// Read by position: by name, every value costs a column lookup by string, which was a
/// quarter of a listing's time.
impl sea_orm::FromQueryResult for Entry {
    fn from_query_result(row: &sea_orm::QueryResult, _: &str) -> Result<Entry, DbErr> {
        Ok(Entry {
            id: row.try_get_by_index(0)?,
            parent_id: row.try_get_by_index(1)?,
            name: row.try_get_by_index(2)?,
            kind: row.try_get_by_index(3)?,
            size: row.try_get_by_index(4)?,
            content_type: row.try_get_by_index(5)?,
            state: row.try_get_by_index(6)?,
            etag: row.try_get_by_index(7)?,
            created_at: row.try_get_by_index(8)?,
            updated_at: row.try_get_by_index(9)?,
            checksum_sha256: row.try_get_by_index(10)?,
            tier: row.try_get_by_index(11)?,
            synced_at: row.try_get_by_index(12)?,
        })
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
    pub kind: FileKind,
    pub size: i64,
    pub content_type: Option<&'a str>,
    pub object_key: Option<&'a str>,
    pub etag: Option<&'a str>,
    pub state: FileState,
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// `Ok(None)` when the name is taken in that folder.
pub async fn insert(db: &impl ConnectionTrait, new: NewNode<'_>) -> Result<Option<Node>, DbErr> {
    let now = Utc::now();
    let model = files::ActiveModel {
        id: Set(Uuid::now_v7()),
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
        checksum_sha256: Set(None),
    };
    match model.insert(db).await {
        Ok(m) => Ok(Some(m.into())),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A node of anyone: callers decide access (see `crate::files::access`).
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
    kind: FileKind,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<Entry>, DbErr> {
    use files::Column as C;
    let mut q = files::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::ParentId,
            C::Name,
            C::Kind,
            C::Size,
            C::ContentType,
            C::State,
            C::Etag,
            C::CreatedAt,
            C::UpdatedAt,
            C::ChecksumSha256,
            C::Tier,
            C::SyncedAt,
        ])
        .filter(C::OwnerId.eq(owner))
        .filter(C::ParentKey.eq(parent_key(owner, parent)))
        // The kind as a literal, not a parameter: PostgreSQL plans a prepared statement
        // once for all values after a few runs, and that generic plan, not knowing
        // which kind, walks the whole folder by name to find its (few) subfolders.
        .filter(Expr::col(C::Kind).eq(Expr::cust(match kind {
            FileKind::Folder => "'folder'",
            FileKind::File => "'file'",
        })));
    if let Some(name) = after {
        q = q.filter(C::Name.gt(name));
    }
    q.order_by_asc(C::Name)
        .limit(limit)
        .into_model::<Entry>()
        .all(db)
        .await
}

/// The first page of a folder from `folders_after` on: its subfolders after that name,
/// then its files from the first, at most `limit` of each, in one round trip.
pub async fn list_from_folders(
    db: &impl ConnectionTrait,
    owner: Uuid,
    parent: Option<Uuid>,
    folders_after: Option<&str>,
    limit: u64,
) -> Result<Vec<Entry>, DbErr> {
    // Each part sorted and limited in a subquery (SQLite allows neither in a compound
    // select's members); the kinds are literals, for the reason `list_kind` gives.
    // No ORDER BY over the whole: both engines return a UNION ALL's members one after
    // the other, each in its own order, and sorting them again was a sixth of
    // PostgreSQL's time for a page (the rows copied into a sort, then sorted); the
    // folders are put first below, which keeps each kind's order.
    let sql = format!(
        "SELECT * FROM (SELECT {ENTRY_COLUMNS} FROM files \
           WHERE owner_id = $1 AND parent_key = $2 AND kind = 'folder' AND name > $3 \
           ORDER BY name LIMIT $4) AS folders \
         UNION ALL \
         SELECT * FROM (SELECT {ENTRY_COLUMNS} FROM files \
           WHERE owner_id = $1 AND parent_key = $2 AND kind = 'file' \
           ORDER BY name LIMIT $4) AS files"
    );
    let values = [
        owner.into(),
        parent_key(owner, parent).into(),
        // Every name sorts after the empty string.
        folders_after.unwrap_or("").into(),
        (limit as i64).into(),
    ];
    let stmt = crate::db::statement(db.get_database_backend(), &sql, values);
    let mut rows = <Entry as sea_orm::FromQueryResult>::find_by_statement(stmt)
        .all(db)
        .await?;
    // Stable: each kind keeps the order its member returned it in.
    rows.sort_by_key(|e| e.kind != FileKind::Folder);
    Ok(rows)
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
    checksum_sha256: Option<&str>,
) -> Result<bool, DbErr> {
    let mut update = files::Entity::update_many()
        .col_expr(files::Column::State, Expr::value(FileState::Active))
        .col_expr(files::Column::Size, Expr::value(size))
        .col_expr(files::Column::Etag, Expr::value(etag.map(str::to_owned)))
        .col_expr(files::Column::UpdatedAt, Expr::value(Utc::now()));
    if let Some(c) = checksum_sha256 {
        update = update.col_expr(files::Column::ChecksumSha256, Expr::value(c.to_owned()));
    }
    let res = update
        .filter(files::Column::Id.eq(id))
        .filter(files::Column::State.eq(FileState::Pending))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// `root` (a node of `owner`) and every node below it.
pub async fn subtree(
    db: &impl ConnectionTrait,
    owner: Uuid,
    root: Uuid,
) -> Result<Vec<Node>, DbErr> {
    Ok(subtree_rows(db, owner, root)
        .await?
        .into_iter()
        .map(Node::from)
        .collect())
}

/// [`subtree`], as whole rows.
pub async fn subtree_rows(
    db: &impl ConnectionTrait,
    owner: Uuid,
    root: Uuid,
) -> Result<Vec<files::Model>, DbErr> {
    let sql = format!("{SUBTREE_CTE} SELECT * FROM files WHERE id IN (SELECT id FROM sub)");
    let stmt = crate::db::statement(db.get_database_backend(), &sql, [root.into(), owner.into()]);
    files::Entity::find().from_raw_sql(stmt).all(db).await
}

/// Gives an active file new content: its object, size and ETag. Returns the file as it
/// was (with the old object's key), or `None` when it is no longer an active file.
pub async fn replace_content(
    db: &impl ConnectionTrait,
    id: Uuid,
    object_key: &str,
    size: i64,
    etag: Option<&str>,
) -> Result<Option<Node>, DbErr> {
    let Some(old) = find(db, id).await? else {
        return Ok(None);
    };
    if old.is_folder() || old.state != FileState::Active {
        return Ok(None);
    }
    let res = files::Entity::update_many()
        .col_expr(files::Column::ObjectKey, Expr::value(object_key))
        .col_expr(files::Column::Size, Expr::value(size))
        .col_expr(files::Column::Etag, Expr::value(etag.map(str::to_owned)))
        // New content whose SHA-256 nobody declared.
        .col_expr(files::Column::ChecksumSha256, Expr::value(None::<String>))
        .col_expr(files::Column::UpdatedAt, Expr::value(Utc::now()))
        // The new bytes are on the primary store only; the old copies are purged with
        // the old key (in every store).
        .col_expr(files::Column::Tier, Expr::value("primary"))
        .col_expr(files::Column::SyncedAt, Expr::value(None::<DateTime<Utc>>))
        .filter(files::Column::Id.eq(id))
        .filter(files::Column::State.eq(FileState::Active))
        .exec(db)
        .await?;
    if res.rows_affected == 1 {
        crate::entity::file_copies::Entity::delete_many()
            .filter(crate::entity::file_copies::Column::FileId.eq(id))
            .exec(db)
            .await?;
    }
    Ok((res.rows_affected == 1).then_some(old))
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
    for only in [Some(FileKind::File), None] {
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
        .filter(files::Column::State.eq(FileState::Pending))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Every (node, permission) `owner` has shared with `grantee`.
pub async fn grants(
    db: &impl ConnectionTrait,
    owner: Uuid,
    grantee: Uuid,
) -> Result<Vec<(Uuid, Permission)>, DbErr> {
    Ok(shares::Entity::find()
        .filter(shares::Column::OwnerId.eq(owner))
        .filter(shares::Column::GranteeId.eq(grantee))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.file_id, s.permission))
        .collect())
}

/// Every object key a file row points at, with the row's state (for the storage check).
pub async fn object_keys(db: &impl ConnectionTrait) -> Result<Vec<(String, FileState)>, DbErr> {
    Ok(files::Entity::find()
        .filter(files::Column::ObjectKey.is_not_null())
        .all(db)
        .await?
        .into_iter()
        // A file whose primary copy was released has no object on the primary store.
        .filter_map(|f| Some((f.object_key?, (f.tier != "cloud").then_some(f.state)?)))
        .collect())
}
