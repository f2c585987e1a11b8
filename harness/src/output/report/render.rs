//! From a [`Summary`] to HTML: a page model of ready-formatted strings, rendered with tera.

use serde::Serialize;

use super::ReportError;
use super::charts::{self, Chart};
use super::compare::{self, CompareRow};
use super::figures::{self, device};
use crate::scenario::Loop;
use crate::summary::{EndpointStats, HealthStatus, LatencyStats, Summary, ThresholdResult};
use crate::units;

/// The page template, `reports/templates/report.html` (autoescaped: its name ends in `.html`).
const REPORT_TEMPLATE: &str = include_str!("../../../../reports/templates/report.html");
/// One chart with its heading, caption and legend, `reports/templates/chart.html`.
const CHART_TEMPLATE: &str = include_str!("../../../../reports/templates/chart.html");

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
    is_floor: bool,
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

#[derive(Default, Serialize)]
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

    let verdict = verdict(d, regressed);

    let thresholds = d
        .thresholds
        .iter()
        .map(|t| ThresholdRow {
            rule: t.rule.clone(),
            scope: non_empty(&t.endpoint).unwrap_or_else(|| "all requests".into()),
            observed: t.observed_display.clone(),
            class: if t.passed { "pass" } else { "fail" },
            status: if t.passed { "pass" } else { "fail" },
            message: t.message.clone().unwrap_or_default(),
        })
        .collect();

    let stages = d
        .stages
        .iter()
        .map(|(stage, s)| StageRow {
            stage: stage.clone(),
            count: units::int(s.count),
            mean: units::us(s.mean_us),
            p50: us(s.p50_us),
            p95: us(s.p95_us),
            p99: us(s.p99_us),
            max: us(s.max_us),
        })
        .collect();

    let gpu = gpu_view(d, set.gpu);

    let p = d.server_process.as_ref();
    let server_stats = vec![
        fact("Mean CPU", or_nr(p.map(|p| units::pct(p.cpu_mean_pct)))),
        fact("Peak CPU", or_nr(p.map(|p| units::pct(p.cpu_max_pct)))),
        fact("Peak RSS", or_nr(p.map(|p| units::bytes(p.peak_rss_bytes)))),
    ];

    let baseline_view = match baseline {
        Some(b) => baseline_view(d, b, gate),
        None => BaselineView::default(),
    };

    Ok(Page {
        title: format!("ragbench report: {}", d.scenario.name),
        scenario: d.scenario.name.clone(),
        description: d.scenario.description.clone().unwrap_or_default(),
        generated_at: options.generated_at.clone().unwrap_or_else(|| {
            chrono::Utc::now()
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        }),
        verdict,
        thresholds,
        facts: facts(d),
        endpoints: endpoint_rows(d),
        cache: cache_line(d),
        load_charts: set.load,
        stage_charts: set.stages,
        stages,
        gpu,
        server_charts: set.server,
        server_stats,
        has_baseline: baseline.is_some(),
        baseline: baseline_view,
        notes: d.notes.clone(),
        instrument: instrument(d),
        warnings: d.verdict.warnings.clone(),
    })
}

