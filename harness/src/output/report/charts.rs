//! The report's charts: inline SVG drawn with plotters (`svg_backend` + `line_series` only).
//!
//! Without plotters' font features text is still drawn: the SVG backend writes `<text>` elements
//! (axis labels and titles) and leaves the glyphs to the browser; plotters only estimates label
//! sizes for its layout. Legends are HTML next to the chart ([`Chart::legend`]) so they never
//! cover a line.

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

use super::{ReportError, figures};

mod sweep;

use crate::measure::gpu::GpuSample;
use crate::summary::{EndpointStats, ProcessSample, SecondPoint, Summary};
use crate::units;
pub use sweep::capacity_sweep;

/// Chart size in SVG user units; the page scales it to its column width.
const W: u32 = 960;
const H: u32 = 320;

const INK: RGBColor = RGBColor(0x33, 0x3a, 0x44);
const GRID: RGBColor = RGBColor(0xe3, 0xe7, 0xed);
/// Series colors: blue, orange, red, green, purple, teal, brown, grey.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x6f, 0xd1),
    RGBColor(0xe8, 0x7b, 0x12),
    RGBColor(0xc9, 0x2a, 0x2a),
    RGBColor(0x2e, 0x9e, 0x4f),
    RGBColor(0x7b, 0x4f, 0xc4),
    RGBColor(0x13, 0x9c, 0xa6),
    RGBColor(0x8c, 0x5a, 0x3c),
    RGBColor(0x6b, 0x72, 0x80),
];
const BLUE_: RGBColor = PALETTE[0];
const ORANGE: RGBColor = PALETTE[1];
const RED_: RGBColor = PALETTE[2];
const GREEN_: RGBColor = PALETTE[3];
/// The baseline run's color.
const BASELINE: RGBColor = RGBColor(0x9a, 0xa3, 0xaf);
/// The x axis of charts sampled from warm-up on.
const WINDOW_X: &str = "seconds into the measured window (negative: warm-up)";
/// The furthest percentile drawn: 99.999 % (beyond it, the few slowest requests make the curve
/// a wall; the tables have the maximum).
const MAX_NINES: f64 = 5.0;

/// One entry of a chart's legend.
#[derive(Debug, Clone, Serialize)]
pub struct LegendItem {
    /// What the series is.
    pub label: String,
    /// Its color, `#rrggbb`.
    pub color: String,
    /// `line`, `dashed` or `bar`: how the swatch is drawn.
    pub mark: &'static str,
}

/// One chart of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// Anchor id, e.g. `chart-latency-time`.
    pub id: String,
    /// Heading above the chart.
    pub title: String,
    /// A sentence under the heading saying what is drawn.
    pub caption: String,
    /// The SVG markup (one `<svg>` element), or `None` when the run recorded no data for it.
    pub svg: Option<String>,
    /// The series drawn.
    pub legend: Vec<LegendItem>,
    /// Shown instead of the chart when `svg` is `None`.
    pub empty_note: String,
}

impl Chart {
    fn new(id: &str, title: &str, caption: impl Into<String>) -> Chart {
        Chart {
            id: id.into(),
            title: title.into(),
            caption: caption.into(),
            svg: None,
            legend: Vec::new(),
            empty_note: "Not recorded in this run.".into(),
        }
    }

    fn empty(self, note: impl Into<String>) -> Chart {
        Chart {
            svg: None,
            legend: Vec::new(),
            empty_note: note.into(),
            ..self
        }
    }

    fn drawn(self, svg: String, legend: Vec<LegendItem>) -> Chart {
        Chart {
            svg: Some(svg),
            legend,
            ..self
        }
    }
}

/// All charts for one run (with a baseline's curves where a chart compares).
pub struct ChartSet {
    /// Latency and throughput.
    pub load: Vec<Chart>,
    /// Stage breakdown.
    pub stages: Vec<Chart>,
    /// GPU utilization and memory (empty when the run saw no GPU).
    pub gpu: Vec<Chart>,
    /// Server process CPU and memory.
    pub server: Vec<Chart>,
}

