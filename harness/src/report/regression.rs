//! The regression gate: `--max-regression 10%` fails a run whose P95 or throughput is that much
//! worse than the baseline's.
//!
//! Compared: the whole run (`overall`), and every endpoint present in both
//! runs with at least [`MIN_REQUESTS`] requests in each (fewer gives percentiles too noisy to gate
//! on). P95 regresses when `current > baseline * (1 + max/100)`; throughput when
//! `current < baseline * (1 - max/100)`.

use serde::{Deserialize, Serialize};

use super::ReportError;
use crate::summary::{EndpointStats, Summary};

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
    /// The metric.
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
            RegressionMetric::P95 => (super::fmt::us(self.baseline), super::fmt::us(self.current)),
            RegressionMetric::Throughput => (
                super::fmt::rps(self.baseline),
                super::fmt::rps(self.current),
            ),
        };
        write!(
            f,
            "{} of {} regressed {:.1} % (baseline {b}, now {c}; allowed {} %)",
            self.metric,
            self.scope,
            self.worse_pct,
            super::fmt::num(self.limit_pct)
        )
    }
}

/// Parse a `--max-regression` value: `10%`, `10 %` or `10` (all mean ten percent).
pub fn parse_percent(s: &str) -> Result<f64, ReportError> {
    let t = s.trim().trim_end_matches('%').trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1000.0).contains(&v) => Ok(v),
        _ => Err(ReportError::BadPercent(s.to_string())),
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
    if b > 0.0 && c > b * (1.0 + max / 100.0) {
        out.push(RegressionFinding {
            metric: RegressionMetric::P95,
            scope: scope.into(),
            baseline: b,
            current: c,
            worse_pct: (c / b - 1.0) * 100.0,
            limit_pct: max,
        });
    }
}

fn throughput(
    out: &mut Vec<RegressionFinding>,
    scope: &str,
    b: &EndpointStats,
    c: &EndpointStats,
    max: f64,
) {
    let (b, c) = (b.throughput_rps, c.throughput_rps);
    if b > 0.0 && c < b * (1.0 - max / 100.0) {
        out.push(RegressionFinding {
            metric: RegressionMetric::Throughput,
            scope: scope.into(),
            baseline: b,
            current: c,
            worse_pct: (1.0 - c / b) * 100.0,
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
