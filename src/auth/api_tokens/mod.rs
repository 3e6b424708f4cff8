//! Scoped API tokens (personal access tokens) for programs: batch jobs, CI, scripts.
//! A token is `cft_` and 256 random bits, shown once; only its SHA-256 is stored. A
//! checked token is kept in memory only while the database shows no change that could
//! have removed it (see [`crate::db::watch`]), so a revocation holds on the next request on every
//! replica while a busy token costs no query per request.

pub mod dto;
pub mod repo;
pub mod routes;

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::tokens::hash_token;
use super::AuthError;
use crate::cache::TtlCache;
use crate::db::watch::{Stamp, Watch};
use crate::db::Db;
use crate::runtime::Runtime;

/// What every API token starts with, so secret scanners can recognise one.
pub const TOKEN_PREFIX: &str = "cft_";
/// Most unexpired tokens a user may hold.
pub const MAX_TOKENS_PER_USER: u64 = 100;
/// Longest token name.
const MAX_NAME_CHARS: usize = 100;
/// Last-used time and address are written at most this often per token and replica.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Longest a checked token is served from memory (while the database shows no change).
const CACHE_FOR: Duration = Duration::from_secs(60);

/// What a token may do. Endpoints name the scope they need; token management, password
/// change and admin endpoints accept no token at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    /// Read metadata, list folders, download, read usage and tasks, create zip archives.
    #[serde(rename = "files:read")]
    FilesRead,
    /// Start, complete and abort uploads; create, rename, move, copy and delete.
    #[serde(rename = "files:write")]
    FilesWrite,
    /// Share files and folders with users and by link, and revoke shares.
    #[serde(rename = "shares:write")]
    SharesWrite,
    /// Record HPC jobs and their results.
    #[serde(rename = "jobs:write")]
    JobsWrite,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::FilesRead,
        Scope::FilesWrite,
        Scope::SharesWrite,
        Scope::JobsWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::FilesRead => "files:read",
            Scope::FilesWrite => "files:write",
            Scope::SharesWrite => "shares:write",
            Scope::JobsWrite => "jobs:write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// Scopes as stored: space-separated, in [`Scope::ALL`]'s order, each once.
pub fn join_scopes(scopes: &[Scope]) -> String {
    Scope::ALL
        .into_iter()
        .filter(|s| scopes.contains(s))
        .map(Scope::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Stored scopes back; names this version does not know are dropped (never granted).
pub fn split_scopes(stored: &str) -> Vec<Scope> {
    stored.split_whitespace().filter_map(Scope::parse).collect()
}

/// What a request made with an API token may do.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub id: Uuid,
    pub scopes: Vec<Scope>,
    /// The folder the token is confined to.
    pub folder: Option<Uuid>,
    /// The audit log's `via`: `token:<id>`.
    pub via: Arc<str>,
}

impl TokenGrant {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// A token as its owner and admins see it: never the secret.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub folder_id: Option<Uuid>,
    pub budget_bytes: Option<i64>,
    pub budget_used: i64,
}

/// A request to create a token.
pub struct NewToken<'a> {
    pub name: &'a str,
    pub scopes: &'a [Scope],
    pub expires_at: DateTime<Utc>,
    /// Confines the token to this folder of the user's.
    pub folder: Option<Uuid>,
    /// Most bytes the token's uploads may reserve over its life.
    pub budget_bytes: Option<i64>,
}

/// Creates, lists, revokes and checks API tokens.
#[derive(Clone)]
pub struct ApiTokens {
    db: Db,
    runtime: Runtime,
    /// Tokens whose last use this replica wrote recently.
    touched: Arc<TtlCache<Uuid, ()>>,
    /// Tokens checked recently, by SHA-256, with the database's stamp when they were read.
    checked: Arc<TtlCache<[u8; 32], Checked>>,
    watch: Arc<Watch>,
}

/// A token as read from the database, and the stamp taken before reading it.
struct Checked {
    stamp: Stamp,
    user: Uuid,
    expires_at: DateTime<Utc>,
    grant: Arc<TokenGrant>,
    /// Held while one request reads the token again after the stamp moved, so the
    /// requests arriving meanwhile wait for that read instead of each making their own.
    reading: Arc<tokio::sync::Mutex<()>>,
    /// When a hit last recorded a use (Unix ms): hits look here, not in `touched`.
    touched_ms: AtomicI64,
}

