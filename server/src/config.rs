//! Server configuration: one TOML file, then `RAGBENCH_*` environment overrides.
//!
//! Every key can be set from the environment as `RAGBENCH_<SECTION>__<KEY>` (for example
//! `RAGBENCH_CACHE__TTL_SECS=60`), so a container or a CI job can change one value without a
//! file. A few keys people set all the time have short names too: `RAGBENCH_JWT_SECRET`,
//! `RAGBENCH_LISTEN`, `RAGBENCH_DATA_DIR` and `RAGBENCH_CACHE` (the asset cache).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A configuration problem, reported with what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file (or an override) is not valid for the schema.
    #[error("invalid configuration in {origin}: {message}")]
    Invalid {
        /// The file, or "environment" for overrides.
        origin: String,
        /// What toml/serde said, with line and column where known.
        message: String,
    },
    /// An environment override names no known section.
    #[error(
        "environment variable {var}: expected RAGBENCH_<SECTION>__<KEY> with a section of \
         server, auth, cache, assets, embedder, store, generator, ingest"
    )]
    BadOverride {
        /// The variable's name.
        var: String,
    },
}

/// The whole server configuration. Each section has working defaults, so an empty file is valid.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listener, data folder, limits.
    pub server: ServerConfig,
    /// JWT verification.
    pub auth: AuthConfig,
    /// The response cache.
    pub cache: CacheConfig,
    /// Where fetched models and corpora are kept.
    pub assets: AssetsConfig,
    /// The embedding stage.
    pub embedder: EmbedderConfig,
    /// The vector store stage.
    pub store: StoreConfig,
    /// The answer generation stage.
    pub generator: GeneratorConfig,
    /// Markdown chunking.
    pub ingest: IngestConfig,
}

/// `[server]`: where to listen and how much to accept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Socket address to bind, e.g. `127.0.0.1:8080` (port 0 picks a free port).
    pub listen: String,
    /// Folder for the vector store and other state.
    pub data_dir: PathBuf,
    /// Largest accepted request body in bytes; larger gets 413.
    pub body_limit_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("ragbench-data"),
            body_limit_bytes: 64 * 1024,
        }
    }
}

/// `[auth]`: HS256 JWT verification on `/v1/*`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Shared HS256 secret. Required to serve; never logged.
    pub jwt_secret: Option<String>,
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway_secs: u64,
    /// When set, tokens must carry this `iss` (issuer).
    pub issuer: Option<String>,
    /// When set, tokens must carry this `aud` (audience); without it a token's `aud` is ignored.
    pub audience: Option<String>,
}

// The secret must never reach a log line, so Debug is written by hand.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("leeway_secs", &self.leeway_secs)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// A key for a remote service (`api_key`). Never shown: `Debug` and the printed configuration
/// (`ragbench-server config`) say `<redacted>`. Read from a string or, as an environment
/// override may give it, a number.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The key itself, for the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            String(String),
            Integer(i64),
        }
        Ok(Self(match Text::deserialize(d)? {
            Text::String(s) => s,
            Text::Integer(i) => i.to_string(),
        }))
    }
}

/// `[cache]`: the response cache in front of search and query.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Turn the cache off entirely (every request is a miss).
    pub enabled: bool,
    /// Most entries kept.
    pub max_entries: u64,
    /// Seconds an entry lives.
    pub ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 10_000,
            ttl_secs: 600,
        }
    }
}

/// `[assets]`: the cache of fetched models and corpora.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssetsConfig {
    /// Cache folder; default `$RAGBENCH_CACHE` or `~/.cache/ragbench`.
    pub cache_dir: Option<PathBuf>,
}

/// Which embedding backend runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbedderBackend {
    /// fastembed on ONNX Runtime (CPU), all-MiniLM-L6-v2.
    #[default]
    Fastembed,
    /// candle, the same model's fp32 weights, on `device` (CPU, or CUDA with the `cuda`
    /// feature), with dynamic batching.
    Candle,
    /// A server's OpenAI-compatible `POST /v1/embeddings` (text-embeddings-inference, vLLM,
    /// llama.cpp's server, Ollama's `/v1`) at `url`.
    Openai,
    /// Ollama's own `POST /api/embed` at `url`; the model is pulled when missing.
    Ollama,
}

/// The candle embedder's number type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandleDtype {
    /// f16 on a GPU, f32 on the CPU.
    #[default]
    Auto,
    /// 32-bit floats everywhere (the weights as shipped).
    F32,
    /// Weights and activations in 16-bit floats; pooling and normalization stay f32.
    F16,
}

