//! A scenario file as written: the TOML tables, parsed strictly, and errors placed at the
//! line and column of the key they are about.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde::de::value::{Error as ValueError, StrDeserializer};

use super::{Arrival, Loop, ScenarioError, Stack};
#[cfg(test)]
use super::{Overrides, resolve};

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
    /// Retrieval quality measured after the ingest, before the load.
    pub eval: Option<EvalSection>,
    /// A capacity sweep instead of one load level (`harness sweep` takes the same settings
    /// as flags).
    pub sweep: Option<crate::sweep::SweepSection>,
}

/// `[eval]`: retrieval quality on the run's server (`harness eval` runs only this).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Labeled sets built in: `descriptions` (each page's front-matter description answered
    /// by that page). Default `["descriptions"]`.
    pub sets: Option<Vec<String>>,
    /// A labeled set in the BEIR layout (`queries.jsonl`, `qrels/*.tsv`), relative to the file.
    pub beir: Option<String>,
}

/// `[stack]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSection {
    /// `embedded` (default), `external` or `containers`.
    #[serde(default)]
    pub kind: Stack,
    /// External stack: the server's base URL.
    pub base_url: Option<String>,
    /// External stack: the environment variable holding the JWT secret
    /// (default `RAGBENCH_JWT_SECRET`).
    pub jwt_secret_env: Option<String>,
    /// Embedded stack: how long to wait for the server's "listening" line (default `15m`,
    /// as a first start fetches models).
    pub startup_timeout: Option<String>,
    /// Containers stack: Qdrant's image (default: the pinned `qdrant/qdrant` tag).
    pub qdrant_image: Option<String>,
    /// Containers stack: Ollama's image (default: the pinned `ollama/ollama` tag).
    pub ollama_image: Option<String>,
    /// Containers stack: request the GPU for Ollama and a server container (default false).
    pub use_gpu: Option<bool>,
    /// Containers stack: `process` (default) or `image`.
    pub server: Option<crate::stack::containers::ServerMode>,
    /// Containers stack, `server = "image"`: the image built from `deploy/Dockerfile`.
    pub server_image: Option<String>,
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
    /// Embedded stack: start from a store cached by an earlier run with the same corpus and
    /// settings, verified before use (default: yes).
    pub reuse_store: Option<bool>,
}

/// `[load]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSection {
    /// `closed` (virtual users, default) or `open` (arrival rate).
    pub mode: Option<Loop>,
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
    pub arrival: Option<Arrival>,
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

/// Gives a semantic error the line of the key (or threshold rule) it is about, when the file
/// has it: `file:line:col: field: message`.
pub(super) fn with_location(e: ScenarioError, text: &str) -> ScenarioError {
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
        let message = unknown_value(&message).unwrap_or(message);
        ScenarioError::Syntax {
            path: path.display().to_string(),
            line,
            column,
            field,
            message,
        }
    })
}

/// One of a closed set of values (a serde enum such as [`Arrival`]) named by a command-line
/// flag that overrides a field; an unknown one is worded as in the file (the caller names the
/// field before the message).
pub(super) fn variant<T: DeserializeOwned>(_field: &str, value: &str) -> Result<T, String> {
    T::deserialize(StrDeserializer::<ValueError>::new(value)).map_err(|e| {
        let message = e.to_string();
        unknown_value(&message).unwrap_or(message)
    })
}

/// serde's "unknown variant `x`, expected `a` or `b`" in the scenario's words: the bad value
/// and the accepted ones (the field is named before the message).
fn unknown_value(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown variant `")?;
    let (value, expected) = rest.split_once("`, expected ")?;
    Some(format!("unknown value `{value}`: use {expected}"))
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
    fn unknown_values_name_the_key_the_value_and_the_accepted_ones() {
        let e = err("[load]\nmode = \"half-open\"\n");
        assert!(
            e.starts_with(
                "s.toml:2:8: load.mode: unknown value `half-open`: use `closed` or `open`"
            ),
            "{e}"
        );
        let e = err("[load]\narrival = \"bursty\"\n");
        assert!(
            e.contains("load.arrival: unknown value `bursty`: use `constant` or `poisson`"),
            "{e}"
        );
        let e = err("[stack]\nkind = \"cloud\"\n");
        assert!(
            e.contains(
                "stack.kind: unknown value `cloud`: use one of `embedded`, `external`, `containers`"
            ),
            "{e}"
        );
        assert_eq!(
            variant::<Arrival>("load.arrival", "bursty").unwrap_err(),
            "unknown value `bursty`: use `constant` or `poisson`"
        );
        assert_eq!(
            variant::<Arrival>("load.arrival", "poisson"),
            Ok(Arrival::Poisson)
        );
    }

    #[test]
    fn the_eval_table_resolves_its_sets_and_a_beir_folder_beside_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("questions.txt"), "how?\n").unwrap();
        let path = dir.path().join("s.toml");
        let resolved = |text: &str| {
            let file = parse(&path, text).unwrap();
            resolve(&path, file, &Overrides::default()).map_err(|e| with_location(e, text))
        };
        assert_eq!(resolved("name = \"x\"\n").unwrap().eval, None);
        let plan = resolved("[eval]\n").unwrap().eval.unwrap();
        assert_eq!(plan, crate::eval::EvalPlan::default());
        let plan = resolved("[eval]\nsets = []\nbeir = \"labels\"\n")
            .unwrap()
            .eval
            .unwrap();
        assert!(!plan.descriptions);
        assert_eq!(plan.beir, Some(dir.path().join("labels")));
        let e = resolved("[eval]\nsets = [\"descriptions\", \"faq\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.toml:2:1: eval.sets: unknown set `faq`"),
            "{e}"
        );
        let e = resolved("[eval]\nsets = []\n").unwrap_err().to_string();
        assert!(e.contains("eval.sets: no labeled set"), "{e}");
        let e = err("[eval]\nbier = \"x\"\n");
        assert!(e.contains("eval.bier: unknown field `bier`"), "{e}");
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
