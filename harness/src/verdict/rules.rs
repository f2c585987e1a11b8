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
//! | `server_rss` | `512MiB`, `2GB` | peak RSS of the embedded server |
//! | `ingest_time` | time | ingest round trip |

use std::fmt;

use crate::summary::{EndpointStats, HealthStatus, LatencyStats, Summary, ThresholdResult};
use crate::units;

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

/// Parses one rule.
pub fn parse_rule(text: &str) -> Result<Rule, RuleError> {
    let text = text.trim();
    let (lhs, op, rhs) = split_at_op(text)?;
    let parts: Vec<&str> = lhs.split('.').map(str::trim).collect();
    let (endpoint, cache, metric_name) = match parts.as_slice() {
        [m] => (None, None, *m),
        [e, m] => (Some(*e), None, *m),
        [e, c, m] => (Some(*e), Some(*c), *m),
        _ => return err(format!("`{lhs}`: expected `[endpoint.][cached.]metric`")),
    };
    if let Some(e) = endpoint
        && !ENDPOINTS.contains(&e)
    {
        return err(format!(
            "unknown endpoint `{e}`: use one of {} or none for all",
            ENDPOINTS.join(", ")
        ));
    }
    let cache = match cache {
        None => None,
        Some("cached") => Some(CacheFilter::Cached),
        Some("uncached") => Some(CacheFilter::Uncached),
        Some(other) => return err(format!("`{other}`: expected `cached` or `uncached`")),
    };
    let metric = metric_by_name(metric_name)?;
    if cache.is_some() && !matches!(metric, Metric::Latency(_)) {
        return err(
            "`cached.`/`uncached.` apply to latency metrics only (e.g. `search.cached.p95 < 1ms`)",
        );
    }
    let endpoint_ok = match metric {
        Metric::Latency(_)
        | Metric::Throughput
        | Metric::ErrorRate
        | Metric::Requests
        | Metric::Errors => true,
        Metric::CacheHitRate => endpoint.is_none_or(|e| e != "health"),
        _ => endpoint.is_none(),
    };
    if !endpoint_ok {
        return err(format!(
            "`{metric_name}` is not per endpoint: write it without `{}.`",
            endpoint.unwrap_or_default()
        ));
    }
    let limit = parse_value(metric, rhs)?;
    if metric == Metric::Health && !matches!(op, Op::Eq | Op::Ne | Op::Ge | Op::Gt) {
        return err(
            "health compares with ==, !=, >= or > (red < yellow < green), e.g. `health == green`",
        );
    }
    Ok(Rule {
        text: text.to_string(),
        endpoint: endpoint.map(str::to_string),
        cache,
        metric,
        metric_name: metric_name.to_string(),
        op,
        limit,
    })
}

/// A rule cut at its first (longest) comparison: `(metric side, op, value side)`.
fn split_at_op(text: &str) -> Result<(&str, Op, &str), RuleError> {
    let ops = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let Some((pos, op_str, op)) = ops
        .iter()
        .filter_map(|(s, op)| text.find(s).map(|p| (p, *s, *op)))
        .min_by_key(|(p, s, _)| (*p, usize::MAX - s.len()))
    else {
        return err("no comparison: write e.g. `p95 < 2ms` (operators: < <= > >= == !=)");
    };
    let lhs = text[..pos].trim();
    let rhs = text[pos + op_str.len()..].trim();
    if lhs.is_empty() || rhs.is_empty() {
        return err("a rule needs a metric on the left and a value on the right, e.g. `p95 < 2ms`");
    }
    Ok((lhs, op, rhs))
}