/// Draw every chart of a report.
pub fn build(data: &Summary, baseline: Option<&Summary>) -> Result<ChartSet, ReportError> {
    let g = figures::gpu(data);
    let gpu = if g.available && !g.samples.is_empty() {
        vec![gpu_utilization(data)?, gpu_memory(data)?]
    } else {
        Vec::new()
    };
    Ok(ChartSet {
        load: vec![
            latency_over_time(data)?,
            throughput_over_time(data)?,
            latency_distribution(data, baseline)?,
        ],
        stages: vec![stage_breakdown(data, baseline)?],
        gpu,
        server: vec![server_cpu(data)?, server_rss(data)?],
    })
}

fn chart_err<E: std::fmt::Debug>(e: E) -> ReportError {
    ReportError::Chart(format!("{e:?}"))
}

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// A unit for latencies whose largest value is `max_us`: (divisor, label).
fn latency_unit(max_us: f64) -> (f64, &'static str) {
    if max_us >= 2_000_000.0 {
        (1_000_000.0, "s")
    } else if max_us >= 2_000.0 {
        (1_000.0, "ms")
    } else {
        (1.0, "µs")
    }
}

/// A round axis maximum a little above `x`.
fn nice_max(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(x.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * mag >= x * 1.05 {
            return m * mag;
        }
    }
    10.0 * mag
}

/// A log axis from the decade at or below `min` to the decade above `max`, so that at least two
/// ticks (powers of ten) are labelled.
fn decades(min: f64, max: f64) -> (f64, f64) {
    let lo = 10f64.powf((min.max(1e-3) * 0.95).log10().floor());
    let hi = 10f64.powf((max.max(lo) * 1.05).log10().ceil());
    (lo, hi.max(lo * 10.0))
}

/// A drawing area on a string, white, ready for a chart.
fn with_canvas(
    f: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), ReportError>,
) -> Result<String, ReportError> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        f(&root)?;
        root.present().map_err(chart_err)?;
    }
    Ok(buf)
}

fn label_style() -> TextStyle<'static> {
    ("sans-serif", 15).into_font().color(&INK)
}

fn builder<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut b = ChartBuilder::on(root);
    b.margin_top(12)
        .margin_right(24)
        .margin_left(8)
        .margin_bottom(4)
        .x_label_area_size(44)
        .y_label_area_size(80);
    b
}

/// The mesh every chart shares: light grid, dark axes, the house label font.
fn house_mesh<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.light_line_style(GRID)
        .bold_line_style(GRID)
        .axis_style(INK)
        .label_style(label_style())
        .axis_desc_style(label_style())
}

/// One line of a line chart.
struct Line {
    name: String,
    pts: Vec<(f64, f64)>,
    color: RGBColor,
    width: u32,
    dashed: bool,
}

impl Line {
    fn new(name: impl Into<String>, pts: Vec<(f64, f64)>, color: RGBColor) -> Line {
        Line {
            name: name.into(),
            pts,
            color,
            width: 2,
            dashed: false,
        }
    }

    /// A thin dashed level at `y` across `(x0, x1)`: a ceiling such as the installed memory.
    fn level(name: impl Into<String>, (x0, x1): (f64, f64), y: f64) -> Line {
        Line {
            width: 1,
            dashed: true,
            ..Line::new(name, vec![(x0, y), (x1, y)], BASELINE)
        }
    }
}

fn legend_of(lines: &[Line]) -> Vec<LegendItem> {
    lines
        .iter()
        .filter(|l| !l.name.is_empty())
        .map(|l| LegendItem {
            label: l.name.clone(),
            color: hex(l.color),
            mark: if l.dashed { "dashed" } else { "line" },
        })
        .collect()
}

