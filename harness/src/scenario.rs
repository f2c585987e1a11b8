//! Scenario files (`scenarios/*.toml`): what to bring up, what load to drive and which
//! thresholds decide the verdict.
//!
//! Every table rejects unknown keys, and every error names the file, line, column and the
//! field, e.g. `scenarios/x.toml:7:1: load.vus: invalid type: string "x", expected u32`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::thresholds::{self, Rule};
use crate::units::parse_duration;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read the scenario file: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or does not fit the schema.
    #[error("{path}:{line}:{column}: {field}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The field (dotted path) the error is about, or `(file)`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The file.
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
        /// Why.
        source: std::io::Error,
    },
}

/// A scenario file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Scenario name; defaults to the file's stem.
    pub name: Option<String>,
    /// One line about what the scenario shows.
    pub description: Option<String>,
    /// Threshold rules (`search.p95 < 2ms`, `throughput > 40/s`, ...).
    #[serde(default)]
    pub thresholds: Vec<String>,
    /// What to run against.
    #[serde(default)]
    pub stack: StackSection,
    /// Options for an embedded server.
    #[serde(default)]
    pub server: ServerSection,
    /// The corpus to ingest.
    #[serde(default)]
    pub corpus: CorpusSection,
    /// The load shape.
    #[serde(default)]
    pub load: LoadSection,
    /// The workload mix.
    #[serde(default)]
    pub workload: WorkloadSection,
}

/// `[stack]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSection {
    /// `embedded` (default), `external` or `containers`.
    #[serde(default = "default_stack_kind")]
    pub kind: String,
    /// External stack: the server's base URL.
    pub base_url: Option<String>,
    /// External stack: the environment variable holding the JWT secret
    /// (default `RAGBENCH_JWT_SECRET`).
    pub jwt_secret_env: Option<String>,
    /// Embedded stack: how long to wait for the server's "listening" line (default `15m`,
    /// as a first start fetches models).
    pub startup_timeout: Option<String>,
}

impl Default for StackSection {
    fn default() -> Self {
        StackSection {
            kind: default_stack_kind(),
            base_url: None,
            jwt_secret_env: None,
            startup_timeout: None,
        }
    }
}

fn default_stack_kind() -> String {
    "embedded".into()
}

/// `[server]`: options for the embedded server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Whether the generator (LLM) is loaded (default true).
    pub generator: Option<bool>,
    /// A server config file passed as `--config` (relative to the scenario file).
    pub config: Option<String>,
    /// Extra environment for the server (e.g. `RAGBENCH_CACHE__CAPACITY = "10000"`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// `[corpus]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusSection {
    /// A folder of .md/.mdx to ingest instead of the bun-types docs (relative to the file).
    pub path: Option<String>,
    /// Ingest only files whose path (relative to the corpus folder) starts with this,
    /// e.g. `guides/` (a quick subset of small pages).
    pub prefix: Option<String>,
    /// Ingest only the first N files (sorted by path): a quick subset.
    pub limit: Option<usize>,
    /// Whether to ingest (default: yes for embedded, no for external).
    pub ingest: Option<bool>,
    /// How long the ingest may take (default `30m`).
    pub ingest_timeout: Option<String>,
}

/// `[load]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSection {
    /// `closed` (virtual users, default) or `open` (arrival rate).
    pub mode: Option<String>,
    /// Closed loop: virtual users (default 10).
    pub vus: Option<u32>,
    /// Measured duration (default `30s`).
    pub duration: Option<String>,
    /// Warm-up before the measured window (default `5s`).
    pub warmup: Option<String>,
    /// Closed loop: pause between a user's requests (default `0s`).
    pub think_time: Option<String>,
    /// Open loop: requests per second.
    pub rate: Option<f64>,
    /// Open loop: `constant` (default) or `poisson`.
    pub arrival: Option<String>,
    /// Open loop: cap on requests in flight (default 256).
    pub max_in_flight: Option<u32>,
    /// Per-request timeout (default `60s`).
    pub request_timeout: Option<String>,
}