/// The metric a rule names.
fn metric_by_name(name: &str) -> Result<Metric, RuleError> {
    Ok(match name {
        "p50" | "median" => Metric::Latency(LatencyKind::P50),
        "p90" => Metric::Latency(LatencyKind::P90),
        "p95" => Metric::Latency(LatencyKind::P95),
        "p99" => Metric::Latency(LatencyKind::P99),
        "p999" | "p99.9" => Metric::Latency(LatencyKind::P999),
        "max" => Metric::Latency(LatencyKind::Max),
        "mean" | "avg" => Metric::Latency(LatencyKind::Mean),
        "min" => Metric::Latency(LatencyKind::Min),
        "throughput" | "rps" => Metric::Throughput,
        "error_rate" => Metric::ErrorRate,
        "requests" => Metric::Requests,
        "errors" => Metric::Errors,
        "cache_hit_rate" => Metric::CacheHitRate,
        "vectors" => Metric::Vectors,
        "health" => Metric::Health,
        "gpu_util" => Metric::GpuUtil,
        "server_cpu" => Metric::ServerCpu,
        "server_rss" => Metric::ServerRss,
        "ingest_time" => Metric::IngestTime,
        other => {
            return err(format!(
                "unknown metric `{other}`: use p50, p90, p95, p99, p999, max, mean, min, throughput, \
                 error_rate, requests, errors, cache_hit_rate, vectors, health, gpu_util, server_cpu, \
                 server_rss or ingest_time"
            ));
        }
    })
}

fn number(s: &str, what: &str) -> Result<f64, RuleError> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => err(format!("`{s}` is not a number ({what})")),
    }
}

fn parse_value(metric: Metric, rhs: &str) -> Result<f64, RuleError> {
    let v = rhs.trim();
    match metric {
        Metric::Latency(_) | Metric::IngestTime => {
            let (num, factor) = if let Some(n) = v.strip_suffix("us") {
                (n, 1.0)
            } else if let Some(n) = v.strip_suffix("µs") {
                (n, 1.0)
            } else if let Some(n) = v.strip_suffix("ms") {
                (n, 1e3)
            } else if let Some(n) = v.strip_suffix('s') {
                (n, 1e6)
            } else if let Some(n) = v.strip_suffix('m') {
                (n, 60e6)
            } else {
                return err(format!("`{v}` needs a time unit: us, ms or s (e.g. `2ms`)"));
            };
            Ok(number(num, "a time")? * factor)
        }
        Metric::Throughput => {
            let num = v
                .strip_suffix("/s")
                .or_else(|| v.strip_suffix("rps"))
                .unwrap_or(v);
            number(num, "requests per second, e.g. `40/s`")
        }
        Metric::ErrorRate | Metric::CacheHitRate => match v.strip_suffix('%') {
            Some(n) => Ok(number(n, "a percentage")? / 100.0),
            None => {
                let f = number(v, "a percentage like `1%` or a fraction like `0.01`")?;
                if f > 1.0 {
                    return err(format!("`{v}` is above 1: write a percentage as `{v}%`"));
                }
                Ok(f)
            }
        },
        Metric::GpuUtil | Metric::ServerCpu => {
            let n = v.strip_suffix('%').unwrap_or(v);
            number(n, "a percentage like `60%`")
        }
        Metric::Requests | Metric::Errors | Metric::Vectors => number(v, "a count"),
        Metric::Health => match HealthStatus::parse(v) {
            Some(status) => Ok(health_code(status)),
            None => err(format!("`{v}`: health is green, yellow or red")),
        },
        Metric::ServerRss => {
            let units = [
                ("GiB", 1024.0 * 1024.0 * 1024.0),
                ("MiB", 1024.0 * 1024.0),
                ("KiB", 1024.0),
                ("GB", 1e9),
                ("MB", 1e6),
                ("KB", 1e3),
                ("B", 1.0),
            ];
            for (suffix, factor) in units {
                if let Some(n) = v.strip_suffix(suffix) {
                    return Ok(number(n, "a size")? * factor);
                }
            }
            err(format!(
                "`{v}` needs a size unit: MiB, GiB, MB, GB (e.g. `2GiB`)"
            ))
        }
    }
}

