//! The report's capacity section: the knee and what bounds it, the sweep's charts, and one
//! row per step in the order the search ran them.

use serde::Serialize;

use super::super::charts::{self, Chart};
use crate::summary::{StepOutcome, Summary, SweepPhase};
use crate::units;

/// The capacity section of the page.
#[derive(Serialize)]
pub struct SweepView {
    /// `612 req/s`, or `none found`.
    capacity: String,
    /// What bounds the capacity, in words.
    limited_by: String,
    /// How the search ran, in one sentence.
    settings: String,
    charts: Vec<Chart>,
    steps: Vec<StepRow>,
}

/// One step of the sweep.
#[derive(Serialize)]
struct StepRow {
    n: usize,
    phase: &'static str,
    offered: String,
    achieved: String,
    p50: String,
    p95: String,
    p99: String,
    errors: String,
    outcome: &'static str,
    /// `pass` or `fail`: the row's CSS class.
    class: &'static str,
    reasons: String,
}

/// The section, when the run was a sweep.
pub fn sweep_view(d: &Summary) -> Result<Option<SweepView>, crate::output::report::ReportError> {
    let Some(sweep) = &d.sweep else {
        return Ok(None);
    };
    let s = &sweep.settings;
    let steps = sweep
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| StepRow {
            n: i + 1,
            phase: match step.phase {
                SweepPhase::Ramp => "ramp",
                SweepPhase::Bisect => "bisect",
            },
            offered: units::rps(step.offered_rps),
            achieved: units::rps(step.achieved_rps),
            p50: units::us(step.p50_us as f64),
            p95: units::us(step.p95_us as f64),
            p99: units::us(step.p99_us as f64),
            errors: units::share(step.error_rate),
            outcome: step.outcome.name(),
            class: if step.outcome == StepOutcome::Pass {
                "pass"
            } else {
                "fail"
            },
            reasons: step.reasons.join("; "),
        })
        .collect();
    Ok(Some(SweepView {
        capacity: sweep
            .capacity_rps
            .map(units::rps)
            .unwrap_or_else(|| "none found".into()),
        limited_by: sweep.limited_by.describe().into(),
        settings: format!(
            "Open loop ({}, at most {} in flight) from {} by x{} until a step failed, then \
             bisected to within {}; each step {} after {} of warm-up, judged by {} and by \
             achieving {} of the offered rate.",
            s.arrival.name(),
            s.max_in_flight,
            units::rps(s.start_rate_per_s),
            units::num(s.growth),
            units::share(s.precision),
            units::seconds(s.step_duration_s),
            units::seconds(s.step_warmup_s),
            if s.rules.is_empty() {
                "no latency rule".to_string()
            } else {
                s.rules.join(", ")
            },
            units::share(s.min_achieved),
        ),
        charts: charts::capacity_sweep(Some(sweep))?,
        steps,
    }))
}
