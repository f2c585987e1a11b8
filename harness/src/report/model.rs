//! The report's view-model: [`ReportData`], read from a run summary (`summary.json`,
//! `"schema_version": 1`) through its JSON form.
//!
//! The report reads the summary's JSON rather than its Rust types so that it can render any
//! recorded `summary.json` (older runs, runs from other machines) and so that a missing section
//! shows as "not recorded" instead of failing. Every field below is optional in the input.
//!
//! The input is the harness's `summary.json` (`crate::summary::Summary`, `"schema_version": 1`):
//! `scenario { name, file, description, stack, mode, vus, rate_per_s, arrival, max_in_flight,
//! duration_s, warmup_s, think_time_ms, mix }`, `started_at`, `finished_at`, `measured_s`,
//! `git_revision`, `git_dirty`, `machine { hostname, os, cpu_model, cpu_cores, cpu_physical_cores,
//! memory_bytes }`, `stack { kind, base_url, server_version, health_before, health_after,
//! backends { role: { name, state, detail } } }`, `corpus { source, files, chunks, vectors,
//! ingest_s }`, `overall` and `endpoints { name: stats }` (stats: `requests, errors,
//! errors_by_status, throughput_rps, latency { count, min_us, mean_us, p50_us .. p99_us, max_us },
//! cached, uncached, percentiles [ { q, us } ]`), `bad_token`, `series [ { t, requests, errors,
//! p50_us, p95_us, p99_us, max_us, by_endpoint } ]`, `stages { name: latency stats }`,
//! `cache { hits, misses, hit_rate }`, `server_process { samples [ { t, cpu_pct, rss_bytes } ],
//! cpu_mean_pct, cpu_max_pct, peak_rss_bytes }`, `load { mode, generator, planned, dropped }`,
//! `thresholds [ { rule, endpoint, observed_display, passed, message } ]`,
//! `verdict { passed, exit_code, failures }`, `gpu` ([`crate::gpu::GpuTelemetry`]), `notes`.
//!
//! A few other spellings are accepted as well (e.g. `totals` for `overall`, an array of
//! endpoints with a `name`, `histogram` buckets instead of `distribution`, quantiles in percent),
//! so hand-made or older summaries render too.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::gpu::GpuTelemetry;

/// Everything one run contributes to a report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportData {
    /// `schema_version` of the summary it was read from (0 when absent).
    pub schema_version: u64,
    /// Scenario name, e.g. `phase2`.
    pub scenario: String,
    /// Scenario file, when recorded.
    pub scenario_file: Option<String>,
    /// Scenario description, when recorded.
    pub description: Option<String>,
    /// Start of the run (RFC 3339).
    pub started_at: Option<String>,
    /// End of the run (RFC 3339).
    pub finished_at: Option<String>,
    /// When the measured window (after warm-up) started, ms since the Unix epoch.
    pub measured_from_unix_ms: Option<i64>,
    /// Measured load duration in seconds.
    pub duration_s: Option<f64>,
    /// Warm-up in seconds.
    pub warmup_s: Option<f64>,
    /// Load shape.
    pub load: LoadShape,
    /// Stack kind (`embedded`, `containers`, `external`).
    pub stack: Option<String>,
    /// Server URL.
    pub server_url: Option<String>,
    /// Server version.
    pub server_version: Option<String>,
    /// `/health` status before and after the load.
    pub health: (Option<String>, Option<String>),
    /// `(role, backend)` pairs, e.g. `("embedder", "fastembed (cpu)")`.
    pub backends: Vec<(String, String)>,
    /// `(role, model)` pairs, e.g. `("embedder", "all-MiniLM-L6-v2")`.
    pub models: Vec<(String, String)>,
    /// Corpus facts.
    pub corpus: Corpus,
    /// Machine facts.
    pub machine: Machine,
    /// Git revision of the code under test.
    pub git_revision: Option<String>,
    /// Whether the working tree had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// Harness version.
    pub harness_version: Option<String>,
    /// The run's verdict: `Some(true)` all thresholds passed.
    pub passed: Option<bool>,
    /// The exit code the run ended with.
    pub exit_code: Option<i64>,
    /// Why the run failed, one line per failure, when recorded.
    pub verdict_failures: Vec<String>,
    /// The thresholds and what was observed.
    pub thresholds: Vec<Threshold>,
    /// All endpoints together.
    pub overall: Option<EndpointStats>,
    /// One entry per endpoint, in the summary's order.
    pub endpoints: Vec<EndpointStats>,
    /// Per-second series over the measured window.
    pub timeseries: Vec<TimePoint>,
    /// Server-Timing stage breakdown.
    pub stages: Vec<StageStats>,
    /// Response cache counters over the measured window.
    pub cache: Option<CacheStats>,
    /// The server process's CPU and memory.
    pub server: ServerStats,
    /// Requests sent with a bad token on purpose (counted apart).
    pub bad_token: Option<BadToken>,
    /// GPU telemetry.
    pub gpu: GpuTelemetry,
    /// Notes the harness recorded.
    pub notes: Vec<String>,
}

