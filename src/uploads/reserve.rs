//! Upload starts commit in groups. A start is a quota reservation plus a pending file and
//! an open upload, all or nothing. Starts waiting while a group commits are committed
//! together as the next group, in one transaction, each still all or nothing and
//! decided in arrival order — so a burst of starts costs a few statements per group
//! instead of a transaction per start (on SQLite, one writer at a time, that is the
//! difference between waiting for the write lock once or a hundred times).
//!
//! Exactness: the group first locks the rows of the users it bills (in id order, so
//! two replicas never deadlock), and every transaction that changes a user's tree or
//! counters takes the same lock first (see [`crate::quotas::repo::lock`]). Under it
//! the parents, the names taken and the counters read here cannot change before the
//! group's inserts, so what is decided is what is written.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockType, Query, UnionType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::repo::{Upload, UploadState};
use crate::auth::api_tokens::repo::{self as api_tokens, Budget};
use crate::db::WriteGate;
use crate::entity::{files, uploads, users};
use crate::files::repo::{parent_key, FileKind, FileState, Node};
use crate::quotas::repo::{self as quotas, Usage};

/// Most starts one group commits (15 parameters each: within every backend's limit).
const MAX_GROUP: usize = 256;
/// Starts waiting for their group beyond this make new starts wait to queue.
const BACKLOG: usize = 4096;

/// One upload to start: the pending file and the open upload that reserves its quota.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// Who is billed: the owner of the folder it lands in.
    pub owner: Uuid,
    /// Who started it, when not the owner (a grantee of a shared folder).
    pub created_by: Option<Uuid>,
    /// The API token starting it: its byte budget, if it has one, is charged.
    pub token: Option<Uuid>,
    pub parent: Option<Uuid>,
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub object_key: String,
    pub part_size: Option<i64>,
    pub part_count: i32,
    pub expires_at: DateTime<Utc>,
    /// The HPC job the new file joins once the upload completes.
    pub job: Option<Uuid>,
    /// The SHA-256 the content must have (base64), signed into its PUT.
    pub checksum: Option<String>,
}

/// What starting an upload came to.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a short-lived return value
pub enum Reserved {
    Created(Node, Upload),
    NameTaken,
    QuotaExceeded,
    /// Over the byte budget of the API token starting it.
    BudgetExceeded,
    /// The API token starting it was revoked while the request ran.
    TokenRevoked,
    /// The folder (or the owner) is gone.
    ParentGone,
}

struct Job {
    reservation: Reservation,
    reply: oneshot::Sender<Result<Reserved, DbErr>>,
}

/// The sending side of the group committer; cheap to clone.
#[derive(Clone)]
pub struct Reserver {
    tx: mpsc::Sender<Job>,
    db: DatabaseConnection,
    gate: WriteGate,
}

impl Reserver {
    /// Starts the committer on the current runtime; it stops when the last `Reserver`
    /// is dropped.
    pub fn spawn(db: DatabaseConnection, gate: WriteGate) -> Reserver {
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(commit_loop(db.clone(), gate.clone(), rx));
        Reserver { tx, db, gate }
    }

    /// Starts many uploads as one group of their own (one transaction), one outcome
    /// per reservation, in order.
    pub async fn reserve_many(
        &self,
        reservations: Vec<Reservation>,
    ) -> Result<Vec<Reserved>, DbErr> {
        if reservations.is_empty() {
            return Ok(Vec::new());
        }
        let group: Vec<&Reservation> = reservations.iter().collect();
        commit_group(&self.db, &self.gate, &group).await
    }