/// `[embedder]`: the query and passage embedding model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedderConfig {
    /// The backend.
    pub backend: EmbedderBackend,
    /// ONNX model file; default: the cached all-MiniLM-L6-v2 graph that `quantized` picks.
    pub model_onnx: Option<PathBuf>,
    /// fastembed: run the matrix products in int8 (a graph derived once from the published one
    /// by ONNX Runtime's dynamic quantization: 1.7x faster, cosine >= 0.989 to it); `false`
    /// runs the published graph, whose int8 weights are turned back into f32 before each
    /// product. Ignored with `model_onnx`.
    pub quantized: bool,
    /// Folder with tokenizer.json, config.json, special_tokens_map.json, tokenizer_config.json.
    pub tokenizer_dir: Option<PathBuf>,
    /// ONNX Runtime shared library; default `ORT_DYLIB_PATH` or the cached one.
    pub ort_library: Option<PathBuf>,
    /// Cores ingestion uses (one single-threaded session each, sharing every batch), and the
    /// intra-op threads of the session a lone query runs on; default: all cores.
    pub threads: Option<usize>,
    /// Single-threaded sessions serving queries in parallel; default: one per core.
    pub query_sessions: Option<usize>,
    /// A query arriving while no other query and no ingestion is in flight runs on a session
    /// using all `threads` instead of a single-threaded one.
    pub lone_queries_wide: bool,
    /// Passages per batch during ingestion.
    pub batch_size: usize,
    /// Longest input in tokens; longer is truncated.
    pub max_length: usize,
    /// candle: `"cpu"`, `"cuda"` or `"cuda:N"`.
    pub device: String,
    /// candle: the model's safetensors; default: the cached fp32 all-MiniLM-L6-v2.
    pub model_safetensors: Option<PathBuf>,
    /// candle: the weights' and activations' number type; `auto` is f16 on a GPU and f32 on
    /// the CPU (the CPU has no fast f16 kernels).
    pub dtype: CandleDtype,
    /// candle: most sequences in one forward pass.
    pub max_batch_requests: usize,
    /// candle: most padded tokens (longest x sequences) in one forward pass.
    pub max_batch_tokens: usize,
    /// candle: requests waiting for a batch; queries beyond it get 429.
    pub max_queue: usize,
    /// openai / ollama: the server's base URL, e.g. `http://127.0.0.1:8000` (a trailing `/v1`
    /// is accepted); default for ollama `http://127.0.0.1:11434`.
    pub url: Option<String>,
    /// openai / ollama: the model the server embeds with (openai: default the first one its
    /// `/v1/models` lists).
    pub model: Option<String>,
    /// openai / ollama: sent as `Authorization: Bearer`; env `RAGBENCH_EMBEDDER__API_KEY`.
    pub api_key: Option<Secret>,
    /// openai / ollama: seconds to open a connection.
    pub connect_timeout_secs: u64,
    /// openai / ollama: seconds the server may stay silent in an answer.
    pub read_timeout_secs: u64,
    /// openai / ollama: new attempts after a connection error (with backoff); never after an
    /// answer, so a request is not run twice.
    pub retries: u32,
    /// ollama: how long the model stays loaded after a request (`30m`, `-1` forever).
    pub keep_alive: String,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        Self {
            backend: EmbedderBackend::Fastembed,
            model_onnx: None,
            quantized: true,
            tokenizer_dir: None,
            ort_library: None,
            threads: None,
            query_sessions: None,
            lone_queries_wide: true,
            batch_size: 32,
            max_length: 512,
            device: "cpu".into(),
            model_safetensors: None,
            dtype: CandleDtype::Auto,
            max_batch_requests: 64,
            max_batch_tokens: 16_384,
            max_queue: 1_024,
            url: None,
            model: None,
            api_key: None,
            connect_timeout_secs: 5,
            read_timeout_secs: 30,
            retries: 2,
            keep_alive: "30m".into(),
        }
    }
}

/// Which vector store backend runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    /// qdrant-edge: Qdrant's engine in process, on disk under `data_dir`.
    #[default]
    Edge,
    /// A Qdrant server or cluster at `url`, over gRPC (qdrant-client).
    Qdrant,
}