/// Requests sent with a deliberately bad token.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BadToken {
    /// Sent.
    pub requests: u64,
    /// Rejected with the expected 401.
    pub rejected: u64,
    /// Latency of the rejections.
    pub latency: LatencySummary,
}

/// Percentiles of one latency histogram, microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: Option<u64>,
    /// Mean.
    pub mean_us: Option<f64>,
    /// Median.
    pub p50_us: Option<f64>,
    /// 90th percentile.
    pub p90_us: Option<f64>,
    /// 95th percentile.
    pub p95_us: Option<f64>,
    /// 99th percentile.
    pub p99_us: Option<f64>,
    /// Largest.
    pub max_us: Option<f64>,
}

impl LatencySummary {
    fn read(v: &Value) -> LatencySummary {
        LatencySummary {
            count: uint(v, &["count"]),
            mean_us: num(v, &["mean_us", "mean"]),
            p50_us: num(v, &["p50_us", "p50"]),
            p90_us: num(v, &["p90_us", "p90"]),
            p95_us: num(v, &["p95_us", "p95"]),
            p99_us: num(v, &["p99_us", "p99"]),
            max_us: num(v, &["max_us", "max"]),
        }
    }
}

/// How load was applied.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadShape {
    /// `closed` (virtual users) or `open` (arrival rate).
    pub mode: Option<String>,
    /// Virtual users (closed loop).
    pub vus: Option<u64>,
    /// Target requests per second (open loop).
    pub rate_per_s: Option<f64>,
    /// Configured duration in seconds.
    pub duration_s: Option<f64>,
    /// Open loop: `constant` or `poisson`.
    pub arrival: Option<String>,
    /// Open loop: cap on requests in flight.
    pub max_in_flight: Option<u64>,
    /// Closed loop: pause between a user's requests, milliseconds.
    pub think_time_ms: Option<f64>,
    /// The load generator (`goose 0.19`, `open-loop scheduler`).
    pub generator: Option<String>,
    /// Workload mix: `(endpoint, weight)`.
    pub mix: Vec<(String, f64)>,
    /// Open loop: arrivals planned and dropped (never sent).
    pub planned: Option<u64>,
    /// Open loop: planned arrivals that were never sent.
    pub dropped: Option<u64>,
}

/// Corpus facts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Corpus {
    /// Name or source, e.g. `bun-types@1.3.14`.
    pub name: Option<String>,
    /// Files ingested.
    pub files: Option<u64>,
    /// Chunks produced.
    pub chunks: Option<u64>,
    /// Vectors in the collection.
    pub vectors: Option<u64>,
    /// Corpus size in bytes.
    pub bytes: Option<u64>,
    /// Ingestion time in seconds.
    pub ingest_s: Option<f64>,
}

/// Machine facts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu_model: Option<String>,
    /// Logical cores.
    pub cores: Option<u64>,
    /// Physical cores, when known.
    pub physical_cores: Option<u64>,
    /// Total memory in bytes.
    pub memory_bytes: Option<u64>,
    /// Operating system.
    pub os: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
}

/// One threshold's outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Threshold {
    /// The rule as written, e.g. `p95 < 2ms`.
    pub rule: String,
    /// What it applies to (`overall` or an endpoint).
    pub scope: Option<String>,
    /// The observed value, formatted.
    pub observed: String,
    /// Whether it held.
    pub passed: bool,
    /// Extra detail (e.g. why it could not be evaluated).
    pub message: Option<String>,
}