/// A line chart: linear x; linear y, or a logarithmic latency axis (values in microseconds,
/// ticks labelled with their unit).
struct LinePlot<'a> {
    x_desc: &'a str,
    x_range: (f64, f64),
    x_labels: usize,
    x_fmt: &'a dyn Fn(&f64) -> String,
    y_desc: String,
    y_range: (f64, f64),
    y_log: bool,
    y_fmt: &'a dyn Fn(&f64) -> String,
    lines: Vec<Line>,
}

/// A chart over time: x from the window's start (or warm-up's) to `x1`, ten x labels; y
/// linear from 0 to `y_max`.
fn time_plot<'a>(
    x_desc: &'a str,
    (x0, x1): (f64, f64),
    y_desc: impl Into<String>,
    y_max: f64,
    lines: Vec<Line>,
) -> LinePlot<'a> {
    LinePlot {
        x_desc,
        x_range: (x0.min(0.0), x1),
        x_labels: 10,
        x_fmt: &plain,
        y_desc: y_desc.into(),
        y_range: (0.0, y_max),
        y_log: false,
        y_fmt: &plain,
        lines,
    }
}

fn draw_lines(plot: LinePlot<'_>) -> Result<(String, Vec<LegendItem>), ReportError> {
    let svg = with_canvas(|root| {
        macro_rules! draw {
            ($chart:ident) => {{
                house_mesh(&mut $chart.configure_mesh())
                    .x_desc(plot.x_desc)
                    .y_desc(plot.y_desc.as_str())
                    .x_labels(plot.x_labels)
                    .y_labels(6)
                    .x_label_formatter(plot.x_fmt)
                    .y_label_formatter(plot.y_fmt)
                    .draw()
                    .map_err(chart_err)?;
                for l in &plot.lines {
                    let style = l.color.stroke_width(l.width);
                    if l.dashed {
                        $chart
                            .draw_series(DashedLineSeries::new(l.pts.iter().copied(), 6, 5, style))
                            .map_err(chart_err)?;
                    } else {
                        $chart
                            .draw_series(LineSeries::new(l.pts.iter().copied(), style))
                            .map_err(chart_err)?;
                    }
                }
            }};
        }
        let (x0, x1) = plot.x_range;
        let x = x0..x1.max(x0 + 1.0);
        let (y0, y1) = plot.y_range;
        if plot.y_log {
            let mut chart = builder(root)
                .build_cartesian_2d(x, (y0..y1).log_scale())
                .map_err(chart_err)?;
            draw!(chart);
        } else {
            let mut chart = builder(root)
                .build_cartesian_2d(x, y0..y1)
                .map_err(chart_err)?;
            draw!(chart);
        }
        Ok(())
    })?;
    Ok((svg, legend_of(&plot.lines)))
}

fn plain(x: &f64) -> String {
    units::num(*x)
}

fn latency_tick(y: &f64) -> String {
    units::us(*y)
}

/// (min, max) of an iterator of numbers; `None` when empty.
fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// The per-second points of whole seconds: a last second cut short by the end of the measured
/// window would show as a drop in throughput that did not happen.
fn whole_seconds(d: &Summary) -> Vec<&SecondPoint> {
    d.series
        .iter()
        .filter(|p| f64::from(p.t) + 1.0 <= d.measured_s + 0.05)
        .collect()
}

