//! `harness compare`: several runs side by side (phase1, phase2, phase3; or one scenario at
//! two commits). Rows are metrics, columns are runs; every later run's cell also shows its
//! change against the first run: the improvement factor and outcome of the report's baseline
//! table ([`judge`]) and the raw change in percent.
//!
//! The model ([`Comparison`]) is built once from the summaries; the console table
//! ([`render_console`]) and the HTML page ([`render_html`], `reports/templates/compare.html`)
//! are two views of it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::output::report::compare::{Outcome, judge};
use crate::summary::{EndpointStats, Summary};
use crate::units;
use crate::verdict::Better;

/// The page template, autoescaped (its name ends in `.html`).
const COMPARE_TEMPLATE: &str = include_str!("../../../reports/templates/compare.html");

/// Why the comparison page could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Rendering the template failed.
    #[error("compare template: {0}")]
    Template(String),
    /// Writing the page failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or its folder.
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Runs side by side: one column per run, one row per metric.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The runs, in the order given; the first is what later runs are measured against.
    pub runs: Vec<RunHead>,
    /// The metrics; a metric no run has is left out.
    pub rows: Vec<Row>,
}

/// What identifies a run in the table's header.
#[derive(Debug, Clone, Serialize)]
pub struct RunHead {
    /// Short and unique among the runs: the scenario name, with the revision or start time
    /// added when two runs share a name.
    pub label: String,
    /// The scenario's name.
    pub scenario: String,
    /// When its load started, UTC.
    pub started: String,
    /// The first 10 characters of its git revision, when known.
    pub revision: Option<String>,
    /// `GPU` when the run's sampler saw one, else `CPU`.
    pub device: String,
    /// `pass` or `fail`.
    pub verdict: String,
}

/// One metric across the runs.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `P95`, `throughput`, ...
    pub metric: String,
    /// `all requests`, an endpoint, `server cache`, `server process`, `GPU`.
    pub scope: String,
    /// Which direction is an improvement.
    pub better: Better,
    /// One per run, in the runs' order.
    pub cells: Vec<Cell>,
}

/// One run's value of a metric.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The value in the metric's base unit (microseconds, per second, fraction, bytes,
    /// percent); `None` when the run does not have it.
    pub value: Option<f64>,
    /// The value for people (`1.24 ms`, `-` when absent).
    pub text: String,
    /// Against the first run; `None` in the first column and where the run lacks the value.
    pub change: Option<Change>,
}

/// A later run's change against the first on one metric.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Improvement factor as in the baseline table: above 1 is better.
    pub factor: Option<f64>,
    /// `3.20x`, or why there is no factor.
    pub factor_text: String,
    /// Raw change of the value, percent of the first run's (`+25.0` for a 25 % rise).
    pub pct: Option<f64>,
    /// `+25.0 %`, or `n/a`.
    pub pct_text: String,
    /// Better, worse, same or info (not judged, or missing on one side).
    pub outcome: Outcome,
    /// Factor, outcome and percentage in one phrase: `1.25x better, -20.0 %`.
    pub text: String,
}

/// Builds the comparison of `runs` (the first is the reference).
pub fn compare(runs: &[Summary]) -> Comparison {
    let mut rows = Vec::new();
    endpoint_rows(&mut rows, runs, "all requests", |s| Some(&s.overall));
    let names: BTreeSet<&String> = runs.iter().flat_map(|s| s.endpoints.keys()).collect();
    for name in names {
        endpoint_rows(&mut rows, runs, name, |s| s.endpoints.get(name));
    }
    let hit_rate = |s: &Summary| {
        s.cache.hit_rate.or(match (s.cache.hits, s.cache.misses) {
            (Some(h), Some(m)) if h + m > 0 => Some(h as f64 / (h + m) as f64),
            _ => None,
        })
    };
    rows.extend(row(
        "cache hit rate",
        "server cache",
        Better::Higher,
        runs.iter().map(hit_rate).collect(),
        &units::share,
    ));
    rows.extend(row(
        "mean CPU",
        "server process",
        Better::Neither,
        runs.iter()
            .map(|s| s.server_process.as_ref().map(|p| p.cpu_mean_pct))
            .collect(),
        &units::pct,
    ));
    rows.extend(row(
        "peak RSS",
        "server process",
        Better::Lower,
        runs.iter()
            .map(|s| s.server_process.as_ref().map(|p| p.peak_rss_bytes as f64))
            .collect(),
        &|b| units::bytes(b as u64),
    ));
    rows.extend(row(
        "mean GPU utilization",
        "GPU",
        Better::Neither,
        runs.iter()
            .map(|s| s.gpu.as_ref().and_then(|g| g.mean_utilization_pct()))
            .collect(),
        &units::pct,
    ));
    Comparison {
        runs: heads(runs),
        rows,
    }
}

