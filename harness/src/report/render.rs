//! From [`ReportData`] to HTML: a page model of ready-formatted strings, rendered with tera.

use serde::Serialize;

use super::ReportError;
use super::charts::{self, Chart};
use super::compare::{self, CompareRow};
use super::fmt;
use super::model::{EndpointStats, LatencySummary, ReportData};
use super::regression::{self, RegressionFinding};

/// The page template, `reports/templates/report.html` (autoescaped: its name ends in `.html`).
const REPORT_TEMPLATE: &str = include_str!("../../../reports/templates/report.html");
/// The stylesheet, `reports/templates/report.css`, included inline by the page template.
const CSS_TEMPLATE: &str = include_str!("../../../reports/templates/report.css");
/// One chart with its heading, caption and legend, `reports/templates/chart.html`.
const CHART_TEMPLATE: &str = include_str!("../../../reports/templates/chart.html");

/// Options for rendering.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// `--max-regression` in percent: when set and a baseline is given, the comparison shows
    /// the regression gate's findings and the verdict fails on any.
    pub max_regression_pct: Option<f64>,
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
struct Verdict {
    class: &'static str,
    text: &'static str,
    detail: String,
}

#[derive(Serialize)]
struct ThresholdRow {
    rule: String,
    scope: String,
    observed: String,
    class: &'static str,
    status: &'static str,
    message: String,
}

#[derive(Serialize)]
struct EndpointRow {
    name: String,
    is_total: bool,
    is_sub: bool,
    requests: String,
    errors: String,
    errors_detail: String,
    error_rate: String,
    error_class: &'static str,
    p50: String,
    p90: String,
    p95: String,
    p99: String,
    max: String,
    throughput: String,
}

#[derive(Serialize)]
struct StageRow {
    stage: String,
    count: String,
    mean: String,
    p50: String,
    p95: String,
    p99: String,
    max: String,
}

#[derive(Serialize)]
struct GpuDeviceRow {
    index: u32,
    name: String,
    memory: String,
    power_limit: String,
    driver: String,
}

#[derive(Serialize)]
struct GpuView {
    available: bool,
    reason: String,
    devices: Vec<GpuDeviceRow>,
    stats: Vec<Fact>,
    charts: Vec<Chart>,
}

#[derive(Serialize)]
struct BaselineView {
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
    has_baseline: bool,
    baseline: BaselineView,
    notes: Vec<String>,
}

const NOT_RECORDED: &str = "not recorded";

fn or_nr(v: Option<String>) -> String {
    v.unwrap_or_else(|| NOT_RECORDED.into())
}

/// Render the report page for `current`, compared with `baseline` when given.
pub fn render_html(
    current: &ReportData,
    baseline: Option<&ReportData>,
    options: &ReportOptions,
) -> Result<String, ReportError> {
    let page = page(current, baseline, options)?;
    let mut tera = tera::Tera::new();
    tera.autoescape_on([".html"]);
    tera.add_raw_template("report.css", CSS_TEMPLATE)
        .map_err(template_err)?;
    tera.add_raw_template("chart.html", CHART_TEMPLATE)
        .map_err(template_err)?;
    tera.add_raw_template("report.html", REPORT_TEMPLATE)
        .map_err(template_err)?;
    let ctx = tera::Context::from_serialize(&page).map_err(template_err)?;
    tera.render("report.html", &ctx).map_err(template_err)
}

fn template_err(e: tera::Error) -> ReportError {
    // Keep the whole chain: tera's top-level message is often just "failed to render".
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    ReportError::Template(msg)
}