/// Latency percentiles (P50/P95/P99) per second.
pub fn latency_over_time(d: &Summary) -> Result<Chart, ReportError> {
    let c = Chart::new(
        "chart-latency-time",
        "Latency percentiles over time",
        "P50, P95 and P99 of the requests of each second of the measured window.",
    );
    let pts = whole_seconds(d);
    let Some((min, max)) = span(
        pts.iter()
            .flat_map(|p| [p.p50_us, p.p95_us, p.p99_us])
            .filter(|v| *v > 0)
            .map(|v| v as f64),
    ) else {
        return Ok(c.empty("No per-second latency series was recorded in this run."));
    };
    // Percentiles far apart (P50 at 200 us, P99 at 5 ms) need a log axis to be seen at all.
    let y_log = max / min > 20.0;
    let (div, unit) = if y_log { (1.0, "") } else { latency_unit(max) };
    let series = |name: &str, color, get: fn(&SecondPoint) -> u64| {
        Line::new(
            name,
            pts.iter()
                .filter(|p| get(p) > 0)
                .map(|p| (f64::from(p.t), get(p) as f64 / div))
                .collect(),
            color,
        )
    };
    let lines = vec![
        series("P50", BLUE_, |p| p.p50_us),
        series("P95", ORANGE, |p| p.p95_us),
        series("P99", RED_, |p| p.p99_us),
    ];
    let x_range = span(pts.iter().map(|p| f64::from(p.t))).unwrap_or((0.0, 1.0));
    let linear = time_plot(
        "seconds into the measured window",
        x_range,
        format!("latency ({unit})"),
        nice_max(max / div),
        lines,
    );
    let (svg, legend) = draw_lines(if y_log {
        LinePlot {
            y_desc: "latency (log scale)".into(),
            y_range: decades(min, max),
            y_log,
            y_fmt: &latency_tick,
            ..linear
        }
    } else {
        linear
    })?;
    Ok(c.drawn(svg, legend))
}