/// PASS or FAIL with why: the failed thresholds, the other failures, the regression gate.
fn verdict(d: &Summary, regressed: bool) -> Verdict {
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

/// The endpoint table: each endpoint with its cache hits and misses apart, the bad-token
/// requests, and all requests together.
fn endpoint_rows(d: &Summary) -> Vec<EndpointRow> {
    let mut endpoints: Vec<EndpointRow> = Vec::new();
    for (name, e) in &d.endpoints {
        endpoints.push(endpoint_row(name, e, false));
        for (label, lat) in [("cache hits", &e.cached), ("cache misses", &e.uncached)] {
            if let Some(l) = lat.as_ref().filter(|l| l.count > 0) {
                endpoints.push(latency_row(&format!("{name}: {label}"), l, "", ""));
            }
        }
    }
    let b = &d.bad_token;
    if b.requests > 0 {
        let unexpected = b.requests.saturating_sub(b.rejected);
        let mut row = latency_row(
            "bad token (401 expected)",
            &b.latency,
            &units::int(unexpected),
            if unexpected > 0 { "bad" } else { "" },
        );
        row.requests = units::int(b.requests);
        row.is_sub = false;
        endpoints.push(row);
    }
    // With one endpoint its row is the total already; with none, there were no requests.
    if d.endpoints.len() > 1 || (d.endpoints.is_empty() && d.overall.requests > 0) {
        endpoints.push(endpoint_row("all requests", &d.overall, true));
    }
    if let Some(c) = &d.calibration {
        let mut row = latency_row(
            "instrument floor (trivial loopback endpoint, same load shape)",
            &c.latency,
            "",
            "",
        );
        row.is_floor = true;
        row.is_sub = false;
        row.throughput = units::rps(c.throughput_rps);
        endpoints.push(row);
    }
    endpoints
}

/// The cache's hit rate over the window; empty when the server's counters were not read.
fn cache_line(d: &Summary) -> String {
    let c = &d.cache;
    let hit_rate = figures::hit_rate(c);
    if c.hits.is_none() && c.misses.is_none() && hit_rate.is_none() {
        return String::new();
    }
    format!(
        "Response cache over the measured window: hit rate {} ({} hits, {} misses).",
        hit_rate.map(units::share).unwrap_or_else(|| "n/a".into()),
        units::int(c.hits.unwrap_or(0)),
        units::int(c.misses.unwrap_or(0))
    )
}

/// The GPU section: devices, figures and charts, or why there is no GPU.
fn gpu_view(d: &Summary, charts: Vec<Chart>) -> GpuView {
    let g = figures::gpu(d);
    GpuView {
        available: figures::has_gpu(d),
        reason: {
            let r = g.describe();
            let detail = r
                .strip_prefix(crate::measure::gpu::NO_GPU_PREFIX)
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
                memory: units::bytes(dev.memory_total_bytes),
                power_limit: dev
                    .power_limit_w
                    .map(|w| format!("{} W", units::num(w)))
                    .unwrap_or_else(|| "-".into()),
                driver: dev.driver_version.clone().unwrap_or_else(|| "-".into()),
            })
            .collect(),
        stats: vec![
            fact("Samples", units::int(g.samples.len() as u64)),
            fact(
                "Mean utilization",
                or_nr(g.mean_utilization_pct().map(units::pct)),
            ),
            fact(
                "Peak utilization",
                or_nr(g.max_utilization_pct().map(|u| units::pct(f64::from(u)))),
            ),
            fact(
                "Peak memory used",
                or_nr(g.peak_memory_used_bytes().map(units::bytes)),
            ),
            fact(
                "Peak temperature",
                or_nr(g.max_temperature_c().map(|t| format!("{t} °C"))),
            ),
            fact(
                "Mean power",
                or_nr(g.mean_power_w().map(|w| format!("{} W", units::num(w)))),
            ),
        ],
        charts,
    }
}

