//! Whether one step passed, and whose doing a miss was.
//!
//! A step passes when the scenario's latency and error-rate upper bounds hold (evaluated by
//! [`crate::verdict::rules`] on the step as if it were a run) and it achieved the share of the
//! offered rate the sweep asks for. A miss is the instrument's, not the server's, when the
//! offered rate is at or above what the instrument sustained against a trivial endpoint
//! ([`crate::load::calibrate`]), or when the generator fell behind its own schedule by enough
//! to account for every missed figure: reporting such a step as the server's capacity would
//! measure the harness.

use crate::summary::{LatencyStats, StepOutcome, ThresholdResult};
use crate::units;
use crate::verdict::GENERATOR_LAG_P99_LIMIT_US;
use crate::verdict::rules::{Metric, Rule};

/// What a step measured, as the judge needs it.
#[derive(Debug, Clone, Copy)]
pub struct StepFigures<'a> {
    /// The offered rate, requests per second.
    pub offered_rps: f64,
    /// Requests started in the window per second.
    pub achieved_rps: f64,
    /// The step's rules (from [`step_rules`]) and their results on the step, in one order.
    pub rules: &'a [Rule],
    /// Their results on the step.
    pub results: &'a [ThresholdResult],
    /// The generator's own lateness during the step.
    pub generator_lag: Option<&'a LatencyStats>,
    /// The highest rate the instrument sustained against a trivial endpoint.
    pub instrument_max_rps: Option<f64>,
    /// The share of the offered rate a step must achieve.
    pub min_achieved: f64,
}

/// The rules a step is judged by: the scenario's latency and error-rate upper bounds.
pub fn step_rules(rules: &[Rule]) -> Vec<Rule> {
    rules
        .iter()
        .filter(|r| {
            r.op.is_upper_bound() && matches!(r.metric, Metric::Latency(_) | Metric::ErrorRate)
        })
        .cloned()
        .collect()
}

/// The step's outcome and, when it did not pass, why (one line each).
pub fn judge(f: &StepFigures<'_>) -> (StepOutcome, Vec<String>) {
    let failed: Vec<(&Rule, &ThresholdResult)> = f
        .rules
        .iter()
        .zip(f.results)
        .filter(|(_, t)| !t.passed)
        .collect();
    let mut reasons: Vec<String> = failed
        .iter()
        .map(|(_, t)| format!("{}: {}", t.rule, t.message.as_deref().unwrap_or("failed")))
        .collect();
    let short = f.achieved_rps < f.min_achieved * f.offered_rps;
    if short {
        reasons.push(format!(
            "achieved {} of the {} offered ({}), below the {} a step needs",
            units::rps(f.achieved_rps),
            units::rps(f.offered_rps),
            units::share(f.achieved_rps / f.offered_rps.max(1e-9)),
            units::share(f.min_achieved),
        ));
    }
    if reasons.is_empty() {
        return (StepOutcome::Pass, reasons);
    }
    if let Some(max) = f.instrument_max_rps
        && f.offered_rps >= max
    {
        reasons.push(format!(
            "the instrument: {} offered is at or above the {} it sustained against a trivial \
             endpoint with these connections",
            units::rps(f.offered_rps),
            units::rps(max)
        ));
        return (StepOutcome::Instrument, reasons);
    }
    if let Some(lag) = f.generator_lag
        && lag.p99_us > GENERATOR_LAG_P99_LIMIT_US
        && lag_explains(&failed, lag)
    {
        reasons.push(format!(
            "the instrument: the generator's own lateness (p99 {}) accounts for the miss; \
             without it the step would have met its rules",
            units::us(lag.p99_us as f64)
        ));
        return (StepOutcome::Instrument, reasons);
    }
    (StepOutcome::Fail, reasons)
}