/// `[store]`: the vector collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The backend.
    pub backend: StoreBackend,
    /// Collection name.
    pub collection: String,
    /// HNSW graph degree.
    pub hnsw_m: usize,
    /// HNSW build-time beam width.
    pub hnsw_ef_construct: usize,
    /// Build the HNSW index once a segment holds this many KB of vectors. The engine's default
    /// (~10 MB) would leave a documentation corpus brute-force forever, so ours is small.
    pub indexing_threshold_kb: usize,
    /// HNSW search-time beam width; default: the engine's.
    pub hnsw_ef: Option<usize>,
    /// Hybrid search: each point also carries a BM25 sparse vector of its text, and a search
    /// fuses the dense and the keyword rankings (reciprocal rank fusion) in the engine. Fixed
    /// when the collection is created: a collection built the other way is refused. On by
    /// default: on the corpus's description set it found the right page first for 0.719 of
    /// the queries against dense search's 0.672 (recall@10 0.953 against 0.938), and queries
    /// of one exact identifier, which the dense model blurs, find their page.
    pub hybrid: bool,
    /// qdrant: the server's gRPC URL (port 6334, not REST's 6333); `https://` uses TLS.
    pub url: String,
    /// qdrant: the server's API key; env `RAGBENCH_QDRANT_API_KEY`.
    pub api_key: Option<Secret>,
    /// qdrant: shards of the collection when it is created.
    pub shards: u32,
    /// qdrant: copies of each shard across a cluster's nodes when the collection is created.
    pub replicas: u32,
    /// qdrant: seconds one request may take (connecting: at most 5 of them).
    pub timeout_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Edge,
            collection: "documentation".into(),
            hnsw_m: 16,
            hnsw_ef_construct: 100,
            indexing_threshold_kb: 100,
            hnsw_ef: None,
            hybrid: true,
            url: "http://127.0.0.1:6334".into(),
            api_key: None,
            shards: 1,
            replicas: 1,
            timeout_secs: 30,
        }
    }
}

/// Which generator backend runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratorBackend {
    /// A local GGUF model through llama.cpp (SmolLM2-135M-Instruct by default).
    #[default]
    Llama,
    /// A server's OpenAI-compatible `POST /v1/chat/completions` (vLLM, llama.cpp's server,
    /// TGI, Ollama's `/v1`) at `url`, streamed.
    Openai,
    /// Ollama's own `POST /api/chat` at `url`, streamed; the model is pulled when missing and
    /// loaded before the server reports ready.
    Ollama,
    /// No generator: `/v1/query` answers 503, `/v1/search` works.
    Disabled,
}

/// `[generator]`: answers from retrieved context.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorConfig {
    /// The backend.
    pub backend: GeneratorBackend,
    /// GGUF model file; default: the cached SmolLM2-135M-Instruct Q4_1.
    pub model_path: Option<PathBuf>,
    /// Most new tokens per answer.
    pub max_tokens: u32,
    /// Sampling temperature; 0 is greedy (deterministic).
    pub temperature: f32,
    /// Seed for sampling when temperature > 0.
    pub seed: u32,
    /// Context window of the model in tokens.
    pub context_tokens: u32,
    /// Most prompt tokens spent on retrieved passages; passages past it are cut.
    pub context_budget_tokens: u32,
    /// Threads for llama.cpp; default: all cores (more than cores slows it down 4x).
    pub threads: Option<usize>,
    /// Requests allowed to wait for the generator before new ones get 429.
    pub max_queue: usize,
    /// Seconds one answer may take, waiting for the generator included; past it the request
    /// gets 504 and the generator is reported failing in `/health` until an answer comes.
    pub timeout_secs: u64,
    /// System message.
    pub system_prompt: String,
    /// User message; `{context}` and `{question}` are replaced.
    pub prompt_template: String,
    /// openai / ollama: the server's base URL (see `[embedder] url`).
    pub url: Option<String>,
    /// openai / ollama: the model that answers (openai: default the first one listed).
    pub model: Option<String>,
    /// openai / ollama: bearer token; env `RAGBENCH_GENERATOR__API_KEY`.
    pub api_key: Option<Secret>,
    /// openai / ollama: seconds to open a connection.
    pub connect_timeout_secs: u64,
    /// openai / ollama: seconds between two pieces of a streamed answer.
    pub read_timeout_secs: u64,
    /// openai / ollama: new attempts after a connection error, with backoff.
    pub retries: u32,
    /// ollama: how long the model stays loaded after a request.
    pub keep_alive: String,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            backend: GeneratorBackend::Llama,
            model_path: None,
            max_tokens: 128,
            temperature: 0.0,
            seed: 42,
            context_tokens: 2048,
            context_budget_tokens: 768,
            threads: None,
            max_queue: 8,
            timeout_secs: 30,
            system_prompt: "You answer questions about software documentation. Use only the \
                            documentation excerpts given. Be brief."
                .into(),
            prompt_template: "Documentation excerpts:\n{context}\n\nQuestion: {question}".into(),
            url: None,
            model: None,
            api_key: None,
            connect_timeout_secs: 5,
            read_timeout_secs: 30,
            retries: 2,
            keep_alive: "30m".into(),
        }
    }
}