fn page(
    d: &ReportData,
    baseline: Option<&ReportData>,
    options: &ReportOptions,
) -> Result<Page, ReportError> {
    let set = charts::build(d, baseline)?;

    let findings: Option<Vec<RegressionFinding>> = match (baseline, options.max_regression_pct) {
        (Some(b), Some(max)) => Some(regression::check_data(d, b, max)),
        _ => None,
    };
    let regressed = findings.as_ref().is_some_and(|f| !f.is_empty());

    let failed: Vec<&str> = d
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| t.rule.as_str())
        .collect();
    let verdict = match (d.passed, regressed) {
        (Some(false), _) | (_, true) => {
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
                d.verdict_failures
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
        }
        (Some(true), false) => Verdict {
            class: "pass",
            text: "PASS",
            detail: if d.thresholds.is_empty() {
                "No thresholds were set for this scenario; figures are recorded for comparison."
                    .into()
            } else {
                format!("All {} thresholds held.", d.thresholds.len())
            },
        },
        (None, false) => Verdict {
            class: "unknown",
            text: "NO VERDICT",
            detail: "The summary records no verdict.".into(),
        },
    };
    let verdict = Verdict {
        detail: match d.exit_code {
            Some(c) => format!("{} Exit code {c}.", verdict.detail),
            None => verdict.detail,
        },
        ..verdict
    };

    let thresholds = d
        .thresholds
        .iter()
        .map(|t| ThresholdRow {
            rule: t.rule.clone(),
            scope: t.scope.clone().unwrap_or_else(|| "all requests".into()),
            observed: t.observed.clone(),
            class: if t.passed { "pass" } else { "fail" },
            status: if t.passed { "pass" } else { "fail" },
            message: t.message.clone().unwrap_or_default(),
        })
        .collect();

    let mut endpoints: Vec<EndpointRow> = Vec::new();
    for e in &d.endpoints {
        endpoints.push(endpoint_row(e, false));
        for (label, lat) in [("cache hits", &e.cached), ("cache misses", &e.uncached)] {
            if let Some(l) = lat.as_ref().filter(|l| l.count.unwrap_or(1) > 0) {
                endpoints.push(latency_row(&format!("{}: {label}", e.name), l, "", ""));
            }
        }
    }
    if let Some(b) = &d.bad_token {
        let unexpected = b.requests.saturating_sub(b.rejected);
        let mut row = latency_row(
            "bad token (401 expected)",
            &b.latency,
            &fmt::int(unexpected),
            if unexpected > 0 { "bad" } else { "" },
        );
        row.requests = fmt::int(b.requests);
        row.is_sub = false;
        endpoints.push(row);
    }
    if let Some(o) = &d.overall
        && d.endpoints.len() != 1
    {
        let mut row = endpoint_row(o, true);
        row.name = "all requests".into();
        endpoints.push(row);
    }

    let cache = d
        .cache
        .as_ref()
        .map(|c| {
            format!(
                "Response cache over the measured window: hit rate {} ({} hits, {} misses).",
                c.hit_rate.map(fmt::share).unwrap_or_else(|| "n/a".into()),
                fmt::int(c.hits),
                fmt::int(c.misses)
            )
        })
        .unwrap_or_default();

    let stages = d
        .stages
        .iter()
        .map(|s| StageRow {
            stage: s.stage.clone(),
            count: fmt::int(s.count),
            mean: fmt::opt_us(s.mean_us),
            p50: fmt::opt_us(s.p50_us),
            p95: fmt::opt_us(s.p95_us),
            p99: fmt::opt_us(s.p99_us),
            max: fmt::opt_us(s.max_us),
        })
        .collect();

    let g = &d.gpu;
    let gpu = GpuView {
        available: g.available && !g.devices.is_empty(),
        reason: {
            let r = g.describe();
            let detail = r
                .strip_prefix(crate::gpu::NO_GPU_PREFIX)
                .map(|d| d.trim_start_matches(':').trim().to_string())
                .unwrap_or(r);
            if detail.is_empty() {
                "NVML reported no device".into()
            } else {
                detail
            }
        },
        devices: g
            .devices
            .iter()
            .map(|dev| GpuDeviceRow {
                index: dev.index,
                name: dev.name.clone(),
                memory: fmt::bytes(dev.memory_total_bytes),
                power_limit: dev
                    .power_limit_w
                    .map(|w| format!("{} W", fmt::num(w)))
                    .unwrap_or_else(|| "-".into()),
                driver: dev.driver_version.clone().unwrap_or_else(|| "-".into()),
            })
            .collect(),
        stats: vec![
            fact("Samples", fmt::int(g.samples.len() as u64)),
            fact(
                "Mean utilization",
                or_nr(g.mean_utilization_pct().map(fmt::pct)),
            ),
            fact(
                "Peak utilization",
                or_nr(g.max_utilization_pct().map(|u| fmt::pct(f64::from(u)))),
            ),
            fact(
                "Peak memory used",
                or_nr(g.peak_memory_used_bytes().map(fmt::bytes)),
            ),
            fact(
                "Peak temperature",
                or_nr(g.max_temperature_c().map(|t| format!("{t} °C"))),
            ),
            fact(
                "Mean power",
                or_nr(g.mean_power_w().map(|w| format!("{} W", fmt::num(w)))),
            ),
        ],
        charts: set.gpu,
    };

    let server_stats = vec![
        fact("Mean CPU", or_nr(d.server.cpu_avg_pct.map(fmt::pct))),
        fact("Peak CPU", or_nr(d.server.cpu_max_pct.map(fmt::pct))),
        fact("Peak RSS", or_nr(d.server.peak_rss_bytes.map(fmt::bytes))),
    ];

    let baseline_view = match baseline {
        Some(b) => BaselineView {
            label: b.label(),
            scenario: b.scenario.clone(),
            title: if device(b) != device(d) {
                format!(
                    "{} vs {}: {} \u{2192} {}",
                    device(b),
                    device(d),
                    b.scenario,
                    d.scenario
                )
            } else {
                format!(
                    "Comparison with baseline: {} \u{2192} {}",
                    b.scenario, d.scenario
                )
            },
            baseline_head: format!("{} \u{b7} {} (baseline)", b.scenario, device(b)),
            current_head: format!("{} \u{b7} {}", d.scenario, device(d)),
            rows: compare::rows(d, b),
            regression_checked: findings.is_some(),
            regression_limit: options.max_regression_pct.map(fmt::pct).unwrap_or_default(),
            regression_passed: !regressed,
            regressions: findings
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect(),
        },
        None => BaselineView {
            label: String::new(),
            scenario: String::new(),
            title: String::new(),
            baseline_head: String::new(),
            current_head: String::new(),
            rows: Vec::new(),
            regression_checked: false,
            regression_limit: String::new(),
            regression_passed: true,
            regressions: Vec::new(),
        },
    };

    let mut notes = d.notes.clone();
    if d.schema_version != 1 {
        notes.push(format!(
            "This summary has schema_version {} (the report reads version 1); missing figures show as \"{NOT_RECORDED}\".",
            d.schema_version
        ));
    }

    Ok(Page {
        title: format!("ragbench report: {}", d.scenario),
        scenario: d.scenario.clone(),
        description: d.description.clone().unwrap_or_default(),
        generated_at: options.generated_at.clone().unwrap_or_else(|| {
            chrono::Utc::now()
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        }),
        verdict,
        thresholds,
        facts: facts(d),
        endpoints,
        cache,
        load_charts: set.load,
        stage_charts: set.stages,
        stages,
        gpu,
        server_charts: set.server,
        server_stats,
        has_baseline: baseline.is_some(),
        baseline: baseline_view,
        notes,
    })
}

