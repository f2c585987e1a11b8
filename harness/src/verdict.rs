//! The verdict: threshold rules evaluated against the summary, a run that completed no
//! request failed whatever its rules say (a panic inside a goose transaction yields zero
//! requests and `Ok`), and the optional regression gate against a baseline run.

use crate::report;
use crate::summary::{Summary, ThresholdResult, Verdict};
use crate::thresholds::{self, Rule};

/// Evaluates `rules` (and the regression gate when `max_regression_pct` and a baseline are
/// given) into `summary.thresholds`, and sets `summary.verdict`.
pub fn decide(
    rules: &[Rule],
    summary: &mut Summary,
    baseline: Option<&Summary>,
    max_regression_pct: Option<f64>,
) {
    summary.thresholds = thresholds::evaluate(rules, summary);
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
    if let (Some(max), Some(base)) = (max_regression_pct, baseline) {
        let result = regression(summary, base, max);
        if !result.passed {
            failures.push(format!(
                "{}: {}",
                result.rule,
                result.message.as_deref().unwrap_or("regressed")
            ));
        }
        summary.thresholds.push(result);
    }
    summary.verdict = Verdict {
        passed: failures.is_empty(),
        exit_code: if failures.is_empty() { 0 } else { 1 },
        failures,
    };
}

/// The regression gate as one threshold result: the worst regression of P95 or throughput
/// (overall and per endpoint) against `max` percent.
fn regression(summary: &Summary, baseline: &Summary, max: f64) -> ThresholdResult {
    let rule = format!("regression vs baseline <= {max}%");
    let findings = match report::check_regression(summary, baseline, max) {
        Ok(f) => f,
        Err(e) => {
            return ThresholdResult {
                rule,
                metric: "regression".into(),
                endpoint: None,
                op: "<=".into(),
                limit: max,
                observed: None,
                limit_display: format!("{max}%"),
                observed_display: "n/a".into(),
                passed: false,
                message: Some(format!("the comparison failed: {e}")),
            };
        }
    };
    let worst = findings.iter().map(|f| f.worse_pct).fold(0.0, f64::max);
    let passed = findings.is_empty();
    ThresholdResult {
        rule,
        metric: "regression".into(),
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
                .join("; ")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thresholds::parse_rule;

    fn recorded() -> Summary {
        serde_json::from_str(include_str!("../tests/fixtures/summary-phase2.json"))
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
        s.gpu = Some(crate::gpu::GpuTelemetry::unavailable("no driver"));
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
}
