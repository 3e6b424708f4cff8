//! A short-lived in-process cache of the user rows behind access tokens, so that an
//! authenticated request does not have to read the database. Changes made through this
//! replica (logout-all, password change, disable) invalidate the entry at once; other
//! replicas see them within the TTL (`COFFER_AUTH_CACHE_TTL_MS`, 0 disables the cache).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::repo::User;

/// Past this many entries the cache is emptied rather than grown.
const MAX_ENTRIES: usize = 100_000;

pub struct UserCache {
    ttl: Duration,
    entries: RwLock<HashMap<Uuid, (Instant, Arc<User>)>>,
}

impl UserCache {
    pub fn new(ttl: Duration) -> UserCache {
        UserCache {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, id: Uuid) -> Option<Arc<User>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let (at, user) = entries.get(&id)?;
        (at.elapsed() < self.ttl).then(|| user.clone())
    }

    pub fn put(&self, user: Arc<User>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(user.id, (Instant::now(), user));
        }
    }

    pub fn invalidate(&self, id: Uuid) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Arc<User> {
        Arc::new(User {
            id: Uuid::new_v4(),
            username: "u".into(),
            email: None,
            password_hash: String::new(),
            role: "user".into(),
            disabled: false,
            tokens_valid_after: 0,
            created_at: chrono::Utc::now(),
            last_login: None,
        })
    }

    #[test]
    fn entries_expire_and_can_be_invalidated() {
        let cache = UserCache::new(Duration::from_millis(50));
        let u = user();
        cache.put(u.clone());
        assert!(cache.get(u.id).is_some());
        cache.invalidate(u.id);
        assert!(cache.get(u.id).is_none());
        cache.put(u.clone());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(u.id).is_none(), "stale entries are not served");
    }

    #[test]
    fn zero_ttl_disables_the_cache() {
        let cache = UserCache::new(Duration::ZERO);
        let u = user();
        cache.put(u.clone());
        assert!(cache.get(u.id).is_none());
    }
}
