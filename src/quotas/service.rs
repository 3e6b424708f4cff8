//! Usage as the user sees it, and the check that recomputes it from the tables.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use uuid::Uuid;

use super::repo::{self, Usage};

/// Reads usage; changes go through the upload and file services' transactions.
#[derive(Clone)]
pub struct QuotaService {
    db: DatabaseConnection,
}

impl QuotaService {
    pub fn new(db: DatabaseConnection) -> QuotaService {
        QuotaService { db }
    }

    /// A user's usage, reservations and quota.
    pub async fn usage(&self, user: Uuid) -> Result<Option<Usage>, DbErr> {
        repo::usage(&self.db, user).await
    }

    /// Bytes and files in the user's trash (part of their usage).
    pub async fn trash(&self, user: Uuid) -> Result<(i64, i64), DbErr> {
        repo::trash_of(&self.db, user).await
    }
}

/// A user whose stored counters differ from what the tables say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub user_id: Uuid,
    pub username: String,
    pub stored: Usage,
    pub computed: Usage,
}

/// Recomputes every user's usage from active files and open uploads and returns the
/// users whose stored counters drifted.
pub async fn check_usage(db: &impl ConnectionTrait) -> Result<Vec<Drift>, DbErr> {
    let mut used: HashMap<Uuid, (i64, i64)> = repo::usage_by_owner(db)
        .await?
        .into_iter()
        .map(|(u, b, n)| (u, (b, n)))
        .collect();
    // What the trash keeps counts until it is purged.
    for (owner, bytes, files) in repo::trash_by_owner(db).await? {
        let entry = used.entry(owner).or_default();
        entry.0 += bytes;
        entry.1 += files;
    }
    let reserved: HashMap<Uuid, (i64, i64)> = repo::reserved_by_user(db)
        .await?
        .into_iter()
        .map(|(u, b, n)| (u, (b, n)))
        .collect();
    let mut drifts = Vec::new();
    for (id, username, stored) in repo::all_usage(db).await? {
        let (used_bytes, used_objects) = used.get(&id).copied().unwrap_or((0, 0));
        let (reserved_bytes, reserved_objects) = reserved.get(&id).copied().unwrap_or((0, 0));
        let computed = Usage {
            used_bytes,
            used_objects,
            reserved_bytes,
            reserved_objects,
            ..stored
        };
        if computed != stored {
            drifts.push(Drift {
                user_id: id,
                username,
                stored,
                computed,
            });
        }
    }
    Ok(drifts)
}
