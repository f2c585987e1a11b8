//! What the harness prints: step lines and spinners while the stack comes up, a live line
//! during warm-up and load (elapsed, req/s, p95 so far, errors), and a k6-like table at the
//! end. Progress goes to stderr (and degrades to a line every 10 s when stderr is not a
//! terminal); the final table goes to stdout.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::measure::recorder::Recorder;
use crate::scenario::{Arrival, Loop};
use crate::summary::{EndpointStats, HealthStatus, Summary};
use crate::units::{self, format_duration};

/// Prints one step line to stderr.
pub fn step(msg: impl AsRef<str>) {
    eprintln!("harness: {}", msg.as_ref());
}

/// A spinner on stderr for a step that takes a while (or a plain line when not a terminal).
pub fn spinner(msg: impl Into<String>) -> ProgressBar {
    let msg = msg.into();
    if !std::io::stderr().is_terminal() {
        step(&msg);
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(msg);
    bar.set_style(
        ProgressStyle::with_template("{spinner} harness: {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The live line during warm-up and load.
pub struct LiveProgress {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl LiveProgress {
    /// Starts updating from `recorder` four times a second; `t0` is when warm-up began.
    pub fn start(
        recorder: Arc<Recorder>,
        t0: Instant,
        warmup: Duration,
        duration: Duration,
    ) -> LiveProgress {
        let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
        let tty = std::io::stderr().is_terminal();
        let task = tokio::spawn(async move {
            let bar = if tty {
                let b = ProgressBar::new_spinner();
                b.set_style(
                    ProgressStyle::with_template("{spinner} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b
            } else {
                ProgressBar::hidden()
            };
            let mut last = (Instant::now(), 0u64, false);
            let mut rate = 0.0;
            let mut last_print = Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stop_rx.changed() => break,
                }
                let live = recorder.live();
                let now = Instant::now();
                if live.measuring != last.2 {
                    last = (now, 0, live.measuring);
                }
                let dt = now.duration_since(last.0).as_secs_f64();
                if dt >= 1.0 {
                    rate = live.requests.saturating_sub(last.1) as f64 / dt;
                    last = (now, live.requests, live.measuring);
                }
                let elapsed = now.duration_since(t0);
                let (phase, done, total) = if live.measuring {
                    ("load", elapsed.saturating_sub(warmup), duration)
                } else {
                    ("warm-up", elapsed, warmup)
                };
                let msg = format!(
                    "{phase} {}/{}  {:.0} req/s  p95 {}  {} requests  {} errors",
                    format_duration(Duration::from_secs(done.as_secs())),
                    format_duration(total),
                    rate,
                    units::us(live.p95_us as f64),
                    live.requests,
                    live.errors
                );
                if tty {
                    bar.set_message(msg);
                    bar.tick();
                } else if now.duration_since(last_print) >= Duration::from_secs(10) {
                    step(&msg);
                    last_print = now;
                }
            }
            bar.finish_and_clear();
        });
        LiveProgress { stop, task }
    }

    /// Stops the line and clears it.
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn endpoint_row(name: &str, e: &EndpointStats) -> String {
    let l = &e.latency;
    format!(
        "  {name:<10} {:>9} {:>7} {:>9.1} {:>9} {:>9} {:>9} {:>9} {:>9}",
        e.requests,
        e.errors,
        e.throughput_rps,
        units::us(l.p50_us as f64),
        units::us(l.p90_us as f64),
        units::us(l.p95_us as f64),
        units::us(l.p99_us as f64),
        units::us(l.max_us as f64),
    )
}

fn dotted(label: &str) -> String {
    let width: usize = 22;
    let dots = width.saturating_sub(label.len() + 1);
    format!("  {label} {}:", ".".repeat(dots))
}

/// The end-of-run table, k6 style.
pub fn render_table(s: &Summary, run_dir: &std::path::Path) -> String {
    let mut out = vec![String::new()];
    run_lines(s, &mut out);
    out.push(String::new());
    endpoint_table(s, &mut out);
    out.push(String::new());
    fact_lines(s, &mut out);
    verdict_lines(s, &mut out);
    out.push(format!("  results: {}", run_dir.display()));
    out.push(String::new());
    out.join("\n")
}

/// What ran where: scenario, server, corpus, machine.
fn run_lines(s: &Summary, out: &mut Vec<String>) {
    let sc = &s.scenario;
    let shape = match sc.mode {
        Loop::Closed => format!("{} VUs", sc.vus.unwrap_or(0)),
        Loop::Open => format!(
            "{:.0} req/s {} (max {} in flight)",
            sc.rate_per_s.unwrap_or(0.0),
            sc.arrival.unwrap_or(Arrival::Constant).name(),
            sc.max_in_flight.unwrap_or(0)
        ),
    };
    out.push(format!(
        "{} {} on {} stack, {} loop, {} for {} after {} warm-up",
        dotted("scenario"),
        sc.name,
        s.stack.kind.name(),
        sc.mode.name(),
        shape,
        format_duration(Duration::from_secs_f64(sc.duration_s)),
        format_duration(Duration::from_secs_f64(sc.warmup_s)),
    ));
    let backends: Vec<String> = s
        .stack
        .backends
        .iter()
        .map(|(role, b)| {
            format!(
                "{role}={}{}",
                b.name.as_deref().unwrap_or("?"),
                b.state
                    .as_deref()
                    .map(|st| format!(" ({st})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    out.push(format!(
        "{} {} health {}{}",
        dotted("server"),
        s.stack.base_url,
        s.stack.health_before.map_or("?", HealthStatus::name),
        if backends.is_empty() {
            String::new()
        } else {
            format!(", {}", backends.join(", "))
        }
    ));
    let c = &s.corpus;
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "?".into());
    out.push(format!(
        "{} {}: {} files, {} chunks, {} vectors{}",
        dotted("corpus"),
        c.source,
        opt(c.files),
        opt(c.chunks),
        opt(c.vectors),
        c.ingest_wall_s
            .map(|t| format!(", ingested in {t:.1}s"))
            .unwrap_or_default()
    ));
    out.push(format!(
        "{} {}, {} cores, {}",
        dotted("machine"),
        s.machine.cpu_model,
        s.machine.cpu_cores,
        units::bytes(s.machine.memory_bytes)
    ));
}

/// Requests, errors, rate and latency per endpoint (cached and uncached apart), then all.
fn endpoint_table(s: &Summary, out: &mut Vec<String>) {
    out.push(format!(
        "  {:<10} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "endpoint", "requests", "errors", "req/s", "p50", "p90", "p95", "p99", "max"
    ));
    for (name, e) in &s.endpoints {
        out.push(endpoint_row(name, e));
        for (label, stats) in [("  cached", &e.cached), ("  uncached", &e.uncached)] {
            if let Some(l) = stats
                && l.count > 0
            {
                out.push(format!(
                    "  {label:<10} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                    l.count,
                    "",
                    "",
                    units::us(l.p50_us as f64),
                    units::us(l.p90_us as f64),
                    units::us(l.p95_us as f64),
                    units::us(l.p99_us as f64),
                    units::us(l.max_us as f64),
                ));
            }
        }
    }
    out.push(endpoint_row("all", &s.overall));
    if !s.overall.errors_by_status.is_empty() {
        let errs: Vec<String> = s
            .overall
            .errors_by_status
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        out.push(format!("  errors by status: {}", errs.join(", ")));
    }
}

/// The rest of what was measured: bad tokens, cache, stages, server process, GPU, the open
/// loop's schedule, the instrument's floor and the notes.
fn fact_lines(s: &Summary, out: &mut Vec<String>) {
    if s.bad_token.requests > 0 {
        let unexpected: u64 = s.bad_token.unexpected.values().sum();
        out.push(format!(
            "{} {} sent, {} rejected with 401, {} unexpected",
            dotted("bad tokens"),
            s.bad_token.requests,
            s.bad_token.rejected,
            unexpected
        ));
    }
    out.push(format!("{} {}", dotted("cache hit rate"), cache_line(s)));
    if !s.stages.is_empty() {
        let stages: Vec<String> = s
            .stages
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k} p50 {} p95 {}",
                    units::us(v.p50_us as f64),
                    units::us(v.p95_us as f64)
                )
            })
            .collect();
        out.push(format!(
            "{} {}",
            dotted("server stages"),
            stages.join(" | ")
        ));
    }
    if let Some(p) = &s.server_process {
        out.push(format!(
            "{} CPU mean {:.0}% max {:.0}% (of one core), peak RSS {}",
            dotted("server process"),
            p.cpu_mean_pct,
            p.cpu_max_pct,
            units::bytes(p.peak_rss_bytes)
        ));
    }
    if let Some(g) = &s.gpu {
        out.push(format!("{} {}", dotted("gpu"), g.describe()));
    }
    if let (Some(planned), Some(dropped)) = (s.load.planned, s.load.dropped) {
        out.push(format!(
            "{} {planned} arrivals planned, {dropped} dropped{}",
            dotted("open loop"),
            s.load
                .schedule_lag
                .as_ref()
                .map(|l| format!(
                    ", send lag p99 {} max {}",
                    units::us(l.p99_us as f64),
                    units::us(l.max_us as f64)
                ))
                .unwrap_or_default()
                + &s.load
                    .generator_lag
                    .as_ref()
                    .map(|l| format!(" (the generator's own p99 {})", units::us(l.p99_us as f64)))
                    .unwrap_or_default()
        ));
    }
    if let Some(c) = &s.calibration {
        out.push(format!(
            "{} p50 {} p95 {} p99 {} against a trivial endpoint ({}, {} B), sustains {}",
            dotted("instrument floor"),
            units::us(c.latency.p50_us as f64),
            units::us(c.latency.p95_us as f64),
            units::us(c.latency.p99_us as f64),
            c.shape,
            c.response_bytes,
            c.max_rps
                .map(|r| format!("{r:.0} req/s"))
                .unwrap_or_else(|| "n/a".into())
        ));
    }
    for note in &s.notes {
        out.push(format!("  note: {note}"));
    }
}

/// The cache hit rate over the window, from `/metrics`, else what `Server-Timing` saw.
fn cache_line(s: &Summary) -> String {
    match s.cache.hit_rate {
        Some(r) => {
            let routes: Vec<String> = s
                .cache
                .by_route
                .iter()
                .filter_map(|(k, v)| v.hit_rate.map(|r| format!("{k} {:.1}%", r * 100.0)))
                .collect();
            format!(
                "{:.1}% ({} hits, {} misses{}; server /metrics)",
                r * 100.0,
                s.cache.hits.unwrap_or(0),
                s.cache.misses.unwrap_or(0),
                if routes.is_empty() {
                    String::new()
                } else {
                    format!("; {}", routes.join(", "))
                }
            )
        }
        None => format!(
            "n/a ({}; Server-Timing saw {} hits, {} misses)",
            s.cache.source, s.cache.responses_hit, s.cache.responses_miss
        ),
    }
}

/// The thresholds, the instrument's warnings and the verdict.
fn verdict_lines(s: &Summary, out: &mut Vec<String>) {
    if !s.thresholds.is_empty() {
        out.push(String::new());
        out.push("  thresholds".into());
        for t in &s.thresholds {
            let mark = if t.passed { "✓" } else { "✗" };
            let dots = 34usize.saturating_sub(t.rule.chars().count());
            out.push(format!(
                "  {mark} {} {} {}",
                t.rule,
                ".".repeat(dots.max(2)),
                t.observed_display
            ));
            if let Some(m) = &t.message
                && !t.passed
            {
                out.push(format!("      {m}"));
            }
        }
    }
    for w in &s.verdict.warnings {
        out.push(format!("  ! instrument: {w}"));
    }
    out.push(String::new());
    let failed = s.thresholds.iter().filter(|t| !t.passed).count();
    out.push(if s.verdict.passed {
        format!(
            "  verdict: PASS ({} thresholds passed, {} requests)",
            s.thresholds.len(),
            s.overall.requests
        )
    } else {
        format!(
            "  verdict: FAIL ({})",
            if s.verdict.failures.is_empty() {
                format!("{failed} of {} thresholds failed", s.thresholds.len())
            } else {
                s.verdict.failures.join("; ")
            }
        )
    });
}

/// `harness calibrate`'s output: the instrument's floor for one load shape.
pub fn render_calibration(c: &crate::summary::Calibration) -> String {
    let l = &c.latency;
    let mut out = vec![
        format!("  instrument floor: {}", c.shape),
        format!(
            "{} trivial loopback endpoint, {} B responses, {} measured",
            dotted("against"),
            c.response_bytes,
            crate::units::format_duration(std::time::Duration::from_secs_f64(c.measured_s))
        ),
        format!(
            "{} p50 {} p90 {} p95 {} p99 {} max {} ({} requests)",
            dotted("latency"),
            units::us(l.p50_us as f64),
            units::us(l.p90_us as f64),
            units::us(l.p95_us as f64),
            units::us(l.p99_us as f64),
            units::us(l.max_us as f64),
            l.count
        ),
        format!("{} {:.1} req/s", dotted("throughput"), c.throughput_rps),
    ];
    if let Some(g) = &c.generator_lag {
        out.push(format!(
            "{} p50 {} p99 {} max {}",
            dotted("generator lag"),
            units::us(g.p50_us as f64),
            units::us(g.p99_us as f64),
            units::us(g.max_us as f64)
        ));
    }
    if let Some(m) = c.max_rps {
        out.push(format!("{} {m:.0} req/s", dotted("highest rate sustained")));
    }
    out.join("\n")
}
