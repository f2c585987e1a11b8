//! A step's figures as `summary.json` keeps them ([`SweepStep`]), the sweep's settings as
//! run ([`SweepSettingsInfo`]), and the console's line for each.

use super::settings::SweepSettings;
use crate::scenario::Arrival;
use crate::summary::{StepOutcome, Summary, SweepPhase, SweepSettingsInfo, SweepStep};
use crate::units;
use crate::verdict::rules::Rule;

/// Requests (bad-token ones included) started in a step's window, per second: what the
/// server was actually offered and answered.
pub fn achieved_rps(s: &Summary) -> f64 {
    (s.overall.requests + s.bad_token.requests) as f64 / s.measured_s.max(1e-9)
}

/// Failed share of all requests, unexpected answers to bad tokens included, as the
/// `error_rate` rule counts them.
fn error_rate(s: &Summary) -> f64 {
    let unexpected: u64 = s.bad_token.unexpected.values().sum();
    let total = s.overall.requests + s.bad_token.requests;
    if total == 0 {
        0.0
    } else {
        (s.overall.errors + unexpected) as f64 / total as f64
    }
}

/// The record of the step at `offered_rps` whose summary is `s`.
pub fn step(
    phase: SweepPhase,
    offered_rps: f64,
    s: &Summary,
    outcome: StepOutcome,
    reasons: Vec<String>,
) -> SweepStep {
    let latency = &s.overall.latency;
    SweepStep {
        phase,
        offered_rps,
        achieved_rps: achieved_rps(s),
        requests: s.overall.requests,
        p50_us: latency.p50_us,
        p95_us: latency.p95_us,
        p99_us: latency.p99_us,
        error_rate: error_rate(s),
        generator_lag_p99_us: s.load.generator_lag.as_ref().map(|l| l.p99_us),
        dropped: s.load.dropped,
        outcome,
        reasons,
    }
}

/// The settings as run, with the open loop's shape and the rules each step was judged by.
pub fn settings_info(
    s: &SweepSettings,
    arrival: Arrival,
    max_in_flight: u32,
    rules: &[Rule],
) -> SweepSettingsInfo {
    SweepSettingsInfo {
        start_rate_per_s: s.start_rate,
        max_rate_per_s: s.max_rate,
        growth: s.growth,
        precision: s.precision,
        step_duration_s: s.step_duration.as_secs_f64(),
        step_warmup_s: s.step_warmup.as_secs_f64(),
        min_achieved: s.min_achieved,
        arrival,
        max_in_flight,
        rules: rules.iter().map(|r| r.text.clone()).collect(),
    }
}

/// One line for the console: `step 5 (bisect) 600/s offered: 598.2 req/s, p95 3.2 ms, ... FAIL`.
pub fn line(n: usize, step: &SweepStep) -> String {
    let mut out = format!(
        "step {n} ({}) {} offered: achieved {}, p50 {} p95 {} p99 {}, errors {}: {}",
        match step.phase {
            SweepPhase::Ramp => "ramp",
            SweepPhase::Bisect => "bisect",
        },
        units::rps(step.offered_rps),
        units::rps(step.achieved_rps),
        units::us(step.p50_us as f64),
        units::us(step.p95_us as f64),
        units::us(step.p99_us as f64),
        units::share(step.error_rate),
        step.outcome.name().to_uppercase(),
    );
    for reason in &step.reasons {
        out.push_str("\n    ");
        out.push_str(reason);
    }
    out
}
