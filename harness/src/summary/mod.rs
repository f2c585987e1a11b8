//! `summary.json`: everything one run measured, in a versioned schema.
//!
//! The report (`harness report`), CI and later tooling read this file, so its shape is a
//! contract: fields are only added, never renamed or removed, within one
//! [`SCHEMA_VERSION`]. `harness/summary.schema.json` describes it as a JSON Schema and the
//! tests validate real runs against it.
//!
//! Units are in the field names: `_us` microseconds, `_s` seconds, `_bytes` bytes,
//! `_pct` percent (0..100 per core for CPU, so two busy cores read 200), `_per_s` per second.
//! Rates without a suffix (`error_rate`, `hit_rate`) are fractions 0..1.

mod stats;
mod sweep;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::measure::gpu::GpuTelemetry;
use crate::scenario::{Arrival, Loop, Stack};

pub use stats::{
    BadTokenStats, CacheStats, EndpointStats, LatencyStats, ProcessSample, ProcessStats, Quantile,
    RouteCache, SecondPoint,
};
pub use sweep::{StepOutcome, SweepLimit, SweepPhase, SweepSettingsInfo, SweepStep, SweepSummary};

/// The version of this schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The file name of the summary in a run's folder.
pub const SUMMARY_FILE: &str = "summary.json";

/// Where a run's summary is when `path` names the run: its folder's `summary.json`, or the
/// file itself.
pub fn summary_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(SUMMARY_FILE)
    } else {
        path.to_path_buf()
    }
}

/// One run's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Always [`SCHEMA_VERSION`] when written by this harness.
    pub schema_version: u32,
    /// The harness's crate version.
    pub harness_version: String,
    /// What was run.
    pub scenario: ScenarioInfo,
    /// When the load (warm-up included) started, UTC.
    pub started_at: DateTime<Utc>,
    /// When the measured window ended, UTC.
    pub finished_at: DateTime<Utc>,
    /// When the measured window (after warm-up) started, UTC.
    pub measured_from: DateTime<Utc>,
    /// Length of the measured window in seconds: the denominator of every throughput.
    pub measured_s: f64,
    /// `git rev-parse HEAD` of the working tree the harness ran from, if it is a git checkout.
    pub git_revision: Option<String>,
    /// Whether that working tree had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// The machine the harness (and an embedded server) ran on.
    pub machine: Machine,
    /// The server under test.
    pub stack: StackInfo,
    /// The corpus and its ingestion.
    pub corpus: CorpusInfo,
    /// All authenticated requests of the measured window together.
    pub overall: EndpointStats,
    /// Per endpoint (`search`, `query`, `health`): only endpoints the workload used.
    pub endpoints: BTreeMap<String, EndpointStats>,
    /// Requests sent with a deliberately bad token, counted apart from the rest.
    pub bad_token: BadTokenStats,
    /// One point per second of the measured window (by the second each request started).
    pub series: Vec<SecondPoint>,
    /// Server-Timing stage breakdown over all responses that carried the header
    /// (stage name -> stats). Stages: `cache`, `embed`, `search`, `generate`, `total`.
    pub stages: BTreeMap<String, LatencyStats>,
    /// Response cache, from the server's `/metrics` counters over the measured window.
    pub cache: CacheStats,
    /// The server process's CPU and memory (embedded stack only).
    pub server_process: Option<ProcessStats>,
    /// What the load generator did (mode-specific facts: planned vs sent, schedule lag).
    pub load: LoadStats,
    /// The instrument's own floor, measured with this run's load shape against a trivial
    /// endpoint the harness served itself; `None` when calibration was turned off.
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// The capacity sweep, when the run was one (`harness sweep`); the other sections are
    /// then those of the step at the knee.
    #[serde(default)]
    pub sweep: Option<SweepSummary>,
    /// Retrieval quality (`harness eval`, or a scenario's `[eval]`); `None` when not asked for.
    #[serde(default)]
    pub eval: Option<crate::eval::EvalSummary>,
    /// Each threshold rule with what was observed.
    pub thresholds: Vec<ThresholdResult>,
    /// The verdict and exit code.
    pub verdict: Verdict,
    /// GPU telemetry (NVML), when the sampler ran; `None` when it was not started.
    pub gpu: Option<GpuTelemetry>,
    /// Free-form notes the harness adds (e.g. why a figure is missing).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Summary {
    /// Reads and parses a summary file, checking its schema version.
    pub fn read(path: &Path) -> Result<Summary, SummaryError> {
        let text = std::fs::read_to_string(path).map_err(|source| SummaryError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let summary: Summary =
            serde_json::from_str(&text).map_err(|source| SummaryError::Parse {
                path: path.display().to_string(),
                source,
            })?;
        if summary.schema_version != SCHEMA_VERSION {
            return Err(SummaryError::Version {
                path: path.display().to_string(),
                found: summary.schema_version,
            });
        }
        Ok(summary)
    }

    /// Writes the summary as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<(), SummaryError> {
        let text = serde_json::to_string_pretty(self).map_err(|source| SummaryError::Parse {
            path: path.display().to_string(),
            source,
        })?;
        std::fs::write(path, text + "\n").map_err(|source| SummaryError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// Why a summary could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file is not a summary.
    #[error("{path} is not a harness summary.json: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    /// The file was written with another schema version.
    #[error(
        "{path} has schema_version {found}, this harness reads version {SCHEMA_VERSION}: \
         re-run the scenario with this harness"
    )]
    Version {
        path: String,
        /// The version in the file.
        found: u32,
    },
}