fn endpoint_rows<'a>(
    out: &mut Vec<Row>,
    runs: &'a [Summary],
    scope: &str,
    get: impl Fn(&'a Summary) -> Option<&'a EndpointStats>,
) {
    let values = |f: &dyn Fn(&EndpointStats) -> Option<f64>| -> Vec<Option<f64>> {
        runs.iter().map(|s| get(s).and_then(f)).collect()
    };
    // A run without requests has no latency to show (its histogram is empty, not fast).
    let latency = |f: fn(&EndpointStats) -> u64| {
        values(&|e: &EndpointStats| (e.requests > 0).then(|| f(e) as f64))
    };
    let rows = [
        row(
            "P50",
            scope,
            Better::Lower,
            latency(|e| e.latency.p50_us),
            &units::us,
        ),
        row(
            "P95",
            scope,
            Better::Lower,
            latency(|e| e.latency.p95_us),
            &units::us,
        ),
        row(
            "P99",
            scope,
            Better::Lower,
            latency(|e| e.latency.p99_us),
            &units::us,
        ),
        row(
            "throughput",
            scope,
            Better::Higher,
            values(&|e| Some(e.throughput_rps)),
            &units::rps,
        ),
        row(
            "error rate",
            scope,
            Better::Lower,
            values(&|e| (e.requests > 0).then_some(e.error_rate)),
            &units::share,
        ),
    ];
    out.extend(rows.into_iter().flatten());
}

fn row(
    metric: &str,
    scope: &str,
    better: Better,
    values: Vec<Option<f64>>,
    show: &dyn Fn(f64) -> String,
) -> Option<Row> {
    if values.iter().all(Option::is_none) {
        return None;
    }
    let first = values.first().copied().flatten();
    let cells = values
        .iter()
        .enumerate()
        .map(|(i, &value)| Cell {
            value,
            text: value.map(show).unwrap_or_else(|| "-".into()),
            change: (i > 0 && value.is_some()).then(|| change(better, first, value)),
        })
        .collect();
    Some(Row {
        metric: metric.into(),
        scope: scope.into(),
        better,
        cells,
    })
}

fn change(better: Better, first: Option<f64>, value: Option<f64>) -> Change {
    let (Some(base), Some(cur)) = (first, value) else {
        let why = "not in the first run";
        return Change {
            factor: None,
            factor_text: why.into(),
            pct: None,
            pct_text: "n/a".into(),
            outcome: Outcome::Info,
            text: why.into(),
        };
    };
    let (factor, factor_text, outcome) = judge(better, base, cur);
    let pct = (base != 0.0).then(|| (cur - base) / base.abs() * 100.0);
    let pct_text = pct.map_or_else(|| "n/a".into(), |p| format!("{p:+.1} %"));
    let word = match outcome {
        Outcome::Better => " better",
        Outcome::Worse => " worse",
        Outcome::Same => " same",
        Outcome::Info => "",
    };
    let text = match (factor, pct) {
        (Some(_), Some(_)) => format!("{factor_text}{word}, {pct_text}"),
        (Some(_), None) => format!("{factor_text}{word}"),
        (None, _) => factor_text.clone(),
    };
    Change {
        factor,
        factor_text,
        pct,
        pct_text,
        outcome,
        text,
    }
}

