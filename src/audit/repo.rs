//! The only audit code that touches the database.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::AuditEvent;
use crate::db::watch::Watch;
use crate::entity::audit_events;

/// Rows per `INSERT` on SQLite (11 parameters each).
const ROWS_PER_INSERT: usize = 100;

/// SQLite: multi-row `INSERT`s of [`ROWS_PER_INSERT`] rows in one `IMMEDIATE`
/// transaction, their text built once and so prepared once per connection. Bound
/// through sqlx directly, borrowing the events' strings: through sea-orm each string
/// was copied three more times, and the writer has to keep up with every download.
/// The commit is [`Quiet`](crate::db::watch::Quiet): audit rows remove no API token,
/// so it leaves cached tokens valid.
pub async fn insert_many(
    pool: &sea_orm::sqlx::SqlitePool,
    watch: &Watch,
    events: &[AuditEvent],
) -> Result<(), DbErr> {
    use sea_orm::sqlx;
    static FULL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let failed = |e: sqlx::Error| DbErr::Custom(format!("audit insert: {e}"));
    let details: Vec<Option<String>> = events
        .iter()
        .map(|e| e.detail.as_ref().map(|d| d.to_string()))
        .collect();
    let mut txn = pool.begin_with("BEGIN IMMEDIATE").await.map_err(failed)?;
    let quiet = watch.quiet();
    for (chunk, details) in events
        .chunks(ROWS_PER_INSERT)
        .zip(details.chunks(ROWS_PER_INSERT))
    {
        let sql = match chunk.len() {
            ROWS_PER_INSERT => FULL.get_or_init(|| insert_sql(ROWS_PER_INSERT)).clone(),
            n => insert_sql(n),
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (e, detail) in chunk.iter().zip(details) {
            query = query
                .bind(e.id)
                .bind(e.at)
                .bind(e.actor_id)
                .bind(e.actor_name.as_deref())
                .bind(e.ip.as_deref())
                .bind(e.request_id.as_deref())
                .bind(e.action)
                .bind(e.target.as_deref())
                .bind(e.outcome)
                .bind(detail.as_deref())
                .bind(e.via.as_deref());
        }
        query.execute(&mut *txn).await.map_err(failed)?;
    }
    txn.commit().await.map_err(failed)?;
    quiet.committed();
    Ok(())
}

fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_events (id, at, actor_id, actor_name, ip, request_id, action, \
         target, outcome, detail, via) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?,?,?,?)");
    }
    sql
}

/// PostgreSQL: the batch as one `COPY … FROM STDIN` in binary format, several times
/// cheaper for the server and for us than a multi-row `INSERT` with eleven bound
/// parameters a row (the writer has to keep up with every presigned download), and
/// cheaper than the text format: no ids or times printed here and parsed there, no
/// escaping. Text fields travel in the client encoding (UTF-8), as in the text format.
pub async fn copy_many(pool: &sea_orm::sqlx::PgPool, events: &[AuditEvent]) -> Result<(), DbErr> {
    use sea_orm::sqlx::postgres::PgPoolCopyExt as _;
    if events.is_empty() {
        return Ok(());
    }
    let failed = |e: sea_orm::sqlx::Error| DbErr::Custom(format!("audit COPY: {e}"));
    let data = copy_binary(events);
    let mut copy = pool
        .copy_in_raw(
            "COPY audit_events (id, at, actor_id, actor_name, ip, request_id, action, \
             target, outcome, detail, via) FROM STDIN WITH (FORMAT binary)",
        )
        .await
        .map_err(failed)?;
    if let Err(e) = copy.send(data.as_slice()).await {
        let _ = copy.abort("the batch could not be sent").await;
        return Err(failed(e));
    }
    copy.finish().await.map_err(failed)?;
    Ok(())
}

/// The binary `COPY` signature, then 32-bit flags and header extension length (zero).
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// PostgreSQL counts time in microseconds from 2000-01-01 UTC.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Columns per row, as listed in the `COPY` statement.
const COPY_COLUMNS: i16 = 11;

