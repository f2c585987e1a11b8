//! The `harness` command line.
//!
//! ```text
//! harness phase1|phase2|phase3|smoke [flags]   run scenarios/<name>.toml
//! harness run FILE [flags]                      run any scenario file
//! harness report A [B]                          render run A, or compare A with baseline B
//! harness merge RUN... [--out DIR]              one run from runs made at once on several machines
//! harness compare RUN... [--out FILE.html]      runs side by side, changes against the first
//! harness calibrate SCENARIO [flags]            the instrument's own floor with that load shape
//! harness eval [SCENARIO] [--beir DIR]          retrieval quality: recall, MRR, HNSW vs exact
//! harness sweep [SCENARIO] [flags]              capacity: the highest rate within the thresholds
//! harness preflight [SCENARIO] [--server-bin]   the GPU checks a GPU scenario runs first
//! ```
//!
//! Exit codes: 0 every threshold passed, 1 a threshold failed (or no requests were made),
//! 2 a setup or usage error.
//!
//! `args` holds the clap definitions, `commands` what each subcommand does.

mod args;
mod commands;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

pub use args::{
    CalibrateFlags, Cli, Command, EvalFlags, LoadCheckFlags, LoadShapeFlags, RunFlags, StackFlags,
    SweepFlags,
};

/// Exit code: every threshold passed.
pub const EXIT_PASS: u8 = 0;
/// Exit code: a threshold failed, or the run made no requests.
pub const EXIT_FAIL: u8 = 1;
/// Exit code: setup or usage error.
pub const EXIT_SETUP: u8 = 2;

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
    let code = match cli.command {
        Command::Server { args } => return commands::server(args),
        Command::Report {
            a,
            b,
            out,
            max_regression,
        } => commands::report(&a, b.as_deref(), out.as_deref(), max_regression.as_deref()),
        Command::Phase1(f) => commands::run_named("phase1", f),
        Command::Phase2(f) => commands::run_named("phase2", f),
        Command::Phase3(f) => commands::run_named("phase3", f),
        Command::Smoke(f) => commands::run_named("smoke", f),
        Command::Run { file, flags } => commands::run_file(&file, flags),
        Command::Calibrate(flags) => commands::calibrate(flags),
        Command::Eval(flags) => commands::eval(flags),
        Command::Sweep(flags) => commands::sweep(flags),
        Command::Merge { runs, out } => commands::merge(&runs, out.as_deref()),
        Command::Compare { runs, out } => commands::compare(&runs, out.as_deref()),
        Command::Preflight {
            scenario,
            server_bin,
        } => commands::preflight(&scenario, server_bin),
    };
    match code {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("harness: error: {}", error_chain(&e));
            ExitCode::from(EXIT_SETUP)
        }
    }
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
