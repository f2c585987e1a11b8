//! The comparison with a baseline run: the plan's "CPU vs GPU" table, each metric side by side
//! with its improvement factor.

use serde::Serialize;

use super::figures;
use crate::summary::{EndpointStats, Summary};
use crate::units;
use crate::verdict::Better;

/// How the current run compares with the baseline on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// At least 2 % better.
    Better,
    /// At least 2 % worse.
    Worse,
    /// Within 2 %.
    Same,
    /// Not judged, or missing on one side.
    Info,
}

/// One row of the comparison table.
#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    /// Metric, e.g. `P95`.
    pub metric: String,
    /// What it is measured on: `all requests`, an endpoint, a stage.
    pub scope: String,
    /// Baseline value, formatted.
    pub baseline: String,
    /// Current value, formatted.
    pub current: String,
    /// Improvement factor: baseline/current for lower-is-better, current/baseline otherwise.
    pub factor: Option<f64>,
    /// The factor formatted (`3.2x`), or why there is none.
    pub factor_text: String,
    /// Better, worse, same or info.
    pub outcome: Outcome,
    /// Which direction is better.
    pub better: Better,
}

/// Tolerance within which two values count as the same.
const SAME_BAND: f64 = 0.02;

fn row(
    metric: &str,
    scope: &str,
    better: Better,
    base: Option<f64>,
    cur: Option<f64>,
    show: &dyn Fn(f64) -> String,
) -> Option<CompareRow> {
    if base.is_none() && cur.is_none() {
        return None;
    }
    let text = |v: Option<f64>| v.map(show).unwrap_or_else(|| "-".into());
    let (factor, factor_text, outcome) = match (base, cur) {
        (Some(b), Some(c)) => judge(better, b, c),
        _ => (None, "not in both runs".into(), Outcome::Info),
    };
    Some(CompareRow {
        metric: metric.into(),
        scope: scope.into(),
        baseline: text(base),
        current: text(cur),
        factor,
        factor_text,
        outcome,
        better,
    })
}

/// The improvement factor of `cur` over `base` and the verdict it gives.
pub fn judge(better: Better, base: f64, cur: f64) -> (Option<f64>, String, Outcome) {
    if base == cur {
        return (Some(1.0), format_factor(1.0), outcome_of(better, 1.0));
    }
    let (num, den) = better.factor_parts(base, cur);
    if num > 0.0 && den > 0.0 {
        let f = num / den;
        return (Some(f), format_factor(f), outcome_of(better, f));
    }
    // One side is zero (values differ): only the direction can be told.
    let which = if base == 0.0 { "baseline 0" } else { "now 0" };
    match better {
        Better::Neither => (None, format!("n/a ({which})"), Outcome::Info),
        _ if num > 0.0 => (None, format!("better ({which})"), Outcome::Better),
        _ => (None, format!("worse ({which})"), Outcome::Worse),
    }
}

fn outcome_of(better: Better, factor: f64) -> Outcome {
    if better == Better::Neither {
        Outcome::Info
    } else if factor >= 1.0 + SAME_BAND {
        Outcome::Better
    } else if factor <= 1.0 - SAME_BAND {
        Outcome::Worse
    } else {
        Outcome::Same
    }
}

/// `3.20x`, `0.85x`, `120x`.
pub fn format_factor(f: f64) -> String {
    if f >= 100.0 {
        format!("{f:.0}x")
    } else if f >= 10.0 {
        format!("{f:.1}x")
    } else {
        format!("{f:.2}x")
    }
}

fn latency_rows(
    out: &mut Vec<CompareRow>,
    scope: &str,
    b: &EndpointStats,
    c: &EndpointStats,
    all: bool,
) {
    let lat = |m: &str, get: fn(&EndpointStats) -> u64| {
        row(
            m,
            scope,
            Better::Lower,
            Some(get(b) as f64),
            Some(get(c) as f64),
            &units::us,
        )
    };
    let mut rows = vec![lat("P50", |e| e.latency.p50_us)];
    if all {
        rows.push(lat("P90", |e| e.latency.p90_us));
    }
    rows.push(lat("P95", |e| e.latency.p95_us));
    rows.push(lat("P99", |e| e.latency.p99_us));
    if all {
        rows.push(lat("max", |e| e.latency.max_us));
    }
    rows.push(row(
        "throughput",
        scope,
        Better::Higher,
        Some(b.throughput_rps),
        Some(c.throughput_rps),
        &units::rps,
    ));
    rows.push(row(
        "error rate",
        scope,
        Better::Lower,
        figures::error_rate(b),
        figures::error_rate(c),
        &units::share,
    ));
    out.extend(rows.into_iter().flatten());
}

/// The comparison table of `current` against `baseline`.
pub fn rows(current: &Summary, baseline: &Summary) -> Vec<CompareRow> {
    let mut out = Vec::new();
    latency_rows(
        &mut out,
        "all requests",
        &baseline.overall,
        &current.overall,
        true,
    );
    out.extend(row(
        "cache hit rate",
        "server cache",
        Better::Higher,
        figures::hit_rate(&baseline.cache),
        figures::hit_rate(&current.cache),
        &units::share,
    ));
    for (name, c) in &current.endpoints {
        if let Some(b) = baseline.endpoints.get(name) {
            latency_rows(&mut out, name, b, c, false);
        }
    }
    for (stage, s) in &current.stages {
        if let Some(b) = baseline.stages.get(stage) {
            out.extend(row(
                "P50",
                &format!("stage {stage}"),
                Better::Lower,
                Some(b.p50_us as f64),
                Some(s.p50_us as f64),
                &units::us,
            ));
        }
    }
    let (bg, cg) = (figures::gpu(baseline), figures::gpu(current));
    out.extend(row(
        "mean GPU utilization",
        "GPU",
        Better::Neither,
        bg.mean_utilization_pct(),
        cg.mean_utilization_pct(),
        &units::pct,
    ));
    out.extend(row(
        "peak GPU memory",
        "GPU",
        Better::Neither,
        bg.peak_memory_used_bytes().map(|b| b as f64),
        cg.peak_memory_used_bytes().map(|b| b as f64),
        &|b| units::bytes(b as u64),
    ));
    fn process(s: &Summary) -> Option<&crate::summary::ProcessStats> {
        s.server_process.as_ref()
    }
    out.extend(row(
        "mean CPU",
        "server process",
        Better::Neither,
        process(baseline).map(|p| p.cpu_mean_pct),
        process(current).map(|p| p.cpu_mean_pct),
        &units::pct,
    ));
    out.extend(row(
        "peak RSS",
        "server process",
        Better::Lower,
        process(baseline).map(|p| p.peak_rss_bytes as f64),
        process(current).map(|p| p.peak_rss_bytes as f64),
        &|b| units::bytes(b as u64),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors() {
        let (f, t, o) = judge(Better::Lower, 2000.0, 500.0);
        assert_eq!(f, Some(4.0));
        assert_eq!(t, "4.00x");
        assert_eq!(o, Outcome::Better);
        let (f, _, o) = judge(Better::Higher, 100.0, 50.0);
        assert_eq!(f, Some(0.5));
        assert_eq!(o, Outcome::Worse);
        let (_, _, o) = judge(Better::Higher, 100.0, 101.0);
        assert_eq!(o, Outcome::Same);
        let (f, t, o) = judge(Better::Lower, 0.0, 0.01);
        assert_eq!(f, None);
        assert_eq!(o, Outcome::Worse);
        assert_eq!(t, "worse (baseline 0)");
        let (_, _, o) = judge(Better::Neither, 10.0, 80.0);
        assert_eq!(o, Outcome::Info);
    }
}
