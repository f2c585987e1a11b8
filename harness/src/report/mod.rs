//! The HTML report: one self-contained `report.html` per run (inline CSS and SVG, no scripts, no
//! network), optionally compared with a baseline run.
//!
//! - [`write_report`]: what the run path calls after writing `summary.json`.
//! - [`render_cli`]: `harness report A [B]` (render run A, or compare run A with baseline B).
//! - [`regression::check`]: the `--max-regression` gate.
//! - [`baseline::find_latest`]: the default baseline (the latest phase1 run under `reports/out/`).
//!
//! The report reads a run through the JSON form of its summary ([`ReportData::from_json`]), so
//! any recorded `summary.json` renders. Templates live in `reports/templates/` and are compiled
//! into the binary.

pub mod baseline;
pub mod charts;
pub mod compare;
pub mod fmt;
pub mod model;
pub mod regression;
mod render;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use model::ReportData;
pub use regression::{RegressionFinding, check as check_regression};
pub use render::{ReportOptions, render_html};

/// The file name of a run's report.
pub const REPORT_FILE: &str = "report.html";
/// The file name of a run's summary.
pub const SUMMARY_FILE: &str = "summary.json";

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A summary file is not valid JSON.
    #[error("{path} is not a valid summary.json: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A summary could not be turned into JSON.
    #[error("could not serialize the run summary: {0}")]
    Serialize(serde_json::Error),
    /// No `summary.json` where one was expected.
    #[error("no summary.json at {0} (give a run folder or a summary.json file)")]
    NoSummary(PathBuf),
    /// Rendering the template failed.
    #[error("report template: {0}")]
    Template(String),
    /// Drawing a chart failed.
    #[error("report chart: {0}")]
    Chart(String),
    /// A `--max-regression` value that is not a percentage.
    #[error("invalid regression limit {0:?}: expected a percentage such as 10%")]
    BadPercent(String),
}

/// Read a run's summary: `path` is a run folder (holding `summary.json`) or a summary file.
pub fn load_summary(path: &Path) -> Result<(PathBuf, ReportData), ReportError> {
    let file = if path.is_dir() {
        path.join(SUMMARY_FILE)
    } else {
        path.to_path_buf()
    };
    if !file.is_file() {
        return Err(ReportError::NoSummary(file));
    }
    let text = std::fs::read_to_string(&file).map_err(|source| ReportError::Io {
        path: file.clone(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ReportError::Json {
            path: file.clone(),
            source,
        })?;
    Ok((file, ReportData::from_json(&value)))
}

/// A summary (the harness's `Summary`, or any value of the `summary.json` form) as report data.
pub fn data_of<S: Serialize + ?Sized>(summary: &S) -> Result<ReportData, ReportError> {
    let value = serde_json::to_value(summary).map_err(ReportError::Serialize)?;
    Ok(ReportData::from_json(&value))
}

/// Write `run_dir/report.html` for a run, compared with `baseline` when given. Returns the path.
pub fn write_report<S: Serialize + ?Sized>(
    run_dir: &Path,
    summary: &S,
    baseline: Option<&S>,
) -> Result<PathBuf, ReportError> {
    write_report_with(run_dir, summary, baseline, &ReportOptions::default())
}

/// [`write_report`] with options (e.g. the regression limit to show in the comparison).
pub fn write_report_with<S: Serialize + ?Sized, B: Serialize + ?Sized>(
    run_dir: &Path,
    summary: &S,
    baseline: Option<&B>,
    options: &ReportOptions,
) -> Result<PathBuf, ReportError> {
    let current = data_of(summary)?;
    let base = baseline.map(data_of).transpose()?;
    let html = render_html(&current, base.as_ref(), options)?;
    let path = run_dir.join(REPORT_FILE);
    write_file(&path, &html)?;
    Ok(path)
}

fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `harness report A [B]`: render run `a` (a run folder or its `summary.json`), compared with
/// baseline run `b` when given.
///
/// Output: `out` when it ends in `.html`, `out/report.html` when it is a folder; without `out`,
/// `report.html` (one run) or `report-vs-<baseline scenario>.html` (two runs) next to A's
/// summary. Returns the path written.
pub fn render_cli(a: &Path, b: Option<&Path>, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    render_cli_with(a, b, out, &ReportOptions::default())
}

/// [`render_cli`] with options (e.g. `--max-regression`).
pub fn render_cli_with(
    a: &Path,
    b: Option<&Path>,
    out: Option<&Path>,
    options: &ReportOptions,
) -> anyhow::Result<PathBuf> {
    let (a_file, current) = load_summary(a)?;
    let base = b.map(load_summary).transpose()?;
    let html = render_html(&current, base.as_ref().map(|(_, d)| d), options)?;
    let path = match out {
        Some(o)
            if o.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("html")) =>
        {
            o.to_path_buf()
        }
        Some(o) => o.join(REPORT_FILE),
        None => {
            let dir = a_file.parent().unwrap_or(Path::new("."));
            match &base {
                None => dir.join(REPORT_FILE),
                Some((_, d)) => dir.join(format!("report-vs-{}.html", file_safe(&d.scenario))),
            }
        }
    };
    write_file(&path, &html)?;
    Ok(path)
}

fn file_safe(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() { "baseline".into() } else { t }
}
