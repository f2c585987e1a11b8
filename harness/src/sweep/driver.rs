//! One sweep, start to finish: the stack brought up once (as a run does), the cache primed
//! and the instrument calibrated once, then one open-loop step per rate the [`Search`] asks
//! for, each measured as a run's load is ([`measure::measure_load`]), assembled into a
//! summary and judged; the knee's summary, with the sweep recorded in it, is the run's.

use std::path::Path;
use std::sync::Arc;

use super::judge::{StepFigures, judge, step_rules};
use super::record;
use super::search::{Knee, Search};
use super::settings::SweepSettings;
use crate::load::LoadContext;
use crate::measure::provenance;
use crate::measure::recorder::Recorder;
use crate::output::console;
use crate::run::bring_up::{self, Up};
use crate::run::{RunError, RunOptions, RunResult, assemble, measure};
use crate::scenario::{Arrival, LoadMode, Scenario};
use crate::summary::{
    Calibration, Machine, StepOutcome, Summary, SweepLimit, SweepPhase, SweepStep, SweepSummary,
};
use crate::units;
use crate::verdict::rules::{self, Rule};

/// The open loop's cap on requests in flight when the scenario is closed-loop.
const DEFAULT_MAX_IN_FLIGHT: u32 = 256;

/// Sweeps `scenario`'s stack with `settings`: writes the run folder as a run does (its
/// summary is the step at the knee's, with the sweep recorded) and returns it.
pub async fn sweep(
    scenario: &Scenario,
    settings: &SweepSettings,
    opts: &RunOptions,
) -> Result<RunResult, RunError> {
    let shaped = shape(scenario, settings);
    let dir = crate::run::run_dir(&shaped, opts)?;
    console::step(format!(
        "capacity sweep of {} ({}): from {} by x{} to within {}, {} steps after {} warm-up; \
         results in {}",
        scenario.name,
        scenario.file.display(),
        units::rps(settings.start_rate),
        units::num(settings.growth),
        units::share(settings.precision),
        units::format_duration(settings.step_duration),
        units::format_duration(settings.step_warmup),
        dir.display()
    ));
    let machine = provenance::machine();
    let git = provenance::git_revision(&opts.project_root);
    bring_up::gpu_preflight(&shaped, opts)?;
    let mut up = bring_up::bring_up(&shaped, opts, &dir).await?;
    let swept = Sweeper::prepare(&shaped, settings, opts, &dir, &up, machine, git).await;
    let swept = match swept {
        Ok(sweeper) => sweeper.run().await,
        Err(e) => Err(e),
    };
    up.stop_server().await;
    let mut summary = swept?;
    summary.notes.extend(up.store_note.take());
    crate::verdict::decide(&scenario.rules, &mut summary, None, None);
    summary
        .verdict
        .warnings
        .extend(instrument_warning(&summary));
    crate::run::write_outputs(&dir, &summary, None, opts)?;
    Ok(RunResult {
        run_dir: dir,
        summary,
    })
}

/// The scenario as each step runs it: open loop (the scenario's arrival process and cap, or
/// constant arrivals and 256 in flight for a closed-loop scenario) at the start rate, with the
/// step's warm-up and window.
fn shape(scenario: &Scenario, settings: &SweepSettings) -> Scenario {
    let (arrival, max_in_flight) = open_shape(&scenario.mode);
    Scenario {
        mode: LoadMode::Open {
            rate: settings.start_rate,
            arrival,
            max_in_flight,
        },
        warmup: settings.step_warmup,
        duration: settings.step_duration,
        ..scenario.clone()
    }
}

/// The open loop's arrival process and cap: the scenario's, or constant arrivals and 256 in
/// flight for a closed-loop scenario.
fn open_shape(mode: &LoadMode) -> (Arrival, u32) {
    match *mode {
        LoadMode::Open {
            arrival,
            max_in_flight,
            ..
        } => (arrival, max_in_flight),
        LoadMode::Closed { .. } => (Arrival::Constant, DEFAULT_MAX_IN_FLIGHT),
    }
}

/// What every step shares.
struct Sweeper<'a> {
    /// The scenario as each step runs it ([`shape`]).
    scenario: &'a Scenario,
    settings: &'a SweepSettings,
    up: &'a Up,
    /// Tokens, workload and client for every step; each step gets a fresh recorder.
    ctx: LoadContext,
    primed: u64,
    calibration: Option<Calibration>,
    /// The rules each step is judged by.
    rules: Vec<Rule>,
    machine: Machine,
    git: (Option<String>, Option<bool>),
}

