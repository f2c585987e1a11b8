//! Threshold rules (`search.p95 < 2ms`, `throughput > 40/s`, `cache_hit_rate > 70%`) and
//! their evaluation against a run's summary.
//!
//! Grammar: `[endpoint.][cached.|uncached.]metric OP value`, OP one of `< <= > >= == !=`.
//!
//! | metric | value | observed from |
//! |---|---|---|
//! | `p50 p90 p95 p99 p999 max mean min` | time: `500us`, `2ms`, `1.5s` | HDR histogram of the endpoint (or all) |
//! | `throughput` (`rps`) | `40/s`, `40rps`, `40` | requests / measured seconds |
//! | `error_rate` | `1%` or `0.01` | errors / requests (bad-token requests that did not get 401 count) |
//! | `requests`, `errors` | count | |
//! | `cache_hit_rate` | `70%` | server `/metrics` delta; `search.cache_hit_rate` for one route |
//! | `vectors` | count | `/health` before the load |
//! | `health` | `green`, `yellow`, `red` (ordered red < yellow < green) | `/health` before the load |
//! | `gpu_util` | `60%` | mean NVML utilization over the run |
//! | `server_cpu` | `150%` (of one core) | mean CPU of the embedded server |
//! | `server_rss` | `512MiB`, `2GB` | peak RSS of the embedded server while measured (ingestion's peak excluded) |
//! | `ingest_time` | time | ingest round trip |
//! | `capacity` | `500/s` | the knee of a capacity sweep (`harness sweep`): the highest offered rate that met the latency rules |
//! | `recall_at_1` `recall_at_5` `recall_at_10` `mrr_at_10` | `0.9` or `90%` | the retrieval eval (`harness eval`, or a scenario's `[eval]`): the HNSW index's figure on the first labeled set evaluated (the `descriptions` set, unless it is left out) |
//!
//! The rule's types and the metric scale live here; `parse` reads a rule's text, `evaluate`
//! checks rules against a summary.

mod evaluate;
mod parse;

use std::fmt;

use crate::summary::{HealthStatus, LatencyStats};
use crate::units;

pub use evaluate::evaluate;
pub use parse::parse_rule;

/// Endpoints a rule may name.
pub const ENDPOINTS: [&str; 3] = ["search", "query", "health"];

/// What a rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A latency percentile (0..100) or `max`/`mean`/`min`, microseconds.
    Latency(LatencyKind),
    /// Requests per second.
    Throughput,
    /// Fraction of requests that failed.
    ErrorRate,
    /// Requests completed.
    Requests,
    /// Requests failed.
    Errors,
    /// Fraction of cache lookups that hit.
    CacheHitRate,
    /// Vectors in the collection.
    Vectors,
    /// Health status (2 green, 1 yellow, 0 red).
    Health,
    /// Mean GPU utilization, percent.
    GpuUtil,
    /// Mean server CPU, percent of one core.
    ServerCpu,
    /// Peak server RSS, bytes.
    ServerRss,
    /// Ingest wall time, microseconds.
    IngestTime,
    /// The knee of a capacity sweep, requests per second.
    Capacity,
    /// A retrieval-quality figure of the eval, a fraction in 0..=1.
    Retrieval(RetrievalKind),
}

impl Metric {
    /// Whether the metric is measured by the retrieval eval rather than by the load, so
    /// `harness eval` (which drives no load) checks exactly these rules.
    pub fn is_retrieval(self) -> bool {
        matches!(self, Metric::Retrieval(_))
    }
}

/// Which retrieval-quality figure: those `harness eval` reports for the HNSW index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetrievalKind {
    /// Share of queries whose relevant page ranked first.
    RecallAt1,
    /// Mean share of relevant pages among the first 5 pages.
    RecallAt5,
    /// Mean share of relevant pages among the first 10 pages.
    RecallAt10,
    /// Mean reciprocal rank of the first relevant page within 10.
    MrrAt10,
}

