//! Figures the report computes from a [`Summary`] that the summary does not store as such.

use std::sync::LazyLock;

use crate::measure::gpu::GpuTelemetry;
use crate::summary::{CacheStats, EndpointStats, Summary};

/// What a run without a GPU sampler shows: the "no NVIDIA GPU" box with this reason.
static NOT_SAMPLED: LazyLock<GpuTelemetry> =
    LazyLock::new(|| GpuTelemetry::unavailable("the GPU sampler did not run in this run"));

/// The run's GPU telemetry; a run whose sampler never started reads as "no GPU".
pub fn gpu(s: &Summary) -> &GpuTelemetry {
    s.gpu.as_ref().unwrap_or(&NOT_SAMPLED)
}

/// Whether the run saw a GPU.
pub fn has_gpu(s: &Summary) -> bool {
    let g = gpu(s);
    g.available && !g.devices.is_empty()
}

/// `GPU` when the run saw one, else `CPU`: how the comparison names a run.
pub fn device(s: &Summary) -> &'static str {
    if has_gpu(s) { "GPU" } else { "CPU" }
}

/// Failed share of requests (0..1); `None` without requests, where `error_rate` reads 0.
pub fn error_rate(e: &EndpointStats) -> Option<f64> {
    (e.requests > 0).then_some(e.error_rate)
}

/// The cache hit rate: the recorded one, or hits over lookups when only the counts are there.
pub fn hit_rate(c: &CacheStats) -> Option<f64> {
    c.hit_rate.or(match (c.hits, c.misses) {
        (Some(h), Some(m)) if h + m > 0 => Some(h as f64 / (h + m) as f64),
        _ => None,
    })
}

/// The percentile curve of an endpoint: `(percentile 0..100, microseconds)`, ascending, without
/// the zero latencies a log axis cannot draw.
pub fn percent_curve(e: &EndpointStats) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = e
        .percentiles
        .iter()
        .map(|q| (q.q * 100.0, q.us as f64))
        .filter(|(p, us)| p.is_finite() && *us > 0.0)
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

/// A short label for a run: `phase2 (started 2026-05-20 10:15:00 UTC)`.
pub fn label(s: &Summary) -> String {
    format!(
        "{} (started {})",
        s.scenario.name,
        s.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    )
}