/// Latency and volume of one endpoint (or of all together).
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndpointStats {
    /// Endpoint name, e.g. `POST /v1/search`.
    pub name: String,
    /// Requests made.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Failures by HTTP status (or error kind).
    pub errors_by_status: Vec<(String, u64)>,
    /// Requests per second over the measured window.
    pub throughput_rps: Option<f64>,
    /// Fastest response, microseconds.
    pub min_us: Option<f64>,
    /// Mean, microseconds.
    pub mean_us: Option<f64>,
    /// Median, microseconds.
    pub p50_us: Option<f64>,
    /// 90th percentile, microseconds.
    pub p90_us: Option<f64>,
    /// 95th percentile, microseconds.
    pub p95_us: Option<f64>,
    /// 99th percentile, microseconds.
    pub p99_us: Option<f64>,
    /// Slowest response, microseconds.
    pub max_us: Option<f64>,
    /// The percentile curve: `(percentile 0..100, microseconds)`, ascending.
    pub percentiles: Vec<(f64, f64)>,
    /// Latency of responses served from the server's cache.
    pub cached: Option<LatencySummary>,
    /// Latency of responses that missed the cache.
    pub uncached: Option<LatencySummary>,
}

impl EndpointStats {
    /// Failed share of requests (0..1); `None` without requests.
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }
}

/// One second of the measured window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TimePoint {
    /// Seconds since the start of the measured window.
    pub t_s: f64,
    /// Requests completed in this second.
    pub requests: f64,
    /// Failed requests in this second.
    pub errors: f64,
    /// Median latency, microseconds.
    pub p50_us: Option<f64>,
    /// 90th percentile, microseconds.
    pub p90_us: Option<f64>,
    /// 95th percentile, microseconds.
    pub p95_us: Option<f64>,
    /// 99th percentile, microseconds.
    pub p99_us: Option<f64>,
    /// Slowest, microseconds.
    pub max_us: Option<f64>,
    /// Requests per endpoint in this second.
    pub by_endpoint: Vec<(String, f64)>,
}

/// One Server-Timing stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageStats {
    /// `embed`, `search`, `generate`, `cache`, `total`, ...
    pub stage: String,
    /// Responses that carried this stage.
    pub count: u64,
    /// Mean, microseconds.
    pub mean_us: Option<f64>,
    /// Median, microseconds.
    pub p50_us: Option<f64>,
    /// 95th percentile, microseconds.
    pub p95_us: Option<f64>,
    /// 99th percentile, microseconds.
    pub p99_us: Option<f64>,
    /// Slowest, microseconds.
    pub max_us: Option<f64>,
}

/// Response cache counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CacheStats {
    /// Hits.
    pub hits: u64,
    /// Misses.
    pub misses: u64,
    /// Hit rate (0..1).
    pub hit_rate: Option<f64>,
}

/// The server process's resource use.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerStats {
    /// Mean CPU over the window, percent of one core.
    pub cpu_avg_pct: Option<f64>,
    /// Highest one-second CPU, percent of one core.
    pub cpu_max_pct: Option<f64>,
    /// Peak resident set size, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Samples over time.
    pub samples: Vec<ProcessSample>,
}

/// One reading of the server process.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessSample {
    /// Seconds since the start of sampling.
    pub t_s: f64,
    /// CPU, percent of one core.
    pub cpu_pct: Option<f64>,
    /// Resident set size, bytes.
    pub rss_bytes: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Reading JSON leniently.

/// The first of `keys` present (and not null) in `v`.
fn field<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let obj = v.as_object()?;
    keys.iter()
        .filter_map(|k| obj.get(*k))
        .find(|x| !x.is_null())
}

fn f64_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn num(v: &Value, keys: &[&str]) -> Option<f64> {
    field(v, keys).and_then(f64_of).filter(|x| x.is_finite())
}

