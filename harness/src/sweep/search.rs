//! Which rate to offer next: the search of MLPerf LoadGen's FindPeakPerformance. A coarse ramp
//! from the start rate, each step `growth` times the last, until a step does not pass; then a
//! bisection between the last pass and the first fail until they are within the precision.
//!
//! The search is a plain state machine ([`Search`]: ask [`Search::next_rate`], tell
//! [`Search::record`]) so the async driver and the tests ([`find_peak`] over a fake measure)
//! run the same code. It assumes, as LoadGen does, that a server passing at some rate passes
//! at every lower one.

use super::settings::SweepSettings;
use crate::summary::{StepOutcome, SweepLimit, SweepPhase};

/// Where the search stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// The ramp offers this rate next.
    Ramp(f64),
    /// Bisecting between the last pass and the first fail.
    Bisect,
    /// Converged, or stopped.
    Done,
}

/// The search's state.
#[derive(Debug, Clone)]
pub struct Search {
    max_rate: f64,
    growth: f64,
    precision: f64,
    phase: Phase,
    /// The highest rate that passed.
    pass: Option<f64>,
    /// The lowest rate that did not, and how it was judged.
    fail: Option<(f64, StepOutcome)>,
    interrupted: bool,
}

/// What the search found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knee {
    /// The highest rate that passed.
    pub capacity_rps: Option<f64>,
    /// The lowest rate that did not.
    pub first_fail_rps: Option<f64>,
    /// What bounds the capacity from above.
    pub limited_by: SweepLimit,
}

impl Search {
    /// A search with these settings, before its first step.
    pub fn new(s: &SweepSettings) -> Search {
        Search {
            max_rate: s.max_rate,
            growth: s.growth,
            precision: s.precision,
            phase: Phase::Ramp(s.start_rate.min(s.max_rate)),
            pass: None,
            fail: None,
            interrupted: false,
        }
    }

    /// The rate to offer next and the phase it belongs to; `None` once the search is done.
    pub fn next_rate(&self) -> Option<(f64, SweepPhase)> {
        match self.phase {
            Phase::Ramp(rate) => Some((rate, SweepPhase::Ramp)),
            Phase::Bisect => {
                let (lo, (hi, _)) = (self.pass?, self.fail?);
                (hi - lo > self.precision * lo).then_some(((lo + hi) / 2.0, SweepPhase::Bisect))
            }
            Phase::Done => None,
        }
    }

    /// Takes the outcome of the step at `rate` (the one [`Search::next_rate`] gave).
    pub fn record(&mut self, rate: f64, outcome: StepOutcome) {
        let passed = outcome == StepOutcome::Pass;
        if passed {
            self.pass = Some(self.pass.map_or(rate, |p| p.max(rate)));
        } else if self.fail.is_none_or(|(f, _)| rate < f) {
            self.fail = Some((rate, outcome));
        }
        self.phase = match self.phase {
            Phase::Ramp(_) if passed && rate < self.max_rate => {
                Phase::Ramp((rate * self.growth).min(self.max_rate))
            }
            Phase::Ramp(_) if passed => Phase::Done,
            Phase::Ramp(_) if self.pass.is_none() => Phase::Done,
            Phase::Ramp(_) | Phase::Bisect => Phase::Bisect,
            Phase::Done => Phase::Done,
        };
    }

    /// Stops the search where it is (ctrl-c).
    pub fn interrupt(&mut self) {
        self.interrupted = true;
        self.phase = Phase::Done;
    }

    /// The knee as it stands.
    pub fn knee(&self) -> Knee {
        let limited_by = match (self.pass, self.fail) {
            _ if self.interrupted => SweepLimit::Interrupted,
            (None, _) => SweepLimit::StartRate,
            (Some(_), None) => SweepLimit::MaxRate,
            (Some(_), Some((_, StepOutcome::Instrument))) => SweepLimit::Instrument,
            (Some(_), Some(_)) => SweepLimit::Server,
        };
        Knee {
            capacity_rps: self.pass,
            first_fail_rps: self.fail.map(|(f, _)| f),
            limited_by,
        }
    }
}