/// The first 10 characters of a run's git revision.
fn revision(s: &Summary) -> Option<String> {
    s.git_revision
        .as_deref()
        .map(|r| r.chars().take(10).collect::<String>())
}

/// What a label may be refined with to tell runs of one scenario apart.
type Refinement = fn(&Summary) -> Option<String>;

fn heads(runs: &[Summary]) -> Vec<RunHead> {
    let mut labels: Vec<String> = runs.iter().map(|s| s.scenario.name.clone()).collect();
    // Make the labels unique: the revision where it tells runs apart, else the start time,
    // else a number.
    let refine: [Refinement; 2] = [
        |s| revision(s).map(|r| format!("@ {r}")),
        |s| Some(s.started_at.format("%Y-%m-%d %H:%M:%S").to_string()),
    ];
    for extra in refine {
        let dup = duplicates(&labels);
        if dup.is_empty() {
            break;
        }
        let candidates: Vec<String> = runs
            .iter()
            .zip(&labels)
            .map(|(s, l)| match extra(s) {
                Some(x) if dup.contains(l) => format!("{l} {x}"),
                _ => l.clone(),
            })
            .collect();
        // Only take a refinement that tells more runs apart.
        if distinct(&candidates) > distinct(&labels) {
            labels = candidates;
        }
    }
    let dup = duplicates(&labels);
    for (i, l) in labels.iter_mut().enumerate() {
        if dup.contains(l) {
            *l = format!("{l} #{}", i + 1);
        }
    }
    runs.iter()
        .zip(labels)
        .map(|(s, label)| RunHead {
            label,
            scenario: s.scenario.name.clone(),
            started: s.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            revision: revision(s),
            device: match &s.gpu {
                Some(g) if g.available && !g.devices.is_empty() => "GPU".into(),
                _ => "CPU".into(),
            },
            verdict: if s.verdict.passed { "pass" } else { "fail" }.into(),
        })
        .collect()
}

fn distinct(labels: &[String]) -> usize {
    labels.iter().collect::<BTreeSet<_>>().len()
}

/// Labels that occur more than once.
fn duplicates(labels: &[String]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    labels
        .iter()
        .filter(|l| !seen.insert(l.as_str()))
        .cloned()
        .collect()
}

/// The comparison as a plain aligned table for the terminal.
pub fn render_console(c: &Comparison) -> String {
    let mut table: Vec<Vec<String>> = Vec::with_capacity(c.rows.len() + 1);
    let mut head = vec!["metric".to_string(), "scope".to_string()];
    head.extend(c.runs.iter().map(|r| r.label.clone()));
    table.push(head);
    for r in &c.rows {
        let mut line = vec![r.metric.clone(), r.scope.clone()];
        line.extend(r.cells.iter().map(|cell| match &cell.change {
            Some(ch) => format!("{} ({})", cell.text, ch.text),
            None => cell.text.clone(),
        }));
        table.push(line);
    }
    let columns = table.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            table
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (n, line) in table.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(text, &w)| format!("{text}{}", " ".repeat(w - text.chars().count())))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
            out.push_str(&rule.join("  "));
            out.push('\n');
        }
    }
    out
}

/// What the page template is given.
#[derive(Serialize)]
struct Page<'a> {
    title: String,
    generated_at: String,
    comparison: &'a Comparison,
}

/// The comparison as one self-contained HTML page (inline CSS, no scripts).
pub fn render_html(c: &Comparison) -> Result<String, CompareError> {
    let names: Vec<&str> = c.runs.iter().map(|r| r.label.as_str()).collect();
    let page = Page {
        title: format!("ragbench comparison: {}", names.join(" vs ")),
        generated_at: chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        comparison: c,
    };
    crate::output::report::render_template(
        &[("compare.html", COMPARE_TEMPLATE)],
        "compare.html",
        &page,
    )
    .map_err(CompareError::Template)
}

/// Renders the page and writes it to `path` (its folder created if needed).
pub fn write_html(c: &Comparison, path: &Path) -> Result<(), CompareError> {
    let html = render_html(c)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| CompareError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, html).map_err(|source| CompareError::Io {
        path: path.to_path_buf(),
        source,
    })
}