fn uint(v: &Value, keys: &[&str]) -> Option<u64> {
    num(v, keys).filter(|x| *x >= 0.0).map(|x| x.round() as u64)
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => {
            // `{ name, detail }` style descriptions.
            let name = o.get("name").and_then(text_of);
            let detail = o
                .get("detail")
                .or_else(|| o.get("model"))
                .or_else(|| o.get("device"))
                .and_then(text_of);
            match (name, detail) {
                (Some(n), Some(d)) if !d.is_empty() => Some(format!("{n} ({d})")),
                (Some(n), _) => Some(n),
                (None, d) => d,
            }
        }
        _ => None,
    }
}

fn text(v: &Value, keys: &[&str]) -> Option<String> {
    field(v, keys).and_then(text_of).filter(|s| !s.is_empty())
}

fn boolean(v: &Value, keys: &[&str]) -> Option<bool> {
    match field(v, keys)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "pass" | "passed" | "ok" | "true" | "green" => Some(true),
            "fail" | "failed" | "false" | "red" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Items of an array, or `(key, value)` of an object turned into items with `name_key` set.
fn items(v: Option<&Value>, name_key: &str) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, x)| {
                let mut m = x.as_object().cloned().unwrap_or_else(Map::new);
                m.entry(name_key.to_string())
                    .or_insert_with(|| Value::String(k.clone()));
                Value::Object(m)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `(label, text)` pairs of an object whose values are strings or `{ name, detail }`.
fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    match v {
        Some(Value::Object(o)) => o
            .iter()
            .filter_map(|(k, x)| text_of(x).map(|t| (k.clone(), t)))
            .collect(),
        Some(other) => text_of(other)
            .map(|t| vec![("model".to_string(), t)])
            .unwrap_or_default(),
        None => Vec::new(),
    }
}

/// `(role, "name: detail")` of `{ role: { name, state, detail } }` (or `{ role: "text" }`); the
/// state is added when it is not `up`.
fn backends(v: Option<&Value>) -> Vec<(String, String)> {
    let Some(Value::Object(o)) = v else {
        return pairs(v);
    };
    o.iter()
        .filter_map(|(role, b)| {
            let name = text(b, &["name", "kind"]);
            let detail = text(b, &["detail", "model", "url"]);
            let state = text(b, &["state", "status"]).filter(|s| s != "up");
            let mut t = match (name, detail) {
                (Some(n), Some(d)) => format!("{n}: {d}"),
                (Some(n), None) => n,
                (None, Some(d)) => d,
                (None, None) => text_of(b)?,
            };
            if let Some(s) = state {
                t.push_str(&format!(" ({s})"));
            }
            Some((role.clone(), t))
        })
        .collect()
}