    /// Starts one upload, in the next group.
    pub async fn reserve(&self, reservation: Reservation) -> Result<Reserved, DbErr> {
        let (reply, answer) = oneshot::channel();
        let stopped = || DbErr::Custom("the upload committer stopped".into());
        self.tx
            .send(Job { reservation, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn commit_loop(db: DatabaseConnection, gate: WriteGate, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        let group: Vec<&Reservation> = jobs.iter().map(|j| &j.reservation).collect();
        let started = std::time::Instant::now();
        let committed = commit_group(&db, &gate, &group).await;
        tracing::debug!(
            starts = group.len(),
            took_us = started.elapsed().as_micros() as u64,
            "group of upload starts committed"
        );
        match committed {
            Ok(outcomes) => {
                for (job, outcome) in jobs.drain(..).zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            // One start's failure must not fail the others: commit each on its own.
            Err(e) if jobs.len() > 1 => {
                tracing::warn!(error = %e, starts = jobs.len(), "group commit failed; committing one by one");
                for job in jobs.drain(..) {
                    let one = commit_group(&db, &gate, &[&job.reservation]).await;
                    let _ = job.reply.send(one.map(|mut o| o.remove(0)));
                }
            }
            Err(e) => {
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(DbErr::Custom(e.to_string())));
                }
            }
        }
    }
}

async fn commit_group(
    db: &DatabaseConnection,
    gate: &WriteGate,
    group: &[&Reservation],
) -> Result<Vec<Reserved>, DbErr> {
    let txn = gate.begin(db).await?;
    let outcomes = reserve_all(&*txn, group).await;
    txn.end(outcomes).await
}

/// Decides and writes a group of starts inside the caller's transaction; one outcome
/// per reservation, in order.
pub async fn reserve_all(
    db: &impl ConnectionTrait,
    group: &[&Reservation],
) -> Result<Vec<Reserved>, DbErr> {
    let owners: BTreeSet<Uuid> = group.iter().map(|r| r.owner).collect();
    let mut usage = locked_usage(db, &owners).await?;
    let tokens: BTreeSet<Uuid> = group.iter().filter_map(|r| r.token).collect();
    let mut budgets = api_tokens::locked_budgets(db, &tokens).await?;
    let Present { folders, mut taken } = present(db, group).await?;
    let now = Utc::now();
    let mut outcomes = Vec::with_capacity(group.len());
    let mut accepted = Vec::new();
    for r in group {
        let key = parent_key(r.owner, r.parent);
        let outcome = match usage.get_mut(&r.owner) {
            None => Reserved::ParentGone,
            Some(_) if r.parent.is_some_and(|p| folders.get(&p) != Some(&r.owner)) => {
                Reserved::ParentGone
            }
            Some(_) if taken.contains(&(key, r.name.clone())) => Reserved::NameTaken,
            Some(u) if !fits(u, r.size) => Reserved::QuotaExceeded,
            Some(_) if r.token.is_some_and(|t| !budgets.contains_key(&t)) => Reserved::TokenRevoked,
            Some(_) if !within_budget(&budgets, r) => Reserved::BudgetExceeded,
            Some(u) => {
                if let Some(b) = r.token.and_then(|t| budgets.get_mut(&t)) {
                    b.used += r.size;
                }
                u.reserved_bytes += r.size;
                u.reserved_objects += 1;
                taken.insert((key, r.name.clone()));
                let (node, upload) = rows_of(r, now);
                accepted.push((node.clone(), upload.clone()));
                Reserved::Created(node, upload)
            }
        };
        outcomes.push(outcome);
    }
    if accepted.is_empty() {
        return Ok(outcomes);
    }
    insert_rows(db, &accepted).await?;
    let mut added: HashMap<Uuid, (i64, i64)> = HashMap::new();
    for (_, upload) in &accepted {
        let e = added.entry(upload.user_id).or_default();
        e.0 += upload.declared_size;
        e.1 += 1;
    }
    for (user, (bytes, count)) in added {
        quotas::add_reserved(db, user, bytes, count).await?;
    }
    let mut charged: HashMap<Uuid, i64> = HashMap::new();
    for (_, upload) in &accepted {
        if let Some(token) = upload.token_id {
            *charged.entry(token).or_default() += upload.declared_size;
        }
    }
    for (token, bytes) in charged {
        api_tokens::charge(db, token, bytes).await?;
    }
    Ok(outcomes)
}

/// Whether the reservation fits the budget of the token starting it, if any.
fn within_budget(budgets: &HashMap<Uuid, Budget>, r: &Reservation) -> bool {
    r.token
        .and_then(|t| budgets.get(&t))
        .is_none_or(|b| b.fits(r.size))
}

fn fits(u: &Usage, size: i64) -> bool {
    u.used_bytes + u.reserved_bytes + size <= u.quota_bytes
        && u.used_objects + u.reserved_objects < u.quota_objects
}

/// The billed users' counters, their rows locked for the rest of the transaction.
async fn locked_usage(
    db: &impl ConnectionTrait,
    owners: &BTreeSet<Uuid>,
) -> Result<HashMap<Uuid, Usage>, DbErr> {
    Ok(users::Entity::find()
        .filter(users::Column::Id.is_in(owners.iter().copied()))
        .order_by_asc(users::Column::Id)
        .lock(LockType::NoKeyUpdate)
        .all(db)
        .await?
        .iter()
        .map(|u| (u.id, Usage::from(u)))
        .collect())
}

/// What the database holds of a group's targets: the folders among its parents (with
/// their owners) and the (parent key, name) pairs taken already.
struct Present {
    folders: HashMap<Uuid, Uuid>,
    taken: HashSet<(Uuid, String)>,
}

/// Reads [`Present`] in one statement (one round trip to the database's writer): the
/// names as `(parent_key, name, owner)` rows and the folders as `(id, '', owner)` rows,
/// told apart by the empty name, which no file has.
async fn present(db: &impl ConnectionTrait, group: &[&Reservation]) -> Result<Present, DbErr> {
    use files::Column as C;
    let wanted: HashSet<(Uuid, &str)> = group
        .iter()
        .map(|r| (parent_key(r.owner, r.parent), r.name.as_str()))
        .collect();
    let owners: BTreeSet<Uuid> = group.iter().map(|r| r.owner).collect();
    let keys: BTreeSet<Uuid> = wanted.iter().map(|(k, _)| *k).collect();
    let names: BTreeSet<&str> = wanted.iter().map(|(_, n)| *n).collect();
    let parents: BTreeSet<Uuid> = group.iter().filter_map(|r| r.parent).collect();
    let mut query = Query::select()
        .columns([C::ParentKey, C::Name, C::OwnerId])
        .from(files::Entity)
        .and_where(C::OwnerId.is_in(owners))
        .and_where(C::ParentKey.is_in(keys))
        .and_where(C::Name.is_in(names))
        .to_owned();
    if !parents.is_empty() {
        query.union(
            UnionType::All,
            Query::select()
                .column(C::Id)
                .expr(Expr::val(""))
                .column(C::OwnerId)
                .from(files::Entity)
                .and_where(C::Id.is_in(parents))
                .and_where(C::Kind.eq(FileKind::Folder))
                .to_owned(),
        );
    }
    let rows = db.query_all(&query).await?;
    let mut present = Present {
        folders: HashMap::new(),
        taken: HashSet::new(),
    };
    for row in rows {
        let key: Uuid = row.try_get_by_index(0)?;
        let name: String = row.try_get_by_index(1)?;
        let owner: Uuid = row.try_get_by_index(2)?;
        if name.is_empty() {
            present.folders.insert(key, owner);
        } else if wanted.contains(&(key, name.as_str())) {
            present.taken.insert((key, name));
        }
    }
    Ok(present)
}

/// The pending file and the open upload a reservation becomes. Their ids are UUIDv7:
/// time-ordered, so new rows go to the right edge of the primary-key indexes instead of
/// dirtying a random page each (the ids reveal no more than `created_at` does).
fn rows_of(r: &Reservation, now: DateTime<Utc>) -> (Node, Upload) {
    let file = Node {
        id: Uuid::now_v7(),
        owner_id: r.owner,
        parent_id: r.parent,
        name: r.name.clone(),
        kind: FileKind::File.to_owned(),
        size: r.size,
        content_type: Some(r.content_type.clone()),
        object_key: Some(r.object_key.clone()),
        etag: None,
        state: FileState::Pending.to_owned(),
        tier: "primary".to_owned(),
        created_at: now,
        updated_at: now,
        checksum_sha256: r.checksum.clone(),
        synced_at: None,
    };
    let upload = Upload {
        id: Uuid::now_v7(),
        user_id: r.owner,
        file_id: Some(file.id),
        object_key: r.object_key.clone(),
        declared_size: r.size,
        content_type: r.content_type.clone(),
        multipart_upload_id: None,
        part_size: r.part_size,
        part_count: r.part_count,
        expires_at: r.expires_at,
        state: UploadState::Open.to_owned(),
        created_by: r.created_by,
        token_id: r.token,
        job_id: r.job,
    };
    (file, upload)
}

async fn insert_rows(db: &impl ConnectionTrait, rows: &[(Node, Upload)]) -> Result<(), DbErr> {
    let files = rows.iter().map(|(f, _)| files::ActiveModel {
        id: Set(f.id),
        owner_id: Set(f.owner_id),
        parent_id: Set(f.parent_id),
        parent_key: Set(parent_key(f.owner_id, f.parent_id)),
        name: Set(f.name.clone()),
        kind: Set(f.kind),
        size: Set(f.size),
        content_type: Set(f.content_type.clone()),
        object_key: Set(f.object_key.clone()),
        etag: Set(None),
        state: Set(f.state),
        tier: Set(f.tier.clone()),
        created_at: Set(f.created_at),
        updated_at: Set(f.updated_at),
        synced_at: Set(None),
        checksum_sha256: Set(f.checksum_sha256.clone()),
    });
    files::Entity::insert_many(files)
        .exec_without_returning(db)
        .await?;
    let uploads = rows
        .iter()
        .map(|(f, u)| super::repo::new_row(u, f.created_at));
    uploads::Entity::insert_many(uploads)
        .exec_without_returning(db)
        .await?;
    Ok(())
}