/// Completed requests and errors per second, per endpoint when the series has them.
pub fn throughput_over_time(d: &Summary) -> Result<Chart, ReportError> {
    let c = Chart::new(
        "chart-throughput-time",
        "Throughput over time",
        "Requests per second over the measured window, and the failed ones among them.",
    );
    let pts = whole_seconds(d);
    if pts.is_empty() {
        return Ok(c.empty("No per-second series was recorded in this run."));
    }
    let mut lines = vec![
        Line::new(
            "all requests/s",
            pts.iter()
                .map(|p| (f64::from(p.t), p.requests as f64))
                .collect(),
            BLUE_,
        ),
        Line::new(
            "errors/s",
            pts.iter()
                .map(|p| (f64::from(p.t), p.errors as f64))
                .collect(),
            RED_,
        ),
    ];
    let mut names: Vec<&str> = Vec::new();
    for p in &pts {
        for n in p.by_endpoint.keys() {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
    }
    if names.len() > 1 {
        for (i, name) in names.iter().enumerate() {
            let per_endpoint = pts
                .iter()
                .map(|p| {
                    let n = p.by_endpoint.get(*name).map_or(0.0, |n| *n as f64);
                    (f64::from(p.t), n)
                })
                .collect();
            let mut l = Line::new(
                format!("{name}/s"),
                per_endpoint,
                PALETTE[(i + 3) % PALETTE.len()],
            );
            l.width = 1;
            lines.push(l);
        }
    }
    let max = pts.iter().map(|p| p.requests as f64).fold(0.0, f64::max);
    let x_range = span(pts.iter().map(|p| f64::from(p.t))).unwrap_or((0.0, 1.0));
    let (svg, legend) = draw_lines(time_plot(
        "seconds into the measured window",
        x_range,
        "requests per second",
        nice_max(max),
        lines,
    ))?;
    Ok(c.drawn(svg, legend))
}

/// x position of a percentile on the "nines" axis: 0 -> 0, 90 -> 1, 99 -> 2, 99.9 -> 3.
fn nines(p: f64) -> f64 {
    let rest = (1.0 - p / 100.0).max(1e-9);
    -rest.log10()
}

fn nines_label(x: &f64) -> String {
    let k = x.round();
    if (x - k).abs() < 1e-6 && k >= 0.0 {
        // 0 -> 0 %, 1 -> 90 %, 2 -> 99 %, 3 -> 99.9 %, 5 -> 99.999 %
        return match k as usize {
            0 => "0 %".into(),
            1 => "90 %".into(),
            n => format!("99{}{} %", if n > 2 { "." } else { "" }, "9".repeat(n - 2)),
        };
    }
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    format!("{} %", units::num((p * 1000.0).round() / 1000.0))
}

/// The percentile curve of each endpoint (HDR-histogram style), with the baseline's overall
/// curve when comparing.
pub fn latency_distribution(d: &Summary, baseline: Option<&Summary>) -> Result<Chart, ReportError> {
    let c = Chart::new(
        "chart-latency-distribution",
        "Latency distribution",
        "Latency at each percentile, per endpoint; the x axis spreads the tail (90 %, 99 %, 99.9 %, ...), the latency axis is logarithmic.",
    );
    let curve = |name: String, e: &EndpointStats, color| {
        Line::new(
            name,
            figures::percent_curve(e)
                .iter()
                .map(|(p, v)| (nines(*p), *v))
                .filter(|(x, v)| *x <= MAX_NINES + 1e-9 && *v > 0.0)
                .collect(),
            color,
        )
    };
    let mut lines: Vec<Line> = d
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, (name, e))| curve(name.clone(), e, PALETTE[i % PALETTE.len()]))
        .filter(|l| l.pts.len() >= 2)
        .collect();
    if lines.is_empty() {
        lines.push(curve("all requests".into(), &d.overall, BLUE_))
    }
    lines.retain(|l| l.pts.len() >= 2);
    if lines.is_empty() {
        return Ok(c.empty("No latency distribution was recorded in this run."));
    }
    let mut caption = c.caption.clone();
    if let Some(b) = baseline {
        let mut l = curve(
            format!("baseline {}: all requests", b.scenario.name),
            &b.overall,
            BASELINE,
        );
        if l.pts.len() >= 2 {
            l.dashed = true;
            lines.push(l);
            caption.push_str(" The dashed grey curve is the baseline run, all requests together.");
        }
    }
    let (min, max) =
        span(lines.iter().flat_map(|l| l.pts.iter().map(|p| p.1))).unwrap_or((1.0, 10.0));
    let x_max = lines
        .iter()
        .flat_map(|l| l.pts.iter().map(|p| p.0))
        .fold(1.0, f64::max)
        .ceil()
        .min(MAX_NINES);
    let (svg, legend) = draw_lines(LinePlot {
        x_desc: "percentile",
        x_range: (0.0, x_max),
        x_labels: x_max as usize + 1,
        x_fmt: &nines_label,
        y_desc: "latency (log scale)".into(),
        y_range: decades(min.max(0.5), max),
        y_log: true,
        y_fmt: &latency_tick,
        lines,
    })?;
    Ok(Chart {
        caption,
        ..c.drawn(svg, legend)
    })
}

/// Grouped bars: P50 and P95 of each Server-Timing stage (the baseline's P50 when comparing).
pub fn stage_breakdown(d: &Summary, baseline: Option<&Summary>) -> Result<Chart, ReportError> {
    let c = Chart::new(
        "chart-stages",
        "Time per stage",
        "Time spent in each server stage, from the Server-Timing header of each response: P50 and P95 per stage, logarithmic scale.",
    );
    let Some(bars) = stage_bars(d, baseline) else {
        return Ok(c.empty("No Server-Timing stages were recorded in this run."));
    };
    let svg = draw_bars(&bars, "time in stage (log scale)")?;
    Ok(c.drawn(svg, bars.legend()))
}

/// A grouped bar chart on a logarithmic latency axis: one group of bars a name, one bar a kind.
struct Bars {
    /// Each bar of a group: its label and color.
    kinds: Vec<(String, RGBColor)>,
    /// Each group's name and its value per kind (`None`: no bar).
    groups: Vec<(String, Vec<Option<f64>>)>,
}

impl Bars {
    fn legend(&self) -> Vec<LegendItem> {
        self.kinds
            .iter()
            .map(|(label, color)| LegendItem {
                label: label.clone(),
                color: hex(*color),
                mark: "bar",
            })
            .collect()
    }
}