/// `[workload]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSection {
    /// Weight of `POST /v1/search` (default 100 when no weight is given).
    pub search: Option<u32>,
    /// Weight of `POST /v1/query`.
    pub query: Option<u32>,
    /// Weight of `GET /health`.
    pub health: Option<u32>,
    /// The question set, one per line (default `questions.txt`, relative to the file).
    pub questions: Option<String>,
    /// Use only the first N questions of the set for `/v1/query` (generation is slow on CPU:
    /// a few distinct questions, primed before the load, keep the mix honest).
    pub query_questions: Option<usize>,
    /// `top_k` sent with search requests (default: the server's).
    pub top_k: Option<u32>,
    /// Share of search requests made unique so they miss the cache (0..1, default 0).
    pub fresh_share: Option<f64>,
    /// Share of requests sent with an invalid token, expecting 401 (0..1, default 0).
    pub bad_token_share: Option<f64>,
    /// Send every question once to each weighted endpoint before the load, unmeasured,
    /// so the cache holds them (default true when `query` has weight, else false).
    pub prime: Option<bool>,
}

/// Where the load goes.
#[derive(Debug, Clone, PartialEq)]
pub enum StackKind {
    /// The server as a child process of the harness.
    Embedded,
    /// A server somebody else started.
    External {
        /// Its base URL.
        base_url: String,
    },
}

impl StackKind {
    /// `embedded` or `external`.
    pub fn name(&self) -> &'static str {
        match self {
            StackKind::Embedded => "embedded",
            StackKind::External { .. } => "external",
        }
    }
}

/// Arrival process of the open loop.
#[derive(Debug, Clone, Copy, PartialEq)]
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
    /// `closed` or `open`.
    pub fn name(&self) -> &'static str {
        match self {
            LoadMode::Closed { .. } => "closed",
            LoadMode::Open { .. } => "open",
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
    /// Name.
    pub name: String,
    /// Description.
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
    /// Whether to ingest.
    pub ingest: bool,
    /// Ingest timeout.
    pub ingest_timeout: Duration,
    /// Load shape.
    pub mode: LoadMode,
    /// Measured duration.
    pub duration: Duration,
    /// Warm-up.
    pub warmup: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Mix weights.
    pub mix: Mix,
    /// The question set.
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
    resolve(path, file, overrides).map_err(|e| with_location(e, &text))
}

/// Gives a semantic error the line of the key (or threshold rule) it is about, when the file
/// has it: `file:line:col: field: message`.
fn with_location(e: ScenarioError, text: &str) -> ScenarioError {
    let ScenarioError::Invalid {
        path,
        field,
        message,
    } = e
    else {
        return e;
    };
    let offset = if field.starts_with("thresholds[") {
        backticked(&message).and_then(|rule| text.find(&format!("\"{rule}\"")).map(|o| o + 1))
    } else {
        key_offset(text, &field)
    };
    match offset {
        Some(o) => {
            let (line, column) = line_col(text, o);
            ScenarioError::Syntax {
                path,
                line,
                column,
                field,
                message,
            }
        }
        None => ScenarioError::Invalid {
            path,
            field,
            message,
        },
    }
}

/// The byte offset of `table.key = ...` (or a top-level `key`, or a `[table]` header).
fn key_offset(text: &str, field: &str) -> Option<usize> {
    let (table, key) = match field.rsplit_once('.') {
        Some((t, k)) => (Some(t), k),
        None => (None, field),
    };
    let mut current: Option<String> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && !trimmed.starts_with("[[") {
            let name = trimmed
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            if table.is_none() && name == key {
                return Some(offset + line.find('[').unwrap_or(0));
            }
            current = Some(name);
        } else if current.as_deref() == table
            && let Some((k, _)) = trimmed.split_once('=')
            && k.trim().trim_matches('"') == key
        {
            return Some(offset + line.find(k.trim()).unwrap_or(0));
        }
        offset += line.len();
    }
    None
}

