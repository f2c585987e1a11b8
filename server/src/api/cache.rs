//! The response cache: identical requests (after normalisation) are answered from memory.
//!
//! Keys start with the collection's data generation ([`crate::state::AppState::generation`]),
//! bumped after every write to the store, so an answer computed before an ingest changed the
//! passages is never served after it, TTL or not.
//!
//! Entries are the response body as a hit sends it (`"cached": true`), serialized once on the
//! miss: a hit is a lookup and a reference count, not a copy of ten passages and a JSON
//! serialization (the cached path runs at tens of thousands of requests a second).

use std::marker::PhantomData;
use std::time::Duration;

use axum::body::Bytes;
use moka::sync::Cache;
use serde::Serialize;

use crate::config::CacheConfig;

/// A response that says whether it came from the cache.
pub trait Cacheable: Serialize {
    /// Sets the response's `cached` field.
    fn set_cached(&mut self, cached: bool);
}

/// A cache of one route's responses (of type `T`), counting hits and misses in `/metrics`.
#[derive(Clone)]
pub struct ResponseCache<T> {
    inner: Option<Cache<String, Bytes>>,
    route: &'static str,
    kind: PhantomData<fn() -> T>,
}

impl<T: Cacheable> ResponseCache<T> {
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
        Self {
            inner,
            route,
            kind: PhantomData,
        }
    }

    /// Looks `key` up, counting the hit or miss; a hit is the JSON body to send.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        let found = match &self.inner {
            Some(cache) => cache.get(key),
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

    /// Stores `response` as a hit will send it; `response` itself is left saying not cached.
    pub fn insert(&self, key: String, response: &mut T) {
        let Some(cache) = &self.inner else {
            return;
        };
        response.set_cached(true);
        let body = serde_json::to_vec(response);
        response.set_cached(false);
        match body {
            Ok(body) => cache.insert(key, Bytes::from(body)),
            // Not reachable for these types (strings and numbers); a response that cannot be
            // serialized is simply not cached, and the handler reports the failure itself.
            Err(e) => tracing::warn!(route = self.route, "response not cached: {e}"),
        }
    }
}

/// Normalises free text for a cache key: case and runs of whitespace do not matter.
pub fn normalize_text(text: &str) -> String {
    // One allocation: this runs on every search and question, hits included.
    let mut key = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !key.is_empty() {
            key.push(' ');
        }
        key.extend(word.chars().flat_map(char::to_lowercase));
    }
    key
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