/// The scenario as it was run (after command-line overrides).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// Scenario name (`phase2`, `smoke`, or the file's stem).
    pub name: String,
    /// The scenario file.
    pub file: String,
    pub description: Option<String>,
    pub stack: Stack,
    /// Closed (virtual users) or open (arrival rate).
    pub mode: Loop,
    /// Closed loop: virtual users.
    pub vus: Option<u32>,
    /// Open loop: requests per second.
    pub rate_per_s: Option<f64>,
    /// Open loop only.
    pub arrival: Option<Arrival>,
    /// Open loop: the cap on requests in flight.
    pub max_in_flight: Option<u32>,
    /// Measured duration in seconds (as asked for).
    pub duration_s: f64,
    /// Warm-up in seconds before the measured window.
    pub warmup_s: f64,
    /// Closed loop: pause between a user's requests, milliseconds.
    pub think_time_ms: f64,
    /// Workload mix weights by endpoint.
    pub mix: BTreeMap<String, u32>,
    /// Distinct questions in the query set.
    pub questions: usize,
    /// Share of requests sent with a bad token (0..1).
    pub bad_token_share: f64,
    /// Share of search requests made unique so they miss the cache (0..1).
    pub fresh_share: f64,
    /// Whether the server's generator was enabled (embedded stack).
    pub generator: Option<bool>,
    /// The threshold rules as written.
    pub rules: Vec<String>,
}

/// Facts about the machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// Host name.
    pub hostname: Option<String>,
    /// Operating system, long form.
    pub os: Option<String>,
    pub kernel: Option<String>,
    /// CPU model string.
    pub cpu_model: String,
    /// Logical CPUs.
    pub cpu_cores: usize,
    /// Physical cores, when known.
    pub cpu_physical_cores: Option<usize>,
    /// Total memory in bytes.
    pub memory_bytes: u64,
}

/// The server under test.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackInfo {
    pub kind: Stack,
    /// The base URL the load went to.
    pub base_url: String,
    /// Server version from `/health`.
    pub server_version: Option<String>,
    /// `/health` status right before the load.
    pub health_before: Option<HealthStatus>,
    /// `/health` status right after the load.
    pub health_after: Option<HealthStatus>,
    /// Backends from `/health` (`embedder`, `store`, `generator`).
    pub backends: BTreeMap<String, Backend>,
    /// Seconds from spawning the server to its "listening" line (embedded stack).
    pub startup_s: Option<f64>,
    /// The server's log file, relative to the run folder (embedded stack).
    pub server_log: Option<String>,
}

/// `/health`'s status. The order is the health rule's scale: red < yellow < green.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// A backend is down.
    Red,
    /// Serving, but the collection is empty.
    Yellow,
    /// Serving with data.
    Green,
}