/// Formats a value of a metric for people.
pub fn display(metric: Metric, value: f64) -> String {
    match metric {
        Metric::Latency(_) | Metric::IngestTime => units::us(value),
        Metric::Throughput => format!("{value:.1}/s"),
        Metric::ErrorRate | Metric::CacheHitRate => format!("{:.2}%", value * 100.0),
        Metric::Requests | Metric::Errors | Metric::Vectors => format!("{value:.0}"),
        Metric::Health => match value.round() as i64 {
            2 => HealthStatus::Green.name().into(),
            1 => HealthStatus::Yellow.name().into(),
            _ => HealthStatus::Red.name().into(),
        },
        Metric::GpuUtil | Metric::ServerCpu => format!("{value:.1}%"),
        Metric::ServerRss => units::bytes(value.max(0.0) as u64),
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

fn endpoint<'a>(summary: &'a Summary, rule: &Rule) -> Result<&'a EndpointStats, String> {
    match &rule.endpoint {
        None => Ok(&summary.overall),
        Some(e) => summary.endpoints.get(e).ok_or_else(|| {
            format!("the workload sent no `{e}` requests: give it a weight in [workload] or drop the rule")
        }),
    }
}

/// What a rule observed, in the metric's base unit.
fn observe(summary: &Summary, rule: &Rule) -> Result<f64, String> {
    match rule.metric {
        Metric::Latency(kind) => {
            let ep = endpoint(summary, rule)?;
            let stats = match rule.cache {
                None => Some(&ep.latency),
                Some(CacheFilter::Cached) => ep.cached.as_ref(),
                Some(CacheFilter::Uncached) => ep.uncached.as_ref(),
            };
            match stats {
                Some(s) if s.count > 0 => Ok(kind.of(s)),
                _ => Err("no requests to measure".into()),
            }
        }
        Metric::Throughput => Ok(endpoint(summary, rule)?.throughput_rps),
        Metric::ErrorRate => match &rule.endpoint {
            Some(_) => Ok(endpoint(summary, rule)?.error_rate),
            None => {
                let unexpected: u64 = summary.bad_token.unexpected.values().sum();
                let total = summary.overall.requests + summary.bad_token.requests;
                if total == 0 {
                    Err("no requests to measure".into())
                } else {
                    Ok((summary.overall.errors + unexpected) as f64 / total as f64)
                }
            }
        },
        Metric::Requests => Ok(endpoint(summary, rule)?.requests as f64),
        Metric::Errors => Ok(endpoint(summary, rule)?.errors as f64),
        Metric::CacheHitRate => {
            let rate = match &rule.endpoint {
                None => summary.cache.hit_rate,
                Some(route) => summary.cache.by_route.get(route).and_then(|r| r.hit_rate),
            };
            rate.ok_or_else(|| {
                "no cache lookups were counted: the server's /metrics had no ragbench_cache_* counters, or the workload made no cacheable requests".into()
            })
        }
        Metric::Vectors => summary
            .corpus
            .vectors
            .map(|v| v as f64)
            .ok_or_else(|| "/health did not report a vector count".into()),
        Metric::Health => summary
            .stack
            .health_before
            .map(health_code)
            .ok_or_else(|| "/health did not answer with a status".into()),
        Metric::GpuUtil => match &summary.gpu {
            None => Err("the GPU was not sampled in this run".into()),
            // The sampler's reason already starts with "no NVIDIA GPU detected".
            Some(gpu) if !gpu.available => Err(gpu.describe()),
            Some(gpu) => gpu
                .mean_utilization_pct()
                .ok_or_else(|| "no GPU samples were taken".into()),
        },
        Metric::ServerCpu => summary
            .server_process
            .as_ref()
            .map(|p| p.cpu_mean_pct)
            .ok_or_else(|| "server CPU is measured for the embedded stack only".into()),
        Metric::ServerRss => summary
            .server_process
            .as_ref()
            .map(|p| p.peak_rss_bytes as f64)
            .ok_or_else(|| "server memory is measured for the embedded stack only".into()),
        Metric::IngestTime => summary
            .corpus
            .ingest_wall_s
            .map(|s| s * 1e6)
            .ok_or_else(|| "this run did not ingest".into()),
    }
}

