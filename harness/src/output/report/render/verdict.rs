//! The verdict box and the thresholds table.

use serde::Serialize;

use super::non_empty;
use crate::summary::Summary;

#[derive(Serialize)]
pub(super) struct Verdict {
    class: &'static str,
    text: &'static str,
    detail: String,
}

#[derive(Serialize)]
pub(super) struct ThresholdRow {
    rule: String,
    scope: String,
    observed: String,
    class: &'static str,
    status: &'static str,
    message: String,
}

/// One row per threshold the verdict checked.
pub(super) fn threshold_rows(d: &Summary) -> Vec<ThresholdRow> {
    d.thresholds
        .iter()
        .map(|t| ThresholdRow {
            rule: t.rule.clone(),
            scope: non_empty(&t.endpoint).unwrap_or_else(|| "all requests".into()),
            observed: t.observed_display.clone(),
            class: if t.passed { "pass" } else { "fail" },
            status: if t.passed { "pass" } else { "fail" },
            message: t.message.clone().unwrap_or_default(),
        })
        .collect()
}

/// PASS or FAIL with why: the failed thresholds, the other failures, the regression gate.
pub(super) fn verdict(d: &Summary, regressed: bool) -> Verdict {
    let failed: Vec<&str> = d
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| t.rule.as_str())
        .collect();
    let verdict = if !d.verdict.passed || regressed {
        let mut parts = Vec::new();
        if !failed.is_empty() {
            parts.push(format!(
                "{} of {} thresholds failed: {}",
                failed.len(),
                d.thresholds.len(),
                failed.join(", ")
            ));
        }
        // Failures that are not a failed threshold already named (e.g. "no requests").
        parts.extend(
            d.verdict
                .failures
                .iter()
                .filter(|f| !failed.iter().any(|rule| f.starts_with(rule)))
                .cloned(),
        );
        if regressed {
            parts.push("the regression gate failed against the baseline".into());
        }
        if parts.is_empty() {
            parts.push("the run failed".into());
        }
        Verdict {
            class: "fail",
            text: "FAIL",
            detail: capitalize(&parts.join("; ")),
        }
    } else {
        Verdict {
            class: "pass",
            text: "PASS",
            detail: if d.thresholds.is_empty() {
                "No thresholds were set for this scenario; figures are recorded for comparison."
                    .into()
            } else {
                format!("All {} thresholds held.", d.thresholds.len())
            },
        }
    };
    Verdict {
        detail: format!("{} Exit code {}.", verdict.detail, d.verdict.exit_code),
        ..verdict
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}
