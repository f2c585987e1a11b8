//! The capacity sweep's record in `summary.json` (`harness sweep`, or a scenario with a
//! `[sweep]` table): every open-loop step at its offered rate, how it was judged, and the knee.
//!
//! A sweep's other sections (`overall`, `endpoints`, `series`, ...) are those of the step at
//! the knee, so a threshold such as `search.p95 < 2ms` reads the server at its capacity; this
//! section keeps the steps that led there.

use serde::{Deserialize, Serialize};

use crate::scenario::Arrival;

/// The sweep: how it searched, each step, and the highest rate that met the thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepSummary {
    /// How the sweep searched.
    pub settings: SweepSettingsInfo,
    /// Every step in the order run.
    pub steps: Vec<SweepStep>,
    /// The knee: the highest offered rate whose step met the thresholds, requests per second;
    /// `None` when even the start rate failed. The `capacity` threshold metric reads it.
    pub capacity_rps: Option<f64>,
    /// The lowest offered rate whose step did not pass (the knee lies below it); `None` when
    /// every step passed.
    pub first_fail_rps: Option<f64>,
    /// What bounds `capacity_rps` from above.
    pub limited_by: SweepLimit,
}

/// The sweep's settings as run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepSettingsInfo {
    /// The ramp's first offered rate.
    pub start_rate_per_s: f64,
    /// The ramp never offers more.
    pub max_rate_per_s: f64,
    /// Each ramp step offers this many times the last.
    pub growth: f64,
    /// The search stops when the last pass and the first fail are this close (a fraction of
    /// the pass).
    pub precision: f64,
    /// Each step's measured window, seconds.
    pub step_duration_s: f64,
    /// Each step's unmeasured warm-up, seconds.
    pub step_warmup_s: f64,
    /// A step passes only when it achieved at least this share (0..1) of the offered rate.
    pub min_achieved: f64,
    /// The open loop's arrival process.
    pub arrival: Arrival,
    /// The open loop's cap on requests in flight.
    pub max_in_flight: u32,
    /// The rules each step was judged by (latency and error-rate upper bounds).
    pub rules: Vec<String>,
}

/// One open-loop step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepStep {
    /// Whether it was part of the coarse ramp or of the bisection.
    pub phase: SweepPhase,
    /// The rate the open loop offered, requests per second.
    pub offered_rps: f64,
    /// Requests (bad-token ones included) started in the window per second.
    pub achieved_rps: f64,
    /// Authenticated requests measured.
    pub requests: u64,
    /// Latency of all authenticated requests, microseconds.
    pub p50_us: u64,
    /// 95th percentile, microseconds.
    pub p95_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
    /// Failed share of the requests (0..1), unexpected bad-token answers included.
    pub error_rate: f64,
    /// The generator's own lateness (99th percentile), microseconds.
    pub generator_lag_p99_us: Option<u64>,
    /// Arrivals planned in the window and never sent.
    pub dropped: Option<u64>,
    /// How the step was judged.
    pub outcome: StepOutcome,
    /// Why it did not pass, one line each (empty when it passed).
    pub reasons: Vec<String>,
}

/// The search's two phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepPhase {
    /// The coarse ramp: each step offers `growth` times the last.
    Ramp,
    /// The bisection between the last pass and the first fail.
    Bisect,
}

/// How a step was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepOutcome {
    /// Every rule held and the achieved rate kept up with the offered one.
    Pass,
    /// The server missed a rule or fell behind the offered rate.
    Fail,
    /// The instrument could not offer the rate: above what it sustains against a trivial
    /// endpoint, or its own lateness accounts for the miss. Not the server's capacity.
    Instrument,
}

impl StepOutcome {
    /// `pass`, `fail` or `instrument`.
    pub fn name(self) -> &'static str {
        match self {
            StepOutcome::Pass => "pass",
            StepOutcome::Fail => "fail",
            StepOutcome::Instrument => "instrument",
        }
    }
}

/// What bounds the capacity from above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepLimit {
    /// The step above the knee failed on the server's figures: the capacity is the server's.
    Server,
    /// The step above the knee failed because the instrument could not keep its schedule:
    /// the capacity is a lower bound of the server's.
    Instrument,
    /// Every step passed up to the maximum rate: the capacity is at least that.
    MaxRate,
    /// Even the start rate failed: lower it.
    StartRate,
    /// The sweep was interrupted (ctrl-c) before it converged.
    Interrupted,
}

impl SweepLimit {
    /// What the bound means, for people.
    pub fn describe(self) -> &'static str {
        match self {
            SweepLimit::Server => "the server: the next step missed the thresholds",
            SweepLimit::Instrument => {
                "the instrument: the next step was beyond what the load generator can offer \
                 here, so the server's capacity is at least this"
            }
            SweepLimit::MaxRate => "the maximum rate: every step passed, raise --max-rate",
            SweepLimit::StartRate => {
                "the start rate: even the first step failed, lower --start-rate"
            }
            SweepLimit::Interrupted => "an interruption: the sweep stopped before it converged",
        }
    }
}
