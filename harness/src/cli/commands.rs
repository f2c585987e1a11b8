//! What each subcommand does. Each returns the exit code, or the setup error that `main`
//! prints and exits 2 with.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

use super::{
    CalibrateFlags, EXIT_FAIL, EXIT_PASS, EXIT_SETUP, EvalFlags, RunFlags, StackFlags, SweepFlags,
};
use super::{project_root, scenario_file};
use crate::output::report;
use crate::run::{self, RunOptions};
use crate::scenario::{self, Overrides};
use crate::summary::{self, Summary};

/// `__server`: the server in this process, with its own command line and exit codes.
pub(super) fn server(args: Vec<OsString>) -> ExitCode {
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

pub(super) fn report(
    a: &Path,
    b: Option<&Path>,
    out: Option<&Path>,
    max: Option<&str>,
) -> anyhow::Result<u8> {
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
}

pub(super) fn calibrate(flags: CalibrateFlags) -> anyhow::Result<u8> {
    let scenario = scenario::load(&scenario_arg(&flags.scenario)?, &flags.shape.overrides())?;
    let parse = |what: &str, v: &str| {
        crate::units::parse_duration(v).map_err(|e| anyhow::anyhow!("--{what} {v:?}: {e}"))
    };
    let durations = crate::load::calibrate::Durations {
        warmup: parse("warmup", &flags.warmup)?,
        floor: parse("duration", &flags.duration)?,
        max_rate: parse("max-rate-duration", &flags.max_rate_duration)?,
    };
    let runtime = runtime()?;
    let scratch = std::env::temp_dir().join(format!("harness-calibrate-{}", std::process::id()));
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
    Ok(EXIT_PASS)
}

pub(super) fn run_named(name: &str, flags: RunFlags) -> anyhow::Result<u8> {
    run_file(&scenario_file(name)?, flags)
}

pub(super) fn run_file(file: &Path, flags: RunFlags) -> anyhow::Result<u8> {
    let scenario = scenario::load(file, &flags.overrides())?;
    let max_regression_pct = flags
        .max_regression
        .as_deref()
        .map(crate::verdict::regression::parse_percent)
        .transpose()
        .map_err(|e| anyhow::Error::new(e).context("--max-regression"))?;
    let opts = RunOptions {
        baseline: flags.baseline.clone(),
        max_regression_pct,
        no_calibrate: flags.check.no_calibrate,
        no_preflight: flags.check.no_preflight,
        ..run_options(&flags.stack)
    };
    if let Some(settings) = scenario.sweep.clone() {
        reject_window_flags(&flags)?;
        return sweep_with(&scenario, &settings, &opts);
    }
    let result = runtime()?.block_on(run::run(&scenario, &opts))?;
    Ok(result.summary.verdict.exit_code as u8)
}

/// The run options every stack command shares, from its stack flags.
fn run_options(stack: &StackFlags) -> RunOptions {
    let root = project_root();
    RunOptions {
        out: stack.out.clone(),
        out_root: root.join("reports").join("out"),
        jwt_secret: stack.jwt_secret.clone(),
        no_report: stack.no_report,
        server_command: server_command(stack.server_bin.clone()),
        project_root: root,
        ..RunOptions::default()
    }
}

/// A scenario with `[sweep]` sets each step's rate and window itself.
fn reject_window_flags(flags: &RunFlags) -> anyhow::Result<()> {
    let given = [
        ("--duration", flags.duration.is_some()),
        ("--warmup", flags.warmup.is_some()),
        ("--rate", flags.shape.rate.is_some()),
        ("--vus", flags.shape.vus.is_some()),
        ("--think-time", flags.shape.think_time.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
        anyhow::bail!(
            "{flag} does not apply to a scenario with a [sweep] table: each step's rate and \
             window come from [sweep] (or harness sweep --start-rate, --step-duration, \
             --step-warmup)"
        );
    }
    Ok(())
}

/// `harness sweep`: exits like a run (0 every threshold passed at the knee, 1 one failed).
pub(super) fn sweep(flags: SweepFlags) -> anyhow::Result<u8> {
    let scenario = scenario::load(&scenario_arg(&flags.scenario)?, &flags.overrides())?;
    let settings = scenario
        .sweep
        .clone()
        .unwrap_or_default()
        .apply(&flags.section())
        .map_err(|e| anyhow::anyhow!("--{}: {}", e.key.replace('_', "-"), e.message))?;
    let opts = RunOptions {
        no_calibrate: flags.check.no_calibrate,
        no_preflight: flags.check.no_preflight,
        ..run_options(&flags.stack)
    };
    sweep_with(&scenario, &settings, &opts)
}

fn sweep_with(
    scenario: &scenario::Scenario,
    settings: &crate::sweep::SweepSettings,
    opts: &RunOptions,
) -> anyhow::Result<u8> {
    let result = runtime()?.block_on(crate::sweep::sweep(scenario, settings, opts))?;
    Ok(result.summary.verdict.exit_code as u8)
}

/// `harness eval`: exits 0 when the eval ran and its retrieval rules held, 1 when one did
/// not, 2 when it could not run.
pub(super) fn eval(flags: EvalFlags) -> anyhow::Result<u8> {
    let overrides = Overrides {
        // Retrieval needs no answers: the generator is not loaded.
        no_generator: true,
        ..flags.stack.apply(Overrides::default())
    };
    let mut scenario = scenario::load(&scenario_arg(&flags.scenario)?, &overrides)?;
    let plan = scenario.eval.get_or_insert_with(Default::default);
    if let Some(dir) = flags.beir {
        plan.beir = Some(dir);
        plan.descriptions &= !flags.no_descriptions;
    }
    let opts = run_options(&flags.stack);
    let result = runtime()?.block_on(run::eval_run(&scenario, &opts))?;
    Ok(result.summary.verdict.exit_code as u8)
}

/// Exits 0 when every step passes, 2 when one fails.
pub(super) fn preflight(name: &str, server_bin: Option<PathBuf>) -> anyhow::Result<u8> {
    let scenario = scenario::load(&scenario_arg(name)?, &Overrides::default())?;
    let opts = RunOptions {
        server_command: server_command(server_bin),
        ..RunOptions::default()
    };
    let server = run::server_invocation(&scenario, &opts)?;
    let checks = crate::preflight::run(&server);
    for check in &checks {
        let mark = if check.ok { "ok" } else { "FAILED" };
        println!("preflight {} {mark}: {}", check.step, check.line);
    }
    Ok(if checks.iter().all(|c| c.ok) {
        EXIT_PASS
    } else {
        EXIT_SETUP
    })
}

pub(super) fn merge(runs: &[PathBuf], out: Option<&Path>) -> anyhow::Result<u8> {
    let summaries = read_summaries(runs)?;
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
}

pub(super) fn compare(runs: &[PathBuf], out: Option<&Path>) -> anyhow::Result<u8> {
    let summaries = read_summaries(runs)?;
    let comparison = crate::output::compare::compare(&summaries);
    print!("{}", crate::output::compare::render_console(&comparison));
    let path = match out {
        Some(p) => p.to_path_buf(),
        None => stamped_output("compare", ".html"),
    };
    crate::output::compare::write_html(&comparison, &path)?;
    println!("{}", path.display());
    Ok(EXIT_PASS)
}

/// A scenario given as a file, or as a name under `scenarios/`.
fn scenario_arg(name: &str) -> anyhow::Result<PathBuf> {
    if Path::new(name).is_file() {
        Ok(PathBuf::from(name))
    } else {
        scenario_file(name)
    }
}

/// `--server-bin PATH`: that binary, with no leading arguments.
fn server_command(server_bin: Option<PathBuf>) -> Option<(PathBuf, Vec<String>)> {
    server_bin.map(|path| (path, Vec::new()))
}

/// The async runtime a run or a calibration drives its load on.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    keep_loopback_off_proxies();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
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

/// Reads runs' summaries: each path is a run folder or its `summary.json`.
fn read_summaries(runs: &[PathBuf]) -> anyhow::Result<Vec<Summary>> {
    runs.iter()
        .map(|p| Ok(Summary::read(&summary::summary_file(p))?))
        .collect()
}

/// `reports/out/<name>-<timestamp>` under the project root, not yet taken.
fn stamped_output(name: &str, extension: &str) -> PathBuf {
    crate::output::stamped_path(&project_root().join("reports").join("out"), name, extension)
}
