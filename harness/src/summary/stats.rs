//! The measured figures a summary holds: latency statistics, endpoints, the per-second series,
//! the response cache and the server process.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Latency statistics of one histogram (microseconds).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Number of values recorded.
    pub count: u64,
    /// Smallest value.
    pub min_us: u64,
    pub mean_us: f64,
    /// Standard deviation.
    pub stdev_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 95th percentile.
    pub p95_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest value.
    pub max_us: u64,
    /// The histogram these figures came from (V2 + deflate, base64), so runs merge exactly.
    /// Absent in [`EndpointStats::latency`], whose histogram is [`EndpointStats::hdr_base64`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr_base64: Option<String>,
}

/// Statistics of one endpoint (or of all together in [`Summary::overall`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EndpointStats {
    /// Requests completed in the measured window (errors included).
    pub requests: u64,
    /// Requests that failed: transport errors and non-2xx responses.
    pub errors: u64,
    /// `errors / requests` (0 when there were none).
    pub error_rate: f64,
    /// Error counts by HTTP status (`"503"`) or `"transport"` / `"timeout"`.
    pub errors_by_status: BTreeMap<String, u64>,
    /// Successful responses by status (`"200"`).
    pub status_counts: BTreeMap<String, u64>,
    /// `requests / measured_s`.
    pub throughput_rps: f64,
    /// Latency of all requests (errors included), microseconds. Open loop: from the
    /// intended start, so schedule lag is included.
    pub latency: LatencyStats,
    /// Latency of responses the server marked as cache hits (`Server-Timing: cache;desc="hit"`).
    pub cached: Option<LatencyStats>,
    /// Latency of responses the server marked as cache misses.
    pub uncached: Option<LatencyStats>,
    /// Latency percentiles: `(quantile 0..1, microseconds)` points for a percentile plot.
    pub percentiles: Vec<Quantile>,
    /// The full HDR histogram, V2 + deflate, base64: merges exactly across runs.
    pub hdr_base64: Option<String>,
}

/// One point of a percentile curve.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Quantile {
    /// Quantile, 0..1.
    pub q: f64,
    /// Latency at that quantile, microseconds.
    pub us: u64,
}

/// Requests sent with a bad token on purpose.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BadTokenStats {
    /// How many were sent (in the measured window).
    pub requests: u64,
    /// How many got the expected 401.
    pub rejected: u64,
    /// Any other outcome, by status or `transport`: these count as errors.
    pub unexpected: BTreeMap<String, u64>,
    /// Latency of the rejections, microseconds.
    pub latency: LatencyStats,
}

/// One second of the measured window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SecondPoint {
    /// Seconds since the measured window started.
    pub t: u32,
    /// Requests started in this second (authenticated; completed).
    pub requests: u64,
    /// Of those, errors.
    pub errors: u64,
    /// Median latency of this second's requests, microseconds (0 when none).
    pub p50_us: u64,
    /// 95th percentile.
    pub p95_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    pub max_us: u64,
    /// Requests per endpoint in this second.
    pub by_endpoint: BTreeMap<String, u64>,
    /// This second's histogram (2 significant digits; V2 + deflate, base64), so the series of
    /// runs from several machines merges exactly. Absent for a second without requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr_base64: Option<String>,
}

/// Response cache figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CacheStats {
    /// `ragbench_cache_hits_total` delta over the measured window (all routes).
    pub hits: Option<u64>,
    /// `ragbench_cache_misses_total` delta over the measured window (all routes).
    pub misses: Option<u64>,
    /// `hits / (hits + misses)`, when there was any lookup.
    pub hit_rate: Option<f64>,
    /// The same per route (`search`, `query`).
    pub by_route: BTreeMap<String, RouteCache>,
    /// Hits and misses as the responses' `Server-Timing` reported them (client side).
    pub responses_hit: u64,
    /// Responses marked as misses.
    pub responses_miss: u64,
    /// Where the hit rate came from: `metrics` (server counters) or `unavailable`.
    pub source: String,
}

/// Cache figures of one route.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RouteCache {
    /// Hits over the window.
    pub hits: u64,
    /// Misses over the window.
    pub misses: u64,
    /// `hits / (hits + misses)`.
    pub hit_rate: Option<f64>,
}

/// The server process's resource use.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessStats {
    /// Its process id.
    pub pid: u32,
    /// One sample a second; `t` is seconds since the measured window started
    /// (negative during warm-up).
    pub samples: Vec<ProcessSample>,
    /// Mean CPU over the measured window, percent of one core.
    pub cpu_mean_pct: f64,
    /// Highest one-second CPU, percent of one core.
    pub cpu_max_pct: f64,
    /// Highest RSS from the start of measuring, bytes (the kernel's high-water mark, reset
    /// when monitoring starts, so ingestion's peak is not in it).
    pub peak_rss_bytes: u64,
}

/// One resource sample.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ProcessSample {
    /// Seconds since the measured window started (negative during warm-up).
    pub t: f64,
    /// CPU over the last interval, percent of one core.
    pub cpu_pct: f64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
}