impl HealthStatus {
    /// `green`, `yellow` or `red`.
    pub fn name(self) -> &'static str {
        match self {
            HealthStatus::Red => "red",
            HealthStatus::Yellow => "yellow",
            HealthStatus::Green => "green",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<HealthStatus> {
        [HealthStatus::Red, HealthStatus::Yellow, HealthStatus::Green]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// One backend as `/health` reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Backend {
    /// Implementation name (e.g. `fastembed`, `qdrant-edge`, `llama.cpp`).
    pub name: Option<String>,
    /// `up`, `down`, `disabled`...
    pub state: Option<String>,
    /// Free text (model, path, URL).
    pub detail: Option<String>,
}

/// The corpus and its ingestion.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CorpusInfo {
    /// The folder that was ingested (as the server saw it).
    pub path: Option<String>,
    /// Where it came from: `bun-types@1.3.14`, a folder, or `external` (not ingested here).
    pub source: String,
    /// Whether this run ingested it.
    pub ingested: bool,
    /// Files read by the ingest.
    pub files: Option<u64>,
    /// Chunks produced.
    pub chunks: Option<u64>,
    /// Points upserted.
    pub upserted: Option<u64>,
    /// Files the server skipped, with reasons.
    pub skipped: Vec<SkippedFile>,
    /// Vectors in the collection (from `/health` before the load).
    pub vectors: Option<u64>,
    /// Ingest wall time as the server measured it, seconds.
    pub ingest_s: Option<f64>,
    /// Ingest wall time as the harness measured it (request round trip), seconds.
    pub ingest_wall_s: Option<f64>,
    /// Chunks per second as the server reported it.
    pub chunks_per_s: Option<f64>,
}

/// A file the ingest skipped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// What the load generator did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadStats {
    pub mode: Loop,
    /// The generator: `goose 0.19` or `open-loop scheduler`.
    pub generator: String,
    /// Requests sent during warm-up (not measured).
    pub warmup_requests: u64,
    /// Requests sent to prime the cache before the load (not measured).
    pub primed_requests: u64,
    /// Open loop: arrivals planned in the measured window.
    pub planned: Option<u64>,
    /// Open loop: planned arrivals that were never sent (the window ended first because
    /// `max_in_flight` was reached); a sign the server could not keep up.
    pub dropped: Option<u64>,
    /// Open loop: how late requests were sent relative to their intended start, microseconds
    /// (a wait for an in-flight slot included: a slow server makes this grow).
    pub schedule_lag: Option<LatencyStats>,
    /// Open loop: the generator's own lateness, from when an arrival was due and a slot was
    /// free to when its request task started. Large values mean the instrument fell behind.
    #[serde(default)]
    pub generator_lag: Option<LatencyStats>,
    /// Closed loop: goose's own request count (a cross-check of `overall.requests`).
    pub goose_requests: Option<u64>,
    /// Files goose wrote (its own reports), relative to the run folder.
    pub goose_reports: Vec<String>,
}

/// One threshold rule and its outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The rule as written (`search.p95 < 2ms`).
    pub rule: String,
    /// The metric (`p95`, `throughput`, `error_rate`, `cache_hit_rate`, `vectors`, ...).
    pub metric: String,
    /// The endpoint it applies to, or `None` for all together.
    pub endpoint: Option<String>,
    /// `<`, `<=`, `>`, `>=`, `==`, `!=`.
    pub op: String,
    /// The limit in the metric's base unit (microseconds, per second, fraction, count).
    pub limit: f64,
    /// What was observed, same unit; `None` when it could not be measured.
    pub observed: Option<f64>,
    /// The limit for people (`2ms`, `70%`).
    pub limit_display: String,
    /// The observation for people (`1.42ms`, `93.1%`, `n/a`).
    pub observed_display: String,
    /// Whether the rule held.
    pub passed: bool,
    /// Why it failed or could not be measured.
    pub message: Option<String>,
}

/// The run's verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    /// All thresholds passed and requests were made.
    pub passed: bool,
    /// The process exit code: 0 pass, 1 a threshold failed (or no requests).
    pub exit_code: i32,
    /// One line per failure.
    pub failures: Vec<String>,
    /// Doubts about the instrument that do not fail the run: a threshold tighter than twice
    /// the instrument's floor, a generator that fell behind its schedule.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The instrument's floor: the run's load shape driven against a trivial loopback endpoint
/// that answers at once with a body of the run's typical response size. Whatever latency it
/// shows is the harness's own (client stack, scheduler, loopback), not a server's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Calibration {
    /// The load shape as run: `closed` or `open`, with its VUs or rate.
    pub shape: String,
    /// Length of the floor's measured window, seconds.
    pub measured_s: f64,
    /// Size of the trivial endpoint's response body, bytes.
    pub response_bytes: u64,
    /// Latency of the trivial endpoint under the run's load shape, microseconds.
    pub latency: LatencyStats,
    /// Requests per second achieved at the run's load shape.
    pub throughput_rps: f64,
    /// Open loop: the generator's own lateness during calibration.
    pub generator_lag: Option<LatencyStats>,
    /// The highest rate the instrument sustained against the trivial endpoint (same
    /// connections, no think time / an unreachable arrival rate), requests per second.
    pub max_rps: Option<f64>,
}