/// An RFC 3339 time as `2026-05-20 10:15:02 UTC`; other text as it is.
fn timestamp(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(dt) => dt
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        Err(_) => t.to_string(),
    }
}

/// `GPU` when the run saw one, else `CPU`.
fn device(d: &ReportData) -> &'static str {
    if d.gpu.available && !d.gpu.devices.is_empty() {
        "GPU"
    } else {
        "CPU"
    }
}

fn capitalize_word(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

/// A row with latencies only (cached / uncached split, bad-token requests).
fn latency_row(
    name: &str,
    l: &LatencySummary,
    errors: &str,
    error_class: &'static str,
) -> EndpointRow {
    EndpointRow {
        name: name.into(),
        is_total: false,
        is_sub: true,
        requests: l.count.map(fmt::int).unwrap_or_else(|| "-".into()),
        errors: if errors.is_empty() {
            "-".into()
        } else {
            errors.into()
        },
        errors_detail: String::new(),
        error_rate: "-".into(),
        error_class,
        p50: fmt::opt_us(l.p50_us),
        p90: fmt::opt_us(l.p90_us),
        p95: fmt::opt_us(l.p95_us),
        p99: fmt::opt_us(l.p99_us),
        max: fmt::opt_us(l.max_us),
        throughput: "-".into(),
    }
}

fn endpoint_row(e: &EndpointStats, is_total: bool) -> EndpointRow {
    let rate = e.error_rate();
    EndpointRow {
        name: e.name.clone(),
        is_total,
        is_sub: false,
        requests: fmt::int(e.requests),
        errors: fmt::int(e.errors),
        errors_detail: e
            .errors_by_status
            .iter()
            .map(|(k, n)| format!("{k}: {}", fmt::int(*n)))
            .collect::<Vec<_>>()
            .join(", "),
        error_rate: rate.map(fmt::share).unwrap_or_else(|| "-".into()),
        error_class: match rate {
            Some(r) if r >= 0.01 => "bad",
            Some(r) if r > 0.0 => "warn",
            _ => "",
        },
        p50: fmt::opt_us(e.p50_us),
        p90: fmt::opt_us(e.p90_us),
        p95: fmt::opt_us(e.p95_us),
        p99: fmt::opt_us(e.p99_us),
        max: fmt::opt_us(e.max_us),
        throughput: e.throughput_rps.map(fmt::rps).unwrap_or_else(|| "-".into()),
    }
}

fn facts(d: &ReportData) -> Vec<Fact> {
    let mut f = Vec::new();
    let mut scenario = d.scenario.clone();
    if let Some(desc) = &d.description {
        scenario = format!("{scenario}: {desc}");
    }
    if let Some(file) = &d.scenario_file {
        scenario = format!("{scenario} ({file})");
    }
    f.push(fact("Scenario", scenario));
    f.push(fact(
        "Started",
        or_nr(d.started_at.as_deref().map(timestamp)),
    ));
    let mut duration = d
        .duration_s
        .map(|s| format!("{} measured", fmt::seconds(s)))
        .unwrap_or_else(|| NOT_RECORDED.into());
    if let Some(w) = d.warmup_s {
        duration = format!("{duration}, after {} of warm-up", fmt::seconds(w));
    }
    f.push(fact("Duration", duration));
    let l = &d.load;
    let open = l.mode.as_deref() == Some("open") || (l.mode.is_none() && l.rate_per_s.is_some());
    let mut load = if open {
        l.rate_per_s.map(|r| {
            let mut s = format!(
                "open loop, {} {}arrivals",
                fmt::rps(r),
                l.arrival
                    .as_ref()
                    .map(|a| format!("{a} "))
                    .unwrap_or_default()
            );
            if let Some(m) = l.max_in_flight {
                s.push_str(&format!(", at most {m} in flight"));
            }
            s
        })
    } else {
        l.vus.map(|v| {
            let mut s = format!("closed loop, {v} virtual users");
            if let Some(t) = l.think_time_ms.filter(|t| *t > 0.0) {
                s.push_str(&format!(", {} ms think time", fmt::num(t)));
            }
            s
        })
    }
    .or_else(|| l.mode.clone());
    if let (Some(s), Some(g)) = (&mut load, &l.generator) {
        s.push_str(&format!(" ({g})"));
    }
    if let (Some(s), Some(p)) = (&mut load, l.planned) {
        s.push_str(&format!(
            "; {} arrivals planned, {} dropped",
            fmt::int(p),
            fmt::int(l.dropped.unwrap_or(0))
        ));
    }
    f.push(fact("Load", or_nr(load)));
    if !l.mix.is_empty() {
        let total: f64 = l.mix.iter().map(|m| m.1).sum();
        let mix = l
            .mix
            .iter()
            .map(|(k, w)| {
                if total > 0.0 {
                    format!("{k} {}", fmt::pct(100.0 * w / total))
                } else {
                    format!("{k} {}", fmt::num(*w))
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        f.push(fact("Workload mix", mix));
    }
    f.push(fact(
        "Stack",
        or_nr(match (&d.stack, &d.server_url) {
            (Some(s), Some(u)) => Some(format!("{s} ({u})")),
            (Some(s), None) => Some(s.clone()),
            (None, u) => u.clone(),
        }),
    ));
    if let Some(v) = &d.server_version {
        f.push(fact("Server version", v.clone()));
    }
    match &d.health {
        (Some(b), Some(a)) => f.push(fact("Health", format!("{b} before the load, {a} after"))),
        (Some(b), None) => f.push(fact("Health", format!("{b} before the load"))),
        (None, Some(a)) => f.push(fact("Health", format!("{a} after the load"))),
        (None, None) => {}
    }
    if d.backends.is_empty() {
        f.push(fact("Backends", NOT_RECORDED));
    }
    for (role, b) in &d.backends {
        // The backend's detail names its model (e.g. "fastembed: all-MiniLM-L6-v2 ...").
        f.push(fact(&capitalize_word(role), b.clone()));
    }
    if d.models.is_empty() && d.backends.is_empty() {
        f.push(fact("Model", NOT_RECORDED));
    }
    for (role, m) in &d.models {
        f.push(fact(&format!("Model: {role}"), m.clone()));
    }
    let c = &d.corpus;
    let mut parts = Vec::new();
    if let Some(n) = c.files {
        parts.push(format!("{} files", fmt::int(n)));
    }
    if let Some(b) = c.bytes {
        parts.push(fmt::bytes(b));
    }
    if let Some(n) = c.chunks {
        parts.push(format!("{} chunks", fmt::int(n)));
    }
    if let Some(s) = c.ingest_s {
        parts.push(format!("ingested in {}", fmt::seconds(s)));
    }
    let corpus = match (&c.name, parts.is_empty()) {
        (Some(n), true) => Some(n.clone()),
        (Some(n), false) => Some(format!("{n}: {}", parts.join(", "))),
        (None, false) => Some(parts.join(", ")),
        (None, true) => None,
    };
    f.push(fact("Corpus", or_nr(corpus)));
    f.push(fact("Vectors", or_nr(c.vectors.map(fmt::int))));
    let m = &d.machine;
    let cores = match (m.cores, m.physical_cores) {
        (Some(n), Some(p)) if p != n => Some(format!("{n} logical cores ({p} physical)")),
        (Some(n), _) => Some(format!("{n} cores")),
        _ => None,
    };
    let cpu = match (&m.cpu_model, cores) {
        (Some(model), Some(n)) => Some(format!("{model}, {n}")),
        (Some(model), None) => Some(model.clone()),
        (None, Some(n)) => Some(n),
        (None, None) => None,
    };
    f.push(fact("CPU", or_nr(cpu)));
    f.push(fact("Memory", or_nr(m.memory_bytes.map(fmt::bytes))));
    if let Some(os) = &m.os {
        f.push(fact("OS", os.clone()));
    }
    f.push(fact("GPU", d.gpu.describe()));
    f.push(fact(
        "Git revision",
        or_nr(d.git_revision.as_ref().map(|r| {
            let short: String = r.chars().take(12).collect();
            match d.git_dirty {
                Some(true) => format!("{short} (with uncommitted changes)"),
                _ => short,
            }
        })),
    ));
    if let Some(v) = &d.harness_version {
        f.push(fact("Harness", v.clone()));
    }
    f
}