impl GeneratorConfig {
    /// The deadline of one answer (at least one second).
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.max(1))
    }
}

/// `[ingest]`: how markdown is cut into passages, and what `POST /v1/ingest` may read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Passage size in embedding-model tokens. 256, the length all-MiniLM-L6-v2 was trained
    /// on: on the corpus's description set it measured recall@10 0.969 and MRR@10 0.819
    /// against 512's 0.953 and 0.806 (hybrid search both), for 36 % more passages.
    pub chunk_tokens: usize,
    /// Tokens repeated between consecutive passages of one section.
    pub overlap_tokens: usize,
    /// Prepend the page title and heading trail (`Title > Section`) to the text the dense
    /// model embeds. The keyword (BM25) side of hybrid search indexes them either way.
    pub embed_headings: bool,
    /// Folders `POST /v1/ingest` may read (with everything under them). Empty: ingesting over
    /// HTTP is refused, so a token cannot make the server read its own machine's files. The
    /// `ingest` subcommand ignores it. One path or a list; from the environment one path or a
    /// TOML array (`RAGBENCH_INGEST__ALLOWED_ROOTS='["/srv/docs", "/srv/more"]'`).
    #[serde(deserialize_with = "one_or_many_paths")]
    pub allowed_roots: Vec<PathBuf>,
    /// Largest markdown file `POST /v1/ingest` accepts, in bytes; larger gets 413.
    pub max_file_bytes: u64,
    /// Most markdown files one `POST /v1/ingest` accepts; more gets 413.
    pub max_files: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            chunk_tokens: 256,
            embed_headings: true,
            overlap_tokens: 64,
            allowed_roots: Vec::new(),
            max_file_bytes: 4 * 1024 * 1024,
            max_files: 20_000,
        }
    }
}

/// A path list given as one path or an array of paths.
fn one_or_many_paths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    })
}

/// Short environment names for the keys set most often.
const SHORTCUTS: &[(&str, &str, &str)] = &[
    ("RAGBENCH_JWT_SECRET", "auth", "jwt_secret"),
    ("RAGBENCH_LISTEN", "server", "listen"),
    ("RAGBENCH_DATA_DIR", "server", "data_dir"),
    ("RAGBENCH_CACHE", "assets", "cache_dir"),
    ("RAGBENCH_QDRANT_API_KEY", "store", "api_key"),
];

const SECTIONS: &[&str] = &[
    "server",
    "auth",
    "cache",
    "assets",
    "embedder",
    "store",
    "generator",
    "ingest",
];

impl Config {
    /// Loads `path` (if given), then applies the process environment's overrides.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Like [`Config::load`] with an explicit environment, so tests need not touch the process's.
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (mut table, origin) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let table: toml::Table =
                    toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                        origin: path.display().to_string(),
                        message: e.to_string(),
                    })?;
                (table, path.display().to_string())
            }
            None => (toml::Table::new(), "defaults".to_string()),
        };
        let mut overridden = false;
        for (var, value) in env {
            let Some((section, key)) = override_target(&var)? else {
                continue;
            };
            // Shortcut keys are all strings: a numeric secret must stay a string.
            let value = if SHORTCUTS.iter().any(|(name, _, _)| *name == var) {
                toml::Value::String(value)
            } else {
                parse_env_value(&value)
            };
            let section_table = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = section_table {
                t.insert(key, value);
                overridden = true;
            }
        }
        let origin = if overridden {
            format!("{origin} + RAGBENCH_* environment")
        } else {
            origin
        };
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid {
                origin,
                message: e.to_string(),
            })
    }

    /// The JWT secret, or an error saying how to set one.
    pub fn jwt_secret(&self) -> anyhow::Result<&str> {
        match self.auth.jwt_secret.as_deref() {
            Some(s) if !s.is_empty() => Ok(s),
            _ => anyhow::bail!(
                "no JWT secret configured: set RAGBENCH_JWT_SECRET or [auth] jwt_secret in the config file"
            ),
        }
    }
}