impl ReportData {
    /// Read a run summary's JSON. Never fails: what is missing stays empty.
    pub fn from_json(v: &Value) -> ReportData {
        let null = Value::Null;
        let scenario_v = field(v, &["scenario"]).unwrap_or(&null);
        let (scenario, scenario_file, description) = match scenario_v {
            Value::String(s) => (s.clone(), None, None),
            s => (
                text(s, &["name", "id"]).unwrap_or_default(),
                text(s, &["file", "path"]),
                text(s, &["description"]),
            ),
        };
        let scenario = if scenario.is_empty() {
            text(v, &["scenario_name", "name", "phase"]).unwrap_or_else(|| "run".into())
        } else {
            scenario
        };

        // The load shape is in the scenario (as run) and/or in `load` (what the generator did).
        let load_v = field(v, &["load"]).unwrap_or(&null);
        let either_num = |keys: &[&str]| num(scenario_v, keys).or_else(|| num(load_v, keys));
        let either_text = |keys: &[&str]| text(scenario_v, keys).or_else(|| text(load_v, keys));
        let load = LoadShape {
            mode: either_text(&["mode"]),
            vus: either_num(&["vus", "users"]).map(|x| x as u64),
            rate_per_s: either_num(&["rate_per_s", "rate"]),
            duration_s: either_num(&["duration_s"]),
            arrival: either_text(&["arrival"]),
            max_in_flight: either_num(&["max_in_flight"]).map(|x| x as u64),
            think_time_ms: either_num(&["think_time_ms"]),
            generator: text(load_v, &["generator"]),
            mix: match field(scenario_v, &["mix"]).or_else(|| field(load_v, &["mix"])) {
                Some(Value::Object(o)) => o
                    .iter()
                    .filter_map(|(k, x)| Some((k.clone(), f64_of(x)?)))
                    .collect(),
                _ => Vec::new(),
            },
            planned: uint(load_v, &["planned"]),
            dropped: uint(load_v, &["dropped"]),
        };

        let stack_v = field(v, &["stack"]).unwrap_or(&null);
        let stack = match stack_v {
            Value::String(s) => Some(s.clone()),
            other => text(other, &["kind", "name"]).or_else(|| text(scenario_v, &["stack"])),
        };

        let corpus_v = field(v, &["corpus"]).unwrap_or(&null);
        let corpus = Corpus {
            name: match corpus_v {
                Value::String(s) => Some(s.clone()),
                other => text(other, &["name", "source", "package"]),
            },
            files: uint(corpus_v, &["files"]),
            chunks: uint(corpus_v, &["chunks"]),
            vectors: uint(corpus_v, &["vectors"]).or_else(|| uint(v, &["vectors"])),
            bytes: uint(corpus_v, &["bytes", "size_bytes"]),
            ingest_s: num(corpus_v, &["ingest_s", "ingest_wall_s"]),
        };

        let machine_v = field(v, &["machine", "host"]).unwrap_or(&null);
        let machine = Machine {
            cpu_model: text(machine_v, &["cpu_model", "cpu"]),
            cores: uint(
                machine_v,
                &["cpu_cores", "cpu_logical", "cores", "logical_cores"],
            ),
            physical_cores: uint(
                machine_v,
                &["cpu_physical_cores", "cpu_physical", "physical_cores"],
            ),
            memory_bytes: uint(machine_v, &["memory_bytes", "total_memory_bytes"]),
            os: text(machine_v, &["os", "os_version"]),
            hostname: text(machine_v, &["hostname"]),
        };

        let (git_revision, git_dirty) = match field(v, &["git"]) {
            Some(Value::String(s)) => (Some(s.clone()), boolean(v, &["git_dirty"])),
            Some(g) => (
                text(g, &["revision", "commit", "sha"]),
                boolean(g, &["dirty"]),
            ),
            None => (
                text(v, &["git_revision", "revision"]),
                boolean(v, &["git_dirty"]),
            ),
        };

        let exit_code_top = num(v, &["exit_code"]).map(|x| x as i64);
        let (passed, exit_code, verdict_failures) = match field(v, &["verdict"]) {
            Some(Value::String(s)) => (
                boolean(&serde_json::json!({ "v": s }), &["v"]),
                exit_code_top,
                Vec::new(),
            ),
            Some(Value::Bool(b)) => (Some(*b), exit_code_top, Vec::new()),
            Some(verdict) => (
                boolean(verdict, &["passed", "pass", "ok", "status"]),
                num(verdict, &["exit_code", "code"]).map(|x| x as i64),
                match field(verdict, &["failures", "reasons"]) {
                    Some(Value::Array(a)) => a.iter().filter_map(text_of).collect(),
                    _ => text(verdict, &["reason", "message"]).into_iter().collect(),
                },
            ),
            None => (boolean(v, &["passed", "pass"]), exit_code_top, Vec::new()),
        };

        let thresholds = items(field(v, &["thresholds"]), "rule")
            .iter()
            .map(|t| Threshold {
                rule: text(t, &["rule", "name", "expr"]).unwrap_or_default(),
                scope: text(t, &["scope", "endpoint", "target"]),
                observed: match field(t, &["observed_display", "observed", "actual", "value"]) {
                    Some(Value::Number(n)) => {
                        let x = n.as_f64().unwrap_or(0.0);
                        match text(t, &["unit"]) {
                            Some(u) => format!("{} {u}", super::fmt::num(x)),
                            None => super::fmt::num(x),
                        }
                    }
                    Some(o) => text_of(o).unwrap_or_default(),
                    None => "not measured".into(),
                },
                passed: boolean(t, &["passed", "pass", "ok", "status"]).unwrap_or(false),
                message: text(t, &["message", "detail", "reason"]),
            })
            .collect();

        let overall = field(v, &["overall", "totals", "total", "aggregate"])
            .map(|o| endpoint(o, "all requests"));
        let endpoints = items(field(v, &["endpoints", "requests"]), "name")
            .iter()
            .map(|e| endpoint(e, ""))
            .collect();

        let timeseries = items(field(v, &["timeseries", "series", "per_second"]), "t")
            .iter()
            .enumerate()
            .map(|(i, p)| TimePoint {
                t_s: num(p, &["t_s", "t", "second", "elapsed_s"]).unwrap_or(i as f64),
                requests: num(p, &["requests", "count", "rps"]).unwrap_or(0.0),
                errors: num(p, &["errors", "failures"]).unwrap_or(0.0),
                p50_us: num(p, &["p50_us", "p50"]),
                p90_us: num(p, &["p90_us", "p90"]),
                p95_us: num(p, &["p95_us", "p95"]),
                p99_us: num(p, &["p99_us", "p99"]),
                max_us: num(p, &["max_us", "max"]),
                by_endpoint: match field(p, &["by_endpoint"]) {
                    Some(Value::Object(o)) => o
                        .iter()
                        .filter_map(|(k, x)| Some((k.clone(), f64_of(x)?)))
                        .collect(),
                    _ => Vec::new(),
                },
            })
            .collect();

        let stages = items(field(v, &["stages", "stage_breakdown"]), "stage")
            .iter()
            .map(|s| {
                let lat = field(s, &["latency_us", "latency"]).unwrap_or(s);
                StageStats {
                    stage: text(s, &["stage", "name"]).unwrap_or_default(),
                    count: uint(s, &["count", "samples"])
                        .or_else(|| uint(lat, &["count"]))
                        .unwrap_or(0),
                    mean_us: num(lat, &["mean_us", "mean"]),
                    p50_us: num(lat, &["p50_us", "p50"]),
                    p95_us: num(lat, &["p95_us", "p95"]),
                    p99_us: num(lat, &["p99_us", "p99"]),
                    max_us: num(lat, &["max_us", "max"]),
                }
            })
            .collect();

        let cache = field(v, &["cache"]).and_then(|c| {
            let hits = uint(c, &["hits"]);
            let misses = uint(c, &["misses"]);
            let hit_rate = num(c, &["hit_rate", "rate"]).or_else(|| match (hits, misses) {
                (Some(h), Some(m)) if h + m > 0 => Some(h as f64 / (h + m) as f64),
                _ => None,
            });
            (hits.is_some() || misses.is_some() || hit_rate.is_some()).then(|| CacheStats {
                hits: hits.unwrap_or(0),
                misses: misses.unwrap_or(0),
                hit_rate,
            })
        });

        let server_v = field(v, &["server", "server_process", "process"]).unwrap_or(&null);
        let samples: Vec<ProcessSample> = items(field(server_v, &["samples", "series"]), "t")
            .iter()
            .enumerate()
            .map(|(i, p)| ProcessSample {
                t_s: num(p, &["t_s", "t", "elapsed_s"]).unwrap_or(i as f64),
                cpu_pct: num(p, &["cpu_pct", "cpu"]),
                rss_bytes: uint(p, &["rss_bytes", "rss"]),
            })
            .collect();
        let server = ServerStats {
            cpu_avg_pct: num(server_v, &["cpu_avg_pct", "cpu_mean_pct", "cpu_pct"]).or_else(|| {
                let c: Vec<f64> = samples.iter().filter_map(|s| s.cpu_pct).collect();
                (!c.is_empty()).then(|| c.iter().sum::<f64>() / c.len() as f64)
            }),
            cpu_max_pct: num(server_v, &["cpu_max_pct", "cpu_peak_pct"])
                .or_else(|| samples.iter().filter_map(|s| s.cpu_pct).reduce(f64::max)),
            peak_rss_bytes: uint(
                server_v,
                &["peak_rss_bytes", "max_rss_bytes", "rss_peak_bytes"],
            )
            .or_else(|| samples.iter().filter_map(|s| s.rss_bytes).max()),
            samples,
        };

        let bad_token = field(v, &["bad_token"])
            .filter(|b| uint(b, &["requests"]).unwrap_or(0) > 0)
            .map(|b| BadToken {
                requests: uint(b, &["requests"]).unwrap_or(0),
                rejected: uint(b, &["rejected"]).unwrap_or(0),
                latency: LatencySummary::read(field(b, &["latency"]).unwrap_or(&null)),
            });

        let gpu = match field(v, &["gpu"]) {
            Some(g) => serde_json::from_value::<GpuTelemetry>(g.clone()).unwrap_or_else(|e| {
                GpuTelemetry::unavailable(format!("unreadable GPU telemetry in the summary: {e}"))
            }),
            None => GpuTelemetry::unavailable("the GPU sampler did not run in this run"),
        };

        let notes = match field(v, &["notes"]) {
            Some(Value::Array(a)) => a.iter().filter_map(text_of).collect(),
            _ => Vec::new(),
        };

        ReportData {
            schema_version: uint(v, &["schema_version"]).unwrap_or(0),
            scenario,
            scenario_file,
            description,
            started_at: text(v, &["started_at", "start"]),
            finished_at: text(v, &["finished_at", "ended_at", "end"]),
            measured_from_unix_ms: text(v, &["measured_from"])
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.timestamp_millis()),
            duration_s: num(v, &["measured_s", "duration_s", "elapsed_s"]).or(load.duration_s),
            warmup_s: num(v, &["warmup_s"]).or_else(|| either_num(&["warmup_s"])),
            load,
            stack,
            server_url: text(stack_v, &["base_url", "url", "server_url"]),
            server_version: text(stack_v, &["server_version", "version"]),
            health: (
                text(stack_v, &["health_before"]),
                text(stack_v, &["health_after"]),
            ),
            backends: backends(field(stack_v, &["backends"]).or_else(|| field(v, &["backends"]))),
            models: pairs(field(v, &["models", "model"])),
            corpus,
            machine,
            git_revision,
            git_dirty,
            harness_version: text(v, &["harness_version", "version"]),
            passed,
            exit_code,
            verdict_failures,
            thresholds,
            overall,
            endpoints,
            timeseries,
            stages,
            cache,
            server,
            bad_token,
            gpu,
            notes,
        }
    }

    /// The endpoint stats to use for whole-run figures: `overall`, or the only endpoint.
    pub fn overall_or_single(&self) -> Option<&EndpointStats> {
        self.overall.as_ref().or(match self.endpoints.as_slice() {
            [one] => Some(one),
            _ => None,
        })
    }

    /// Total throughput: `overall.throughput_rps`, or the endpoints' sum.
    pub fn total_throughput_rps(&self) -> Option<f64> {
        self.overall_or_single()
            .and_then(|o| o.throughput_rps)
            .or_else(|| {
                let t: Vec<f64> = self
                    .endpoints
                    .iter()
                    .filter_map(|e| e.throughput_rps)
                    .collect();
                (!t.is_empty()).then(|| t.iter().sum())
            })
    }

    /// The endpoint with this name.
    pub fn endpoint(&self, name: &str) -> Option<&EndpointStats> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// The stage with this name.
    pub fn stage(&self, name: &str) -> Option<&StageStats> {
        self.stages.iter().find(|s| s.stage == name)
    }

    /// A short label for this run: `phase2 (started 2026-05-20 10:15:00 UTC)`.
    pub fn label(&self) -> String {
        match &self.started_at {
            Some(t) => {
                let t = chrono::DateTime::parse_from_rfc3339(t)
                    .map(|dt| {
                        dt.with_timezone(&chrono::Utc)
                            .format("%Y-%m-%d %H:%M:%S UTC")
                            .to_string()
                    })
                    .unwrap_or_else(|_| t.clone());
                format!("{} (started {t})", self.scenario)
            }
            None => self.scenario.clone(),
        }
    }
}