/// Whether each failed rule would hold with the generator's own lateness (at the rule's
/// percentile) taken off; an error-rate miss is never the generator's. A shortfall of the
/// achieved rate with every rule holding is the generator's: the server answered in time what
/// it was sent.
fn lag_explains(failed: &[(&Rule, &ThresholdResult)], lag: &LatencyStats) -> bool {
    failed
        .iter()
        .all(|(rule, t)| match (rule.metric, t.observed) {
            (Metric::Latency(kind), Some(observed)) => observed - kind.of(lag) <= rule.limit,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::rules::parse_rule;

    fn result(rule: &Rule, observed: f64) -> ThresholdResult {
        let passed = observed < rule.limit;
        ThresholdResult {
            rule: rule.text.clone(),
            metric: rule.metric_name.clone(),
            endpoint: rule.endpoint.clone(),
            op: rule.op.to_string(),
            limit: rule.limit,
            observed: Some(observed),
            limit_display: String::new(),
            observed_display: String::new(),
            passed,
            message: (!passed).then(|| "too slow".to_string()),
        }
    }

    fn lag(p99_us: u64) -> LatencyStats {
        LatencyStats {
            count: 100,
            p50_us: p99_us / 2,
            p90_us: p99_us,
            p95_us: p99_us,
            p99_us,
            ..LatencyStats::default()
        }
    }

    fn figures<'a>(
        rules: &'a [Rule],
        results: &'a [ThresholdResult],
        achieved: f64,
        lag: Option<&'a LatencyStats>,
    ) -> StepFigures<'a> {
        StepFigures {
            offered_rps: 400.0,
            achieved_rps: achieved,
            rules,
            results,
            generator_lag: lag,
            instrument_max_rps: Some(5_000.0),
            min_achieved: 0.95,
        }
    }

    #[test]
    fn only_latency_and_error_upper_bounds_judge_a_step() {
        let rules: Vec<Rule> = ["search.p95 < 2ms", "throughput > 40/s", "error_rate < 1%"]
            .iter()
            .chain(&["vectors > 500", "capacity > 100/s", "p99 > 1ms"])
            .map(|r| parse_rule(r).unwrap())
            .collect();
        let texts: Vec<String> = step_rules(&rules).into_iter().map(|r| r.text).collect();
        assert_eq!(texts, vec!["search.p95 < 2ms", "error_rate < 1%"]);
    }

    #[test]
    fn a_step_within_its_rules_at_the_offered_rate_passes() {
        let rules = vec![parse_rule("search.p95 < 2ms").unwrap()];
        let results = vec![result(&rules[0], 1500.0)];
        let (outcome, reasons) = judge(&figures(&rules, &results, 399.0, None));
        assert_eq!(outcome, StepOutcome::Pass);
        assert!(reasons.is_empty());
    }

    #[test]
    fn a_slow_server_or_a_shortfall_fails_the_step() {
        let rules = vec![parse_rule("search.p95 < 2ms").unwrap()];
        let results = vec![result(&rules[0], 9000.0)];
        let (outcome, reasons) = judge(&figures(&rules, &results, 400.0, Some(&lag(300))));
        assert_eq!(outcome, StepOutcome::Fail);
        assert!(
            reasons[0].starts_with("search.p95 < 2ms: too slow"),
            "{reasons:?}"
        );
        let ok = vec![result(&rules[0], 1000.0)];
        let (outcome, reasons) = judge(&figures(&rules, &ok, 300.0, None));
        assert_eq!(outcome, StepOutcome::Fail);
        assert!(reasons[0].starts_with("achieved 300"), "{reasons:?}");
    }

    #[test]
    fn a_miss_the_instrument_accounts_for_is_the_instruments() {
        let rules = vec![parse_rule("search.p95 < 2ms").unwrap()];
        // P95 2.3 ms with the generator 600 us late at its P95: 1.7 ms is the server's.
        let results = vec![result(&rules[0], 2300.0)];
        let (outcome, reasons) = judge(&figures(&rules, &results, 400.0, Some(&lag(600))));
        assert_eq!(outcome, StepOutcome::Instrument);
        assert!(reasons.last().unwrap().contains("generator's own lateness"));
        // Beyond what the instrument sustains against a trivial endpoint.
        let mut f = figures(&rules, &results, 400.0, None);
        f.instrument_max_rps = Some(350.0);
        let (outcome, reasons) = judge(&f);
        assert_eq!(outcome, StepOutcome::Instrument);
        assert!(
            reasons
                .last()
                .unwrap()
                .contains("sustained against a trivial")
        );
        // A lateness within the limit, or too small to explain the miss, leaves it the server's.
        assert_eq!(
            judge(&figures(&rules, &results, 400.0, Some(&lag(200)))).0,
            StepOutcome::Fail
        );
        let slow = vec![result(&rules[0], 9000.0)];
        assert_eq!(
            judge(&figures(&rules, &slow, 400.0, Some(&lag(600)))).0,
            StepOutcome::Fail
        );
    }
}
