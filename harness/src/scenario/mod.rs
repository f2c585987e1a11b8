//! Scenario files (`scenarios/*.toml`): what to bring up, what load to drive and which
//! thresholds decide the verdict.
//!
//! Every table rejects unknown keys, and every error names the file, line, column and the
//! field, e.g. `scenarios/x.toml:7:1: load.vus: invalid type: string "x", expected u32`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::verdict::rules::Rule;

mod parse;
mod resolve;

pub use parse::{
    CorpusSection, EvalSection, LoadSection, ScenarioFile, ServerSection, StackSection,
    WorkloadSection, parse,
};
pub use resolve::resolve;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read the scenario file: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The TOML is malformed or does not fit the schema.
    #[error("{path}:{line}:{column}: {field}: {message}")]
    Syntax {
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field (dotted path) the error is about, or `(file)`.
        field: String,
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: String,
        /// The field (dotted path).
        field: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// A referenced file (query set) could not be read.
    #[error("{path}: {field}: cannot read {file}: {source}")]
    Referenced {
        /// The scenario file.
        path: String,
        /// The field that names the file.
        field: String,
        /// The referenced file.
        file: String,
        source: std::io::Error,
    },
}

/// Where the load goes.
#[derive(Debug, Clone, PartialEq)]
pub enum StackKind {
    /// The server as a child process of the harness.
    Embedded,
    /// A server somebody else started.
    External { base_url: String },
    /// Qdrant and Ollama in containers the harness starts, and the server against them.
    Containers(crate::stack::containers::ContainersSpec),
}

impl StackKind {
    /// Which stack, without its URL: what `summary.json` records.
    pub fn kind(&self) -> Stack {
        match self {
            StackKind::Embedded => Stack::Embedded,
            StackKind::External { .. } => Stack::External,
            StackKind::Containers(_) => Stack::Containers,
        }
    }
}

/// The stack's kind as `[stack] kind` and `summary.json` spell it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stack {
    #[default]
    Embedded,
    External,
    Containers,
}

impl Stack {
    /// `embedded`, `external` or `containers`.
    pub fn name(self) -> &'static str {
        match self {
            Stack::Embedded => "embedded",
            Stack::External => "external",
            Stack::Containers => "containers",
        }
    }
}

/// Arrival process of the open loop, as `[load] arrival` and `summary.json` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Evenly spaced.
    Constant,
    /// Exponential inter-arrival times.
    Poisson,
}

impl Arrival {
    /// `constant` or `poisson`.
    pub fn name(self) -> &'static str {
        match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
        }
    }
}

/// The load shape.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadMode {
    /// Closed loop: `vus` users each sending the next request when the last one returned.
    Closed {
        /// Virtual users.
        vus: u32,
        /// Pause between a user's requests.
        think_time: Duration,
    },
    /// Open loop: requests at a fixed rate regardless of responses.
    Open {
        /// Requests per second.
        rate: f64,
        /// Constant or Poisson arrivals.
        arrival: Arrival,
        /// Cap on requests in flight.
        max_in_flight: u32,
    },
}

impl LoadMode {
    /// The load shape in words, e.g. `open 600/s poisson, at most 256 in flight`: the
    /// console's load line and the calibration's `shape` say it the same way.
    pub fn describe(&self) -> String {
        match self {
            LoadMode::Closed { vus, think_time } => format!(
                "closed, {vus} VUs, think time {}",
                crate::units::format_duration(*think_time)
            ),
            LoadMode::Open {
                rate,
                arrival,
                max_in_flight,
            } => format!(
                "open {rate}/s {}, at most {max_in_flight} in flight",
                arrival.name()
            ),
        }
    }

    /// Closed or open, without the numbers: what `summary.json` records.
    pub fn kind(&self) -> Loop {
        match self {
            LoadMode::Closed { .. } => Loop::Closed,
            LoadMode::Open { .. } => Loop::Open,
        }
    }
}