impl<'a> Sweeper<'a> {
    /// Primes the cache and calibrates the instrument once, with the sweep's open loop.
    async fn prepare(
        scenario: &'a Scenario,
        settings: &'a SweepSettings,
        opts: &RunOptions,
        dir: &Path,
        up: &'a Up,
        machine: Machine,
        git: (Option<String>, Option<bool>),
    ) -> Result<Sweeper<'a>, RunError> {
        let span = (settings.step_warmup + settings.step_duration) * settings.max_steps() as u32;
        let ctx = measure::load_context(scenario, dir, up, span)?;
        let (primed, body_sizes) =
            measure::prime(scenario, &up.base_url, &ctx.workload, &ctx.tokens[0]).await?;
        let calibration = if opts.no_calibrate {
            None
        } else {
            Some(measure::calibrate(scenario, dir, &ctx.workload, &body_sizes).await?)
        };
        let rules = step_rules(&scenario.rules);
        if !rules
            .iter()
            .any(|r| matches!(r.metric, rules::Metric::Latency(_)))
        {
            console::step(
                "note: the scenario has no latency upper bound (e.g. `search.p95 < 2ms`): each \
                 step is judged by its errors and achieved rate only",
            );
        }
        Ok(Sweeper {
            scenario,
            settings,
            up,
            ctx,
            primed,
            calibration,
            rules,
            machine,
            git,
        })
    }

    /// Runs the search to its end; returns the knee step's summary with the sweep in it.
    async fn run(self) -> Result<Summary, RunError> {
        let mut search = Search::new(self.settings);
        let mut steps: Vec<SweepStep> = Vec::new();
        // The summary of the highest passing step, else of the first step.
        let mut kept: Option<(StepOutcome, Summary)> = None;
        while let Some((rate, phase)) = search.next_rate() {
            let (summary, step, stopped) = self.step(rate, phase).await?;
            console::step(record::line(steps.len() + 1, &step));
            search.record(rate, step.outcome);
            if stopped {
                search.interrupt();
            }
            let better = match &kept {
                None => true,
                Some((StepOutcome::Pass, best)) => {
                    step.outcome == StepOutcome::Pass
                        && best.scenario.rate_per_s.is_some_and(|r| rate > r)
                }
                Some(_) => step.outcome == StepOutcome::Pass,
            };
            if better {
                kept = Some((step.outcome, summary));
            }
            steps.push(step);
        }
        let knee = search.knee();
        console::step(knee_line(&knee));
        let Some((_, mut summary)) = kept else {
            return Err(RunError::Options(
                "the sweep ran no step: check --start-rate and --max-rate".into(),
            ));
        };
        summary.notes.push(format!(
            "A capacity sweep of {} steps: the figures of this run are those of the step at {} \
             (the knee when it passed); every step is in the sweep section.",
            steps.len(),
            summary
                .scenario
                .rate_per_s
                .map(units::rps)
                .unwrap_or_default()
        ));
        let (arrival, max_in_flight) = open_shape(&self.scenario.mode);
        summary.sweep = Some(SweepSummary {
            settings: record::settings_info(self.settings, arrival, max_in_flight, &self.rules),
            steps,
            capacity_rps: knee.capacity_rps,
            first_fail_rps: knee.first_fail_rps,
            limited_by: knee.limited_by,
        });
        Ok(summary)
    }

    /// One step at `rate`: its summary (as a run at that rate would have it), its record, and
    /// whether the load was interrupted.
    async fn step(
        &self,
        rate: f64,
        phase: SweepPhase,
    ) -> Result<(Summary, SweepStep, bool), RunError> {
        let (arrival, max_in_flight) = open_shape(&self.scenario.mode);
        let mode = LoadMode::Open {
            rate,
            arrival,
            max_in_flight,
        };
        let ctx = LoadContext {
            recorder: Arc::new(Recorder::new()),
            ..self.ctx.clone()
        };
        let measured =
            measure::measure_load(&ctx, &mode, self.up, self.primed, self.calibration.clone())
                .await?;
        let stopped = measured.outcome.stopped_early.is_some();
        let scenario = Scenario {
            mode,
            ..self.scenario.clone()
        };
        let summary = assemble::assemble(
            &scenario,
            self.up,
            measured,
            self.machine.clone(),
            self.git.clone(),
        );
        let results = rules::evaluate(&self.rules, &summary);
        let (outcome, reasons) = judge(&StepFigures {
            offered_rps: rate,
            achieved_rps: record::achieved_rps(&summary),
            rules: &self.rules,
            results: &results,
            generator_lag: summary.load.generator_lag.as_ref(),
            instrument_max_rps: self.calibration.as_ref().and_then(|c| c.max_rps),
            min_achieved: self.settings.min_achieved,
        });
        let step = record::step(phase, rate, &summary, outcome, reasons);
        Ok((summary, step, stopped))
    }
}

/// The console's last line of the search.
fn knee_line(knee: &Knee) -> String {
    match knee.capacity_rps {
        Some(c) => format!(
            "capacity: {} (limited by {})",
            units::rps(c),
            knee.limited_by.describe()
        ),
        None => format!("capacity: none found ({})", knee.limited_by.describe()),
    }
}

/// A warning when the knee is the instrument's, not the server's.
fn instrument_warning(summary: &Summary) -> Option<String> {
    let sweep = summary.sweep.as_ref()?;
    (sweep.limited_by == SweepLimit::Instrument).then(|| {
        format!(
            "capacity: the sweep stopped where the load generator could no longer offer the rate \
             ({} failed for the instrument's reasons): the server's capacity is at least {}, not \
             that; drive the load from more machines (harness merge)",
            sweep.first_fail_rps.map(units::rps).unwrap_or_default(),
            sweep.capacity_rps.map(units::rps).unwrap_or_default()
        )
    })
}
