//! The run's baseline: which earlier run the report and the regression gate compare with.

use std::path::Path;

use super::{RunError, RunOptions};
use crate::output::report;
use crate::summary::{self, Summary};

/// The baseline run to compare with: `--baseline`, else the latest phase1 run (other than
/// this one) under the output root. A given baseline that does not load is an error; a
/// latest phase1 run that does not load is skipped.
pub(super) fn find(opts: &RunOptions, dir: &Path) -> Result<Option<Summary>, RunError> {
    let baseline = given_or_latest(opts, dir)?;
    if opts.max_regression_pct.is_some() && baseline.is_none() {
        return Err(RunError::Options(
            "--max-regression needs a baseline: pass --baseline FILE, or run phase1 first so its \
             latest run is found under reports/out"
                .into(),
        ));
    }
    Ok(baseline)
}

fn given_or_latest(opts: &RunOptions, dir: &Path) -> Result<Option<Summary>, RunError> {
    if let Some(p) = &opts.baseline {
        return Summary::read(&summary::summary_file(p))
            .map(Some)
            .map_err(|e| RunError::Options(format!("--baseline: {e}")));
    }
    let latest = report::baseline::find_latest(
        &opts.out_root,
        report::baseline::DEFAULT_BASELINE_SCENARIO,
        Some(dir),
    );
    Ok(latest.and_then(|p| Summary::read(&p).ok()))
}

/// A note for the summary saying which baseline the report compares with.
pub(super) fn note(opts: &RunOptions, baseline: Option<&Summary>) -> Option<String> {
    let b = baseline?;
    let how = if opts.baseline.is_some() {
        "given with --baseline"
    } else {
        "the latest phase1 run"
    };
    Some(format!(
        "compared with baseline {} of {} ({how})",
        b.scenario.name,
        b.started_at.format("%Y-%m-%d %H:%M UTC")
    ))
}