fn endpoint(e: &Value, default_name: &str) -> EndpointStats {
    let lat = field(e, &["latency_us", "latency"]).unwrap_or(e);
    let pick = |keys: &[&str]| num(lat, keys).or_else(|| num(e, keys));
    let mut percentiles: Vec<(f64, f64)> =
        match field(e, &["distribution", "percentiles", "percentile_curve"]) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|p| match p {
                    Value::Array(pair) if pair.len() == 2 => {
                        Some((f64_of(&pair[0])?, f64_of(&pair[1])?))
                    }
                    obj => Some((
                        num(obj, &["p", "percentile", "q"])?,
                        num(obj, &["us", "value_us", "latency_us", "value"])?,
                    )),
                })
                .collect(),
            Some(Value::Object(o)) => o
                .iter()
                .filter_map(|(k, x)| {
                    Some((k.trim_start_matches('p').parse::<f64>().ok()?, f64_of(x)?))
                })
                .collect(),
            _ => Vec::new(),
        };
    if percentiles.is_empty() {
        percentiles = from_histogram(field(e, &["histogram", "buckets"]));
    }
    // Quantiles given as 0..1 become percents.
    if !percentiles.is_empty() && percentiles.iter().all(|(p, _)| *p <= 1.0) {
        for p in &mut percentiles {
            p.0 *= 100.0;
        }
    }
    percentiles.retain(|(p, v)| p.is_finite() && v.is_finite() && *v > 0.0);
    percentiles.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut errors_by_status: Vec<(String, u64)> =
        match field(e, &["errors_by_status", "status_codes"]) {
            Some(Value::Object(o)) => o
                .iter()
                .filter_map(|(k, x)| Some((k.clone(), f64_of(x)? as u64)))
                .collect(),
            _ => Vec::new(),
        };
    errors_by_status.sort();
    EndpointStats {
        name: text(e, &["name", "endpoint", "route"]).unwrap_or_else(|| default_name.into()),
        requests: uint(e, &["requests", "count", "total"]).unwrap_or(0),
        errors: uint(e, &["errors", "failures", "failed"]).unwrap_or(0),
        errors_by_status,
        throughput_rps: num(
            e,
            &["throughput_per_s", "throughput_rps", "rps", "throughput"],
        ),
        min_us: pick(&["min_us", "min"]),
        mean_us: pick(&["mean_us", "mean"]),
        p50_us: pick(&["p50_us", "p50"]),
        p90_us: pick(&["p90_us", "p90"]),
        p95_us: pick(&["p95_us", "p95"]),
        p99_us: pick(&["p99_us", "p99"]),
        max_us: pick(&["max_us", "max"]),
        percentiles,
        cached: field(e, &["cached"]).map(LatencySummary::read),
        uncached: field(e, &["uncached"]).map(LatencySummary::read),
    }
}

