//! One run, start to finish, one call per stage: scenario -> GPU preflight and baseline ->
//! stack up (`bring_up`: server, corpus ingested, health) -> `measure` (cache primed,
//! instrument calibrated, warm-up and measured load with server, GPU and `/metrics`
//! sampling) -> `assemble` the summary -> verdict -> `summary.json`, `junit.xml`,
//! `report.html`, console table -> exit code.

pub(crate) mod assemble;
mod baseline;
pub(crate) mod bring_up;
mod containers;
mod corpus;
mod evaluate;
pub(crate) mod measure;

use std::path::{Path, PathBuf};

use crate::auth;
use crate::load;
use crate::measure::provenance;
use crate::output::console;
use crate::output::{junit, report};
use crate::scenario::Scenario;
use crate::stack::StackError;
use crate::summary::{self, Summary};

pub use bring_up::server_invocation;
pub use evaluate::eval_run;

/// Why a run could not be carried out (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The stack could not be brought up.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// The corpus could not be prepared.
    #[error(transparent)]
    Corpus(#[from] crate::stack::corpus::CorpusError),
    /// A control call to the server failed.
    #[error(transparent)]
    Client(#[from] crate::load::client::ClientError),
    /// The load generator failed.
    #[error(transparent)]
    Load(#[from] load::LoadError),
    /// A token could not be minted.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// The retrieval-quality evaluation failed.
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
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
pub(crate) fn run_dir(scenario: &Scenario, opts: &RunOptions) -> Result<PathBuf, RunError> {
    let dir = match &opts.out {
        Some(d) => d.clone(),
        None => crate::output::stamped_path(&opts.out_root, &scenario.name, ""),
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    Ok(dir)
}

/// Runs a scenario. Setup problems are errors; threshold failures are in the verdict.
pub async fn run(scenario: &Scenario, opts: &RunOptions) -> Result<RunResult, RunError> {
    if let crate::scenario::StackKind::Containers(_) = scenario.stack {
        // Before anything starts or is written: no daemon is one line and exit 2.
        containers::check_docker().await?;
    }
    let dir = run_dir(scenario, opts)?;
    console::step(format!(
        "scenario {} ({}), results in {}",
        scenario.name,
        scenario.file.display(),
        dir.display()
    ));
    let machine = provenance::machine();
    let git = provenance::git_revision(&opts.project_root);
    bring_up::gpu_preflight(scenario, opts)?;
    let baseline = baseline::find(opts, &dir)?;
    if let Some(plan) = &scenario.eval {
        crate::eval::check(plan)?;
    }

    let mut up = bring_up::bring_up(scenario, opts, &dir).await?;
    // Quality first, on the idle server: the load's figures stay the load's.
    let eval = match &scenario.eval {
        Some(plan) => Some(evaluate::evaluate(scenario, &up, plan, &dir).await),
        None => None,
    };
    let measured = match eval.transpose() {
        Ok(eval) => measure::measure(scenario, opts, &dir, &mut up)
            .await
            .map(|m| (m, eval)),
        Err(e) => Err(e),
    };
    up.stop_server().await;
    let (measured, eval) = measured?;
    let mut summary = assemble::assemble(scenario, &up, measured, machine, git);
    summary.eval = eval;
    summary
        .notes
        .extend(baseline::note(opts, baseline.as_ref()));
    summary.notes.extend(up.store_note.take());
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

/// `summary.json`, `junit.xml`, `report.html` (unless `--no-report`) and the console table.
pub(crate) fn write_outputs(
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
    if let Some(eval) = &summary.eval {
        println!("{}", crate::eval::table::render(eval));
    }
    Ok(())
}
