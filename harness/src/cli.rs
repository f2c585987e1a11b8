//! The `harness` command line.
//!
//! ```text
//! harness phase1|phase2|phase3|smoke [flags]   run scenarios/<name>.toml
//! harness run FILE [flags]                      run any scenario file
//! harness report A [B]                          render run A, or compare A with baseline B
//! harness merge RUN... [--out DIR]              one run from runs made at once on several machines
//! harness compare RUN... [--out FILE.html]      runs side by side, changes against the first
//! harness calibrate SCENARIO [flags]            the instrument's own floor with that load shape
//! harness preflight [SCENARIO] [--server-bin]   the GPU checks a GPU scenario runs first
//! ```
//!
//! Exit codes: 0 every threshold passed, 1 a threshold failed (or no requests were made),
//! 2 a setup or usage error.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::output::report;
use crate::run::{self, RunOptions};
use crate::scenario::{self, Overrides};

/// Exit code: every threshold passed.
pub const EXIT_PASS: u8 = 0;
/// Exit code: a threshold failed, or the run made no requests.
pub const EXIT_FAIL: u8 = 1;
/// Exit code: setup or usage error.
pub const EXIT_SETUP: u8 = 2;

/// ragbench's benchmarking and validation harness: brings a stack up, ingests the corpus,
/// drives load, checks the scenario's thresholds and exits 0 (pass), 1 (a threshold failed)
/// or 2 (setup or usage error).
#[derive(Debug, Parser)]
#[command(name = "harness", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Phase 1: the CPU baseline (scenarios/phase1.toml).
    Phase1(RunFlags),
    /// Phase 2: CPU with data, the plan's 50 VUs x 3 min and success thresholds (scenarios/phase2.toml).
    Phase2(RunFlags),
    /// Phase 3: the GPU stack (scenarios/phase3.toml).
    Phase3(RunFlags),
    /// A quick end-to-end check, under a minute (scenarios/smoke.toml).
    Smoke(RunFlags),
    /// Run a scenario file.
    Run {
        /// The scenario file (TOML).
        file: PathBuf,
        /// Overrides and output options.
        #[command(flatten)]
        flags: RunFlags,
    },
    /// Render the HTML report of run A (a run folder or its summary.json), compared with
    /// baseline run B when given.
    Report {
        /// The run to report.
        a: PathBuf,
        /// The baseline run to compare with.
        b: Option<PathBuf>,
        /// Where to write: a .html file or a folder (default: next to A's summary).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Exit 1 when A's P95 or throughput is this much worse than B's (e.g. 10%).
        #[arg(long, value_name = "PCT")]
        max_regression: Option<String>,
    },
    /// Measure the instrument's own floor: a scenario's load shape (or the one given by the
    /// flags) against a trivial endpoint the harness serves on loopback. Prints the floor's
    /// percentiles and the highest rate the instrument sustains.
    Calibrate(CalibrateFlags),
    /// Combine the summaries of one scenario run at the same time from several machines into
    /// one run (HDR histograms merge exactly) and re-check its thresholds; exits like a run.
    Merge {
        /// The runs: run folders or their summary.json files.
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
        /// The merged run's folder (default reports/out/<scenario>-merged-<timestamp>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Set runs side by side (e.g. phase1 phase2 phase3): percentiles, throughput, errors,
    /// cache, server and GPU figures, each later run's change against the first.
    Compare {
        /// The runs: run folders or their summary.json files; the first is the reference.
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
        /// The HTML page to write (default reports/out/compare-<timestamp>.html).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The GPU preflight of a scenario (default phase3): NVML finds the GPU, the server's
    /// embedder starts on it and embeds a probe sentence. Exit 0 when every step passes.
    Preflight {
        /// A name under scenarios/ or a scenario file.
        #[arg(default_value = "phase3")]
        scenario: String,
        /// The ragbench-server binary to check (default: the harness's own server).
        #[arg(long, env = "RAGBENCH_SERVER_BIN", value_name = "PATH")]
        server_bin: Option<PathBuf>,
    },
    /// Runs the server in this process (used by the embedded stack).
    #[command(name = "__server", hide = true)]
    Server {
        /// The server's own arguments (`serve --listen ...`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

/// Flags every run accepts: scenario overrides and output options.
#[derive(Debug, Clone, Args, Default)]
pub struct RunFlags {
    /// Measured duration (e.g. 3m, 30s), overriding [load] duration.
    #[arg(long)]
    pub duration: Option<String>,
    /// Warm-up before the measured window (e.g. 20s).
    #[arg(long)]
    pub warmup: Option<String>,
    /// The load shape, overriding the scenario's.
    #[command(flatten)]
    pub shape: LoadShapeFlags,
    /// Run against this server instead of starting one (external stack).
    #[arg(long)]
    pub base_url: Option<String>,
    /// The external server's JWT secret (default: the scenario's env var, RAGBENCH_JWT_SECRET).
    #[arg(long)]
    pub jwt_secret: Option<String>,
    /// Ingest only the first N corpus files.
    #[arg(long)]
    pub corpus_limit: Option<usize>,
    /// Ingest only corpus files under this relative path prefix (e.g. guides/).
    #[arg(long)]
    pub corpus_prefix: Option<String>,
    /// Start the embedded server without the generator.
    #[arg(long)]
    pub no_generator: bool,
    /// Add a threshold rule (repeatable), e.g. --threshold "search.p95 < 2ms".
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// Ignore the scenario's thresholds (only --threshold rules apply).
    #[arg(long)]
    pub no_thresholds: bool,
    /// The run folder (default reports/out/<scenario>-<timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Baseline summary.json for the report's comparison (default: the latest phase1 run).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Fail (exit 1) when P95 or throughput is this much worse than the baseline (e.g. 10%).
    #[arg(long, value_name = "PCT")]
    pub max_regression: Option<String>,
    /// Do not write report.html.
    #[arg(long)]
    pub no_report: bool,
    /// Skip measuring the instrument's own floor before the warm-up.
    #[arg(long)]
    pub no_calibrate: bool,
    /// Skip the GPU preflight of a scenario that needs a GPU (its GPU thresholds then fail on
    /// a machine without one, and the rest is still measured).
    #[arg(long)]
    pub no_preflight: bool,
    /// Start this ragbench-server binary instead of the harness's own server (e.g. one built
    /// with `--features cuda`).
    #[arg(long, env = "RAGBENCH_SERVER_BIN", value_name = "PATH")]
    pub server_bin: Option<PathBuf>,
}

/// `harness calibrate`'s arguments: a scenario for the load shape, and overrides of it.
#[derive(Debug, Clone, Args)]
pub struct CalibrateFlags {
    /// The scenario whose load shape to use: a name under scenarios/ (phase3) or a file.
    pub scenario: String,
    /// The floor's measured window.
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// Unmeasured start of each measurement.
    #[arg(long, default_value = "1s")]
    pub warmup: String,
    /// The highest-rate probe's measured window (0s skips it).
    #[arg(long, default_value = "5s")]
    pub max_rate_duration: String,
    /// Size of the trivial endpoint's response body (a cached /v1/search answer is ~2.7 KB).
    #[arg(long, default_value_t = 2700)]
    pub response_bytes: usize,
    /// The load shape, overriding the scenario's.
    #[command(flatten)]
    pub shape: LoadShapeFlags,
    /// Also write the floor as JSON (the summary's `calibration` section) to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Flags that override a scenario's load shape; runs and `harness calibrate` take the same.
#[derive(Debug, Clone, Args, Default)]
pub struct LoadShapeFlags {
    /// Closed loop with this many virtual users.
    #[arg(long)]
    pub vus: Option<u32>,
    /// Open loop at this many requests per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop arrivals: constant or poisson.
    #[arg(long)]
    pub arrival: Option<String>,
    /// Open loop: cap on requests in flight.
    #[arg(long)]
    pub max_in_flight: Option<u32>,
    /// Closed loop: pause between a user's requests (e.g. 100ms).
    #[arg(long)]
    pub think_time: Option<String>,
}

impl LoadShapeFlags {
    /// These flags as scenario overrides, nothing else overridden.
    fn overrides(&self) -> Overrides {
        Overrides {
            vus: self.vus,
            rate: self.rate,
            arrival: self.arrival.clone(),
            max_in_flight: self.max_in_flight,
            think_time: self.think_time.clone(),
            ..Overrides::default()
        }
    }
}

impl RunFlags {
    fn overrides(&self) -> Overrides {
        Overrides {
            duration: self.duration.clone(),
            warmup: self.warmup.clone(),
            base_url: self.base_url.clone(),
            corpus_limit: self.corpus_limit,
            corpus_prefix: self.corpus_prefix.clone(),
            no_generator: self.no_generator,
            thresholds: self.thresholds.clone(),
            no_thresholds: self.no_thresholds,
            ..self.shape.overrides()
        }
    }
}

/// The workspace root this binary was built from.
fn build_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The project root: the current folder when it has `scenarios/`, else the workspace the
/// binary was built from (when it still exists), else the current folder.
pub fn project_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    if cwd.join("scenarios").is_dir() {
        return cwd;
    }
    let built = build_root();
    if built.join("scenarios").is_dir() {
        return built;
    }
    cwd
}

/// Finds `scenarios/<name>.toml` under the project root.
pub fn scenario_file(name: &str) -> anyhow::Result<PathBuf> {
    let root = project_root();
    let file = root.join("scenarios").join(format!("{name}.toml"));
    if file.is_file() {
        return Ok(file);
    }
    anyhow::bail!(
        "no scenario file for `{name}`: looked for {} (run from the repository root, or use `harness run FILE`)",
        file.display()
    )
}

/// Parses the command line and runs it; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Server { args } => {
            let argv = std::iter::once(OsString::from("ragbench-server")).chain(args);
            let server_cli = <ragbench_server::cli::Cli as Parser>::parse_from(argv);
            match ragbench_server::cli::run(server_cli) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ragbench-server: error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Report {
            a,
            b,
            out,
            max_regression,
        } => report(&a, b.as_deref(), out.as_deref(), max_regression.as_deref()),
        Command::Phase1(f) => run_named("phase1", f),
        Command::Phase2(f) => run_named("phase2", f),
        Command::Phase3(f) => run_named("phase3", f),
        Command::Smoke(f) => run_named("smoke", f),
        Command::Run { file, flags } => run_file(&file, flags),
        Command::Calibrate(flags) => calibrate(flags),
        Command::Merge { runs, out } => merge(&runs, out.as_deref()),
        Command::Compare { runs, out } => compare(&runs, out.as_deref()),
        Command::Preflight {
            scenario,
            server_bin,
        } => preflight(&scenario, server_bin),
    }
}

fn setup_error(e: &anyhow::Error) -> ExitCode {
    eprintln!("harness: error: {}", error_chain(e));
    ExitCode::from(EXIT_SETUP)
}

/// An error and its causes on one line, leaving out a cause whose text the message already
/// carries (most of ours embed their cause).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}

fn report(a: &Path, b: Option<&Path>, out: Option<&Path>, max: Option<&str>) -> ExitCode {
    let result = (|| -> anyhow::Result<u8> {
        let max_pct = max
            .map(crate::verdict::regression::parse_percent)
            .transpose()?;
        let (a_file, mut current) = report::load_summary(a)?;
        let base = b.map(report::load_summary).transpose()?;
        // The gate is decided by the verdict, as in a run; the report only shows its result.
        let passed = match (max_pct, &base) {
            (Some(max_pct), Some((_, base))) => crate::verdict::gate(&mut current, base, max_pct),
            _ => true,
        };
        let path = report::write_cli_report(
            &a_file,
            &current,
            base.as_ref().map(|(_, s)| s),
            out,
            &report::ReportOptions::default(),
        )?;
        println!("{}", path.display());
        if passed {
            return Ok(EXIT_PASS);
        }
        let findings = crate::verdict::regression_result(&current).map(|(_, f)| f);
        for f in findings.unwrap_or_default() {
            eprintln!("harness: regression: {f}");
        }
        Ok(EXIT_FAIL)
    })();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => setup_error(&e),
    }
}

