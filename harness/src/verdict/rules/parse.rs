//! A rule's text read into a [`Rule`]: `[endpoint.][cached.]metric op value`.

use super::{
    CacheFilter, ENDPOINTS, LatencyKind, Metric, Op, RetrievalKind, Rule, RuleError, err,
    health_code,
};
use crate::summary::HealthStatus;

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
        "capacity" => Metric::Capacity,
        "recall_at_1" => Metric::Retrieval(RetrievalKind::RecallAt1),
        "recall_at_5" => Metric::Retrieval(RetrievalKind::RecallAt5),
        "recall_at_10" => Metric::Retrieval(RetrievalKind::RecallAt10),
        "mrr_at_10" => Metric::Retrieval(RetrievalKind::MrrAt10),
        other => {
            return err(format!(
                "unknown metric `{other}`: use p50, p90, p95, p99, p999, max, mean, min, throughput, \
                 error_rate, requests, errors, cache_hit_rate, vectors, health, gpu_util, server_cpu, \
                 server_rss, ingest_time, capacity, recall_at_1, recall_at_5, recall_at_10 or \
                 mrr_at_10"
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
        Metric::Throughput | Metric::Capacity => {
            let num = v
                .strip_suffix("/s")
                .or_else(|| v.strip_suffix("rps"))
                .unwrap_or(v);
            number(num, "requests per second, e.g. `40/s`")
        }
        Metric::ErrorRate | Metric::CacheHitRate | Metric::Retrieval(_) => {
            match v.strip_suffix('%') {
                Some(n) => Ok(number(n, "a percentage")? / 100.0),
                None => {
                    let f = number(v, "a percentage like `1%` or a fraction like `0.01`")?;
                    if f > 1.0 {
                        return err(format!("`{v}` is above 1: write a percentage as `{v}%`"));
                    }
                    Ok(f)
                }
            }
        }
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
    fn retrieval_rules_take_a_fraction_or_a_percentage_and_no_endpoint() {
        let r = parse_rule("recall_at_10 >= 0.9").unwrap();
        assert_eq!(r.metric, Metric::Retrieval(RetrievalKind::RecallAt10));
        assert_eq!(r.limit, 0.9);
        assert!(r.metric.is_retrieval());
        assert_eq!(parse_rule("recall_at_1 > 60%").unwrap().limit, 0.6);
        assert_eq!(
            parse_rule("mrr_at_10 >= 0.75").unwrap().metric,
            Metric::Retrieval(RetrievalKind::MrrAt10)
        );
        assert_eq!(
            parse_rule("recall_at_5 > 0.8").unwrap().metric,
            Metric::Retrieval(RetrievalKind::RecallAt5)
        );
        assert!(!parse_rule("p95 < 2ms").unwrap().metric.is_retrieval());
        assert!(
            parse_rule("recall_at_10 >= 90")
                .unwrap_err()
                .0
                .contains("above 1")
        );
        assert!(
            parse_rule("search.recall_at_10 >= 0.9")
                .unwrap_err()
                .0
                .contains("not per endpoint")
        );
    }
}
