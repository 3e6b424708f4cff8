//! A small in-process TTL cache for hot metadata (users behind tokens, files behind
//! downloads). Writes through this replica invalidate entries at once; other replicas
//! see changes within the TTL. A zero TTL disables it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Past this many entries the cache is emptied rather than grown.
const MAX_ENTRIES: usize = 100_000;

pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: RwLock<HashMap<K, (Instant, Arc<V>)>>,
}

impl<K: Eq + Hash + Copy, V> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> TtlCache<K, V> {
        TtlCache {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: K) -> Option<Arc<V>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let (at, value) = entries.get(&key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn put(&self, key: K, value: Arc<V>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (Instant::now(), value));
        }
    }

    pub fn invalidate(&self, key: K) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_invalidated() {
        let cache = TtlCache::new(Duration::from_millis(50));
        cache.put(1, Arc::new("one"));
        assert_eq!(cache.get(1).as_deref(), Some(&"one"));
        cache.invalidate(1);
        assert!(cache.get(1).is_none());
        cache.put(1, Arc::new("one"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(1).is_none(), "stale entries are not served");
    }

    #[test]
    fn zero_ttl_disables_the_cache() {
        let cache = TtlCache::new(Duration::ZERO);
        cache.put(1, Arc::new(1));
        assert!(cache.get(1).is_none());
    }
}