/// The comparison with the baseline run, with the regression gate's findings when it ran.
fn baseline_view(
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

/// A latency in whole microseconds, formatted.
fn us(x: u64) -> String {
    units::us(x as f64)
}

/// The text, unless it is absent or empty.
fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// `(role, "name: detail")` of the stack's backends; the state is added when it is not `up`.
/// A backend with neither name nor detail is left out.
fn backends(d: &Summary) -> Vec<(String, String)> {
    d.stack
        .backends
        .iter()
        .filter_map(|(role, b)| {
            let mut t = match (non_empty(&b.name), non_empty(&b.detail)) {
                (Some(n), Some(d)) => format!("{n}: {d}"),
                (Some(n), None) => n,
                (None, Some(d)) => d,
                (None, None) => return None,
            };
            if let Some(s) = non_empty(&b.state).filter(|s| s != "up") {
                t.push_str(&format!(" ({s})"));
            }
            Some((role.clone(), t))
        })
        .collect()
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
    l: &LatencyStats,
    errors: &str,
    error_class: &'static str,
) -> EndpointRow {
    EndpointRow {
        name: name.into(),
        is_total: false,
        is_sub: true,
        is_floor: false,
        requests: units::int(l.count),
        errors: if errors.is_empty() {
            "-".into()
        } else {
            errors.into()
        },
        errors_detail: String::new(),
        error_rate: "-".into(),
        error_class,
        p50: us(l.p50_us),
        p90: us(l.p90_us),
        p95: us(l.p95_us),
        p99: us(l.p99_us),
        max: us(l.max_us),
        throughput: "-".into(),
    }
}

fn endpoint_row(name: &str, e: &EndpointStats, is_total: bool) -> EndpointRow {
    let rate = figures::error_rate(e);
    let l = &e.latency;
    EndpointRow {
        name: name.into(),
        is_total,
        is_sub: false,
        is_floor: false,
        requests: units::int(e.requests),
        errors: units::int(e.errors),
        errors_detail: e
            .errors_by_status
            .iter()
            .map(|(k, n)| format!("{k}: {}", units::int(*n)))
            .collect::<Vec<_>>()
            .join(", "),
        error_rate: rate.map(units::share).unwrap_or_else(|| "-".into()),
        error_class: match rate {
            Some(r) if r >= 0.01 => "bad",
            Some(r) if r > 0.0 => "warn",
            _ => "",
        },
        p50: us(l.p50_us),
        p90: us(l.p90_us),
        p95: us(l.p95_us),
        p99: us(l.p99_us),
        max: us(l.max_us),
        throughput: units::rps(e.throughput_rps),
    }
}

/// The run's facts table: what ran, on which server, on which machine.
fn facts(d: &Summary) -> Vec<Fact> {
    let mut f = run_facts(d);
    f.extend(server_facts(d));
    f.extend(machine_facts(d));
    f
}

/// What ran, when and with which load.
fn run_facts(d: &Summary) -> Vec<Fact> {
    let sc = &d.scenario;
    let mut f = Vec::new();
    let mut scenario = sc.name.clone();
    if let Some(desc) = non_empty(&sc.description) {
        scenario = format!("{scenario}: {desc}");
    }
    if !sc.file.is_empty() {
        scenario = format!("{scenario} ({})", sc.file);
    }
    f.push(fact("Scenario", scenario));
    f.push(fact(
        "Started",
        d.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    ));
    f.push(fact(
        "Duration",
        format!(
            "{} measured, after {} of warm-up",
            units::seconds(d.measured_s),
            units::seconds(sc.warmup_s)
        ),
    ));
    f.push(fact("Load", load(d)));
    let total: u32 = sc.mix.values().sum();
    if !sc.mix.is_empty() {
        let mix = sc
            .mix
            .iter()
            .map(|(k, w)| {
                if total > 0 {
                    format!(
                        "{k} {}",
                        units::pct(100.0 * f64::from(*w) / f64::from(total))
                    )
                } else {
                    format!("{k} {w}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        f.push(fact("Workload mix", mix));
    }
    f
}

/// The server, its backends and its corpus.
fn server_facts(d: &Summary) -> Vec<Fact> {
    let mut f = Vec::new();
    let st = &d.stack;
    f.push(fact(
        "Stack",
        if st.base_url.is_empty() {
            st.kind.name().to_string()
        } else {
            format!("{} ({})", st.kind.name(), st.base_url)
        },
    ));
    if let Some(v) = non_empty(&st.server_version) {
        f.push(fact("Server version", v));
    }
    match (
        st.health_before.map(HealthStatus::name),
        st.health_after.map(HealthStatus::name),
    ) {
        (Some(b), Some(a)) => f.push(fact("Health", format!("{b} before the load, {a} after"))),
        (Some(b), None) => f.push(fact("Health", format!("{b} before the load"))),
        (None, Some(a)) => f.push(fact("Health", format!("{a} after the load"))),
        (None, None) => {}
    }
    let backends = backends(d);
    if backends.is_empty() {
        // The backend's detail names its model (e.g. "fastembed: all-MiniLM-L6-v2 ..."):
        // without backends, the model is not recorded either.
        f.push(fact("Backends", NOT_RECORDED));
        f.push(fact("Model", NOT_RECORDED));
    }
    for (role, b) in backends {
        f.push(fact(&capitalize_word(&role), b));
    }
    f.push(fact("Corpus", or_nr(corpus(d))));
    f.push(fact("Vectors", or_nr(d.corpus.vectors.map(units::int))));
    f
}

/// The machine, the revision and the harness.
fn machine_facts(d: &Summary) -> Vec<Fact> {
    let mut f = Vec::new();
    let m = &d.machine;
    let cores = match m.cpu_physical_cores {
        Some(p) if p != m.cpu_cores => format!("{} logical cores ({p} physical)", m.cpu_cores),
        _ => format!("{} cores", m.cpu_cores),
    };
    let cpu = if m.cpu_model.is_empty() {
        cores
    } else {
        format!("{}, {cores}", m.cpu_model)
    };
    f.push(fact("CPU", cpu));
    f.push(fact("Memory", units::bytes(m.memory_bytes)));
    if let Some(os) = non_empty(&m.os) {
        f.push(fact("OS", os));
    }
    f.push(fact("GPU", figures::gpu(d).describe()));
    f.push(fact(
        "Git revision",
        or_nr(non_empty(&d.git_revision).map(|r| {
            let short: String = r.chars().take(12).collect();
            match d.git_dirty {
                Some(true) => format!("{short} (with uncommitted changes)"),
                _ => short,
            }
        })),
    ));
    if !d.harness_version.is_empty() {
        f.push(fact("Harness", d.harness_version.clone()));
    }
    f
}

/// How the load was applied: `closed loop, 50 virtual users (goose 0.19)`.
fn load(d: &Summary) -> String {
    let sc = &d.scenario;
    let l = &d.load;
    let mut load = if sc.mode == Loop::Open {
        sc.rate_per_s.map(|r| {
            let mut s = format!(
                "open loop, {} {}arrivals",
                units::rps(r),
                sc.arrival
                    .map(|a| format!("{} ", a.name()))
                    .unwrap_or_default()
            );
            if let Some(m) = sc.max_in_flight {
                s.push_str(&format!(", at most {m} in flight"));
            }
            s
        })
    } else {
        sc.vus.map(|v| {
            let mut s = format!("closed loop, {v} virtual users");
            if sc.think_time_ms > 0.0 {
                s.push_str(&format!(", {} ms think time", units::num(sc.think_time_ms)));
            }
            s
        })
    }
    .unwrap_or_else(|| sc.mode.name().to_string());
    if !l.generator.is_empty() {
        load.push_str(&format!(" ({})", l.generator));
    }
    if let Some(p) = l.planned {
        load.push_str(&format!(
            "; {} arrivals planned, {} dropped",
            units::int(p),
            units::int(l.dropped.unwrap_or(0))
        ));
    }
    if let Some(g) = &l.generator_lag {
        load.push_str(&format!(
            "; the generator's own send lag P99 {}, max {}",
            us(g.p99_us),
            us(g.max_us)
        ));
    }
    load
}

/// The instrument's floor in words, for the endpoint section.
fn instrument(d: &Summary) -> Vec<String> {
    let Some(c) = &d.calibration else {
        return vec![
            "The instrument's floor was not measured in this run (--no-calibrate).".into(),
        ];
    };
    let mut out = vec![format!(
        "Instrument floor: the same load shape ({}) against a trivial endpoint the harness \
         served on loopback ({} responses, {} measured) read P50 {}, P95 {}, P99 {}: \
         latencies near these are the harness's own, not the server's.",
        c.shape,
        units::bytes(c.response_bytes),
        units::seconds(c.measured_s),
        us(c.latency.p50_us),
        us(c.latency.p95_us),
        us(c.latency.p99_us),
    )];
    if let Some(m) = c.max_rps {
        out.push(format!(
            "The highest rate the instrument sustained with these connections: {}.",
            units::rps(m)
        ));
    }
    out
}

/// The corpus and its ingestion: `bun-types@1.3.14: 332 files, 1,543 chunks, ingested in 12 s`.
fn corpus(d: &Summary) -> Option<String> {
    let c = &d.corpus;
    let mut parts = Vec::new();
    if let Some(n) = c.files {
        parts.push(format!("{} files", units::int(n)));
    }
    if let Some(n) = c.chunks {
        parts.push(format!("{} chunks", units::int(n)));
    }
    if let Some(s) = c.ingest_s.or(c.ingest_wall_s) {
        parts.push(format!("ingested in {}", units::seconds(s)));
    }
    match (c.source.is_empty(), parts.is_empty()) {
        (false, true) => Some(c.source.clone()),
        (false, false) => Some(format!("{}: {}", c.source, parts.join(", "))),
        (true, false) => Some(parts.join(", ")),
        (true, true) => None,
    }
}