/// Parses a scenario's TOML, mapping errors to `file:line:col: field: message`.
pub fn parse(path: &Path, text: &str) -> Result<ScenarioFile, ScenarioError> {
    toml::from_str::<ScenarioFile>(text).map_err(|e| {
        let (line, column) = match e.span() {
            Some(span) => line_col(text, span.start),
            None => (1, 1),
        };
        let message = e.message().trim().to_string();
        let field = field_at(text, e.span().map(|s| s.start), &message);
        ScenarioError::Syntax {
            path: path.display().to_string(),
            line,
            column,
            field,
            message,
        }
    })
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The dotted field an error is about: the table header above the error's line plus the
/// key on that line, or a backticked field named in the message.
fn field_at(text: &str, offset: Option<usize>, message: &str) -> String {
    let Some(offset) = offset else {
        return "(file)".into();
    };
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[offset..]
        .find('\n')
        .map(|i| offset + i)
        .unwrap_or(text.len());
    let line = text[line_start..line_end].trim();
    let mut table = String::new();
    for l in text[..line_start].lines() {
        let l = l.trim();
        if l.starts_with('[') && !l.starts_with("[[") {
            table = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
    }
    // A table header line itself: the error is about the table.
    if line.starts_with('[') {
        let name = line
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string();
        if let Some(named) = backticked(message) {
            return join(&name, &named);
        }
        return name;
    }
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.contains(' '));
    match (key, backticked(message)) {
        (Some(k), _) => join(&table, &k),
        (None, Some(named)) => join(&table, &named),
        (None, None) if !table.is_empty() => table,
        _ => "(file)".into(),
    }
}

fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

fn join(table: &str, key: &str) -> String {
    if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    }
}

fn invalid(path: &Path, field: &str, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        path: path.display().to_string(),
        field: field.into(),
        message: message.into(),
    }
}

fn duration_field(
    path: &Path,
    field: &str,
    value: Option<&str>,
    default: Duration,
) -> Result<Duration, ScenarioError> {
    match value {
        None => Ok(default),
        Some(v) => parse_duration(v).map_err(|m| invalid(path, field, m)),
    }
}

fn share(path: &Path, field: &str, value: Option<f64>) -> Result<f64, ScenarioError> {
    let v = value.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&v) || !v.is_finite() {
        return Err(invalid(
            path,
            field,
            format!("{v} is not a share: write a fraction between 0 and 1 (0.05 = 5 %)"),
        ));
    }
    Ok(v)
}

