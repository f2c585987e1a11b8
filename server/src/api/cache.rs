//! The response cache: identical requests (after normalisation) are answered from memory.
//!
//! Keys start with the collection's data generation ([`crate::state::AppState::generation`]),
//! bumped after every write to the store, so an answer computed before an ingest changed the
//! passages is never served after it, TTL or not.
//!
//! Entries are the response body as a hit sends it (`"cached": true`), serialized once on the
//! miss: a hit is a lookup and a reference count, not a copy of ten passages and a JSON
//! serialization (the cached path runs at tens of thousands of requests a second).
//!
//! The handlers make every key ([`CacheKey`]); the cache also remembers which raw request body
//! the handler turned into which key, so that [`super::fast_path`] can answer an exact repeat
//! without parsing it again ([`ResponseCache::get_by_body`]).

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use foldhash::fast::RandomState;
use metrics::Counter;
use moka::sync::Cache;
use serde::Serialize;

use crate::config::CacheConfig;

/// A response that says whether it came from the cache.
pub trait Cacheable: Serialize {
    /// Sets the response's `cached` field.
    fn set_cached(&mut self, cached: bool);
}

/// Where an answer is kept: the data generation it was computed in, and what the handler made
/// of the request (its parameters and normalised text, see [`normalize_text`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    generation: u64,
    request: Arc<str>,
}

impl CacheKey {
    /// The key of `request` (the handler's description of it) in data generation `generation`.
    pub fn new(generation: u64, request: String) -> Self {
        Self {
            generation,
            request: request.into(),
        }
    }

    /// The request part, without the generation: what a raw body is remembered as.
    pub fn request(&self) -> &Arc<str> {
        &self.request
    }
}

/// A response extension: the request part of the key the handler filed (or found) the answer
/// under, for [`super::fast_path`] to remember the raw body by.
#[derive(Debug, Clone)]
pub struct AnswerKey(pub Arc<str>);

/// A cache of one route's responses (of type `T`), counting hits and misses in `/metrics`.
#[derive(Clone)]
pub struct ResponseCache<T> {
    inner: Option<Cache<CacheKey, Bytes, RandomState>>,
    /// Raw request bodies the handler answered, and the request part of the key it made of
    /// each. Parsing is a pure function of the body, so an exact repeat has the same key.
    bodies: Option<Cache<Bytes, Arc<str>, RandomState>>,
    route: &'static str,
    hits: Counter,
    /// The hits [`super::fast_path`] answered (also counted in `hits`).
    fast_hits: Counter,
    misses: Counter,
    kind: PhantomData<fn() -> T>,
}

impl<T: Cacheable> ResponseCache<T> {
    /// A cache for `route` (`search` or `query`), or a pass-through when disabled.
    pub fn new(cfg: &CacheConfig, route: &'static str) -> Self {
        let ttl = Duration::from_secs(cfg.ttl_secs.max(1));
        let inner = cfg.enabled.then(|| {
            Cache::builder()
                .max_capacity(cfg.max_entries)
                .time_to_live(ttl)
                .build_with_hasher(RandomState::default())
        });
        let bodies = cfg.enabled.then(|| {
            Cache::builder()
                .max_capacity(cfg.max_entries)
                .time_to_idle(ttl)
                .build_with_hasher(RandomState::default())
        });
        // Resolved once: a registry lookup per hit was measurable at these rates. Registered
        // at zero so a scrape before the first request sees both series.
        let hits = metrics::counter!("ragbench_cache_hits_total", "route" => route);
        let fast_hits = metrics::counter!("ragbench_cache_fast_hits_total", "route" => route);
        let misses = metrics::counter!("ragbench_cache_misses_total", "route" => route);
        hits.absolute(0);
        fast_hits.absolute(0);
        misses.absolute(0);
        Self {
            inner,
            bodies,
            route,
            hits,
            fast_hits,
            misses,
            kind: PhantomData,
        }
    }