/// Closed or open loop, as `[load] mode` and `summary.json` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loop {
    Closed,
    Open,
}

impl Loop {
    /// `closed` or `open`.
    pub fn name(self) -> &'static str {
        match self {
            Loop::Closed => "closed",
            Loop::Open => "open",
        }
    }
}

/// Workload mix weights.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Mix {
    /// `POST /v1/search`.
    pub search: u32,
    /// `POST /v1/query`.
    pub query: u32,
    /// `GET /health`.
    pub health: u32,
}

/// A validated scenario with every default filled in, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    /// The file it came from.
    pub file: PathBuf,
    /// Where the load goes.
    pub stack: StackKind,
    /// External stack: env var with the JWT secret.
    pub jwt_secret_env: String,
    /// Embedded stack: wait this long for the server to listen.
    pub startup_timeout: Duration,
    /// Embedded server: generator on.
    pub generator: bool,
    /// Embedded server: `--config` file.
    pub server_config: Option<PathBuf>,
    /// Embedded server: extra environment.
    pub server_env: BTreeMap<String, String>,
    /// Corpus folder; `None` = the bun-types docs from the asset cache.
    pub corpus_path: Option<PathBuf>,
    /// Ingest only files under this relative path prefix.
    pub corpus_prefix: Option<String>,
    /// Ingest only the first N files.
    pub corpus_limit: Option<usize>,
    pub ingest: bool,
    pub ingest_timeout: Duration,
    /// Start from a cached ready store (`[corpus] reuse_store`, off with `--fresh-store`).
    pub reuse_store: bool,
    /// Load shape.
    pub mode: LoadMode,
    /// Measured duration.
    pub duration: Duration,
    /// Warm-up.
    pub warmup: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    pub mix: Mix,
    pub questions: Vec<String>,
    /// Questions used for `/v1/query`.
    pub query_questions: usize,
    /// Search `top_k`.
    pub top_k: Option<u32>,
    /// Share of unique (cache-missing) searches.
    pub fresh_share: f64,
    /// Share of bad-token requests.
    pub bad_token_share: f64,
    /// Prime the cache before the load.
    pub prime: bool,
    /// Threshold rules, parsed.
    pub rules: Vec<Rule>,
    /// Retrieval quality to measure after the ingest (`[eval]`); `None`: not asked for.
    pub eval: Option<crate::eval::EvalPlan>,
    /// A capacity sweep (`[sweep]`): `harness run` then sweeps instead of one load level.
    pub sweep: Option<crate::sweep::SweepSettings>,
}

/// Command-line overrides of a scenario's values.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--duration`.
    pub duration: Option<String>,
    /// `--warmup`.
    pub warmup: Option<String>,
    /// `--vus` (switches to closed loop).
    pub vus: Option<u32>,
    /// `--rate` (switches to open loop).
    pub rate: Option<f64>,
    /// `--arrival`.
    pub arrival: Option<String>,
    /// `--max-in-flight`.
    pub max_in_flight: Option<u32>,
    /// `--think-time`.
    pub think_time: Option<String>,
    /// `--base-url` (switches to the external stack).
    pub base_url: Option<String>,
    /// `--corpus-limit`.
    pub corpus_limit: Option<usize>,
    /// `--corpus-prefix`.
    pub corpus_prefix: Option<String>,
    /// `--no-generator`.
    pub no_generator: bool,
    /// `--fresh-store`: ingest into an empty store even when a cached one fits.
    pub fresh_store: bool,
    /// `--threshold` rules added to the file's.
    pub thresholds: Vec<String>,
    /// `--no-thresholds`: ignore the file's rules.
    pub no_thresholds: bool,
}

/// Loads, validates and applies overrides to a scenario file.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let file = parse(path, &text)?;
    resolve(path, file, overrides).map_err(|e| parse::with_location(e, &text))
}