fn calibrate(flags: CalibrateFlags) -> ExitCode {
    let result = (|| -> anyhow::Result<()> {
        let file = if Path::new(&flags.scenario).is_file() {
            PathBuf::from(&flags.scenario)
        } else {
            scenario_file(&flags.scenario)?
        };
        let scenario = scenario::load(&file, &flags.shape.overrides())?;
        let parse = |what: &str, v: &str| {
            crate::units::parse_duration(v).map_err(|e| anyhow::anyhow!("--{what} {v:?}: {e}"))
        };
        let durations = crate::load::calibrate::Durations {
            warmup: parse("warmup", &flags.warmup)?,
            floor: parse("duration", &flags.duration)?,
            max_rate: parse("max-rate-duration", &flags.max_rate_duration)?,
        };
        keep_loopback_off_proxies();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let scratch =
            std::env::temp_dir().join(format!("harness-calibrate-{}", std::process::id()));
        let workload = std::sync::Arc::new(crate::load::workload::Workload::new(&scenario));
        let floor = runtime.block_on(crate::load::calibrate::calibrate(
            &scenario.mode,
            workload,
            flags.response_bytes,
            durations,
            &scratch,
        ));
        let _ = std::fs::remove_dir_all(&scratch);
        let floor = floor?;
        println!("{}", crate::output::console::render_calibration(&floor));
        if let Some(path) = &flags.json {
            let text = serde_json::to_string_pretty(&floor)?;
            std::fs::write(path, text + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::from(EXIT_PASS),
        Err(e) => setup_error(&e),
    }
}

fn run_named(name: &str, flags: RunFlags) -> ExitCode {
    match scenario_file(name) {
        Ok(file) => run_file(&file, flags),
        Err(e) => setup_error(&e),
    }
}

fn run_file(file: &Path, flags: RunFlags) -> ExitCode {
    let scenario = match scenario::load(file, &flags.overrides()) {
        Ok(s) => s,
        Err(e) => return setup_error(&e.into()),
    };
    let max_regression_pct = match flags
        .max_regression
        .as_deref()
        .map(crate::verdict::regression::parse_percent)
        .transpose()
    {
        Ok(v) => v,
        Err(e) => return setup_error(&anyhow::Error::new(e).context("--max-regression")),
    };
    let root = project_root();
    let opts = RunOptions {
        out: flags.out.clone(),
        out_root: root.join("reports").join("out"),
        jwt_secret: flags.jwt_secret.clone(),
        baseline: flags.baseline.clone(),
        max_regression_pct,
        no_report: flags.no_report,
        no_calibrate: flags.no_calibrate,
        no_preflight: flags.no_preflight,
        server_command: server_command(flags.server_bin.clone()),
        project_root: root,
    };
    keep_loopback_off_proxies();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
    {
        Ok(r) => r,
        Err(e) => return setup_error(&e),
    };
    match runtime.block_on(run::run(&scenario, &opts)) {
        Ok(result) => ExitCode::from(result.summary.verdict.exit_code as u8),
        Err(e) => setup_error(&e.into()),
    }
}

/// `--server-bin PATH`: that binary, with no leading arguments.
fn server_command(server_bin: Option<PathBuf>) -> Option<(PathBuf, Vec<String>)> {
    server_bin.map(|path| (path, Vec::new()))
}

fn preflight(name: &str, server_bin: Option<PathBuf>) -> ExitCode {
    let file = if Path::new(name).is_file() {
        Ok(PathBuf::from(name))
    } else {
        scenario_file(name)
    };
    let scenario = match file.and_then(|f| Ok(scenario::load(&f, &Overrides::default())?)) {
        Ok(s) => s,
        Err(e) => return setup_error(&e),
    };
    let opts = RunOptions {
        server_command: server_command(server_bin),
        ..RunOptions::default()
    };
    let server = match run::server_invocation(&scenario, &opts) {
        Ok(s) => s,
        Err(e) => return setup_error(&e.into()),
    };
    let checks = crate::preflight::run(&server);
    for check in &checks {
        let mark = if check.ok { "ok" } else { "FAILED" };
        println!("preflight {} {mark}: {}", check.step, check.line);
    }
    if checks.iter().all(|c| c.ok) {
        ExitCode::from(EXIT_PASS)
    } else {
        ExitCode::from(EXIT_SETUP)
    }
}

/// Loopback traffic must never go through an HTTP proxy from the environment.
fn keep_loopback_off_proxies() {
    let any_proxy = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|k| std::env::var_os(k).is_some());
    if !any_proxy {
        return;
    }
    let current = std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .unwrap_or_default();
    let mut parts: Vec<String> = current
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    for host in ["127.0.0.1", "localhost", "::1"] {
        if !parts.iter().any(|p| p == host) {
            parts.push(host.to_string());
        }
    }
    let value = parts.join(",");
    // SAFETY: called before the runtime (and any other thread of ours) starts.
    unsafe {
        std::env::set_var("NO_PROXY", &value);
        std::env::set_var("no_proxy", &value);
    }
}

/// Reads a run's summary: `path` is a run folder or its `summary.json`.
fn read_summary(path: &Path) -> anyhow::Result<crate::summary::Summary> {
    let file = if path.is_dir() {
        path.join(crate::summary::SUMMARY_FILE)
    } else {
        path.to_path_buf()
    };
    Ok(crate::summary::Summary::read(&file)?)
}

/// `reports/out/<name>-<timestamp>` under the project root, not yet taken.
fn stamped_output(name: &str, extension: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let base = project_root()
        .join("reports")
        .join("out")
        .join(format!("{name}-{stamp}"));
    let mut path = PathBuf::from(format!("{}{extension}", base.display()));
    let mut n = 2;
    while path.exists() {
        path = PathBuf::from(format!("{}-{n}{extension}", base.display()));
        n += 1;
    }
    path
}

fn merge(runs: &[PathBuf], out: Option<&Path>) -> ExitCode {
    let result = (|| -> anyhow::Result<u8> {
        let summaries = runs
            .iter()
            .map(|p| read_summary(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let merged = crate::output::merge::merge(&summaries).with_context(|| {
            let names: Vec<String> = runs.iter().map(|p| p.display().to_string()).collect();
            format!("cannot merge {}", names.join(", "))
        })?;
        let dir = match out {
            Some(d) => d.to_path_buf(),
            None => stamped_output(&format!("{}-merged", merged.scenario.name), ""),
        };
        crate::output::merge::write(&merged, &dir)?;
        println!("{}", crate::output::console::render_table(&merged, &dir));
        Ok(u8::try_from(merged.verdict.exit_code).unwrap_or(EXIT_FAIL))
    })();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => setup_error(&e),
    }
}

fn compare(runs: &[PathBuf], out: Option<&Path>) -> ExitCode {
    let result = (|| -> anyhow::Result<()> {
        let summaries = runs
            .iter()
            .map(|p| read_summary(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let comparison = crate::output::compare::compare(&summaries);
        print!("{}", crate::output::compare::render_console(&comparison));
        let path = match out {
            Some(p) => p.to_path_buf(),
            None => stamped_output("compare", ".html"),
        };
        crate::output::compare::write_html(&comparison, &path)?;
        println!("{}", path.display());
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::from(EXIT_PASS),
        Err(e) => setup_error(&e),
    }
}
