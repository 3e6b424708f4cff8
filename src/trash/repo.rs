//! The SQL of the trash: keeping a deleted subtree's rows, putting them back, purging.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel as _,
    PaginatorTrait as _, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::entity::{
    file_copies, files, job_files, jobs, share_links, shares, trash_items, trash_rows, users,
};

/// What a subtree's rows take along when they are deleted (by the foreign keys'
/// cascades), read before the delete.
#[derive(Debug, Default)]
pub struct Dependents {
    pub shares: Vec<shares::Model>,
    pub links: Vec<share_links::Model>,
    pub job_files: Vec<job_files::Model>,
    pub copies: Vec<file_copies::Model>,
    /// (job, folder): jobs whose outputs folder is in the subtree.
    pub job_folders: Vec<(Uuid, Uuid)>,
}

/// The rows that refer to any of `ids`.
pub async fn dependents(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Dependents, DbErr> {
    let mut d = Dependents::default();
    for chunk in ids.chunks(500) {
        let chunk = chunk.to_vec();
        d.shares.extend(
            shares::Entity::find()
                .filter(shares::Column::FileId.is_in(chunk.clone()))
                .all(db)
                .await?,
        );
        d.links.extend(
            share_links::Entity::find()
                .filter(share_links::Column::FileId.is_in(chunk.clone()))
                .all(db)
                .await?,
        );
        d.job_files.extend(
            job_files::Entity::find()
                .filter(job_files::Column::FileId.is_in(chunk.clone()))
                .all(db)
                .await?,
        );
        d.copies.extend(
            file_copies::Entity::find()
                .filter(file_copies::Column::FileId.is_in(chunk.clone()))
                .all(db)
                .await?,
        );
        let folders: Vec<(Uuid, Option<Uuid>)> = jobs::Entity::find()
            .select_only()
            .columns([jobs::Column::Id, jobs::Column::FolderId])
            .filter(jobs::Column::FolderId.is_in(chunk))
            .into_tuple()
            .all(db)
            .await?;
        d.job_folders
            .extend(folders.into_iter().filter_map(|(j, f)| Some((j, f?))));
    }
    Ok(d)
}

fn json<T: Serialize>(value: &T) -> Result<String, DbErr> {
    serde_json::to_string(value).map_err(|e| DbErr::Json(e.to_string()))
}

fn parse<T: DeserializeOwned>(row: &trash_rows::Model) -> Result<T, DbErr> {
    serde_json::from_str(&row.data).map_err(|e| DbErr::Json(e.to_string()))
}

/// Inserts the trash item and the rows it keeps.
pub async fn stash(
    db: &impl ConnectionTrait,
    item: trash_items::Model,
    kept: &[files::Model],
    taken: &Dependents,
) -> Result<(), DbErr> {
    let id = item.id;
    trash_items::Entity::insert(item.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    let mut rows: Vec<(&str, String, Option<String>)> = Vec::new();
    for f in kept {
        rows.push(("file", json(f)?, f.object_key.clone()));
    }
    for s in &taken.shares {
        rows.push(("share", json(s)?, None));
    }
    for l in &taken.links {
        rows.push(("link", json(l)?, None));
    }
    for j in &taken.job_files {
        rows.push(("job_file", json(j)?, None));
    }
    for c in &taken.copies {
        rows.push(("copy", json(c)?, None));
    }
    for pair in &taken.job_folders {
        rows.push(("job_folder", json(pair)?, None));
    }
    let mut seq = 0i32;
    for chunk in rows.chunks(200) {
        let models = chunk.iter().map(|(kind, data, key)| {
            seq += 1;
            trash_rows::ActiveModel {
                item_id: Set(id),
                seq: Set(seq),
                kind: Set((*kind).to_owned()),
                data: Set(data.clone()),
                object_key: Set(key.clone()),
            }
        });
        trash_rows::Entity::insert_many(models.collect::<Vec<_>>())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// A page of `owner`'s trash, newest first, after `after` (trashed at, id).
pub async fn items(
    db: &impl ConnectionTrait,
    owner: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<trash_items::Model>, DbErr> {
    use trash_items::Column as C;
    let mut q = trash_items::Entity::find().filter(C::OwnerId.eq(owner));
    if let Some((at, id)) = after {
        q = q.filter(
            sea_orm::Condition::any().add(C::TrashedAt.lt(at)).add(
                sea_orm::Condition::all()
                    .add(C::TrashedAt.eq(at))
                    .add(C::Id.lt(id)),
            ),
        );
    }
    q.order_by_desc(C::TrashedAt)
        .order_by_desc(C::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn item(
    db: &impl ConnectionTrait,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<trash_items::Model>, DbErr> {
    trash_items::Entity::find_by_id(id)
        .filter(trash_items::Column::OwnerId.eq(owner))
        .one(db)
        .await
}

/// The ids of every item in `owner`'s trash.
pub async fn item_ids(db: &impl ConnectionTrait, owner: Uuid) -> Result<Vec<Uuid>, DbErr> {
    trash_items::Entity::find()
        .select_only()
        .column(trash_items::Column::Id)
        .filter(trash_items::Column::OwnerId.eq(owner))
        .into_tuple()
        .all(db)
        .await
}

/// Items whose retention ended before `now`: (id, owner).
pub async fn expired(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid)>, DbErr> {
    trash_items::Entity::find()
        .select_only()
        .columns([trash_items::Column::Id, trash_items::Column::OwnerId])
        .filter(trash_items::Column::ExpiresAt.lte(now))
        .order_by_asc(trash_items::Column::ExpiresAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// The object keys an item keeps.
pub async fn keys(db: &impl ConnectionTrait, item: Uuid) -> Result<Vec<String>, DbErr> {
    let keys: Vec<Option<String>> = trash_rows::Entity::find()
        .select_only()
        .column(trash_rows::Column::ObjectKey)
        .filter(trash_rows::Column::ItemId.eq(item))
        .filter(trash_rows::Column::ObjectKey.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(keys.into_iter().flatten().collect())
}

/// Every object key the trash keeps (the storage check).
pub async fn all_keys(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    let keys: Vec<Option<String>> = trash_rows::Entity::find()
        .select_only()
        .column(trash_rows::Column::ObjectKey)
        .filter(trash_rows::Column::ObjectKey.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(keys.into_iter().flatten().collect())
}

/// Removes an item and its rows; false when it was gone already.
pub async fn remove(db: &impl ConnectionTrait, item: Uuid) -> Result<bool, DbErr> {
    let res = trash_items::Entity::delete_by_id(item).exec(db).await?;
    Ok(res.rows_affected == 1)
}

/// Whether `owner` has a node named `name` in `parent`.
async fn name_taken(
    db: &impl ConnectionTrait,
    owner: Uuid,
    parent: Option<Uuid>,
    name: &str,
) -> Result<bool, DbErr> {
    Ok(files::Entity::find()
        .filter(files::Column::OwnerId.eq(owner))
        .filter(files::Column::ParentKey.eq(crate::files::repo::parent_key(owner, parent)))
        .filter(files::Column::Name.eq(name))
        .count(db)
        .await?
        > 0)
}

/// `name` with ` (n)` before its extension (files) or at its end (folders).
pub fn suffixed(name: &str, n: u32, folder: bool) -> String {
    match name.rfind('.').filter(|&i| i > 0 && !folder) {
        Some(dot) => format!("{} ({n}){}", &name[..dot], &name[dot..]),
        None => format!("{name} ({n})"),
    }
}

/// The first free name among `name`, `name (1)`, `name (2)`, ...
async fn free_name(
    db: &impl ConnectionTrait,
    owner: Uuid,
    parent: Option<Uuid>,
    name: &str,
    folder: bool,
) -> Result<String, DbErr> {
    if !name_taken(db, owner, parent, name).await? {
        return Ok(name.to_owned());
    }
    for n in 1..1000 {
        let candidate = suffixed(name, n, folder);
        if !name_taken(db, owner, parent, &candidate).await? {
            return Ok(candidate);
        }
    }
    Ok(suffixed(name, rand::random::<u32>(), folder))
}

/// Puts an item's rows back (in the caller's transaction, under the owner's lock):
/// into its old folder when that still exists, else at the root, under a free name.
/// Returns the restored root's id.
pub async fn restore(db: &impl ConnectionTrait, item: &trash_items::Model) -> Result<Uuid, DbErr> {
    let owner = item.owner_id;
    let rows = trash_rows::Entity::find()
        .filter(trash_rows::Column::ItemId.eq(item.id))
        .order_by_asc(trash_rows::Column::Seq)
        .all(db)
        .await?;
    let mut nodes: Vec<files::Model> = Vec::new();
    let (mut share_rows, mut link_rows, mut job_file_rows, mut copy_rows, mut job_folders) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in &rows {
        match row.kind.as_str() {
            "file" => nodes.push(parse(row)?),
            "share" => share_rows.push(parse::<shares::Model>(row)?),
            "link" => link_rows.push(parse::<share_links::Model>(row)?),
            "job_file" => job_file_rows.push(parse::<job_files::Model>(row)?),
            "copy" => copy_rows.push(parse::<file_copies::Model>(row)?),
            "job_folder" => job_folders.push(parse::<(Uuid, Uuid)>(row)?),
            other => return Err(DbErr::Custom(format!("unknown trash row kind {other:?}"))),
        }
    }
    // Where it goes back to.
    let parent = match item.parent_id {
        Some(p) => files::Entity::find_by_id(p)
            .filter(files::Column::OwnerId.eq(owner))
            .filter(files::Column::Kind.eq(files::FileKind::Folder))
            .one(db)
            .await?
            .map(|f| f.id),
        None => None,
    };
    let folder = item.kind == files::FileKind::Folder;
    let name = free_name(db, owner, parent, &item.name, folder).await?;
    // Parents before children: the root, then level by level.
    let mut ordered: Vec<files::Model> = Vec::with_capacity(nodes.len());
    let mut frontier: std::collections::HashSet<Uuid> = [item.file_id].into();
    let mut left = nodes;
    while !frontier.is_empty() {
        let (this, rest): (Vec<_>, Vec<_>) =
            left.into_iter().partition(|n| frontier.contains(&n.id));
        left = rest;
        let placed: std::collections::HashSet<Uuid> = this.iter().map(|n| n.id).collect();
        frontier = left
            .iter()
            .filter(|n| n.parent_id.is_some_and(|p| placed.contains(&p)))
            .map(|n| n.id)
            .collect();
        ordered.extend(this);
    }
    if !left.is_empty() {
        // Rows outside the tree: restoring part of it would lose the rest.
        return Err(DbErr::Custom(format!(
            "trash item {}: {} row(s) not under its root",
            item.id,
            left.len()
        )));
    }
    for mut node in ordered {
        if node.id == item.file_id {
            node.parent_id = parent;
            node.parent_key = crate::files::repo::parent_key(owner, parent);
            node.name = name.clone();
        }
        files::Entity::insert(node.into_active_model().reset_all())
            .exec_without_returning(db)
            .await?;
    }
    // Grants to users that still exist.
    let grantees: Vec<Uuid> = share_rows.iter().map(|s| s.grantee_id).collect();
    let living: Vec<Uuid> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::Id.is_in(grantees))
        .into_tuple()
        .all(db)
        .await?;
    for s in share_rows
        .into_iter()
        .filter(|s| living.contains(&s.grantee_id))
    {
        shares::Entity::insert(s.into_active_model().reset_all())
            .exec_without_returning(db)
            .await?;
    }
    for l in link_rows {
        share_links::Entity::insert(l.into_active_model().reset_all())
            .exec_without_returning(db)
            .await?;
    }
    let job_ids: Vec<Uuid> = job_file_rows
        .iter()
        .map(|j| j.job_id)
        .chain(job_folders.iter().map(|(j, _)| *j))
        .collect();
    let jobs_alive: Vec<Uuid> = jobs::Entity::find()
        .select_only()
        .column(jobs::Column::Id)
        .filter(jobs::Column::Id.is_in(job_ids))
        .into_tuple()
        .all(db)
        .await?;
    for j in job_file_rows
        .into_iter()
        .filter(|j| jobs_alive.contains(&j.job_id))
    {
        job_files::Entity::insert(j.into_active_model().reset_all())
            .on_conflict(
                OnConflict::columns([job_files::Column::JobId, job_files::Column::FileId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    for (job, folder) in job_folders
        .into_iter()
        .filter(|(j, _)| jobs_alive.contains(j))
    {
        jobs::Entity::update_many()
            .col_expr(jobs::Column::FolderId, Expr::value(folder))
            .filter(jobs::Column::Id.eq(job))
            .filter(jobs::Column::FolderId.is_null())
            .exec(db)
            .await?;
    }
    for mut c in copy_rows {
        c.run_id = None;
        file_copies::Entity::insert(c.into_active_model().reset_all())
            .exec_without_returning(db)
            .await?;
    }
    remove(db, item.id).await?;
    Ok(item.file_id)
}
