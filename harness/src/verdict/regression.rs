//! The regression gate: `--max-regression 10%` fails a run whose P95 or throughput is that much
//! worse than the baseline's.
//!
//! Compared: the whole run (`overall`), and every endpoint present in both
//! runs with at least [`MIN_REQUESTS`] requests in each (fewer gives percentiles too noisy to gate
//! on). A metric regresses when it is more than `max` percent worse than the baseline's, in
//! the direction [`Better`] gives it.

use serde::{Deserialize, Serialize};

use super::Better;
use crate::summary::{EndpointStats, Summary};
use crate::units;

/// Endpoints with fewer requests than this in either run are not gated.
pub const MIN_REQUESTS: u64 = 100;

/// Which metric regressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegressionMetric {
    /// 95th percentile latency (higher is worse).
    P95,
    /// Requests per second (lower is worse).
    Throughput,
}

impl RegressionMetric {
    fn better(self) -> Better {
        match self {
            RegressionMetric::P95 => Better::Lower,
            RegressionMetric::Throughput => Better::Higher,
        }
    }
}

impl std::fmt::Display for RegressionMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RegressionMetric::P95 => "P95",
            RegressionMetric::Throughput => "throughput",
        })
    }
}

/// One metric that got worse than the allowed margin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionFinding {
    pub metric: RegressionMetric,
    /// `overall` or an endpoint name.
    pub scope: String,
    /// Baseline value (microseconds for P95, requests/s for throughput).
    pub baseline: f64,
    /// Current value, same unit.
    pub current: f64,
    /// How much worse, in percent (always positive).
    pub worse_pct: f64,
    /// The allowed margin, in percent.
    pub limit_pct: f64,
}

impl std::fmt::Display for RegressionFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (b, c) = match self.metric {
            RegressionMetric::P95 => (units::us(self.baseline), units::us(self.current)),
            RegressionMetric::Throughput => (units::rps(self.baseline), units::rps(self.current)),
        };
        write!(
            f,
            "{} of {} regressed {:.1} % (baseline {b}, now {c}, allowed {} %)",
            self.metric,
            self.scope,
            self.worse_pct,
            units::num(self.limit_pct)
        )
    }
}

/// A `--max-regression` value that is not a percentage.
#[derive(Debug, thiserror::Error)]
#[error("invalid regression limit {0:?}: expected a percentage such as 10%")]
pub struct BadPercent(pub String);

/// Parse a `--max-regression` value: `10%`, `10 %` or `10` (all mean ten percent).
pub fn parse_percent(s: &str) -> Result<f64, BadPercent> {
    let t = s.trim().trim_end_matches('%').trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1000.0).contains(&v) => Ok(v),
        _ => Err(BadPercent(s.to_string())),
    }
}

/// Compare a run with its baseline. Returns the findings; empty means the gate passes.
pub fn check(current: &Summary, baseline: &Summary, max_pct: f64) -> Vec<RegressionFinding> {
    let mut out = Vec::new();
    let (b, c) = (&baseline.overall, &current.overall);
    p95(&mut out, "overall", b, c, max_pct);
    throughput(&mut out, "overall", b, c, max_pct);
    for (name, c) in &current.endpoints {
        let Some(b) = baseline.endpoints.get(name) else {
            continue;
        };
        if !gated(b) || !gated(c) {
            continue;
        }
        p95(&mut out, name, b, c, max_pct);
        throughput(&mut out, name, b, c, max_pct);
    }
    out
}

fn gated(e: &EndpointStats) -> bool {
    e.requests >= MIN_REQUESTS
}

fn p95(
    out: &mut Vec<RegressionFinding>,
    scope: &str,
    b: &EndpointStats,
    c: &EndpointStats,
    max: f64,
) {
    let (b, c) = (b.latency.p95_us as f64, c.latency.p95_us as f64);
    gate(out, RegressionMetric::P95, scope, b, c, max);
}

fn throughput(
    out: &mut Vec<RegressionFinding>,
    scope: &str,
    b: &EndpointStats,
    c: &EndpointStats,
    max: f64,
) {
    gate(
        out,
        RegressionMetric::Throughput,
        scope,
        b.throughput_rps,
        c.throughput_rps,
        max,
    );
}

/// Records a finding when `metric` got more than `max` percent worse.
fn gate(
    out: &mut Vec<RegressionFinding>,
    metric: RegressionMetric,
    scope: &str,
    baseline: f64,
    current: f64,
    max: f64,
) {
    if let Some(worse_pct) = metric.better().worse_pct(baseline, current)
        && worse_pct > max
    {
        out.push(RegressionFinding {
            metric,
            scope: scope.into(),
            baseline,
            current,
            worse_pct,
            limit_pct: max,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p95: u64, rps: f64) -> Summary {
        let mut s: Summary =
            serde_json::from_str(include_str!("../../tests/fixtures/summary-phase2.json"))
                .expect("the recorded phase2 summary parses");
        s.overall.latency.p95_us = p95;
        s.overall.throughput_rps = rps;
        s.endpoints.clear();
        s
    }

    #[test]
    fn gate() {
        assert!(check(&run(1000, 100.0), &run(1000, 100.0), 10.0).is_empty());
        assert!(check(&run(1090, 91.0), &run(1000, 100.0), 10.0).is_empty());
        let f = check(&run(1200, 80.0), &run(1000, 100.0), 10.0);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].metric, RegressionMetric::P95);
        assert!((f[0].worse_pct - 20.0).abs() < 1e-9);
        assert_eq!(f[1].metric, RegressionMetric::Throughput);
        assert!(f[0].to_string().contains("P95 of overall regressed 20.0 %"));
        // Better is never a regression.
        assert!(check(&run(500, 300.0), &run(1000, 100.0), 0.0).is_empty());
    }

    #[test]
    fn endpoints_with_few_requests_are_not_gated() {
        let endpoint = |requests, p95_us| EndpointStats {
            requests,
            throughput_rps: 50.0,
            latency: crate::summary::LatencyStats {
                p95_us,
                ..Default::default()
            },
            ..Default::default()
        };
        let (mut base, mut cur) = (run(1000, 100.0), run(1000, 100.0));
        base.endpoints
            .insert("search".into(), endpoint(MIN_REQUESTS, 1000));
        cur.endpoints
            .insert("search".into(), endpoint(MIN_REQUESTS, 5000));
        let f = check(&cur, &base, 10.0);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].scope, "search");
        cur.endpoints
            .insert("search".into(), endpoint(MIN_REQUESTS - 1, 5000));
        assert!(check(&cur, &base, 10.0).is_empty());
    }

    #[test]
    fn percents() {
        assert_eq!(parse_percent("10%").unwrap(), 10.0);
        assert_eq!(parse_percent(" 2.5 % ").unwrap(), 2.5);
        assert_eq!(parse_percent("7").unwrap(), 7.0);
        assert!(parse_percent("ten").is_err());
        assert!(parse_percent("-5%").is_err());
    }
}