/// The stages that took time, each with its P50 and P95 and the baseline's P50 (when the
/// baseline has stages); `None` when the run recorded none.
fn stage_bars(d: &Summary, baseline: Option<&Summary>) -> Option<Bars> {
    let stages: Vec<_> = d.stages.iter().filter(|(_, s)| s.p50_us > 0).collect();
    if stages.is_empty() {
        return None;
    }
    let mut kinds: Vec<(String, RGBColor)> = vec![("P50".into(), BLUE_), ("P95".into(), ORANGE)];
    let base = baseline.filter(|b| !b.stages.is_empty());
    if let Some(b) = base {
        kinds.push((format!("baseline {} P50", b.scenario.name), BASELINE));
    }
    let groups = stages
        .iter()
        .map(|(name, s)| {
            let mut v = vec![Some(s.p50_us as f64), Some(s.p95_us as f64)];
            if let Some(b) = base {
                let p50 = b.stages.get(*name).map(|b| b.p50_us).filter(|v| *v > 0);
                v.push(p50.map(|v| v as f64));
            }
            ((*name).clone(), v)
        })
        .collect();
    Some(Bars { kinds, groups })
}

fn draw_bars(bars: &Bars, y_desc: &str) -> Result<String, ReportError> {
    let Bars { kinds, groups } = bars;
    let (min, max) = span(
        groups
            .iter()
            .flat_map(|g| g.1.iter().flatten().copied())
            .filter(|v| *v > 0.0),
    )
    .unwrap_or((1.0, 10.0));
    let (y_lo, y_hi) = decades(min, max);
    let per = kinds.len() as u32;
    let slots = per + 1; // one empty slot between groups
    let n = groups.len() as u32 * slots;
    let x_label = |v: &SegmentValue<u32>| match v {
        // Name each group under its middle bar.
        SegmentValue::CenterOf(k) | SegmentValue::Exact(k) if k % slots == per / 2 => groups
            .get((k / slots) as usize)
            .map(|g| g.0.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    with_canvas(|root| {
        let mut chart = builder(root)
            .build_cartesian_2d((0u32..n).into_segmented(), (y_lo..y_hi).log_scale())
            .map_err(chart_err)?;
        house_mesh(&mut chart.configure_mesh())
            .disable_x_mesh()
            .y_desc(y_desc)
            .x_labels(n as usize)
            .x_label_formatter(&x_label)
            .y_label_formatter(&latency_tick)
            .draw()
            .map_err(chart_err)?;
        for (kind_i, (_, color)) in kinds.iter().enumerate() {
            let bars = groups.iter().enumerate().filter_map(|(gi, g)| {
                let v = g.1.get(kind_i).copied().flatten()?;
                let x = gi as u32 * slots + kind_i as u32;
                let mut r = Rectangle::new(
                    [
                        (SegmentValue::Exact(x), y_lo),
                        (SegmentValue::Exact(x + 1), v),
                    ],
                    color.filled(),
                );
                r.set_margin(0, 0, 2, 2);
                Some(r)
            });
            chart.draw_series(bars).map_err(chart_err)?;
        }
        Ok(())
    })
}

/// A GPU sample's x: seconds into the measured window when the summary says when that window
/// started (and the sample's clock agrees), else seconds since the sampler started.
fn gpu_x(d: &Summary, s: &GpuSample) -> f64 {
    if gpu_aligned(d) {
        (s.unix_ms as f64 - measured_from_ms(d)) / 1000.0
    } else {
        s.t_s
    }
}

/// When the measured window started, milliseconds since the Unix epoch.
fn measured_from_ms(d: &Summary) -> f64 {
    d.measured_from.timestamp_millis() as f64
}

/// Whether the GPU samples' wall-clock times fall within an hour of the measured window.
fn gpu_aligned(d: &Summary) -> bool {
    let m = measured_from_ms(d);
    let end = m + d.measured_s * 1000.0;
    let hour = 3_600_000.0;
    figures::gpu(d).samples.iter().all(|s| {
        let t = s.unix_ms as f64;
        s.unix_ms > 0 && t > m - hour && t < end + hour
    })
}

fn gpu_x_desc(d: &Summary) -> &'static str {
    if gpu_aligned(d) {
        WINDOW_X
    } else {
        "seconds since GPU sampling started"
    }
}

/// The GPU samples' first and last x.
fn gpu_x_range(d: &Summary) -> (f64, f64) {
    span(figures::gpu(d).samples.iter().map(|s| gpu_x(d, s))).unwrap_or((0.0, 1.0))
}

fn gpu_lines(d: &Summary, get: fn(&GpuSample) -> Option<f64>) -> Vec<Line> {
    let g = figures::gpu(d);
    g.devices
        .iter()
        .enumerate()
        .map(|(i, dev)| {
            Line::new(
                format!("GPU {}: {}", dev.index, dev.name),
                g.device_samples(dev.index)
                    .filter_map(|s| get(s).map(|v| (gpu_x(d, s), v)))
                    .collect(),
                PALETTE[i % PALETTE.len()],
            )
        })
        .filter(|l| !l.pts.is_empty())
        .collect()
}

/// GPU utilization per device over time.
pub fn gpu_utilization(d: &Summary) -> Result<Chart, ReportError> {
    let c = Chart::new(
        "chart-gpu-util",
        "GPU utilization over time",
        "Share of each second during which a kernel ran, per GPU (NVML, sampled once a second during warm-up and load).",
    );
    let lines = gpu_lines(d, |s| s.utilization_pct.map(f64::from));
    if lines.is_empty() {
        return Ok(c.empty("NVML gave no utilization readings."));
    }
    let (svg, legend) = draw_lines(time_plot(
        gpu_x_desc(d),
        gpu_x_range(d),
        "utilization (%)",
        100.0,
        lines,
    ))?;
    Ok(c.drawn(svg, legend))
}

/// GPU memory used per device over time, with each device's installed memory.
pub fn gpu_memory(d: &Summary) -> Result<Chart, ReportError> {
    let c = Chart::new(
        "chart-gpu-memory",
        "GPU memory over time",
        "Device memory allocated per GPU (NVML); the dashed line is the installed memory.",
    );
    const GIB: f64 = (1u64 << 30) as f64;
    let mut lines = gpu_lines(d, |s| s.memory_used_bytes.map(|b| b as f64 / GIB));
    if lines.is_empty() {
        return Ok(c.empty("NVML gave no memory readings."));
    }
    let (x0, x1) = gpu_x_range(d);
    let x0 = x0.min(0.0);
    let used_max = lines
        .iter()
        .flat_map(|l| l.pts.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let total = figures::gpu(d)
        .devices
        .iter()
        .map(|dev| dev.memory_total_bytes as f64 / GIB)
        .fold(0.0, f64::max);
    if total > 0.0 {
        lines.push(Line::level("installed memory", (x0, x1), total));
    }
    let (svg, legend) = draw_lines(time_plot(
        gpu_x_desc(d),
        (x0, x1),
        "memory (GiB)",
        nice_max(total.max(used_max)),
        lines,
    ))?;
    Ok(c.drawn(svg, legend))
}

/// The server process's samples; none for an external stack.
fn process_samples(d: &Summary) -> &[ProcessSample] {
    d.server_process
        .as_ref()
        .map_or(&[], |p| p.samples.as_slice())
}

/// Server process CPU over time.
pub fn server_cpu(d: &Summary) -> Result<Chart, ReportError> {
    let c = Chart::new(
        "chart-server-cpu",
        "Server CPU over time",
        "CPU used by the server process, in percent of one core (200 % = two cores busy).",
    );
    let pts: Vec<(f64, f64)> = process_samples(d)
        .iter()
        .map(|s| (s.t, s.cpu_pct))
        .collect();
    let Some((x0, x1)) = span(pts.iter().map(|p| p.0)) else {
        return Ok(c.empty(
            "No server CPU samples were recorded in this run (an external stack is not sampled).",
        ));
    };
    let max = pts.iter().map(|p| p.1).fold(0.0, f64::max);
    let mut lines = vec![Line::new("server CPU", pts, BLUE_)];
    let cores = d.machine.cpu_cores;
    if (cores as f64) * 100.0 <= max * 1.6 {
        // The machine's ceiling, when the process came near it.
        let top = cores as f64 * 100.0;
        lines.push(Line::level(format!("all {cores} cores"), (x0, x1), top));
    }
    let ceiling = lines
        .iter()
        .flat_map(|l| l.pts.iter().map(|p| p.1))
        .fold(100.0, f64::max);
    let (svg, legend) = draw_lines(time_plot(
        WINDOW_X,
        (x0, x1),
        "CPU (% of one core)",
        nice_max(ceiling),
        lines,
    ))?;
    Ok(c.drawn(svg, legend))
}

/// Server process resident memory over time.
pub fn server_rss(d: &Summary) -> Result<Chart, ReportError> {
    let c = Chart::new(
        "chart-server-rss",
        "Server memory (RSS) over time",
        "Resident set size of the server process.",
    );
    const MIB: f64 = (1u64 << 20) as f64;
    let pts: Vec<(f64, f64)> = process_samples(d)
        .iter()
        .map(|s| (s.t, s.rss_bytes as f64 / MIB))
        .collect();
    let Some((x0, x1)) = span(pts.iter().map(|p| p.0)) else {
        return Ok(c.empty(
            "No server memory samples were recorded in this run (an external stack is not sampled).",
        ));
    };
    let max = pts.iter().map(|p| p.1).fold(0.0, f64::max);
    let (svg, legend) = draw_lines(time_plot(
        WINDOW_X,
        (x0, x1),
        "RSS (MiB)",
        nice_max(max),
        vec![Line::new("server RSS", pts, GREEN_)],
    ))?;
    Ok(c.drawn(svg, legend))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert_eq!(nines_label(&0.0), "0 %");
        assert_eq!(nines_label(&1.0), "90 %");
        assert_eq!(nines_label(&2.0), "99 %");
        assert_eq!(nines_label(&3.0), "99.9 %");
        assert_eq!(nines_label(&5.0), "99.999 %");
    }

    #[test]
    fn log_axes_span_whole_decades() {
        assert_eq!(decades(170.0, 6000.0), (100.0, 10_000.0));
        assert_eq!(decades(100.0, 1000.0), (10.0, 10_000.0));
        assert_eq!(decades(5.0, 5.0), (1.0, 10.0));
    }

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(95.0), 100.0);
        assert_eq!(nice_max(101.0), 120.0);
        assert_eq!(nice_max(0.0), 1.0);
    }

    #[test]
    fn a_chart_is_one_svg_element_with_text() {
        let mut d: Summary =
            serde_json::from_str(include_str!("../../../tests/fixtures/summary-phase2.json"))
                .expect("the recorded phase2 summary parses");
        d.measured_s = 30.0;
        d.series = (0..30)
            .map(|t| SecondPoint {
                t,
                requests: 100,
                p50_us: 200,
                p95_us: 900,
                p99_us: 5000,
                ..SecondPoint::default()
            })
            .collect();
        d.server_process = None;
        let c = latency_over_time(&d).unwrap();
        let svg = c.svg.unwrap();
        assert!(svg.trim_start().starts_with("<svg"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.contains("<text"), "axis labels are drawn as SVG text");
        assert!(svg.contains("1 ms"), "log ticks carry their unit");
        assert_eq!(c.legend.len(), 3);
        assert!(throughput_over_time(&d).unwrap().svg.is_some());
        assert!(server_cpu(&d).unwrap().svg.is_none());
    }
}
