//! From a [`Summary`] to HTML: a page model of ready-formatted strings, rendered with tera.
//! One file per part of the page: the verdict and thresholds, the facts table, the endpoint
//! table, the GPU section and the comparison with a baseline.

mod comparison;
mod endpoints;
mod eval;
mod facts;
mod gpu;
mod sweep;
mod verdict;

use serde::Serialize;

use super::ReportError;
use super::charts::{self, Chart};
use crate::summary::Summary;
use crate::units;
use comparison::BaselineView;
use endpoints::{EndpointRow, StageRow};
use gpu::GpuView;
use verdict::{ThresholdRow, Verdict};

/// The page template, `reports/templates/report.html` (autoescaped: its name ends in `.html`).
const REPORT_TEMPLATE: &str = include_str!("../../../../../reports/templates/report.html");
/// One chart with its heading, caption and legend, `reports/templates/chart.html`.
const CHART_TEMPLATE: &str = include_str!("../../../../../reports/templates/chart.html");

/// Options for rendering.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Text for the "generated" line (defaults to the current UTC time).
    pub generated_at: Option<String>,
}

#[derive(Serialize)]
struct Fact {
    label: String,
    value: String,
}

fn fact(label: &str, value: impl Into<String>) -> Fact {
    Fact {
        label: label.into(),
        value: value.into(),
    }
}

#[derive(Serialize)]
struct Page {
    title: String,
    scenario: String,
    description: String,
    generated_at: String,
    verdict: Verdict,
    thresholds: Vec<ThresholdRow>,
    facts: Vec<Fact>,
    endpoints: Vec<EndpointRow>,
    cache: String,
    load_charts: Vec<Chart>,
    stage_charts: Vec<Chart>,
    stages: Vec<StageRow>,
    gpu: GpuView,
    server_charts: Vec<Chart>,
    server_stats: Vec<Fact>,
    eval: Option<eval::EvalView>,
    sweep: Option<sweep::SweepView>,
    has_baseline: bool,
    baseline: BaselineView,
    notes: Vec<String>,
    instrument: Vec<String>,
    warnings: Vec<String>,
}

const NOT_RECORDED: &str = "not recorded";

fn or_nr(v: Option<String>) -> String {
    v.unwrap_or_else(|| NOT_RECORDED.into())
}

/// Render the report page for `current`, compared with `baseline` when given.
pub fn render_html(
    current: &Summary,
    baseline: Option<&Summary>,
    options: &ReportOptions,
) -> Result<String, ReportError> {
    let page = page(current, baseline, options)?;
    super::render_template(
        &[
            ("chart.html", CHART_TEMPLATE),
            ("report.html", REPORT_TEMPLATE),
        ],
        "report.html",
        &page,
    )
    .map_err(ReportError::Template)
}

fn page(
    d: &Summary,
    baseline: Option<&Summary>,
    options: &ReportOptions,
) -> Result<Page, ReportError> {
    let set = charts::build(d, baseline)?;
    // The regression gate ran in the verdict (`crate::verdict::gate`); its result is read here.
    let gate = crate::verdict::regression_result(d);
    let regressed = gate.as_ref().is_some_and(|(t, _)| !t.passed);
    Ok(Page {
        title: format!("ragbench report: {}", d.scenario.name),
        scenario: d.scenario.name.clone(),
        description: d.scenario.description.clone().unwrap_or_default(),
        generated_at: options.generated_at.clone().unwrap_or_else(|| {
            chrono::Utc::now()
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        }),
        verdict: verdict::verdict(d, regressed),
        thresholds: verdict::threshold_rows(d),
        facts: facts::facts(d),
        endpoints: endpoints::endpoint_rows(d),
        cache: endpoints::cache_line(d),
        load_charts: set.load,
        stage_charts: set.stages,
        stages: endpoints::stage_rows(d),
        gpu: gpu::gpu_view(d, set.gpu),
        server_charts: set.server,
        server_stats: server_stats(d),
        eval: eval::eval_view(d),
        sweep: sweep::sweep_view(d)?,
        has_baseline: baseline.is_some(),
        baseline: baseline
            .map(|b| comparison::baseline_view(d, b, gate))
            .unwrap_or_default(),
        notes: d.notes.clone(),
        instrument: endpoints::instrument(d),
        warnings: d.verdict.warnings.clone(),
    })
}

/// The server process's figures beside its charts.
fn server_stats(d: &Summary) -> Vec<Fact> {
    let p = d.server_process.as_ref();
    vec![
        fact("Mean CPU", or_nr(p.map(|p| units::pct(p.cpu_mean_pct)))),
        fact("Peak CPU", or_nr(p.map(|p| units::pct(p.cpu_max_pct)))),
        fact("Peak RSS", or_nr(p.map(|p| units::bytes(p.peak_rss_bytes)))),
    ]
}

/// A latency in whole microseconds, formatted.
fn us(x: u64) -> String {
    units::us(x as f64)
}

/// The text, unless it is absent or empty.
fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}