impl Checked {
    /// Serves the hit, recording its use when a minute has passed since the last.
    fn serve(
        &self,
        tokens: &ApiTokens,
        now: DateTime<Utc>,
        ip: Option<IpAddr>,
    ) -> (Uuid, Arc<TokenGrant>) {
        let now_ms = now.timestamp_millis();
        let last = self.touched_ms.load(Ordering::Relaxed);
        if now_ms - last >= TOUCH_EVERY.as_millis() as i64
            && self
                .touched_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tokens.touch(self.grant.id, now, ip);
        }
        (self.user, self.grant.clone())
    }
}

fn invalid(detail: impl Into<String>) -> AuthError {
    AuthError::InvalidTokenRequest(detail.into())
}

impl ApiTokens {
    pub fn new(db: Db, runtime: Runtime) -> ApiTokens {
        ApiTokens {
            runtime,
            touched: Arc::new(TtlCache::new(TOUCH_EVERY)),
            checked: Arc::new(TtlCache::new(CACHE_FOR)),
            watch: db.watch(),
            db,
        }
    }

    /// Creates a token for `user`; returns it with its secret, which is never shown again.
    pub async fn create(
        &self,
        user: Uuid,
        new: NewToken<'_>,
    ) -> Result<(TokenInfo, String), AuthError> {
        let name = new.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "name must be 1 to {MAX_NAME_CHARS} characters, without control characters."
            )));
        }
        if new.scopes.is_empty() {
            return Err(invalid("scopes must name at least one scope."));
        }
        if new.budget_bytes.is_some_and(|b| b < 0) {
            return Err(invalid("budget_bytes must not be negative."));
        }
        let now = Utc::now();
        let max_days = self.runtime.get().await?.api_token_max_days;
        let latest = now + Duration::from_secs(u64::from(max_days) * 86_400);
        if new.expires_at <= now || new.expires_at > latest {
            return Err(invalid(format!(
                "expires_at must be in the future and at most {max_days} days away."
            )));
        }
        let secret = new_secret();
        let row = repo::NewRow {
            id: Uuid::now_v7(),
            user_id: user,
            name,
            token_hash: hash_token(&secret),
            scopes: join_scopes(new.scopes),
            expires_at: new.expires_at,
            created_at: now,
            folder_id: new.folder,
            budget_bytes: new.budget_bytes,
        };
        let txn = self.db.write().await?;
        if let Some(folder) = new.folder {
            if !repo::is_folder_of(&*txn, user, folder).await? {
                return Err(invalid("folder_id must name a folder of yours."));
            }
        }
        repo::delete_expired(&*txn, user, now).await?;
        if repo::count(&*txn, user).await? >= MAX_TOKENS_PER_USER {
            return Err(AuthError::TooManyTokens);
        }
        let info = repo::insert(&*txn, row).await?;
        txn.commit().await?;
        Ok((info, secret))
    }

    /// The user's tokens, newest first (at most [`MAX_TOKENS_PER_USER`] unexpired, and
    /// the expired ones not yet cleared).
    pub async fn list(&self, user: Uuid) -> Result<Vec<TokenInfo>, AuthError> {
        Ok(repo::list_of(self.db.conn(), user).await?)
    }

    /// Revokes one of `user`'s tokens (any user's when `user` is `None`: admins).
    /// Returns the revoked token, or `None` when there is no such token.
    pub async fn revoke(
        &self,
        user: Option<Uuid>,
        id: Uuid,
    ) -> Result<Option<TokenInfo>, AuthError> {
        let before = self.watch.stamp().await;
        let txn = self.db.write().await?;
        let found = repo::find(&*txn, id).await?;
        let Some(token) = found.filter(|t| user.is_none_or(|u| u == t.user_id)) else {
            return Ok(None);
        };
        repo::delete(&*txn, id).await?;
        txn.commit().await?;
        self.watch.settle(before).await;
        Ok(Some(token))
    }

    /// The database's stamp, taken before a transaction that removes tokens; pass it to
    /// [`ApiTokens::settle`] once the transaction committed.
    pub async fn stamp(&self) -> Option<Stamp> {
        self.watch.stamp().await
    }

    /// Returns once this replica knows of the removals committed after `before` (on
    /// PostgreSQL, once their announcement arrived; at most a second), so the next
    /// request on it cannot be served a removed token from memory.
    pub async fn settle(&self, before: Option<Stamp>) {
        self.watch.settle(before).await;
    }

    /// Any user's tokens, for admins: ordered by id (creation), after `after`.
    pub async fn list_all(
        &self,
        user: Option<Uuid>,
        after: Option<Uuid>,
        rows: u64,
    ) -> Result<Vec<TokenInfo>, AuthError> {
        Ok(repo::list_all(self.db.conn(), user, after, rows).await?)
    }

    /// The token behind `secret` (a string starting with [`TOKEN_PREFIX`]) and its
    /// owner's id, when it exists and has not expired. Records the use, at most once a
    /// minute per token on this replica.
    pub async fn check(
        &self,
        secret: &str,
        ip: Option<IpAddr>,
    ) -> Result<(Uuid, Arc<TokenGrant>), AuthError> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let now = Utc::now();
        let mut stamp = self.watch.stamp().await;
        let mut reading = None;
        if let Some(hit) = self.checked.get(&digest) {
            if Some(hit.stamp) == stamp && hit.expires_at > now {
                return Ok(hit.serve(self, now, ip));
            }
            // The database changed since (on SQLite: any commit). One request reads the
            // token again; the others wait for it and take what it read if nothing
            // changed meanwhile.
            let lock = hit.reading.clone();
            let guard = lock.clone().lock_owned().await;
            stamp = self.watch.stamp().await;
            if let Some(hit) = self.checked.get(&digest) {
                if Some(hit.stamp) == stamp && hit.expires_at > now {
                    return Ok(hit.serve(self, now, ip));
                }
            }
            reading = Some((lock, guard));
        }
        let found = repo::find_by_hash(self.db.conn(), &hex::encode(digest)).await?;
        let Some(token) = found.filter(|t| t.expires_at > now) else {
            return Err(AuthError::InvalidAccessToken);
        };
        self.touch(token.id, now, ip);
        let grant = Arc::new(TokenGrant {
            id: token.id,
            via: format!("token:{}", token.id).into(),
            scopes: token.scopes,
            folder: token.folder_id,
        });
        // Waiters are let go (the guard dropped) only once the new entry is in place.
        let (lock, _guard) = match reading {
            Some((lock, guard)) => (lock, Some(guard)),
            None => (Arc::default(), None),
        };
        if let Some(stamp) = stamp {
            let checked = Checked {
                stamp,
                user: token.user_id,
                expires_at: token.expires_at,
                grant: grant.clone(),
                reading: lock,
                touched_ms: AtomicI64::new(now.timestamp_millis()),
            };
            self.checked.put(digest, Arc::new(checked));
        }
        Ok((token.user_id, grant))
    }

    /// Records a use of the token, at most once a minute per token on this replica.
    fn touch(&self, id: Uuid, now: DateTime<Utc>, ip: Option<IpAddr>) {
        if self.touched.get(&id).is_some() {
            return;
        }
        self.touched.put(id, Arc::new(()));
        let db = self.db.clone();
        tokio::spawn(async move {
            if let Err(e) = repo::touch(&db, id, now, ip.map(|ip| ip.to_string())).await {
                tracing::warn!(error = %e, "could not record an API token's last use");
            }
        });
    }
}

/// A new secret: the prefix and 256 random bits, URL-safe.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_and_carry_256_random_bits() {
        let a = new_secret();
        let body = a.strip_prefix(TOKEN_PREFIX).expect("prefix");
        assert_eq!(URL_SAFE_NO_PAD.decode(body).expect("base64").len(), 32);
        assert_ne!(a, new_secret());
    }

    #[test]
    fn scopes_are_stored_once_in_a_fixed_order_and_read_back() {
        let stored = join_scopes(&[Scope::SharesWrite, Scope::FilesRead, Scope::FilesRead]);
        assert_eq!(stored, "files:read shares:write");
        assert_eq!(
            split_scopes(&stored),
            vec![Scope::FilesRead, Scope::SharesWrite]
        );
        assert_eq!(
            split_scopes("files:read admin:all"),
            vec![Scope::FilesRead],
            "unknown names grant nothing"
        );
        for scope in Scope::ALL {
            let json = serde_json::to_value(scope).expect("json");
            assert_eq!(json, scope.as_str(), "JSON and storage agree");
        }
    }
}
