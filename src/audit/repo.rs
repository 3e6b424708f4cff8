//! The only audit code that touches the database.

use std::fmt::Write as _;

use chrono::{DateTime, Timelike as _, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::AuditEvent;
use crate::entity::audit_events;

/// Rows per `INSERT` on SQLite (10 parameters each).
const ROWS_PER_INSERT: usize = 100;

/// SQLite: multi-row `INSERT`s of [`ROWS_PER_INSERT`] rows in one `IMMEDIATE`
/// transaction, their text built once and so prepared once per connection. Bound
/// through sqlx directly, borrowing the events' strings: through sea-orm each string
/// was copied three more times, and the writer has to keep up with every download.
pub async fn insert_many(
    pool: &sea_orm::sqlx::SqlitePool,
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
                .bind(detail.as_deref());
        }
        query.execute(&mut *txn).await.map_err(failed)?;
    }
    txn.commit().await.map_err(failed)
}

fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_events (id, at, actor_id, actor_name, ip, request_id, action, \
         target, outcome, detail) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?,?,?)");
    }
    sql
}

/// PostgreSQL: the batch as one `COPY … FROM STDIN` in text format, several times
/// cheaper for the server and for us than a multi-row `INSERT` with ten bound
/// parameters a row (the writer has to keep up with every presigned download).
pub async fn copy_many(pool: &sea_orm::sqlx::PgPool, events: &[AuditEvent]) -> Result<(), DbErr> {
    use sea_orm::sqlx::postgres::PgPoolCopyExt as _;
    if events.is_empty() {
        return Ok(());
    }
    let failed = |e: sea_orm::sqlx::Error| DbErr::Custom(format!("audit COPY: {e}"));
    let data = copy_text(events);
    let mut copy = pool
        .copy_in_raw(
            "COPY audit_events (id, at, actor_id, actor_name, ip, request_id, action, \
             target, outcome, detail) FROM STDIN",
        )
        .await
        .map_err(failed)?;
    if let Err(e) = copy.send(data.as_bytes()).await {
        let _ = copy.abort("the batch could not be sent").await;
        return Err(failed(e));
    }
    copy.finish().await.map_err(failed)?;
    Ok(())
}

/// The rows in `COPY`'s text format: tab-separated, `\N` for null.
fn copy_text(events: &[AuditEvent]) -> String {
    let mut out = String::with_capacity(events.len() * 256);
    for e in events {
        let detail = e.detail.as_ref().map(|d| d.to_string());
        let _ = write!(out, "{}\t", e.id);
        // PostgreSQL keeps microseconds: truncated here as before, not rounded there.
        let micros = e.at.nanosecond() / 1_000 * 1_000;
        crate::rfc3339::push(&mut out, &e.at.with_nanosecond(micros).unwrap_or(e.at));
        out.push('\t');
        match e.actor_id {
            Some(id) => {
                let _ = write!(out, "{id}\t");
            }
            None => out.push_str("\\N\t"),
        }
        for field in [
            e.actor_name.as_deref(),
            e.ip.as_deref(),
            e.request_id.as_deref(),
            Some(e.action),
            e.target.as_deref(),
            Some(e.outcome),
        ] {
            copy_field(&mut out, field);
            out.push('\t');
        }
        copy_field(&mut out, detail.as_deref());
        out.push('\n');
    }
    out
}

fn copy_field(out: &mut String, value: Option<&str>) {
    let Some(value) = value else {
        out.push_str("\\N");
        return;
    };
    // Runs of ordinary bytes are copied whole; the four reserved ones are escaped.
    let mut rest = value;
    while let Some(at) = rest.find(['\\', '\t', '\n', '\r']) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            _ => "\\r",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
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
    if let Some(since) = filter.since {
        q = q.filter(audit_events::Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        q = q.filter(audit_events::Column::At.lt(until));
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

    #[test]
    fn copy_rows_escape_what_the_text_format_reserves() {
        let mut e = AuditEvent::new("auth.login", "denied");
        e.actor_name = Some("tab\there\\n\nnew\rline".into());
        e.detail = Some(serde_json::json!({"why": "a\tb"}));
        let text = copy_text(&[e.clone()]);
        let fields: Vec<&str> = text.trim_end_matches('\n').split('\t').collect();
        assert_eq!(fields.len(), 10, "{text:?}");
        assert_eq!(fields[0], e.id.to_string());
        let at = DateTime::parse_from_rfc3339(fields[1]).expect("an RFC 3339 time");
        assert_eq!(
            at.timestamp_micros(),
            e.at.timestamp_micros(),
            "the time, to the microsecond"
        );
        assert_eq!(at.timestamp_subsec_nanos() % 1_000, 0, "no nanoseconds");
        assert_eq!(fields[2], "\\N", "no actor id");
        assert_eq!(fields[3], "tab\\there\\\\n\\nnew\\rline");
        assert_eq!(fields[4], "\\N", "no ip");
        assert_eq!(fields[6], "auth.login");
        assert_eq!(fields[9], r#"{"why":"a\\tb"}"#);
        assert_eq!(text.matches('\n').count(), 1, "one line per row");
    }
}