/// The rows in `COPY`'s binary format: per row the column count, then per column its
/// length (-1: null) and bytes; a count of -1 ends the data.
fn copy_binary(events: &[AuditEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(COPY_HEADER.len() + events.len() * 200 + 2);
    out.extend_from_slice(COPY_HEADER);
    for e in events {
        // PostgreSQL keeps microseconds: truncated here, as the text format did.
        let at = e.at.timestamp_micros() - PG_EPOCH_MICROS;
        let detail = e.detail.as_ref().map(|d| d.to_string());
        out.extend_from_slice(&COPY_COLUMNS.to_be_bytes());
        copy_field(&mut out, Some(e.id.as_bytes()));
        copy_field(&mut out, Some(&at.to_be_bytes()));
        copy_field(
            &mut out,
            e.actor_id.as_ref().map(|id| id.as_bytes().as_slice()),
        );
        for text in [
            e.actor_name.as_deref(),
            e.ip.as_deref(),
            e.request_id.as_deref(),
            Some(e.action),
            e.target.as_deref(),
            Some(e.outcome),
            detail.as_deref(),
            e.via.as_deref(),
        ] {
            copy_field(&mut out, text.map(str::as_bytes));
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

fn copy_field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(bytes) => {
            // Audit fields are far below 2 GiB (the columns are bounded varchars).
            out.extend_from_slice(&i32::try_from(bytes.len()).unwrap_or(i32::MAX).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

/// A stored event as the query API returns it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub detail: Option<serde_json::Value>,
    pub via: Option<String>,
}

impl From<audit_events::Model> for StoredEvent {
    fn from(m: audit_events::Model) -> StoredEvent {
        StoredEvent {
            id: m.id,
            at: m.at,
            actor_id: m.actor_id,
            actor_name: m.actor_name,
            ip: m.ip,
            request_id: m.request_id,
            action: m.action,
            target: m.target,
            outcome: m.outcome,
            detail: m.detail.and_then(|d| serde_json::from_str(&d).ok()),
            via: m.via,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub actor_id: Option<Uuid>,
    /// An exact action, or a prefix ending in `.` (`link.` matches every link event).
    pub action: Option<String>,
    pub target: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Resume after this event id (ascending order: oldest first).
    pub after: Option<Uuid>,
}

/// How far an event's `at` may lie from the time in its id: both are read from the
/// clock when the event is made, microseconds apart.
const ID_SLACK: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// Events matching `filter`, oldest first, at most `limit`.
pub async fn query(
    db: &impl ConnectionTrait,
    filter: &Filter,
    limit: u64,
) -> Result<Vec<StoredEvent>, DbErr> {
    let mut q = audit_events::Entity::find();
    if let Some(actor) = filter.actor_id {
        q = q.filter(audit_events::Column::ActorId.eq(actor));
    }
    if let Some(action) = &filter.action {
        q = match action.strip_suffix('.') {
            Some(prefix) => {
                q.filter(audit_events::Column::Action.starts_with(format!("{prefix}.")))
            }
            None => q.filter(audit_events::Column::Action.eq(action.as_str())),
        };
    }
    if let Some(target) = &filter.target {
        q = q.filter(audit_events::Column::Target.eq(target.as_str()));
    }
    if let Some(outcome) = &filter.outcome {
        q = q.filter(audit_events::Column::Outcome.eq(outcome.as_str()));
    }
    // The id (a UUIDv7, made with `at`) bounds the primary-key range read; `at` decides.
    if let Some(since) = filter.since {
        q = q
            .filter(audit_events::Column::Id.gte(crate::db::least_id_at(since - ID_SLACK)))
            .filter(audit_events::Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        q = q
            .filter(audit_events::Column::Id.lt(crate::db::least_id_at(until + ID_SLACK)))
            .filter(audit_events::Column::At.lt(until));
    }
    if let Some(after) = filter.after {
        q = q.filter(audit_events::Column::Id.gt(after));
    }
    Ok(q.order_by_asc(audit_events::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(StoredEvent::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back what `copy_binary` wrote: each row's fields, `None` for null.
    fn read_rows(mut data: &[u8]) -> Vec<Vec<Option<Vec<u8>>>> {
        let mut take = |n: usize| {
            let (head, rest) = data.split_at(n);
            data = rest;
            head.to_vec()
        };
        assert_eq!(take(COPY_HEADER.len()), COPY_HEADER);
        let mut rows = Vec::new();
        loop {
            let count = i16::from_be_bytes(take(2).try_into().expect("2 bytes"));
            if count == -1 {
                break;
            }
            let row = (0..count)
                .map(|_| {
                    let len = i32::from_be_bytes(take(4).try_into().expect("4 bytes"));
                    (len >= 0).then(|| take(len as usize))
                })
                .collect();
            rows.push(row);
        }
        assert!(
            take(0).is_empty() && data.is_empty(),
            "nothing after the trailer"
        );
        rows
    }

    #[test]
    fn copy_rows_carry_every_column_in_binary_form() {
        let mut e = AuditEvent::new("auth.login", "denied");
        e.actor_name = Some("tab\there\\n\nnew\rline é".into());
        e.detail = Some(Box::new(serde_json::json!({"why": "a\tb"})));
        let mut f = AuditEvent::new("presign.download", "ok").target("file", "x");
        f.actor_id = Some(Uuid::now_v7());
        f.via = Some("token:t".into());
        let rows = read_rows(&copy_binary(&[e.clone(), f.clone()]));
        assert_eq!(rows.len(), 2);
        let row = &rows[0];
        assert_eq!(row.len(), 11);
        assert_eq!(row[0].as_deref(), Some(e.id.as_bytes().as_slice()));
        let micros = i64::from_be_bytes(row[1].clone().expect("at").try_into().expect("8"));
        assert_eq!(
            micros + PG_EPOCH_MICROS,
            e.at.timestamp_micros(),
            "the time, to the microsecond"
        );
        assert_eq!(row[2], None, "no actor id");
        assert_eq!(
            row[3].as_deref(),
            Some("tab\there\\n\nnew\rline é".as_bytes()),
            "text as it is, no escaping"
        );
        assert_eq!(row[4], None, "no ip");
        assert_eq!(row[6].as_deref(), Some(b"auth.login".as_slice()));
        assert_eq!(row[8].as_deref(), Some(b"denied".as_slice()));
        assert_eq!(row[9].as_deref(), Some(br#"{"why":"a\tb"}"#.as_slice()));
        assert_eq!(
            rows[1][2].as_deref(),
            f.actor_id.as_ref().map(|id| id.as_bytes().as_slice())
        );
        assert_eq!(rows[1][7].as_deref(), Some(b"file:x".as_slice()));
        assert_eq!(rows[1][9], None, "no detail");
        assert_eq!(rows[1][10].as_deref(), Some(b"token:t".as_slice()), "via");
        // 2000-01-01T00:00:00Z is zero.
        assert_eq!(
            chrono::DateTime::<Utc>::from_timestamp(946_684_800, 0)
                .expect("time")
                .timestamp_micros()
                - PG_EPOCH_MICROS,
            0
        );
    }
}
