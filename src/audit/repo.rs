//! The only audit code that touches sea-orm.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::AuditEvent;
use crate::entity::audit_events;

pub async fn insert_many(db: &impl ConnectionTrait, events: &[AuditEvent]) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    let models = events.iter().map(|e| audit_events::ActiveModel {
        id: Set(e.id),
        at: Set(e.at),
        actor_id: Set(e.actor_id),
        actor_name: Set(e.actor_name.clone()),
        ip: Set(e.ip.clone()),
        request_id: Set(e.request_id.clone()),
        action: Set(e.action.to_owned()),
        target: Set(e.target.clone()),
        outcome: Set(e.outcome.to_owned()),
        detail: Set(e.detail.as_ref().map(|d| d.to_string())),
    });
    // No RETURNING: PostgreSQL would send every id back.
    audit_events::Entity::insert_many(models)
        .exec_without_returning(db)
        .await?;
    Ok(())
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
