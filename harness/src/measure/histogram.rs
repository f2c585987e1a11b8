//! What a latency histogram says: its statistics, a per-second point, its percentile curve,
//! and HdrHistogram's interchange encoding, which lets `harness merge` add runs exactly.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

use crate::summary::{LatencyStats, Quantile, SecondPoint};

/// Highest latency tracked: 60 s in microseconds.
pub const MAX_US: u64 = 60_000_000;

/// A fresh microsecond histogram: 1 us .. 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// A cheaper histogram for per-second points (2 significant digits).
pub fn new_second_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, MAX_US, 2).expect("valid histogram bounds")
}

/// Records `us`, clamped into the histogram's range.
pub fn record(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.clamp(1, MAX_US));
}

/// Latency statistics of a histogram (all zero when it is empty), without the histogram
/// itself (for [`EndpointStats::latency`], whose histogram the endpoint carries).
pub fn latency_stats(h: &Histogram<u64>) -> LatencyStats {
    if h.is_empty() {
        return LatencyStats::default();
    }
    LatencyStats {
        count: h.len(),
        min_us: h.min(),
        mean_us: h.mean(),
        stdev_us: h.stdev(),
        p50_us: h.value_at_quantile(0.50),
        p90_us: h.value_at_quantile(0.90),
        p95_us: h.value_at_quantile(0.95),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
        hdr_base64: None,
    }
}

/// [`latency_stats`] with the histogram attached, so `harness merge` can combine runs exactly.
pub fn histogram_stats(h: &Histogram<u64>) -> LatencyStats {
    LatencyStats {
        hdr_base64: encode_histogram(h),
        ..latency_stats(h)
    }
}

/// One point of the per-second series from that second's histogram (2 significant digits).
pub fn second_point(
    t: u32,
    h: &Histogram<u64>,
    errors: u64,
    by_endpoint: BTreeMap<String, u64>,
) -> SecondPoint {
    if h.is_empty() {
        return SecondPoint {
            t,
            errors,
            by_endpoint,
            ..SecondPoint::default()
        };
    }
    SecondPoint {
        t,
        requests: h.len(),
        errors,
        p50_us: h.value_at_quantile(0.5),
        p95_us: h.value_at_quantile(0.95),
        p99_us: h.value_at_quantile(0.99),
        max_us: h.max(),
        by_endpoint,
        hdr_base64: encode_histogram(h),
    }
}

/// The percentile curve of a histogram (empty when it is empty).
pub fn percentile_points(h: &Histogram<u64>) -> Vec<Quantile> {
    if h.is_empty() {
        return Vec::new();
    }
    PERCENTILES
        .iter()
        .map(|&q| Quantile {
            q,
            us: h.value_at_quantile(q),
        })
        .collect()
}

const PERCENTILES: [f64; 16] = [
    0.0, 0.1, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0,
];

/// Serializes a histogram as V2 + deflate, base64 (HdrHistogram's interchange format).
pub fn encode_histogram(h: &Histogram<u64>) -> Option<String> {
    use base64::Engine as _;
    let mut buf = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut buf).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// Decodes what [`encode_histogram`] wrote.
pub fn decode_histogram(text: &str) -> Option<Histogram<u64>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .ok()
}
