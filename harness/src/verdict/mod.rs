//! The verdict: threshold rules evaluated against the summary, a run that completed no
//! request failed whatever its rules say (a panic inside a goose transaction yields zero
//! requests and `Ok`), and the optional regression gate against a baseline run. Beside the
//! failures it lists warnings about the instrument itself: a threshold it cannot resolve
//! (tighter than twice its calibrated floor) and a generator that fell behind its schedule.

pub mod better;
pub mod regression;
pub mod rules;

pub use better::Better;

use crate::summary::{Summary, ThresholdResult, Verdict};
use crate::units;
use rules::{Metric, Rule};

/// A latency threshold is resolvable only when it is at least this many times the
/// instrument's own figure for the same percentile.
pub const FLOOR_FACTOR: f64 = 2.0;

/// The generator "fell behind" when 1 % of its arrivals left later than this (microseconds)
/// after they were due and a slot was free: that lateness is counted in the latencies.
pub const GENERATOR_LAG_P99_LIMIT_US: u64 = 250;

/// Evaluates `rules` (and the regression gate when `max_regression_pct` and a baseline are
/// given) into `summary.thresholds`, and sets `summary.verdict`.
pub fn decide(
    rules: &[Rule],
    summary: &mut Summary,
    baseline: Option<&Summary>,
    max_regression_pct: Option<f64>,
) {
    summary.thresholds = rules::evaluate(rules, summary);
    let mut failures: Vec<String> = summary
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| format!("{}: {}", t.rule, t.message.as_deref().unwrap_or("failed")))
        .collect();
    if summary.overall.requests == 0 {
        let goose = summary
            .load
            .goose_requests
            .map(|n| format!(" (goose counted {n})"))
            .unwrap_or_default();
        failures.insert(
            0,
            format!(
                "no requests completed in the measured window{goose}: the load generator failed \
                 (a panic inside a goose transaction ends a user silently)"
            ),
        );
    }
    summary.verdict = Verdict {
        passed: failures.is_empty(),
        exit_code: if failures.is_empty() { 0 } else { 1 },
        failures,
        warnings: instrument_warnings(rules, summary),
    };
    if let (Some(max), Some(base)) = (max_regression_pct, baseline) {
        gate(summary, base, max);
    }
}

/// Applies the regression gate against `baseline`: its result replaces any earlier one in
/// `summary.thresholds` (`harness report A B --max-regression` gates a finished run again), and
/// a regression fails the verdict. Returns whether the gate passed.
pub fn gate(summary: &mut Summary, baseline: &Summary, max: f64) -> bool {
    let result = regression_gate(summary, baseline, max);
    summary.thresholds.retain(|t| t.metric != REGRESSION_METRIC);
    let passed = result.passed;
    if !passed {
        summary.verdict.failures.push(format!(
            "{}: {}",
            result.rule,
            result.message.as_deref().unwrap_or("regressed")
        ));
        summary.verdict.passed = false;
        summary.verdict.exit_code = 1;
    }
    summary.thresholds.push(result);
    passed
}

/// The `metric` of the regression gate's threshold result.
pub const REGRESSION_METRIC: &str = "regression";

/// The regression gate's result in `summary`, when it ran, with its findings one per line.
pub fn regression_result(summary: &Summary) -> Option<(&ThresholdResult, Vec<&str>)> {
    let t = summary
        .thresholds
        .iter()
        .find(|t| t.metric == REGRESSION_METRIC)?;
    let findings = t
        .message
        .as_deref()
        .map(|m| m.split(FINDING_SEPARATOR).collect())
        .unwrap_or_default();
    Some((t, findings))
}

/// Joins the gate's findings in its message; a finding's own text never contains it.
const FINDING_SEPARATOR: &str = "; ";

/// What the instrument cannot vouch for in this run.
pub fn instrument_warnings(rules: &[Rule], summary: &Summary) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(floor) = &summary.calibration {
        for rule in rules.iter().filter(|r| r.op.is_upper_bound()) {
            let Metric::Latency(kind) = rule.metric else {
                continue;
            };
            let own = kind.of(&floor.latency);
            if own > 0.0 && rule.limit < FLOOR_FACTOR * own {
                warnings.push(format!(
                    "{}: this instrument cannot resolve {} here: its own {} is {} against a \
                     trivial endpoint with this load shape ({}); a limit needs to be at least \
                     {FLOOR_FACTOR}x that",
                    rule.text,
                    units::us(rule.limit),
                    rule.metric_name,
                    units::us(own),
                    floor.shape,
                ));
            }
        }
        if let Some(max) = floor.max_rps {
            for rule in rules.iter().filter(|r| r.metric == Metric::Throughput) {
                if !rule.op.is_upper_bound() && rule.limit >= max {
                    warnings.push(format!(
                        "{}: this instrument sustained at most {max:.0} req/s against a trivial \
                         endpoint with these connections: it cannot show {:.0}/s",
                        rule.text, rule.limit
                    ));
                }
            }
            if let Some(rate) = summary.scenario.rate_per_s
                && rate > max
            {
                warnings.push(format!(
                    "the offered rate {rate:.0}/s is above the {max:.0} req/s this instrument \
                     sustained against a trivial endpoint: the generator, not the server, sets \
                     the pace; drive the load from more machines (harness merge)"
                ));
            }
        }
    }
    if let Some(lag) = &summary.load.generator_lag
        && lag.p99_us > GENERATOR_LAG_P99_LIMIT_US
    {
        warnings.push(format!(
            "the load generator fell behind its schedule: 1% of arrivals left more than {} \
             late (max {}) for reasons of its own, not the server's; that lateness is counted \
             in the latencies. Lower the rate or give the harness a machine of its own",
            units::us(lag.p99_us as f64),
            units::us(lag.max_us as f64),
        ));
    }
    warnings
}

