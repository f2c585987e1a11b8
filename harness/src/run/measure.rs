//! The measured part of a run: the cache primed, the instrument's floor calibrated with the
//! run's load shape, then warm-up and the measured window with every sampler running.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::bring_up::Up;
use super::{RunError, RunOptions};
use crate::auth::{self, TokenMint};
use crate::load::client::{Api, Health};
use crate::load::workload::Workload;
use crate::load::{self, LoadContext};
use crate::measure::gpu::GpuSampler;
use crate::measure::procmon::ProcessMonitor;
use crate::measure::recorder::Recorder;
use crate::output::console::{self, LiveProgress};
use crate::scenario::{LoadMode, Scenario};
use crate::summary;

/// What [`measure`] returns.
pub(crate) struct Measured {
    pub(crate) window: load::Window,
    pub(crate) outcome: load::LoadOutcome,
    pub(crate) recorded: crate::measure::recorder::Recorded,
    pub(crate) server_stats: Option<summary::ProcessStats>,
    pub(crate) gpu: crate::measure::gpu::GpuTelemetry,
    pub(crate) health_after: Option<Health>,
    pub(crate) primed: u64,
    pub(crate) calibration: Option<summary::Calibration>,
}

/// Primes the cache, measures the instrument's floor with the run's load shape, then runs
/// warm-up and the measured window with all samplers.
pub(super) async fn measure(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &Path,
    up: &mut Up,
) -> Result<Measured, RunError> {
    let ctx = load_context(scenario, dir, up, scenario.warmup + scenario.duration)?;

    // Prime the cache, unmeasured; the responses' sizes shape the calibration's endpoint.
    let (primed, body_sizes) = prime(scenario, &up.base_url, &ctx.workload, &ctx.tokens[0]).await?;

    let calibration = if opts.no_calibrate {
        None
    } else {
        Some(calibrate(scenario, dir, &ctx.workload, &body_sizes).await?)
    };

    measure_load(&ctx, &scenario.mode, up, primed, calibration).await
}

/// Warm-up and the measured window of `ctx` with the load shape `mode`, the server process
/// and the GPU sampled meanwhile: a run's load, or one step of a sweep.
pub(crate) async fn measure_load(
    ctx: &LoadContext,
    mode: &LoadMode,
    up: &Up,
    primed: u64,
    calibration: Option<summary::Calibration>,
) -> Result<Measured, RunError> {
    let monitor = up
        .server_pid()
        .map(|pid| ProcessMonitor::start(pid, Duration::from_secs(1)));
    let gpu = GpuSampler::start(Duration::from_secs(1));
    console::step(format!(
        "load: {} for {} after {} warm-up",
        mode.describe(),
        crate::units::format_duration(ctx.duration),
        crate::units::format_duration(ctx.warmup),
    ));
    let progress = LiveProgress::start(
        ctx.recorder.clone(),
        Instant::now(),
        ctx.warmup,
        ctx.duration,
    );
    let result = load::run(ctx, mode).await;
    progress.finish().await;
    let (gpu, server_stats, (window, outcome)) = stop_samplers(gpu, monitor, result).await?;
    let health_after = ctx.api.health().await.ok();
    let recorded = ctx
        .recorder
        .finish(window.measured(), &ctx.workload.endpoints());
    Ok(Measured {
        window,
        outcome,
        recorded,
        server_stats,
        gpu,
        health_after,
        primed,
        calibration,
    })
}

/// What the load needs: a token per virtual user (open loop: up to 64, used round-robin),
/// a token the server must reject, the workload and a fresh recorder. The tokens outlive
/// `span` (the load's length) by an hour.
pub(crate) fn load_context(
    scenario: &Scenario,
    dir: &Path,
    up: &Up,
    span: Duration,
) -> Result<LoadContext, RunError> {
    let lifetime = span + Duration::from_secs(3600);
    let mint = TokenMint::new(&up.secret, lifetime);
    let users = match scenario.mode {
        LoadMode::Closed { vus, .. } => vus as usize,
        LoadMode::Open { max_in_flight, .. } => (max_in_flight as usize).clamp(1, 64),
    };
    Ok(LoadContext {
        base_url: up.base_url.clone(),
        api: Api::new(&up.base_url),
        workload: Arc::new(Workload::new(scenario)),
        recorder: Arc::new(Recorder::new()),
        tokens: Arc::new(mint.tokens(users)?),
        bad_token: Arc::new(auth::bad_token(lifetime)?),
        warmup: scenario.warmup,
        duration: scenario.duration,
        request_timeout: scenario.request_timeout,
        run_dir: dir.to_path_buf(),
    })
}