/// Applies defaults and overrides, and validates.
pub fn resolve(
    path: &Path,
    file: ScenarioFile,
    overrides: &Overrides,
) -> Result<Scenario, ScenarioError> {
    let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let rel = |p: &str| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { base_dir.join(p) }
    };
    let name = file.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into())
    });
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(invalid(
            path,
            "name",
            format!(
                "`{name}` must be non-empty and use only letters, digits, `-`, `_` and `.`: it names the run's folder"
            ),
        ));
    }

    // Thresholds first: a bad rule is reported before anything is read or started.
    let mut rule_texts: Vec<String> = if overrides.no_thresholds {
        Vec::new()
    } else {
        file.thresholds.clone()
    };
    rule_texts.extend(overrides.thresholds.iter().cloned());
    let mut rules = Vec::with_capacity(rule_texts.len());
    for (i, text) in rule_texts.iter().enumerate() {
        let rule = thresholds::parse_rule(text)
            .map_err(|e| invalid(path, &format!("thresholds[{i}]"), format!("`{text}`: {e}")))?;
        rules.push(rule);
    }

    // Stack.
    let base_url = overrides
        .base_url
        .clone()
        .or_else(|| file.stack.base_url.clone());
    let stack = match (file.stack.kind.as_str(), &overrides.base_url) {
        (_, Some(url)) => StackKind::External {
            base_url: url.clone(),
        },
        ("embedded", None) => StackKind::Embedded,
        ("external", None) => match base_url {
            Some(url) => StackKind::External { base_url: url },
            None => {
                return Err(invalid(
                    path,
                    "stack.base_url",
                    "an external stack needs the server's URL: set `base_url = \"http://host:port\"` or pass --base-url",
                ));
            }
        },
        ("containers", None) => {
            return Err(invalid(
                path,
                "stack.kind",
                "the `containers` stack (Qdrant and Ollama in containers) arrives with the scale-out work; \
                 use `embedded`, or start the services yourself and use `external` with --base-url",
            ));
        }
        (other, None) => {
            return Err(invalid(
                path,
                "stack.kind",
                format!("unknown stack `{other}`: use `embedded` or `external`"),
            ));
        }
    };
    if let StackKind::External { base_url } = &stack
        && !(base_url.starts_with("http://") || base_url.starts_with("https://"))
    {
        return Err(invalid(
            path,
            "stack.base_url",
            format!("`{base_url}` is not an http(s) URL: write e.g. http://127.0.0.1:8080"),
        ));
    }
    let startup_timeout = duration_field(
        path,
        "stack.startup_timeout",
        file.stack.startup_timeout.as_deref(),
        Duration::from_secs(15 * 60),
    )?;

    // Load.
    let duration = duration_field(
        path,
        "load.duration",
        overrides
            .duration
            .as_deref()
            .or(file.load.duration.as_deref()),
        Duration::from_secs(30),
    )?;
    if duration < Duration::from_secs(1) {
        return Err(invalid(
            path,
            "load.duration",
            "the measured window must be at least 1s",
        ));
    }
    let warmup = duration_field(
        path,
        "load.warmup",
        overrides.warmup.as_deref().or(file.load.warmup.as_deref()),
        Duration::from_secs(5),
    )?;
    let request_timeout = duration_field(
        path,
        "load.request_timeout",
        file.load.request_timeout.as_deref(),
        Duration::from_secs(60),
    )?;
    let think_time = duration_field(
        path,
        "load.think_time",
        overrides
            .think_time
            .as_deref()
            .or(file.load.think_time.as_deref()),
        Duration::ZERO,
    )?;
    if overrides.vus.is_some() && overrides.rate.is_some() {
        return Err(invalid(
            path,
            "load",
            "--vus (closed loop) and --rate (open loop) exclude each other: pass one",
        ));
    }
    let mode_name = if overrides.vus.is_some() {
        "closed".to_string()
    } else if overrides.rate.is_some() {
        "open".to_string()
    } else {
        file.load.mode.clone().unwrap_or_else(|| {
            if file.load.rate.is_some() {
                "open".into()
            } else {
                "closed".into()
            }
        })
    };
    let mode = match mode_name.as_str() {
        "closed" => {
            let vus = overrides.vus.or(file.load.vus).unwrap_or(10);
            if vus == 0 {
                return Err(invalid(path, "load.vus", "needs at least 1 virtual user"));
            }
            LoadMode::Closed { vus, think_time }
        }
        "open" => {
            let rate = overrides.rate.or(file.load.rate).ok_or_else(|| {
                invalid(
                    path,
                    "load.rate",
                    "open-loop mode needs a rate: `rate = 200.0` (requests per second) or --rate",
                )
            })?;
            if !(rate > 0.0 && rate.is_finite()) {
                return Err(invalid(
                    path,
                    "load.rate",
                    format!("{rate} is not a rate: give requests per second above 0"),
                ));
            }
            let arrival = match overrides
                .arrival
                .as_deref()
                .or(file.load.arrival.as_deref())
                .unwrap_or("constant")
            {
                "constant" => Arrival::Constant,
                "poisson" => Arrival::Poisson,
                other => {
                    return Err(invalid(
                        path,
                        "load.arrival",
                        format!("unknown arrival `{other}`: use `constant` or `poisson`"),
                    ));
                }
            };
            let max_in_flight = overrides
                .max_in_flight
                .or(file.load.max_in_flight)
                .unwrap_or(256);
            if max_in_flight == 0 {
                return Err(invalid(path, "load.max_in_flight", "must be at least 1"));
            }
            LoadMode::Open {
                rate,
                arrival,
                max_in_flight,
            }
        }
        other => {
            return Err(invalid(
                path,
                "load.mode",
                format!(
                    "unknown mode `{other}`: use `closed` (virtual users) or `open` (arrival rate)"
                ),
            ));
        }
    };

    // Workload.
    let w = &file.workload;
    let mix = if w.search.is_none() && w.query.is_none() && w.health.is_none() {
        Mix {
            search: 100,
            query: 0,
            health: 0,
        }
    } else {
        Mix {
            search: w.search.unwrap_or(0),
            query: w.query.unwrap_or(0),
            health: w.health.unwrap_or(0),
        }
    };
    if mix.search + mix.query + mix.health == 0 {
        return Err(invalid(
            path,
            "workload",
            "every weight is 0: give at least one of search, query, health a weight",
        ));
    }
    let questions_file = rel(w.questions.as_deref().unwrap_or("questions.txt"));
    let questions_text =
        std::fs::read_to_string(&questions_file).map_err(|source| ScenarioError::Referenced {
            path: path.display().to_string(),
            field: "workload.questions".into(),
            file: questions_file.display().to_string(),
            source,
        })?;
    let questions: Vec<String> = questions_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if questions.is_empty() {
        return Err(invalid(
            path,
            "workload.questions",
            format!(
                "{} has no questions: write one per line",
                questions_file.display()
            ),
        ));
    }
    let query_questions = w
        .query_questions
        .unwrap_or(questions.len())
        .clamp(1, questions.len());
    if let Some(k) = w.top_k
        && !(1..=50).contains(&k)
    {
        return Err(invalid(
            path,
            "workload.top_k",
            format!("{k} is out of range: the server accepts 1..=50"),
        ));
    }
    let fresh_share = share(path, "workload.fresh_share", w.fresh_share)?;
    let bad_token_share = share(path, "workload.bad_token_share", w.bad_token_share)?;
    let prime = w.prime.unwrap_or(mix.query > 0);

    // Server and corpus.
    let generator = if overrides.no_generator {
        false
    } else {
        file.server.generator.unwrap_or(true)
    };
    for key in file.server.env.keys() {
        if key == "RAGBENCH_JWT_SECRET" {
            return Err(invalid(
                path,
                "server.env",
                "RAGBENCH_JWT_SECRET is set by the harness (a fresh secret per run); remove it",
            ));
        }
    }
    let ingest = file
        .corpus
        .ingest
        .unwrap_or(matches!(stack, StackKind::Embedded));
    let ingest_timeout = duration_field(
        path,
        "corpus.ingest_timeout",
        file.corpus.ingest_timeout.as_deref(),
        Duration::from_secs(30 * 60),
    )?;
    let corpus_limit = overrides.corpus_limit.or(file.corpus.limit);
    if corpus_limit == Some(0) {
        return Err(invalid(
            path,
            "corpus.limit",
            "0 files would ingest nothing: give at least 1, or remove the key for the whole corpus",
        ));
    }

    Ok(Scenario {
        name,
        description: file.description,
        file: path.to_path_buf(),
        stack,
        jwt_secret_env: file
            .stack
            .jwt_secret_env
            .unwrap_or_else(|| "RAGBENCH_JWT_SECRET".into()),
        startup_timeout,
        generator,
        server_config: file.server.config.as_deref().map(rel),
        server_env: file.server.env,
        corpus_path: file.corpus.path.as_deref().map(rel),
        corpus_prefix: overrides
            .corpus_prefix
            .clone()
            .or(file.corpus.prefix.clone()),
        corpus_limit,
        ingest,
        ingest_timeout,
        mode,
        duration,
        warmup,
        request_timeout,
        mix,
        questions,
        query_questions,
        top_k: w.top_k,
        fresh_share,
        bad_token_share,
        prime,
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(Path::new("s.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let e = err("name = \"x\"\n\n[load]\nvus = 5\nvsu = 3\n");
        assert!(
            e.starts_with("s.toml:5:1: load.vsu: unknown field `vsu`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_field() {
        let e = err("[load]\nvus = \"many\"\n");
        assert!(e.starts_with("s.toml:2:7: load.vus: invalid type"), "{e}");
    }

    #[test]
    fn unknown_table() {
        let e = err("[lod]\nvus = 1\n");
        assert!(e.starts_with("s.toml:1:"), "{e}");
        assert!(e.contains("lod"), "{e}");
    }

    #[test]
    fn semantic_errors_get_a_line() {
        let text =
            "thresholds = [\"p95 < 2ms\", \"p97 < 1ms\"]\n\n[load]\nmode = \"open\"\nrate = -3.0\n";
        let file = parse(Path::new("s.toml"), text).unwrap();
        let e = with_location(
            resolve(Path::new("s.toml"), file.clone(), &Overrides::default()).unwrap_err(),
            text,
        )
        .to_string();
        assert!(
            e.starts_with("s.toml:1:29: thresholds[1]: `p97 < 1ms`"),
            "{e}"
        );
        let text2 = "[load]\nmode = \"open\"\nrate = -3.0\n";
        let file2 = parse(Path::new("s.toml"), text2).unwrap();
        let e2 = with_location(
            resolve(Path::new("s.toml"), file2, &Overrides::default()).unwrap_err(),
            text2,
        )
        .to_string();
        assert!(e2.starts_with("s.toml:3:1: load.rate:"), "{e2}");
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