/// The regression gate as one threshold result: the worst regression of P95 or throughput
/// (overall and per endpoint) against `max` percent.
fn regression_gate(summary: &Summary, baseline: &Summary, max: f64) -> ThresholdResult {
    let rule = format!("regression vs baseline <= {max}%");
    let findings = regression::check(summary, baseline, max);
    let worst = findings.iter().map(|f| f.worse_pct).fold(0.0, f64::max);
    let passed = findings.is_empty();
    ThresholdResult {
        rule,
        metric: REGRESSION_METRIC.into(),
        endpoint: None,
        op: "<=".into(),
        limit: max,
        observed: Some(worst),
        limit_display: format!("{max}%"),
        observed_display: format!("{worst:.1}%"),
        passed,
        message: (!passed).then(|| {
            findings
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(FINDING_SEPARATOR)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::rules::parse_rule;

    fn recorded() -> Summary {
        serde_json::from_str(include_str!("../../tests/fixtures/summary-phase2.json"))
            .expect("the recorded phase2 summary parses")
    }

    #[test]
    fn passing_and_failing_rules() {
        let mut s = recorded();
        let rules = vec![
            parse_rule("requests > 0").unwrap(),
            parse_rule("search.p95 < 1us").unwrap(),
        ];
        decide(&rules, &mut s, None, None);
        assert_eq!(s.thresholds.len(), 2);
        assert!(s.thresholds[0].passed);
        assert!(!s.thresholds[1].passed);
        assert_eq!(s.verdict.exit_code, 1);
        assert!(s.verdict.warnings.is_empty(), "{:?}", s.verdict.warnings);
        assert_eq!(s.verdict.failures.len(), 1);
        assert!(s.verdict.failures[0].starts_with("search.p95 < 1us: observed"));
    }

    #[test]
    fn zero_requests_fail_even_without_rules() {
        let mut s = recorded();
        s.overall.requests = 0;
        decide(&[], &mut s, None, None);
        assert!(!s.verdict.passed);
        assert!(s.verdict.failures[0].contains("no requests completed"));
    }

    #[test]
    fn the_regression_gate_is_a_threshold() {
        let mut s = recorded();
        let base = recorded();
        decide(&[], &mut s, Some(&base), Some(10.0));
        assert_eq!(s.thresholds.len(), 1);
        assert!(
            s.thresholds[0].passed,
            "a run does not regress against itself"
        );
        let mut slower = recorded();
        slower.overall.throughput_rps /= 2.0;
        for e in slower.endpoints.values_mut() {
            e.throughput_rps /= 2.0;
        }
        decide(&[], &mut slower, Some(&base), Some(10.0));
        assert!(!slower.verdict.passed);
        assert!(slower.verdict.failures[0].starts_with("regression vs baseline <= 10%"));
    }

    #[test]
    fn gpu_rules_fail_with_the_reason_when_there_is_no_gpu() {
        let mut s = recorded();
        s.gpu = Some(crate::measure::gpu::GpuTelemetry::unavailable("no driver"));
        decide(
            &[parse_rule("gpu_util >= 60%").unwrap()],
            &mut s,
            None,
            None,
        );
        assert!(!s.verdict.passed);
        assert!(
            s.thresholds[0]
                .message
                .as_deref()
                .unwrap()
                .contains("no NVIDIA GPU detected")
        );
    }

    fn floor(p95_us: u64, max_rps: f64) -> crate::summary::Calibration {
        crate::summary::Calibration {
            shape: "open 600/s poisson, at most 256 in flight".into(),
            latency: crate::summary::LatencyStats {
                count: 1000,
                p50_us: p95_us / 2,
                p95_us,
                p99_us: p95_us * 2,
                ..Default::default()
            },
            max_rps: Some(max_rps),
            ..Default::default()
        }
    }

    #[test]
    fn a_threshold_near_the_floor_is_warned_about_and_one_far_from_it_is_not() {
        let mut s = recorded();
        s.calibration = Some(floor(300, 20_000.0));
        let rules = vec![
            parse_rule("search.p95 < 0.5ms").unwrap(),
            parse_rule("p95 < 5ms").unwrap(),
            parse_rule("p95 > 1us").unwrap(),
        ];
        decide(&rules, &mut s, None, None);
        assert_eq!(s.verdict.warnings.len(), 1, "{:?}", s.verdict.warnings);
        let w = &s.verdict.warnings[0];
        assert!(w.starts_with("search.p95 < 0.5ms"), "{w}");
        assert!(w.contains("cannot resolve 500 µs"), "{w}");
        assert!(w.contains("its own p95 is 300 µs"), "{w}");
    }

    #[test]
    fn a_throughput_beyond_the_instrument_and_a_lagging_generator_are_warned_about() {
        let mut s = recorded();
        s.calibration = Some(floor(100, 400.0));
        s.load.generator_lag = Some(crate::summary::LatencyStats {
            count: 100,
            p99_us: 1_500,
            max_us: 3_000,
            ..Default::default()
        });
        decide(
            &[parse_rule("throughput > 500/s").unwrap()],
            &mut s,
            None,
            None,
        );
        let all = s.verdict.warnings.join("\n");
        assert!(all.contains("sustained at most 400 req/s"), "{all}");
        assert!(all.contains("fell behind its schedule"), "{all}");
        // Warnings never change the verdict by themselves.
        assert_eq!(
            s.verdict.exit_code,
            if s.verdict.failures.is_empty() { 0 } else { 1 }
        );
    }
}
