//! Reading the server's Prometheus `/metrics` text: just enough to take the cache counters
//! before and after the measured window.

use std::collections::BTreeMap;

use crate::summary::{CacheStats, RouteCache};

/// Counter name for cache hits.
pub const CACHE_HITS: &str = "ragbench_cache_hits_total";
/// Counter name for cache misses.
pub const CACHE_MISSES: &str = "ragbench_cache_misses_total";

/// The cache counters at one moment, per route.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheCounters {
    /// route -> (hits, misses).
    pub by_route: BTreeMap<String, (f64, f64)>,
    /// Whether either counter appeared at all.
    pub present: bool,
}

/// Parses Prometheus exposition text and returns the cache counters per `route` label.
pub fn cache_counters(text: &str) -> CacheCounters {
    let mut out = CacheCounters::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name_labels, value) = match line.rfind('}') {
            Some(close) => (&line[..=close], line[close + 1..].trim()),
            None => match line.split_once(char::is_whitespace) {
                Some((n, v)) => (n, v.trim()),
                None => continue,
            },
        };
        let (name, labels) = match name_labels.split_once('{') {
            Some((n, l)) => (n.trim(), l.trim_end_matches('}')),
            None => (name_labels.trim(), ""),
        };
        let is_hit = name == CACHE_HITS;
        if !is_hit && name != CACHE_MISSES {
            continue;
        }
        // A sample may carry a timestamp after the value.
        let Some(value) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let route = label(labels, "route").unwrap_or_else(|| "all".into());
        out.present = true;
        let entry = out.by_route.entry(route).or_insert((0.0, 0.0));
        if is_hit {
            entry.0 += value;
        } else {
            entry.1 += value;
        }
    }
    out
}

fn label(labels: &str, key: &str) -> Option<String> {
    // Labels are `k="v",k2="v2"`; values may contain escaped quotes, which routes do not.
    for part in labels.split(',') {
        let (k, v) = part.split_once('=')?;
        if k.trim() == key {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// The cache figures of the window between two scrapes.
pub fn cache_delta(before: &CacheCounters, after: &CacheCounters) -> CacheStats {
    if !after.present {
        return CacheStats {
            source: "unavailable".into(),
            ..CacheStats::default()
        };
    }
    let mut by_route = BTreeMap::new();
    let (mut hits, mut misses) = (0u64, 0u64);
    for (route, (h1, m1)) in &after.by_route {
        let (h0, m0) = before.by_route.get(route).copied().unwrap_or((0.0, 0.0));
        // A counter that went down means the server restarted: count from zero.
        let dh = if h1 >= &h0 { h1 - h0 } else { *h1 } as u64;
        let dm = if m1 >= &m0 { m1 - m0 } else { *m1 } as u64;
        hits += dh;
        misses += dm;
        by_route.insert(
            route.clone(),
            RouteCache {
                hits: dh,
                misses: dm,
                hit_rate: rate(dh, dm),
            },
        );
    }
    CacheStats {
        hits: Some(hits),
        misses: Some(misses),
        hit_rate: rate(hits, misses),
        by_route,
        responses_hit: 0,
        responses_miss: 0,
        source: "metrics".into(),
    }
}

fn rate(hits: u64, misses: u64) -> Option<f64> {
    let n = hits + misses;
    (n > 0).then(|| hits as f64 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# HELP ragbench_cache_hits_total hits\n\
        # TYPE ragbench_cache_hits_total counter\n\
        ragbench_cache_hits_total{route=\"search\"} 10\n\
        ragbench_cache_misses_total{route=\"search\"} 5\n\
        ragbench_http_requests_total{route=\"search\",status=\"200\"} 15\n";
    const AFTER: &str = "ragbench_cache_hits_total{route=\"search\"} 100\n\
        ragbench_cache_misses_total{route=\"search\"} 15\n\
        ragbench_cache_hits_total{route=\"query\"} 3 1700000000000\n";

    #[test]
    fn delta_of_counters() {
        let d = cache_delta(&cache_counters(BEFORE), &cache_counters(AFTER));
        assert_eq!(d.hits, Some(93));
        assert_eq!(d.misses, Some(10));
        assert_eq!(d.by_route["search"].hits, 90);
        assert_eq!(d.by_route["query"].hits, 3);
        assert!((d.hit_rate.unwrap() - 93.0 / 103.0).abs() < 1e-9);
        assert_eq!(d.source, "metrics");
    }

    #[test]
    fn missing_counters_are_unavailable() {
        let d = cache_delta(&CacheCounters::default(), &cache_counters("up 1\n"));
        assert_eq!(d.source, "unavailable");
        assert_eq!(d.hit_rate, None);
    }
}
