//! The command line's shape: subcommands and flags, as clap reads them.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::scenario::Overrides;

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
    /// Retrieval quality: bring the scenario's stack up (default scenarios/eval.toml), ingest
    /// the corpus, and search every labeled query through the HNSW index and exactly:
    /// recall@1/5/10 and MRR@10 over pages, the index's agreement with exact search, and the
    /// search latency, in summary.json and report.html. No load is driven.
    Eval(EvalFlags),
    /// Capacity: bring the scenario's stack up once (default scenarios/sweep.toml) and run
    /// short open-loop steps at rising rates, a ramp then a bisection, to find the highest
    /// rate that still meets its latency thresholds; the knee is `capacity` in summary.json.
    Sweep(SweepFlags),
    /// Runs the server in this process (used by the embedded stack).
    #[command(name = "__server", hide = true)]
    Server {
        /// The server's own arguments (`serve --listen ...`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

/// Flags of every command that brings a stack up: which server, which corpus, where the run
/// folder goes.
#[derive(Debug, Clone, Args, Default)]
pub struct StackFlags {
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
    /// Ingest into an empty store even when a ready one for this corpus and these settings
    /// is cached from an earlier run (it is replaced afterwards).
    #[arg(long)]
    pub fresh_store: bool,
    /// The run folder (default reports/out/<scenario>-<timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not write report.html.
    #[arg(long)]
    pub no_report: bool,
    /// Start this ragbench-server binary instead of the harness's own server (e.g. one built
    /// with `--features cuda`).
    #[arg(long, env = "RAGBENCH_SERVER_BIN", value_name = "PATH")]
    pub server_bin: Option<PathBuf>,
}

impl StackFlags {
    /// `base` with these flags' scenario overrides added.
    pub(super) fn apply(&self, base: Overrides) -> Overrides {
        Overrides {
            base_url: self.base_url.clone(),
            corpus_limit: self.corpus_limit,
            corpus_prefix: self.corpus_prefix.clone(),
            fresh_store: self.fresh_store,
            ..base
        }
    }
}

/// Flags of the commands that drive load and judge it (runs and sweeps).
#[derive(Debug, Clone, Args, Default)]
pub struct LoadCheckFlags {
    /// Start the embedded server without the generator.
    #[arg(long)]
    pub no_generator: bool,
    /// Add a threshold rule (repeatable), e.g. --threshold "search.p95 < 2ms" (a sweep judges
    /// each step by the latency and error-rate upper bounds).
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// Ignore the scenario's thresholds (only --threshold rules apply).
    #[arg(long)]
    pub no_thresholds: bool,
    /// Skip measuring the instrument's own floor before the warm-up (a sweep then cannot tell
    /// a step the instrument could not offer from the server's limit).
    #[arg(long)]
    pub no_calibrate: bool,
    /// Skip the GPU preflight of a scenario that needs a GPU (its GPU thresholds then fail on
    /// a machine without one, and the rest is still measured).
    #[arg(long)]
    pub no_preflight: bool,
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
    /// Server, corpus and output.
    #[command(flatten)]
    pub stack: StackFlags,
    /// Thresholds, calibration, preflight.
    #[command(flatten)]
    pub check: LoadCheckFlags,
    /// Baseline summary.json for the report's comparison (default: the latest phase1 run).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Fail (exit 1) when P95 or throughput is this much worse than the baseline (e.g. 10%).
    #[arg(long, value_name = "PCT")]
    pub max_regression: Option<String>,
}

/// `harness eval`'s arguments: the scenario whose stack, corpus and `[eval]` to use, and the
/// stack flags (no load is driven).
#[derive(Debug, Clone, Args)]
pub struct EvalFlags {
    /// A name under scenarios/ or a scenario file.
    #[arg(default_value = "eval")]
    pub scenario: String,
    /// Also evaluate a labeled set in the BEIR layout in this folder (queries.jsonl and
    /// qrels/*.tsv, corpus-ids being page paths relative to the corpus root).
    #[arg(long, value_name = "DIR")]
    pub beir: Option<PathBuf>,
    /// Leave out the set built from the pages' front-matter descriptions (with --beir).
    #[arg(long, requires = "beir")]
    pub no_descriptions: bool,
    /// Server, corpus and output.
    #[command(flatten)]
    pub stack: StackFlags,
}

/// `harness sweep`'s arguments: the scenario, the search's settings (over its `[sweep]`
/// table, same names) and the run flags that make sense for a sweep.
#[derive(Debug, Clone, Args)]
pub struct SweepFlags {
    /// A name under scenarios/ or a scenario file.
    #[arg(default_value = "sweep")]
    pub scenario: String,
    /// The ramp's first offered rate, requests per second (default 50).
    #[arg(long)]
    pub start_rate: Option<f64>,
    /// The highest rate the ramp offers (default 20000).
    #[arg(long)]
    pub max_rate: Option<f64>,
    /// Each ramp step offers this many times the last (default 2).
    #[arg(long)]
    pub growth: Option<f64>,
    /// Stop when the last pass and the first fail are this close (default 5%).
    #[arg(long)]
    pub precision: Option<String>,
    /// Each step's measured window (default 10s).
    #[arg(long)]
    pub step_duration: Option<String>,
    /// Each step's unmeasured warm-up (default 2s).
    #[arg(long)]
    pub step_warmup: Option<String>,
    /// A step passes only when it achieved this share of the offered rate (default 95%).
    #[arg(long)]
    pub min_achieved: Option<String>,
    /// Open loop arrivals: constant or poisson (default: the scenario's, else constant).
    #[arg(long)]
    pub arrival: Option<String>,
    /// Open loop: cap on requests in flight (default: the scenario's, else 256).
    #[arg(long)]
    pub max_in_flight: Option<u32>,
    /// Server, corpus and output.
    #[command(flatten)]
    pub stack: StackFlags,
    /// Thresholds, calibration, preflight.
    #[command(flatten)]
    pub check: LoadCheckFlags,
}

impl SweepFlags {
    /// The scenario overrides: open loop whatever the file's mode (each step sets its own
    /// rate; this one only selects the open loop and its arrival and cap).
    pub(super) fn overrides(&self) -> Overrides {
        Overrides {
            rate: Some(self.start_rate.unwrap_or(1.0)),
            arrival: self.arrival.clone(),
            max_in_flight: self.max_in_flight,
            ..self.check.apply(self.stack.apply(Overrides::default()))
        }
    }

    /// The search's settings given as flags, as a `[sweep]` table would give them.
    pub(super) fn section(&self) -> crate::sweep::SweepSection {
        crate::sweep::SweepSection {
            start_rate: self.start_rate,
            max_rate: self.max_rate,
            growth: self.growth,
            precision: self.precision.clone(),
            step_duration: self.step_duration.clone(),
            step_warmup: self.step_warmup.clone(),
            min_achieved: self.min_achieved.clone(),
        }
    }
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
    pub(super) fn overrides(&self) -> Overrides {
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

impl LoadCheckFlags {
    /// `base` with these flags' scenario overrides added.
    pub(super) fn apply(&self, base: Overrides) -> Overrides {
        Overrides {
            no_generator: self.no_generator,
            thresholds: self.thresholds.clone(),
            no_thresholds: self.no_thresholds,
            ..base
        }
    }
}

impl RunFlags {
    pub(super) fn overrides(&self) -> Overrides {
        Overrides {
            duration: self.duration.clone(),
            warmup: self.warmup.clone(),
            ..self.check.apply(self.stack.apply(self.shape.overrides()))
        }
    }
}
