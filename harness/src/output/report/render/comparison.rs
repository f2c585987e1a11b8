//! The comparison with a baseline run, with the regression gate's findings when it ran.

use serde::Serialize;

use crate::output::report::compare::{self, CompareRow};
use crate::output::report::figures::{self, device};
use crate::summary::{Summary, ThresholdResult};
use crate::units;

#[derive(Default, Serialize)]
pub(super) struct BaselineView {
    label: String,
    scenario: String,
    /// Heading of the comparison, e.g. `CPU vs GPU: phase2 → phase3`.
    title: String,
    /// Column heads: `phase2 · CPU (baseline)`, `phase3 · GPU`.
    baseline_head: String,
    current_head: String,
    rows: Vec<CompareRow>,
    regression_checked: bool,
    regression_limit: String,
    regression_passed: bool,
    regressions: Vec<String>,
}

pub(super) fn baseline_view(
    d: &Summary,
    b: &Summary,
    gate: Option<(&ThresholdResult, Vec<&str>)>,
) -> BaselineView {
    BaselineView {
        label: figures::label(b),
        scenario: b.scenario.name.clone(),
        title: if device(b) != device(d) {
            format!(
                "{} vs {}: {} \u{2192} {}",
                device(b),
                device(d),
                b.scenario.name,
                d.scenario.name
            )
        } else {
            format!(
                "Comparison with baseline: {} \u{2192} {}",
                b.scenario.name, d.scenario.name
            )
        },
        baseline_head: format!("{} \u{b7} {} (baseline)", b.scenario.name, device(b)),
        current_head: format!("{} \u{b7} {}", d.scenario.name, device(d)),
        rows: compare::rows(d, b),
        regression_checked: gate.is_some(),
        regression_limit: gate
            .as_ref()
            .map(|(t, _)| units::pct(t.limit))
            .unwrap_or_default(),
        regression_passed: gate.as_ref().is_none_or(|(t, _)| t.passed),
        regressions: gate
            .map(|(_, findings)| findings.into_iter().map(str::to_string).collect())
            .unwrap_or_default(),
    }
}