/// Maps an environment variable to (section, key), `None` when it is not an override.
fn override_target(var: &str) -> Result<Option<(String, String)>, ConfigError> {
    if let Some((_, section, key)) = SHORTCUTS.iter().find(|(name, _, _)| *name == var) {
        return Ok(Some((section.to_string(), key.to_string())));
    }
    let Some(rest) = var.strip_prefix("RAGBENCH_") else {
        return Ok(None);
    };
    let Some((section, key)) = rest.split_once("__") else {
        return Ok(None); // e.g. RAGBENCH_CONFIG: not a config key.
    };
    let section = section.to_ascii_lowercase();
    if !SECTIONS.contains(&section.as_str()) {
        return Err(ConfigError::BadOverride { var: var.into() });
    }
    Ok(Some((section, key.to_ascii_lowercase())))
}

/// Environment values are strings; numbers, booleans and TOML arrays (`["a", "b"]`) are
/// recognised so they type-check.
fn parse_env_value(value: &str) -> toml::Value {
    if value.trim_start().starts_with('[')
        && let Ok(mut t) = toml::from_str::<toml::Table>(&format!("v = {value}"))
        && let Some(array) = t.remove("v")
    {
        array
    } else if let Ok(i) = value.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = value.parse::<f64>() {
        toml::Value::Float(f)
    } else if let Ok(b) = value.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_then_env_overrides() {
        let cfg = Config::load_with_env(
            None,
            env(&[
                ("RAGBENCH_CACHE__TTL_SECS", "5"),
                ("RAGBENCH_JWT_SECRET", "s3cret"),
                ("RAGBENCH_GENERATOR__BACKEND", "disabled"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.cache.ttl_secs, 5);
        assert_eq!(cfg.auth.jwt_secret.as_deref(), Some("s3cret"));
        assert_eq!(cfg.generator.backend, GeneratorBackend::Disabled);
        assert_eq!(cfg.store.collection, "documentation");
        assert!(
            !format!("{cfg:?}").contains("s3cret"),
            "secret leaked into Debug"
        );
    }

    #[test]
    fn unknown_key_names_the_field() {
        let dir = std::env::temp_dir().join(format!("ragbench-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "[cache]\nttl_secs = 5\nmax_entires = 3\n").unwrap();
        let err = Config::load_with_env(Some(&file), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_entires"), "{err}");
        assert!(err.contains("bad.toml"), "{err}");
    }

    #[test]
    fn allowed_roots_from_one_path_or_an_array() {
        let one = Config::load_with_env(
            None,
            env(&[("RAGBENCH_INGEST__ALLOWED_ROOTS", "/srv/docs")]),
        )
        .unwrap();
        assert_eq!(one.ingest.allowed_roots, vec![PathBuf::from("/srv/docs")]);
        let many = Config::load_with_env(
            None,
            env(&[("RAGBENCH_INGEST__ALLOWED_ROOTS", r#"["/a", "/b c"]"#)]),
        )
        .unwrap();
        assert_eq!(
            many.ingest.allowed_roots,
            vec![PathBuf::from("/a"), PathBuf::from("/b c")]
        );
        assert!(Config::default().ingest.allowed_roots.is_empty());
    }

    #[test]
    fn remote_backends_and_their_keys_never_shown() {
        let cfg = Config::load_with_env(
            None,
            env(&[
                ("RAGBENCH_STORE__BACKEND", "qdrant"),
                ("RAGBENCH_STORE__URL", "https://qdrant.internal:6334"),
                ("RAGBENCH_QDRANT_API_KEY", "q-key-1"),
                ("RAGBENCH_EMBEDDER__BACKEND", "ollama"),
                ("RAGBENCH_GENERATOR__BACKEND", "openai"),
                ("RAGBENCH_GENERATOR__API_KEY", "12345"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.store.backend, StoreBackend::Qdrant);
        assert_eq!(cfg.store.url, "https://qdrant.internal:6334");
        assert_eq!(cfg.store.api_key.as_ref().unwrap().expose(), "q-key-1");
        assert_eq!(cfg.embedder.backend, EmbedderBackend::Ollama);
        assert_eq!(cfg.generator.backend, GeneratorBackend::Openai);
        // A numeric key from the environment stays the key, not a number.
        assert_eq!(cfg.generator.api_key.as_ref().unwrap().expose(), "12345");
        let shown = format!("{cfg:?}\n{}", toml::to_string(&cfg).unwrap());
        assert!(
            !shown.contains("q-key-1") && !shown.contains("12345"),
            "{shown}"
        );
    }

    #[test]
    fn bad_override_section_is_rejected() {
        let err = Config::load_with_env(None, env(&[("RAGBENCH_CACHES__TTL_SECS", "5")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RAGBENCH_CACHES__TTL_SECS"), "{err}");
    }
}