/// Runs a whole search with `measure` judging the step at each offered rate; returns the
/// steps `(rate, phase, outcome)` in order and the knee.
pub fn find_peak(
    settings: &SweepSettings,
    mut measure: impl FnMut(f64) -> StepOutcome,
) -> (Vec<(f64, SweepPhase, StepOutcome)>, Knee) {
    let mut search = Search::new(settings);
    let mut steps = Vec::new();
    while let Some((rate, phase)) = search.next_rate() {
        let outcome = measure(rate);
        steps.push((rate, phase, outcome));
        search.record(rate, outcome);
    }
    (steps, search.knee())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(start: f64, max: f64, precision: f64) -> SweepSettings {
        SweepSettings {
            start_rate: start,
            max_rate: max,
            precision,
            ..SweepSettings::default()
        }
    }

    /// A server that passes up to `capacity`.
    fn server(capacity: f64) -> impl FnMut(f64) -> StepOutcome {
        move |rate| {
            if rate <= capacity {
                StepOutcome::Pass
            } else {
                StepOutcome::Fail
            }
        }
    }

    #[test]
    fn the_ramp_doubles_until_a_step_fails() {
        let (steps, _) = find_peak(&settings(50.0, 20_000.0, 0.05), server(437.0));
        let ramp: Vec<f64> = steps
            .iter()
            .filter(|s| s.1 == SweepPhase::Ramp)
            .map(|s| s.0)
            .collect();
        assert_eq!(ramp, vec![50.0, 100.0, 200.0, 400.0, 800.0]);
        assert_eq!(steps[4].2, StepOutcome::Fail);
        assert!(steps[5..].iter().all(|s| s.1 == SweepPhase::Bisect));
    }

    #[test]
    fn the_bisection_converges_to_the_precision() {
        for capacity in [437.0, 401.0, 799.0, 123.4] {
            let (steps, knee) = find_peak(&settings(50.0, 20_000.0, 0.05), server(capacity));
            let found = knee.capacity_rps.unwrap();
            let fail = knee.first_fail_rps.unwrap();
            assert!(
                found <= capacity && capacity < fail,
                "{capacity}: {found}..{fail}"
            );
            assert!(fail - found <= 0.05 * found, "{capacity}: {found}..{fail}");
            assert_eq!(knee.limited_by, SweepLimit::Server);
            // Each bisection step halves the bracket: 400..800 to 5 % takes 5 halvings.
            let bisections = steps.iter().filter(|s| s.1 == SweepPhase::Bisect).count();
            assert!(bisections <= 5, "{capacity}: {bisections} bisection steps");
        }
    }

    #[test]
    fn a_finer_precision_takes_more_steps_and_lands_closer() {
        let coarse = find_peak(&settings(50.0, 20_000.0, 0.10), server(437.0));
        let fine = find_peak(&settings(50.0, 20_000.0, 0.01), server(437.0));
        assert!(fine.0.len() > coarse.0.len());
        let gap = |k: &Knee| k.first_fail_rps.unwrap() - k.capacity_rps.unwrap();
        assert!(gap(&fine.1) < gap(&coarse.1));
        assert!(gap(&fine.1) <= 0.01 * fine.1.capacity_rps.unwrap());
    }

    #[test]
    fn every_step_passing_stops_at_the_maximum() {
        let (steps, knee) = find_peak(&settings(50.0, 300.0, 0.05), server(f64::INFINITY));
        let rates: Vec<f64> = steps.iter().map(|s| s.0).collect();
        assert_eq!(rates, vec![50.0, 100.0, 200.0, 300.0]);
        assert_eq!(knee.capacity_rps, Some(300.0));
        assert_eq!(knee.first_fail_rps, None);
        assert_eq!(knee.limited_by, SweepLimit::MaxRate);
    }

    #[test]
    fn a_failing_start_rate_ends_the_search_at_once() {
        let (steps, knee) = find_peak(&settings(50.0, 20_000.0, 0.05), server(10.0));
        assert_eq!(steps.len(), 1);
        assert_eq!(knee.capacity_rps, None);
        assert_eq!(knee.first_fail_rps, Some(50.0));
        assert_eq!(knee.limited_by, SweepLimit::StartRate);
    }

    #[test]
    fn an_instrument_limited_step_bounds_the_knee_but_is_not_the_servers_capacity() {
        // The server would pass up to 5000/s, but the generator cannot offer more than 900/s.
        let (steps, knee) = find_peak(&settings(50.0, 20_000.0, 0.05), |rate| {
            if rate > 900.0 {
                StepOutcome::Instrument
            } else {
                StepOutcome::Pass
            }
        });
        assert_eq!(knee.limited_by, SweepLimit::Instrument);
        let found = knee.capacity_rps.unwrap();
        assert!(found > 0.95 * 900.0 / 1.05 && found <= 900.0, "{found}");
        assert!(steps.iter().any(|s| s.2 == StepOutcome::Instrument));
        // A server's failure below the instrument's limit is the server's.
        let (_, knee) = find_peak(&settings(50.0, 20_000.0, 0.05), |rate| {
            if rate > 900.0 {
                StepOutcome::Instrument
            } else if rate > 600.0 {
                StepOutcome::Fail
            } else {
                StepOutcome::Pass
            }
        });
        assert_eq!(knee.limited_by, SweepLimit::Server);
        assert!(knee.capacity_rps.unwrap() <= 600.0);
    }

    #[test]
    fn an_interrupted_search_says_so() {
        let mut search = Search::new(&settings(50.0, 20_000.0, 0.05));
        search.record(50.0, StepOutcome::Pass);
        search.interrupt();
        assert_eq!(search.next_rate(), None);
        let knee = search.knee();
        assert_eq!(knee.limited_by, SweepLimit::Interrupted);
        assert_eq!(knee.capacity_rps, Some(50.0));
    }
}