/// Stops the GPU and server samplers on every path; the server's figures cover exactly the
/// measured window when the load completed.
async fn stop_samplers(
    gpu: GpuSampler,
    monitor: Option<ProcessMonitor>,
    result: Result<(load::Window, load::LoadOutcome), load::LoadError>,
) -> Result<
    (
        crate::measure::gpu::GpuTelemetry,
        Option<summary::ProcessStats>,
        (load::Window, load::LoadOutcome),
    ),
    RunError,
> {
    let gpu = tokio::task::spawn_blocking(move || gpu.stop())
        .await
        .unwrap_or_else(|_| {
            crate::measure::gpu::GpuTelemetry::unavailable("the GPU sampler failed")
        });
    let window = result.as_ref().ok().map(|(w, _)| (w.start, w.end));
    let server_stats = match monitor {
        Some(m) => {
            let span = window.unwrap_or_else(|| {
                let now = Instant::now();
                (now, now)
            });
            tokio::task::spawn_blocking(move || m.stop(span)).await.ok()
        }
        None => None,
    };
    Ok((gpu, server_stats, result?))
}

/// Sends every priming plan once, unmeasured. Returns how many were sent and the body sizes
/// of the successful ones.
pub(crate) async fn prime(
    scenario: &Scenario,
    base_url: &str,
    workload: &Workload,
    token: &str,
) -> Result<(u64, Vec<usize>), RunError> {
    let mut primed = 0u64;
    let mut body_sizes = Vec::new();
    if !scenario.prime {
        return Ok((primed, body_sizes));
    }
    let plans = workload.priming_plans();
    let spin = console::spinner(format!(
        "priming the cache with {} requests (each question once per endpoint)",
        plans.len()
    ));
    let client = reqwest::Client::builder()
        .timeout(scenario.request_timeout)
        .build()
        .map_err(|e| RunError::Unhealthy(format!("cannot build an HTTP client: {e}")))?;
    let mut failed = 0;
    for plan in &plans {
        let sent = crate::load::client::send_plan(&client, base_url, plan, token).await;
        primed += 1;
        if matches!(
            sent.status,
            crate::measure::recorder::Status::Http(200..=299)
        ) {
            body_sizes.push(sent.body_bytes);
        } else {
            failed += 1;
        }
    }
    spin.finish_and_clear();
    if failed > 0 {
        console::step(format!(
            "warning: {failed} of {} priming requests failed",
            plans.len()
        ));
    }
    Ok((primed, body_sizes))
}

/// The in-run calibration: the floor with the run's load shape against a trivial endpoint
/// answering with the mean size of the priming responses (2 KiB when none were primed).
pub(crate) async fn calibrate(
    scenario: &Scenario,
    dir: &Path,
    workload: &Arc<Workload>,
    body_sizes: &[usize],
) -> Result<summary::Calibration, RunError> {
    let response_bytes = if body_sizes.is_empty() {
        2048
    } else {
        body_sizes.iter().sum::<usize>() / body_sizes.len()
    };
    let durations = crate::load::calibrate::Durations::IN_RUN;
    let spin = console::spinner(format!(
        "calibrating the instrument: {} against a trivial loopback endpoint ({response_bytes} B \
         responses), {} + {}",
        scenario.mode.describe(),
        crate::units::format_duration(durations.floor),
        crate::units::format_duration(durations.max_rate),
    ));
    let floor = crate::load::calibrate::calibrate(
        &scenario.mode,
        workload.clone(),
        response_bytes,
        durations,
        &dir.join("calibration"),
    )
    .await;
    spin.finish_and_clear();
    let floor = floor?;
    console::step(format!(
        "instrument floor: p50 {} p95 {} p99 {}, sustains {}",
        crate::units::us(floor.latency.p50_us as f64),
        crate::units::us(floor.latency.p95_us as f64),
        crate::units::us(floor.latency.p99_us as f64),
        floor
            .max_rps
            .map(|r| format!("{r:.0} req/s"))
            .unwrap_or_else(|| "n/a".into()),
    ));
    Ok(floor)
}