    /// Looks `key` up, counting the hit or miss; a hit is the JSON body to send.
    pub fn get(&self, key: &CacheKey) -> Option<Bytes> {
        let found = self.inner.as_ref().and_then(|cache| cache.get(key));
        match found {
            Some(_) => self.hits.increment(1),
            None => self.misses.increment(1),
        }
        found
    }

    /// The answer to an exact repeat of a request `body` the handler already turned into a
    /// key, in data generation `generation`; counts a hit when there is one. `None` (not
    /// counted: the handler will count its own lookup) when the body is new or its answer is
    /// gone.
    pub fn get_by_body(&self, generation: u64, body: &[u8]) -> Option<Bytes> {
        let request = self.bodies.as_ref()?.get(body)?;
        let found = self.inner.as_ref()?.get(&CacheKey {
            generation,
            request,
        })?;
        self.hits.increment(1);
        self.fast_hits.increment(1);
        Some(found)
    }

    /// Remembers that the handler made `request` of `body`. The body is copied: the one given
    /// may be a slice of a connection's whole read buffer.
    pub fn remember_body(&self, body: &[u8], request: Arc<str>) {
        if let Some(bodies) = &self.bodies {
            bodies.insert(Bytes::copy_from_slice(body), request);
        }
    }

    /// Drops every entry (their keys name an old data generation: this only frees memory).
    pub fn invalidate_all(&self) {
        if let Some(cache) = &self.inner {
            cache.invalidate_all();
        }
    }

    /// Stores `response` as a hit will send it; `response` itself is left saying not cached.
    pub fn insert(&self, key: CacheKey, response: &mut T) {
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
        if word.is_ascii() {
            // Most queries: a byte copy, where `to_lowercase` per char was 5 % of a hit.
            let start = key.len();
            key.push_str(word);
            key[start..].make_ascii_lowercase();
        } else {
            key.extend(word.chars().flat_map(char::to_lowercase));
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Answer {
        text: &'static str,
        cached: bool,
    }

    impl Cacheable for Answer {
        fn set_cached(&mut self, cached: bool) {
            self.cached = cached;
        }
    }

    #[test]
    fn a_remembered_body_finds_its_answer_in_its_generation_only() {
        let cache = ResponseCache::<Answer>::new(&CacheConfig::default(), "search");
        let key = CacheKey::new(7, "index\x005\0\0\0install bun".into());
        let mut answer = Answer {
            text: "bun install",
            cached: false,
        };
        cache.insert(key.clone(), &mut answer);
        assert!(!answer.cached, "the caller's response still says computed");
        let body = br#"{"query":"Install  bun"}"#;
        assert_eq!(cache.get_by_body(7, body), None, "not remembered yet");

        cache.remember_body(body, key.request().clone());
        let hit = cache.get_by_body(7, body).expect("an exact repeat");
        assert_eq!(&hit[..], br#"{"text":"bun install","cached":true}"#);
        assert_eq!(
            cache.get(&key),
            Some(hit),
            "the same entry as the handler's"
        );
        assert_eq!(cache.get_by_body(8, body), None, "a later generation");
        assert_eq!(cache.get_by_body(7, br#"{"query":"install bun"}"#), None);

        let off = CacheConfig {
            enabled: false,
            ..CacheConfig::default()
        };
        let disabled = ResponseCache::<Answer>::new(&off, "search");
        disabled.insert(key.clone(), &mut answer);
        disabled.remember_body(body, key.request().clone());
        assert_eq!(disabled.get_by_body(7, body), None);
    }

    #[test]
    fn keys_ignore_case_and_spacing() {
        assert_eq!(
            normalize_text("  How do I\tINSTALL bun? "),
            "how do i install bun?"
        );
        // Words outside ASCII take the Unicode rules (here the capital sharp S and Σ).
        assert_eq!(normalize_text("Straẞe  ΣΟΦΙΑ\u{00a0}x"), "straße σοφια x");
    }
}
