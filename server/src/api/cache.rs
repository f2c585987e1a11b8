//! The response cache: identical requests (after normalisation) are answered from memory.
//!
//! Keys start with the collection's data generation ([`crate::state::AppState::generation`]),
//! bumped after every write to the store, so an answer computed before an ingest changed the
//! passages is never served after it, TTL or not.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use crate::config::CacheConfig;

/// A cache of one route's responses, counting hits and misses in `/metrics`.
#[derive(Clone)]
pub struct ResponseCache<T: Clone + Send + Sync + 'static> {
    inner: Option<Cache<String, Arc<T>>>,
    route: &'static str,
}

impl<T: Clone + Send + Sync + 'static> ResponseCache<T> {
    /// A cache for `route` (`search` or `query`), or a pass-through when disabled.
    pub fn new(cfg: &CacheConfig, route: &'static str) -> Self {
        let inner = cfg.enabled.then(|| {
            Cache::builder()
                .max_capacity(cfg.max_entries)
                .time_to_live(Duration::from_secs(cfg.ttl_secs.max(1)))
                .build()
        });
        // Register both series at zero so a scrape before the first request sees them.
        metrics::counter!("ragbench_cache_hits_total", "route" => route).absolute(0);
        metrics::counter!("ragbench_cache_misses_total", "route" => route).absolute(0);
        Self { inner, route }
    }

    /// Looks `key` up, counting the hit or miss.
    pub async fn get(&self, key: &str) -> Option<Arc<T>> {
        let found = match &self.inner {
            Some(cache) => cache.get(key).await,
            None => None,
        };
        let name = if found.is_some() {
            "ragbench_cache_hits_total"
        } else {
            "ragbench_cache_misses_total"
        };
        metrics::counter!(name, "route" => self.route).increment(1);
        found
    }

    /// Drops every entry (their keys name an old data generation: this only frees memory).
    pub fn invalidate_all(&self) {
        if let Some(cache) = &self.inner {
            cache.invalidate_all();
        }
    }

    /// Stores a response.
    pub async fn insert(&self, key: String, value: T) {
        if let Some(cache) = &self.inner {
            cache.insert(key, Arc::new(value)).await;
        }
    }
}

/// Normalises free text for a cache key: case and runs of whitespace do not matter.
pub fn normalize_text(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_case_and_spacing() {
        assert_eq!(
            normalize_text("  How do I\tINSTALL bun? "),
            "how do i install bun?"
        );
    }
}