/// Evaluates rules against a summary (whose `thresholds` and `verdict` are not read).
pub fn evaluate(rules: &[Rule], summary: &Summary) -> Vec<ThresholdResult> {
    rules
        .iter()
        .map(|rule| {
            let observed = observe(summary, rule);
            let (observed_value, passed, message, observed_display) = match observed {
                Ok(v) => {
                    let passed = rule.op.holds(v, rule.limit);
                    let message = (!passed).then(|| {
                        format!(
                            "observed {} {} {}: the rule wants {} {} {}",
                            display(rule.metric, v),
                            negate(rule.op),
                            display(rule.metric, rule.limit),
                            rule.metric_name,
                            rule.op,
                            display(rule.metric, rule.limit)
                        )
                    });
                    (Some(v), passed, message, display(rule.metric, v))
                }
                Err(why) => (None, false, Some(why), "n/a".to_string()),
            };
            ThresholdResult {
                rule: rule.text.clone(),
                metric: rule.metric_name.clone(),
                endpoint: rule.endpoint.clone(),
                op: rule.op.to_string(),
                limit: rule.limit,
                observed: observed_value,
                limit_display: display(rule.metric, rule.limit),
                observed_display,
                passed,
                message,
            }
        })
        .collect()
}

fn negate(op: Op) -> &'static str {
    match op {
        Op::Lt => ">=",
        Op::Le => ">",
        Op::Gt => "<=",
        Op::Ge => "<",
        Op::Eq => "!=",
        Op::Ne => "==",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_plan_rules() {
        let r = parse_rule("search.p95 < 2ms").unwrap();
        assert_eq!(r.endpoint.as_deref(), Some("search"));
        assert_eq!(r.metric, Metric::Latency(LatencyKind::P95));
        assert_eq!(r.op, Op::Lt);
        assert_eq!(r.limit, 2000.0);
        assert_eq!(parse_rule("throughput > 40/s").unwrap().limit, 40.0);
        assert_eq!(parse_rule("cache_hit_rate > 70%").unwrap().limit, 0.7);
        assert_eq!(parse_rule("error_rate < 1%").unwrap().limit, 0.01);
        assert_eq!(parse_rule("vectors > 500").unwrap().limit, 500.0);
        assert_eq!(parse_rule("gpu_util >= 60%").unwrap().op, Op::Ge);
        assert_eq!(parse_rule("health == green").unwrap().limit, 2.0);
        assert_eq!(parse_rule("p95<500us").unwrap().limit, 500.0);
        assert_eq!(parse_rule("server_rss < 2GiB").unwrap().limit, 2147483648.0);
        assert_eq!(
            parse_rule("search.cached.p99 <= 1.5ms").unwrap().cache,
            Some(CacheFilter::Cached)
        );
    }

    #[test]
    fn rejects_bad_rules_with_a_reason() {
        assert!(
            parse_rule("p95 2ms")
                .unwrap_err()
                .0
                .contains("no comparison")
        );
        assert!(
            parse_rule("p96 < 2ms")
                .unwrap_err()
                .0
                .contains("unknown metric")
        );
        assert!(parse_rule("p95 < 2").unwrap_err().0.contains("time unit"));
        assert!(
            parse_rule("serch.p95 < 2ms")
                .unwrap_err()
                .0
                .contains("unknown endpoint")
        );
        assert!(
            parse_rule("search.vectors > 5")
                .unwrap_err()
                .0
                .contains("not per endpoint")
        );
        assert!(
            parse_rule("error_rate < 5")
                .unwrap_err()
                .0
                .contains("above 1")
        );
        assert!(parse_rule("health < green").is_err());
    }

    #[test]
    fn ops_hold() {
        assert!(Op::Lt.holds(1.0, 2.0));
        assert!(!Op::Gt.holds(1.0, 2.0));
        assert!(Op::Ge.holds(2.0, 2.0));
        assert!(Op::Eq.holds(2.0, 2.0));
    }
}
