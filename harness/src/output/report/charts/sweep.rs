//! The capacity sweep's charts: P95 and P99 against the offered rate, and the achieved rate
//! against the offered one, each step a point (in rate order, whatever order the search ran
//! them in) and the knee a dashed vertical line.

use super::{
    BASELINE, BLUE_, Chart, GREEN_, Line, LinePlot, ORANGE, RED_, ReportError, decades, draw_lines,
    latency_tick, nice_max, plain, span,
};
use crate::summary::{SweepStep, SweepSummary};
use crate::units;
use crate::verdict::rules::{Metric, parse_rule};

const X_DESC: &str = "offered rate (requests per second)";

/// The sweep's charts; none when the run was not a sweep.
pub fn capacity_sweep(sweep: Option<&SweepSummary>) -> Result<Vec<Chart>, ReportError> {
    let Some(sweep) = sweep else {
        return Ok(Vec::new());
    };
    let mut steps: Vec<&SweepStep> = sweep.steps.iter().collect();
    steps.sort_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps));
    Ok(vec![latency(sweep, &steps)?, achieved(sweep, &steps)?])
}

/// The knee as a dashed vertical line across `(y0, y1)`.
fn knee_line(sweep: &SweepSummary, (y0, y1): (f64, f64)) -> Option<Line> {
    let knee = sweep.capacity_rps?;
    let mut l = Line::new(
        format!("knee {}", units::rps(knee)),
        vec![(knee, y0), (knee, y1)],
        GREEN_,
    );
    l.dashed = true;
    Some(l)
}

fn x_range(steps: &[&SweepStep]) -> (f64, f64) {
    let (_, hi) = span(steps.iter().map(|s| s.offered_rps)).unwrap_or((0.0, 1.0));
    (0.0, nice_max(hi))
}

/// P95 and P99 against the offered rate, on a log axis (past the knee they grow by orders of
/// magnitude), with the sweep's latency limits as dashed levels.
fn latency(sweep: &SweepSummary, steps: &[&SweepStep]) -> Result<Chart, ReportError> {
    let c = Chart::new(
        "chart-sweep",
        "Latency against offered rate",
        "P95 and P99 of each step of the capacity sweep; the dashed vertical line is the knee, \
         the highest offered rate whose step met the thresholds.",
    );
    let limits: Vec<(String, f64)> = sweep
        .settings
        .rules
        .iter()
        .filter_map(|r| parse_rule(r).ok())
        .filter(|r| matches!(r.metric, Metric::Latency(_)))
        .map(|r| (r.text, r.limit))
        .collect();
    let values = steps
        .iter()
        .flat_map(|s| [s.p95_us, s.p99_us])
        .filter(|v| *v > 0)
        .map(|v| v as f64)
        .chain(limits.iter().map(|(_, l)| *l));
    let Some((min, max)) = span(values) else {
        return Ok(c.empty("No step of the sweep recorded a latency."));
    };
    let y_range = decades(min, max);
    let x = x_range(steps);
    let series = |name: &str, color, get: fn(&SweepStep) -> u64| {
        Line::new(
            name,
            steps
                .iter()
                .filter(|s| get(s) > 0)
                .map(|s| (s.offered_rps, get(s) as f64))
                .collect(),
            color,
        )
    };
    let mut lines = vec![
        series("P95", ORANGE, |s| s.p95_us),
        series("P99", RED_, |s| s.p99_us),
    ];
    lines.extend(
        limits
            .into_iter()
            .map(|(text, limit)| Line::level(text, x, limit)),
    );
    lines.extend(knee_line(sweep, y_range));
    let (svg, legend) = draw_lines(LinePlot {
        x_desc: X_DESC,
        x_range: x,
        x_labels: 10,
        x_fmt: &plain,
        y_desc: "latency (log scale)".into(),
        y_range,
        y_log: true,
        y_fmt: &latency_tick,
        lines,
    })?;
    Ok(c.drawn(svg, legend))
}

/// The achieved rate against the offered one, beside the line where they are equal.
fn achieved(sweep: &SweepSummary, steps: &[&SweepStep]) -> Result<Chart, ReportError> {
    let c = Chart::new(
        "chart-sweep-throughput",
        "Achieved against offered rate",
        "Requests per second each step achieved; on the dotted line every offered request was \
         sent and answered in the window.",
    );
    if steps.is_empty() {
        return Ok(c.empty("The sweep ran no step."));
    }
    let x = x_range(steps);
    let top = nice_max(
        steps
            .iter()
            .map(|s| s.achieved_rps.max(s.offered_rps))
            .fold(0.0, f64::max),
    );
    let mut offered = Line::new("offered", vec![(0.0, 0.0), (x.1, x.1)], BASELINE);
    offered.dashed = true;
    offered.width = 1;
    let mut lines = vec![
        offered,
        Line::new(
            "achieved",
            steps
                .iter()
                .map(|s| (s.offered_rps, s.achieved_rps))
                .collect(),
            BLUE_,
        ),
    ];
    lines.extend(knee_line(sweep, (0.0, top)));
    let (svg, legend) = draw_lines(LinePlot {
        x_desc: X_DESC,
        x_range: x,
        x_labels: 10,
        x_fmt: &plain,
        y_desc: "achieved requests per second".into(),
        y_range: (0.0, top),
        y_log: false,
        y_fmt: &plain,
        lines,
    })?;
    Ok(c.drawn(svg, legend))
}