impl RetrievalKind {
    /// This figure of one method's results.
    pub fn of(self, m: &crate::eval::MethodResult) -> f64 {
        match self {
            RetrievalKind::RecallAt1 => m.recall_at_1,
            RetrievalKind::RecallAt5 => m.recall_at_5,
            RetrievalKind::RecallAt10 => m.recall_at_10,
            RetrievalKind::MrrAt10 => m.mrr_at_10,
        }
    }
}

/// Which latency figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyKind {
    /// 50th percentile.
    P50,
    /// 90th.
    P90,
    /// 95th.
    P95,
    /// 99th.
    P99,
    /// 99.9th.
    P999,
    /// Slowest.
    Max,
    Mean,
    /// Fastest.
    Min,
}

impl LatencyKind {
    /// This figure of `s`, microseconds.
    pub fn of(self, s: &LatencyStats) -> f64 {
        match self {
            LatencyKind::P50 => s.p50_us as f64,
            LatencyKind::P90 => s.p90_us as f64,
            LatencyKind::P95 => s.p95_us as f64,
            LatencyKind::P99 => s.p99_us as f64,
            LatencyKind::P999 => s.p999_us as f64,
            LatencyKind::Max => s.max_us as f64,
            LatencyKind::Mean => s.mean_us,
            LatencyKind::Min => s.min_us as f64,
        }
    }
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// Whether the rule bounds its metric from above (`<`, `<=`).
    pub fn is_upper_bound(self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }

    fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            Op::Eq => (observed - limit).abs() < 1e-9,
            Op::Ne => (observed - limit).abs() >= 1e-9,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        })
    }
}

/// Restricts a latency rule to cache hits or misses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheFilter {
    /// Responses marked `cache;desc="hit"`.
    Cached,
    /// Responses marked `cache;desc="miss"`.
    Uncached,
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// As written (trimmed).
    pub text: String,
    /// Endpoint, or `None` for all.
    pub endpoint: Option<String>,
    /// Cache hits or misses only (latency metrics).
    pub cache: Option<CacheFilter>,
    pub metric: Metric,
    /// The metric's name as written.
    pub metric_name: String,
    pub op: Op,
    /// The limit in the metric's base unit.
    pub limit: f64,
}

impl Rule {
    /// Whether the rule needs a GPU.
    pub fn needs_gpu(&self) -> bool {
        self.metric == Metric::GpuUtil
    }
}

/// Why a rule could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(String);

fn err<T>(msg: impl Into<String>) -> Result<T, RuleError> {
    Err(RuleError(msg.into()))
}

/// Formats a value of a metric for people.
pub fn display(metric: Metric, value: f64) -> String {
    match metric {
        Metric::Latency(_) | Metric::IngestTime => units::us(value),
        Metric::Throughput | Metric::Capacity => format!("{value:.1}/s"),
        Metric::ErrorRate | Metric::CacheHitRate => format!("{:.2}%", value * 100.0),
        Metric::Requests | Metric::Errors | Metric::Vectors => format!("{value:.0}"),
        Metric::Health => match value.round() as i64 {
            2 => HealthStatus::Green.name().into(),
            1 => HealthStatus::Yellow.name().into(),
            _ => HealthStatus::Red.name().into(),
        },
        Metric::GpuUtil | Metric::ServerCpu => format!("{value:.1}%"),
        Metric::ServerRss => units::bytes(value.max(0.0) as u64),
        Metric::Retrieval(_) => format!("{value:.3}"),
    }
}

/// A health status on the rule's scale.
fn health_code(status: HealthStatus) -> f64 {
    match status {
        HealthStatus::Green => 2.0,
        HealthStatus::Yellow => 1.0,
        HealthStatus::Red => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_hold() {
        assert!(Op::Lt.holds(1.0, 2.0));
        assert!(!Op::Gt.holds(1.0, 2.0));
        assert!(Op::Ge.holds(2.0, 2.0));
        assert!(Op::Eq.holds(2.0, 2.0));
    }
}
