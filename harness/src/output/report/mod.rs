//! The HTML report: one self-contained `report.html` per run (inline CSS and SVG, no scripts, no
//! network), optionally compared with a baseline run.
//!
//! - [`write_report`]: what the run path calls after writing `summary.json`.
//! - [`render_cli`]: `harness report A [B]` (render run A, or compare run A with baseline B).
//! - [`baseline::find_latest`]: the default baseline (the latest phase1 run under `reports/out/`).
//!
//! The report renders the typed [`Summary`] (read with [`Summary::read`], so a file of another
//! `schema_version` is an error, not a page of gaps); what it shows beyond the summary's own
//! fields is computed in [`figures`]. Templates live in `reports/templates/` and are compiled
//! into the binary.

pub mod baseline;
pub mod charts;
pub mod compare;
pub mod figures;
mod render;

use std::path::{Path, PathBuf};

pub use crate::summary::SUMMARY_FILE;
use crate::summary::{Summary, SummaryError};
pub use render::{ReportOptions, render_html};

/// The file name of a run's report.
pub const REPORT_FILE: &str = "report.html";

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A summary file could not be read: unreadable, not a summary, or another schema version.
    #[error(transparent)]
    Summary(#[from] SummaryError),
    /// No `summary.json` where one was expected.
    #[error("no summary.json at {0} (give a run folder or a summary.json file)")]
    NoSummary(PathBuf),
    /// Rendering the template failed.
    #[error("report template: {0}")]
    Template(String),
    /// Drawing a chart failed.
    #[error("report chart: {0}")]
    Chart(String),
}

/// Read a run's summary: `path` is a run folder (holding `summary.json`) or a summary file.
pub fn load_summary(path: &Path) -> Result<(PathBuf, Summary), ReportError> {
    let file = crate::summary::summary_file(path);
    if !file.is_file() {
        return Err(ReportError::NoSummary(file));
    }
    let summary = Summary::read(&file)?;
    Ok((file, summary))
}

/// Write `run_dir/report.html` for a run, compared with `baseline` when given. Returns the path.
pub fn write_report(
    run_dir: &Path,
    summary: &Summary,
    baseline: Option<&Summary>,
) -> Result<PathBuf, ReportError> {
    write_report_with(run_dir, summary, baseline, &ReportOptions::default())
}

/// [`write_report`] with options (e.g. the regression limit to show in the comparison).
pub fn write_report_with(
    run_dir: &Path,
    summary: &Summary,
    baseline: Option<&Summary>,
    options: &ReportOptions,
) -> Result<PathBuf, ReportError> {
    let html = render_html(summary, baseline, options)?;
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

/// [`render_cli`] with options.
pub fn render_cli_with(
    a: &Path,
    b: Option<&Path>,
    out: Option<&Path>,
    options: &ReportOptions,
) -> anyhow::Result<PathBuf> {
    let (a_file, current) = load_summary(a)?;
    let base = b.map(load_summary).transpose()?;
    write_cli_report(
        &a_file,
        &current,
        base.as_ref().map(|(_, d)| d),
        out,
        options,
    )
}

/// Writes the report of `current` (read from `a_file`) where [`render_cli`] says.
pub fn write_cli_report(
    a_file: &Path,
    current: &Summary,
    base: Option<&Summary>,
    out: Option<&Path>,
    options: &ReportOptions,
) -> anyhow::Result<PathBuf> {
    let html = render_html(current, base, options)?;
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
            match base {
                None => dir.join(REPORT_FILE),
                Some(d) => dir.join(format!("report-vs-{}.html", file_safe(&d.scenario.name))),
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

/// What every page includes, from `reports/templates/`: the start of its `<head>`, and the
/// style sheet, so the report and the comparison look alike.
const SHARED_TEMPLATES: [(&str, &str); 2] = [
    (
        "head.html",
        include_str!("../../../../reports/templates/head.html"),
    ),
    (
        "report.css",
        include_str!("../../../../reports/templates/report.css"),
    ),
];

/// Renders template `name` out of `templates` (name, source) and the shared ones with `page`
/// as its context. The error keeps tera's whole chain: its top-level message is often just
/// "failed to render".
pub fn render_template<T: serde::Serialize>(
    templates: &[(&str, &str)],
    name: &str,
    page: &T,
) -> Result<String, String> {
    let chain = |e: tera::Error| {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        msg
    };
    let mut tera = tera::Tera::new();
    tera.autoescape_on([".html"]);
    for (n, source) in SHARED_TEMPLATES.iter().chain(templates) {
        tera.add_raw_template(n, source).map_err(chain)?;
    }
    let ctx = tera::Context::from_serialize(page).map_err(chain)?;
    tera.render(name, &ctx).map_err(chain)
}
