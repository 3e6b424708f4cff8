//! The in-process TTL caches for hot metadata (users behind tokens, verified tokens,
//! files behind downloads), on moka: bounded, evicting the least useful entries one by
//! one (never all at once), expiring each entry its TTL after it was written. Writes
//! through this replica invalidate entries at once; other replicas see changes within
//! the TTL. A zero TTL disables the cache.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

/// Most entries a cache holds.
const MAX_ENTRIES: u64 = 100_000;

pub struct TtlCache<K, V> {
    inner: Option<Cache<K, Arc<V>>>,
}

impl<K, V> TtlCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    pub fn new(ttl: Duration) -> TtlCache<K, V> {
        TtlCache {
            inner: (!ttl.is_zero()).then(|| {
                Cache::builder()
                    .max_capacity(MAX_ENTRIES)
                    .time_to_live(ttl)
                    .build()
            }),
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.as_ref()?.get(key)
    }

    pub fn put(&self, key: K, value: Arc<V>) {
        if let Some(cache) = &self.inner {
            cache.insert(key, value);
        }
    }

    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(cache) = &self.inner {
            cache.invalidate(key);
        }
    }
}

/// Turns for first sights: when a cache misses and the answer is to be found or made in
/// the database, the requests that missed the same key take turns, so the first finds
/// or makes it and the others find it cached, instead of all of them racing to make it
/// (32 clients starting a new job's uploads at once waited up to 0.9 s on each other's
/// conflicting creates). Keys share a fixed set of locks by hash: two keys may wait for
/// each other now and then, only while one of them is being made.
pub struct Turns {
    locks: Box<[tokio::sync::Mutex<()>]>,
    hasher: std::collections::hash_map::RandomState,
}

/// Locks in a [`Turns`].
const TURNS: usize = 64;

impl Default for Turns {
    fn default() -> Turns {
        Turns {
            locks: (0..TURNS).map(|_| tokio::sync::Mutex::new(())).collect(),
            hasher: Default::default(),
        }
    }
}

impl Turns {
    /// Waits for `key`'s turn; the turn lasts as long as the guard.
    pub async fn take<Q: Hash + ?Sized>(&self, key: &Q) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::BuildHasher as _;
        let at = (self.hasher.hash_one(key) % TURNS as u64) as usize;
        self.locks[at].lock().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn entries_expire_and_can_be_invalidated() {
        let cache = TtlCache::new(Duration::from_millis(50));
        cache.put(1, Arc::new("one"));
        assert_eq!(cache.get(&1).as_deref(), Some(&"one"));
        cache.invalidate(&1);
        assert!(cache.get(&1).is_none());
        cache.put(1, Arc::new("one"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(&1).is_none(), "stale entries are not served");
    }

    #[test]
    fn zero_ttl_disables_the_cache() {
        let cache = TtlCache::new(Duration::ZERO);
        cache.put(1, Arc::new(1));
        assert!(cache.get(&1).is_none());
    }

    #[test]
    fn a_full_cache_keeps_serving_without_a_burst_of_misses() {
        let cache = TtlCache::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES + 1_000 {
            cache.put(i, Arc::new(i));
        }
        // Eviction is one entry at a time: most entries are still there.
        let hits = (0..MAX_ENTRIES + 1_000)
            .filter(|i| cache.get(i).is_some())
            .count() as u64;
        assert!(hits > MAX_ENTRIES / 2, "{hits} hits");
    }

    #[test]
    fn string_keys_are_looked_up_by_str() {
        let cache: TtlCache<String, u8> = TtlCache::new(Duration::from_secs(60));
        cache.put("token".to_owned(), Arc::new(7));
        assert_eq!(cache.get("token").as_deref(), Some(&7));
        assert!(cache.get("other").is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn turns_at_one_key_never_overlap() {
        let turns = Arc::new(Turns::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (turns, inside, most) = (turns.clone(), inside.clone(), most.clone());
                tokio::spawn(async move {
                    let _turn = turns.take(&("user", "job_1")).await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "one at a time");
    }
}