/// A percentile curve from `[ { le_us, count } ]` histogram buckets.
fn from_histogram(v: Option<&Value>) -> Vec<(f64, f64)> {
    let mut buckets: Vec<(f64, f64)> = match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|b| {
                Some((
                    num(b, &["le_us", "value_us", "us", "le"])?,
                    num(b, &["count", "n"])?,
                ))
            })
            .collect(),
        _ => return Vec::new(),
    };
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = buckets.iter().map(|b| b.1).sum();
    if total <= 0.0 {
        return Vec::new();
    }
    let mut acc = 0.0;
    buckets
        .iter()
        .filter(|b| b.1 > 0.0)
        .map(|(us, n)| {
            acc += n;
            (100.0 * acc / total, *us)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_reading() {
        let v = json!({
            "schema_version": 1,
            "scenario": "smoke",
            "verdict": "fail",
            "endpoints": { "POST /v1/search": { "count": 10, "errors": 1, "p95_us": 900,
                "histogram": [ { "le_us": 100, "count": 5 }, { "le_us": 1000, "count": 5 } ] } },
            "stages": { "embed": { "count": 3, "mean_us": 2000 } },
            "cache": { "hits": 3, "misses": 1 }
        });
        let d = ReportData::from_json(&v);
        assert_eq!(d.scenario, "smoke");
        assert_eq!(d.passed, Some(false));
        assert_eq!(d.endpoints[0].name, "POST /v1/search");
        assert_eq!(d.endpoints[0].requests, 10);
        assert_eq!(d.endpoints[0].p95_us, Some(900.0));
        assert_eq!(
            d.endpoints[0].percentiles,
            vec![(50.0, 100.0), (100.0, 1000.0)]
        );
        assert_eq!(d.stages[0].stage, "embed");
        assert_eq!(d.cache.as_ref().unwrap().hit_rate, Some(0.75));
        assert!(!d.gpu.available);
        assert_eq!(d.overall_or_single().unwrap().requests, 10);
    }

    #[test]
    fn empty_summary_reads() {
        let d = ReportData::from_json(&json!({}));
        assert_eq!(d.scenario, "run");
        assert!(d.endpoints.is_empty());
    }
}
